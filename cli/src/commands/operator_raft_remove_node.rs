//! `ass operator raft remove-node`: removes a voter or a learner from the cluster.

use ass_client::scope::SYS_OPERATOR;
use ass_client::MembersResponse;
use clap::Args;

use super::{operator_members, Ctx};
use crate::output;

const LONG_ABOUT: &str = "\
Remove a member (voter or learner) from the cluster, e.g. a node `ass operator raft
list-peers` reports DOWN for good. Stop the removed node afterwards and do not restart it
with its old data. Shrink from 5 to 3 voters one node at a time, and keep a majority of the
remaining voters running. Needs the sys:operator scope. Prints the new member list.

Example:
  ass operator raft remove-node 5";

/// Remove a member from the cluster
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct RemoveNodeArgs {
    /// Node id of the member to remove
    #[arg(value_name = "ID", value_parser = clap::value_parser!(u64).range(1..))]
    pub id: u64,

    /// Print the new member list as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass operator raft remove-node`.
pub async fn exec(ctx: &Ctx, args: &RemoveNodeArgs) -> anyhow::Result<()> {
    let resp = ctx.scoped(SYS_OPERATOR).remove_member(args.id).await?;
    if args.json {
        output::print_json(&resp)
    } else {
        output::print(&render(args.id, &resp))
    }
}

/// One sentence and what to do next, then the member list.
pub fn render(id: u64, resp: &MembersResponse) -> String {
    format!(
        "Removed node {id} from the cluster. Stop it now; do not restart it with its old data.\n\n{}",
        operator_members::render(resp)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::{fixture, parse};
    use crate::commands::{Command, OperatorCommand, RaftCommand};

    #[test]
    fn id_is_a_positive_integer() {
        match parse(&["operator", "raft", "remove-node", "5", "--json"]).unwrap().command {
            Command::Operator(OperatorCommand::Raft(RaftCommand::RemoveNode(a))) => {
                assert_eq!((a.id, a.json), (5, true))
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["operator", "raft", "remove-node"]).is_err());
        assert!(parse(&["operator", "raft", "remove-node", "0"]).is_err());
    }

    #[test]
    fn render_sentence_then_table() {
        let resp: MembersResponse = fixture(serde_json::json!({"members": [
            {"id": 1, "api_addr": "n1:8200", "cluster_addr": "n1:8201", "voter": true,
             "leader": true, "matched_index": 12}
        ]}));
        let out = render(5, &resp);
        assert!(out.starts_with("Removed node 5 from the cluster. Stop it now;"), "{out}");
        assert!(out.ends_with("1   n1:8200  n1:8201  yes    yes     12\n"), "{out}");
    }
}
