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

pub mod agents_create;
pub mod agents_list;
pub mod agents_revoke;
pub mod agents_rightsize;
pub mod agents_rotate_key;
pub mod agents_show;
pub mod approvals_approve;
pub mod approvals_deny;
pub mod approvals_list;
pub mod approvals_show;
pub mod audit_hash;
pub mod audit_list;
pub mod audit_verify;
pub mod doctor_check;
pub mod doctor_ignore;
pub mod env_fetch;
pub mod env_print;
pub mod env_run;
pub mod operator_generate_root;
pub mod operator_init;
pub mod operator_members;
pub mod operator_raft_add_node;
pub mod operator_raft_autopilot_state;
pub mod operator_raft_list_peers;
pub mod operator_raft_promote;
pub mod operator_raft_remove_node;
pub mod operator_raft_transfer_leader;
pub mod operator_rekey;
pub mod operator_revoke_root;
pub mod operator_rotate;
pub mod operator_seal;
pub mod operator_seal_migrate;
pub mod operator_snapshot_restore;
pub mod operator_snapshot_save;
pub mod operator_status;
pub mod operator_unseal;
pub mod policy_approvals_set;
pub mod policy_approvals_show;
pub mod policy_tokens_set;
pub mod policy_tokens_show;
pub mod scopes_explain;
pub mod secrets_delete;
pub mod secrets_get;
pub mod secrets_list;
pub mod secrets_set;
pub mod secrets_stale;
pub mod secrets_versions;
pub mod tokens_issue;
pub mod tokens_list;
pub mod tokens_lookup;
pub mod tokens_refresh;
pub mod tokens_revoke;

const LONG_ABOUT: &str = "\
Command-line interface of Agent Secret Store, a replicated, encrypted secret vault.

Operators initialize and unseal the cluster with `ass operator …`, register one agent per
service with `ass agents …`, hand out short-lived tokens with `ass tokens …` and set TTL and
approval rules with `ass policy …`; agents, services and CI jobs read and write secrets with
`ass secrets …`; approvers decide who may read sensitive and critical secrets with
`ass approvals …`; the security team reviews, exports and follows the audit log with
`ass audit …`.

Point the CLI at the cluster with ASS_ADDR (or --addr): a comma-separated list of node URLs.
Calls go to the first node that answers; a node that is down, sealed or without a leader is
skipped. Authenticate with ASS_TOKEN (or --token; the environment keeps it out of `ps` and
shell history).

Or, in CI, with only an agent key in ASS_AGENT_KEY: each command then first exchanges the key
for a token holding just the scope it needs (`secrets get P` asks for `secrets:read:P`) that
lives ASS_TOKEN_TTL (default 15m). ASS_TOKEN, when set, wins over ASS_AGENT_KEY. The token is
kept in $XDG_CACHE_HOME/ass (or ~/.cache/ass; file mode 0600, named by a hash of the key,
scopes and addresses, never the key) and reused by later commands until it is near expiry,
so a job's twenty calls hold one token; a token the cluster refuses (revoked, expired) is
dropped and replaced. --no-token-cache or ASS_NO_TOKEN_CACHE=1 turns that off.

In CI, prefer `ass run --env NAME=PATH … -- CMD` (or `ass env`): it fails loudly, running
nothing, when any secret can't be read, where `export X=$(ass secrets get …)` would go on
with an empty value.

