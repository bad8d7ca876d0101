//! `ass agents show`: one agent, never its key.

use ass_client::scope::AGENTS_MANAGE;
use ass_client::AgentInfo;
use clap::Args;

use super::{joined, Ctx};
use crate::output::{self, or_dash};

const LONG_ABOUT: &str = "\
Show one agent by name (or id): its scopes (the most any token it buys may hold), IP
allowlist, description, when it was created, when its key was last rotated and whether it is
revoked. The key itself is never shown again after `ass agents create` / `rotate-key`.

Needs the agents:manage scope.

Example:
  ass agents show inference-service
  ass agents show inference-service --json | jq -r '.scopes[]'";

/// Show one agent (never its key)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct ShowArgs {
    /// Agent name or id
    pub name: String,

    /// Print the agent as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass agents show`.
pub async fn exec(ctx: &Ctx, args: &ShowArgs) -> anyhow::Result<()> {
    let agent = ctx.scoped(AGENTS_MANAGE).get_agent(&args.name).await?;
    if args.json {
        output::print_json(&agent)
    } else {
        output::print(&render(&agent))
    }
}

/// The key/value block of an agent.
pub fn render(a: &AgentInfo) -> String {
    output::kv_block(&[
        ("name", a.name.clone()),
        ("id", a.id.clone()),
        ("scopes", joined(&a.scopes, "-")),
        ("ip_allowlist", joined(&a.ip_allowlist, "any address")),
        ("description", or_dash(a.description.as_deref())),
        ("created_at", a.created_at.clone()),
        ("key_rotated_at", or_dash(a.key_rotated_at.as_deref())),
        ("revoked_at", or_dash(a.revoked_at.as_deref())),
    ])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::commands::tests::{fixture, parse};
    use crate::commands::{AgentsCommand, Command};

    /// An agent as the server sends it.
    pub(crate) fn agent() -> AgentInfo {
        fixture(serde_json::json!({
            "id": "5f0c3a52-0d5e-4a0e-9a53-0f7c1b2d3e4f", "name": "inference-service",
            "scopes": ["secrets:read:production/gemini/*", "secrets:read:production/bedrock/*"],
            "ip_allowlist": [], "created_at": "2026-11-28T10:00:00.000Z"
        }))
    }

    #[test]
    fn name_is_required() {
        assert!(parse(&["agents", "show"]).is_err());
        match parse(&["agents", "show", "ci", "--json"]).unwrap().command {
            Command::Agents(AgentsCommand::Show(a)) => assert!(a.name == "ci" && a.json),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn block_lists_scopes_and_dashes_for_absent_fields() {
        assert_eq!(
            render(&agent()),
            "name            inference-service\n\
             id              5f0c3a52-0d5e-4a0e-9a53-0f7c1b2d3e4f\n\
             scopes          secrets:read:production/gemini/*, secrets:read:production/bedrock/*\n\
             ip_allowlist    any address\n\
             description     -\n\
             created_at      2026-11-28T10:00:00.000Z\n\
             key_rotated_at  -\n\
             revoked_at      -\n"
        );
    }
}
