//! `ass secrets get`: reads one version of a secret, value included.

use ass_client::SecretResponse;
use clap::Args;

use super::{Ctx, ReadArgs};
use crate::output;

const LONG_ABOUT: &str = "\
Read the secret at PATH (the latest version, or --version N).

By default prints path, version, type, tier, created_at and value. --silent prints the bare
value and a newline, for scripts and CI; --json prints everything as JSON.

Reads are linearizable by default (they see every write acknowledged before they started);
--stale answers from the node's local copy at once, --min-index I waits until the node has
applied the index a write printed.

Example:
  export GEMINI_API_KEY=$(ass secrets get production/gemini/GEMINI_API_KEY --silent)";

/// Read a secret's value
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct GetArgs {
    /// Secret path, e.g. production/gemini/GEMINI_API_KEY
    pub path: String,

    /// Read this version instead of the latest
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub version: Option<u64>,

    /// Print only the value followed by a newline
    #[arg(long, short = 's', conflicts_with = "json")]
    pub silent: bool,

    /// Print the answer as JSON
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub read: ReadArgs,
}

/// Runs `ass secrets get`.
pub async fn exec(ctx: &Ctx, args: &GetArgs) -> anyhow::Result<()> {
    let client = ctx.scoped(scope(args));
    let s = client.get_secret(&args.path, &args.read.options(args.version)).await?;
    if args.json {
        output::print_json(&s)
    } else if args.silent {
        output::print(&render_silent(&s))
    } else {
        output::print(&render(&s))
    }
}

/// The least scope this read needs (asked for when only an agent key is given).
pub fn scope(args: &GetArgs) -> String {
    ass_client::scope::secret_read(&args.path)
}

/// The bare value and a newline.
pub fn render_silent(s: &SecretResponse) -> String {
    format!("{}\n", s.value)
}

/// The key/value block.
pub fn render(s: &SecretResponse) -> String {
    output::kv_block(&[
        ("path", s.path.clone()),
        ("version", s.version.to_string()),
        ("type", s.secret_type.clone()),
        ("tier", s.tier.to_string()),
        ("created_at", s.created_at.clone()),
        ("value", s.value.clone()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::{fixture, parse};
    use crate::commands::{Command, SecretsCommand};

    fn args(argv: &[&str]) -> GetArgs {
        match parse(argv).unwrap().command {
            Command::Secrets(SecretsCommand::Get(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    fn secret() -> SecretResponse {
        fixture(serde_json::json!({
            "path": "production/gemini/GEMINI_API_KEY", "version": 4, "value": "AIza-xyz",
            "type": "api_key", "tier": "sensitive", "created_at": "2026-11-28T10:00:00Z"
        }))
    }

    #[test]
    fn ci_form_parses() {
        let a = args(&["secrets", "get", "production/stripe/KEY", "--silent"]);
        assert!(a.silent && !a.json);
        assert_eq!(a.read.options(a.version), ass_client::ReadOptions::default());
    }

    #[test]
    fn agent_key_token_holds_only_read_on_the_path() {
        let a = args(&["secrets", "get", "production/gemini/GEMINI_API_KEY", "--version", "2"]);
        assert_eq!(scope(&a), "secrets:read:production/gemini/GEMINI_API_KEY");
    }

    #[test]
    fn read_options_parse() {
        let a = args(&["secrets", "get", "a/b", "--version", "2", "--stale", "--min-index", "77"]);
        let o = a.read.options(a.version);
        assert_eq!((o.version, o.stale, o.min_index), (Some(2), true, Some(77)));
    }

    #[test]
    fn version_zero_is_a_usage_error() {
        assert!(parse(&["secrets", "get", "a/b", "--version", "0"]).is_err());
    }

    #[test]
    fn silent_and_json_conflict() {
        assert!(parse(&["secrets", "get", "a/b", "--silent", "--json"]).is_err());
    }

    #[test]
    fn silent_is_the_bare_value() {
        assert_eq!(render_silent(&secret()), "AIza-xyz\n");
    }

    #[test]
    fn default_is_a_key_value_block() {
        assert_eq!(
            render(&secret()),
            "path        production/gemini/GEMINI_API_KEY\n\
             version     4\n\
             type        api_key\n\
             tier        sensitive\n\
             created_at  2026-11-28T10:00:00Z\n\
             value       AIza-xyz\n"
        );
    }
}
