//! `ass operator members`: the cluster's members as the answering node knows them.

use ass_client::MembersResponse;
use clap::Args;

use super::Ctx;
use crate::output::{self, or_dash, yes_no};

const LONG_ABOUT: &str = "\
List the members of the cluster: node id, API address, cluster (Raft) address, whether it
votes, which one leads, and — when the leader answers — the last log index it knows each
member holds. Needs a token with the sys:operator scope. `ass operator raft list-peers`
shows the same and also asks each member's API for its health (a dead-node report).

Example:
  ass operator members
  ass operator members --json | jq '.members[] | select(.leader)'";

/// List the cluster's members
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct MembersArgs {
    /// Print the answer as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass operator members`.
pub async fn exec(ctx: &Ctx, args: &MembersArgs) -> anyhow::Result<()> {
    let resp = ctx.scoped(ass_client::scope::SYS_OPERATOR).sys_members().await?;
    if args.json {
        output::print_json(&resp)
    } else {
        output::print(&render(&resp))
    }
}

/// The members table.
pub fn render(resp: &MembersResponse) -> String {
    let rows: Vec<Vec<String>> = resp
        .members
        .iter()
        .map(|m| {
            vec![
                m.id.to_string(),
                m.api_addr.clone(),
                m.cluster_addr.clone(),
                yes_no(m.voter),
                yes_no(m.leader),
                or_dash(m.matched_index),
            ]
        })
        .collect();
    output::table(&["ID", "API", "CLUSTER", "VOTER", "LEADER", "MATCHED"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::fixture;

    #[test]
    fn table_lists_members() {
        let resp: MembersResponse = fixture(serde_json::json!({"members": [
            {"id": 1, "api_addr": "http://n1:8201", "cluster_addr": "n1:8301",
             "voter": true, "leader": true, "matched_index": 10},
            {"id": 2, "api_addr": "http://n2:8201", "cluster_addr": "n2:8301",
             "voter": true, "leader": false}
        ]}));
        assert_eq!(
            render(&resp),
            "ID  API             CLUSTER  VOTER  LEADER  MATCHED\n\
             1   http://n1:8201  n1:8301  yes    yes     10\n\
             2   http://n2:8201  n2:8301  yes    no      -\n"
        );
    }
}
