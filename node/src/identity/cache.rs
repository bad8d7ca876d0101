//! What the identity domain keeps in memory on one node: resolved credentials (the
//! [`AuthCache`], valid for one identity generation of the store), the failed-auth limiter and
//! the trusted proxies, together in [`AuthState`] (one field of `Node`).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use super::caller::Principal;
use crate::access::allowlist::Allowlist;
use crate::access::limiter::FailureLimiter;
use crate::access::scope::ScopeSet;

/// The identity domain's per-node memory.
pub struct AuthState {
    /// Resolved credentials, valid while the store's identity generation is unchanged.
    pub cache: AuthCache,
    /// Brute-force protection: failed authentications per client address.
    pub limiter: FailureLimiter,
    /// Load balancers whose forwarding header is believed.
    pub trusted_proxies: Vec<IpNet>,
}

impl AuthState {
    /// The state `[auth]` asks for: the limiter's allowance (failures per minute per address)
    /// and the trusted proxies (CIDR ranges or bare addresses; the config was validated at
    /// load, an entry that does not parse is left out).
    pub fn new(max_failures_per_minute: u32, trusted_proxies: &[String]) -> Self {
        Self {
            cache: AuthCache::default(),
            limiter: FailureLimiter::new(max_failures_per_minute, Duration::from_secs(60)),
            trusted_proxies: trusted_proxies
                .iter()
                .filter_map(|c| {
                    c.parse::<IpNet>().ok().or_else(|| c.parse::<IpAddr>().ok().map(IpNet::from))
                })
                .collect(),
        }
    }
}

/// What a credential resolves to on applied state: the part of a [`Caller`] that depends only
/// on state (not on the request), kept by the [`AuthCache`].
#[derive(Debug)]
pub struct Identity {
    pub principal: Principal,
    pub scopes: Option<ScopeSet>,
    /// Every allowlist the caller's address must pass (the token's and its agent's).
    pub allowlists: Vec<Allowlist>,
    /// The earliest expiry along the token's parent chain (`u64::MAX`: never).
    pub expires_ms: u64,
}

/// Credential hash → resolved [`Identity`], valid for one identity generation
/// ([`crate::storage::Store::identity_gen`]). Bounded: when full it starts over.
#[derive(Default)]
pub struct AuthCache {
    inner: std::sync::RwLock<CacheInner>,
    pub hits: std::sync::atomic::AtomicU64,
    pub misses: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct CacheInner {
    generation: u64,
    entries: std::collections::HashMap<[u8; 32], Arc<Identity>>,
}

/// Most credentials one node keeps resolved at a time.
pub const AUTH_CACHE_CAPACITY: usize = 8192;

impl AuthCache {
    /// The identity cached for `hash`, if it was resolved at `generation`.
    pub fn get(&self, hash: &[u8; 32], generation: u64) -> Option<Arc<Identity>> {
        use std::sync::atomic::Ordering::Relaxed;
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let hit = (inner.generation == generation).then(|| inner.entries.get(hash).cloned());
        match hit.flatten() {
            Some(h) => {
                self.hits.fetch_add(1, Relaxed);
                Some(h)
            }
            None => {
                self.misses.fetch_add(1, Relaxed);
                None
            }
        }
    }

    /// Keeps `identity`, resolved on state read at `generation` (or later). Entries of an
    /// older generation are dropped; an identity resolved at an older generation than the
    /// cache's is not kept.
    pub fn insert(&self, hash: [u8; 32], generation: u64, identity: Arc<Identity>) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if generation < inner.generation {
            return;
        }
        if generation > inner.generation || inner.entries.len() >= AUTH_CACHE_CAPACITY {
            inner.entries.clear();
            inner.generation = generation;
        }
        inner.entries.insert(hash, identity);
    }

    /// How many identities are cached.
    pub fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod cache_tests {
    use super::*;

    fn identity(n: u8) -> Arc<Identity> {
        Arc::new(Identity {
            principal: Principal::Agent { id: [n; 16], name: format!("a{n}") },
            scopes: None,
            allowlists: Vec::new(),
            expires_ms: u64::MAX,
        })
    }

    #[test]
    fn an_entry_serves_only_its_own_generation() {
        let cache = AuthCache::default();
        cache.insert([1; 32], 3, identity(1));
        assert!(cache.get(&[1; 32], 3).is_some());
        assert!(cache.get(&[1; 32], 4).is_none(), "a bump invalidates");
        assert!(cache.get(&[2; 32], 3).is_none());
        // An identity resolved before a bump is never kept after it.
        cache.insert([2; 32], 5, identity(2));
        cache.insert([3; 32], 4, identity(3));
        assert!(cache.get(&[3; 32], 4).is_none());
        assert!(cache.get(&[3; 32], 5).is_none());
        assert!(cache.get(&[1; 32], 5).is_none(), "the new generation starts empty");
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.hits.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[test]
    fn only_data_commands_and_ticks_leave_the_identity_generation() {
        use crate::command::Command;
        assert!(!Command::Tick.may_change_identity());
        assert!(!Command::DeleteLatest { path: "a/b".into() }.may_change_identity());
        assert!(Command::RevokeToken { accessor: [0; 16] }.may_change_identity());
        assert!(Command::RevokeAgent { id: [0; 16] }.may_change_identity());
        assert!(Command::SetRootToken { hash: None }.may_change_identity());
        assert!(
            Command::Restore { into_uninitialized: false, trees: Vec::new() }.may_change_identity()
        );
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = AuthCache::default();
        for i in 0..(AUTH_CACHE_CAPACITY as u32 + 10) {
            let mut h = [0u8; 32];
            h[..4].copy_from_slice(&i.to_be_bytes());
            cache.insert(h, 1, identity(0));
            assert!(cache.len() <= AUTH_CACHE_CAPACITY);
        }
        assert!(!cache.is_empty());
    }
}
