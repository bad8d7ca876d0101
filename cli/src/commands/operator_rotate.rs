//! `ass operator rotate`: adds a data-key term; new writes use it, older versions keep
//! decrypting with theirs.

use ass_client::scope::SYS_OPERATOR;
use ass_client::RotateResponse;
use clap::Args;

use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
Rotate the data key: add a new key term to the cluster's keyring. Every write from now on is
encrypted with the new term; older versions keep decrypting with the term they were written
with (the KEY_TERM column of `ass secrets versions`). Nothing is re-encrypted and no node
needs a restart: every node picks up the new keyring by itself. Needs the sys:operator scope.

Example:
  ass operator rotate
  ass secrets versions production/gemini/GEMINI_API_KEY   # KEY_TERM of each version";

/// Rotate the data key: new writes use a new key term
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct RotateArgs {
    /// Print the answer (term, index) as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass operator rotate`.
pub async fn exec(ctx: &Ctx, args: &RotateArgs) -> anyhow::Result<()> {
    let r = ctx.scoped(SYS_OPERATOR).rotate().await?;
    if args.json {
        output::print_json(&r)
    } else {
        output::print(&render(&r))
    }
}

/// One sentence: the new term, and that old versions still decrypt.
pub fn render(r: &RotateResponse) -> String {
    format!(
        "Rotated: new writes use key term {}; older versions still decrypt with their terms \
         (index {}).\n",
        r.term, r.index
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::parse;
    use crate::commands::{Command, OperatorCommand};

    #[test]
    fn sentence_has_the_term_and_index() {
        assert_eq!(
            render(&RotateResponse { term: 2, index: 41 }),
            "Rotated: new writes use key term 2; older versions still decrypt with their terms \
             (index 41).\n"
        );
    }

    #[test]
    fn flags_parse() {
        match parse(&["operator", "rotate", "--json"]).unwrap().command {
            Command::Operator(OperatorCommand::Rotate(a)) => assert!(a.json),
            other => panic!("{other:?}"),
        }
        assert!(parse(&["operator", "rotate", "extra"]).is_err());
    }
}
