//! `ass operator rekey`: new unseal key shares for the same root key, from a threshold of the
//! current ones handed in one per run on one node. The old shares stop working; no data is
//! re-encrypted.

use std::path::PathBuf;

use ass_client::scope::SYS_OPERATOR;
use ass_client::{RekeyRequest, RekeyResponse};
use clap::Args;

use super::operator_unseal::read_share_prompted;
use super::{nodes_of, Ctx};
use crate::output;

const LONG_ABOUT: &str = "\
Make NEW unseal key shares from THRESHOLD of the CURRENT ones, one current share per run. Each
key holder runs this against the SAME node (progress is kept per node: the first address of
ASS_ADDR / --addr); the run that hands in the last current share prints the new shares ONCE.
From then on the OLD shares no longer work: destroy every copy. No data is re-encrypted and
unsealed nodes stay unsealed; the next unseal needs the new shares.

--shares and --threshold (default 5 and 3) shape the new shares; they are taken from the run
that completes the threshold, so give the same values on every run. The current share is
read with a hidden prompt, or from --key-file (`-`: standard input). --reset forgets the
shares handed in so far. Needs the sys:operator scope.

Example:
  ass operator rekey --addr https://n1:8200 --shares 5 --threshold 3
  ass operator rekey --addr https://n1:8200 --shares 5 --threshold 3 --key-file share2.txt";

/// Make new unseal key shares from the current ones (one current share per run)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct RekeyArgs {
    /// Read the current share from this file instead of prompting (`-`: standard input)
    #[arg(long, value_name = "FILE", conflicts_with = "reset")]
    pub key_file: Option<PathBuf>,

    /// Number of new unseal key shares to make
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..))]
    pub shares: u8,

    /// Number of new shares needed to unseal a node
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..))]
    pub threshold: u8,

    /// Forget the current shares handed in so far instead of sending one
    #[arg(long)]
    pub reset: bool,

    /// Print the answer (progress, threshold, keys once made) as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass operator rekey`.
pub async fn exec(ctx: &Ctx, args: &RekeyArgs) -> anyhow::Result<()> {
    let req = request(args, || {
        read_share_prompted(args.key_file.as_deref(), "Current unseal key share (input hidden): ")
    })?;
    let (addr, client) =
        nodes_of(&ctx.scoped(SYS_OPERATOR), false).into_iter().next().expect("one address");
    let resp = client.rekey(&req).await?;
    if args.json {
        output::print_json(&resp)
    } else {
        output::print(&render(&resp, &addr))
    }
}

