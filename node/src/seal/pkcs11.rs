//! The PKCS#11 seal backend: the root key wrapped (AES-256-GCM) by an AES key that lives in
//! an HSM and never leaves it, so a node unseals itself at start with no operator.
//!
//! ```text
//!  start:  [seal] library, token_label, key_label + PIN (pin_file or ASS_SEAL_PIN)
//!            └─> load library ─> find token ─> login ─> find key ──> Hsm  (any failure: the
//!                                                                     node does not start)
//!  init / seal migrate:  root key ──C_Encrypt(AES-GCM, HSM key)──> wrapped root key (replicated)
//!  unseal (automatic):   wrapped root key ──C_Decrypt(HSM key)──> root key ──> keyring ──> Barrier
//! ```
//!
//! Wrapped format: `[1][iv: 12][ciphertext ‖ tag: 16]`, AAD `ass/v1 root-key pkcs11`.
//! The PIN is read once at start and kept only inside the PKCS#11 library's login state.

use std::path::PathBuf;
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::RvError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use rand::Rng;
use zeroize::Zeroizing;

use crate::config::SealSettings;
use crate::crypto::Key;

/// The environment variable that may hold the HSM PIN (instead of `[seal] pin_file`).
pub const PIN_ENV: &str = "ASS_SEAL_PIN";
const FORMAT_V1: u8 = 1;
const IV_LEN: usize = 12;
const TAG_BITS: u64 = 128;
const AAD: &[u8] = b"ass/v1 root-key pkcs11";

/// Why the HSM can't be used. Every message names what to check.
#[derive(Debug, thiserror::Error)]
pub enum HsmError {
    #[error("no HSM PIN: set [seal] pin_file (a file holding the PIN, mode 0600) or the {PIN_ENV} environment variable")]
    NoPin,
    #[error("cannot read the HSM PIN from [seal] pin_file {path}: {source}")]
    PinFile { path: PathBuf, source: std::io::Error },
    #[error("cannot load the PKCS#11 library [seal] library = {path}: {message}")]
    Library { path: PathBuf, message: String },
    #[error("no PKCS#11 token labelled `{label}` ([seal] token_label) in {library}; tokens present: {present:?}")]
    NoToken { label: String, library: PathBuf, present: Vec<String> },
    #[error("HSM login to token `{label}` failed: {message} (check [seal] pin_file / {PIN_ENV})")]
    Login { label: String, message: String },
    #[error("no AES secret key labelled `{key_label}` ([seal] key_label) in token `{token}`: create it in the HSM first (docs/operations.md, \"Auto-unseal with an HSM\")")]
    NoKey { key_label: String, token: String },
    #[error(
        "{count} secret keys labelled `{key_label}` in token `{token}`: labels must be unique"
    )]
    AmbiguousKey { key_label: String, token: String, count: usize },
    #[error("HSM {op} failed: {message}")]
    Op { op: &'static str, message: String },
    #[error("the wrapped root key is malformed or was wrapped by another HSM key")]
    Unwrap,
}

/// An open, logged-in session on the token, and the handle of the wrapping key.
pub struct Hsm {
    /// Held for the library's lifetime (dropping it finalizes the library).
    _ctx: Pkcs11,
    session: Mutex<Session>,
    key: ObjectHandle,
    /// `token_label/key_label`, for logs.
    pub name: String,
    pub key_label: String,
}

impl std::fmt::Debug for Hsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hsm({})", self.name)
    }
}

fn op(op: &'static str) -> impl Fn(cryptoki::error::Error) -> HsmError {
    move |e| HsmError::Op { op, message: e.to_string() }
}

/// The PIN: `pin_file` if set (trailing newline dropped), else `ASS_SEAL_PIN`.
pub fn read_pin(settings: &SealSettings) -> Result<Zeroizing<String>, HsmError> {
    if !settings.pin_file.as_os_str().is_empty() {
        let text = std::fs::read_to_string(&settings.pin_file)
            .map_err(|source| HsmError::PinFile { path: settings.pin_file.clone(), source })?;
        return Ok(Zeroizing::new(text.trim_end_matches(['\r', '\n']).to_string()));
    }
    match std::env::var(PIN_ENV) {
        Ok(pin) if !pin.is_empty() => Ok(Zeroizing::new(pin)),
        _ => Err(HsmError::NoPin),
    }
}

/// Attempts of [`Hsm::open_retrying`] and the pause between them.
const OPEN_ATTEMPTS: u32 = 10;
const OPEN_RETRY: std::time::Duration = std::time::Duration::from_millis(300);

impl HsmError {
    /// Worth another try: the token not listed (yet) or a library call failing. Never a
    /// refused PIN (the token would lock after a few) or a missing key.
    fn transient(&self) -> bool {
        matches!(self, HsmError::NoToken { .. } | HsmError::Op { .. })
    }
}

