//! A development CA and node certificates made with rcgen: for `ass-node dev`, the test
//! harnesses and the chaos suite (which runs nodes on other IPs: pass them as extra SANs).
//! The node's own TLS loader (`ass_node::tls::TlsFiles`) reads what this writes; the node's
//! unit tests check that they agree.
//!
//! ```text
//!  DIR/ca.pem  DIR/ca-key.pem (0600)          the CA, made once, reused by every later run
//!  DIR/nodeN.pem  DIR/nodeN-key.pem (0600)    node N: SANs 127.0.0.1, localhost + extra;
//!                                             serverAuth + clientAuth (mutual TLS on the
//!                                             cluster port uses the same certificate)
//! ```
//!
//! A node certificate is reused when it exists, was signed by the CA in DIR, names every SAN
//! asked for and stays valid for at least a week; otherwise it is made anew. DEVELOPMENT ONLY:
//! the CA key sits next to the certificates.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// What went wrong making or reading dev certificates.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{what}: {source}")]
    Rcgen { what: String, source: rcgen::Error },
    #[error("{}: no PEM certificate: {detail}", path.display())]
    Pem { path: PathBuf, detail: String },
    #[error("refusing to write an empty key to {}", .0.display())]
    EmptyKey(PathBuf),
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CertError {
    let path = path.to_owned();
    move |source| CertError::Io { what, path, source }
}

fn gen(what: impl Into<String>) -> impl FnOnce(rcgen::Error) -> CertError {
    let what = what.into();
    move |source| CertError::Rcgen { what, source }
}

/// How long a dev CA is valid.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// How long a dev node certificate is valid.
const NODE_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Certificates start this long in the past, so nodes run under a skewed clock (faketime in
/// the tests) still accept them.
const BACKDATE: Duration = Duration::from_secs(7 * 24 * 3600);
/// A node certificate with less validity left than this is made anew.
const RENEW_BEFORE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Where one node's certificate and key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCertFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl NodeCertFiles {
    /// The `[tls]` section of a node config naming these files and `ca_file` (a table: put
    /// it after the top-level keys).
    pub fn toml(&self, ca_file: &Path) -> String {
        format!(
            "[tls]\ncert_file = {}\nkey_file = {}\nca_file = {}\n",
            toml_str(&self.cert_file),
            toml_str(&self.key_file),
            toml_str(ca_file)
        )
    }
}

/// A path as a TOML string.
fn toml_str(p: &Path) -> String {
    toml::Value::String(p.display().to_string()).to_string()
}

/// What [`dev_certs`] made or found.
#[derive(Debug, Clone)]
pub struct DevCerts {
    /// `DIR/ca.pem`: the `ca_file` of every node and the `--ca-cert` of clients.
    pub ca_file: PathBuf,
    /// One entry per node id asked for, in that order.
    pub nodes: Vec<(u64, NodeCertFiles)>,
}

/// The CA and node certificates of a dev cluster in `dir`: `ca.pem` and `node{id}.pem` /
/// `node{id}-key.pem` for each id, with SANs 127.0.0.1, localhost and `extra_sans` (IP
/// addresses or DNS names). Reuses what is already there and still fits.
pub fn dev_certs(
    dir: &Path,
    node_ids: &[u64],
    extra_sans: &[String],
) -> Result<DevCerts, CertError> {
    let ca = DevCa::open_or_create(dir)?;
    let mut nodes = Vec::new();
    for &id in node_ids {
        nodes.push((id, ca.node_cert(&format!("node{id}"), extra_sans)?));
    }
    Ok(DevCerts { ca_file: ca.ca_file.clone(), nodes })
}

/// A development CA kept in a directory.
pub struct DevCa {
    dir: PathBuf,
    /// `DIR/ca.pem`.
    pub ca_file: PathBuf,
    ca_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for DevCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCa").field("ca_file", &self.ca_file).finish_non_exhaustive()
    }
}

