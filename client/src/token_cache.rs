//! Reuse of the tokens an agent key buys: in memory for the life of a process, and (when the
//! caller asks, as the `ass` CLI does) on disk in the user's cache directory, so twenty CLI
//! calls of one CI job hold one token, not twenty.
//!
//! ```text
//!  session needs a token ──> memory[k] ──fresh──> use it
//!                              │ none / near expiry
//!                              └──> disk DIR/tokens/<key id>-<scopes id>.json ──fresh──> use it
//!                                     │ none / near expiry / unreadable / unsafe mode
//!                                     └──> POST /v1/tokens (agent key) ──> store in both
//!  a call answered 401 with a cached token ──> forget it in both ──> buy a new one, retry once
//! ```
//!
//! The cache key `k` is a SHA-256 over (agent key, sorted scopes, sorted node addresses): the
//! file name holds two hex digests (the key and the address set; the scopes), never the agent
//! key itself. The token is stored only in that file (mode 0600, in a directory of mode 0700
//! owned by the user); a file or directory that others could read, or that another user owns,
//! is not used. "Fresh" is the session's own rule ([`crate::should_refresh`]): more than 20 %
//! of the lifetime, and more than a minute, left. The disk cache is best effort: any error
//! reading or writing it just means a token is bought.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::session::{should_refresh, Lease};
use crate::types::IssueTokenResponse;

/// Environment variable that turns the token cache off (`1`, `true`, `yes`).
pub const ENV_NO_TOKEN_CACHE: &str = "ASS_NO_TOKEN_CACHE";

/// Format version of a cache file.
const FORMAT: u32 = 1;

/// Where tokens bought with an agent key are kept for reuse.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TokenCache {
    /// Never reused across clients: each client buys its own.
    Off,
    /// Shared by every client of this process with the same key, scopes and addresses.
    #[default]
    Memory,
    /// As `Memory`, and in files under this directory (created with mode 0700), so later
    /// processes of the same user reuse them.
    Disk(PathBuf),
}

impl TokenCache {
    /// The CLI's cache: `$XDG_CACHE_HOME/ass` or `~/.cache/ass` on disk, memory only when
    /// neither variable is set, and `Off` when `disabled` or `ASS_NO_TOKEN_CACHE` is set.
    pub fn user_default(disabled: bool) -> TokenCache {
        if disabled || env_disables() {
            return TokenCache::Off;
        }
        match user_cache_dir() {
            Some(d) => TokenCache::Disk(d.join("ass")),
            None => TokenCache::Memory,
        }
    }
}

/// Whether `ASS_NO_TOKEN_CACHE` asks for no cache.
pub fn env_disables() -> bool {
    std::env::var(ENV_NO_TOKEN_CACHE)
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

/// `$XDG_CACHE_HOME` (when absolute) or `$HOME/.cache`.
fn user_cache_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from) {
        if x.is_absolute() {
            return Some(x);
        }
    }
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".cache"))
}

/// What goes wrong reading or writing the disk cache (never shown: the cache is best effort).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CacheError {
    #[error("token cache I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("token cache file: {0}")]
    Format(#[from] serde_json::Error),
    #[error("token cache {0} is not private to this user")]
    NotPrivate(PathBuf),
}

/// Identifies what a token was bought for: file name parts, no secret in them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    /// Hex SHA-256 of the agent key and the address set.
    pub owner: String,
    /// Hex SHA-256 of the sorted scopes.
    pub scopes: String,
}

impl CacheKey {
    pub fn new(agent_key: &str, scopes: &[String], addrs: &[String]) -> CacheKey {
        let mut addrs: Vec<&str> = addrs.iter().map(String::as_str).collect();
        addrs.sort_unstable();
        addrs.dedup();
        let mut scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
        scopes.sort_unstable();
        scopes.dedup();
        let mut h = Sha256::new();
        h.update(b"ass-token-cache/v1/owner\0");
        h.update(agent_key.as_bytes());
        for a in addrs {
            h.update(b"\0");
            h.update(a.as_bytes());
        }
        let owner = hex::encode(h.finalize());
        let mut h = Sha256::new();
        h.update(b"ass-token-cache/v1/scopes");
        for s in scopes {
            h.update(b"\0");
            h.update(s.as_bytes());
        }
        CacheKey { owner, scopes: hex::encode(h.finalize()) }
    }

