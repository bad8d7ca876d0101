//! The backup file: a complete, encrypted copy of the replicated state, and its checks.
//!
//! ```text
//!  file  = MAGIC "ASSSNAP\n" ‖ header_len (u32 BE) ‖ header ‖ body ‖ SHA-256(everything before)
//!  header (clear, postcard with a format byte): format, cluster id, log index and term,
//!         leader time, node, seal config (sealed root key, shares, threshold), salt, body length
//!  body  = AES-256-GCM-SIV envelope of postcard(every state-machine tree)
//!          key = HKDF-SHA256(ikm = root key, salt = header.salt, info = "ass/snapshot/v1" ‖ cluster id)
//!          AAD binds SHA-256(header) and the log index
//! ```
//!
//! The body key comes from the root key, which only the original unseal shares (through the
//! sealed root key in the header) or an unsealed node of the same cluster can produce. The
//! trailing checksum catches a damaged or cut file before any key is at hand; the AEAD tag
//! catches anything else, including a changed header. What the body holds is what every
//! node's sled already holds (ciphertext of values, hashes of credentials, metadata): the
//! outer encryption hides paths, names and scopes too. Knows no HTTP and no Raft.

use ass_client::ErrorCode;
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crypto::{self, Binding, Key};
use crate::seal::SealConfig;
use crate::storage::{decode, encode};

/// First bytes of every backup file.
pub const MAGIC: &[u8; 8] = b"ASSSNAP\n";
/// The header layout this build writes and reads.
pub const FORMAT_V1: u8 = 1;
/// Largest backup file a node accepts for restore.
pub const MAX_FILE_BYTES: usize = 32 * 1024 * 1024;
const CHECKSUM_LEN: usize = 32;
const KDF_INFO: &[u8] = b"ass/snapshot/v1";

pub use crate::storage::TreeCopy;

/// The clear header of a backup file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Header {
    pub format: u8,
    /// The cluster the state belongs to (stays the same across a restore).
    pub cluster_id: String,
    /// Log index and term the copy was taken at.
    pub index: u64,
    pub term: u64,
    /// When the copy was taken, ms since the Unix epoch (the saving node's clock).
    pub created_ms: u64,
    /// The node that made the file.
    pub node_id: u64,
    /// How the root key is sealed: the original shares rebuild the key that opens it.
    pub seal: SealConfig,
    /// Salt of the body key's derivation, fresh for every file.
    pub salt: [u8; 32],
    /// Length of the body in bytes.
    pub body_len: u64,
}

/// The encrypted part: every state-machine tree.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Body {
    pub trees: Vec<TreeCopy>,
}

/// Why a file can't be restored. Each has a stable API code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BackupError {
    #[error("not an Agent Secret Store snapshot file (bad magic or header)")]
    Invalid,
    #[error("snapshot format {0} is not supported by this version (it reads format {FORMAT_V1})")]
    UnsupportedFormat(u8),
    #[error("the snapshot file is truncated: {got} bytes, the header announces {expected}")]
    Truncated { expected: u64, got: u64 },
    #[error("the snapshot file is corrupt: {0}")]
    Corrupt(&'static str),
    #[error("the snapshot file is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge,
    #[error("the snapshot belongs to cluster {theirs}, not to this cluster ({ours})")]
    Foreign { ours: String, theirs: String },
    #[error("internal failure while making the snapshot: {0}")]
    Internal(String),
}

impl BackupError {
    /// The API error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            BackupError::Invalid => ErrorCode::SnapshotInvalid,
            BackupError::UnsupportedFormat(_) => ErrorCode::SnapshotUnsupported,
            BackupError::Truncated { .. } => ErrorCode::SnapshotTruncated,
            BackupError::Corrupt(_) => ErrorCode::SnapshotCorrupt,
            BackupError::TooLarge => ErrorCode::SnapshotTooLarge,
            BackupError::Foreign { .. } => ErrorCode::SnapshotForeign,
            BackupError::Internal(_) => ErrorCode::Internal,
        }
    }
}

