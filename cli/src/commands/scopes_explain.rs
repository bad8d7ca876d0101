//! `ass scopes explain`: which scope lets a token or an agent do something, or why not.

use ass_client::scope::AUDIT_READ;
use ass_client::{ExplainSubject, Explanation};
use clap::Args;

use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
Explain whether a token (by accessor) or an agent may do ACTION (default read) on PATH:
which of its scopes grants it, or why it is denied — no scope matches, the scopes reach
another namespace, they grant another action, the client address is outside an allowlist
(give --ip), the credential is expired or revoked — and whether the path's tier makes a
read wait for approvals. Judged on the live state; nothing is read or opened. Needs
audit:read or sys:operator.

(The token is named by its accessor with --accessor: `--token` is the CLI's own credential.)

Example:
  ass scopes explain --agent inference-service production/gemini/GEMINI_API_KEY
  ass scopes explain --accessor 0b9e6c1e-3d7f-4c61-9f0e-1a2b3c4d5e6f production/db/URL --action write --ip 10.0.3.7
  ass scopes explain --agent ci-deploy staging/db/URL --json";

/// Explain which scope grants an access, or why it is denied
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct ExplainArgs {
    /// The token to judge, by accessor
    #[arg(
        long,
        value_name = "ACCESSOR",
        required_unless_present = "agent",
        conflicts_with = "agent"
    )]
    pub accessor: Option<String>,

    /// The agent to judge, by name
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,

    /// The secret path
    pub path: String,

    /// read, write, list, delete or *
    #[arg(long, default_value = "read")]
    pub action: String,

    /// Judge the IP allowlists for this client address too
    #[arg(long, value_name = "IP")]
    pub ip: Option<String>,

    /// Print the explanation as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass scopes explain`.
pub async fn exec(ctx: &Ctx, args: &ExplainArgs) -> anyhow::Result<()> {
    let subject = match (&args.accessor, &args.agent) {
        (Some(a), _) => ExplainSubject::Accessor(a.clone()),
        (None, Some(n)) => ExplainSubject::Agent(n.clone()),
        (None, None) => anyhow::bail!("give --accessor ACCESSOR or --agent NAME"),
    };
    let e = ctx
        .scoped(AUDIT_READ)
        .explain(&subject, &args.path, &args.action, args.ip.as_deref())
        .await?;
    if args.json {
        output::print_json(&e)
    } else {
        output::print(&render(&e))
    }
}

/// The verdict in a line, then the scope or the reasons.
pub fn render(e: &Explanation) -> String {
    let verdict = match e.decision.as_str() {
        "allowed" => "ALLOWED",
        "needs_approval" => "ALLOWED AFTER APPROVAL",
        _ => "DENIED",
    };
    let mut out = format!("{verdict}: {} {} {}\n", e.subject, e.action, e.path);
    if let Some(s) = &e.granted_by {
        out.push_str(&format!("  granted by: {s}\n"));
    }
    for r in &e.reasons {
        out.push_str(&format!("  {}: {}\n", r.code, r.message));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::{fixture, parse};

    #[test]
    fn one_subject_is_required() {
        assert!(parse(&["scopes", "explain", "a/b"]).is_err());
        assert!(parse(&["scopes", "explain", "--agent", "x", "--accessor", "y", "a/b"]).is_err());
        assert!(parse(&["scopes", "explain", "--agent", "x", "a/b", "--action", "write"]).is_ok());
    }

    #[test]
    fn renders_the_verdict_and_reasons() {
        let e: Explanation = fixture(serde_json::json!({
            "subject": "agent:svc", "path": "production/a/K", "action": "read",
            "decision": "needs_approval", "granted_by": "secrets:read:production/a/*",
            "reasons": [{"code": "approval_required", "message": "it is critical"}]
        }));
        assert_eq!(
            render(&e),
            "ALLOWED AFTER APPROVAL: agent:svc read production/a/K\n  granted by: secrets:read:production/a/*\n  approval_required: it is critical\n"
        );
    }
}
