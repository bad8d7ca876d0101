//! Key material: the only code that builds the root key.
//!
//! ```text
//!  init:   unseal key ──Shamir(T of N)──> shares (shown once)
//!          root key ──AEAD(unseal key)──> sealed root key   (replicated)
//!          keyring  ──AEAD(root key)───> sealed keyring     (replicated)
//!  unseal: T shares ──combine──> unseal key ──open──> root key ──open──> keyring ──> Barrier
//! ```
//!
//! Combining wrong or too few shares gives garbage bytes, never an error, so the result is
//! always checked by opening the sealed root key: the AEAD tag decides. Pure: no I/O, no
//! clock (randomness only for new keys). Handing shares in one at a time is
//! [`super::engine::UnsealProgress`].

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::Rng;
use sha2::{Digest, Sha256};
use vsss_rs::Gf256;
use zeroize::Zeroizing;

use crate::crypto::{self, Binding, CryptoError, Key, Keyring};

use super::record::{SealConfig, ROOT_TOKEN_PREFIX};

const ROOT_KEY_BINDING: Binding<'static> = Binding { kind: "root-key", path: "", version: 0 };
pub(crate) const SHARE_LEN: usize = 1 + crypto::KEY_LEN;

/// What `init` makes: the replicated part and the part shown once to the operator.
pub struct InitMaterial {
    /// The root key, for an auto-unseal backend to wrap; never stored in the clear.
    pub root: Key,
    pub config: SealConfig,
    pub sealed_keyring: Vec<u8>,
    pub root_token_hash: [u8; 32],
    /// Base64 shares, for the operator only.
    pub shares: Vec<String>,
    /// The root token, for the operator only.
    pub root_token: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("shares must be between 1 and 255 and threshold between 1 and shares (got {shares} shares, threshold {threshold})")]
    BadParameters { shares: u8, threshold: u8 },
    #[error("unseal key share is malformed: expected base64 of {SHARE_LEN} bytes")]
    MalformedShare,
    #[error("this unseal key share was already given")]
    DuplicateShare,
    #[error("the unseal key shares do not open this cluster's root key (wrong or mixed shares); progress was reset")]
    WrongShares,
    #[error("internal crypto failure: {0}")]
    Crypto(CryptoError),
}