With --json, errors are JSON too, on stderr: {\"error\": {\"code\", \"message\", \"request_id\"}}.

Exit codes: 0 success, 1 usage or local error, 2 the server refused or could not be reached,
3 approval required (the read opened or re-used an approval request, still pending; its id is
the last line on stderr), 4 approval denied, or expired while `secrets get --wait` waited.

Example:
  export ASS_ADDR=https://n1:8200,https://n2:8200,https://n3:8200
  export ASS_TOKEN=…
  ass secrets get production/gemini/GEMINI_API_KEY --silent

  # CI: only the agent key is stored
  ASS_AGENT_KEY=ass_… ass run --env GEMINI_API_KEY=production/gemini/GEMINI_API_KEY -- ./deploy.sh";

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
#[derive(Args)]
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
    #[arg(long, env = "ASS_TOKEN", global = true, value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Agent key (ass_…) used when no token is given: each command buys a token with just
    /// the scope it needs (prefer the ASS_AGENT_KEY environment variable)
    #[arg(long, env = "ASS_AGENT_KEY", global = true, value_name = "KEY", hide_env_values = true)]
    pub agent_key: Option<String>,

    /// Lifetime of the token bought with the agent key, e.g. 15m, 1h
    #[arg(
        long,
        env = "ASS_TOKEN_TTL",
        global = true,
        value_name = "DURATION",
        default_value = "15m",
        value_parser = parse_duration
    )]
    pub token_ttl: Duration,

    /// PEM file of the CA certificates to trust for https:// nodes (the cluster's own CA)
    #[arg(long, env = "ASS_CACERT", global = true, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// Buy a new token with the agent key for this command instead of reusing the one an
    /// earlier command bought (kept in $XDG_CACHE_HOME/ass or ~/.cache/ass, mode 0600)
    #[arg(
        long,
        env = "ASS_NO_TOKEN_CACHE",
        global = true,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub no_token_cache: bool,

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

impl std::fmt::Debug for GlobalArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalArgs")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "REDACTED"))
            .field("agent_key", &self.agent_key.as_ref().map(|_| "REDACTED"))
            .field("token_ttl", &self.token_ttl)
            .field("ca_cert", &self.ca_cert)
            .field("no_token_cache", &self.no_token_cache)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl GlobalArgs {
    /// The token, when one is given (an empty one is none).
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref().filter(|t| !t.is_empty())
    }

    /// The agent key, when one is given and no token is.
    pub fn agent_key(&self) -> Option<&str> {
        match self.token() {
            Some(_) => None,
            None => self.agent_key.as_deref().filter(|k| !k.is_empty()),
        }
    }

    /// Whether any credential is given.
    pub fn has_credential(&self) -> bool {
        self.token().is_some() || self.agent_key().is_some()
    }
}

/// A positive duration: `90s`, `15m`, `1h30m`.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (try 10s, 500ms, 1m)"))?;
    if d.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(d)
}

/// Top-level nouns.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Cluster operations: init, unseal, seal, status, members, root token, rotate, rekey, raft
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Read and write secrets
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Register agents (one per service) and manage their keys
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Issue, inspect, refresh and revoke short-lived scoped tokens
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Show and set policies
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// List, show, approve and deny requests to read approval-gated secrets
    #[command(subcommand)]
    Approvals(ApprovalsCommand),
    /// Show, export (JSON lines), follow (--tail), verify and search the audit log
    Audit(audit_list::AuditArgs),
    Doctor(doctor_check::DoctorArgs),
    /// Explain which scope grants an access, or why it is denied
    #[command(subcommand)]
    Scopes(ScopesCommand),
    Run(env_run::RunArgs),
    Env(env_print::EnvArgs),
}

/// `ass scopes …`.
#[derive(Debug, Subcommand)]
pub enum ScopesCommand {
    Explain(scopes_explain::ExplainArgs),
}

/// `ass approvals …`.
#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    List(approvals_list::ListArgs),
    Show(approvals_show::ShowArgs),
    Approve(approvals_approve::ApproveArgs),
    Deny(approvals_deny::DenyArgs),
}

/// `ass agents …`.
#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    Create(agents_create::CreateArgs),
    List(agents_list::ListArgs),
    Show(agents_show::ShowArgs),
    Revoke(agents_revoke::RevokeArgs),
    RotateKey(agents_rotate_key::RotateKeyArgs),
    Rightsize(agents_rightsize::RightsizeArgs),
}

/// `ass tokens …`.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    Issue(tokens_issue::IssueArgs),
    List(tokens_list::ListArgs),
    Lookup(tokens_lookup::LookupArgs),
    Revoke(tokens_revoke::RevokeArgs),
    Refresh(tokens_refresh::RefreshArgs),
}

