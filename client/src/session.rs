//! The client's credential: a fixed token, or an agent key that is exchanged for short-lived,
//! minimum-scope tokens, kept fresh before they expire.
//!
//! ```text
//!  call ──> session token? ──fresh──────────────────────────────────────> bearer
//!              │ none, agent key         │ within the refresh margin of expiry
//!              └──> POST /v1/tokens      └──> POST /v1/tokens/refresh ──ok──> bearer
//!                   (agent key bearer)             │ 401 (or expired) and an agent key
//!                                                  └──> POST /v1/tokens (agent key)
//! ```
//!
//! A token bought with an agent key is kept in the client's [`TokenCache`] (memory, and on
//! disk for the CLI) and reused by later clients and processes with the same key, scopes and
//! addresses until it is near expiry; an authenticated call answered 401 (the token was
//! revoked or expired, or the cluster never knew it) drops it from the cache, buys a new one
//! and is sent once more. See `token_cache.rs`.
//!
//! Only the expiry of a token the client bought, refreshed or looked up ([`Client::lookup_self`])
//! is known; a token given as-is is used as-is until then. Renewals are single-flight: one
//! gate per session, shared by every clone and [`Client::for_node`] child of a client. The
//! token and the agent key never appear in `Debug` output or in errors.

use std::time::{Duration, Instant};

use reqwest::Method;

use crate::token_cache::{CacheKey, Entry, TokenCache};
use crate::types::{IssueTokenRequest, IssueTokenResponse, TokenInfo};
use crate::{Call, Client, Error};

/// Default lifetime of a token bought with an agent key (hardening practice 2: a pipeline
/// step needs 15 minutes).
pub const DEFAULT_AGENT_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// A token is refreshed once less than this fraction of its lifetime is left…
const REFRESH_FRACTION: u32 = 5; // 1/5 = 20 %
/// …or less than this, whichever is more…
const MIN_REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// …but never earlier than half-way through its life (a 60-second token is not refreshed on
/// every call).
const MAX_REFRESH_DIVISOR: u32 = 2;

/// How long before expiry a token of lifetime `ttl` is refreshed: 20 % of `ttl` or 60 s,
/// whichever is more, at most half of `ttl`.
pub fn refresh_margin(ttl: Duration) -> Duration {
    (ttl / REFRESH_FRACTION).max(MIN_REFRESH_MARGIN).min(ttl / MAX_REFRESH_DIVISOR)
}

/// Whether a token issued at `issued` and expiring at `expires` should be refreshed before a
/// call made at `now`: when what is left is within [`refresh_margin`] of its lifetime (or it
/// has expired already).
pub fn should_refresh(now: Instant, issued: Instant, expires: Instant) -> bool {
    let ttl = expires.saturating_duration_since(issued);
    expires.saturating_duration_since(now) <= refresh_margin(ttl)
}

/// A TTL in the API's compact form, largest unit first: 90 s → `1m30s`, 1 h → `1h`. Fractions
/// of a second are dropped; anything under a second becomes `1s`.
pub fn format_ttl(d: Duration) -> String {
    let mut rest = d.as_secs().max(1);
    let mut out = String::new();
    for (unit, secs) in [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)] {
        let n = rest / secs;
        rest %= secs;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push(unit);
        }
    }
    out
}

/// When a token was issued and expires, on this process's monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub issued: Instant,
    pub expires: Instant,
}

impl Lease {
    /// The lease described by `info`, received at `now`. The time left is the server's
    /// `ttl_remaining_secs` (so clock skew does not matter); the lifetime is
    /// `expires_at - issued_at`, both stamped by the cluster.
    pub fn from_info(info: &TokenInfo, now: Instant) -> Lease {
        let remaining = Duration::from_secs(info.ttl_remaining_secs);
        let lifetime = match (
            humantime::parse_rfc3339_weak(&info.issued_at),
            humantime::parse_rfc3339_weak(&info.expires_at),
        ) {
            (Ok(i), Ok(e)) => e.duration_since(i).unwrap_or(remaining),
            _ => remaining,
        }
        .max(remaining);
        let expires = now + remaining;
        let issued = expires.checked_sub(lifetime).unwrap_or(now);
        Lease { issued, expires }
    }
}

/// What an agent key buys: tokens with these scopes and this lifetime.
#[derive(Clone)]
pub(crate) struct AgentGrant {
    pub key: String,
    pub scopes: Vec<String>,
    pub ttl: Duration,
}

#[derive(Default)]
struct Current {
    token: Option<String>,
    lease: Option<Lease>,
}

