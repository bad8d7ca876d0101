//! Identity: agents (one per service), tokens derived from them, the root token, and the
//! index from a credential's hash to what it belongs to.
//!
//! Credentials are stored only as SHA-256 hashes; the plaintext exists once, in the answer
//! that hands it out.
//!
//! ```text
//!  Bearer X ──sha256──> credentials[h] ──> Agent(id) ──> agents[id]
//!                                     └──> Token(acc) ──> tokens[acc] ──> parent…, agents[id]
//!  (root: h == sm_meta.root_token)
//!
//!  http/auth.rs ──> service::authenticate ──> cache (AuthCache) ─miss─> service::resolve
//!                        │ limiter, allowlists                      └─> store (IdentityReader)
//!                        ▼                                               engine::judge_token
//!                   Caller { principal, scopes } ──> caller.require_*  (AccessError)
//!  http/tokens.rs, http/agents.rs ──> service::{issue_token, refresh, create_agent, …}
//!                        └─> engine::issue (every issuing rule) ──> node.write(Command)
//! ```
//!
//! - [`engine`]: the rules as plain functions (token state along its chain, what a caller
//!   may issue, TTL and policy checks, agent names); no I/O.
//! - [`store`]: sled reads ([`IdentityReader`]) and the deterministic apply ([`IdentityTx`]).
//! - [`service`]: the use cases the HTTP layer (and the dashboard) call.
//! - [`caller`]: who is calling and what it may do; [`cache`]: resolved credentials;
//!   [`credential`]: fresh credentials.

pub mod cache;
pub mod caller;
pub mod credential;
pub mod engine;
pub mod record;
pub mod service;
pub mod store;

pub use cache::{AuthCache, AuthState, Identity, AUTH_CACHE_CAPACITY};
pub use caller::{AccessError, Caller, Principal};
pub use credential::new_secret_credential;
pub use engine::{is_email, judge_token, normalize_agent_name, token_state};
pub use record::*;
pub use store::{IdentityReader, IdentityTx};
