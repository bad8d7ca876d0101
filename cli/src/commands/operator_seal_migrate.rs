//! `ass operator seal migrate`: moves the cluster between Shamir unseal shares and
//! auto-unseal (PKCS#11 HSM), from a threshold of shares handed in one per run on one node.
//! Nothing is re-encrypted.

use std::path::PathBuf;

use ass_client::{SealMigrateRequest, SealMigrateResponse};
use clap::{Args, ValueEnum};

use super::operator_unseal::read_share_prompted;
use super::{nodes_of, Ctx};
use crate::output;

const LONG_ABOUT: &str = "\
Move the cluster between unseal shares (shamir) and auto-unseal (pkcs11), one share per run.
Each key holder runs this against the SAME node (progress is kept per node: the first address
of ASS_ADDR / --addr); the run that hands in the last share makes the change for the whole
cluster. Nothing is re-encrypted and unsealed nodes stay unsealed.

--to pkcs11: hand in the current UNSEAL shares, on a node whose config has
  [seal] type = \"pkcs11\" (its HSM wraps the root key). Every node with the HSM then unseals
  itself at start, and the same shares become RECOVERY keys (generate-root, rekey, migrate).
--to shamir: hand in the RECOVERY shares. Needs no HSM (the way out when the HSM is lost).
  The same shares are unseal keys again: every node needs them after its next start.

The share is read with a hidden prompt, or from --key-file (`-`: standard input). --reset
forgets the shares handed in so far. Needs no token: the shares are the credential.

Example:
  ass operator seal migrate --to pkcs11 --addr https://n1:8200
  ass operator seal migrate --to shamir --addr https://n1:8200 --key-file share2.txt";

/// The seal to move to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SealType {
    /// Auto-unseal with the node's PKCS#11 HSM
    Pkcs11,
    /// Unseal key shares
    Shamir,
}

impl SealType {
    fn name(self) -> &'static str {
        match self {
            SealType::Pkcs11 => "pkcs11",
            SealType::Shamir => "shamir",
        }
    }
}

/// Move the cluster between unseal shares and auto-unseal (one share per run)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct MigrateArgs {
    /// The seal to move to
    #[arg(long, value_enum, required_unless_present = "reset")]
    pub to: Option<SealType>,

    /// Read the share from this file instead of prompting (`-`: standard input)
    #[arg(long, value_name = "FILE", conflicts_with = "reset")]
    pub key_file: Option<PathBuf>,

    /// Forget the shares handed in so far instead of sending one
    #[arg(long)]
    pub reset: bool,

    /// Print the answer (progress, threshold, seal_type, migrated) as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass operator seal migrate`.
pub async fn exec(ctx: &Ctx, args: &MigrateArgs) -> anyhow::Result<()> {
    let req = request(args, |to| {
        let prompt = match to {
            SealType::Pkcs11 => "Unseal key share (input hidden): ",
            SealType::Shamir => "Recovery key share (input hidden): ",
        };
        read_share_prompted(args.key_file.as_deref(), prompt)
    })?;
    let (addr, client) = nodes_of(&ctx.client, false).into_iter().next().expect("one address");
    let resp = client.seal_migrate(&req).await?;
    if args.json {
        output::print_json(&resp)
    } else {
        output::print(&render(&resp, &addr))
    }
}

/// The request of this run: a reset, or the share `read_share` gives.
pub fn request(
    args: &MigrateArgs,
    read_share: impl FnOnce(SealType) -> anyhow::Result<String>,
) -> anyhow::Result<SealMigrateRequest> {
    if args.reset {
        return Ok(SealMigrateRequest { key: None, to: None, reset: true });
    }
    let to = args.to.expect("clap requires --to without --reset");
    Ok(SealMigrateRequest { key: Some(read_share(to)?), to: Some(to.name().into()), reset: false })
}

/// Progress on `addr`, or what the completed migration means for the shares.
pub fn render(r: &SealMigrateResponse, addr: &str) -> String {
    if r.migrated {
        return match r.seal_type.as_str() {
            "pkcs11" => "Migrated to auto-unseal (pkcs11): every node with the HSM now unseals \
                         itself at start.\nThe shares you hold are now RECOVERY keys (generate-root, \
                         rekey, seal migrate); keep them as safe as before.\n"
                .to_string(),
            _ => "Migrated to unseal shares (shamir): the recovery keys are unseal keys again; \
                  every node needs them after its next start (`ass operator unseal --all`).\n"
                .to_string(),
        };
    }
    if r.progress == 0 {
        return format!(
            "{addr}: no shares handed in (0 of {}); the cluster's seal is {}\n",
            r.threshold, r.seal_type
        );
    }
    format!(
        "{addr}: progress {} of {}; the next key holder runs this against the same node (same \
         --to)\n",
        r.progress, r.threshold
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::operator_seal::SealCommand;
    use crate::commands::tests::{fixture, parse};
    use crate::commands::{Command, OperatorCommand};

    fn args(argv: &[&str]) -> MigrateArgs {
        match parse(argv).unwrap().command {
            Command::Operator(OperatorCommand::Seal(s)) => match s.command {
                Some(SealCommand::Migrate(m)) => m,
                None => panic!("no migrate subcommand"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_parse_and_to_is_required() {
        let a = args(&["operator", "seal", "migrate", "--to", "pkcs11", "--key-file", "k"]);
        assert_eq!((a.to, a.reset), (Some(SealType::Pkcs11), false));
        let a = args(&["operator", "seal", "migrate", "--reset"]);
        assert!(a.reset && a.to.is_none());
        assert!(parse(&["operator", "seal", "migrate"]).is_err());
        assert!(parse(&["operator", "seal", "migrate", "--to", "tpm"]).is_err());
        // Plain `ass operator seal` still parses as before.
        match parse(&["operator", "seal", "--all"]).unwrap().command {
            Command::Operator(OperatorCommand::Seal(s)) => assert!(s.all && s.command.is_none()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn request_carries_the_target_and_the_share() {
        let a = args(&["operator", "seal", "migrate", "--to", "shamir"]);
        let r = request(&a, |to| {
            assert_eq!(to, SealType::Shamir);
            Ok("c2hhcmU=".into())
        })
        .unwrap();
        assert_eq!(
            (r.key.as_deref(), r.to.as_deref(), r.reset),
            (Some("c2hhcmU="), Some("shamir"), false)
        );
        let a = args(&["operator", "seal", "migrate", "--reset"]);
        let r = request(&a, |_| panic!("no share read on reset")).unwrap();
        assert!(r.reset && r.key.is_none());
    }

    #[test]
    fn render_says_what_the_shares_are_now() {
        let done = |t: &str| -> SealMigrateResponse {
            fixture(
                serde_json::json!({"progress": 0, "threshold": 3, "seal_type": t, "migrated": true}),
            )
        };
        assert!(render(&done("pkcs11"), "a").contains("RECOVERY keys"));
        assert!(render(&done("shamir"), "a").contains("unseal keys again"));
        let p: SealMigrateResponse = fixture(
            serde_json::json!({"progress": 2, "threshold": 3, "seal_type": "shamir", "migrated": false}),
        );
        assert_eq!(
            render(&p, "https://n1:8200"),
            "https://n1:8200: progress 2 of 3; the next key holder runs this against the same \
             node (same --to)\n"
        );
    }
}