/// `ass policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// The token policy: longest TTL, break-glass
    #[command(subcommand)]
    Tokens(PolicyTokensCommand),
    /// The approval policy: approvals each tier needs, approvers, grant time
    #[command(subcommand)]
    Approvals(PolicyApprovalsCommand),
}

/// `ass policy approvals …`.
#[derive(Debug, Subcommand)]
pub enum PolicyApprovalsCommand {
    Show(policy_approvals_show::ShowArgs),
    Set(policy_approvals_set::SetArgs),
}

/// `ass policy tokens …`.
#[derive(Debug, Subcommand)]
pub enum PolicyTokensCommand {
    Show(policy_tokens_show::ShowArgs),
    Set(policy_tokens_set::SetArgs),
}

/// `ass operator …`.
#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    Init(operator_init::InitArgs),
    Unseal(operator_unseal::UnsealArgs),
    Seal(operator_seal::SealArgs),
    Status(operator_status::StatusArgs),
    Members(operator_members::MembersArgs),
    GenerateRoot(operator_generate_root::GenerateRootArgs),
    RevokeRoot(operator_revoke_root::RevokeRootArgs),
    Rotate(operator_rotate::RotateArgs),
    Rekey(operator_rekey::RekeyArgs),
    /// Raft membership: list peers (with a dead-node report), add, promote, remove nodes,
    /// transfer leadership, autopilot state (safe to restart the next node?)
    #[command(subcommand)]
    Raft(RaftCommand),
    /// Encrypted backups: save the whole cluster to a file, restore one
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
}

/// `ass operator snapshot …`.
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    Save(operator_snapshot_save::SaveArgs),
    Restore(operator_snapshot_restore::RestoreArgs),
}

/// `ass operator raft …`.
#[derive(Debug, Subcommand)]
pub enum RaftCommand {
    ListPeers(operator_raft_list_peers::ListPeersArgs),
    AddNode(operator_raft_add_node::AddNodeArgs),
    Promote(operator_raft_promote::PromoteArgs),
    RemoveNode(operator_raft_remove_node::RemoveNodeArgs),
    TransferLeader(operator_raft_transfer_leader::TransferLeaderArgs),
    AutopilotState(operator_raft_autopilot_state::AutopilotStateArgs),
}

/// `ass secrets …`.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    Set(secrets_set::SetArgs),
    Get(secrets_get::GetArgs),
    List(secrets_list::ListArgs),
    Versions(secrets_versions::VersionsArgs),
    Delete(secrets_delete::DeleteArgs),
    Stale(secrets_stale::StaleArgs),
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
            ..Default::default()
        }
    }
}

/// What every command runs with.
pub struct Ctx {
    /// Client over every address given, with failover, holding the token if one was given
    /// (no credential at all in agent-key mode: use [`Ctx::scoped`]).
    pub client: Client,
    /// The agent key, when it is the credential (no token given).
    agent_key: Option<String>,
    /// Lifetime of the tokens bought with the agent key.
    token_ttl: Duration,
}

impl Ctx {
    /// Builds the client from the global options. Bad options are local errors (exit 1).
    pub fn new(g: &GlobalArgs) -> anyhow::Result<Self> {
        let addrs = ass_client::parse_addresses(&g.addr)?;
        let token = g.token().map(str::to_owned);
        let mut b = Client::builder()
            .addresses(addrs)
            .token(token)
            .timeout(g.timeout)
            .token_cache(ass_client::TokenCache::user_default(g.no_token_cache));
        if let Some(path) = &g.ca_cert {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read CA file {}", path.display()))?;
            b = b.ca_cert_pem(pem);
        }
        Ok(Ctx {
            client: b.build()?,
            agent_key: g.agent_key().map(str::to_owned),
            token_ttl: g.token_ttl,
        })
    }

    /// The client for a call that needs `scope`: with a token, the client as it is; with
    /// only an agent key, one that first buys a token holding just `scope` (hardening
    /// practice 1: minimum-scope tokens).
    pub fn scoped(&self, scope: impl Into<String>) -> Client {
        match &self.agent_key {
            Some(key) => {
                self.client.with_agent_key(key.clone(), vec![scope.into()], self.token_ttl)
            }
            None => self.client.clone(),
        }
    }

