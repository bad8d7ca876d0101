//! `ass tokens issue`: a short-lived token whose scopes lie within the caller's.

use std::time::Duration;

use ass_client::{IssueTokenRequest, IssueTokenResponse};
use clap::Args;

use super::{csv, csv_required, Ctx};
use crate::output;

const LONG_ABOUT: &str = "\
Issue a short-lived token holding --scopes (comma-separated) for --ttl. Ask for the least the
job needs (secrets:read:production/gemini/*, not secrets:read:*) and the shortest TTL that
works: 15m for a pipeline step, 1h for an agent, 8h with refresh for a long-running worker.

With only ASS_AGENT_KEY set, the agent key buys the token and the scopes must lie within the
agent's. With ASS_TOKEN, that token must hold tokens:manage (or be the root token) and the
scopes must lie within its own. --ttl above the token policy's maximum (24h by default) is
refused unless the policy allows break-glass and --justification says why.
--ip-allowlist (comma-separated CIDR ranges) restricts where the token can be used from.

Prints the token (shown this once), its accessor (for lookup and revoke) and its expiry;
--silent prints only the token, --json everything.

A token that reaches every namespace (a secrets:ACTION:* scope) or lives longer than 8h is
issued, with a warning on stderr: that is the blast radius the hardening guide warns about.

Example:
  ass tokens issue --scopes \"secrets:read:production/gemini/*\" --ttl 1h
  ass tokens issue --scopes \"secrets:read:production/*\" --ttl 1h \\
      --ip-allowlist 10.0.1.100/32,172.16.0.0/12
  ASS_TOKEN=$(ass tokens issue --scopes \"secrets:read:production/db/*\" --ttl 15m --silent)
  export ASS_TOKEN   # apart: `export X=$(…)` would hide a failed issue (exit 0)";

/// Issue a short-lived scoped token (shown once)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct IssueArgs {
    /// Comma-separated scopes, e.g. secrets:read:production/gemini/*
    #[arg(long, required = true, value_name = "SCOPES", value_delimiter = ',')]
    pub scopes: Vec<String>,

    /// Lifetime: 90s, 15m, 1h, 8h, 24h, 1h30m
    #[arg(long, default_value = "1h", value_name = "TTL")]
    pub ttl: String,

    /// Comma-separated CIDR ranges the token may be used from (default: any the agent may)
    #[arg(long, value_name = "CIDRS", value_delimiter = ',')]
    pub ip_allowlist: Vec<String>,

    /// Why a TTL above the policy's maximum is needed (break-glass; recorded with the token)
    #[arg(long, value_name = "TEXT")]
    pub justification: Option<String>,

    /// Print only the token followed by a newline
    #[arg(long, short = 's', conflicts_with = "json")]
    pub silent: bool,

    /// Print the answer (token, accessor, scopes, expiry…) as JSON
    #[arg(long)]
    pub json: bool,
}

/// The request the flags make. The TTL goes as written: the cluster judges it.
pub fn request(args: &IssueArgs) -> anyhow::Result<IssueTokenRequest> {
    Ok(IssueTokenRequest {
        scopes: csv_required("--scopes", &args.scopes)?,
        ttl: args.ttl.trim().to_owned(),
        ip_allowlist: csv(&args.ip_allowlist),
        justification: args.justification.clone().filter(|j| !j.trim().is_empty()),
    })
}

/// Runs `ass tokens issue`.
pub async fn exec(ctx: &Ctx, args: &IssueArgs) -> anyhow::Result<()> {
    let req = request(args)?;
    let resp = ctx.issuer().issue_token(&req).await?;
    for w in warnings(&resp.info.scopes, lifetime(&resp).or_else(|| ttl_of(&req.ttl))) {
        eprintln!("warning: {w}");
    }
    print_issued(&resp, args.json, args.silent)
}

/// Longest lifetime issued without a warning.
pub const WARN_TTL: Duration = Duration::from_secs(8 * 3600);

/// What is risky about a token with `scopes` living `ttl`: scopes over every namespace
/// (`secrets:ACTION:*`), a lifetime over [`WARN_TTL`].
pub fn warnings(scopes: &[String], ttl: Option<Duration>) -> Vec<String> {
    let mut out = Vec::new();
    let wide: Vec<&str> = scopes
        .iter()
        .map(String::as_str)
        .filter(|s| {
            s.strip_prefix("secrets:")
                .and_then(|r| r.split_once(':'))
                .is_some_and(|(_, g)| g == "*")
        })
        .collect();
    if !wide.is_empty() {
        out.push(format!(
            "{} reaches every secret in every namespace; scope it to the paths the job reads \
             (e.g. secrets:read:production/gemini/*)",
            wide.join(", ")
        ));
    }
    if let Some(t) = ttl.filter(|t| *t > WARN_TTL) {
        out.push(format!(
            "the token lives {}, more than 8h; prefer 15m for a pipeline step, 1h for an agent, \
             8h with refresh for a long-running worker",
            ass_client::format_ttl(t)
        ));
    }
    out
}

/// The issued token's lifetime by the cluster's stamps.
fn lifetime(r: &IssueTokenResponse) -> Option<Duration> {
    let i = humantime::parse_rfc3339_weak(&r.info.issued_at).ok()?;
    let e = humantime::parse_rfc3339_weak(&r.info.expires_at).ok()?;
    e.duration_since(i).ok()
}

/// The requested TTL (`1h`, `1d`, `1h30m`), when it parses.
fn ttl_of(ttl: &str) -> Option<Duration> {
    humantime::parse_duration(ttl.trim()).ok()
}

/// Prints a freshly issued token: JSON, the bare token, or [`render`].
pub fn print_issued(resp: &IssueTokenResponse, json: bool, silent: bool) -> anyhow::Result<()> {
    if json {
        output::print_json(resp)
    } else if silent {
        output::print(&format!("{}\n", resp.token))
    } else {
        output::print(&render(resp))
    }
}

/// The token, its description, and a note that it is shown once.
pub fn render(r: &IssueTokenResponse) -> String {
    let mut pairs = vec![("token", r.token.clone())];
    pairs.extend(super::tokens_lookup::pairs(&r.info));
    let mut out = output::kv_block(&pairs);
    out.push_str(&format!(
        "\nThe token is shown this once; the cluster keeps only its hash. Revoke it early with\n\
         `ass tokens revoke {}`.\n",
        r.info.accessor
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::parse;
    use crate::commands::{Command, TokensCommand};

    fn args(argv: &[&str]) -> IssueArgs {
        match parse(argv).unwrap().command {
            Command::Tokens(TokensCommand::Issue(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn all_namespace_scopes_and_long_ttls_warn() {
        let v = |xs: &[&str]| xs.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let h = |n: u64| Some(Duration::from_secs(n * 3600));
        let w = warnings(&v(&["secrets:read:*"]), h(24));
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].starts_with("secrets:read:* reaches every secret"), "{w:?}");
        assert!(w[1].contains("lives 1d"), "{w:?}");
        assert!(warnings(&v(&["secrets:*:*", "agents:manage"]), h(1))[0].contains("secrets:*:*"));
        assert!(warnings(&v(&["secrets:read:production/gemini/*"]), h(8)).is_empty());
        assert!(warnings(&v(&["secrets:read:production/*", "tokens:manage"]), None).is_empty());
        assert_eq!(warnings(&v(&["secrets:read:a/b"]), h(9)).len(), 1);
        assert_eq!(ttl_of("1d"), h(24));
        assert_eq!(ttl_of("soon"), None);
    }

    #[test]
    fn hardening_guide_forms_parse() {
        let r = request(&args(&[
            "tokens",
            "issue",
            "--scopes",
            "secrets:read:production/gemini/*",
            "--ttl",
            "1h",
        ]))
        .unwrap();
        assert_eq!(r.scopes, ["secrets:read:production/gemini/*"]);
        assert_eq!(r.ttl, "1h");
        assert!(r.ip_allowlist.is_empty() && r.justification.is_none());

        let r = request(&args(&[
            "tokens",
            "issue",
            "--scopes",
            "secrets:read:production/*",
            "--ttl",
            "1h",
            "--ip-allowlist",
            "10.0.1.100/32,10.0.1.101/32, 172.16.0.0/12",
        ]))
        .unwrap();
        assert_eq!(r.ip_allowlist, ["10.0.1.100/32", "10.0.1.101/32", "172.16.0.0/12"]);
    }

    #[test]
    fn scopes_split_and_repeat() {
        let r = request(&args(&[
            "tokens",
            "issue",
            "--scopes",
            "secrets:read:a/*, secrets:list:a/*",
            "--scopes",
            "tokens:manage",
            "--justification",
            "incident 42",
        ]))
        .unwrap();
        assert_eq!(r.scopes, ["secrets:read:a/*", "secrets:list:a/*", "tokens:manage"]);
        assert_eq!(r.ttl, "1h", "default TTL");
        assert_eq!(r.justification.as_deref(), Some("incident 42"));
    }

    #[test]
    fn ttl_is_sent_as_written_for_the_server_to_judge() {
        assert_eq!(
            request(&args(&["tokens", "issue", "--scopes", "x", "--ttl", "25h"])).unwrap().ttl,
            "25h"
        );
    }

    #[test]
    fn usage_errors() {
        assert!(parse(&["tokens", "issue", "--ttl", "1h"]).is_err(), "--scopes is required");
        assert!(parse(&["tokens", "issue", "--scopes", "x", "--silent", "--json"]).is_err());
        let e = request(&args(&["tokens", "issue", "--scopes", ","])).unwrap_err();
        assert_eq!(crate::exit_code(&e), 1);
    }

    #[test]
    fn render_leads_with_the_token() {
        let r = IssueTokenResponse {
            token: "asst_abc".into(),
            info: crate::commands::tokens_lookup::tests::info(),
        };
        let out = render(&r);
        assert!(out.starts_with("token         asst_abc\naccessor      0b9e6c1e-"), "{out}");
        assert!(out.contains("expires_at    2026-11-28T11:00:00.000Z (59m59s left)\n"), "{out}");
        assert!(out.ends_with("`ass tokens revoke 0b9e6c1e-3d7f-4c61-9f0e-1a2b3c4d5e6f`.\n"));
    }
}
