//! The command tree of `ass`: global options, one file per command (`<noun>_<verb>.rs`, each
//! an args struct plus an `exec` of a few lines over [`ass_client::Client`]), and dispatch.
//!
//! ```text
//!  argv ──clap──> Cli { GlobalArgs, Command } ──Ctx::new──> Client ──> <noun>_<verb>::exec
//! ```

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use ass_client::{Client, DEFAULT_ADDR};
use clap::{Args, Parser, Subcommand};

use crate::output;

pub mod operator_init;
pub mod operator_members;
pub mod operator_seal;
pub mod operator_status;
pub mod operator_unseal;
pub mod secrets_delete;
pub mod secrets_get;
pub mod secrets_list;
pub mod secrets_set;
pub mod secrets_versions;

const LONG_ABOUT: &str = "\
Command-line interface of Agent Secret Store, a replicated, encrypted secret vault.

Operators initialize and unseal the cluster with `ass operator …`; agents, services and CI
jobs read and write secrets with `ass secrets …`.

Point the CLI at the cluster with ASS_ADDR (or --addr): a comma-separated list of node URLs.
Calls go to the first node that answers; a node that is down, sealed or without a leader is
skipped. Authenticate with ASS_TOKEN (or --token; the environment keeps it out of `ps` and
shell history).

Exit codes: 0 success, 1 usage or local error, 2 the server refused or could not be reached.

Example:
  export ASS_ADDR=https://n1:8201,https://n2:8201,https://n3:8201
  export ASS_TOKEN=…
  ass secrets get production/gemini/GEMINI_API_KEY --silent";

/// The `ass` command line.
#[derive(Debug, Parser)]
#[command(
    name = "ass",
    version,
    about = "Agent Secret Store CLI: operate the cluster, read and write secrets",
    long_about = LONG_ABOUT,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes: where the cluster is and who we are.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Node URLs, comma-separated; calls fail over between them
    #[arg(
        long,
        env = "ASS_ADDR",
        global = true,
        value_name = "URLS",
        default_value = DEFAULT_ADDR
    )]
    pub addr: String,

    /// Bearer token (prefer the ASS_TOKEN environment variable: it stays out of `ps`)
    #[arg(
        long,
        env = "ASS_TOKEN",
        global = true,
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,

    /// PEM file of the CA certificates to trust for https:// nodes (the cluster's own CA)
    #[arg(long, env = "ASS_CACERT", global = true, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// Time allowed for one request to one node, e.g. 10s, 1m
    #[arg(
        long,
        env = "ASS_TIMEOUT",
        global = true,
        value_name = "DURATION",
        default_value = "30s",
        value_parser = parse_duration
    )]
    pub timeout: Duration,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (try 10s, 500ms, 1m)"))?;
    if d.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(d)
}

/// Top-level nouns.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Cluster operations: init, unseal, seal, status, members
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Read and write secrets
    #[command(subcommand)]
    Secrets(SecretsCommand),
}

/// `ass operator …`.
#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    Init(operator_init::InitArgs),
    Unseal(operator_unseal::UnsealArgs),
    Seal(operator_seal::SealArgs),
    Status(operator_status::StatusArgs),
    Members(operator_members::MembersArgs),
}

/// `ass secrets …`.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    Set(secrets_set::SetArgs),
    Get(secrets_get::GetArgs),
    List(secrets_list::ListArgs),
    Versions(secrets_versions::VersionsArgs),
    Delete(secrets_delete::DeleteArgs),
}

/// Read consistency options shared by the read commands.
#[derive(Debug, Clone, Default, Args)]
pub struct ReadArgs {
    /// Answer from the node's local copy at once instead of a linearizable read (may lag a
    /// little behind the leader)
    #[arg(long)]
    pub stale: bool,

    /// Wait until the node has applied this log index (the `index` a write printed), to read
    /// your own write from any node
    #[arg(long, value_name = "INDEX")]
    pub min_index: Option<u64>,
}

impl ReadArgs {
    /// The client's read options, with an optional version.
    pub fn options(&self, version: Option<u64>) -> ass_client::ReadOptions {
        ass_client::ReadOptions {
            version,
            stale: self.stale,
            min_index: self.min_index,
        }
    }
}

/// What every command runs with.
pub struct Ctx {
    /// Client over every address given, with failover.
    pub client: Client,
}