    /// The client for a call that needs all of `scopes`: like [`Ctx::scoped`], one token
    /// holding every one of them (`ass run`, `ass env`: one token for all their reads).
    pub fn scoped_all(&self, scopes: Vec<String>) -> Client {
        match &self.agent_key {
            Some(key) => self.client.with_agent_key(key.clone(), scopes, self.token_ttl),
            None => self.client.clone(),
        }
    }

    /// The agent key, when it is the credential (no token given).
    pub fn agent_key(&self) -> Option<&str> {
        self.agent_key.as_deref()
    }

    /// The client for `POST /v1/tokens`: with only an agent key, the key itself is the
    /// bearer; otherwise the token.
    pub fn issuer(&self) -> Client {
        match &self.agent_key {
            Some(key) => self.client.with_agent_key(key.clone(), Vec::new(), self.token_ttl),
            None => self.client.clone(),
        }
    }

    /// Refuses a command that acts on the caller's own token when the credential is an agent
    /// key (a local error, exit 1).
    pub fn require_token(&self, command: &str) -> anyhow::Result<()> {
        if self.agent_key.is_some() {
            anyhow::bail!(
                "`{command}` acts on your own token: set ASS_TOKEN (an agent key only buys \
                 tokens; get one with `ass tokens issue`)"
            );
        }
        Ok(())
    }

    /// Clients for the nodes a per-node command talks to: every address with `all`, else
    /// the first one.
    pub fn nodes(&self, all: bool) -> Vec<(String, Client)> {
        nodes_of(&self.client, all)
    }
}

/// Per-node children of `client` (sharing its credential): every address with `all`, else
/// the first one.
pub fn nodes_of(client: &Client, all: bool) -> Vec<(String, Client)> {
    let addrs = client.addresses();
    let take = if all { addrs.len() } else { 1 };
    addrs.iter().take(take).map(|a| (a.clone(), client.for_node(a))).collect()
}

/// A comma-separated list flag (given once or repeated): items trimmed, empty ones dropped.
pub fn csv(values: &[String]) -> Vec<String> {
    values.iter().flat_map(|v| ass_client::scope::split_list(v)).collect()
}

/// Like [`csv`], refusing an empty result (a local error naming `flag`).
pub fn csv_required(flag: &str, values: &[String]) -> anyhow::Result<Vec<String>> {
    let list = csv(values);
    if list.is_empty() {
        anyhow::bail!(
            "{flag} needs at least one item, e.g. {flag} \"secrets:read:production/gemini/*\""
        );
    }
    Ok(list)
}

/// A time as the API gives it, with a compact remaining time: `2026-… (14m59s left)`.
pub fn expiry(expires_at: &str, remaining_secs: u64) -> String {
    if remaining_secs == 0 {
        format!("{expires_at} (expired)")
    } else {
        format!(
            "{expires_at} ({} left)",
            ass_client::format_ttl(Duration::from_secs(remaining_secs))
        )
    }
}

