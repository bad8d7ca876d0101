//! `ass operator raft transfer-leader`: the leader hands leadership to another voter.

use ass_client::scope::SYS_OPERATOR;
use ass_client::StepDownResponse;
use clap::Args;

use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
Hand leadership to the most up-to-date voter, e.g. before restarting the leader's machine.
The leader stops proposing, waits until that follower has every entry, and asks it to
campaign; it is elected within milliseconds (with 5 voters, at most about one election
timeout). Writes and reads arriving meanwhile wait and are answered by the new leader; a
client sees no error. A leader stopped with SIGTERM does the same by itself. Needs the
sys:operator scope.

Example:
  ass operator raft transfer-leader
  ass operator raft list-peers        # LEADER moved";

/// Hand leadership to another voter
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct TransferLeaderArgs {
    /// Print the answer (old_leader, new_leader) as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass operator raft transfer-leader`.
pub async fn exec(ctx: &Ctx, args: &TransferLeaderArgs) -> anyhow::Result<()> {
    let r = ctx.scoped(SYS_OPERATOR).step_down().await?;
    if args.json {
        output::print_json(&r)
    } else {
        output::print(&render(&r))
    }
}

/// One sentence: who led, who leads now.
pub fn render(r: &StepDownResponse) -> String {
    match r.took_ms {
        Some(ms) => format!(
            "Leadership moved from node {} to node {} in {ms} ms.\n",
            r.old_leader, r.new_leader
        ),
        None => format!("Leadership moved from node {} to node {}.\n", r.old_leader, r.new_leader),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::parse;
    use crate::commands::{Command, OperatorCommand, RaftCommand};

    #[test]
    fn sentence_names_both_leaders() {
        assert_eq!(
            render(&StepDownResponse { old_leader: 1, new_leader: 3, took_ms: Some(12) }),
            "Leadership moved from node 1 to node 3 in 12 ms.\n"
        );
    }

    #[test]
    fn flags_parse() {
        match parse(&["operator", "raft", "transfer-leader", "--json"]).unwrap().command {
            Command::Operator(OperatorCommand::Raft(RaftCommand::TransferLeader(a))) => {
                assert!(a.json)
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["operator", "raft", "transfer-leader", "extra"]).is_err());
    }
}