    fn file_name(&self) -> String {
        format!("{}-{}.json", &self.owner, &self.scopes)
    }
}

/// A cached token with its wall-clock lease (seconds since the Unix epoch).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Entry {
    pub format: u32,
    pub token: String,
    pub accessor: String,
    pub issued_unix: u64,
    pub expires_unix: u64,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("token", &"REDACTED")
            .field("accessor", &self.accessor)
            .field("issued_unix", &self.issued_unix)
            .field("expires_unix", &self.expires_unix)
            .finish()
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Entry {
    /// The entry for a token just bought (`resp`), whose lease on this process's clock is
    /// `lease`.
    pub fn of(resp: &IssueTokenResponse, lease: Lease) -> Entry {
        let now = unix_now();
        let left = lease.expires.saturating_duration_since(Instant::now()).as_secs();
        let life = lease.expires.saturating_duration_since(lease.issued).as_secs();
        let expires_unix = now + left;
        Entry {
            format: FORMAT,
            token: resp.token.clone(),
            accessor: resp.info.accessor.clone(),
            issued_unix: expires_unix.saturating_sub(life),
            expires_unix,
        }
    }

    /// Its lease on this process's monotonic clock, as seen at `now` (wall clock `unix`).
    pub fn lease_at(&self, now: Instant, unix: u64) -> Lease {
        let left = Duration::from_secs(self.expires_unix.saturating_sub(unix));
        let life = Duration::from_secs(self.expires_unix.saturating_sub(self.issued_unix));
        let expires = now + left;
        Lease { issued: expires.checked_sub(life).unwrap_or(now), expires }
    }

    /// Whether it may still be used at wall-clock `unix` without renewing it first.
    pub fn fresh_at(&self, unix: u64) -> bool {
        let now = Instant::now();
        let l = self.lease_at(now, unix);
        self.expires_unix > unix && !should_refresh(now, l.issued, l.expires)
    }
}

/// The process-wide memory cache.
fn memory() -> &'static Mutex<HashMap<CacheKey, Entry>> {
    static MEMORY: OnceLock<Mutex<HashMap<CacheKey, Entry>>> = OnceLock::new();
    MEMORY.get_or_init(|| Mutex::new(HashMap::new()))
}

fn lock_memory() -> std::sync::MutexGuard<'static, HashMap<CacheKey, Entry>> {
    memory().lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl TokenCache {
    /// A fresh token for `key`, from memory or else disk.
    pub(crate) fn load(&self, key: &CacheKey) -> Option<Entry> {
        if *self == TokenCache::Off {
            return None;
        }
        let unix = unix_now();
        if let Some(e) = lock_memory().get(key).filter(|e| e.fresh_at(unix)) {
            return Some(e.clone());
        }
        let TokenCache::Disk(dir) = self else { return None };
        let path = tokens_dir(dir).join(key.file_name());
        match read_entry(&path) {
            Ok(e) if e.fresh_at(unix) => {
                lock_memory().insert(key.clone(), e.clone());
                Some(e)
            }
            Ok(_) => {
                let _ = std::fs::remove_file(&path);
                None
            }
            Err(_) => None,
        }
    }

    /// Any fresh token bought with the same agent key for the same addresses, whatever its
    /// scopes (to look at the agent's own approval requests, which any of its tokens may).
    pub(crate) fn load_any(&self, owner: &str) -> Option<Entry> {
        if *self == TokenCache::Off {
            return None;
        }
        let unix = unix_now();
        let from_memory = lock_memory()
            .iter()
            .filter(|(k, e)| k.owner == owner && e.fresh_at(unix))
            .max_by_key(|(_, e)| e.expires_unix)
            .map(|(_, e)| e.clone());
        if from_memory.is_some() {
            return from_memory;
        }
        let TokenCache::Disk(dir) = self else { return None };
        let entries = std::fs::read_dir(tokens_dir(dir)).ok()?;
        entries
            .filter_map(Result::ok)
            .filter(|d| d.file_name().to_string_lossy().starts_with(&format!("{owner}-")))
            .filter_map(|d| read_entry(&d.path()).ok())
            .filter(|e| e.fresh_at(unix))
            .max_by_key(|e| e.expires_unix)
    }

    /// Keeps `entry` for `key`; on disk also drops files of tokens that have expired.
    pub(crate) fn store(&self, key: &CacheKey, entry: &Entry) {
        if *self == TokenCache::Off {
            return;
        }
        lock_memory().insert(key.clone(), entry.clone());
        if let TokenCache::Disk(dir) = self {
            let _ = write_entry(dir, key, entry);
            sweep(&tokens_dir(dir), unix_now());
        }
    }

    /// Forgets the cached token `token` (refused by the cluster: revoked, expired, or a
    /// cluster that never knew it), in memory and on disk, whatever key it is under.
    pub(crate) fn forget(&self, token: &str) {
        if *self == TokenCache::Off {
            return;
        }
        let mut gone = Vec::new();
        lock_memory().retain(|k, e| {
            let keep = e.token != token;
            if !keep {
                gone.push(k.clone());
            }
            keep
        });
        if let TokenCache::Disk(dir) = self {
            let tokens = tokens_dir(dir);
            for k in &gone {
                let _ = std::fs::remove_file(tokens.join(k.file_name()));
            }
            if let Ok(entries) = std::fs::read_dir(&tokens) {
                for d in entries.filter_map(Result::ok) {
                    if read_entry(&d.path()).is_ok_and(|e| e.token == token) {
                        let _ = std::fs::remove_file(d.path());
                    }
                }
            }
        }
    }
}

