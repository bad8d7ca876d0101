//! `ass operator seal`: seals one node, or every node given. A sealed node wipes its key
//! material from memory and answers only status, health, init and unseal until unsealed.

use ass_client::SealStatus;
use clap::{Args, Subcommand};

use super::{nodes_of, operator_seal_migrate, report_nodes, Ctx, NodeResult};

const LONG_ABOUT: &str = "\
Seal a node: it forgets its keys at once and serves nothing but status and unseal until
THRESHOLD shares are handed in again. Use it when a node or a share may be compromised.
Sealing is per node: with --all every address in ASS_ADDR / --addr is sealed, otherwise the
first one. Needs a token with the sys:operator scope.

On an auto-unseal cluster a node sealed this way stays sealed until it restarts (its HSM
then unseals it) or recovery keys are handed in with `ass operator unseal`.

`ass operator seal migrate --to pkcs11|shamir` moves the whole cluster between unseal shares
and auto-unseal (see its --help).

Exits 2 if any node could not be sealed.

Example:
  ass operator seal --addr https://n2:8200
  ass operator seal --all
  ass operator seal migrate --to pkcs11 --addr https://n1:8200";

/// Seal a node (or every node with --all); `seal migrate` changes the seal type
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT, args_conflicts_with_subcommands = true)]
pub struct SealArgs {
    #[command(subcommand)]
    pub command: Option<SealCommand>,

    /// Seal every address given, not just the first
    #[arg(long)]
    pub all: bool,

    /// Print the node status as JSON (an array of per-node results with --all)
    #[arg(long)]
    pub json: bool,
}

/// `ass operator seal …`.
#[derive(Debug, Subcommand)]
pub enum SealCommand {
    Migrate(operator_seal_migrate::MigrateArgs),
}

/// Runs `ass operator seal`.
pub async fn exec(ctx: &Ctx, args: &SealArgs) -> anyhow::Result<()> {
    if let Some(SealCommand::Migrate(m)) = &args.command {
        return operator_seal_migrate::exec(ctx, m).await;
    }
    let results = futures::future::join_all(
        nodes_of(&ctx.scoped(ass_client::scope::SYS_OPERATOR), args.all)
            .into_iter()
            .map(|(addr, client)| async move { NodeResult::new(addr, client.sys_seal().await) }),
    )
    .await;
    report_nodes(results, args.all, args.json, describe)
}

/// `node N: sealed` (or what the node says it is).
pub fn describe(s: &SealStatus) -> String {
    if s.sealed {
        format!("node {}: sealed", s.node_id)
    } else {
        format!("node {}: still unsealed", s.node_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::parse;
    use crate::commands::{Command, OperatorCommand};

    #[test]
    fn describe_says_sealed() {
        let mut s = crate::commands::tests::seal_status(3, true, 0);
        assert_eq!(describe(&s), "node 3: sealed");
        s.sealed = false;
        assert_eq!(describe(&s), "node 3: still unsealed");
    }

    #[test]
    fn flags_parse() {
        match parse(&["operator", "seal", "--all"]).unwrap().command {
            Command::Operator(OperatorCommand::Seal(a)) => assert!(a.all && !a.json),
            other => panic!("{other:?}"),
        }
    }
}
