//! The keyring (data keys by term) and the barrier that uses it.
//!
//! The keyring is stored replicated, sealed under the root key; the barrier holds it opened in
//! memory while the node is unsealed and drops (zeroizes) it on seal.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{open, seal, Binding, CryptoError, Key, SecretBytes};

const KEYRING_BINDING: Binding<'static> = Binding { kind: "keyring", path: "", version: 0 };

/// Data keys by term; the highest term encrypts new values.
#[derive(Clone, Default)]
pub struct Keyring {
    keys: BTreeMap<u32, Key>,
}

#[derive(Serialize, Deserialize)]
struct KeyringWire {
    format: u8,
    keys: Vec<(u32, Vec<u8>)>,
}

impl Keyring {
    /// A keyring with one fresh key at term 1.
    pub fn new_with_first_key() -> Self {
        let mut keys = BTreeMap::new();
        keys.insert(1, Key::generate());
        Self { keys }
    }

    /// The term new values are encrypted with.
    pub fn current_term(&self) -> u32 {
        self.keys.keys().next_back().copied().unwrap_or(0)
    }

    /// Adds a fresh key at the next term and returns that term.
    pub fn rotate(&mut self) -> u32 {
        let term = self.current_term() + 1;
        self.keys.insert(term, Key::generate());
        term
    }

    /// Seals the whole keyring under the root key.
    pub fn seal_with(&self, root: &Key) -> Result<Vec<u8>, CryptoError> {
        let mut wire = KeyringWire {
            format: 1,
            keys: self.keys.iter().map(|(t, k)| (*t, k.as_bytes().to_vec())).collect(),
        };
        let bytes = postcard::to_stdvec(&wire).map_err(|_| CryptoError::Seal);
        for (_, k) in wire.keys.iter_mut() {
            zeroize::Zeroize::zeroize(k);
        }
        let bytes = SecretBytes::new(bytes?);
        seal(root, 0, &KEYRING_BINDING, bytes.expose())
    }

    /// Opens a keyring sealed by [`Keyring::seal_with`].
    pub fn open_with(root: &Key, sealed: &[u8]) -> Result<Self, CryptoError> {
        let bytes = open(root, &KEYRING_BINDING, sealed)?;
        let mut wire: KeyringWire =
            postcard::from_bytes(bytes.expose()).map_err(|_| CryptoError::Malformed)?;
        if wire.format != 1 {
            return Err(CryptoError::Malformed);
        }
        let mut keys = BTreeMap::new();
        for (term, k) in wire.keys.iter_mut() {
            keys.insert(*term, Key::from_slice(k)?);
            zeroize::Zeroize::zeroize(k);
        }
        Ok(Self { keys })
    }
}

/// Encrypts and decrypts values with the keyring. Exists only while the node is unsealed.
pub struct Barrier {
    keyring: Keyring,
    /// Kept while unsealed to seal a rotated keyring and to reload one rotated elsewhere.
    root: Key,
}

impl Barrier {
    pub fn new(root: Key, keyring: Keyring) -> Self {
        Self { keyring, root }
    }

    /// A keyring with one more term, sealed under the root key, for the leader to propose.
    pub fn rotated(&self) -> Result<(u32, Vec<u8>), CryptoError> {
        let mut next = self.keyring.clone();
        let term = next.rotate();
        Ok((term, next.seal_with(&self.root)?))
    }

    /// A barrier over a keyring sealed under this barrier's root key (after a rotation).
    pub fn reload(&self, sealed_keyring: &[u8]) -> Result<Barrier, CryptoError> {
        Ok(Barrier {
            keyring: Keyring::open_with(&self.root, sealed_keyring)?,
            root: self.root.clone(),
        })
    }

    /// The root key, to seal it under new unseal shares (rekey).
    pub fn root(&self) -> &Key {
        &self.root
    }

    pub fn current_term(&self) -> u32 {
        self.keyring.current_term()
    }

    /// Encrypts with the current term's key.
    pub fn encrypt(&self, binding: &Binding<'_>, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let term = self.keyring.current_term();
        let key = self.keyring.keys.get(&term).ok_or(CryptoError::UnknownTerm(term))?;
        seal(key, term, binding, plaintext)
    }

    /// Decrypts with the key of the term recorded in the envelope.
    pub fn decrypt(
        &self,
        binding: &Binding<'_>,
        envelope: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        let term = super::envelope_term(envelope)?;
        let key = self.keyring.keys.get(&term).ok_or(CryptoError::UnknownTerm(term))?;
        open(key, binding, envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyring_round_trips_under_the_root_key() {
        let root = Key::generate();
        let mut ring = Keyring::new_with_first_key();
        ring.rotate();
        let sealed = ring.seal_with(&root).unwrap();
        let back = Keyring::open_with(&root, &sealed).unwrap();
        assert_eq!(back.current_term(), 2);
        assert!(Keyring::open_with(&Key::generate(), &sealed).is_err());
    }

    #[test]
    fn old_terms_still_decrypt_after_rotation() {
        let mut ring = Keyring::new_with_first_key();
        let b = Binding { kind: "secret", path: "p/q", version: 1 };
        let old = Barrier::new(Key::generate(), ring.clone()).encrypt(&b, b"v1").unwrap();
        ring.rotate();
        let barrier = Barrier::new(Key::generate(), ring);
        let new = barrier.encrypt(&b, b"v2").unwrap();
        assert_eq!(super::super::envelope_term(&new).unwrap(), 2);
        assert_eq!(barrier.decrypt(&b, &old).unwrap().expose(), b"v1");
        assert_eq!(barrier.decrypt(&b, &new).unwrap().expose(), b"v2");
    }
}
