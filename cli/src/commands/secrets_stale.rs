//! `ass secrets stale`: secrets due for rotation (hardening practice 6).

use ass_client::scope::AUDIT_READ;
use ass_client::StaleResponse;
use clap::Args;

use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
List the secrets whose latest version is older than --older-than (default 90d), oldest
first, with their namespace, tier and age: the ones to rotate. Deleted secrets are left
out. Shows metadata only, never a value. Needs audit:read or sys:operator.

Example:
  ass secrets stale
  ass secrets stale --older-than 30d --json | jq -r '.secrets[].path'";

/// List secrets whose latest version is older than a threshold (rotation due)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct StaleArgs {
    /// Age of the latest version beyond which a secret is stale, e.g. 90d, 12h
    #[arg(long, value_name = "AGE", default_value = "90d")]
    pub older_than: String,

    /// Print the list as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass secrets stale`.
pub async fn exec(ctx: &Ctx, args: &StaleArgs) -> anyhow::Result<()> {
    let r = ctx.scoped(AUDIT_READ).stale_secrets(&args.older_than).await?;
    if args.json {
        output::print_json(&r)
    } else {
        output::print(&render(&r))
    }
}

/// One row per stale secret, then a count.
pub fn render(r: &StaleResponse) -> String {
    let rows: Vec<Vec<String>> = r
        .secrets
        .iter()
        .map(|s| {
            vec![
                s.path.clone(),
                s.namespace.clone(),
                s.tier.clone(),
                s.latest_version.to_string(),
                s.updated_at.clone(),
                format!("{}d", s.age_days),
            ]
        })
        .collect();
    let mut out = output::table(&["PATH", "NAMESPACE", "TIER", "VERSION", "UPDATED", "AGE"], &rows);
    out.push_str(&format!("{} secret(s) older than {}\n", r.secrets.len(), r.older_than));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::fixture;

    #[test]
    fn rows_and_count() {
        let r: StaleResponse = fixture(serde_json::json!({
            "older_than": "90d",
            "secrets": [{"path": "staging/a/K", "namespace": "staging", "tier": "standard",
                         "latest_version": 2, "updated_at": "2026-08-01T00:00:00.000Z", "age_days": 127}]
        }));
        let t = render(&r);
        assert!(
            t.contains("staging/a/K  staging    standard  2        2026-08-01T00:00:00.000Z  127d"),
            "{t}"
        );
        assert!(t.ends_with("1 secret(s) older than 90d\n"));
    }
}
