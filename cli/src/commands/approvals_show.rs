//! `ass approvals show`: one approval request, its decisions and its status.

use ass_client::scope::APPROVALS_DECIDE;
use ass_client::{ApprovalInfo, Decision};
use clap::Args;

use super::approvals_list::requester;
use super::Ctx;
use crate::output::{self, or_dash};

const LONG_ABOUT: &str = "\
Show one approval request: who asked to read which secret (path, tier, version) and why,
the approvals given so far of those required, a denial, when it times out, and, once
approved, until when the requester may read the path.

Needs the approvals:decide scope, except for the requester: any token of the agent whose read
opened the request may look at it. With only ASS_AGENT_KEY, `ass approvals show` first uses a
token this agent key bought earlier (the one `ass secrets get`, `ass run` or `ass env` read
with, kept in the token cache), then buys one with the scopes in ASS_TOKEN_SCOPES if set, and
else one with approvals:decide (an approver's).

Example:
  ass approvals show 6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f
  ass approvals show 6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f --json | jq -r .status";

/// Show one approval request
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct ShowArgs {
    /// Approval request id (printed by `ass secrets get` and `ass approvals list`)
    pub id: String,

    /// Print the request as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass approvals show`.
pub async fn exec(ctx: &Ctx, args: &ShowArgs) -> anyhow::Result<()> {
    let a = match ctx.agent_key() {
        None => ctx.client.get_approval(&args.id).await?,
        Some(key) => as_agent(ctx, key, &args.id).await?,
    };
    if args.json {
        output::print_json(&a)
    } else {
        output::print(&render(&a))
    }
}

/// The request, read with only an agent key: as its requester with a token the key bought
/// earlier (any scope), or with one holding ASS_TOKEN_SCOPES, else as an approver.
async fn as_agent(ctx: &Ctx, key: &str, id: &str) -> anyhow::Result<ApprovalInfo> {
    if let Some(c) = ctx.client.with_cached_agent_token(key) {
        match c.get_approval(id).await {
            Ok(a) => return Ok(a),
            // Revoked or expired meanwhile, or not this agent's request: try as below.
            Err(e) if matches!(e.status(), Some(401 | 403)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let scopes = ass_client::scope::split_list(
        &std::env::var(ass_client::ENV_TOKEN_SCOPES).unwrap_or_default(),
    );
    let scopes = if scopes.is_empty() { vec![APPROVALS_DECIDE.to_owned()] } else { scopes };
    let asked_decide = scopes == [APPROVALS_DECIDE];
    match ctx.scoped_all(scopes).get_approval(id).await {
        Ok(a) => Ok(a),
        Err(ass_client::Error::Api { status, code, message, leader, approval_id, request_id })
            if asked_decide && code == "scope_denied" =>
        {
            let message = format!("{message}; {REQUESTER_HINT}");
            Err(ass_client::Error::Api { status, code, message, leader, approval_id, request_id }
                .into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Why an agent key without `approvals:decide` can't look, and how it can.
const REQUESTER_HINT: &str = "this agent key may not buy an approvals:decide token; as the     requester, look with a token of the same agent: run this after the `ass secrets get` (or     `ass run`) that opened the request, whose token is cached, or set ASS_TOKEN_SCOPES to a scope     the agent holds (e.g. secrets:read:PATH of the request)";

/// `you@company.com at T: comment`.
fn decision(d: &Decision) -> String {
    match &d.comment {
        Some(c) => format!("{} at {}: {c}", d.approver, d.at),
        None => format!("{} at {}", d.approver, d.at),
    }
}

/// The key/value block; one `approved_by` line per approval.
pub fn render(a: &ApprovalInfo) -> String {
    let mut pairs = vec![
        ("id", a.id.clone()),
        ("status", a.status.clone()),
        ("agent", requester(a)),
        ("path", a.path.clone()),
        ("tier", a.tier.to_string()),
        ("version", a.version.to_string()),
        ("reason", or_dash(a.reason.as_deref())),
        ("approvals", format!("{} of {}", a.approvals.len(), a.required_approvals)),
    ];
    for (i, d) in a.approvals.iter().enumerate() {
        pairs.push((if i == 0 { "approved_by" } else { "" }, decision(d)));
    }
    if let Some(d) = &a.denial {
        pairs.push(("denied_by", decision(d)));
    }
    pairs.push(("requested_at", a.requested_at.clone()));
    pairs.push(("expires_at", a.expires_at.clone()));
    if let Some(g) = &a.grant_expires_at {
        pairs.push(("grant_until", g.clone()));
    }
    output::kv_block(&pairs)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::commands::tests::fixture;

    /// A pending-shaped request of payment-service for the Stripe key, critical, 2 needed,
    /// with an approval (comment `ok`) by each of `approvers`.
    pub(crate) fn approval(status: &str, approvers: &[&str]) -> ApprovalInfo {
        let approvals: Vec<_> = approvers
            .iter()
            .map(|a| serde_json::json!({"approver": a, "comment": "ok", "at": "2026-11-28T10:01:00.000Z"}))
            .collect();
        fixture(serde_json::json!({
            "id": "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f", "status": status,
            "agent_id": "a1b2c3d4-0000-4000-8000-000000000001", "agent_name": "payment-service",
            "path": "production/stripe/STRIPE_SECRET_KEY", "tier": "critical", "version": 5,
            "reason": "payout", "required_approvals": 2, "approvals": approvals,
            "requested_at": "2026-11-28T10:00:00.000Z", "expires_at": "2026-11-29T10:00:00.000Z"
        }))
    }

    #[test]
    fn block_lists_every_decision() {
        let mut a = approval("approved", &["you@company.com", "security@company.com"]);
        a.grant_expires_at = Some("2026-11-28T11:02:00.000Z".into());
        assert_eq!(
            render(&a),
            "id            6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f\n\
             status        approved\n\
             agent         payment-service\n\
             path          production/stripe/STRIPE_SECRET_KEY\n\
             tier          critical\n\
             version       5\n\
             reason        payout\n\
             approvals     2 of 2\n\
             approved_by   you@company.com at 2026-11-28T10:01:00.000Z: ok\n\
             \x20             security@company.com at 2026-11-28T10:01:00.000Z: ok\n\
             requested_at  2026-11-28T10:00:00.000Z\n\
             expires_at    2026-11-29T10:00:00.000Z\n\
             grant_until   2026-11-28T11:02:00.000Z\n"
        );
    }

    #[test]
    fn a_denial_is_shown() {
        let mut a = approval("denied", &[]);
        a.denial = Some(fixture(serde_json::json!({
            "approver": "security@company.com", "at": "T"
        })));
        let out = render(&a);
        assert!(out.contains("denied_by     security@company.com at T\n"), "{out}");
        assert!(out.contains("approvals     0 of 2\n") && !out.contains("approved_by"), "{out}");
    }
}
