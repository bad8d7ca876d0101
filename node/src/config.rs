//! Node configuration, read from a TOML file and checked by [`Config::validate`] at load.
//!
//! Every field has a named default below; a bad file gives an error that names the field.
//! See `cluster-config/` for commented 3-node and 5-node examples.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Default heartbeat interval of the leader, in milliseconds.
pub const DEFAULT_HEARTBEAT_MS: u64 = 100;
/// Default lower bound of the election timeout, in milliseconds.
pub const DEFAULT_ELECTION_TIMEOUT_MIN_MS: u64 = 400;
/// Default upper bound of the election timeout, in milliseconds.
pub const DEFAULT_ELECTION_TIMEOUT_MAX_MS: u64 = 800;
/// Default number of log entries after which a snapshot is built.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 5000;
/// Default number of already-snapshotted log entries kept for lagging followers.
pub const DEFAULT_KEEP_LOGS: u64 = 1000;
/// Default bound within which a node must have heard from a leader to serve stale reads.
pub const DEFAULT_STALE_READ_MAX_MS: u64 = 5000;
/// Default largest HTTP request body, in bytes.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// One node's configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This node's id; unique in the cluster, greater than 0. Required.
    pub node_id: u64,
    /// Address the HTTP API listens on (clients, load balancer). Required.
    pub api_addr: SocketAddr,
    /// Address the cluster port listens on (Raft RPC, read index, forwarded writes). Required.
    pub cluster_addr: SocketAddr,
    /// Directory for the node's sled database. Required; created if missing.
    pub data_dir: PathBuf,
    /// Every member of the initial cluster, this node included. Required.
    pub peers: Vec<Peer>,
    /// Whether this node, on its very first start with an empty log, forms the cluster from
    /// `peers` (default true). Set false on a node that joins a running cluster through
    /// `POST /v1/sys/members` (`ass operator raft add-node`).
    #[serde(default = "default_bootstrap")]
    pub bootstrap: bool,
    /// Raft timing; all fields have defaults.
    #[serde(default)]
    pub raft: RaftConfig,
    /// Read-path settings; all fields have defaults.
    #[serde(default)]
    pub reads: ReadConfig,
    /// Authentication settings; all fields have defaults.
    #[serde(default)]
    pub auth: AuthConfig,
    /// API port settings (`[api]`); all fields have defaults.
    #[serde(default)]
    pub api: ApiConfig,
    /// How the root key is protected (`[seal]`): Shamir shares (default) or an HSM.
    #[serde(default)]
    pub seal: SealSettings,
    /// Whether `GET /metrics` needs a token holding `sys:operator` (default false: Prometheus
    /// scrapes without one; the metrics carry no paths or tokens).
    #[serde(default)]
    pub metrics_require_token: bool,
    /// Largest HTTP request body in bytes (default 1 MiB); larger bodies get 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Audit log settings; all fields have defaults.
    #[serde(default)]
    pub audit: AuditConfig,
    /// Serve plain HTTP on both ports (default false). Only for a benchmark or a network that
    /// is itself encrypted: tokens, unseal shares and secrets then cross the wire in the clear,
    /// and any host that reaches the cluster port can take part in Raft. Logged loudly at start.
    #[serde(default)]
    pub tls_disable: bool,
    /// Certificates; required unless `tls_disable = true`.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Clean stop on SIGTERM/SIGINT; all fields have defaults.
    #[serde(default)]
    pub shutdown: ShutdownConfig,
    /// Dead-server cleanup (off by default) and the health rules of `autopilot-state`.
    #[serde(default)]
    pub autopilot: AutopilotConfig,
}

/// `[shutdown]`: what a node does between SIGTERM/SIGINT and its exit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// Longest wait for in-flight API requests once the node stopped accepting connections,
    /// ms (default 10000). What still runs after it is cut off.
    pub drain_timeout_ms: u64,
    /// Longest time a leader spends handing leadership to the most up-to-date follower
    /// before it stops anyway, ms (default 5000).
    pub handover_timeout_ms: u64,
}

/// Default `[shutdown] drain_timeout_ms`.
pub const DEFAULT_DRAIN_TIMEOUT_MS: u64 = 10_000;
/// Default `[shutdown] handover_timeout_ms`.
pub const DEFAULT_HANDOVER_TIMEOUT_MS: u64 = 5_000;

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            drain_timeout_ms: DEFAULT_DRAIN_TIMEOUT_MS,
            handover_timeout_ms: DEFAULT_HANDOVER_TIMEOUT_MS,
        }
    }
}

