//! `ass env`: reads every named secret, then prints them all as variable assignments for a
//! job step (a .env file, `$GITHUB_ENV`, a POSIX shell), or nothing if any read fails.

use clap::Args;

use super::env_fetch::{self, fetch_all, Format};
use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
Read secrets and print them as variable assignments, all or nothing: when any read fails or
needs an approval, nothing is printed and the exit code is `ass secrets get`'s (1 local
error, 2 server error, 3 approval required, 4 approval denied; see `ass run --help`).

Each PATH becomes a variable named after its last segment
(production/gemini/GEMINI_API_KEY → GEMINI_API_KEY); NAME=PATH names it explicitly (needed when
the segment is not a variable name, [A-Za-z_][A-Za-z0-9_]*).

Formats:
  dotenv  NAME='value' (single quotes: read literally); a value holding ' or a line break is
          written \"…\" with \\\\, \\\", \\$, \\n, \\r and \\t escaped
  github  NAME=value, for `>> \"$GITHUB_ENV\"`; a multi-line value is written in GitHub's
          NAME<<DELIMITER form with a random delimiter (ghadelimiter_<uuid>) not in the value
  shell   export NAME='value' (a ' inside becomes '\\''), for eval \"$(ass env …)\"

Prefer `ass run` where you can: the values then never leave the command's environment. In
GitHub Actions, `ass env --format github … >> \"$GITHUB_ENV\"` makes them variables of the
later steps; the step fails (and writes nothing) if any secret can't be read.

Examples:
  ass env --format github production/gemini/GEMINI_API_KEY >> \"$GITHUB_ENV\"
  eval \"$(ass env --format shell STRIPE=production/stripe/STRIPE_SECRET_KEY)\"
  ass env --format dotenv production/gemini/GEMINI_API_KEY > .env";

/// Print secrets as variable assignments (dotenv, GitHub, shell)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct EnvArgs {
    /// Secrets to print: PATH (named after its last segment) or NAME=PATH
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,

    /// Output form
    #[arg(long, value_enum, default_value = "dotenv")]
    pub format: Format,

    /// Why the job reads them: recorded on any approval request a read opens
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

/// Runs `ass env`.
pub async fn exec(ctx: &Ctx, args: &EnvArgs) -> anyhow::Result<()> {
    let specs = env_fetch::parse_specs(&args.paths)?;
    let values = fetch_all(ctx, &specs, args.reason.as_deref(), "ass env").await?;
    output::print(&env_fetch::render(args.format, &values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::parse;
    use crate::commands::Command;

    fn args(argv: &[&str]) -> EnvArgs {
        match parse(argv).unwrap().command {
            Command::Env(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn formats_parse_and_dotenv_is_the_default() {
        assert_eq!(args(&["env", "a/B"]).format, Format::Dotenv);
        assert_eq!(args(&["env", "--format", "github", "a/B", "C=a/c"]).format, Format::Github);
        assert_eq!(args(&["env", "a/B", "--format", "shell"]).paths, ["a/B"]);
        assert!(parse(&["env", "--format", "yaml", "a/B"]).is_err());
        assert!(parse(&["env"]).is_err(), "at least one path");
    }
}
