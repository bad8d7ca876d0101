//! `ass operator raft promote`: makes a learner a voter.

use ass_client::scope::SYS_OPERATOR;
use ass_client::MembersResponse;
use clap::Args;

use super::{operator_members, Ctx};
use crate::output;

const LONG_ABOUT: &str = "\
Make a learner (a node added with `ass operator raft add-node`) a voter, through joint
consensus. Unseal the node first. Keep an odd number of voters: add two nodes, then promote
both. Needs the sys:operator scope. Prints the new member list.

Example:
  ass operator raft promote 4";

/// Make a learner a voter
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct PromoteArgs {
    /// Node id of the learner
    #[arg(value_name = "ID", value_parser = clap::value_parser!(u64).range(1..))]
    pub id: u64,

    /// Print the new member list as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass operator raft promote`.
pub async fn exec(ctx: &Ctx, args: &PromoteArgs) -> anyhow::Result<()> {
    let resp = ctx.scoped(SYS_OPERATOR).promote_member(args.id).await?;
    if args.json {
        output::print_json(&resp)
    } else {
        output::print(&render(args.id, &resp))
    }
}

/// One sentence, then the member list.
pub fn render(id: u64, resp: &MembersResponse) -> String {
    format!("Promoted node {id} to voter.\n\n{}", operator_members::render(resp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::{fixture, parse};
    use crate::commands::{Command, OperatorCommand, RaftCommand};

    #[test]
    fn id_is_a_positive_integer() {
        match parse(&["operator", "raft", "promote", "4"]).unwrap().command {
            Command::Operator(OperatorCommand::Raft(RaftCommand::Promote(a))) => {
                assert_eq!((a.id, a.json), (4, false))
            }
            other => panic!("{other:?}"),
        }
        for bad in [
            &["operator", "raft", "promote"][..],
            &["operator", "raft", "promote", "0"],
            &["operator", "raft", "promote", "n4"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn render_sentence_then_table() {
        let resp: MembersResponse = fixture(serde_json::json!({"members": [
            {"id": 4, "api_addr": "n4:8200", "cluster_addr": "n4:8201", "voter": true,
             "leader": false}
        ]}));
        assert_eq!(
            render(4, &resp),
            "Promoted node 4 to voter.\n\n\
             ID  API      CLUSTER  VOTER  LEADER  MATCHED\n\
             4   n4:8200  n4:8201  yes    no      -\n"
        );
    }
}
