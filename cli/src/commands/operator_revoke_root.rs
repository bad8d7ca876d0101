//! `ass operator revoke-root`: the root token stops working; only unseal key shares make a
//! new one (`ass operator generate-root`).

use ass_client::scope::SYS_OPERATOR;
use ass_client::RevokeRootResponse;
use clap::Args;

use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
Revoke the root token, cluster-wide. Do it once agents, tokens and policy are set up: day to
day, work with scoped tokens. A new root token can only be made from THRESHOLD unseal key
shares with `ass operator generate-root`. Needs the sys:operator scope (the root token has it).

Example:
  ass operator revoke-root";

/// Revoke the root token (generate-root makes a new one)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct RevokeRootArgs {
    /// Print the answer (revoked, index) as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass operator revoke-root`.
pub async fn exec(ctx: &Ctx, args: &RevokeRootArgs) -> anyhow::Result<()> {
    let r = ctx.scoped(SYS_OPERATOR).revoke_root().await?;
    if args.json {
        output::print_json(&r)
    } else {
        output::print(&render(&r))
    }
}

/// One sentence and what to do next.
pub fn render(r: &RevokeRootResponse) -> String {
    format!(
        "Root token revoked (index {}). Make a new one with `ass operator generate-root` and\n\
         THRESHOLD unseal key shares.\n",
        r.index
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentence_has_the_index() {
        let out = render(&RevokeRootResponse { revoked: true, index: 42 });
        assert!(out.starts_with("Root token revoked (index 42)."), "{out}");
    }
}