/// `[autopilot]`: when a member counts as healthy, and the opt-in removal of dead voters
/// (Vault autopilot's rule: only while a quorum of healthy voters remains, never below
/// `min_quorum` voters).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AutopilotConfig {
    /// Remove a voter the leader has not heard from for `dead_server_last_contact_threshold_ms`
    /// (default false).
    pub cleanup_dead_servers: bool,
    /// How long a voter must be unreachable before cleanup removes it, ms (default 86400000,
    /// one day; at least 10000).
    pub dead_server_last_contact_threshold_ms: u64,
    /// Cleanup never leaves fewer voters than this (default 3; at least 1).
    pub min_quorum: usize,
    /// A member whose log trails the leader's by more than this many entries is not healthy
    /// in `autopilot-state` (default 1000).
    pub max_trailing_logs: u64,
    /// A member the leader has not heard from within this many ms is not healthy (default
    /// 0: four times `raft.election_timeout_max_ms`, as `members` flags it unreachable).
    pub last_contact_threshold_ms: u64,
}

/// Default `[autopilot] dead_server_last_contact_threshold_ms`: one day.
pub const DEFAULT_DEAD_SERVER_THRESHOLD_MS: u64 = 86_400_000;

impl Default for AutopilotConfig {
    fn default() -> Self {
        Self {
            cleanup_dead_servers: false,
            dead_server_last_contact_threshold_ms: DEFAULT_DEAD_SERVER_THRESHOLD_MS,
            min_quorum: 3,
            max_trailing_logs: 1000,
            last_contact_threshold_ms: 0,
        }
    }
}

pub use crate::tls::TlsConfig;

/// Audit log settings (`[audit]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Record every request (default true). `false` is for benchmarks only: the node then
    /// keeps no audit trail at all, and says so loudly at start.
    pub enabled: bool,
    /// Events older than this are pruned, e.g. `90d`, `1y` (default `365d`; `0s`: no limit).
    pub max_age: String,
    /// Largest size of this node's audit file in bytes before the oldest events are pruned
    /// (default 1 GiB; 0: no limit).
    pub max_bytes: u64,
    /// How long a request waits for its event to be durable before it is refused with 503
    /// `audit_unavailable`, ms (default 5000).
    pub write_timeout_ms: u64,
    /// How often retention runs, ms (default 60000).
    pub prune_interval_ms: u64,
    /// `true`: every batch of events is `fdatasync`ed before its requests are answered, so an
    /// answered request's event survives even a power loss. `false` (default): a request is
    /// answered once its event is written to the file (it survives `kill -9` of the node),
    /// and the file is synced within `fsync_interval_ms`. See docs/audit.md for the cost.
    pub fsync_every_batch: bool,
    /// With `fsync_every_batch = false`: longest time written events wait for a sync, ms
    /// (default 100).
    pub fsync_interval_ms: u64,
}

/// Default audit retention by age.
pub const DEFAULT_AUDIT_MAX_AGE: &str = "365d";
/// Default audit retention by size, bytes.
pub const DEFAULT_AUDIT_MAX_BYTES: u64 = 1 << 30;
/// Default wait for a durable audit event, ms.
pub const DEFAULT_AUDIT_WRITE_TIMEOUT_MS: u64 = 5000;
/// Default longest wait of written audit events for a sync, ms.
pub const DEFAULT_AUDIT_FSYNC_INTERVAL_MS: u64 = 100;
/// Default retention interval, ms.
pub const DEFAULT_AUDIT_PRUNE_INTERVAL_MS: u64 = 60_000;

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_age: DEFAULT_AUDIT_MAX_AGE.into(),
            max_bytes: DEFAULT_AUDIT_MAX_BYTES,
            write_timeout_ms: DEFAULT_AUDIT_WRITE_TIMEOUT_MS,
            prune_interval_ms: DEFAULT_AUDIT_PRUNE_INTERVAL_MS,
            fsync_every_batch: false,
            fsync_interval_ms: DEFAULT_AUDIT_FSYNC_INTERVAL_MS,
        }
    }
}

