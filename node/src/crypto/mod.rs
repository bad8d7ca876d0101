//! Symmetric cryptography: the AEAD envelope, the keyring of data keys and the barrier that
//! encrypts every secret value before it reaches Raft or sled.
//!
//! Bytes in, bytes out: this module never sees HTTP, Raft or sled types. Key material lives in
//! [`Key`], which zeroizes on drop and prints `REDACTED`.
//!
//! ```text
//!  envelope: [format=1][term: u32 BE][nonce: 12][ciphertext ‖ tag: 16]
//!  AAD:      "ass/v1" ‖ kind ‖ 0 ‖ path ‖ 0 ‖ version BE ‖ term BE
//! ```

mod barrier;

pub use barrier::{Barrier, Keyring};

use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use rand::Rng;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of every key we use (AES-256).
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const FORMAT_V1: u8 = 1;
const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;

/// A 256-bit key. Zeroized on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct Key([u8; KEY_LEN]);

impl Key {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut k = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut k);
        Self(k)
    }

    /// Takes exactly [`KEY_LEN`] bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; KEY_LEN] = bytes.try_into().map_err(|_| CryptoError::BadKeyLength)?;
        Ok(Self(arr))
    }

    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(REDACTED)")
    }
}

/// Plaintext bytes that zeroize on drop and never print.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq, Default)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBytes(REDACTED)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("key has the wrong length")]
    BadKeyLength,
    #[error("ciphertext is malformed")]
    Malformed,
    #[error("ciphertext uses unknown key term {0}")]
    UnknownTerm(u32),
    #[error("decryption failed: wrong key or tampered data")]
    Open,
    #[error("encryption failed")]
    Seal,
}

/// What a ciphertext is bound to; part of the AAD, so a value can't be moved elsewhere.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// What kind of object this is (`secret`, `keyring`, `root-key`).
    pub kind: &'a str,
    /// Its path or name.
    pub path: &'a str,
    /// Its version (0 where the object has none).
    pub version: u64,
}

fn aad(binding: &Binding<'_>, term: u32) -> Vec<u8> {
    let mut a = Vec::with_capacity(16 + binding.kind.len() + binding.path.len());
    a.extend_from_slice(b"ass/v1");
    a.extend_from_slice(binding.kind.as_bytes());
    a.push(0);
    a.extend_from_slice(binding.path.as_bytes());
    a.push(0);
    a.extend_from_slice(&binding.version.to_be_bytes());
    a.extend_from_slice(&term.to_be_bytes());
    a
}

/// Encrypts `plaintext` under `key` into the envelope, recording `term` in its header.
pub fn seal(
    key: &Key,
    term: u32,
    binding: &Binding<'_>,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let cipher =
        Aes256GcmSiv::new_from_slice(key.as_bytes()).map_err(|_| CryptoError::BadKeyLength)?;
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let aad = aad(binding, term);
    let ct = cipher
        .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad: &aad })
        .map_err(|_| CryptoError::Seal)?;
    let mut out = Vec::with_capacity(HEADER_LEN + ct.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&term.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// The key term recorded in an envelope's header.
pub fn envelope_term(envelope: &[u8]) -> Result<u32, CryptoError> {
    if envelope.len() < HEADER_LEN + TAG_LEN || envelope[0] != FORMAT_V1 {
        return Err(CryptoError::Malformed);
    }
    Ok(u32::from_be_bytes([envelope[1], envelope[2], envelope[3], envelope[4]]))
}

/// Decrypts an envelope made by [`seal`] with the same key and binding.
pub fn open(key: &Key, binding: &Binding<'_>, envelope: &[u8]) -> Result<SecretBytes, CryptoError> {
    let term = envelope_term(envelope)?;
    let cipher =
        Aes256GcmSiv::new_from_slice(key.as_bytes()).map_err(|_| CryptoError::BadKeyLength)?;
    let nonce: [u8; NONCE_LEN] =
        envelope[5..HEADER_LEN].try_into().map_err(|_| CryptoError::Malformed)?;
    let aad = aad(binding, term);
    cipher
        .decrypt(&Nonce::from(nonce), Payload { msg: &envelope[HEADER_LEN..], aad: &aad })
        .map(SecretBytes::new)
        .map_err(|_| CryptoError::Open)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(path: &str, version: u64) -> Binding<'_> {
        Binding { kind: "secret", path, version }
    }

    #[test]
    fn round_trip() {
        let k = Key::generate();
        let env = seal(&k, 7, &b("a/b", 3), b"hello").unwrap();
        assert_eq!(envelope_term(&env).unwrap(), 7);
        assert_eq!(open(&k, &b("a/b", 3), &env).unwrap().expose(), b"hello");
    }

    #[test]
    fn binding_is_enforced() {
        let k = Key::generate();
        let env = seal(&k, 1, &b("a/b", 3), b"hello").unwrap();
        assert_eq!(open(&k, &b("a/c", 3), &env), Err(CryptoError::Open));
        assert_eq!(open(&k, &b("a/b", 4), &env), Err(CryptoError::Open));
        let other = Binding { kind: "keyring", path: "a/b", version: 3 };
        assert_eq!(open(&k, &other, &env), Err(CryptoError::Open));
        assert_eq!(open(&Key::generate(), &b("a/b", 3), &env), Err(CryptoError::Open));
    }

    #[test]
    fn tampering_is_detected() {
        let k = Key::generate();
        let mut env = seal(&k, 1, &b("a/b", 1), b"hello").unwrap();
        let last = env.len() - 1;
        env[last] ^= 1;
        assert_eq!(open(&k, &b("a/b", 1), &env), Err(CryptoError::Open));
        // A changed term in the header changes the AAD.
        let mut env = seal(&k, 1, &b("a/b", 1), b"hello").unwrap();
        env[4] = 2;
        assert_eq!(open(&k, &b("a/b", 1), &env), Err(CryptoError::Open));
        assert_eq!(open(&k, &b("a/b", 1), &env[..10]), Err(CryptoError::Malformed));
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(format!("{:?}", Key::generate()), "Key(REDACTED)");
        assert_eq!(format!("{:?}", SecretBytes::new(b"x".to_vec())), "SecretBytes(REDACTED)");
    }
}