fn body_key(root: &Key, salt: &[u8; 32], cluster_id: &str) -> Result<Key, BackupError> {
    let hk = Hkdf::<Sha256>::new(Some(salt), root.as_bytes());
    let mut info = KDF_INFO.to_vec();
    info.extend_from_slice(cluster_id.as_bytes());
    let mut okm = zeroize::Zeroizing::new([0u8; crypto::KEY_LEN]);
    hk.expand(&info, okm.as_mut()).map_err(|_| BackupError::Internal("hkdf".into()))?;
    Key::from_slice(okm.as_ref()).map_err(|_| BackupError::Internal("key length".into()))
}

fn binding_path(header_bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(header_bytes))
}

/// Writes a backup file of `body` under a key derived from `root`. `header.salt` and
/// `header.body_len` are filled in here.
pub fn write(mut header: Header, root: &Key, body: &Body) -> Result<Vec<u8>, BackupError> {
    let plain =
        zeroize::Zeroizing::new(encode(body).map_err(|e| BackupError::Internal(e.to_string()))?);
    let mut salt = [0u8; 32];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut salt);
    header.salt = salt;
    header.format = FORMAT_V1;
    // The envelope adds a fixed overhead: format, term, nonce and tag.
    header.body_len = (plain.len() + 1 + 4 + 12 + 16) as u64;
    let header_bytes = encode(&header).map_err(|e| BackupError::Internal(e.to_string()))?;
    let key = body_key(root, &header.salt, &header.cluster_id)?;
    let path = binding_path(&header_bytes);
    let binding = Binding { kind: "snapshot", path: &path, version: header.index };
    let sealed = crypto::seal(&key, 0, &binding, &plain)
        .map_err(|e| BackupError::Internal(e.to_string()))?;
    if sealed.len() as u64 != header.body_len {
        return Err(BackupError::Internal("envelope length changed".into()));
    }
    let mut out = Vec::with_capacity(8 + 4 + header_bytes.len() + sealed.len() + CHECKSUM_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(header_bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(&header_bytes);
    out.extend_from_slice(&sealed);
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    Ok(out)
}

/// A file whose structure and checksum are sound; its body is still sealed.
#[derive(Debug)]
pub struct Parsed<'a> {
    pub header: Header,
    header_bytes: &'a [u8],
    body: &'a [u8],
}

/// Checks the magic, the format, the lengths and the checksum, without any key.
pub fn parse(file: &[u8]) -> Result<Parsed<'_>, BackupError> {
    if file.len() > MAX_FILE_BYTES {
        return Err(BackupError::TooLarge);
    }
    if file.len() < MAGIC.len() || &file[..MAGIC.len()] != MAGIC {
        return Err(BackupError::Invalid);
    }
    let rest = &file[MAGIC.len()..];
    if rest.len() < 4 {
        return Err(BackupError::Truncated { expected: 12, got: file.len() as u64 });
    }
    let header_len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    let header_end = MAGIC.len() + 4 + header_len;
    if file.len() < header_end {
        return Err(BackupError::Truncated { expected: header_end as u64, got: file.len() as u64 });
    }
    let header_bytes = &file[MAGIC.len() + 4..header_end];
    // Peek at the format first, so a newer file says so instead of "corrupt".
    let header: Header = match decode(header_bytes) {
        Ok(h) => h,
        Err(_) => {
            let sum_ok = file.len() >= CHECKSUM_LEN && {
                let (data, sum) = file.split_at(file.len() - CHECKSUM_LEN);
                Sha256::digest(data).as_slice() == sum
            };
            return Err(if sum_ok { BackupError::Invalid } else { BackupError::Corrupt("header") });
        }
    };
    if header.format != FORMAT_V1 {
        return Err(BackupError::UnsupportedFormat(header.format));
    }
    let expected = header_end as u64 + header.body_len + CHECKSUM_LEN as u64;
    if (file.len() as u64) < expected {
        return Err(BackupError::Truncated { expected, got: file.len() as u64 });
    }
    if file.len() as u64 > expected {
        return Err(BackupError::Corrupt("bytes after the checksum"));
    }
    let body_end = header_end + header.body_len as usize;
    let sum = Sha256::digest(&file[..body_end]);
    if sum.as_slice() != &file[body_end..] {
        return Err(BackupError::Corrupt("checksum mismatch"));
    }
    Ok(Parsed { header, header_bytes, body: &file[header_end..body_end] })
}

