//! Init and unseal: the only code that builds the root key.
//!
//! ```text
//!  init:   unseal key ──Shamir(T of N)──> shares (shown once)
//!          root key ──AEAD(unseal key)──> sealed root key   (replicated)
//!          keyring  ──AEAD(root key)───> sealed keyring     (replicated)
//!  unseal: T shares ──combine──> unseal key ──open──> root key ──open──> keyring ──> Barrier
//! ```
//!
//! Combining wrong or too few shares gives garbage bytes, never an error, so the result is
//! always checked by opening the sealed root key: the AEAD tag decides.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vsss_rs::Gf256;
use zeroize::Zeroizing;

use crate::crypto::{self, Binding, CryptoError, Key, Keyring};

pub mod auto;
pub mod pkcs11;

/// Default number of unseal shares.
pub const DEFAULT_SHARES: u8 = 5;
/// Default number of shares needed to unseal.
pub const DEFAULT_THRESHOLD: u8 = 3;
/// Prefix of the root token.
pub const ROOT_TOKEN_PREFIX: &str = "assr_";

const ROOT_KEY_BINDING: Binding<'static> = Binding { kind: "root-key", path: "", version: 0 };
const SHARE_LEN: usize = 1 + crypto::KEY_LEN;

/// Replicated description of how the cluster is sealed. Holds no usable key by itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SealConfig {
    pub format: u8,
    pub shares: u8,
    pub threshold: u8,
    /// The root key, sealed under the unseal key that the shares rebuild.
    pub sealed_root_key: Vec<u8>,
}

/// Replicated auto-unseal state (`Command::SetAutoSeal`): the root key wrapped by a key in
/// an HSM. While it is set, the Shamir shares of [`SealConfig`] are *recovery* keys: needed
/// for generate-root, rekey and seal migration, never for a restart.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AutoSeal {
    /// The backend: `pkcs11`.
    pub kind: String,
    /// The HSM key's label (`[seal] key_label` of the node that wrapped it).
    pub key_label: String,
    /// The root key, wrapped by the HSM key.
    pub wrapped_root_key: Vec<u8>,
}

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