impl DevCa {
    /// Opens the CA in `dir` (`ca.pem`, `ca-key.pem`) or makes a new one there.
    pub fn open_or_create(dir: &Path) -> Result<Self, CertError> {
        std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
        let ca_file = dir.join("ca.pem");
        let key_file = dir.join("ca-key.pem");
        if ca_file.exists() && key_file.exists() {
            let pem = std::fs::read_to_string(&ca_file).map_err(io("reading", &ca_file))?;
            let key_pem = std::fs::read_to_string(&key_file).map_err(io("reading", &key_file))?;
            let key = KeyPair::from_pem(&key_pem)
                .map_err(gen(format!("{} holds no usable key", key_file.display())))?;
            let ca_der =
                pem_der(&pem).map_err(|detail| CertError::Pem { path: ca_file.clone(), detail })?;
            let issuer = Issuer::from_ca_cert_pem(&pem, key)
                .map_err(gen(format!("{} is not a usable CA certificate", ca_file.display())))?;
            return Ok(DevCa { dir: dir.to_owned(), ca_file, ca_der, issuer });
        }
        let key = KeyPair::generate().map_err(gen("generating the CA key"))?;
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(gen("CA parameters"))?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Agent Secret Store (development)");
        dn.push(DnType::CommonName, format!("ass dev CA {}", uuid::Uuid::new_v4().simple()));
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params, CA_VALIDITY);
        let cert = params.self_signed(&key).map_err(gen("signing the CA certificate"))?;
        write_private(&key_file, key.serialize_pem().as_bytes())?;
        std::fs::write(&ca_file, cert.pem()).map_err(io("writing", &ca_file))?;
        let ca_der = cert.der().to_vec();
        Ok(DevCa { dir: dir.to_owned(), ca_file, ca_der, issuer: Issuer::new(params, key) })
    }

    /// `DIR/{name}.pem` and `DIR/{name}-key.pem`: a certificate for client and server
    /// authentication with SANs 127.0.0.1, localhost and `extra_sans`. Reused when it still
    /// fits (signed by this CA, every SAN, a week of validity left).
    pub fn node_cert(&self, name: &str, extra_sans: &[String]) -> Result<NodeCertFiles, CertError> {
        let files = NodeCertFiles {
            cert_file: self.dir.join(format!("{name}.pem")),
            key_file: self.dir.join(format!("{name}-key.pem")),
        };
        let mut sans = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        for s in extra_sans {
            let s = s.trim().to_string();
            if !s.is_empty() && !sans.contains(&s) {
                sans.push(s);
            }
        }
        if self.fits(&files, &sans) {
            return Ok(files);
        }
        let key = KeyPair::generate().map_err(gen("generating a node key"))?;
        let mut params = CertificateParams::new(sans.clone())
            .map_err(gen(format!("SANs {sans:?}: each must be an IP address or a DNS name")))?;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages =
            vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages =
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, NODE_VALIDITY);
        let cert =
            params.signed_by(&key, &self.issuer).map_err(gen("signing a node certificate"))?;
        write_private(&files.key_file, key.serialize_pem().as_bytes())?;
        std::fs::write(&files.cert_file, cert.pem()).map_err(io("writing", &files.cert_file))?;
        Ok(files)
    }

    /// Whether the files exist, hold a certificate this CA signed with every SAN in `sans`,
    /// and stay valid for a while.
    fn fits(&self, files: &NodeCertFiles, sans: &[String]) -> bool {
        let (Ok(pem), true) = (std::fs::read_to_string(&files.cert_file), files.key_file.exists())
        else {
            return false;
        };
        let Ok(der) = pem_der(&pem) else { return false };
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(&der) else { return false };
        let Ok((_, ca)) = x509_parser::parse_x509_certificate(&self.ca_der) else { return false };
        if cert.issuer() != ca.subject() || cert.verify_signature(Some(ca.public_key())).is_err() {
            return false;
        }
        let renew_at = time::OffsetDateTime::now_utc() + RENEW_BEFORE;
        if cert.validity().not_after.timestamp() < renew_at.unix_timestamp() {
            return false;
        }
        let Ok(Some(alt)) = cert.subject_alternative_name() else { return false };
        let have: Vec<String> = alt
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(b) => match b.len() {
                    4 => Some(IpAddr::from(<[u8; 4]>::try_from(*b).ok()?).to_string()),
                    16 => Some(IpAddr::from(<[u8; 16]>::try_from(*b).ok()?).to_string()),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        sans.iter().all(|want| {
            let want = want.parse::<IpAddr>().map(|ip| ip.to_string()).unwrap_or(want.clone());
            have.contains(&want)
        })
    }
}

fn set_validity(params: &mut CertificateParams, valid_for: Duration) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + valid_for;
}

/// The DER bytes of the first certificate in a PEM text.
fn pem_der(pem: &str) -> Result<Vec<u8>, String> {
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| e.to_string())?;
    Ok(der.to_vec())
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CertError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut f = options.open(path).map_err(io("creating", path))?;
    f.write_all(bytes).map_err(io("writing", path))?;
    if bytes.is_empty() {
        return Err(CertError::EmptyKey(path.to_owned()));
    }
    Ok(())
}
