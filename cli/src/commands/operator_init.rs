//! `ass operator init`: initializes a new cluster and shows the unseal key shares and the
//! root token — the only time the cluster ever reveals them.

use ass_client::{InitRequest, InitResponse};
use clap::Args;

use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
Initialize a new cluster: make the root key, split its unseal key into SHARES Shamir shares of
which THRESHOLD unseal a node, and create the root token.

The shares and the root token are printed ONCE and never stored by the cluster. Give each
share to a different operator and keep the root token offline; lose more than
SHARES - THRESHOLD shares and the data can never be unsealed again.

Needs no token. Run it once, against any node of a new cluster.

Example:
  ass operator init --shares 5 --threshold 3";

/// Initialize a new cluster (prints unseal keys and root token once)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct InitArgs {
    /// Number of unseal key shares to make
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..))]
    pub shares: u8,

    /// Number of shares needed to unseal a node
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..))]
    pub threshold: u8,

    /// Print the answer as JSON (keys, shares, threshold, root_token)
    #[arg(long)]
    pub json: bool,
}

/// Runs `ass operator init`.
pub async fn exec(ctx: &Ctx, args: &InitArgs) -> anyhow::Result<()> {
    if args.threshold > args.shares {
        anyhow::bail!(
            "--threshold ({}) cannot be more than --shares ({})",
            args.threshold,
            args.shares
        );
    }
    let req = InitRequest { shares: Some(args.shares), threshold: Some(args.threshold) };
    let resp = ctx.client.sys_init(&req).await?;
    if args.json {
        output::print_json(&resp)
    } else {
        output::print(&render(&resp))
    }
}

/// The human form: numbered shares, root token, and a loud warning.
pub fn render(r: &InitResponse) -> String {
    let mut out = String::new();
    let kind = if r.recovery_keys { "Recovery Key" } else { "Unseal Key" };
    for (i, k) in r.keys.iter().enumerate() {
        out.push_str(&format!("{kind} {}: {k}\n", i + 1));
    }
    out.push_str(&format!("\nInitial Root Token: {}\n", r.root_token));
    if r.recovery_keys {
        out.push_str(&format!(
            "\n\
             !!! STORE THESE NOW. They are shown this ONCE and the cluster does not keep them. !!!\n\
             \n\
             The cluster auto-unseals: every node's HSM ([seal] type = \"pkcs11\") unwraps the\n\
             root key at start, so no share is needed for a restart. These {shares} are RECOVERY\n\
             keys (threshold {t}): `ass operator generate-root`, `rekey` and `seal migrate` need\n\
             them, and they unseal a node by hand if the HSM is lost. Guard them like unseal\n\
             keys: give each to a different person and keep them apart.\n\
             Use the root token only to set up agents and policy, then keep it offline.\n",
            shares = r.shares,
            t = r.threshold,
        ));
        return out;
    }
    out.push_str(&format!(
        "\n\
         !!! STORE THESE NOW. They are shown this ONCE and the cluster does not keep them. !!!\n\
         \n\
         The cluster was initialized with {shares} key shares and a threshold of {t}. Every\n\
         node starts sealed: hand {t} of these shares to each node with\n\
         `ass operator unseal --all` before it can serve. Give each share to a different\n\
         person and keep them apart; with fewer than {t} shares the data is lost for good.\n\
         Use the root token only to set up agents and policy, then keep it offline.\n",
        shares = r.shares,
        t = r.threshold,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::{fixture, parse};
    use crate::commands::{Command, OperatorCommand};

    fn args(argv: &[&str]) -> InitArgs {
        match parse(argv).unwrap().command {
            Command::Operator(OperatorCommand::Init(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn recovery_keys_are_named_so() {
        let r: InitResponse = fixture(serde_json::json!({
            "keys": ["k1"], "shares": 1, "threshold": 1, "root_token": "root", "recovery_keys": true
        }));
        let s = render(&r);
        assert!(s.starts_with("Recovery Key 1: k1\n\nInitial Root Token: root\n"), "{s}");
        assert!(s.contains("auto-unseals") && !s.contains("Unseal Key"), "{s}");
    }

    #[test]
    fn defaults_are_five_shares_threshold_three() {
        let a = args(&["operator", "init"]);
        assert_eq!((a.shares, a.threshold, a.json), (5, 3, false));
        let a = args(&["operator", "init", "--shares", "1", "--threshold", "1", "--json"]);
        assert_eq!((a.shares, a.threshold, a.json), (1, 1, true));
    }

    #[test]
    fn zero_or_too_many_shares_are_usage_errors() {
        assert!(parse(&["operator", "init", "--shares", "0"]).is_err());
        assert!(parse(&["operator", "init", "--shares", "256"]).is_err());
        assert!(parse(&["operator", "init", "--threshold", "0"]).is_err());
    }

    #[test]
    fn render_numbers_keys_and_warns() {
        let r: InitResponse = fixture(serde_json::json!({
            "keys": ["k1", "k2"], "shares": 2, "threshold": 2, "root_token": "root"
        }));
        let s = render(&r);
        assert!(s.starts_with("Unseal Key 1: k1\nUnseal Key 2: k2\n\nInitial Root Token: root\n"));
        assert!(s.contains("ONCE"));
        assert!(s.contains("threshold of 2"));
    }
}