impl AuditConfig {
    /// `max_age` as a duration; `None`: no age limit.
    pub fn max_age(&self) -> Option<std::time::Duration> {
        humantime::parse_duration(&self.max_age).ok().filter(|d| !d.is_zero())
    }
}

/// A member of the initial cluster.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// The member's node id.
    pub id: u64,
    /// Its HTTP API address (`host:port`), where forwarded clients are pointed.
    pub api_addr: String,
    /// Its cluster address (`host:port`), for Raft RPC.
    pub cluster_addr: String,
}

/// Raft timing. Defaults are raised above openraft's (50 ms / 150–300 ms) so a loaded
/// 2-core CI machine does not trigger needless elections.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaftConfig {
    /// Leader heartbeat interval, ms (default 100).
    pub heartbeat_ms: u64,
    /// Election timeout lower bound, ms (default 400). Must exceed `heartbeat_ms`.
    pub election_timeout_min_ms: u64,
    /// Election timeout upper bound, ms (default 800). Must exceed the lower bound.
    pub election_timeout_max_ms: u64,
    /// Build a snapshot after at least this many applied entries since the last one
    /// (default 5000). The interval grows with the state: a quarter of the tree entries of
    /// the last snapshot, when that is more, so snapshot cost per write stays constant.
    pub snapshot_every: u64,
    /// Entries already in a snapshot kept in the log for lagging followers (default 1000).
    pub keep_logs: u64,
}

/// Read-path settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReadConfig {
    /// A stale read is served only if this node heard from a leader within this many ms (default 5000).
    pub stale_max_ms: u64,
}

/// Authentication settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// CIDR ranges of load balancers whose forwarding header is believed (default: none;
    /// the client address is then always the socket peer).
    pub trusted_proxies: Vec<String>,
    /// Which header the trusted proxies write the client chain in: `x-forwarded-for`
    /// (default) or `forwarded` (RFC 7239). Only that one is read.
    pub forwarded_header: crate::access::allowlist::ForwardedHeader,
    /// How far this node's wall clock may run behind leader time before it stops mattering,
    /// ms (default 5000). Expiry is judged by `max(leader time, wall clock − this)`.
    pub max_clock_skew_ms: u64,
    /// Failed authentications allowed per client address per minute (default 20).
    pub max_failures_per_minute: u32,
    /// How long a dead token (expired, revoked, or of a revoked agent) stays listed before
    /// the leader's sweep removes it, ms of cluster time (default 3 600 000: an hour).
    pub dead_token_retention_ms: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            forwarded_header: Default::default(),
            max_clock_skew_ms: DEFAULT_MAX_CLOCK_SKEW_MS,
            max_failures_per_minute: DEFAULT_MAX_FAILURES_PER_MINUTE,
            dead_token_retention_ms: crate::identity::DEAD_TOKEN_RETENTION_MS,
        }
    }
}

/// API port settings (`[api]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// CIDR ranges (or IPs) of TCP load balancers that open every API connection with a PROXY
    /// protocol header, v1 or v2 (haproxy `send-proxy-v2`). The client address in the header
    /// becomes the connection's peer address. A connection from these addresses without a
    /// valid header is closed; a PROXY header from any other address is refused too
    /// (`ass_proxy_protocol_rejected_total{reason}`). Default: none.
    pub proxy_protocol_from: Vec<String>,
}

/// The seal backend (`[seal]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SealKind {
    /// Unseal key shares handed in by operators after every start.
    #[default]
    Shamir,
    /// Auto-unseal: the root key wrapped by an AES key inside a PKCS#11 HSM.
    Pkcs11,
}

/// Seal settings (`[seal]`). The HSM PIN is never in the config: `pin_file` names a file
/// holding it, or it comes from the `ASS_SEAL_PIN` environment variable.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SealSettings {
    /// `shamir` (default) or `pkcs11`.
    #[serde(rename = "type")]
    pub kind: SealKind,
    /// With `pkcs11`: the vendor's PKCS#11 library, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub library: PathBuf,
    /// With `pkcs11`: the label of the token holding the key.
    pub token_label: String,
    /// With `pkcs11`: the label of the AES-256 secret key that wraps the root key (default
    /// `ass-root`); created in the HSM beforehand, non-extractable.
    pub key_label: String,
    /// With `pkcs11`: a file holding the user PIN (mode 0600); empty: `ASS_SEAL_PIN`.
    pub pin_file: PathBuf,
}

