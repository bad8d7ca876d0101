//! `ass policy tokens show`: the TTL rules every token is issued under.

use ass_client::scope::POLICY_MANAGE;
use ass_client::TokenPolicy;
use clap::Args;

use super::Ctx;
use crate::output::{self, yes_no};

const LONG_ABOUT: &str = "\
Show the token policy: the longest TTL a token may have (max_ttl, 24h by default), whether a
justification may buy a longer one (break_glass) and up to how long (break_glass_max_ttl).

Example:
  ass policy tokens show
  ass policy tokens show --json > policy.json";

/// Show the token policy
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct ShowArgs {
    /// Print the policy as JSON (the form `ass policy tokens set --file` reads)
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass policy tokens show`.
pub async fn exec(ctx: &Ctx, args: &ShowArgs) -> anyhow::Result<()> {
    let policy = ctx.scoped(POLICY_MANAGE).get_token_policy().await?;
    if args.json {
        output::print_json(&policy)
    } else {
        output::print(&render(&policy))
    }
}

/// The key/value block.
pub fn render(p: &TokenPolicy) -> String {
    output::kv_block(&[
        ("max_ttl", p.max_ttl.clone()),
        ("break_glass", yes_no(p.break_glass)),
        ("break_glass_max_ttl", p.break_glass_max_ttl.clone()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_of_the_default_policy() {
        assert_eq!(
            render(&TokenPolicy::default()),
            "max_ttl              24h\nbreak_glass          no\nbreak_glass_max_ttl  72h\n"
        );
    }
}