impl Ctx {
    /// Builds the client from the global options. Bad options are local errors (exit 1).
    pub fn new(g: &GlobalArgs) -> anyhow::Result<Self> {
        let addrs = ass_client::parse_addresses(&g.addr)?;
        let mut b = Client::builder()
            .addresses(addrs)
            .token(g.token.clone())
            .timeout(g.timeout);
        if let Some(path) = &g.ca_cert {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read CA file {}", path.display()))?;
            b = b.ca_cert_pem(pem);
        }
        Ok(Ctx { client: b.build()? })
    }

    /// Clients for the nodes a per-node command talks to: every address with `all`, else
    /// the first one.
    pub fn nodes(&self, all: bool) -> Vec<(String, Client)> {
        let addrs = self.client.addresses();
        let take = if all { addrs.len() } else { 1 };
        addrs
            .iter()
            .take(take)
            .map(|a| (a.clone(), self.client.for_node(a)))
            .collect()
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = Ctx::new(&cli.global)?;
    match &cli.command {
        Command::Operator(op) => match op {
            OperatorCommand::Init(a) => operator_init::exec(&ctx, a).await,
            OperatorCommand::Unseal(a) => operator_unseal::exec(&ctx, a).await,
            OperatorCommand::Seal(a) => operator_seal::exec(&ctx, a).await,
            OperatorCommand::Status(a) => operator_status::exec(&ctx, a).await,
            OperatorCommand::Members(a) => operator_members::exec(&ctx, a).await,
        },
        Command::Secrets(s) => match s {
            SecretsCommand::Set(a) => secrets_set::exec(&ctx, a).await,
            SecretsCommand::Get(a) => secrets_get::exec(&ctx, a).await,
            SecretsCommand::List(a) => secrets_list::exec(&ctx, a).await,
            SecretsCommand::Versions(a) => secrets_versions::exec(&ctx, a).await,
            SecretsCommand::Delete(a) => secrets_delete::exec(&ctx, a).await,
        },
    }
}

/// Result of a per-node command on one node, for `--json` with several nodes.
#[derive(Debug, serde::Serialize)]
pub struct NodeResult<T> {
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<NodeError>,
}

/// A failed call on one node, as JSON.
#[derive(Debug, serde::Serialize)]
pub struct NodeError {
    pub code: String,
    pub message: String,
    #[serde(skip)]
    source: Option<ass_client::Error>,
}

impl NodeError {
    /// The client error this was made from.
    pub fn into_client_error(self) -> ass_client::Error {
        self.source
            .unwrap_or(ass_client::Error::Transport(self.message))
    }
}

impl<T> NodeResult<T> {
    /// Wraps one node's outcome.
    pub fn new(address: String, r: Result<T, ass_client::Error>) -> Self {
        match r {
            Ok(v) => NodeResult {
                address,
                status: Some(v),
                error: None,
            },
            Err(e) => NodeResult {
                address,
                status: None,
                error: Some(NodeError {
                    code: e.code().to_owned(),
                    message: e.to_string(),
                    source: Some(e),
                }),
            },
        }
    }
}

/// `error: <address>: <message> (<code>)` for one node, the address said once.
pub fn node_error_line(address: &str, e: &NodeError) -> String {
    if e.message.starts_with(address) {
        format!("error: {} ({})", e.message, e.code)
    } else {
        format!("error: {address}: {} ({})", e.message, e.code)
    }
}

/// Prints the outcome of a per-node command (unseal, seal).
///
/// One node (`all == false`): its status as a line (or JSON), or its error returned as-is.
/// Several: one line per node on stdout, each failure on stderr (or one JSON array), and a
/// [`crate::Failed`] with exit code 2 if any node failed.
pub fn report_nodes<T: serde::Serialize>(
    results: Vec<NodeResult<T>>,
    all: bool,
    json: bool,
    describe: fn(&T) -> String,
) -> anyhow::Result<()> {
    let failed = results.iter().filter(|r| r.error.is_some()).count();
    if !all {
        for r in results {
            match (r.status, r.error) {
                (Some(s), _) if json => output::print_json(&s)?,
                (Some(s), _) => output::print(&format!("{}\n", describe(&s)))?,
                (None, Some(e)) => return Err(e.into_client_error().into()),
                (None, None) => {}
            }
        }
        return Ok(());
    }
    if json {
        output::print_json(&results)?;
    } else {
        let mut out = String::new();
        for r in &results {
            match (&r.status, &r.error) {
                (Some(s), _) => out.push_str(&format!("{}\n", describe(s))),
                (None, Some(e)) => eprintln!("{}", node_error_line(&r.address, e)),
                (None, None) => {}
            }
        }
        output::print(&out)?;
    }
    if failed > 0 {
        return Err(crate::Failed {
            exit: 2,
            message: format!("{failed} of {} nodes failed", results.len()),
        }
        .into());
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use clap::CommandFactory;

    /// A wire type from its JSON, as the server would send it: fixtures built this way keep
    /// compiling when optional fields are added to the wire types.
    pub(crate) fn fixture<T: serde::de::DeserializeOwned>(json: serde_json::Value) -> T {
        serde_json::from_value(json).expect("fixture matches the wire type")
    }

    /// A node's status.
    pub(crate) fn seal_status(node_id: u64, sealed: bool, progress: u8) -> ass_client::SealStatus {
        fixture(serde_json::json!({
            "initialized": true, "sealed": sealed, "progress": progress, "threshold": 3,
            "shares": 5, "node_id": node_id, "leader_id": 1, "leader_api": "http://n1:8201",
            "term": 4, "applied_index": 120, "version": "0.1.0"
        }))
    }

    /// Parses an `ass …` command line as the binary would.
    pub(crate) fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("ass").chain(args.iter().copied()))
    }

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_go_anywhere_and_have_defaults() {
        // Isolate from the developer's environment.
        let cli = parse(&["secrets", "list", "--addr", "http://a:1,http://b:2"]).unwrap();
        assert_eq!(cli.global.addr, "http://a:1,http://b:2");
        if std::env::var_os("ASS_TIMEOUT").is_none() {
            assert_eq!(cli.global.timeout, Duration::from_secs(30));
        }
        let cli = parse(&["--timeout", "500ms", "operator", "status"]).unwrap();
        assert_eq!(cli.global.timeout, Duration::from_millis(500));
    }

