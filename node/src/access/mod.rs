//! The access model's pure decision engines.
//!
//! Everything here answers a yes/no (or "not yet") question about an input it is handed and
//! does nothing else: no I/O, no clock reads (time comes in as a parameter), no randomness,
//! no logging. The HTTP layer calls these to authenticate and authorize a request; the state
//! machine calls them to validate what it stores (agent scopes, token scopes and TTLs, IP
//! allowlists). Keeping the rules here, in one place, means the leader and every follower
//! judge the same input the same way.
//!
//! - [`scope`]: the scope grammar (`secrets:<action>:<glob>` and the admin scopes), scope
//!   containment (a token's scopes must lie within its parent's) and scope checks.
//! - [`ttl`]: token lifetimes written as `15m`, `1h`, `1h30m`…
//! - [`allowlist`]: CIDR allowlists and the client IP behind trusted proxies.
//! - [`limiter`]: per-client brute-force protection for failed authentications.

pub mod allowlist;
pub mod limiter;
pub mod scope;
pub mod ttl;
