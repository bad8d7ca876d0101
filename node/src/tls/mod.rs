//! TLS of both ports: certificate files in, rustls configurations out.
//!
//! ```text
//!  [tls] cert_file, key_file, ca_file ──> TlsFiles::load ──┬─> api_server()      clients: server auth only
//!                                                          ├─> cluster_server()  peers: mutual TLS, client
//!                                                          │                     cert signed by ca_file
//!                                                          └─> peer_client()     this node towards peers:
//!                                                                                its cert + ca_file roots
//! ```
//!
//! One crypto provider for the whole workspace: ring (see docs/decisions.md). Every config
//! here is built with it explicitly, so no process-wide default is needed for the node's own
//! TLS; [`install_default_provider`] still installs it for reqwest clients built without a
//! preconfigured config.
//!
//! The node's one certificate serves the API port and the cluster port and is also the client
//! certificate it presents to peers. [`TlsFiles::load`] checks at start what a peer will check
//! later — the chain leads to `ca_file`, the key matches, the certificate is valid now and
//! usable for client authentication — so a wrong file stops the node with an error naming the
//! field instead of a cluster that silently cannot talk.
//!
//! `serve` is the accept loop both ports run (TLS handshake per connection, with a timeout).
//! The dev CA and node certificates of local clusters are made by the launcher
//! (`ass_testkit::certs`); the tests below check that this loader accepts them.

pub mod proxy_protocol;
pub mod refusal;
pub mod serve;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use serde::{Deserialize, Serialize};

/// The `[tls]` section of the config file.
///
/// Certificate files (PEM). The node's certificate serves both ports and is also its client
/// certificate towards peers, so it needs both the serverAuth and clientAuth key usages (or no
/// extended key usage at all) and SANs for every host name or IP in `api_addr` and
/// `cluster_addr` that clients and peers dial.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The node's certificate chain (leaf first), served on the API and the cluster port.
    pub cert_file: PathBuf,
    /// The private key of `cert_file` (PKCS#8, PKCS#1 or SEC1). Keep it mode 0600.
    pub key_file: PathBuf,
    /// The cluster CA: peers on the cluster port must present a client certificate it signed,
    /// and this node checks peers' server certificates against it.
    pub ca_file: PathBuf,
}

/// The crypto provider of every TLS config in the workspace.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs ring as the process-wide default provider (needed by reqwest clients that build
/// their own rustls config). Installing twice is harmless.
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

static API_TLS: AtomicBool = AtomicBool::new(true);

/// Sets the scheme of the API URLs this process hands out (leader hints, member lists). One
/// node process serves one config, and a cluster is TLS throughout or not at all.
pub fn set_api_tls(on: bool) {
    API_TLS.store(on, Ordering::Relaxed);
}

/// `https` or `http`: the scheme clients use for this cluster's API addresses.
pub fn api_scheme() -> &'static str {
    if API_TLS.load(Ordering::Relaxed) {
        "https"
    } else {
        "http"
    }
}

/// A certificate file that can't be used; names the config field and the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct TlsError {
    field: &'static str,
    path: PathBuf,
    message: String,
}

impl TlsError {
    fn new(field: &'static str, path: &Path, message: impl Into<String>) -> Self {
        Self { field, path: path.to_owned(), message: message.into() }
    }

    /// The config field at fault (`tls.cert_file`, `tls.key_file` or `tls.ca_file`).
    pub fn field(&self) -> &'static str {
        self.field
    }
}

/// The loaded, cross-checked certificate material of one node.
pub struct TlsFiles {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    roots: Arc<RootCertStore>,
    /// notAfter of the node's certificate, Unix seconds.
    pub not_after: i64,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles")
            .field("chain", &self.chain.len())
            .field("key", &"REDACTED")
            .field("roots", &self.roots.len())
            .field("not_after", &self.not_after)
            .finish()
    }
}

impl TlsFiles {
    /// Reads the three files and checks that they fit together.
    pub fn load(tls: &TlsConfig) -> Result<Self, TlsError> {
        let (cert_f, key_f, ca_f) = ("tls.cert_file", "tls.key_file", "tls.ca_file");
        let chain = read_certs(cert_f, &tls.cert_file)?;
        let key = read_key(key_f, &tls.key_file)?;
        let ca = read_certs(ca_f, &tls.ca_file)?;
        let mut roots = RootCertStore::empty();
        for (i, c) in ca.into_iter().enumerate() {
            roots.add(c).map_err(|e| {
                TlsError::new(ca_f, &tls.ca_file, format!("certificate {} is unusable: {e}", i + 1))
            })?;
        }
        let not_after =
            not_after(&chain[0]).map_err(|m| TlsError::new(cert_f, &tls.cert_file, m))?;
        let files = TlsFiles { chain, key, roots: Arc::new(roots), not_after };
        // The key must belong to the certificate.
        files.api_server().map_err(|e| {
            TlsError::new(
                key_f,
                &tls.key_file,
                format!("does not fit the certificate in {}: {e}", tls.cert_file.display()),
            )
        })?;
        // What every peer will check of this certificate, checked now.
        let verifier = files.client_verifier().map_err(|e| {
            TlsError::new(ca_f, &tls.ca_file, format!("cannot build a verifier: {e}"))
        })?;
        verifier.verify_client_cert(&files.chain[0], &files.chain[1..], UnixTime::now()).map_err(
            |e| {
                TlsError::new(
                    cert_f,
                    &tls.cert_file,
                    format!(
                        "peers would refuse this certificate against ca_file {}: {e} (it must \
                         be signed by that CA, be valid now, and allow client authentication)",
                        tls.ca_file.display()
                    ),
                )
            },
        )?;
        Ok(files)
    }