/// SHA-256 of a bearer credential; what the cluster stores instead of the credential.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A fresh root token: the prefix and 256 random bits, base64url.
pub fn new_root_token() -> String {
    let mut token_bytes = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(token_bytes.as_mut());
    format!("{ROOT_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(token_bytes.as_ref()))
}

/// Makes fresh keys and shares for a new cluster.
pub fn init(shares: u8, threshold: u8) -> Result<InitMaterial, SealError> {
    if !parameters_ok(shares, threshold) {
        return Err(SealError::BadParameters { shares, threshold });
    }
    let unseal_key = Key::generate();
    let root_key = Key::generate();
    let keyring = Keyring::new_with_first_key();
    let sealed_root_key = crypto::seal(&unseal_key, 0, &ROOT_KEY_BINDING, root_key.as_bytes())
        .map_err(SealError::Crypto)?;
    let sealed_keyring = keyring.seal_with(&root_key).map_err(SealError::Crypto)?;
    let raw = split(&unseal_key, shares, threshold)?;
    let shares_b64 = raw.iter().map(|s| STANDARD.encode(s.as_slice())).collect();
    let root_token = new_root_token();
    Ok(InitMaterial {
        root: root_key,
        config: SealConfig { format: 1, shares, threshold, sealed_root_key },
        sealed_keyring,
        root_token_hash: hash_token(&root_token),
        shares: shares_b64,
        root_token,
    })
}

/// New unseal shares for the same root key: the root key is sealed under a fresh unseal key,
/// so the old shares stop opening it. Nothing else is re-encrypted.
pub fn rekey(
    root: &Key,
    shares: u8,
    threshold: u8,
) -> Result<(SealConfig, Vec<String>), SealError> {
    if !parameters_ok(shares, threshold) {
        return Err(SealError::BadParameters { shares, threshold });
    }
    let unseal_key = Key::generate();
    let sealed_root_key = crypto::seal(&unseal_key, 0, &ROOT_KEY_BINDING, root.as_bytes())
        .map_err(SealError::Crypto)?;
    let raw = split(&unseal_key, shares, threshold)?;
    let encoded = raw.iter().map(|s| STANDARD.encode(s.as_slice())).collect();
    Ok((SealConfig { format: 1, shares, threshold, sealed_root_key }, encoded))
}

fn split(key: &Key, shares: u8, threshold: u8) -> Result<Vec<Zeroizing<Vec<u8>>>, SealError> {
    if threshold == 1 {
        // Shamir needs a threshold of at least 2; with 1 every share is the key itself.
        return Ok((1..=shares)
            .map(|id| {
                let mut s = Zeroizing::new(Vec::with_capacity(SHARE_LEN));
                s.push(id);
                s.extend_from_slice(key.as_bytes());
                s
            })
            .collect());
    }
    let raw = Gf256::split_bytes(threshold as usize, shares as usize, key.as_bytes(), rand::rng())
        .map_err(|_| SealError::BadParameters { shares, threshold })?;
    Ok(raw.into_iter().map(Zeroizing::new).collect())
}

fn combine(shares: &[Zeroizing<Vec<u8>>], threshold: u8) -> Option<Zeroizing<Vec<u8>>> {
    if threshold == 1 {
        return shares.first().map(|s| Zeroizing::new(s[1..].to_vec()));
    }
    let plain: Vec<Vec<u8>> = shares.iter().map(|s| s.to_vec()).collect();
    let out = Gf256::combine_bytes(&plain).ok().map(Zeroizing::new);
    for mut s in plain {
        zeroize::Zeroize::zeroize(&mut s);
    }
    out
}

/// Rebuilds the root key from a threshold of unseal key shares of `config` (a restore
/// into a new cluster: no keyring is at hand yet). The AEAD tag of the sealed root key
/// decides: wrong, mixed or too few shares give [`SealError::WrongShares`].
pub fn root_from_shares(shares: &[String], config: &SealConfig) -> Result<Key, SealError> {
    let mut raw: Vec<Zeroizing<Vec<u8>>> = Vec::with_capacity(shares.len());
    for s in shares {
        let share = decode_share(s)?;
        if raw.iter().any(|r| r[0] == share[0]) {
            return Err(SealError::DuplicateShare);
        }
        raw.push(share);
    }
    if raw.len() < usize::from(config.threshold) {
        return Err(SealError::WrongShares);
    }
    open_root(&raw, config)
}

/// Whether `shares` and `threshold` make a valid split: 1 to 255 shares, threshold 1 to
/// shares.
pub fn parameters_ok(shares: u8, threshold: u8) -> bool {
    shares != 0 && threshold != 0 && threshold <= shares
}

/// Decodes one base64 share and checks its shape.
pub(crate) fn decode_share(share_b64: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let share =
        Zeroizing::new(STANDARD.decode(share_b64.trim()).map_err(|_| SealError::MalformedShare)?);
    if share.len() != SHARE_LEN || share[0] == 0 {
        return Err(SealError::MalformedShare);
    }
    Ok(share)
}

/// Combines a threshold of raw shares and opens the sealed root key and the keyring with it.
pub(crate) fn open(
    shares: &[Zeroizing<Vec<u8>>],
    config: &SealConfig,
    sealed_keyring: &[u8],
) -> Result<(Key, Keyring), SealError> {
    let root_key = open_root(shares, config)?;
    let keyring = Keyring::open_with(&root_key, sealed_keyring).map_err(SealError::Crypto)?;
    Ok((root_key, keyring))
}

/// Combines raw shares and opens the sealed root key: the AEAD tag decides.
fn open_root(shares: &[Zeroizing<Vec<u8>>], config: &SealConfig) -> Result<Key, SealError> {
    let unseal_bytes = combine(shares, config.threshold).ok_or(SealError::WrongShares)?;
    let unseal_key = Key::from_slice(&unseal_bytes).map_err(|_| SealError::WrongShares)?;
    let root_bytes = crypto::open(&unseal_key, &ROOT_KEY_BINDING, &config.sealed_root_key)
        .map_err(|_| SealError::WrongShares)?;
    Key::from_slice(root_bytes.expose()).map_err(|_| SealError::WrongShares)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::engine::tests::unseal_with;
    use crate::seal::engine::Submitted;

    #[test]
    fn root_from_shares_needs_the_threshold_of_the_right_shares() {
        let m = init(5, 3).unwrap();
        let other = init(5, 3).unwrap();
        let Ok(Submitted::Unsealed(u)) = unseal_with(&m, &[0, 1, 2]) else { panic!("unseal") };
        let root = root_from_shares(&m.shares[2..5], &m.config).unwrap();
        assert_eq!(root, u.root);
        assert_eq!(root_from_shares(&m.shares[..2], &m.config).err(), Some(SealError::WrongShares));
        assert_eq!(
            root_from_shares(&other.shares[..3], &m.config).err(),
            Some(SealError::WrongShares)
        );
        let dup = vec![m.shares[0].clone(), m.shares[0].clone(), m.shares[1].clone()];
        assert_eq!(root_from_shares(&dup, &m.config).err(), Some(SealError::DuplicateShare));
        let bad = vec!["nope".to_string()];
        assert_eq!(root_from_shares(&bad, &m.config).err(), Some(SealError::MalformedShare));
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(init(0, 0).is_err());
        assert!(init(3, 4).is_err());
        assert!(init(3, 0).is_err());
    }

    #[test]
    fn root_token_is_stored_only_as_hash() {
        let m = init(1, 1).unwrap();
        assert!(m.root_token.starts_with(ROOT_TOKEN_PREFIX));
        assert_eq!(m.root_token_hash, hash_token(&m.root_token));
    }
    #[test]
    fn parameters_ok_is_the_init_rule() {
        for shares in 0..=255u8 {
            for threshold in 0..=255u8 {
                let ok = parameters_ok(shares, threshold);
                assert_eq!(ok, shares >= 1 && threshold >= 1 && threshold <= shares);
            }
        }
        assert!(init(3, 2).is_ok());
        assert_eq!(init(2, 3).err(), Some(SealError::BadParameters { shares: 2, threshold: 3 }));
    }
}
