//! `ass operator raft autopilot-state`: whether the cluster may lose one more node now — the
//! check between the steps of a rolling restart.
//!
//! ```text
//!  GET /v1/sys/autopilot/state (any node; answered by the leader, which probes every member)
//!     └─ healthy, failure tolerance, safe to restart one; per member: status, sealed, lag
//!  --wait-safe SECS: ask every second until safe_to_restart_one, or fail after SECS
//! ```

use std::time::{Duration, Instant};

use ass_client::scope::SYS_OPERATOR;
use ass_client::types::AutopilotState;
use clap::Args;

use super::Ctx;
use crate::output::{self, or_dash, yes_no};

const LONG_ABOUT: &str = "\
Show the cluster's health as the leader sees it, as Vault's `raft autopilot state`: every
member's status (leader, voter, non-voter), whether it is healthy (answering, unsealed, its
log within [autopilot] max_trailing_logs of the leader's, heard from within the last-contact
bound), the failure tolerance (how many voters may fail with a healthy quorum left), and
SAFE TO RESTART ONE: yes when every member is healthy and the tolerance is at least 1.

In a rolling restart, run it before each node: restart the next node only when it says yes
(--wait-safe SECS waits for that, asking every second, and fails if it does not come).
Needs a token with the sys:operator scope.

Example:
  ass operator raft autopilot-state
  ass operator raft autopilot-state --wait-safe 120 && systemctl restart ass   # next node
  ass operator raft autopilot-state --json | jq '.failure_tolerance'";

/// Show member health and whether one more node may be restarted now
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct AutopilotStateArgs {
    /// Print the state as JSON
    #[arg(long)]
    pub json: bool,
    /// Wait up to SECS for `safe to restart one`, asking every second; fail if it never is
    #[arg(long, value_name = "SECS")]
    pub wait_safe: Option<u64>,
}

/// Runs `ass operator raft autopilot-state`.
pub async fn exec(ctx: &Ctx, args: &AutopilotStateArgs) -> anyhow::Result<()> {
    let client = ctx.scoped(SYS_OPERATOR);
    let started = Instant::now();
    let state = loop {
        let state = client.autopilot_state().await;
        let Some(secs) = args.wait_safe else { break state? };
        match state {
            Ok(s) if s.safe_to_restart_one => break s,
            Ok(s) if started.elapsed() >= Duration::from_secs(secs) => {
                if args.json {
                    output::print_json(&s)?;
                } else {
                    output::print(&render(&s))?;
                }
                anyhow::bail!("the cluster was not safe to restart a node within {secs} s");
            }
            Err(e) if started.elapsed() >= Duration::from_secs(secs) => return Err(e.into()),
            _ => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    };
    if args.json {
        output::print_json(&state)
    } else {
        output::print(&render(&state))
    }
}

/// A summary block, then one row per member.
pub fn render(s: &AutopilotState) -> String {
    let mut out = output::kv_block(&[
        ("Healthy", yes_no(s.healthy)),
        ("Failure tolerance", s.failure_tolerance.to_string()),
        ("Safe to restart one", yes_no(s.safe_to_restart_one)),
        ("Leader", s.leader.to_string()),
        ("Voters", format!("{} (quorum {})", s.voters.len(), s.quorum)),
        ("Last index", s.last_index.to_string()),
        ("Dead-server cleanup", if s.cleanup_dead_servers { "on" } else { "off" }.to_owned()),
    ]);
    out.push('\n');
    let rows: Vec<Vec<String>> = s
        .servers
        .iter()
        .map(|m| {
            vec![
                m.id.to_string(),
                m.api_addr.clone(),
                m.status.clone(),
                yes_no(m.healthy),
                m.sealed.map_or("-".to_owned(), yes_no),
                or_dash(m.lag),
                or_dash(m.last_contact_ms),
                m.problems.join("; "),
            ]
        })
        .collect();
    out.push_str(&output::table(
        &["ID", "API", "STATUS", "HEALTHY", "SEALED", "LAG", "CONTACT MS", "PROBLEMS"],
        &rows,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::parse;
    use crate::commands::{Command, OperatorCommand, RaftCommand};
    use ass_client::types::AutopilotServer;

    fn server(id: u64, status: &str, healthy: bool) -> AutopilotServer {
        AutopilotServer {
            id,
            api_addr: format!("10.0.0.1{id}:8200"),
            status: status.into(),
            healthy,
            reachable: healthy,
            sealed: healthy.then_some(false),
            matched_index: Some(40),
            lag: Some(if healthy { 0 } else { 12 }),
            applied_index: healthy.then_some(40),
            last_contact_ms: Some(3),
            problems: if healthy { vec![] } else { vec!["not answering".into()] },
        }
    }

    #[test]
    fn renders_summary_and_one_row_per_member() {
        let s = AutopilotState {
            healthy: false,
            failure_tolerance: 0,
            safe_to_restart_one: false,
            leader: 1,
            voters: vec![1, 2, 3],
            quorum: 2,
            last_index: 40,
            servers: vec![
                server(1, "leader", true),
                server(2, "voter", true),
                server(3, "voter", false),
            ],
            cleanup_dead_servers: false,
        };
        let text = render(&s);
        assert!(text.contains("Safe to restart one"), "{text}");
        assert!(text.contains("3 (quorum 2)"), "{text}");
        let row3 = text.lines().find(|l| l.starts_with("3 ")).expect("row of node 3");
        assert!(row3.contains("not answering") && row3.contains("12"), "{row3}");
    }

    #[test]
    fn flags_parse() {
        match parse(&["operator", "raft", "autopilot-state", "--json", "--wait-safe", "30"])
            .unwrap()
            .command
        {
            Command::Operator(OperatorCommand::Raft(RaftCommand::AutopilotState(a))) => {
                assert!(a.json);
                assert_eq!(a.wait_safe, Some(30));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["operator", "raft", "autopilot-state", "--wait-safe", "soon"]).is_err());
    }
}
