//! `ass agents list`: every agent, never a key.

use ass_client::scope::AGENTS_MANAGE;
use ass_client::ListAgentsResponse;
use clap::Args;

use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
List every agent: name, id, scopes, IP allowlist, creation time and whether it is active or
revoked. Keys are never listed. Needs the agents:manage scope.

Example:
  ass agents list
  ass agents list --json | jq -r '.agents[] | select(.revoked_at == null) | .name'";

/// List agents (never their keys)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct ListArgs {
    /// Print the answer as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass agents list`.
pub async fn exec(ctx: &Ctx, args: &ListArgs) -> anyhow::Result<()> {
    let resp = ctx.scoped(AGENTS_MANAGE).list_agents().await?;
    if args.json {
        output::print_json(&resp)
    } else {
        output::print(&render(&resp))
    }
}

/// The agents table, or a sentence when there are none.
pub fn render(resp: &ListAgentsResponse) -> String {
    if resp.agents.is_empty() {
        return "No agents\n".to_owned();
    }
    let rows: Vec<Vec<String>> = resp
        .agents
        .iter()
        .map(|a| {
            vec![
                a.name.clone(),
                a.id.clone(),
                if a.revoked_at.is_some() { "revoked" } else { "active" }.to_owned(),
                a.created_at.clone(),
                if a.ip_allowlist.is_empty() { "any".to_owned() } else { a.ip_allowlist.join(",") },
                a.scopes.join(","),
            ]
        })
        .collect();
    output::table(&["NAME", "ID", "STATUS", "CREATED", "IP_ALLOWLIST", "SCOPES"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::agents_show::tests::agent;

    #[test]
    fn table_shows_status_and_scopes() {
        let mut revoked = agent();
        revoked.name = "old".into();
        revoked.revoked_at = Some("t2".into());
        revoked.ip_allowlist = vec!["10.0.0.0/8".into()];
        revoked.scopes = vec!["secrets:read:a/*".into()];
        let out = render(&ListAgentsResponse { agents: vec![agent(), revoked] });
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("NAME"), "{out}");
        assert!(lines[1].starts_with("inference-service  5f0c3a52-"), "{out}");
        assert!(lines[1].contains(" active ") && lines[1].contains(" any "), "{out}");
        assert!(
            lines[1]
                .ends_with("secrets:read:production/gemini/*,secrets:read:production/bedrock/*"),
            "{out}"
        );
        assert!(lines[2].contains(" revoked ") && lines[2].contains("10.0.0.0/8"), "{out}");
    }

    #[test]
    fn no_agents_says_so() {
        assert_eq!(render(&ListAgentsResponse { agents: vec![] }), "No agents\n");
    }
}
