//! `ass policy tokens set`: replaces the token policy, from flags or a JSON file.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ass_client::scope::POLICY_MANAGE;
use ass_client::TokenPolicy;
use clap::Args;

use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
Replace the token policy. The flags describe the whole policy (what is not given takes its
default, it is not kept from the current one): --max-ttl is the longest TTL a token may
have (at most 24h); --break-glass lets a token with a --justification live longer, up to
--break-glass-max-ttl (default 72h, at most 7d). Or give the policy as JSON with --file
(`-` reads standard input), in the form `ass policy tokens show --json` prints.

Needs the policy:manage scope. Prints the policy now in force.

Example:
  ass policy tokens set --max-ttl 24h
  ass policy tokens set --max-ttl 8h --break-glass --break-glass-max-ttl 72h
  ass policy tokens set --file policy.json";

/// Replace the token policy
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct SetArgs {
    /// Longest TTL a token may have, e.g. 24h, 8h
    #[arg(long, value_name = "TTL", required_unless_present = "file")]
    pub max_ttl: Option<String>,

    /// Allow a justification to buy a TTL above --max-ttl
    #[arg(long)]
    pub break_glass: bool,

    /// Longest break-glass TTL [default: 72h]
    #[arg(long, value_name = "TTL")]
    pub break_glass_max_ttl: Option<String>,

    /// Read the whole policy as JSON from this file (`-`: standard input)
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["max_ttl", "break_glass", "break_glass_max_ttl"]
    )]
    pub file: Option<PathBuf>,

    /// Print the policy in force as JSON
    #[arg(long)]
    pub json: bool,
}

/// The policy the flags describe (not with --file).
pub fn from_flags(args: &SetArgs) -> TokenPolicy {
    let default = TokenPolicy::default();
    TokenPolicy {
        max_ttl: args.max_ttl.clone().unwrap_or(default.max_ttl),
        break_glass: args.break_glass,
        break_glass_max_ttl: args
            .break_glass_max_ttl
            .clone()
            .unwrap_or(default.break_glass_max_ttl),
    }
}

/// A policy from JSON text; a bad one is a local error.
pub fn from_json(text: &str, source: &str) -> anyhow::Result<TokenPolicy> {
    serde_json::from_str(text).with_context(|| {
        format!(
            "{source} is not a token policy (expected e.g. \
             {{\"max_ttl\":\"24h\",\"break_glass\":false,\"break_glass_max_ttl\":\"72h\"}})"
        )
    })
}

fn read_file(path: &Path) -> anyhow::Result<TokenPolicy> {
    let text = if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the policy from standard input")?;
        s
    } else {
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read policy file {}", path.display()))?
    };
    from_json(&text, &path.display().to_string())
}

/// Runs `ass policy tokens set`.
pub async fn exec(ctx: &Ctx, args: &SetArgs) -> anyhow::Result<()> {
    let policy = match &args.file {
        Some(path) => read_file(path)?,
        None => from_flags(args),
    };
    let now = ctx.scoped(POLICY_MANAGE).set_token_policy(&policy).await?;
    if args.json {
        output::print_json(&now)
    } else {
        output::print(&format!("Token policy set:\n{}", super::policy_tokens_show::render(&now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::parse;
    use crate::commands::{Command, PolicyCommand, PolicyTokensCommand};

    fn args(argv: &[&str]) -> SetArgs {
        match parse(argv).unwrap().command {
            Command::Policy(PolicyCommand::Tokens(PolicyTokensCommand::Set(a))) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_describe_the_whole_policy() {
        let p = from_flags(&args(&["policy", "tokens", "set", "--max-ttl", "24h"]));
        assert_eq!(p, TokenPolicy::default());
        let p = from_flags(&args(&[
            "policy",
            "tokens",
            "set",
            "--max-ttl",
            "8h",
            "--break-glass",
            "--break-glass-max-ttl",
            "48h",
        ]));
        assert_eq!(
            p,
            TokenPolicy {
                max_ttl: "8h".into(),
                break_glass: true,
                break_glass_max_ttl: "48h".into()
            }
        );
    }

    #[test]
    fn max_ttl_or_file_is_required_and_they_conflict() {
        assert!(parse(&["policy", "tokens", "set"]).is_err());
        assert!(parse(&["policy", "tokens", "set", "--break-glass"]).is_err());
        assert!(parse(&["policy", "tokens", "set", "--file", "p.json"]).is_ok());
        assert!(parse(&["policy", "tokens", "set", "--file", "p", "--max-ttl", "1h"]).is_err());
        assert!(parse(&["policy", "tokens", "set", "--file", "p", "--break-glass"]).is_err());
    }

    #[test]
    fn json_file_is_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("policy.json");
        std::fs::write(&p, r#"{"max_ttl":"12h","break_glass":true}"#).unwrap();
        let policy = read_file(&p).unwrap();
        assert_eq!(policy.max_ttl, "12h");
        assert_eq!(policy.break_glass_max_ttl, "72h", "default filled in");
        std::fs::write(&p, r#"{"max_ttl":"12h","maxttl":"1h"}"#).unwrap();
        let e = read_file(&p).unwrap_err();
        assert_eq!(crate::exit_code(&e), 1);
        assert!(format!("{e:#}").contains("is not a token policy"), "{e:#}");
        assert_eq!(crate::exit_code(&read_file(&dir.path().join("none")).unwrap_err()), 1);
    }
}
