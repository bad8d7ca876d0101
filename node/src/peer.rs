//! The one HTTP client for every call to a peer's cluster port: Raft RPC (`raft/network.rs`),
//! the read index (`raft/read_index.rs`), forwarded writes (`http/forward.rs`) and remote
//! proposals (`node.rs`). Build it with [`PeerHttp::new`]; address a peer with
//! [`PeerHttp::post`], which picks the scheme.
//!
//! With TLS it presents this node's certificate (the cluster port demands one signed by the
//! cluster CA) and trusts only the cluster CA for the peer's server certificate, so a peer
//! is authenticated both ways before a byte of Raft traffic moves.

use std::time::Duration;

use crate::tls::TlsFiles;

/// Why the peer client could not be built (the node does not start).
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("building the peer TLS config")]
    Tls(#[source] rustls::Error),
    #[error("building the cluster HTTP client")]
    Client(#[source] reqwest::Error),
}

/// HTTP client of cluster-port calls; cheap to clone (one shared connection pool).
#[derive(Clone)]
pub struct PeerHttp {
    client: reqwest::Client,
    scheme: &'static str,
}

impl PeerHttp {
    /// Mutual TLS with `tls`, or plain HTTP when `None` (`tls_disable = true`).
    pub fn new(tls: Option<&TlsFiles>) -> Result<Self, PeerError> {
        crate::tls::install_default_provider();
        let builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none());
        let (builder, scheme) = match tls {
            Some(files) => {
                let config = files.peer_client().map_err(PeerError::Tls)?;
                (builder.tls_backend_preconfigured(config), "https")
            }
            None => (builder, "http"),
        };
        let client = builder.build().map_err(PeerError::Client)?;
        Ok(Self { client, scheme })
    }

    /// A POST to `path` on the peer whose cluster address is `cluster_addr` (`host:port`).
    pub fn post(&self, cluster_addr: &str, path: &str) -> reqwest::RequestBuilder {
        self.client.post(format!("{}://{cluster_addr}{path}", self.scheme))
    }
}