/// The request of this run: a reset, or the share `read_share` gives with the new shape.
/// A threshold above the number of shares is a local error (exit 1), checked before the
/// share is read.
pub fn request(
    args: &RekeyArgs,
    read_share: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<RekeyRequest> {
    if args.reset {
        return Ok(RekeyRequest { key: None, reset: true, shares: None, threshold: None });
    }
    if args.threshold > args.shares {
        anyhow::bail!(
            "--threshold ({}) cannot be more than --shares ({})",
            args.threshold,
            args.shares
        );
    }
    Ok(RekeyRequest {
        key: Some(read_share()?),
        reset: false,
        shares: Some(args.shares),
        threshold: Some(args.threshold),
    })
}

/// Progress on `addr`, or the new shares with a loud warning about the old ones.
pub fn render(r: &RekeyResponse, addr: &str) -> String {
    match &r.keys {
        Some(keys) => {
            let mut out = format!(
                "Rekeyed: {} new unseal key shares, {} of them unseal a node.\n\n",
                keys.len(),
                r.threshold
            );
            for (i, k) in keys.iter().enumerate() {
                out.push_str(&format!("New Unseal Key {}: {k}\n", i + 1));
            }
            out.push_str(&format!(
                "\n\
                 !!! THE OLD UNSEAL SHARES NO LONGER WORK. DESTROY EVERY COPY OF THEM NOW. !!!\n\
                 !!! STORE THESE NEW SHARES NOW. They are shown this ONCE and the cluster does \
                 not keep them. !!!\n\
                 \n\
                 Give each new share to a different person and keep them apart; with fewer than \
                 {t}\n\
                 of them the data can never be unsealed again. Unsealed nodes stay unsealed; the \
                 next\n\
                 `ass operator unseal` (and `generate-root`) needs the new shares.\n",
                t = r.threshold
            ));
            out
        }
        None if r.progress == 0 => {
            format!("{addr}: no current shares handed in (0 of {})\n", r.threshold)
        }
        None => format!(
            "{addr}: progress {} of {}; the next key holder runs this against the same node \
             (same --shares and --threshold)\n",
            r.progress, r.threshold
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::parse;
    use crate::commands::{Command, OperatorCommand};

    fn args(argv: &[&str]) -> RekeyArgs {
        match parse(argv).unwrap().command {
            Command::Operator(OperatorCommand::Rekey(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    fn resp(progress: u8, threshold: u8, keys: Option<&[&str]>) -> RekeyResponse {
        RekeyResponse {
            progress,
            threshold,
            keys: keys.map(|k| k.iter().map(|s| (*s).to_owned()).collect()),
        }
    }

    #[test]
    fn flags_parse_with_defaults_5_and_3() {
        let a = args(&["operator", "rekey"]);
        assert_eq!((a.shares, a.threshold, a.reset, a.json), (5, 3, false, false));
        assert!(a.key_file.is_none());
        let a = args(&[
            "operator",
            "rekey",
            "--key-file",
            "k",
            "--shares",
            "3",
            "--threshold",
            "2",
            "--json",
        ]);
        assert_eq!((a.shares, a.threshold, a.json), (3, 2, true));
        assert_eq!(a.key_file.as_deref(), Some(std::path::Path::new("k")));
        assert!(args(&["operator", "rekey", "--reset"]).reset);
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        assert!(parse(&["operator", "rekey", "--reset", "--key-file", "k"]).is_err());
        assert!(parse(&["operator", "rekey", "--shares", "0"]).is_err());
        assert!(parse(&["operator", "rekey", "--shares", "256"]).is_err());
        assert!(parse(&["operator", "rekey", "--threshold", "0"]).is_err());
    }

    #[test]
    fn request_carries_the_share_and_the_new_shape() {
        let a = args(&["operator", "rekey", "--shares", "3", "--threshold", "2"]);
        let r = request(&a, || Ok("c2hhcmU=".into())).unwrap();
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"key":"c2hhcmU=","reset":false,"shares":3,"threshold":2}"#
        );
        let r =
            request(&args(&["operator", "rekey", "--reset"]), || panic!("no share read")).unwrap();
        assert!(r.reset && r.key.is_none());
    }

    #[test]
    fn threshold_above_shares_is_refused_before_reading_a_share() {
        let a = args(&["operator", "rekey", "--shares", "2"]);
        let e = request(&a, || panic!("no share read")).unwrap_err();
        assert_eq!(crate::exit_code(&e), 1);
        assert_eq!(e.to_string(), "--threshold (3) cannot be more than --shares (2)");
    }

    #[test]
    fn progress_then_the_new_shares_once_with_a_warning() {
        assert_eq!(
            render(&resp(2, 3, None), "http://n1:8201"),
            "http://n1:8201: progress 2 of 3; the next key holder runs this against the same \
             node (same --shares and --threshold)\n"
        );
        assert_eq!(
            render(&resp(0, 3, None), "http://n1:8201"),
            "http://n1:8201: no current shares handed in (0 of 3)\n"
        );
        let out = render(&resp(0, 2, Some(&["k1", "k2", "k3"])), "http://n1:8201");
        assert!(
            out.starts_with(
                "Rekeyed: 3 new unseal key shares, 2 of them unseal a node.\n\n\
                 New Unseal Key 1: k1\nNew Unseal Key 2: k2\nNew Unseal Key 3: k3\n\n\
                 !!! THE OLD UNSEAL SHARES NO LONGER WORK. DESTROY EVERY COPY OF THEM NOW. !!!\n"
            ),
            "{out}"
        );
        assert!(out.contains("shown this ONCE"), "{out}");
        assert!(out.contains("fewer than 2\nof them"), "{out}");
    }
}