/// Scopes or CIDR ranges for a key/value block: comma-separated, `empty` when there are none.
pub fn joined(items: &[String], empty: &str) -> String {
    if items.is_empty() {
        empty.to_owned()
    } else {
        items.join(", ")
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
            OperatorCommand::GenerateRoot(a) => operator_generate_root::exec(&ctx, a).await,
            OperatorCommand::RevokeRoot(a) => operator_revoke_root::exec(&ctx, a).await,
            OperatorCommand::Rotate(a) => operator_rotate::exec(&ctx, a).await,
            OperatorCommand::Rekey(a) => operator_rekey::exec(&ctx, a).await,
            OperatorCommand::Raft(r) => match r {
                RaftCommand::ListPeers(a) => operator_raft_list_peers::exec(&ctx, a).await,
                RaftCommand::AddNode(a) => operator_raft_add_node::exec(&ctx, a).await,
                RaftCommand::Promote(a) => operator_raft_promote::exec(&ctx, a).await,
                RaftCommand::RemoveNode(a) => operator_raft_remove_node::exec(&ctx, a).await,
                RaftCommand::TransferLeader(a) => {
                    operator_raft_transfer_leader::exec(&ctx, a).await
                }
                RaftCommand::AutopilotState(a) => {
                    operator_raft_autopilot_state::exec(&ctx, a).await
                }
            },
            OperatorCommand::Snapshot(s) => match s {
                SnapshotCommand::Save(a) => operator_snapshot_save::exec(&ctx, a).await,
                SnapshotCommand::Restore(a) => operator_snapshot_restore::exec(&ctx, a).await,
            },
        },
        Command::Secrets(s) => match s {
            SecretsCommand::Set(a) => secrets_set::exec(&ctx, a).await,
            SecretsCommand::Get(a) => secrets_get::exec(&ctx, a).await,
            SecretsCommand::List(a) => secrets_list::exec(&ctx, a).await,
            SecretsCommand::Versions(a) => secrets_versions::exec(&ctx, a).await,
            SecretsCommand::Delete(a) => secrets_delete::exec(&ctx, a).await,
            SecretsCommand::Stale(a) => secrets_stale::exec(&ctx, a).await,
        },
        Command::Agents(c) => match c {
            AgentsCommand::Create(a) => agents_create::exec(&ctx, a).await,
            AgentsCommand::List(a) => agents_list::exec(&ctx, a).await,
            AgentsCommand::Show(a) => agents_show::exec(&ctx, a).await,
            AgentsCommand::Revoke(a) => agents_revoke::exec(&ctx, a).await,
            AgentsCommand::RotateKey(a) => agents_rotate_key::exec(&ctx, a).await,
            AgentsCommand::Rightsize(a) => agents_rightsize::exec(&ctx, a).await,
        },
        Command::Tokens(c) => match c {
            TokensCommand::Issue(a) => tokens_issue::exec(&ctx, a).await,
            TokensCommand::List(a) => tokens_list::exec(&ctx, a).await,
            TokensCommand::Lookup(a) => tokens_lookup::exec(&ctx, a).await,
            TokensCommand::Revoke(a) => tokens_revoke::exec(&ctx, a).await,
            TokensCommand::Refresh(a) => tokens_refresh::exec(&ctx, a).await,
        },
        Command::Policy(PolicyCommand::Tokens(c)) => match c {
            PolicyTokensCommand::Show(a) => policy_tokens_show::exec(&ctx, a).await,
            PolicyTokensCommand::Set(a) => policy_tokens_set::exec(&ctx, a).await,
        },
        Command::Policy(PolicyCommand::Approvals(c)) => match c {
            PolicyApprovalsCommand::Show(a) => policy_approvals_show::exec(&ctx, a).await,
            PolicyApprovalsCommand::Set(a) => policy_approvals_set::exec(&ctx, a).await,
        },
        Command::Approvals(c) => match c {
            ApprovalsCommand::List(a) => approvals_list::exec(&ctx, a).await,
            ApprovalsCommand::Show(a) => approvals_show::exec(&ctx, a).await,
            ApprovalsCommand::Approve(a) => approvals_approve::exec(&ctx, a).await,
            ApprovalsCommand::Deny(a) => approvals_deny::exec(&ctx, a).await,
        },
        Command::Audit(a) => audit_list::exec(&ctx, a).await,
        Command::Doctor(a) => doctor_check::exec(&ctx, a).await,
        Command::Scopes(ScopesCommand::Explain(a)) => scopes_explain::exec(&ctx, a).await,
        Command::Run(a) => env_run::exec(&ctx, a).await,
        Command::Env(a) => env_print::exec(&ctx, a).await,
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
        self.source.unwrap_or(ass_client::Error::Transport(self.message))
    }
}

