//! `ass tokens revoke`: one token stops working, on every node, at once.

use ass_client::scope::TOKENS_MANAGE;
use clap::Args;

use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
Revoke a token by its accessor (from `ass tokens issue` or `ass tokens list`). It stops
working at once on every node, and so does every token issued with it. Needs the
tokens:manage scope, except for your own token.

Example:
  ass tokens revoke 0b9e6c1e-3d7f-4c61-9f0e-1a2b3c4d5e6f";

/// Revoke a token by its accessor
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct RevokeArgs {
    /// The token's accessor
    pub accessor: String,

    /// Print the revoked token's description as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass tokens revoke`.
pub async fn exec(ctx: &Ctx, args: &RevokeArgs) -> anyhow::Result<()> {
    let info = ctx.scoped(TOKENS_MANAGE).revoke_token(&args.accessor).await?;
    if args.json {
        output::print_json(&info)
    } else {
        output::print(&format!("Revoked token {}\n", info.accessor))
    }
}

#[cfg(test)]
mod tests {
    use crate::commands::tests::parse;

    #[test]
    fn accessor_is_required() {
        assert!(parse(&["tokens", "revoke"]).is_err());
        assert!(parse(&["tokens", "revoke", "abc"]).is_ok());
    }
}
