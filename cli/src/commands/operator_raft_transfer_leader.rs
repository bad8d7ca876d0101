//! `ass operator raft transfer-leader`: the leader hands leadership to another voter.

use ass_client::scope::SYS_OPERATOR;
use ass_client::StepDownResponse;
use clap::Args;

use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
Hand leadership to another voter, e.g. before restarting the leader's machine. The leader
stops heartbeating and campaigning until a follower is elected (about one election timeout),
then takes part again as a follower. Writes in flight are retried by the nodes; a client sees
no error. Needs the sys:operator scope.

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
    format!("Leadership moved from node {} to node {}.\n", r.old_leader, r.new_leader)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::parse;
    use crate::commands::{Command, OperatorCommand, RaftCommand};

    #[test]
    fn sentence_names_both_leaders() {
        assert_eq!(
            render(&StepDownResponse { old_leader: 1, new_leader: 3 }),
            "Leadership moved from node 1 to node 3.\n"
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
