//! `ass tokens refresh`: a new token like the one in ASS_TOKEN, for another TTL.

use clap::Args;

use super::Ctx;

const LONG_ABOUT: &str = "\
Exchange the token in ASS_TOKEN for a new one with the same scopes, IP allowlist and TTL
length, starting now. Long-running services refresh before expiry instead of asking for long
TTLs (the Rust SDK does it by itself). The old token keeps working until it expires; revoke
it with `ass tokens revoke ACCESSOR` if it should stop sooner.

Prints the new token (shown this once) and its description; --silent only the token.

Example:
  ASS_TOKEN=$(ass tokens refresh --silent) && export ASS_TOKEN";

/// Get a new token like the current one, for another TTL
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct RefreshArgs {
    /// Print only the new token followed by a newline
    #[arg(long, short = 's', conflicts_with = "json")]
    pub silent: bool,

    /// Print the answer (token, accessor, scopes, expiry…) as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass tokens refresh`.
pub async fn exec(ctx: &Ctx, args: &RefreshArgs) -> anyhow::Result<()> {
    ctx.require_token("ass tokens refresh")?;
    let resp = ctx.client.refresh_token().await?;
    super::tokens_issue::print_issued(&resp, args.json, args.silent)
}

#[cfg(test)]
mod tests {
    use crate::commands::tests::parse;

    #[test]
    fn flags_parse() {
        assert!(parse(&["tokens", "refresh", "--silent"]).is_ok());
        assert!(parse(&["tokens", "refresh", "--json"]).is_ok());
        assert!(parse(&["tokens", "refresh", "--json", "-s"]).is_err());
    }
}
