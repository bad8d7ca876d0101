//! `ass agents create`: registers one agent (one per service) and shows its key once.

use ass_client::scope::AGENTS_MANAGE;
use ass_client::{AgentKeyResponse, CreateAgentRequest};
use clap::Args;

use super::{csv, csv_required, Ctx};
use crate::output;

const LONG_ABOUT: &str = "\
Register an agent: one identity per service, holding the most its tokens may ever do. The
agent key (ass_…) is printed ONCE; the cluster keeps only its hash.

Store the key as ASS_AGENT_KEY in the service's (or CI's) secret store and nothing else:
with only ASS_AGENT_KEY set, `ass secrets get PATH` buys a short token holding just
secrets:read:PATH and prints the value. An agent key itself opens nothing but POST /v1/tokens.

--scopes and --ip-allowlist are comma-separated. A scope is `secrets:<action>:<glob>` (action
read, write, list, delete or *; glob `*`, one path, or a prefix ending in `/*`) or an admin
scope such as tokens:manage. Needs the agents:manage scope.

Example:
  ass agents create --name \"inference-service\" \\
      --scopes \"secrets:read:production/gemini/*,secrets:read:production/bedrock/*\"
  ass agents create --name payment-service --scopes \"secrets:read:production/stripe/*\" \\
      --ip-allowlist 10.0.1.0/24 --description \"checkout workers\"";

/// Register an agent and print its key (shown once)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct CreateArgs {
    /// Unique name, [A-Za-z0-9_.-@+], e.g. inference-service, or an approver's e-mail
    #[arg(long)]
    pub name: String,

    /// Comma-separated scopes the agent's tokens may hold at most
    #[arg(long, required = true, value_name = "SCOPES", value_delimiter = ',')]
    pub scopes: Vec<String>,

    /// Comma-separated CIDR ranges the agent and its tokens may be used from (default: any)
    #[arg(long, value_name = "CIDRS", value_delimiter = ',')]
    pub ip_allowlist: Vec<String>,

    /// What the agent is for
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,

    /// Print the answer (agent and agent_key) as JSON
    #[arg(long)]
    pub json: bool,
}

/// The request the flags make.
pub fn request(args: &CreateArgs) -> anyhow::Result<CreateAgentRequest> {
    Ok(CreateAgentRequest {
        name: args.name.clone(),
        scopes: csv_required("--scopes", &args.scopes)?,
        ip_allowlist: csv(&args.ip_allowlist),
        description: args.description.clone().filter(|d| !d.is_empty()),
    })
}

/// Runs `ass agents create`.
pub async fn exec(ctx: &Ctx, args: &CreateArgs) -> anyhow::Result<()> {
    let req = request(args)?;
    let resp = ctx.scoped(AGENTS_MANAGE).create_agent(&req).await?;
    if args.json {
        output::print_json(&resp)
    } else {
        output::print(&render(&resp, "Agent key"))
    }
}

/// The key, a loud note, then the agent. `label` names the key (`Agent key`, `New agent key`).
pub fn render(r: &AgentKeyResponse, label: &str) -> String {
    let mut out = format!("{label}: {}\n", r.agent_key);
    out.push_str(&format!(
        "\n\
         !!! STORE THIS KEY NOW. It is shown this ONCE and the cluster keeps only its hash. !!!\n\
         \n\
         Put it in your CI/CD secret store as ASS_AGENT_KEY, the only credential the job needs:\n\
         with it, `ass secrets get PATH --silent` fetches each secret at runtime through a\n\
         short-lived token. Lost it? `ass agents rotate-key {name}` makes a new one.\n\
         \n",
        name = r.agent.name
    ));
    out.push_str(&super::agents_show::render(&r.agent));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::parse;
    use crate::commands::{AgentsCommand, Command};

    fn args(argv: &[&str]) -> CreateArgs {
        match parse(argv).unwrap().command {
            Command::Agents(AgentsCommand::Create(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hardening_guide_form_splits_scopes_on_commas() {
        let a = args(&[
            "agents",
            "create",
            "--name",
            "inference-service",
            "--scopes",
            "secrets:read:production/gemini/*,secrets:read:production/bedrock/*",
        ]);
        let r = request(&a).unwrap();
        assert_eq!(r.name, "inference-service");
        assert_eq!(
            r.scopes,
            ["secrets:read:production/gemini/*", "secrets:read:production/bedrock/*"]
        );
        assert!(r.ip_allowlist.is_empty() && r.description.is_none());
        assert!(!a.json);
    }

    #[test]
    fn lists_are_trimmed_and_blank_items_dropped() {
        let a = args(&[
            "agents",
            "create",
            "--name",
            "ci",
            "--scopes",
            " secrets:read:a/* , ,tokens:manage,",
            "--ip-allowlist",
            "10.0.1.100/32, 172.16.0.0/12",
            "--description",
            "CI",
        ]);
        let r = request(&a).unwrap();
        assert_eq!(r.scopes, ["secrets:read:a/*", "tokens:manage"]);
        assert_eq!(r.ip_allowlist, ["10.0.1.100/32", "172.16.0.0/12"]);
        assert_eq!(r.description.as_deref(), Some("CI"));
    }

    #[test]
    fn name_and_scopes_are_required() {
        assert!(parse(&["agents", "create", "--scopes", "secrets:read:a/*"]).is_err());
        assert!(parse(&["agents", "create", "--name", "x"]).is_err());
        let blank = args(&["agents", "create", "--name", "x", "--scopes", " , "]);
        assert_eq!(crate::exit_code(&request(&blank).unwrap_err()), 1);
    }

    #[test]
    fn key_comes_first_with_a_loud_note() {
        let r = AgentKeyResponse {
            agent: crate::commands::agents_show::tests::agent(),
            agent_key: "ass_abc".into(),
        };
        let out = render(&r, "Agent key");
        assert!(out.starts_with("Agent key: ass_abc\n\n!!! STORE THIS KEY NOW."), "{out}");
        assert!(out.contains("ASS_AGENT_KEY"), "{out}");
        assert!(out.contains("ass agents rotate-key inference-service"), "{out}");
        assert!(out.contains("name            inference-service\n"), "{out}");
    }
}