/// Makes fresh keys and shares for a new cluster.
pub fn init(shares: u8, threshold: u8) -> Result<InitMaterial, SealError> {
    if shares == 0 || threshold == 0 || threshold > shares {
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
    let mut token_bytes = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(token_bytes.as_mut());
    let root_token = format!("{ROOT_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(token_bytes.as_ref()));
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
    if shares == 0 || threshold == 0 || threshold > shares {
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
        let share =
            Zeroizing::new(STANDARD.decode(s.trim()).map_err(|_| SealError::MalformedShare)?);
        if share.len() != SHARE_LEN || share[0] == 0 {
            return Err(SealError::MalformedShare);
        }
        if raw.iter().any(|r| r[0] == share[0]) {
            return Err(SealError::DuplicateShare);
        }
        raw.push(share);
    }
    if raw.len() < usize::from(config.threshold) {
        return Err(SealError::WrongShares);
    }
    let unseal_bytes = combine(&raw, config.threshold).ok_or(SealError::WrongShares)?;
    let unseal_key = Key::from_slice(&unseal_bytes).map_err(|_| SealError::WrongShares)?;
    let root_bytes = crypto::open(&unseal_key, &ROOT_KEY_BINDING, &config.sealed_root_key)
        .map_err(|_| SealError::WrongShares)?;
    Key::from_slice(root_bytes.expose()).map_err(|_| SealError::WrongShares)
}

/// Shares handed in so far on this node. Pure: no I/O, no clock.
#[derive(Default)]
pub struct UnsealProgress {
    shares: Vec<Zeroizing<Vec<u8>>>,
}

/// What the shares opened: the root key and the keyring. Lives only in the unsealed barrier.
pub struct Unlocked {
    pub root: Key,
    pub keyring: Keyring,
}

/// The result of handing in one share.
pub enum Submitted {
    /// More shares are needed; this many are held.
    Progress(u8),
    /// The threshold was reached and the shares opened the root key and keyring.
    Unsealed(Unlocked),
}

impl UnsealProgress {
    pub fn count(&self) -> u8 {
        self.shares.len() as u8
    }

    /// Forgets every share held.
    pub fn reset(&mut self) {
        self.shares.clear();
    }

    /// Hands in one base64 share. At the threshold, opens the root key and the keyring; on
    /// failure the progress is reset and nothing is unsealed.
    pub fn submit(
        &mut self,
        share_b64: &str,
        config: &SealConfig,
        sealed_keyring: &[u8],
    ) -> Result<Submitted, SealError> {
        let share = Zeroizing::new(
            STANDARD.decode(share_b64.trim()).map_err(|_| SealError::MalformedShare)?,
        );
        if share.len() != SHARE_LEN || share[0] == 0 {
            return Err(SealError::MalformedShare);
        }
        if self.shares.iter().any(|s| s[0] == share[0]) {
            if self.shares.iter().any(|s| s.as_slice() == share.as_slice()) {
                return Err(SealError::DuplicateShare);
            }
            // Same id, different bytes: shares of two different inits.
            self.reset();
            return Err(SealError::WrongShares);
        }
        self.shares.push(share);
        if self.count() < config.threshold {
            return Ok(Submitted::Progress(self.count()));
        }
        let result = self.open(config, sealed_keyring);
        self.reset();
        result.map(Submitted::Unsealed)
    }

    fn open(&self, config: &SealConfig, sealed_keyring: &[u8]) -> Result<Unlocked, SealError> {
        let unseal_bytes = combine(&self.shares, config.threshold).ok_or(SealError::WrongShares)?;
        let unseal_key = Key::from_slice(&unseal_bytes).map_err(|_| SealError::WrongShares)?;
        let root_bytes = crypto::open(&unseal_key, &ROOT_KEY_BINDING, &config.sealed_root_key)
            .map_err(|_| SealError::WrongShares)?;
        let root_key = Key::from_slice(root_bytes.expose()).map_err(|_| SealError::WrongShares)?;
        let keyring = Keyring::open_with(&root_key, sealed_keyring).map_err(SealError::Crypto)?;
        Ok(Unlocked { root: root_key, keyring })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unseal_with(m: &InitMaterial, picks: &[usize]) -> Result<Submitted, SealError> {
        let mut p = UnsealProgress::default();
        let mut last = None;
        for &i in picks {
            last = Some(p.submit(&m.shares[i], &m.config, &m.sealed_keyring)?);
        }
        Ok(last.expect("at least one share"))
    }

    #[test]
    fn any_threshold_subset_unseals() {
        let m = init(5, 3).unwrap();
        for picks in [[0, 1, 2], [4, 2, 0], [1, 3, 4]] {
            assert!(matches!(unseal_with(&m, &picks), Ok(Submitted::Unsealed(_))));
        }
        assert!(matches!(unseal_with(&m, &[0, 1]), Ok(Submitted::Progress(2))));
    }

    #[test]
    fn threshold_one_and_shares_one_work() {
        let m = init(1, 1).unwrap();
        assert!(matches!(unseal_with(&m, &[0]), Ok(Submitted::Unsealed(_))));
        let m = init(3, 1).unwrap();
        assert!(matches!(unseal_with(&m, &[2]), Ok(Submitted::Unsealed(_))));
    }

    #[test]
    fn mixed_shares_fail_and_reset() {
        let a = init(5, 3).unwrap();
        let b = init(5, 3).unwrap();
        let mut p = UnsealProgress::default();
        p.submit(&a.shares[0], &a.config, &a.sealed_keyring).unwrap();
        p.submit(&b.shares[1], &a.config, &a.sealed_keyring).unwrap();
        let r = p.submit(&a.shares[2], &a.config, &a.sealed_keyring);
        assert_eq!(r.err(), Some(SealError::WrongShares));
        assert_eq!(p.count(), 0);
        // A share with an id already given, from another init, is caught at once.
        p.submit(&a.shares[0], &a.config, &a.sealed_keyring).unwrap();
        let r = p.submit(&b.shares[0], &a.config, &a.sealed_keyring);
        assert_eq!(r.err(), Some(SealError::WrongShares));
        assert_eq!(p.count(), 0);
    }

    #[test]
    fn threshold_shares_of_another_cluster_fail() {
        let a = init(5, 3).unwrap();
        let b = init(5, 3).unwrap();
        let mut p = UnsealProgress::default();
        for i in 0..2 {
            p.submit(&b.shares[i], &a.config, &a.sealed_keyring).unwrap();
        }
        let r = p.submit(&b.shares[2], &a.config, &a.sealed_keyring);
        assert_eq!(r.err(), Some(SealError::WrongShares));
    }

    #[test]
    fn bad_input_is_refused_without_progress() {
        let m = init(5, 3).unwrap();
        let mut p = UnsealProgress::default();
        for bad in ["", "not base64!", "AAAA", &STANDARD.encode([0u8; SHARE_LEN])] {
            assert_eq!(
                p.submit(bad, &m.config, &m.sealed_keyring).err(),
                Some(SealError::MalformedShare)
            );
        }
        assert_eq!(p.count(), 0);
        p.submit(&m.shares[0], &m.config, &m.sealed_keyring).unwrap();
        let r = p.submit(&m.shares[0], &m.config, &m.sealed_keyring);
        assert_eq!(r.err(), Some(SealError::DuplicateShare));
        assert_eq!(p.count(), 1);
    }

    #[test]
    fn rekeyed_shares_open_the_same_root_and_old_ones_stop() {
        let m = init(5, 3).unwrap();
        let Ok(Submitted::Unsealed(u)) = unseal_with(&m, &[0, 1, 2]) else { panic!("unseal") };
        let (config, shares) = rekey(&u.root, 3, 2).unwrap();
        let mut p = UnsealProgress::default();
        p.submit(&shares[0], &config, &m.sealed_keyring).unwrap();
        assert!(matches!(
            p.submit(&shares[2], &config, &m.sealed_keyring),
            Ok(Submitted::Unsealed(_))
        ));
        let mut p = UnsealProgress::default();
        p.submit(&m.shares[0], &config, &m.sealed_keyring).unwrap();
        assert_eq!(
            p.submit(&m.shares[1], &config, &m.sealed_keyring).err(),
            Some(SealError::WrongShares)
        );
    }

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
}
