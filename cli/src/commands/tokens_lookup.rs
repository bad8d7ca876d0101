//! `ass tokens lookup`: one token's description (your own without an accessor), never the
//! token itself.

use ass_client::scope::TOKENS_MANAGE;
use ass_client::TokenInfo;
use clap::Args;

use super::{expiry, joined, Ctx};
use crate::output::{self, or_dash, yes_no};

const LONG_ABOUT: &str = "\
Describe a token: accessor, agent, scopes, IP allowlist, when it was issued and expires,
whether it is break-glass or revoked. The token itself is never shown again.

Without ACCESSOR, describes the token in ASS_TOKEN (lookup-self); with it, any token (needs
the tokens:manage scope, except for your own). Accessors come from `ass tokens issue` and
`ass tokens list`.

Example:
  ass tokens lookup
  ass tokens lookup 0b9e6c1e-3d7f-4c61-9f0e-1a2b3c4d5e6f --json";

/// Describe a token (your own without ACCESSOR)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct LookupArgs {
    /// The token's accessor (its public id); omit it for the token in ASS_TOKEN
    pub accessor: Option<String>,

    /// Print the description as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass tokens lookup`.
pub async fn exec(ctx: &Ctx, args: &LookupArgs) -> anyhow::Result<()> {
    let info = match &args.accessor {
        Some(accessor) => ctx.scoped(TOKENS_MANAGE).get_token(accessor).await?,
        None => {
            ctx.require_token("ass tokens lookup")?;
            ctx.client.lookup_self().await?
        }
    };
    if args.json {
        output::print_json(&info)
    } else {
        output::print(&render(&info))
    }
}

/// The key/value pairs describing a token (shared with issue and refresh).
pub fn pairs(t: &TokenInfo) -> Vec<(&'static str, String)> {
    let mut pairs = vec![
        ("accessor", t.accessor.clone()),
        ("agent", or_dash(t.agent_name.as_deref().or(t.agent_id.as_deref()))),
        ("scopes", joined(&t.scopes, "-")),
        ("ip_allowlist", joined(&t.ip_allowlist, unrestricted(t))),
        ("issued_at", t.issued_at.clone()),
        ("expires_at", expiry(&t.expires_at, t.ttl_remaining_secs)),
        ("break_glass", yes_no(t.break_glass)),
    ];
    if let Some(j) = &t.justification {
        pairs.push(("justification", j.clone()));
    }
    pairs.push(("state", t.state.clone()));
    if let Some(r) = &t.revoked_at {
        pairs.push(("revoked_at", r.clone()));
    }
    if let Some(why) = &t.revoked_reason {
        pairs.push(("revoked_by", why.clone()));
    }
    pairs
}

/// What an empty token allowlist means: the agent's allowlist still applies.
fn unrestricted(t: &TokenInfo) -> &'static str {
    if t.agent_id.is_some() {
        "the agent's"
    } else {
        "any address"
    }
}

/// The key/value block.
pub fn render(t: &TokenInfo) -> String {
    output::kv_block(&pairs(t))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::commands::tests::{fixture, parse};
    use crate::commands::{Command, TokensCommand};

    /// A token's description as the server sends it.
    pub(crate) fn info() -> TokenInfo {
        fixture(serde_json::json!({
            "accessor": "0b9e6c1e-3d7f-4c61-9f0e-1a2b3c4d5e6f", "agent_name": "inference-service",
            "agent_id": "5f0c3a52-0d5e-4a0e-9a53-0f7c1b2d3e4f",
            "scopes": ["secrets:read:production/gemini/*"], "ip_allowlist": ["10.0.1.100/32"],
            "issued_at": "2026-11-28T10:00:00.000Z", "expires_at": "2026-11-28T11:00:00.000Z",
            "ttl_remaining_secs": 3599
        }))
    }

    #[test]
    fn accessor_is_optional() {
        match parse(&["tokens", "lookup"]).unwrap().command {
            Command::Tokens(TokensCommand::Lookup(a)) => assert_eq!(a.accessor, None),
            other => panic!("{other:?}"),
        }
        match parse(&["tokens", "lookup", "abc", "--json"]).unwrap().command {
            Command::Tokens(TokensCommand::Lookup(a)) => {
                assert_eq!(a.accessor.as_deref(), Some("abc"));
                assert!(a.json);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn block_describes_without_the_token() {
        assert_eq!(
            render(&info()),
            "accessor      0b9e6c1e-3d7f-4c61-9f0e-1a2b3c4d5e6f\n\
             agent         inference-service\n\
             scopes        secrets:read:production/gemini/*\n\
             ip_allowlist  10.0.1.100/32\n\
             issued_at     2026-11-28T10:00:00.000Z\n\
             expires_at    2026-11-28T11:00:00.000Z (59m59s left)\n\
             break_glass   no\n\
             state         live\n"
        );
    }

    #[test]
    fn break_glass_revoked_and_expired_show() {
        let mut t = info();
        t.break_glass = true;
        t.justification = Some("incident 42".into());
        t.revoked_at = Some("2026-11-28T10:30:00.000Z".into());
        t.state = "revoked".into();
        t.revoked_reason = Some("agent revoked".into());
        t.ttl_remaining_secs = 0;
        t.ip_allowlist.clear();
        let out = render(&t);
        assert!(out.contains("ip_allowlist   the agent's\n"), "{out}");
        assert!(out.contains("break_glass    yes\n"), "{out}");
        assert!(out.contains("justification  incident 42\n"), "{out}");
        assert!(out.contains("revoked_at     2026-11-28T10:30:00.000Z\n"), "{out}");
        assert!(out.contains("(expired)"), "{out}");
        assert!(out.contains("state          revoked\n"), "{out}");
        assert!(out.contains("revoked_by     agent revoked\n"), "{out}");
    }
}
