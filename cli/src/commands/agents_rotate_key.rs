//! `ass agents rotate-key`: a new agent key, shown once; the old one stops working.

use ass_client::scope::AGENTS_MANAGE;
use clap::Args;

use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
Give an agent a new key and retire the old one. The new key is printed ONCE; update
ASS_AGENT_KEY wherever the agent runs. Use it on a schedule, when someone with access leaves,
or when the key may have leaked. Needs the agents:manage scope.

Example:
  ass agents rotate-key inference-service
  ass agents rotate-key inference-service --json | jq -r .agent_key | gh secret set ASS_AGENT_KEY";

/// Give an agent a new key (shown once); the old key stops working
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct RotateKeyArgs {
    /// Agent name or id
    pub name: String,

    /// Print the answer (agent and agent_key) as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass agents rotate-key`.
pub async fn exec(ctx: &Ctx, args: &RotateKeyArgs) -> anyhow::Result<()> {
    let resp = ctx.scoped(AGENTS_MANAGE).rotate_agent_key(&args.name).await?;
    if args.json {
        output::print_json(&resp)
    } else {
        output::print(&format!(
            "{}\nThe previous key of {} no longer works.\n",
            super::agents_create::render(&resp, "New agent key"),
            resp.agent.name
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::commands::tests::parse;
    use crate::commands::{AgentsCommand, Command};

    #[test]
    fn verb_is_rotate_key() {
        match parse(&["agents", "rotate-key", "ci"]).unwrap().command {
            Command::Agents(AgentsCommand::RotateKey(a)) => assert_eq!(a.name, "ci"),
            other => panic!("{other:?}"),
        }
    }
}
