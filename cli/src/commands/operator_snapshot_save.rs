//! `ass operator snapshot save FILE`: writes an encrypted backup of the whole cluster.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use ass_client::scope::SYS_OPERATOR;
use clap::Args;
use serde::Serialize;

use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
Save a backup of the whole cluster to FILE: every secret with every version, agents, tokens,
the token and approval policies, approval requests and grants, the seal config (the sealed
root key) and the keyring — as of a linearizable read, so it holds every write acknowledged
before the command ran.

The file is encrypted (AES-256-GCM-SIV) under a key derived from the cluster's root key: only
an unsealed node of this cluster, or a threshold of the unseal key shares that were current
when the backup was made, can open it. Keep those shares with the backup. The header (cluster
id, log index and term, time) is readable; paths, names and values are not.

Quorum lost for good (no leader can be elected): --local saves the state of the first node
given, as it is, without asking a leader; use the survivor with the highest APPLIED index
(`ass operator status`) and restore the file into a new cluster. It may miss writes that the
lost majority committed.

FILE is written with mode 0600 and never overwritten (`-` writes standard output). Needs the
sys:operator scope. Restore with `ass operator snapshot restore FILE`.

Example:
  ass operator snapshot save /backup/ass-$(date +%F).snap
  ass operator snapshot save --local --addr http://10.0.0.12:8200 survivor.snap";

/// Save an encrypted backup of the whole cluster to FILE
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct SaveArgs {
    /// Where to write the backup (`-`: standard output)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Save the first node's own state without asking a leader (only when quorum is lost
    /// for good: point --addr at the survivor with the highest APPLIED index). It may miss
    /// writes that the lost majority committed.
    #[arg(long)]
    pub local: bool,

    /// Print {file, bytes} as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Saved<'a> {
    file: &'a str,
    bytes: usize,
}

/// Runs `ass operator snapshot save`.
pub async fn exec(ctx: &Ctx, args: &SaveArgs) -> anyhow::Result<()> {
    // Refuse an existing file before asking the cluster for anything.
    let to_stdout = args.file.as_os_str() == "-";
    let mut out = if to_stdout { None } else { Some(create_new(&args.file)?) };
    let bytes = match ctx.scoped(SYS_OPERATOR).snapshot_save(args.local).await {
        Ok(b) => b,
        Err(e) => {
            if out.take().is_some() {
                let _ = std::fs::remove_file(&args.file);
            }
            return Err(e.into());
        }
    };
    let name = args.file.display().to_string();
    match out {
        None => std::io::stdout().write_all(&bytes).context("writing standard output")?,
        Some(mut f) => {
            f.write_all(&bytes)
                .and_then(|_| f.sync_all())
                .with_context(|| format!("writing {name}"))?;
        }
    }
    if to_stdout {
        return Ok(());
    }
    if args.json {
        output::print_json(&Saved { file: &name, bytes: bytes.len() })
    } else {
        output::print(&format!("Saved snapshot to {name} ({} bytes)\n", bytes.len()))
    }
}

fn create_new(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::parse;
    use crate::commands::{Command, OperatorCommand, SnapshotCommand};

    #[test]
    fn flags_parse() {
        match parse(&["operator", "snapshot", "save", "b.snap", "--json"]).unwrap().command {
            Command::Operator(OperatorCommand::Snapshot(SnapshotCommand::Save(a))) => {
                assert_eq!(a.file, PathBuf::from("b.snap"));
                assert!(a.json);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["operator", "snapshot", "save"]).is_err(), "FILE is required");
    }

    #[test]
    fn an_existing_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.snap");
        std::fs::write(&p, "keep me").unwrap();
        let e = create_new(&p).unwrap_err();
        assert_eq!(crate::exit_code(&e), 1);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "keep me");
    }
}
