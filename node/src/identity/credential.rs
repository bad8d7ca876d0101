//! Fresh credentials: an agent key, a token or a root token is a prefix and 256 random bits.
//! Made on the leader, shown once in the answer that hands it out, stored only as a hash.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::Rng;

/// A fresh credential: `prefix` + 256 random bits, base64url.
pub fn new_secret_credential(prefix: &str) -> String {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(bytes.as_mut());
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes.as_ref()))
}
