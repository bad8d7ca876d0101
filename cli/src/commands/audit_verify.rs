//! `ass audit verify`: every node checks its own hash chain.

use ass_client::scope::AUDIT_READ;
use ass_client::AuditVerifyResponse;
use clap::Args;

use super::Ctx;
use crate::output::{self, or_dash};

const LONG_ABOUT: &str = "\
Check the audit log for tampering. Each node's events form one hash chain (every event holds
the hash of the one before it); each node checks its own chain from its retention checkpoint
and reports the first event that was removed, reordered or edited, with its seq and its line
in the node's data_dir/audit/events.log.

Exits 0 when every chain is whole, 2 when one is broken or a node could not be asked.
Needs the audit:read scope.

Example:
  ass audit verify
  ass audit verify --json | jq '.nodes[] | select(.ok | not)'";

/// Check every node's audit hash chain; name the first removed, reordered or edited event
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct VerifyArgs {
    /// Print the answer as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass audit verify`.
pub async fn exec(ctx: &Ctx, args: &VerifyArgs) -> anyhow::Result<()> {
    let resp = ctx.scoped(AUDIT_READ).audit_verify().await?;
    if args.json {
        output::print_json(&resp)?;
    } else {
        output::print(&render(&resp))?;
    }
    if resp.ok {
        Ok(())
    } else {
        Err(crate::Failed {
            exit: 2,
            code: "audit_not_verified",
            message: "the audit log did not verify".into(),
        }
        .into())
    }
}

/// One row per node and a verdict.
pub fn render(resp: &AuditVerifyResponse) -> String {
    let rows: Vec<Vec<String>> = resp
        .nodes
        .iter()
        .map(|n| {
            let status = if !n.reachable {
                "unreachable"
            } else if n.ok {
                "ok"
            } else {
                "BROKEN"
            };
            let checkpoint = match (n.checkpoint_seq, n.checkpoint_verified) {
                (None, _) => "-".to_owned(),
                (Some(s), Some(true)) => format!("{s} (MAC ok)"),
                (Some(s), Some(false)) => format!("{s} (MAC FAILED)"),
                (Some(s), None) => format!("{s} (MAC unchecked: sealed)"),
            };
            let problem = match (&n.problem, &n.error) {
                (Some(p), _) => {
                    format!("{} event {} (line {}): {}", p.kind, p.seq, p.line, p.detail)
                }
                (None, Some(e)) => e.clone(),
                (None, None) => "-".to_owned(),
            };
            vec![
                n.node.to_string(),
                status.to_owned(),
                n.checked.to_string(),
                or_dash(n.first_seq),
                or_dash(n.last_seq),
                checkpoint,
                problem,
            ]
        })
        .collect();
    let mut out = output::table(
        &["NODE", "STATUS", "CHECKED", "FIRST", "LAST", "CHECKPOINT", "PROBLEM"],
        &rows,
    );
    out.push_str(if resp.ok {
        "Every node's audit chain is whole.\n"
    } else {
        "The audit log did NOT verify: see PROBLEM.\n"
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ass_client::{AuditChainReport, AuditProblem};

    #[test]
    fn a_broken_chain_is_named() {
        let good = AuditChainReport {
            node: 1,
            reachable: true,
            ok: true,
            checked: 10,
            first_seq: Some(1),
            last_seq: Some(10),
            checkpoint_seq: None,
            checkpoint_verified: None,
            problem: None,
            error: None,
        };
        let mut bad = good.clone();
        bad.node = 2;
        bad.ok = false;
        bad.problem =
            Some(AuditProblem { kind: "edited".into(), seq: 4, line: 4, detail: "changed".into() });
        let text = render(&AuditVerifyResponse { ok: false, nodes: vec![good, bad] });
        assert!(text.contains("1     ok"), "{text}");
        assert!(text.contains("BROKEN") && text.contains("edited event 4 (line 4): changed"));
        assert!(text.ends_with("did NOT verify: see PROBLEM.\n"));
    }
}