/// Default label of the HSM wrapping key.
pub const DEFAULT_SEAL_KEY_LABEL: &str = "ass-root";

impl Default for SealSettings {
    fn default() -> Self {
        Self {
            kind: SealKind::Shamir,
            library: PathBuf::new(),
            token_label: String::new(),
            key_label: DEFAULT_SEAL_KEY_LABEL.into(),
            pin_file: PathBuf::new(),
        }
    }
}

/// Default bound on wall-clock skew, ms.
pub const DEFAULT_MAX_CLOCK_SKEW_MS: u64 = 5000;
/// Default failed authentications per client address per minute.
pub const DEFAULT_MAX_FAILURES_PER_MINUTE: u32 = 20;

fn default_bootstrap() -> bool {
    true
}

fn default_max_body_bytes() -> usize {
    DEFAULT_MAX_BODY_BYTES
}

impl Default for RaftConfig {
    fn default() -> Self {
        Self {
            heartbeat_ms: DEFAULT_HEARTBEAT_MS,
            election_timeout_min_ms: DEFAULT_ELECTION_TIMEOUT_MIN_MS,
            election_timeout_max_ms: DEFAULT_ELECTION_TIMEOUT_MAX_MS,
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
            keep_logs: DEFAULT_KEEP_LOGS,
        }
    }
}

impl Default for ReadConfig {
    fn default() -> Self {
        Self { stale_max_ms: DEFAULT_STALE_READ_MAX_MS }
    }
}

/// A configuration that can't be used, naming the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config field `{field}`: {message}")]
    Invalid { field: &'static str, message: String },
}

fn invalid(field: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { field, message: message.into() }
}

impl Config {
    /// The `[shutdown]` and `[autopilot]` rules.
    fn validate_operations(&self) -> Result<(), ConfigError> {
        if self.shutdown.drain_timeout_ms == 0 || self.shutdown.drain_timeout_ms > 600_000 {
            return Err(invalid("shutdown.drain_timeout_ms", "must be from 1 to 600000"));
        }
        if self.shutdown.handover_timeout_ms > 600_000 {
            return Err(invalid("shutdown.handover_timeout_ms", "must be at most 600000"));
        }
        let a = &self.autopilot;
        if a.dead_server_last_contact_threshold_ms < 10_000 {
            return Err(invalid(
                "autopilot.dead_server_last_contact_threshold_ms",
                "must be at least 10000 (a restart or a short partition is not a dead server)",
            ));
        }
        if a.min_quorum == 0 {
            return Err(invalid("autopilot.min_quorum", "must be at least 1"));
        }
        Ok(())
    }

