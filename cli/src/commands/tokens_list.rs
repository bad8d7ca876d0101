//! `ass tokens list`: live tokens (every token with --all), never the tokens themselves.

use ass_client::scope::TOKENS_MANAGE;
use ass_client::ListTokensResponse;
use clap::Args;

use super::Ctx;
use crate::output::{self, or_dash};

const LONG_ABOUT: &str = "\
List live tokens: accessor, agent, time left, scopes. --all adds expired and revoked ones.
Tokens themselves are never listed; revoke one with `ass tokens revoke ACCESSOR`.
Needs the tokens:manage scope.

Example:
  ass tokens list
  ass tokens list --all --json | jq -r '.tokens[] | select(.break_glass) | .accessor'";

/// List tokens (never the tokens themselves)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct ListArgs {
    /// Include expired and revoked tokens
    #[arg(long)]
    pub all: bool,

    /// Print the answer as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass tokens list`.
pub async fn exec(ctx: &Ctx, args: &ListArgs) -> anyhow::Result<()> {
    let resp = ctx.scoped(TOKENS_MANAGE).list_tokens(args.all).await?;
    if args.json {
        output::print_json(&resp)
    } else {
        output::print(&render(&resp, args.all))
    }
}

/// The tokens table, or a sentence when there are none.
pub fn render(resp: &ListTokensResponse, all: bool) -> String {
    if resp.tokens.is_empty() {
        return if all { "No tokens\n" } else { "No live tokens\n" }.to_owned();
    }
    let rows: Vec<Vec<String>> = resp
        .tokens
        .iter()
        .map(|t| {
            let state = if let Some(why) = &t.revoked_reason {
                format!("revoked ({why})")
            } else if t.revoked_at.is_some() {
                "revoked".to_owned()
            } else if t.state == "expired" || t.ttl_remaining_secs == 0 {
                "expired".to_owned()
            } else {
                ass_client::format_ttl(std::time::Duration::from_secs(t.ttl_remaining_secs))
            };
            let bg = if t.break_glass { "yes" } else { "" };
            vec![
                t.accessor.clone(),
                or_dash(t.agent_name.as_deref()),
                state,
                bg.to_owned(),
                t.scopes.join(","),
            ]
        })
        .collect();
    output::table(&["ACCESSOR", "AGENT", "LEFT", "BREAK_GLASS", "SCOPES"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tokens_lookup::tests::info;

    #[test]
    fn table_has_accessors_not_tokens() {
        let mut revoked = info();
        revoked.revoked_at = Some("t".into());
        revoked.agent_name = None;
        let out = render(&ListTokensResponse { tokens: vec![info(), revoked] }, true);
        assert_eq!(
            out,
            "ACCESSOR                              AGENT              LEFT     BREAK_GLASS  SCOPES\n\
             0b9e6c1e-3d7f-4c61-9f0e-1a2b3c4d5e6f  inference-service  59m59s                secrets:read:production/gemini/*\n\
             0b9e6c1e-3d7f-4c61-9f0e-1a2b3c4d5e6f  -                  revoked               secrets:read:production/gemini/*\n"
        );
    }

    #[test]
    fn empty_says_so() {
        let r = ListTokensResponse { tokens: vec![] };
        assert_eq!(render(&r, false), "No live tokens\n");
        assert_eq!(render(&r, true), "No tokens\n");
    }
}