    fn client_verifier(
        &self,
    ) -> Result<Arc<dyn ClientCertVerifier>, rustls::server::VerifierBuilderError> {
        WebPkiClientVerifier::builder_with_provider(self.roots.clone(), provider()).build()
    }

    /// The API port: server authentication only (clients authenticate with tokens).
    pub fn api_server(&self) -> Result<Arc<ServerConfig>, rustls::Error> {
        let mut c = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(c))
    }

    /// The cluster port: mutual TLS; a peer must present a certificate signed by the cluster CA.
    pub fn cluster_server(&self) -> Result<Arc<ServerConfig>, rustls::Error> {
        let verifier = self.client_verifier().map_err(|e| rustls::Error::General(e.to_string()))?;
        let mut c = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(c))
    }

    /// This node towards peers: trusts only the cluster CA and presents its own certificate.
    pub fn peer_client(&self) -> Result<ClientConfig, rustls::Error> {
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(self.roots.clone())
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
    }
}

fn read_certs(field: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes =
        std::fs::read(path).map_err(|e| TlsError::new(field, path, format!("cannot read: {e}")))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::new(field, path, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::new(
            field,
            path,
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(certs)
}

fn read_key(field: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes =
        std::fs::read(path).map_err(|e| TlsError::new(field, path, format!("cannot read: {e}")))?;
    PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| TlsError::new(field, path, format!("holds no usable PEM private key: {e}")))
}

/// notAfter of a DER certificate, Unix seconds.
pub fn not_after(cert: &CertificateDer<'_>) -> Result<i64, String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert)
        .map_err(|e| format!("cannot parse the certificate: {e}"))?;
    Ok(parsed.validity().not_after.timestamp())
}

#[cfg(test)]
mod dev_cert_tests {
    use ass_testkit::dev_certs;

    use crate::tls::{TlsConfig, TlsFiles};

    #[test]
    fn dev_certs_load_as_node_tls_and_are_reused() {
        let dir = tempfile::tempdir().unwrap();
        let certs = dev_certs(dir.path(), &[1, 2], &["10.9.0.7".into()]).unwrap();
        let n1 = &certs.nodes[0].1;
        let tls = TlsConfig {
            cert_file: n1.cert_file.clone(),
            key_file: n1.key_file.clone(),
            ca_file: certs.ca_file.clone(),
        };
        let files = TlsFiles::load(&tls).expect("dev certificates load");
        let section = n1.toml(&certs.ca_file);
        let parsed: std::collections::BTreeMap<String, TlsConfig> =
            toml::from_str(&section).unwrap();
        assert_eq!(parsed["tls"].cert_file, n1.cert_file, "{section}");
        assert!(files.not_after > time::OffsetDateTime::now_utc().unix_timestamp());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&n1.key_file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "node key is private");
            let mode =
                std::fs::metadata(dir.path().join("ca-key.pem")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "CA key is private");
        }
        let before = std::fs::read(&n1.cert_file).unwrap();
        let ca_before = std::fs::read(&certs.ca_file).unwrap();
        // Same SANs: everything reused.
        let again = dev_certs(dir.path(), &[1, 2], &["10.9.0.7".into()]).unwrap();
        assert_eq!(std::fs::read(&again.nodes[0].1.cert_file).unwrap(), before);
        assert_eq!(std::fs::read(&again.ca_file).unwrap(), ca_before);
        // A new SAN: the node certificate is made anew, by the same CA.
        let more = dev_certs(dir.path(), &[1], &["10.9.0.8".into()]).unwrap();
        assert_ne!(std::fs::read(&more.nodes[0].1.cert_file).unwrap(), before);
        assert_eq!(std::fs::read(&more.ca_file).unwrap(), ca_before);
        TlsFiles::load(&tls).expect("re-made certificate still loads against the old CA");
    }

    #[test]
    fn a_certificate_of_another_ca_is_refused_at_load() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let ca = dev_certs(a.path(), &[1], &[]).unwrap();
        let other = dev_certs(b.path(), &[1], &[]).unwrap();
        let n = &other.nodes[0].1;
        let tls = TlsConfig {
            cert_file: n.cert_file.clone(),
            key_file: n.key_file.clone(),
            ca_file: ca.ca_file.clone(),
        };
        let e = TlsFiles::load(&tls).unwrap_err();
        assert_eq!(e.field(), "tls.cert_file");
        assert!(e.to_string().contains("peers would refuse"), "{e}");
        // A key that is not the certificate's.
        let tls = TlsConfig {
            cert_file: ca.nodes[0].1.cert_file.clone(),
            key_file: n.key_file.clone(),
            ca_file: ca.ca_file.clone(),
        };
        let e = TlsFiles::load(&tls).unwrap_err();
        assert_eq!(e.field(), "tls.key_file", "{e}");
    }
}
