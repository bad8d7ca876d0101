//! `ass operator generate-root`: makes a new root token from unseal key shares, one share per
//! run, on one node (break-glass after the root token was revoked or lost).

use std::path::PathBuf;

use ass_client::{GenerateRootRequest, GenerateRootResponse};
use clap::Args;

use super::operator_unseal::read_share;
use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
Make a new root token from THRESHOLD unseal key shares, one share per run. Each key holder
runs this against the SAME node (progress is kept per node: the first address of ASS_ADDR /
--addr); the run that hands in the last share prints the new root token ONCE. It replaces the
previous root token, which stops working.

The share is read with a hidden prompt, or from --key-file (`-`: standard input). --reset
forgets the shares handed in so far. Needs no token: the shares are the credential.

Example:
  ass operator generate-root --addr https://n1:8200
  ass operator generate-root --addr https://n1:8200 --key-file share2.txt";

/// Make a new root token from unseal key shares (one share per run)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct GenerateRootArgs {
    /// Read the share from this file instead of prompting (`-`: standard input)
    #[arg(long, value_name = "FILE", conflicts_with = "reset")]
    pub key_file: Option<PathBuf>,

    /// Forget the shares handed in so far instead of sending one
    #[arg(long)]
    pub reset: bool,

    /// Print the answer (progress, threshold, root_token once made) as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass operator generate-root`.
pub async fn exec(ctx: &Ctx, args: &GenerateRootArgs) -> anyhow::Result<()> {
    let req = if args.reset {
        GenerateRootRequest { key: None, reset: true }
    } else {
        GenerateRootRequest { key: Some(read_share(args.key_file.as_deref())?), reset: false }
    };
    let (addr, client) = ctx.nodes(false).into_iter().next().expect("one address at least");
    let resp = client.generate_root(&req).await?;
    if args.json {
        output::print_json(&resp)
    } else {
        output::print(&render(&resp, &addr))
    }
}

/// Progress on `addr`, or the new root token with a loud note.
pub fn render(r: &GenerateRootResponse, addr: &str) -> String {
    match &r.root_token {
        Some(token) => format!(
            "New Root Token: {token}\n\
             \n\
             !!! STORE IT NOW. It is shown this ONCE and the cluster keeps only its hash. !!!\n\
             \n\
             The previous root token no longer works. Use this one to repair agents and policy,\n\
             then keep it offline or revoke it with `ass operator revoke-root`.\n"
        ),
        None if r.progress == 0 => {
            format!("{addr}: no shares handed in (0 of {})\n", r.threshold)
        }
        None => format!(
            "{addr}: progress {} of {}; the next key holder runs this against the same node\n",
            r.progress, r.threshold
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::parse;
    use crate::commands::{Command, OperatorCommand};

    fn resp(progress: u8, token: Option<&str>) -> GenerateRootResponse {
        GenerateRootResponse { progress, threshold: 3, root_token: token.map(str::to_owned) }
    }

    #[test]
    fn flags_parse() {
        match parse(&["operator", "generate-root", "--key-file", "k"]).unwrap().command {
            Command::Operator(OperatorCommand::GenerateRoot(a)) => {
                assert!(a.key_file.is_some() && !a.reset)
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["operator", "generate-root", "--reset", "--key-file", "k"]).is_err());
    }

    #[test]
    fn progress_then_token() {
        assert_eq!(
            render(&resp(2, None), "http://n1:8201"),
            "http://n1:8201: progress 2 of 3; the next key holder runs this against the same node\n"
        );
        assert_eq!(
            render(&resp(0, None), "http://n1:8201"),
            "http://n1:8201: no shares handed in (0 of 3)\n"
        );
        let out = render(&resp(0, Some("assr_new")), "http://n1:8201");
        assert!(out.starts_with("New Root Token: assr_new\n\n!!! STORE IT NOW."), "{out}");
    }
}