/// A client's credential, shared by its clones.
pub(crate) struct Session {
    agent: Option<AgentGrant>,
    /// Where tokens bought with the agent key are reused from, and their key there.
    cache: TokenCache,
    cache_key: Option<CacheKey>,
    current: std::sync::Mutex<Current>,
    /// Held while a token is bought or refreshed, so concurrent calls renew once.
    renew: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let has_token = self.lock().token.is_some();
        let mut d = f.debug_struct("Session");
        d.field("token", &has_token.then_some("REDACTED"));
        if let Some(g) = &self.agent {
            d.field("agent_key", &"REDACTED").field("scopes", &g.scopes).field("ttl", &g.ttl);
        }
        d.finish()
    }
}

impl Session {
    /// A fixed token (or none).
    pub fn with_token(token: Option<String>) -> Session {
        Session {
            agent: None,
            cache: TokenCache::Off,
            cache_key: None,
            current: std::sync::Mutex::new(Current {
                token: token.filter(|t| !t.is_empty()),
                lease: None,
            }),
            renew: tokio::sync::Mutex::new(()),
        }
    }

    /// An agent key, exchanged for a token on first use (or a token reused from `cache`,
    /// bought earlier with the same key and scopes for the same `addrs`).
    pub fn with_agent(grant: AgentGrant, cache: TokenCache, addrs: &[String]) -> Session {
        let cache_key = Some(CacheKey::new(&grant.key, &grant.scopes, addrs));
        Session {
            agent: Some(grant),
            cache,
            cache_key,
            current: std::sync::Mutex::new(Current::default()),
            renew: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Current> {
        self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn agent(&self) -> Option<&AgentGrant> {
        self.agent.as_ref()
    }

    /// The token now in use and its lease, if known.
    pub fn current(&self) -> (Option<String>, Option<Lease>) {
        let c = self.lock();
        (c.token.clone(), c.lease)
    }

    fn set(&self, token: String, lease: Lease) {
        let mut c = self.lock();
        c.token = Some(token);
        c.lease = Some(lease);
    }

    /// Records the lease of `token` if it is still the one in use.
    fn set_lease_if_current(&self, token: &str, lease: Lease) {
        let mut c = self.lock();
        if c.token.as_deref() == Some(token) {
            c.lease = Some(lease);
        }
    }

    /// Forgets `token` (refused by the cluster): no longer the session's, nor in the cache.
    pub fn drop_token(&self, token: &str) {
        {
            let mut c = self.lock();
            if c.token.as_deref() == Some(token) {
                *c = Current::default();
            }
        }
        self.cache.forget(token);
    }

    /// Makes the cached entry for this session's key the session token, if there is a fresh
    /// one; returns it.
    fn adopt_cached(&self) -> Option<String> {
        let e = self.cache.load(self.cache_key.as_ref()?)?;
        let now = Instant::now();
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.set(e.token.clone(), e.lease_at(now, unix));
        Some(e.token)
    }

    /// Keeps a token bought or refreshed for the agent key in the cache.
    fn remember(&self, resp: &IssueTokenResponse, lease: Lease) {
        if let (Some(_), Some(k)) = (&self.agent, &self.cache_key) {
            self.cache.store(k, &Entry::of(resp, lease));
        }
    }

    /// A fresh token bought with the same agent key for the same addresses, whatever its
    /// scopes, from the cache.
    pub fn any_cached_token(&self) -> Option<String> {
        self.cache.load_any(&self.cache_key.as_ref()?.owner).map(|e| e.token)
    }

    /// The token, when one is held and no renewal is due at `now`.
    fn usable(&self, now: Instant) -> Option<String> {
        let c = self.lock();
        match (&c.token, c.lease) {
            (Some(t), None) => Some(t.clone()),
            (Some(t), Some(l)) if !should_refresh(now, l.issued, l.expires) => Some(t.clone()),
            _ => None,
        }
    }
}

/// Message of the config error for an agent key with nothing to ask for.
const NO_SCOPES: &str = "an agent key is set but no scopes to request a token with: give them \
     (ASS_TOKEN_SCOPES, e.g. secrets:read:production/gemini/*, or Client::with_agent_key), or \
     set ASS_TOKEN instead";

impl Client {
    /// The bearer for an authenticated call: the session token, bought or refreshed first
    /// when due. `None` when the client has no credential at all.
    pub(crate) async fn session_token(&self) -> Result<Option<String>, Error> {
        let session = &self.inner.session;
        if let Some(t) = session.usable(Instant::now()) {
            return Ok(Some(t));
        }
        let _gate = session.renew.lock().await;
        let now = Instant::now();
        let (token, lease) = session.current();
        let (token, lease) = match (token, lease) {
            (None, _) => {
                return match session.agent() {
                    Some(g) => match session.adopt_cached() {
                        Some(t) => Ok(Some(t)),
                        None => self.exchange(g).await.map(Some),
                    },
                    None => Ok(None),
                }
            }
            (Some(t), None) => return Ok(Some(t)),
            (Some(t), Some(l)) if !should_refresh(now, l.issued, l.expires) => {
                return Ok(Some(t)); // another call renewed it while we waited
            }
            (Some(t), Some(l)) => (t, l),
        };
        match self.post_refresh(&token).await {
            Ok(resp) => Ok(Some(self.adopt(resp))),
            Err(e) => {
                let dead = e.status() == Some(401) || now >= lease.expires;
                match session.agent() {
                    Some(g) if dead => self.exchange(g).await.map(Some),
                    // Refresh failed for another reason: the token still works, try next call.
                    _ if !dead => Ok(Some(token)),
                    _ => Err(e),
                }
            }
        }
    }

    /// Buys a token with the agent key and makes it the session token. A `replayed` answer
    /// (the first attempt's answer was lost) is retried once as a new request: nobody holds
    /// the lost token, which expires on its own.
    async fn exchange(&self, g: &AgentGrant) -> Result<String, Error> {
        if g.scopes.is_empty() {
            return Err(Error::Config(NO_SCOPES.into()));
        }
        let req = IssueTokenRequest {
            scopes: g.scopes.clone(),
            ttl: format_ttl(g.ttl),
            ip_allowlist: Vec::new(),
            justification: None,
        };
        let mut replays = 0;
        loop {
            let call = Call::new(Method::POST, "/v1/tokens").json(&req)?;
            let result = self.send(call, Some(&g.key)).await.and_then(|a| a.decode());
            match result {
                Ok(resp) => return Ok(self.adopt(resp)),
                Err(e) if e.error_code() == Some(crate::ErrorCode::Replayed) && replays == 0 => {
                    replays += 1
                }
                Err(e) => return Err(exchange_error(e, &g.scopes)),
            }
        }
    }

    /// `POST /v1/tokens/refresh` with `token` as the bearer.
    async fn post_refresh(&self, token: &str) -> Result<IssueTokenResponse, Error> {
        self.send(Call::new(Method::POST, "/v1/tokens/refresh"), Some(token)).await?.decode()
    }

    /// Makes a freshly issued token the session token (and, in agent-key mode, the cached
    /// one); returns it.
    fn adopt(&self, resp: IssueTokenResponse) -> String {
        let lease = Lease::from_info(&resp.info, Instant::now());
        self.inner.session.set(resp.token.clone(), lease);
        self.inner.session.remember(&resp, lease);
        resp.token
    }

    /// `POST /v1/tokens/refresh`: a new token with the session token's scopes and TTL length,
    /// which from now on is this client's (and its clones') bearer. With an agent key and no
    /// token yet, one is bought first. The old token stays valid until it expires.
    pub async fn refresh_token(&self) -> Result<IssueTokenResponse, Error> {
        let session = &self.inner.session;
        let _gate = session.renew.lock().await;
        let token = match (session.current().0, session.agent()) {
            (Some(t), _) => t,
            (None, Some(g)) => self.exchange(g).await?,
            (None, None) => {
                return Err(Error::Config("no token to refresh: set ASS_TOKEN".into()));
            }
        };
        let resp = self.post_refresh(&token).await?;
        let lease = Lease::from_info(&resp.info, Instant::now());
        session.set(resp.token.clone(), lease);
        session.remember(&resp, lease);
        Ok(resp)
    }

    /// `GET /v1/tokens/self`: the session token's description. Its expiry is remembered, so
    /// from now on the token is refreshed automatically before it runs out.
    pub async fn lookup_self(&self) -> Result<TokenInfo, Error> {
        let token = self.session_token().await?;
        let info: TokenInfo = self
            .send(Call::new(Method::GET, "/v1/tokens/self"), token.as_deref())
            .await?
            .decode()?;
        if let Some(t) = &token {
            self.inner.session.set_lease_if_current(t, Lease::from_info(&info, Instant::now()));
        }
        Ok(info)
    }
}

/// Says which exchange failed, keeping the server's code and status.
fn exchange_error(e: Error, scopes: &[String]) -> Error {
    match e {
        Error::Api { status, code, message, leader, approval_id, request_id } => Error::Api {
            status,
            code,
            message: format!(
                "cannot exchange the agent key for a token with scopes {}: {message}",
                scopes.join(",")
            ),
            leader,
            approval_id,
            request_id,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// `should_refresh` for a token of lifetime `ttl` at `age` seconds into its life.
    fn due(ttl: u64, age: u64) -> bool {
        let issued = Instant::now();
        should_refresh(issued + secs(age), issued, issued + secs(ttl))
    }

    #[test]
    fn margin_is_a_fifth_or_a_minute_at_most_half() {
        assert_eq!(refresh_margin(secs(15 * 60)), secs(3 * 60));
        assert_eq!(refresh_margin(secs(3600)), secs(12 * 60));
        assert_eq!(refresh_margin(secs(4 * 60)), secs(60), "a minute beats 20 % (48 s)");
        assert_eq!(refresh_margin(secs(90)), secs(45), "never before half-way");
        assert_eq!(refresh_margin(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn fifteen_minute_token_refreshes_in_its_last_three_minutes() {
        assert!(!due(900, 0));
        assert!(!due(900, 719));
        assert!(due(900, 720));
        assert!(due(900, 899));
    }

    #[test]
    fn expired_tokens_are_always_due() {
        assert!(due(900, 900));
        assert!(due(900, 5000));
        assert!(due(0, 0));
    }

    #[test]
    fn short_tokens_are_not_refreshed_on_every_call() {
        assert!(!due(60, 0));
        assert!(!due(60, 29));
        assert!(due(60, 30));
        assert!(!due(90, 44));
        assert!(due(90, 45));
    }

    #[test]
    fn now_before_issue_is_not_due() {
        let issued = Instant::now() + secs(10);
        assert!(!should_refresh(issued - secs(5), issued, issued + secs(900)));
    }

    #[test]
    fn ttls_are_formatted_in_the_api_grammar() {
        assert_eq!(format_ttl(secs(900)), "15m");
        assert_eq!(format_ttl(secs(3600)), "1h");
        assert_eq!(format_ttl(secs(5400)), "1h30m");
        assert_eq!(format_ttl(secs(90)), "1m30s");
        assert_eq!(format_ttl(secs(86_400 + 1)), "1d1s");
        assert_eq!(format_ttl(Duration::from_millis(1500)), "1s");
        assert_eq!(format_ttl(Duration::ZERO), "1s");
    }

    fn info(issued: &str, expires: &str, remaining: u64) -> TokenInfo {
        serde_json::from_value(serde_json::json!({
            "accessor": "a", "scopes": ["secrets:read:a/b"], "ip_allowlist": [],
            "issued_at": issued, "expires_at": expires, "ttl_remaining_secs": remaining
        }))
        .unwrap()
    }

    #[test]
    fn lease_uses_server_remaining_time_and_lifetime() {
        let now = Instant::now();
        let l = Lease::from_info(
            &info("2026-01-01T10:00:00.000Z", "2026-01-01T11:00:00.000Z", 1000),
            now,
        );
        assert_eq!(l.expires, now + secs(1000));
        assert_eq!(l.expires - l.issued, secs(3600), "lifetime from the cluster's stamps");
        // 1 h lifetime: 12 min margin.
        assert!(!should_refresh(now, l.issued, l.expires));
        assert!(!should_refresh(now + secs(279), l.issued, l.expires));
        assert!(should_refresh(now + secs(280), l.issued, l.expires));
    }

    #[test]
    fn lease_with_unparsable_times_takes_the_remaining_time_as_lifetime() {
        let now = Instant::now();
        let l = Lease::from_info(&info("yesterday", "tomorrow", 900), now);
        assert_eq!((l.issued, l.expires), (now, now + secs(900)));
    }

    #[test]
    fn session_debug_never_shows_token_or_key() {
        let s = Session::with_agent(
            AgentGrant {
                key: "ass_SUPERSECRETKEY".into(),
                scopes: vec!["secrets:read:a/b".into()],
                ttl: secs(900),
            },
            TokenCache::Off,
            &["https://a:1".to_owned()],
        );
        s.set("asst_SECRETTOKEN".into(), Lease { issued: Instant::now(), expires: Instant::now() });
        let shown = format!("{s:?}");
        assert!(!shown.contains("SUPERSECRETKEY") && !shown.contains("SECRETTOKEN"), "{shown}");
        assert!(shown.contains("REDACTED") && shown.contains("secrets:read:a/b"), "{shown}");
    }

    #[test]
    fn usable_token_respects_the_lease() {
        let s = Session::with_token(Some("t".into()));
        assert_eq!(s.usable(Instant::now()).as_deref(), Some("t"), "expiry unknown: as-is");
        let now = Instant::now();
        s.set_lease_if_current("other", Lease { issued: now, expires: now });
        assert_eq!(s.usable(now).as_deref(), Some("t"), "lease of another token ignored");
        s.set_lease_if_current("t", Lease { issued: now, expires: now + secs(10) });
        assert_eq!(s.usable(now).as_deref(), Some("t"), "10 s token, 5 s margin");
        assert_eq!(s.usable(now + secs(6)), None, "within the margin: renew first");
        assert_eq!(Session::with_token(Some(String::new())).current().0, None);
    }
}
