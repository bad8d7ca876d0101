//! `ass agents revoke`: the agent's key, and every token it bought, stop working.

use ass_client::scope::AGENTS_MANAGE;
use ass_client::AgentInfo;
use clap::Args;

use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
Revoke an agent: its key and every token bought with it stop working at once, on every node.
Use it when a service or its CI secret store may be compromised. A revoked agent can't be
restored; register a new one. Needs the agents:manage scope.

Example:
  ass agents revoke inference-service";

/// Revoke an agent: its key and its tokens stop working
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct RevokeArgs {
    /// Agent name or id
    pub name: String,

    /// Print the revoked agent as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass agents revoke`.
pub async fn exec(ctx: &Ctx, args: &RevokeArgs) -> anyhow::Result<()> {
    let agent = ctx.scoped(AGENTS_MANAGE).revoke_agent(&args.name).await?;
    if args.json {
        output::print_json(&agent)
    } else {
        output::print(&render(&agent))
    }
}

/// One sentence.
pub fn render(a: &AgentInfo) -> String {
    format!(
        "Revoked agent {}: its key and every token it bought no longer work (at {}).\n",
        a.name,
        a.revoked_at.as_deref().unwrap_or("now")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::agents_show::tests::agent;

    #[test]
    fn sentence_names_the_agent() {
        let mut a = agent();
        a.revoked_at = Some("2026-11-28T11:00:00.000Z".into());
        assert_eq!(
            render(&a),
            "Revoked agent inference-service: its key and every token it bought no longer work \
             (at 2026-11-28T11:00:00.000Z).\n"
        );
    }
}
