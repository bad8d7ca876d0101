//! `ass operator status`: seal and Raft status of every node given, side by side.

use ass_client::SealStatus;
use clap::Args;

use super::{Ctx, NodeResult};
use crate::output::{self, or_dash, yes_no};

const LONG_ABOUT: &str = "\
Show the status of every address in ASS_ADDR / --addr: node id, whether it is initialized and
sealed, unseal progress, the leader it knows, its Raft term and applied log index. Needs no
token, so it works on sealed nodes.

Nodes that do not answer are listed as unreachable (details on stderr). Exits 2 only when no
node answered.

Example:
  ASS_ADDR=https://n1:8200,https://n2:8200,https://n3:8200 ass operator status";

/// Show seal and Raft status of every node given
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct StatusArgs {
    /// Print an array of {address, status | error} as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass operator status`.
pub async fn exec(ctx: &Ctx, args: &StatusArgs) -> anyhow::Result<()> {
    let results = futures::future::join_all(
        ctx.nodes(true)
            .into_iter()
            .map(|(addr, client)| async move { NodeResult::new(addr, client.sys_status().await) }),
    )
    .await;
    if args.json {
        output::print_json(&results)?;
    } else {
        output::print(&render(&results))?;
        for r in &results {
            if let Some(e) = &r.error {
                eprintln!("{}", super::node_error_line(&r.address, e));
            }
        }
    }
    if results.iter().all(|r| r.error.is_some()) {
        return Err(crate::Failed {
            exit: 2,
            code: "no_node_answered",
            message: "no node answered".into(),
        }
        .into());
    }
    Ok(())
}

/// The status table.
pub fn render(results: &[NodeResult<SealStatus>]) -> String {
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| match &r.status {
            Some(s) => vec![
                r.address.clone(),
                s.node_id.to_string(),
                yes_no(s.initialized),
                yes_no(s.sealed),
                format!("{} of {}", s.progress, s.threshold),
                or_dash(s.leader_id),
                s.term.to_string(),
                s.applied_index.to_string(),
            ],
            None => {
                let mut row = vec![r.address.clone(), "unreachable".into()];
                row.extend(std::iter::repeat_n("-".to_owned(), 6));
                row
            }
        })
        .collect();
    output::table(
        &["ADDRESS", "NODE", "INIT", "SEALED", "PROGRESS", "LEADER", "TERM", "APPLIED"],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_shows_each_node_and_unreachable_ones() {
        let st = crate::commands::tests::seal_status(1, false, 0);
        let results = vec![
            NodeResult::new("http://n1:8201".into(), Ok(st)),
            NodeResult::new(
                "http://n2:8201".into(),
                Err(ass_client::Error::Transport("refused".into())),
            ),
        ];
        assert_eq!(
            render(&results),
            "ADDRESS         NODE         INIT  SEALED  PROGRESS  LEADER  TERM  APPLIED\n\
             http://n1:8201  1            yes   no      0 of 3    1       4     120\n\
             http://n2:8201  unreachable  -     -       -         -       -     -\n"
        );
    }
}
