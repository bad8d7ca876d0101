//! `ass operator snapshot restore FILE`: restores a backup into a new cluster (with the
//! backup's unseal shares) or into the cluster it came from.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ass_client::scope::SYS_OPERATOR;
use ass_client::{SnapshotRestoreRequest, SnapshotRestoreResponse};
use base64::Engine;
use clap::Args;

use super::operator_unseal::read_share_prompted;
use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
Restore a backup made by `ass operator snapshot save`. The restore goes through Raft, so every
node gets it; the cluster's own membership and addresses are kept.

Into a NEW cluster (disaster recovery): start fresh nodes with empty data dirs, do NOT run
`init`, then run this with the unseal key shares that were current when the backup was made:
a threshold of them, each from --key-file (repeat the option) or, without --key-file, from
hidden prompts until an empty entry. No token is needed (the cluster has none yet; the shares
are the credential). The node that takes the call is unsealed by it; unseal the others with
`ass operator unseal --all` and the same shares. The old root token, agent keys and tokens
work again (tokens until they expire).

Into the SAME cluster (roll back): needs the sys:operator scope on an unsealed node; the
cluster's root key opens the file, no shares are asked for. Everything written after the
backup is lost, and the unseal shares become those current at backup time (if you rekeyed
since, the old shares unseal again).

A damaged, truncated or foreign file, or wrong shares, is refused (snapshot_corrupt,
snapshot_truncated, snapshot_invalid, snapshot_foreign, invalid_shares) and changes nothing.

Example:
  ass operator snapshot restore /backup/ass-2026-11-28.snap --key-file s1 --key-file s2 --key-file s3
  ass operator unseal --all";

/// Restore a backup FILE (a new cluster: with the backup's unseal shares)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct RestoreArgs {
    /// The backup file (`-`: standard input)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// A file holding one original unseal key share; repeat for each share (new cluster only)
    #[arg(long, value_name = "FILE")]
    pub key_file: Vec<PathBuf>,

    /// Restoring into the cluster the backup came from: ask for no shares
    #[arg(long)]
    pub same_cluster: bool,

    /// Print the answer as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass operator snapshot restore`.
pub async fn exec(ctx: &Ctx, args: &RestoreArgs) -> anyhow::Result<()> {
    let file = read_file(&args.file)?;
    let status = ctx.client.sys_status().await.ok();
    let initialized = status.map(|s| s.initialized).unwrap_or(false);
    let keys = if initialized || args.same_cluster {
        Vec::new()
    } else if !args.key_file.is_empty() {
        args.key_file.iter().map(|p| read_share_prompted(Some(p), "")).collect::<Result<_, _>>()?
    } else {
        prompt_shares()?
    };
    let req = SnapshotRestoreRequest {
        snapshot: base64::engine::general_purpose::STANDARD.encode(&file),
        keys,
    };
    let client = if initialized { ctx.scoped(SYS_OPERATOR) } else { ctx.client.clone() };
    let r = client.snapshot_restore(&req).await?;
    if args.json {
        output::print_json(&r)
    } else {
        output::print(&render(&r))
    }
}

fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)
            .context("reading standard input")?;
        return Ok(b);
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn prompt_shares() -> anyhow::Result<Vec<String>> {
    let mut keys = Vec::new();
    loop {
        let prompt = format!(
            "Original unseal key share {} (input hidden; empty to finish): ",
            keys.len() + 1
        );
        let raw = rpassword::prompt_password(prompt).context(
            "cannot read shares from the terminal (use --key-file FILE, once per share)",
        )?;
        let share = raw.trim();
        if share.is_empty() {
            break;
        }
        keys.push(share.to_owned());
    }
    if keys.is_empty() {
        anyhow::bail!("a new cluster needs the backup's unseal key shares");
    }
    Ok(keys)
}

/// What was restored and what to do next.
pub fn render(r: &SnapshotRestoreResponse) -> String {
    let mut out = format!(
        "Restored snapshot of cluster {} taken at index {} (term {}, {}); committed at index {}.\n",
        r.cluster_id, r.snapshot_index, r.snapshot_term, r.snapshot_created, r.index
    );
    if r.unsealed {
        out.push_str(&format!(
            "This node is unsealed. Unseal every other node with {} of the backup's {} shares: \
             ass operator unseal --all\n",
            r.threshold, r.shares
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::{fixture, parse};
    use crate::commands::{Command, OperatorCommand, SnapshotCommand};

    #[test]
    fn flags_parse() {
        let argv =
            ["operator", "snapshot", "restore", "b.snap", "--key-file", "s1", "--key-file", "s2"];
        match parse(&argv).unwrap().command {
            Command::Operator(OperatorCommand::Snapshot(SnapshotCommand::Restore(a))) => {
                assert_eq!(a.file, PathBuf::from("b.snap"));
                assert_eq!(a.key_file, [PathBuf::from("s1"), PathBuf::from("s2")]);
                assert!(!a.json && !a.same_cluster);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["operator", "snapshot", "restore"]).is_err(), "FILE is required");
    }

    #[test]
    fn render_says_what_to_do_next() {
        let r: SnapshotRestoreResponse = fixture(serde_json::json!({
            "index": 2, "cluster_id": "abc", "snapshot_index": 12, "snapshot_term": 1,
            "snapshot_created": "2026-11-28T14:12:00.801Z", "threshold": 3, "shares": 5,
            "unsealed": true
        }));
        assert_eq!(
            render(&r),
            "Restored snapshot of cluster abc taken at index 12 (term 1, 2026-11-28T14:12:00.801Z); \
             committed at index 2.\nThis node is unsealed. Unseal every other node with 3 of the \
             backup's 5 shares: ass operator unseal --all\n"
        );
    }

    #[test]
    fn a_missing_file_is_a_local_error() {
        let e = read_file(Path::new("/nonexistent/b.snap")).unwrap_err();
        assert_eq!(crate::exit_code(&e), 1);
    }
}
