//! The few API calls a launcher makes: the client that trusts the cluster's CA, a node's seal
//! status, `init` (retried under one request id until a leader answers) and `unseal` (shares
//! handed over until the node opens).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ass_client::types::{ErrorBody, InitRequest, InitResponse, SealStatus, UnsealRequest};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// What went wrong talking to a node while starting a cluster.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("reading the CA {}: {source}", path.display())]
    Ca { path: std::path::PathBuf, source: std::io::Error },
    #[error("CA: {0}")]
    Tls(String),
    #[error("building the API client: {0}")]
    Client(reqwest::Error),
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    #[error("the cluster is already initialized")]
    AlreadyInitialized,
    #[error("could not initialize the cluster within {0:?}")]
    InitTimeout(Duration),
    #[error("{url} could not be unsealed within {timeout:?}")]
    UnsealTimeout { url: String, timeout: Duration },
}

/// ring, as everywhere in the build (see docs/decisions.md).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs ring as the process's rustls provider (reqwest is built without one). Idempotent.
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A rustls client config that trusts only the CAs in `ca_pem` (for talking to the API port).
pub fn api_client_config(ca_pem: &[u8]) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    let mut n = 0;
    for c in CertificateDer::pem_slice_iter(ca_pem) {
        let c = c.map_err(|e| format!("not a PEM certificate file: {e}"))?;
        roots.add(c).map_err(|e| e.to_string())?;
        n += 1;
    }
    if n == 0 {
        return Err("no PEM certificate in the CA file".into());
    }
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// An API client builder trusting only `ca_pem` (plain HTTP when `None`), 2 s to connect.
pub fn client_builder(ca_pem: Option<&[u8]>) -> Result<reqwest::ClientBuilder, ApiError> {
    install_default_provider();
    let mut b =
        reqwest::Client::builder().connect_timeout(Duration::from_secs(2)).tcp_nodelay(true);
    if let Some(pem) = ca_pem {
        b = b.tls_backend_preconfigured(api_client_config(pem).map_err(ApiError::Tls)?);
    }
    Ok(b)
}

/// An HTTP client for the API port trusting only the CA in `ca_file` (plain HTTP when `None`).
pub fn api_client(ca_file: Option<&Path>) -> Result<reqwest::Client, ApiError> {
    let pem = match ca_file {
        Some(path) => Some(
            std::fs::read(path).map_err(|source| ApiError::Ca { path: path.to_owned(), source })?,
        ),
        None => None,
    };
    client_builder(pem.as_deref())?.build().map_err(ApiError::Client)
}

/// `GET {api_url}/v1/sys/status`; `None` if the node does not answer within `timeout`.
pub async fn status(
    http: &reqwest::Client,
    api_url: &str,
    timeout: Duration,
) -> Option<SealStatus> {
    let url = format!("{api_url}/v1/sys/status");
    let resp = http.get(url).timeout(timeout).send().await.ok()?;
    resp.json().await.ok()
}

/// `POST {api_url}/v1/sys/init` (5 shares, threshold 3), retried for 60 s under one request
/// id, so a retried init is applied once.
pub async fn init(http: &reqwest::Client, api_url: &str) -> Result<InitResponse, ApiError> {
    let limit = Duration::from_secs(60);
    let deadline = Instant::now() + limit;
    let req = InitRequest { shares: Some(5), threshold: Some(3) };
    let request_id = uuid::Uuid::new_v4().to_string();
    let url = format!("{api_url}/v1/sys/init");
    loop {
        let resp = http
            .post(&url)
            .header(ass_client::types::HEADER_REQUEST_ID, &request_id)
            .json(&req)
            .timeout(Duration::from_secs(15))
            .send()
            .await;
        if let Ok(resp) = resp {
            if resp.status().is_success() {
                return Ok(resp.json().await?);
            }
            let err: Option<ErrorBody> = resp.json().await.ok();
            if err.is_some_and(|e| e.error == "already_initialized") {
                return Err(ApiError::AlreadyInitialized);
            }
        }
        if Instant::now() > deadline {
            return Err(ApiError::InitTimeout(limit));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Hands the node at `api_url` shares until it is unsealed, waiting (up to `timeout`) for it
/// to learn of the init.
pub async fn unseal(
    http: &reqwest::Client,
    api_url: &str,
    keys: &[String],
    timeout: Duration,
) -> Result<(), ApiError> {
    let url = format!("{api_url}/v1/sys/unseal");
    let deadline = Instant::now() + timeout;
    'retry: loop {
        if Instant::now() > deadline {
            return Err(ApiError::UnsealTimeout { url: api_url.to_owned(), timeout });
        }
        for key in keys {
            let req = UnsealRequest { key: Some(key.clone()), reset: false };
            let resp = http.post(&url).json(&req).timeout(Duration::from_secs(5)).send().await;
            let Ok(resp) = resp else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue 'retry;
            };
            if !resp.status().is_success() {
                // Not initialized yet on this node: it is still catching up.
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue 'retry;
            }
            let status: SealStatus = resp.json().await?;
            if !status.sealed {
                return Ok(());
            }
        }
    }
}