impl Parsed<'_> {
    /// Opens the body with the root key. A wrong key and a tampered file look the same here:
    /// the AEAD tag fails.
    pub fn open(&self, root: &Key) -> Result<Body, BackupError> {
        let key = body_key(root, &self.header.salt, &self.header.cluster_id)?;
        let path = binding_path(self.header_bytes);
        let binding = Binding { kind: "snapshot", path: &path, version: self.header.index };
        let plain = crypto::open(&key, &binding, self.body)
            .map_err(|_| BackupError::Corrupt("the body does not open with this root key"))?;
        decode(plain.expose()).map_err(|_| BackupError::Corrupt("body"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Header, Key, Body) {
        let m = crate::seal::init(3, 2).unwrap();
        let header = Header {
            format: FORMAT_V1,
            cluster_id: "c0ffee".into(),
            index: 42,
            term: 3,
            created_ms: 1_700_000_000_000,
            node_id: 1,
            seal: m.config,
            salt: [0; 32],
            body_len: 0,
        };
        let body = Body {
            trees: vec![("secrets".into(), vec![(b"prod/a/B".to_vec(), b"ciphertext".to_vec())])],
        };
        (header, Key::generate(), body)
    }

    #[test]
    fn round_trips_and_hides_the_body() {
        let (h, root, body) = sample();
        let file = write(h.clone(), &root, &body).unwrap();
        assert!(!file.windows(8).any(|w| w == b"prod/a/B"), "paths are encrypted");
        let parsed = parse(&file).unwrap();
        assert_eq!(parsed.header.index, 42);
        assert_eq!(parsed.header.cluster_id, "c0ffee");
        assert_eq!(parsed.open(&root).unwrap(), body);
        // Every file has its own salt, so its own key.
        let again = write(h, &root, &body).unwrap();
        assert_ne!(parse(&again).unwrap().header.salt, parsed.header.salt);
    }

    #[test]
    fn damage_is_refused_before_any_key() {
        let (h, root, body) = sample();
        let file = write(h, &root, &body).unwrap();
        assert_eq!(parse(b"hello world, not a snapshot").unwrap_err(), BackupError::Invalid);
        assert_eq!(parse(b"").unwrap_err(), BackupError::Invalid);
        for cut in [10, 40, file.len() - 1] {
            assert!(
                matches!(parse(&file[..cut]).unwrap_err(), BackupError::Truncated { .. }),
                "cut at {cut}"
            );
        }
        for at in [14, file.len() / 2, file.len() - 40, file.len() - 1] {
            let mut bad = file.clone();
            bad[at] ^= 0x40;
            let e = parse(&bad).unwrap_err();
            assert!(
                matches!(e, BackupError::Corrupt(_) | BackupError::Truncated { .. }),
                "flip at {at}: {e:?}"
            );
        }
        let mut longer = file.clone();
        longer.push(0);
        assert!(matches!(parse(&longer).unwrap_err(), BackupError::Corrupt(_)));
    }

    #[test]
    fn a_fixed_checksum_does_not_hide_tampering_or_a_wrong_key() {
        let (h, root, body) = sample();
        let file = write(h, &root, &body).unwrap();
        // Change one body byte and recompute the checksum: the AEAD tag still fails.
        let mut bad = file.clone();
        let n = bad.len();
        bad[n - CHECKSUM_LEN - 5] ^= 1;
        let sum = Sha256::digest(&bad[..n - CHECKSUM_LEN]);
        bad[n - CHECKSUM_LEN..].copy_from_slice(&sum);
        assert!(matches!(parse(&bad).unwrap().open(&root), Err(BackupError::Corrupt(_))));
        // The right file with another cluster's root key.
        assert!(matches!(
            parse(&file).unwrap().open(&Key::generate()),
            Err(BackupError::Corrupt(_))
        ));
    }

    #[test]
    fn a_newer_format_says_so() {
        let (mut h, root, body) = sample();
        h.format = 9;
        let mut file = write(h, &root, &body).unwrap();
        // write() forces FORMAT_V1; patch the header's format field (first postcard byte
        // after the codec byte) and fix the checksum, as a newer writer would.
        file[MAGIC.len() + 4 + 1] = 9;
        let n = file.len();
        let sum = Sha256::digest(&file[..n - CHECKSUM_LEN]);
        file[n - CHECKSUM_LEN..].copy_from_slice(&sum);
        assert_eq!(parse(&file).unwrap_err(), BackupError::UnsupportedFormat(9));
    }
}