impl Hsm {
    /// [`Hsm::open`], tried again for up to 3 s while the token is not listed or a call
    /// fails (a network HSM still connecting; SoftHSM's file store while another process
    /// rewrites it).
    pub fn open_retrying(settings: &SealSettings) -> Result<Self, HsmError> {
        let mut attempt = 1;
        loop {
            match Self::open(settings) {
                Err(e) if e.transient() && attempt < OPEN_ATTEMPTS => {
                    tracing::warn!(error = %e, attempt, "HSM not ready; trying again");
                    std::thread::sleep(OPEN_RETRY);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Loads the library, logs in to the token and finds the key: everything a later unseal
    /// needs, checked now, so a wrong setting stops the node at start.
    pub fn open(settings: &SealSettings) -> Result<Self, HsmError> {
        let pin = read_pin(settings)?;
        let library = settings.library.clone();
        let ctx = Pkcs11::new(&library)
            .map_err(|e| HsmError::Library { path: library.clone(), message: e.to_string() })?;
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(|e| HsmError::Library { path: library.clone(), message: e.to_string() })?;
        let mut present = Vec::new();
        let mut slot = None;
        for s in ctx.get_slots_with_token().map_err(op("listing slots"))? {
            let info = ctx.get_token_info(s).map_err(op("reading token info"))?;
            let label = info.label().trim_end().to_string();
            if label == settings.token_label && slot.is_none() {
                slot = Some(s);
            }
            present.push(label);
        }
        let slot = slot.ok_or_else(|| HsmError::NoToken {
            label: settings.token_label.clone(),
            library: library.clone(),
            present,
        })?;
        let session = ctx.open_rw_session(slot).map_err(op("opening a session"))?;
        let auth = AuthPin::from(pin.as_str().to_string());
        match session.login(UserType::User, Some(&auth)) {
            Ok(()) => {}
            // Already logged in through another session of this process: fine.
            Err(cryptoki::error::Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            // The PIN itself was refused: final (another try would count against it).
            Err(
                e @ cryptoki::error::Error::Pkcs11(
                    RvError::PinIncorrect
                    | RvError::PinInvalid
                    | RvError::PinLenRange
                    | RvError::PinExpired
                    | RvError::PinLocked,
                    _,
                ),
            ) => {
                return Err(HsmError::Login {
                    label: settings.token_label.clone(),
                    message: e.to_string(),
                })
            }
            // Anything else (SoftHSM's CKR_GENERAL_ERROR while another process rewrites its
            // store, a device error): worth another try.
            Err(e) => return Err(HsmError::Op { op: "login", message: e.to_string() }),
        }
        let keys = session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Label(settings.key_label.as_bytes().to_vec()),
            ])
            .map_err(op("finding the key"))?;
        let key = match keys.as_slice() {
            [k] => *k,
            [] => {
                return Err(HsmError::NoKey {
                    key_label: settings.key_label.clone(),
                    token: settings.token_label.clone(),
                })
            }
            more => {
                return Err(HsmError::AmbiguousKey {
                    key_label: settings.key_label.clone(),
                    token: settings.token_label.clone(),
                    count: more.len(),
                })
            }
        };
        Ok(Self {
            _ctx: ctx,
            session: Mutex::new(session),
            key,
            name: format!("{}/{}", settings.token_label, settings.key_label),
            key_label: settings.key_label.clone(),
        })
    }

    /// Wraps the root key under the HSM key.
    pub fn wrap(&self, root: &Key) -> Result<Vec<u8>, HsmError> {
        let mut iv = [0u8; IV_LEN];
        rand::rng().fill_bytes(&mut iv);
        let mut iv_param = iv;
        let params =
            GcmParams::new(&mut iv_param, AAD, TAG_BITS.into()).map_err(op("GCM parameters"))?;
        let session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let ct = session
            .encrypt(&Mechanism::AesGcm(params), self.key, root.as_bytes())
            .map_err(op("encrypt (wrap the root key)"))?;
        let mut out = Vec::with_capacity(1 + IV_LEN + ct.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&iv);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Unwraps a root key wrapped by [`Hsm::wrap`] with this HSM key.
    pub fn unwrap(&self, wrapped: &[u8]) -> Result<Key, HsmError> {
        if wrapped.len() < 1 + IV_LEN + 16 || wrapped[0] != FORMAT_V1 {
            return Err(HsmError::Unwrap);
        }
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&wrapped[1..1 + IV_LEN]);
        let params = GcmParams::new(&mut iv, AAD, TAG_BITS.into()).map_err(op("GCM parameters"))?;
        let session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let plain = Zeroizing::new(
            session
                .decrypt(&Mechanism::AesGcm(params), self.key, &wrapped[1 + IV_LEN..])
                .map_err(|_| HsmError::Unwrap)?,
        );
        Key::from_slice(&plain).map_err(|_| HsmError::Unwrap)
    }
}