    /// Reads, parses and validates a TOML file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => {
                ConfigError::Parse { path: path.to_owned(), message }
            }
            other => other,
        })
    }

    /// Parses and validates TOML text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: PathBuf::new(), message: e.to_string() })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every rule a running node relies on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.node_id == 0 {
            return Err(invalid("node_id", "must be greater than 0"));
        }
        if self.api_addr == self.cluster_addr {
            return Err(invalid(
                "cluster_addr",
                "must differ from api_addr (the cluster port is not for clients)",
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "must not be empty"));
        }
        if self.peers.is_empty() {
            return Err(invalid("peers", "must list every member, this node included"));
        }
        let mut ids = BTreeSet::new();
        let mut addrs = BTreeSet::new();
        for peer in &self.peers {
            for (field, addr) in
                [("peers.api_addr", &peer.api_addr), ("peers.cluster_addr", &peer.cluster_addr)]
            {
                if !addrs.insert(addr.as_str()) {
                    return Err(invalid(
                        field,
                        format!("peer {}: address `{addr}` is used twice in [[peers]]", peer.id),
                    ));
                }
            }
            if peer.id == 0 {
                return Err(invalid("peers.id", "must be greater than 0"));
            }
            if !ids.insert(peer.id) {
                return Err(invalid("peers.id", format!("id {} is listed twice", peer.id)));
            }
            if peer.api_addr.is_empty() || !peer.api_addr.contains(':') {
                return Err(invalid(
                    "peers.api_addr",
                    format!("peer {}: expected host:port, got `{}`", peer.id, peer.api_addr),
                ));
            }
            if peer.cluster_addr.is_empty() || !peer.cluster_addr.contains(':') {
                return Err(invalid(
                    "peers.cluster_addr",
                    format!("peer {}: expected host:port, got `{}`", peer.id, peer.cluster_addr),
                ));
            }
        }
        if !ids.contains(&self.node_id) {
            return Err(invalid(
                "peers",
                format!("this node (node_id {}) is not listed", self.node_id),
            ));
        }
        self.validate_operations()?;
        let r = &self.raft;
        if r.heartbeat_ms == 0 {
            return Err(invalid("raft.heartbeat_ms", "must be greater than 0"));
        }
        if r.election_timeout_min_ms <= r.heartbeat_ms {
            return Err(invalid(
                "raft.election_timeout_min_ms",
                "must be greater than raft.heartbeat_ms",
            ));
        }
        if r.election_timeout_max_ms <= r.election_timeout_min_ms {
            return Err(invalid(
                "raft.election_timeout_max_ms",
                "must be greater than raft.election_timeout_min_ms",
            ));
        }
        if r.snapshot_every == 0 {
            return Err(invalid("raft.snapshot_every", "must be greater than 0"));
        }
        if self.reads.stale_max_ms == 0 {
            return Err(invalid("reads.stale_max_ms", "must be greater than 0"));
        }
        for (i, cidr) in self.auth.trusted_proxies.iter().enumerate() {
            if cidr.parse::<ipnet::IpNet>().is_err() && cidr.parse::<std::net::IpAddr>().is_err() {
                return Err(invalid(
                    "auth.trusted_proxies",
                    format!("entry {i} `{cidr}` is not a CIDR range or an IP address"),
                ));
            }
        }
        for (i, cidr) in self.api.proxy_protocol_from.iter().enumerate() {
            if crate::tls::proxy_protocol::parse_net(cidr).is_none() {
                return Err(invalid(
                    "api.proxy_protocol_from",
                    format!("entry {i} `{cidr}` is not a CIDR range or an IP address"),
                ));
            }
        }
        if self.seal.kind == SealKind::Pkcs11 {
            for (field, empty) in [
                ("seal.library", self.seal.library.as_os_str().is_empty()),
                ("seal.token_label", self.seal.token_label.is_empty()),
                ("seal.key_label", self.seal.key_label.is_empty()),
            ] {
                if empty {
                    return Err(invalid(field, "is required with [seal] type = \"pkcs11\""));
                }
            }
        }
        if self.auth.dead_token_retention_ms == 0 {
            return Err(invalid("auth.dead_token_retention_ms", "must be greater than 0"));
        }
        if self.auth.max_failures_per_minute == 0 {
            return Err(invalid("auth.max_failures_per_minute", "must be greater than 0"));
        }
        if humantime::parse_duration(&self.audit.max_age).is_err() {
            return Err(invalid(
                "audit.max_age",
                format!(
                    "`{}` is not a duration (try 90d, 1y, 0s for no limit)",
                    self.audit.max_age
                ),
            ));
        }
        if self.audit.max_bytes != 0 && self.audit.max_bytes < 4096 {
            return Err(invalid("audit.max_bytes", "must be 0 (no limit) or at least 4096"));
        }
        if self.audit.write_timeout_ms == 0 {
            return Err(invalid("audit.write_timeout_ms", "must be greater than 0"));
        }
        if self.audit.fsync_interval_ms == 0 || self.audit.fsync_interval_ms > 60_000 {
            return Err(invalid("audit.fsync_interval_ms", "must be from 1 to 60000"));
        }
        if self.audit.prune_interval_ms < 100 {
            return Err(invalid("audit.prune_interval_ms", "must be at least 100"));
        }
        if self.max_body_bytes < 4096 {
            return Err(invalid("max_body_bytes", "must be at least 4096"));
        }
        if !self.tls_disable {
            let tls = self.tls.as_ref().ok_or_else(|| {
                invalid(
                    "tls",
                    "a [tls] section with cert_file, key_file and ca_file is required \
                     (or set tls_disable = true to serve plain HTTP, never in production)",
                )
            })?;
            crate::tls::TlsFiles::load(tls).map_err(|e| invalid(e.field(), e.to_string()))?;
        }
        Ok(())
    }

    /// This node's entry in `peers`.
    pub fn me(&self) -> &Peer {
        self.peers
            .iter()
            .find(|p| p.id == self.node_id)
            .expect("validate() checked that this node is listed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        tls_disable = true
        node_id = 1
        api_addr = "127.0.0.1:8201"
        cluster_addr = "127.0.0.1:8301"
        data_dir = "/tmp/x"
        [[peers]]
        id = 1
        api_addr = "127.0.0.1:8201"
        cluster_addr = "127.0.0.1:8301"
        [[peers]]
        id = 2
        api_addr = "127.0.0.1:8202"
        cluster_addr = "127.0.0.1:8302"
    "#;

    #[test]
    fn a_good_file_loads_with_defaults() {
        let c = Config::from_toml(GOOD).unwrap();
        assert_eq!(c.raft.heartbeat_ms, DEFAULT_HEARTBEAT_MS);
        assert_eq!(c.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(c.me().id, 1);
    }

    fn err_of(text: &str) -> String {
        Config::from_toml(text).unwrap_err().to_string()
    }

    #[test]
    fn each_bad_field_is_named() {
        assert!(err_of(&GOOD.replace("node_id = 1", "node_id = 0")).contains("node_id"));
        assert!(err_of(&GOOD.replace("node_id = 1", "node_id = 7")).contains("`peers`"));
        assert!(err_of(&GOOD.replace("id = 2", "id = 1")).contains("listed twice"));
        let t = format!("{GOOD}\n[raft]\nheartbeat_ms = 900\n");
        assert!(err_of(&t).contains("raft.election_timeout_min_ms"));
        let t = format!("{GOOD}\n[raft]\nelection_timeout_max_ms = 100\n");
        assert!(err_of(&t).contains("raft.election_timeout_max_ms"));
        assert!(err_of(&GOOD.replace("8301\"\n        data", "8201\"\n        data"))
            .contains("cluster_addr"));
        assert!(err_of(&format!("bogus = 1\n{GOOD}")).contains("bogus"));
        let e = err_of(&GOOD.replace("127.0.0.1:8302", "127.0.0.1:8301"));
        assert!(e.contains("peers.cluster_addr") && e.contains("used twice"), "{e}");
        let e =
            err_of(&GOOD.replace("api_addr = \"127.0.0.1:8202\"", "api_addr = \"127.0.0.1:8301\""));
        assert!(e.contains("peers.api_addr") && e.contains("used twice"), "{e}");
        assert!(err_of(&GOOD.replace(
            "api_addr = \"127.0.0.1:8201\"\n        cluster",
            "api_addr = \"nope\"\n        cluster"
        ))
        .contains("api_addr"));
    }

    /// Without `tls_disable = true` the `[tls]` section and its three files are required and
    /// must load; the error names the field and the file.
    #[test]
    fn tls_is_required_unless_disabled_and_its_files_must_load() {
        let on = GOOD.replace("tls_disable = true", "");
        let e = err_of(&on);
        assert!(e.contains("`tls`") && e.contains("tls_disable = true"), "{e}");
        let e = err_of(&GOOD.replace("tls_disable = true", "tls_disable = false"));
        assert!(e.contains("`tls`"), "{e}");
        let e = err_of(&format!(
            "{on}\n[tls]\ncert_file = \"/nonexistent/n.pem\"\nkey_file = \"/k\"\nca_file = \"/c\"\n"
        ));
        assert!(e.contains("`tls.cert_file`") && e.contains("/nonexistent/n.pem"), "{e}");
        let e = err_of(&format!("{on}\n[tls]\ncert_file = \"/x\"\n"));
        assert!(e.contains("missing field `key_file`"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        let certs = ass_testkit::dev_certs(dir.path(), &[1], &[]).unwrap();
        let n = &certs.nodes[0].1;
        let with = |cert: &Path, key: &Path, ca: &Path| {
            format!(
                "{on}\n[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\nca_file = \"{}\"\n",
                cert.display(),
                key.display(),
                ca.display()
            )
        };
        let c = Config::from_toml(&with(&n.cert_file, &n.key_file, &certs.ca_file)).unwrap();
        assert!(!c.tls_disable);
        let e = err_of(&with(&n.cert_file, &n.key_file, &n.key_file));
        assert!(e.contains("`tls.ca_file`") && e.contains("node1-key.pem"), "{e}");
        let e = err_of(&with(&n.cert_file, &certs.ca_file, &certs.ca_file));
        assert!(e.contains("`tls.key_file`") && e.contains("ca.pem"), "{e}");
    }

    #[test]
    fn shutdown_and_autopilot_settings_default_and_are_checked() {
        let c = Config::from_toml(GOOD).unwrap();
        assert_eq!(c.shutdown.drain_timeout_ms, DEFAULT_DRAIN_TIMEOUT_MS);
        assert!(!c.autopilot.cleanup_dead_servers && c.autopilot.min_quorum == 3);
        let t = format!("{GOOD}\n[shutdown]\ndrain_timeout_ms = 0\n");
        assert!(err_of(&t).contains("shutdown.drain_timeout_ms"));
        let t = format!("{GOOD}\n[autopilot]\ndead_server_last_contact_threshold_ms = 500\n");
        assert!(err_of(&t).contains("autopilot.dead_server_last_contact_threshold_ms"));
        let t = format!("{GOOD}\n[autopilot]\nmin_quorum = 0\n");
        assert!(err_of(&t).contains("autopilot.min_quorum"));
        let t = format!("{GOOD}\n[autopilot]\ncleanup_dead_servers = true\nmin_quorum = 2\n");
        let c = Config::from_toml(&t).unwrap();
        assert!(c.autopilot.cleanup_dead_servers && c.autopilot.min_quorum == 2);
        let t = format!("{GOOD}\n[shutdown]\ndrain_secs = 3\n");
        assert!(err_of(&t).contains("drain_secs"), "unknown keys are refused");
    }

    #[test]
    fn audit_settings_default_and_are_checked() {
        let c = Config::from_toml(GOOD).unwrap();
        assert!(c.audit.enabled);
        assert_eq!(c.audit.max_age(), Some(std::time::Duration::from_secs(365 * 86400)));
        assert_eq!(c.audit.max_bytes, DEFAULT_AUDIT_MAX_BYTES);
        let t = format!("{GOOD}\n[audit]\nenabled = false\nmax_age = \"0s\"\nmax_bytes = 0\n");
        let c = Config::from_toml(&t).unwrap();
        assert!(!c.audit.enabled && c.audit.max_age().is_none());
        let t = format!("{GOOD}\n[audit]\nmax_age = \"a week\"\n");
        assert!(err_of(&t).contains("audit.max_age"));
        let t = format!("{GOOD}\n[audit]\nmax_bytes = 10\n");
        assert!(err_of(&t).contains("audit.max_bytes"));
        let t = format!("{GOOD}\n[audit]\nwrite_timeout_ms = 0\n");
        assert!(err_of(&t).contains("audit.write_timeout_ms"));
    }

    /// Every `*.toml` under `cluster-config/` parses and validates, shows the documented
    /// defaults, and each example set describes one cluster: `node-3/` holds 3 files and
    /// `node-5/` 5, every file of a set lists the same peers, node ids are distinct, and each
    /// node's own addresses are its entry in the peer list.
    #[test]
    fn every_shipped_example_config_parses() {
        use std::collections::BTreeMap;

        fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) {
            let entries = std::fs::read_dir(dir)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
            for entry in entries {
                let path = entry.expect("directory entry").path();
                if path.is_dir() {
                    toml_files(&path, out);
                } else if path.extension().is_some_and(|x| x == "toml") {
                    out.push(path);
                }
            }
        }

        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cluster-config");
        let mut files = Vec::new();
        toml_files(&root, &mut files);
        files.sort();
        assert!(!files.is_empty(), "no *.toml under {}", root.display());

        // The examples point at /etc/ass/tls/; stand in dev certificates with the examples'
        // SANs there, so the files are loaded and cross-checked as a node would.
        const TLS_DIR: &str = "/etc/ass/tls/";
        let tls = tempfile::tempdir().unwrap();
        let sans: Vec<String> = (11..=15).map(|i| format!("10.0.0.{i}")).collect();
        ass_testkit::dev_certs(tls.path(), &[1, 2, 3, 4, 5], &sans).unwrap();
        let tls_dir = format!("{}/", tls.path().display());

        let mut sets: BTreeMap<PathBuf, Vec<(PathBuf, Config)>> = BTreeMap::new();
        for file in files {
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
            assert!(
                text.contains(TLS_DIR),
                "{} keeps its certificates in {TLS_DIR}",
                file.display()
            );
            let config = Config::from_toml(&text.replace(TLS_DIR, &tls_dir))
                .unwrap_or_else(|e| panic!("{} does not load: {e}", file.display()));
            // Every example runs TLS, with this node's own certificate.
            assert!(!config.tls_disable, "{}: examples keep TLS on", file.display());
            let t = config.tls.as_ref().expect("[tls]");
            let own = format!("node{}", config.node_id);
            assert!(
                t.cert_file.ends_with(format!("{own}.pem"))
                    && t.key_file.ends_with(format!("{own}-key.pem"))
                    && t.ca_file.ends_with("ca.pem"),
                "{}: {t:?}",
                file.display()
            );
            config
                .validate()
                .unwrap_or_else(|e| panic!("{} does not validate: {e}", file.display()));
            // The examples show the defaults; keep their comments honest.
            let (r, d) = (&config.raft, RaftConfig::default());
            assert_eq!(
                (
                    r.heartbeat_ms,
                    r.election_timeout_min_ms,
                    r.election_timeout_max_ms,
                    r.snapshot_every,
                    r.keep_logs
                ),
                (
                    d.heartbeat_ms,
                    d.election_timeout_min_ms,
                    d.election_timeout_max_ms,
                    d.snapshot_every,
                    d.keep_logs
                ),
                "{}: [raft] differs from the defaults",
                file.display()
            );
            assert_eq!(config.reads.stale_max_ms, DEFAULT_STALE_READ_MAX_MS, "{}", file.display());
            let (sd, ap) = (&config.shutdown, &config.autopilot);
            assert_eq!(
                (sd.drain_timeout_ms, sd.handover_timeout_ms),
                (DEFAULT_DRAIN_TIMEOUT_MS, DEFAULT_HANDOVER_TIMEOUT_MS),
                "{}",
                file.display()
            );
            assert!(!ap.cleanup_dead_servers, "{}", file.display());
            assert_eq!(
                ap.dead_server_last_contact_threshold_ms,
                DEFAULT_DEAD_SERVER_THRESHOLD_MS,
                "{}",
                file.display()
            );
            assert_eq!(config.max_body_bytes, DEFAULT_MAX_BODY_BYTES, "{}", file.display());
            let a = &config.auth;
            assert!(a.trusted_proxies.is_empty(), "{}: [auth] trusted_proxies", file.display());
            assert_eq!(a.max_clock_skew_ms, DEFAULT_MAX_CLOCK_SKEW_MS, "{}", file.display());
            assert_eq!(
                a.max_failures_per_minute,
                DEFAULT_MAX_FAILURES_PER_MINUTE,
                "{}",
                file.display()
            );
            // This node's listen addresses are the ones the others know it by.
            let me = config.me();
            assert_eq!(me.api_addr, config.api_addr.to_string(), "{}", file.display());
            assert_eq!(me.cluster_addr, config.cluster_addr.to_string(), "{}", file.display());
            let dir = file.parent().expect("file has a parent").to_path_buf();
            sets.entry(dir).or_default().push((file, config));
        }

        for (name, size) in [("node-3", 3usize), ("node-5", 5usize)] {
            let set = sets
                .get(&root.join(name))
                .unwrap_or_else(|| panic!("cluster-config/{name}/ has no *.toml"));
            assert_eq!(set.len(), size, "cluster-config/{name}/ must hold {size} files");
            let sorted = |c: &Config| {
                let mut p = c.peers.clone();
                p.sort_by_key(|p| p.id);
                p
            };
            let peers = sorted(&set[0].1);
            assert_eq!(peers.len(), size, "cluster-config/{name}: peers of a {size}-node cluster");
            for (file, config) in set {
                assert_eq!(
                    sorted(config),
                    peers,
                    "{} lists other peers than {}",
                    file.display(),
                    set[0].0.display()
                );
            }
            let ids: BTreeSet<u64> = set.iter().map(|(_, c)| c.node_id).collect();
            assert_eq!(ids.len(), size, "cluster-config/{name}: node ids repeat");
            let peer_ids: BTreeSet<u64> = peers.iter().map(|p| p.id).collect();
            assert_eq!(ids, peer_ids, "cluster-config/{name}: a peer has no file");
        }
    }
}
