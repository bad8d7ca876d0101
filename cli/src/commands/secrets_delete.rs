//! `ass secrets delete`: soft-deletes the latest version, or destroys one version for good.

use ass_client::DeleteResponse;
use clap::Args;

use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
Without --version, soft-delete the latest version of the secret at PATH: reads of it fail
until a new version is set, older versions stay readable by number.

With --version N, destroy version N: its ciphertext is removed and it can never be read
again. Other versions are untouched.

Example:
  ass secrets delete staging/gemini/GEMINI_API_KEY
  ass secrets delete production/stripe/STRIPE_SECRET_KEY --version 3";

/// Soft-delete a secret's latest version, or destroy one version
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct DeleteArgs {
    /// Secret path, e.g. production/gemini/GEMINI_API_KEY
    pub path: String,

    /// Destroy this version for good instead of soft-deleting the latest
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub version: Option<u64>,

    /// Print the answer as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass secrets delete`.
pub async fn exec(ctx: &Ctx, args: &DeleteArgs) -> anyhow::Result<()> {
    let d = ctx.scoped(scope(args)).delete_secret(&args.path, args.version).await?;
    if args.json {
        output::print_json(&d)
    } else {
        output::print(&render(&d))
    }
}

/// The least scope this delete needs (asked for when only an agent key is given).
pub fn scope(args: &DeleteArgs) -> String {
    ass_client::scope::secret_delete(&args.path)
}

/// `Deleted PATH version N (index I)` or `Destroyed …`.
pub fn render(d: &DeleteResponse) -> String {
    let verb = if d.destroyed { "Destroyed" } else { "Deleted" };
    format!("{verb} {} version {} (index {})\n", d.path, d.version, d.index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::{fixture, parse};
    use crate::commands::{Command, SecretsCommand};

    #[test]
    fn version_is_optional() {
        match parse(&["secrets", "delete", "a/b", "--version", "3"]).unwrap().command {
            Command::Secrets(SecretsCommand::Delete(a)) => {
                assert_eq!((a.path.as_str(), a.version), ("a/b", Some(3)))
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["secrets", "delete"]).is_err());
    }

    #[test]
    fn agent_key_token_holds_only_delete_on_the_path() {
        match parse(&["secrets", "delete", "staging/a/B", "--version", "3"]).unwrap().command {
            Command::Secrets(SecretsCommand::Delete(a)) => {
                assert_eq!(scope(&a), "secrets:delete:staging/a/B")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn render_soft_and_hard() {
        let mut d: DeleteResponse = fixture(serde_json::json!({
            "path": "a/b", "version": 2, "destroyed": false, "index": 9
        }));
        assert_eq!(render(&d), "Deleted a/b version 2 (index 9)\n");
        d.destroyed = true;
        assert_eq!(render(&d), "Destroyed a/b version 2 (index 9)\n");
    }
}
