//! `ass operator unseal`: hands one unseal key share to one node, or to every node given.
//!
//! The share is read with a hidden prompt (or from a file), never from the command line, so
//! it stays out of shell history and `ps`.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ass_client::{SealStatus, UnsealRequest};
use clap::Args;

use super::{report_nodes, Ctx, NodeResult};

const LONG_ABOUT: &str = "\
Hand one unseal key share to a node. A node unseals once it has THRESHOLD shares; each
operator runs this with their own share. Unsealing is per node: with --all the share goes to
every address in ASS_ADDR / --addr, otherwise to the first one.

The share is read with a hidden prompt, or from --key-file (one share, surrounding whitespace
ignored; `-` reads standard input). --reset forgets the shares a node has received so far.

Prints one line per node: `node N: unsealed` or `node N: sealed, progress 2 of 3`.
Exits 2 if any node could not take the share.

Example:
  ASS_ADDR=https://n1:8200,https://n2:8200,https://n3:8200 ass operator unseal --all";

/// Hand one unseal key share to a node (or to every node with --all)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct UnsealArgs {
    /// Read the share from this file instead of prompting (`-`: standard input)
    #[arg(long, value_name = "FILE", conflicts_with = "reset")]
    pub key_file: Option<PathBuf>,

    /// Send to every address given, not just the first
    #[arg(long)]
    pub all: bool,

    /// Forget the shares handed in so far instead of sending one
    #[arg(long)]
    pub reset: bool,

    /// Print the node status as JSON (an array of per-node results with --all)
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass operator unseal`.
pub async fn exec(ctx: &Ctx, args: &UnsealArgs) -> anyhow::Result<()> {
    let req = if args.reset {
        UnsealRequest { key: None, reset: true }
    } else {
        UnsealRequest { key: Some(read_share(args.key_file.as_deref())?), reset: false }
    };
    let results =
        futures::future::join_all(ctx.nodes(args.all).into_iter().map(|(addr, client)| {
            let req = &req;
            async move { NodeResult::new(addr, client.sys_unseal(req).await) }
        }))
        .await;
    report_nodes(results, args.all, args.json, describe)
}

/// `node N: unsealed` / `node N: sealed, progress P of T`.
pub fn describe(s: &SealStatus) -> String {
    if !s.initialized {
        format!("node {}: not initialized", s.node_id)
    } else if s.sealed {
        format!("node {}: sealed, progress {} of {}", s.node_id, s.progress, s.threshold)
    } else {
        format!("node {}: unsealed", s.node_id)
    }
}

/// Reads one share from `file` (`-`: stdin) or a hidden prompt, trimmed; empty is an error.
pub fn read_share(file: Option<&Path>) -> anyhow::Result<String> {
    read_share_prompted(file, "Unseal key share (input hidden): ")
}

/// [`read_share`] with another prompt for the terminal.
pub fn read_share_prompted(file: Option<&Path>, prompt: &str) -> anyhow::Result<String> {
    let raw = match file {
        Some(p) if p == Path::new("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read the share from standard input")?;
            s
        }
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("cannot read key file {}", p.display()))?,
        None => rpassword::prompt_password(prompt).context(
            "cannot read the share from the terminal (use --key-file FILE without a terminal)",
        )?,
    };
    clean_share(&raw)
}

/// Trims whitespace around a share; an empty share is refused.
pub fn clean_share(raw: &str) -> anyhow::Result<String> {
    let share = raw.trim();
    if share.is_empty() {
        anyhow::bail!("empty unseal key share");
    }
    Ok(share.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::parse;
    use crate::commands::{Command, OperatorCommand};

    fn args(argv: &[&str]) -> UnsealArgs {
        match parse(argv).unwrap().command {
            Command::Operator(OperatorCommand::Unseal(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    fn status(sealed: bool, progress: u8) -> SealStatus {
        crate::commands::tests::seal_status(2, sealed, progress)
    }

    #[test]
    fn flags_parse() {
        let a = args(&["operator", "unseal", "--key-file", "k.txt", "--all", "--json"]);
        assert_eq!(a.key_file.as_deref(), Some(Path::new("k.txt")));
        assert!(a.all && a.json && !a.reset);
        assert!(args(&["operator", "unseal", "--reset"]).reset);
    }

    #[test]
    fn reset_with_a_key_file_is_a_usage_error() {
        assert!(parse(&["operator", "unseal", "--reset", "--key-file", "k"]).is_err());
    }

    #[test]
    fn describe_sealed_and_unsealed() {
        assert_eq!(describe(&status(true, 2)), "node 2: sealed, progress 2 of 3");
        assert_eq!(describe(&status(false, 0)), "node 2: unsealed");
        let mut s = status(true, 0);
        s.initialized = false;
        assert_eq!(describe(&s), "node 2: not initialized");
    }

    #[test]
    fn share_from_a_file_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("share");
        std::fs::write(&p, "  c2hhcmU=\r\n\n").unwrap();
        assert_eq!(read_share(Some(&p)).unwrap(), "c2hhcmU=");
    }

    #[test]
    fn empty_or_missing_share_file_is_a_local_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("share");
        std::fs::write(&p, " \n").unwrap();
        let e = read_share(Some(&p)).unwrap_err();
        assert_eq!(crate::exit_code(&e), 1);
        let e = read_share(Some(&dir.path().join("missing"))).unwrap_err();
        assert_eq!(crate::exit_code(&e), 1);
    }
}
