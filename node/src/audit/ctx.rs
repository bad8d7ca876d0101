//! What the request path learned about one request, for its audit event: the middleware
//! (`http::audit::record`) puts an empty [`AuditCtx`] into the request, the caller check and
//! the services note into it, and the middleware reads it once the answer is made.
//!
//! It holds names, ids, accessors, versions, tiers and a credential's HMAC: never a secret,
//! a token or a key. It knows no identity types (the caller's description comes in as an
//! [`Actor`]), so `identity` may hold one without `audit` depending on `identity`.

use std::sync::{Arc, Mutex};

/// Who made a request, as the audit event names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    /// `root`, `agent_key` or `token`.
    pub kind: &'static str,
    pub agent: Option<String>,
    pub agent_id: Option<String>,
    pub accessor: Option<String>,
}

/// What the request path learned about a request, for its audit event.
#[derive(Clone, Default)]
pub struct AuditCtx(Arc<Mutex<Fields>>);

/// The fields of an [`AuditCtx`], read by the middleware when it builds the event.
#[derive(Default)]
pub(crate) struct Fields {
    pub(crate) actor: Option<&'static str>,
    pub(crate) agent: Option<String>,
    pub(crate) agent_id: Option<String>,
    pub(crate) accessor: Option<String>,
    pub(crate) credential_hmac: Option<String>,
    pub(crate) version: Option<u64>,
    pub(crate) tier: Option<String>,
    pub(crate) approval_id: Option<String>,
}

impl std::fmt::Debug for AuditCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditCtx")
    }
}

impl AuditCtx {
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Fields) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The authenticated caller (noted by `identity::service::authenticate`).
    pub fn note_caller(&self, actor: Actor) {
        self.with(|f| {
            f.actor = Some(actor.kind);
            f.agent = actor.agent;
            f.agent_id = actor.agent_id;
            f.accessor = actor.accessor;
        });
    }

    /// The presented credential, as an HMAC (never the value).
    pub fn note_credential(&self, hmac: Option<String>) {
        self.with(|f| f.credential_hmac = hmac);
    }

    /// The secret version and tier a request touched.
    pub fn note_secret(&self, version: Option<u64>, tier: Option<&str>) {
        self.with(|f| {
            if version.is_some() {
                f.version = version;
            }
            if let Some(t) = tier {
                f.tier = Some(t.to_owned());
            }
        });
    }

    pub fn note_approval(&self, id: String) {
        self.with(|f| f.approval_id = Some(id));
    }
}