    #[test]
    fn bad_timeout_is_a_usage_error() {
        assert!(parse(&["--timeout", "soon", "operator", "status"]).is_err());
        assert!(parse(&["--timeout", "0s", "operator", "status"]).is_err());
    }

    #[test]
    fn a_noun_alone_is_an_error_showing_help() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["secrets"]).is_err());
        assert!(parse(&["operator", "frobnicate"]).is_err());
    }

    #[test]
    fn token_value_never_shows_in_help() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("ASS_TOKEN"));
        assert!(help.contains("ASS_ADDR"));
    }

    #[test]
    fn ctx_refuses_a_bad_address_locally() {
        let cli = parse(&["--addr", "not-a-url", "operator", "status"]).unwrap();
        let err = Ctx::new(&cli.global).err().unwrap();
        assert_eq!(crate::exit_code(&err), 1);
    }

    #[test]
    fn ctx_nodes_takes_first_or_all() {
        let cli = parse(&["--addr", "http://a:1, http://b:2", "operator", "status"]).unwrap();
        let ctx = Ctx::new(&cli.global).unwrap();
        let one: Vec<_> = ctx.nodes(false).into_iter().map(|(a, _)| a).collect();
        let all: Vec<_> = ctx.nodes(true).into_iter().map(|(a, _)| a).collect();
        assert_eq!(one, ["http://a:1"]);
        assert_eq!(all, ["http://a:1", "http://b:2"]);
    }

    #[test]
    fn node_error_line_names_the_address_once() {
        let e = |m: &str| NodeError {
            code: "transport".into(),
            message: m.into(),
            source: None,
        };
        assert_eq!(
            node_error_line("http://a:1", &e("http://a:1: timed out: x")),
            "error: http://a:1: timed out: x (transport)"
        );
        assert_eq!(
            node_error_line("http://a:1", &e("sealed")),
            "error: http://a:1: sealed (transport)"
        );
    }

    #[test]
    fn node_result_json_has_status_or_error() {
        let ok = NodeResult::new("http://a:1".into(), Ok(1u8));
        let bad = NodeResult::<u8>::new(
            "http://b:2".into(),
            Err(ass_client::Error::Transport("refused".into())),
        );
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"address":"http://a:1","status":1}"#
        );
        assert_eq!(
            serde_json::to_string(&bad).unwrap(),
            r#"{"address":"http://b:2","error":{"code":"transport","message":"refused"}}"#
        );
    }
}
