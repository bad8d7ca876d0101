//! `ass run`: reads every named secret first, then runs a command with them in its
//! environment, and only there (on Unix the `ass` process becomes the command: `exec`).
//!
//! ```text
//!  --env NAME=PATH … ──read all (one token)──ok──> exec CMD ARGS with NAME=value …
//!                                       └ any failure ──> say each, exit 1-4, run nothing
//! ```

use clap::Args;

use super::env_fetch::{self, fetch_all};
use super::Ctx;

const LONG_ABOUT: &str = "\
Read secrets, then run CMD with them as environment variables: the CI form that cannot fail
silently.

Every --env NAME=PATH is read first (the latest version, with one token holding
secrets:read:PATH for each, bought with ASS_AGENT_KEY when no ASS_TOKEN is set). If any read
fails, or a secret needs an approval nobody gave yet, each failure is said on stderr (an
approval request as `ass secrets get` says it, its id alone on the last line), nothing is
run, and `ass run` exits with the code `ass secrets get` would: 1 local error, 2 server error,
3 approval required (requests pending), 4 approval denied. A local or server error wins over
a denial, a denial over a pending request.

When every read succeeded, CMD runs with the current environment plus NAME=value for each
--env; the values are never printed nor written anywhere else. On Unix `ass` is replaced by
CMD (exec): its exit code is CMD's own. If CMD cannot be found, `ass run` exits 127; if it
cannot be run, 126 (as env(1) does).

A bare PATH (--env production/gemini/GEMINI_API_KEY) is named after its last segment
(GEMINI_API_KEY); a segment that is not a variable name ([A-Za-z_][A-Za-z0-9_]*, e.g.
stripe-key) must be named: --env STRIPE_KEY=production/stripe/stripe-key.

Why not `export X=$(ass secrets get …)`: bash's `export` succeeds whatever the command in
$(…) did, so a read that needs approval (exit 3) leaves X empty and the job goes on.

Example:
  ASS_AGENT_KEY=ass_… ass run \\
      --env GEMINI_API_KEY=production/gemini/GEMINI_API_KEY \\
      --env STRIPE_SECRET_KEY=production/stripe/STRIPE_SECRET_KEY \\
      -- ./deploy.sh --prod";

/// Read secrets, then run a command with them in its environment
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct RunArgs {
    /// A variable to set: NAME=PATH (or PATH, named after its last segment); repeat it
    #[arg(long = "env", short = 'e', value_name = "NAME=PATH", required = true)]
    pub env: Vec<String>,

    /// Why the job reads them: recorded on any approval request a read opens
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,

    /// The command and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}

/// Runs `ass run`.
pub async fn exec(ctx: &Ctx, args: &RunArgs) -> anyhow::Result<()> {
    let specs = env_fetch::parse_specs(&args.env)?;
    let values = fetch_all(ctx, &specs, args.reason.as_deref(), "ass run").await?;
    let (program, rest) = args.command.split_first().expect("clap requires CMD");
    let mut cmd = std::process::Command::new(program);
    cmd.args(rest).envs(values);
    Err(launch(cmd, &program.to_string_lossy()))
}

/// Replaces this process with `cmd`; returns only if that failed.
#[cfg(unix)]
fn launch(mut cmd: std::process::Command, name: &str) -> anyhow::Error {
    use std::os::unix::process::CommandExt;
    let e = cmd.exec();
    cannot_run(name, &e)
}

/// Runs `cmd` and exits with its code (no exec outside Unix).
#[cfg(not(unix))]
fn launch(mut cmd: std::process::Command, name: &str) -> anyhow::Error {
    match cmd.status() {
        Ok(s) => std::process::exit(s.code().unwrap_or(1)),
        Err(e) => cannot_run(name, &e),
    }
}

/// 127 when CMD is not found, else 126, as env(1).
fn cannot_run(name: &str, e: &std::io::Error) -> anyhow::Error {
    let exit = if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
    crate::Failed {
        exit,
        code: "cannot_run",
        message: format!("ass run: cannot run `{name}`: {e}"),
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::parse;
    use crate::commands::Command;

    fn args(argv: &[&str]) -> RunArgs {
        match parse(argv).unwrap().command {
            Command::Run(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_ci_form_parses() {
        let a = args(&["run", "--env", "A=x/y", "-e", "x/B", "--", "sh", "-c", "echo $A"]);
        assert_eq!(a.env, ["A=x/y", "x/B"]);
        assert_eq!(a.command, ["sh", "-c", "echo $A"]);
    }

    #[test]
    fn a_command_and_an_env_are_required() {
        assert!(parse(&["run", "--env", "A=x/y"]).is_err(), "no command");
        assert!(parse(&["run", "--", "true"]).is_err(), "no --env");
    }

    #[test]
    fn a_missing_command_is_127() {
        let e = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(crate::exit_code(&cannot_run("nope", &e)), 127);
        let e = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(crate::exit_code(&cannot_run("x", &e)), 126);
    }
}