fn tokens_dir(dir: &Path) -> PathBuf {
    dir.join("tokens")
}

/// Reads one cache file, refusing one that others may read or another user owns.
fn read_entry(path: &Path) -> Result<Entry, CacheError> {
    let f = std::fs::File::open(path)?;
    private(&f.metadata()?, path)?;
    let e: Entry = serde_json::from_reader(std::io::BufReader::new(f))?;
    if e.format != FORMAT {
        return Err(CacheError::NotPrivate(path.to_owned()));
    }
    Ok(e)
}

/// Makes `dir` and `dir/tokens` (mode 0700) and writes the entry atomically (a mode-0600
/// temporary file renamed into place).
fn write_entry(dir: &Path, key: &CacheKey, entry: &Entry) -> Result<(), CacheError> {
    let tokens = tokens_dir(dir);
    for d in [dir, tokens.as_path()] {
        make_private_dir(d)?;
    }
    let tmp = tokens.join(format!(".{}.{}.tmp", key.file_name(), uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut f = create_private(&tmp)?;
        f.write_all(&serde_json::to_vec(entry)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, tokens.join(key.file_name()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Removes cache files whose token has expired (and temporary files left by a crash).
fn sweep(tokens: &Path, unix: u64) {
    let Ok(entries) = std::fs::read_dir(tokens) else { return };
    for d in entries.filter_map(Result::ok) {
        let name = d.file_name().to_string_lossy().into_owned();
        let stale_tmp = name.ends_with(".tmp")
            && d.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(600));
        let expired =
            name.ends_with(".json") && read_entry(&d.path()).is_ok_and(|e| e.expires_unix <= unix);
        if stale_tmp || expired {
            let _ = std::fs::remove_file(d.path());
        }
    }
}

#[cfg(unix)]
fn make_private_dir(d: &Path) -> Result<(), CacheError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(d)?;
    let meta = std::fs::metadata(d)?;
    if meta.permissions().mode() & 0o077 != 0 {
        // Ours but too open (made by an older tool or a umask): close it, then check again.
        let _ = std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700));
    }
    private(&std::fs::metadata(d)?, d)
}

#[cfg(not(unix))]
fn make_private_dir(d: &Path) -> Result<(), CacheError> {
    // No owner-only modes to check here: no disk cache.
    Err(CacheError::NotPrivate(d.to_owned()))
}

#[cfg(unix)]
fn create_private(path: &Path) -> Result<std::fs::File, CacheError> {
    use std::os::unix::fs::OpenOptionsExt;
    Ok(std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> Result<std::fs::File, CacheError> {
    Err(CacheError::NotPrivate(path.to_owned()))
}

/// Refuses a file or directory another user owns or that group or others may access.
#[cfg(unix)]
fn private(meta: &std::fs::Metadata, path: &Path) -> Result<(), CacheError> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me || meta.mode() & 0o077 != 0 {
        return Err(CacheError::NotPrivate(path.to_owned()));
    }
    Ok(())
}

#[cfg(not(unix))]
fn private(_meta: &std::fs::Metadata, path: &Path) -> Result<(), CacheError> {
    Err(CacheError::NotPrivate(path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str, scopes: &[&str], addrs: &[&str]) -> CacheKey {
        let s: Vec<String> = scopes.iter().map(|x| (*x).to_owned()).collect();
        let a: Vec<String> = addrs.iter().map(|x| (*x).to_owned()).collect();
        CacheKey::new(k, &s, &a)
    }

    fn entry(token: &str, issued: u64, expires: u64) -> Entry {
        Entry {
            format: FORMAT,
            token: token.into(),
            accessor: "acc".into(),
            issued_unix: issued,
            expires_unix: expires,
        }
    }

    #[test]
    fn key_ignores_order_but_not_content_and_never_holds_the_key() {
        let a = key("ass_SECRETKEY", &["s:2", "s:1"], &["https://b:2", "https://a:1"]);
        let b = key("ass_SECRETKEY", &["s:1", "s:2"], &["https://a:1", "https://b:2"]);
        assert_eq!(a, b, "order of scopes and addresses does not matter");
        assert_ne!(a, key("ass_OTHER", &["s:1", "s:2"], &["https://a:1", "https://b:2"]));
        assert_ne!(a.scopes, key("ass_SECRETKEY", &["s:1"], &["https://a:1"]).scopes);
        assert_ne!(a.owner, key("ass_SECRETKEY", &["s:1"], &["https://a:1"]).owner, "addr set");
        assert!(!a.file_name().contains("SECRETKEY"));
        assert_eq!(a.file_name().len(), 64 + 1 + 64 + 5);
    }

    #[test]
    fn freshness_is_the_refresh_rule_on_the_wall_clock() {
        let e = entry("t", 1000, 1900); // 15 min: fresh until 3 min are left
        assert!(e.fresh_at(1000));
        assert!(e.fresh_at(1719));
        assert!(!e.fresh_at(1721));
        assert!(!e.fresh_at(1900) && !e.fresh_at(5000));
        assert!(!entry("t", 1000, 1060).fresh_at(1031), "a 60 s token: not past half-way");
    }

    #[test]
    fn debug_hides_the_token() {
        let shown = format!("{:?}", entry("asst_TOPSECRET", 1, 2));
        assert!(!shown.contains("TOPSECRET") && shown.contains("REDACTED"), "{shown}");
    }

    #[cfg(unix)]
    #[test]
    fn disk_cache_round_trips_privately_and_forgets() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempdir();
        let dir = tmp.join("ass");
        let cache = TokenCache::Disk(dir.clone());
        let k = key("ass_K1", &["secrets:read:a/b"], &["https://a:1"]);
        let now = unix_now();
        let e = entry("asst_one", now, now + 900);
        cache.store(&k, &e);
        let file = dir.join("tokens").join(k.file_name());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("tokens")), 0o700);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("ass_K1"), "the agent key is never written");
        lock_memory().remove(&k);
        assert_eq!(cache.load(&k).as_ref().map(|e| e.token.as_str()), Some("asst_one"));
        assert_eq!(cache.load_any(&k.owner).map(|e| e.token), Some("asst_one".into()));
        // Readable by others: not used.
        lock_memory().remove(&k);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(cache.load(&k).is_none(), "a group/world-readable file is ignored");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        cache.forget("asst_one");
        assert!(!file.exists());
        assert!(cache.load(&k).is_none());
        // Near expiry: not reused, and the file goes.
        cache.store(&k, &entry("asst_old", now - 880, now + 20));
        lock_memory().remove(&k);
        assert!(cache.load(&k).is_none());
        assert!(!file.exists());
        let _ = std::fs::remove_dir_all(&tmp);
    }

    #[test]
    fn off_keeps_nothing() {
        let k = key("ass_OFF", &["x"], &["https://a:1"]);
        let now = unix_now();
        TokenCache::Off.store(&k, &entry("asst_off", now, now + 900));
        assert!(TokenCache::Off.load(&k).is_none());
        assert!(TokenCache::Memory.load(&k).is_none(), "Off stored nothing in memory either");
    }

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("ass-token-cache-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
