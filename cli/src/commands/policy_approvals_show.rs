//! `ass policy approvals show`: what each tier needs before its secrets are read, and who
//! decides.

use ass_client::scope::POLICY_MANAGE;
use ass_client::ApprovalPolicyDocument;
use clap::Args;

use super::Ctx;
use crate::output::{self, or_dash};

const LONG_ABOUT: &str = "\
Show the approval policy: for each tier (standard, sensitive, critical) how many approvals a
read needs and how long a request waits for them (timeout), the approvers (agents named by
e-mail) and how long an approved read lasts (grant). Until a policy is set, critical secrets
need one approval and there are no approvers, so their reads wait for an operator.

Needs the policy:manage scope.

Example:
  ass policy approvals show
  ass policy approvals show --json > policy.json";

/// Show the approval policy
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct ShowArgs {
    /// Print the policy as JSON (the form `ass policy approvals set --file` reads)
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass policy approvals show`.
pub async fn exec(ctx: &Ctx, args: &ShowArgs) -> anyhow::Result<()> {
    let doc = ctx.scoped(POLICY_MANAGE).get_approval_policy().await?;
    if args.json {
        output::print_json(&doc)
    } else {
        output::print(&render(&doc))
    }
}

/// Where a tier sorts: by sensitivity, unknown names last.
fn tier_order(name: &str) -> u8 {
    match name {
        "standard" => 0,
        "sensitive" => 1,
        "critical" => 2,
        _ => 3,
    }
}

/// A table of the tiers (least sensitive first), then approvers and grant.
pub fn render(doc: &ApprovalPolicyDocument) -> String {
    let p = &doc.approval_policy;
    let mut tiers: Vec<_> = p.tiers.iter().collect();
    tiers.sort_by_key(|(name, _)| tier_order(name));
    let rows: Vec<Vec<String>> = tiers
        .iter()
        .map(|(name, rule)| {
            vec![
                (*name).clone(),
                rule.required_approvals.to_string(),
                or_dash(rule.timeout_hours.map(|h| format!("{h}h"))),
            ]
        })
        .collect();
    let mut out = output::table(&["TIER", "APPROVALS", "TIMEOUT"], &rows);
    out.push('\n');
    let approvers = if p.approvers.is_empty() {
        "none (reads that need approval wait until approvers are named)".to_owned()
    } else {
        p.approvers.join(", ")
    };
    out.push_str(&output::kv_block(&[
        ("approvers", approvers),
        ("grant", or_dash(p.grant_hours.map(|h| format!("{h}h")))),
    ]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::fixture;

    /// The hardening guide's policy, with critical needing both approvers.
    pub(crate) fn guide_policy() -> ApprovalPolicyDocument {
        fixture(serde_json::json!({"approval_policy": {
            "tiers": {"standard": {"required_approvals": 0},
                      "sensitive": {"required_approvals": 1, "timeout_hours": 24},
                      "critical": {"required_approvals": 2, "timeout_hours": 24}},
            "approvers": ["you@company.com", "security@company.com"]}}))
    }

    #[test]
    fn tiers_least_sensitive_first_then_approvers() {
        assert_eq!(
            render(&guide_policy()),
            "TIER       APPROVALS  TIMEOUT\n\
             standard   0          -\n\
             sensitive  1          24h\n\
             critical   2          24h\n\
             \n\
             approvers  you@company.com, security@company.com\n\
             grant      -\n"
        );
    }

    #[test]
    fn no_approvers_says_what_that_means() {
        let mut p = guide_policy();
        p.approval_policy.approvers.clear();
        p.approval_policy.grant_hours = Some(1);
        let out = render(&p);
        assert!(out.contains("approvers  none (reads that need approval wait"), "{out}");
        assert!(out.ends_with("grant      1h\n"), "{out}");
    }
}