impl<T> NodeResult<T> {
    /// Wraps one node's outcome.
    pub fn new(address: String, r: Result<T, ass_client::Error>) -> Self {
        match r {
            Ok(v) => NodeResult { address, status: Some(v), error: None },
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
            code: "nodes_failed",
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
    fn with_only_an_agent_key_each_command_buys_its_own_scope() {
        let cli = parse(&[
            "--addr",
            "http://a:1",
            "--agent-key",
            "ass_k",
            "--token",
            "",
            "secrets",
            "list",
        ])
        .unwrap();
        let ctx = Ctx::new(&cli.global).unwrap();
        assert!(!ctx.client.has_agent_key(), "the base client holds no credential");
        let scoped = ctx.scoped("secrets:read:a/b");
        assert!(scoped.has_agent_key());
        assert!(format!("{scoped:?}").contains("secrets:read:a/b"));
        assert!(ctx.issuer().has_agent_key());
        let e = ctx.require_token("ass tokens refresh").unwrap_err();
        assert_eq!(crate::exit_code(&e), 1);
        assert!(e.to_string().contains("ASS_TOKEN"), "{e}");
    }

    #[test]
    fn with_a_token_the_scope_is_not_needed() {
        let cli = parse(&[
            "--addr",
            "http://a:1",
            "--token",
            "t",
            "--agent-key",
            "ass_k",
            "secrets",
            "list",
        ])
        .unwrap();
        let ctx = Ctx::new(&cli.global).unwrap();
        assert!(!ctx.scoped("secrets:read:a/b").has_agent_key());
        assert!(!ctx.issuer().has_agent_key());
        assert!(ctx.require_token("x").is_ok());
    }

    #[test]
    fn no_token_cache_takes_a_flag_or_a_boolish_env() {
        assert!(parse(&["--no-token-cache", "secrets", "list"]).unwrap().global.no_token_cache);
        let cmd = Cli::command();
        let arg = cmd.get_arguments().find(|a| a.get_id() == "no_token_cache").unwrap();
        assert_eq!(arg.get_env().and_then(|e| e.to_str()), Some("ASS_NO_TOKEN_CACHE"));
    }

    #[test]
    fn token_ttl_defaults_to_15m_and_parses() {
        if std::env::var_os("ASS_TOKEN_TTL").is_none() {
            let cli = parse(&["secrets", "list"]).unwrap();
            assert_eq!(cli.global.token_ttl, Duration::from_secs(900));
        }
        let cli = parse(&["--token-ttl", "1h", "secrets", "list"]).unwrap();
        assert_eq!(cli.global.token_ttl, Duration::from_secs(3600));
        assert!(parse(&["--token-ttl", "0s", "secrets", "list"]).is_err());
    }

    #[test]
    fn comma_lists_split_trim_and_repeat() {
        let v = |xs: &[&str]| xs.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(csv(&v(&["a, b", " c ", ""])), ["a", "b", "c"]);
        assert!(csv(&v(&[" , "])).is_empty());
        assert_eq!(crate::exit_code(&csv_required("--scopes", &v(&[","])).unwrap_err()), 1);
        assert_eq!(csv_required("--scopes", &v(&["x"])).unwrap(), ["x"]);
    }

    #[test]
    fn expiry_and_joined_helpers() {
        assert_eq!(expiry("T", 90), "T (1m30s left)");
        assert_eq!(expiry("T", 0), "T (expired)");
        assert_eq!(joined(&[], "any"), "any");
        assert_eq!(joined(&["a".into(), "b".into()], "-"), "a, b");
    }

    #[test]
    fn every_command_has_an_example_in_its_help() {
        fn walk(cmd: &clap::Command, path: &str) {
            let subs: Vec<_> = cmd.get_subcommands().filter(|c| c.get_name() != "help").collect();
            if subs.is_empty() {
                let help = cmd.clone().render_long_help().to_string();
                assert!(help.contains("Example"), "`{path}` --help has no example:\n{help}");
            }
            for c in subs {
                walk(c, &format!("{path} {}", c.get_name()));
            }
        }
        walk(&Cli::command(), "ass");
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
        let e = |m: &str| NodeError { code: "transport".into(), message: m.into(), source: None };
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
        assert_eq!(serde_json::to_string(&ok).unwrap(), r#"{"address":"http://a:1","status":1}"#);
        assert_eq!(
            serde_json::to_string(&bad).unwrap(),
            r#"{"address":"http://b:2","error":{"code":"transport","message":"refused"}}"#
        );
    }
}
