//! `ass agents rightsize`: the scopes an agent used, from the audit log, against what it
//! holds (hardening practice 1).

use ass_client::scope::AUDIT_READ;
use ass_client::RightsizeReport;
use clap::Args;

use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
Compare what an agent holds with what it used: every successful call the audit log shows
for the agent (any of its tokens) since --since (default 30d), the scope each call needed,
how often each held scope was exercised, and a suggested minimal scope set covering every
use (two or more paths of one folder become folder/*). Agents are not edited in place:
re-create the agent with the suggested --scopes and revoke the old one. Needs audit:read
or sys:operator.

Example:
  ass agents rightsize inference-service
  ass agents rightsize ci-deploy --since 90d --json | jq -r '.suggested | join(\",\")'";

/// Show the scopes an agent used against what it holds, and a minimal set
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct RightsizeArgs {
    /// The agent's name
    pub name: String,

    /// Audit window: a duration back (30d) or an RFC 3339 time
    #[arg(long, value_name = "WHEN", default_value = "30d")]
    pub since: String,

    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass agents rightsize`.
pub async fn exec(ctx: &Ctx, args: &RightsizeArgs) -> anyhow::Result<()> {
    let r = ctx.scoped(AUDIT_READ).rightsize(&args.name, &args.since).await?;
    if args.json {
        output::print_json(&r)
    } else {
        output::print(&render(&r))
    }
}

/// Held scopes with their use counts, the uses, and the suggestion.
pub fn render(r: &RightsizeReport) -> String {
    let mut out = format!("agent {} since {} ({} audit events)\n\n", r.agent, r.since, r.events);
    let held: Vec<Vec<String>> = r
        .held
        .iter()
        .map(|h| {
            vec![
                h.scope.clone(),
                h.uses.to_string(),
                if h.uses == 0 { "UNUSED" } else { "" }.into(),
            ]
        })
        .collect();
    out.push_str(&output::table(&["HELD SCOPE", "USES", ""], &held));
    out.push('\n');
    let used: Vec<Vec<String>> =
        r.used.iter().map(|u| vec![u.needs.clone(), u.count.to_string()]).collect();
    out.push_str(&output::table(&["USED (NEEDS)", "COUNT"], &used));
    out.push('\n');
    if r.suggested.is_empty() {
        out.push_str(
            "suggested: nothing was used in the window (revoke the agent if it is idle)\n",
        );
    } else {
        out.push_str(&format!("suggested: --scopes \"{}\"\n", r.suggested.join(",")));
    }
    if r.partial {
        out.push_str("note: the audit window could not be read whole; uses may be missing\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::fixture;

    #[test]
    fn shows_unused_scopes_and_the_suggestion() {
        let r: RightsizeReport = fixture(serde_json::json!({
            "agent": "svc", "since": "2026-11-06T00:00:00.000Z",
            "held": [{"scope": "secrets:read:production/*", "uses": 3}, {"scope": "agents:manage", "uses": 0}],
            "used": [{"needs": "secrets:read:production/a/K", "count": 3}],
            "suggested": ["secrets:read:production/a/K"], "unused": ["agents:manage"],
            "events": 5, "partial": false
        }));
        let t = render(&r);
        assert!(t.contains("agents:manage              0     UNUSED"), "{t}");
        assert!(t.contains("suggested: --scopes \"secrets:read:production/a/K\"\n"), "{t}");
    }
}
