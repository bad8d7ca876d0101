//! What the request path learned about one request, for its audit record.
//!
//! ```text
//!  audit layer (http::audit_layer::record): AuditCtx::default() into the request
//!    ├─ credential check: note_credential(hmac), note_caller(actor)
//!    ├─ services: note_secret(version, tier), note_approval(id)
//!    └─ after the answer: take() ──> the record's actor, agent, accessor, version, tier, …
//! ```
//!
//! Plain data, no I/O: services of any domain note into it without knowing how the record
//! is built or stored. A clone shares the same notes (the layer keeps one, the request's
//! `Caller` another).

use std::sync::{Arc, Mutex};

/// The audit notes of one request; cheap to clone (clones share the notes).
#[derive(Clone, Default)]
pub struct AuditCtx(Arc<Mutex<Noted>>);

/// Who authenticated, as a record names them (the identity side builds it from its
/// principal: `identity::Caller::actor`), so `audit` never depends on `identity`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    /// `root`, `agent_key` or `token`.
    pub kind: &'static str,
    pub agent: Option<String>,
    pub agent_id: Option<String>,
    pub accessor: Option<String>,
}

/// Everything noted about a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Noted {
    /// `None`: nobody authenticated (the record says `anonymous`).
    pub actor: Option<&'static str>,
    pub agent: Option<String>,
    pub agent_id: Option<String>,
    pub accessor: Option<String>,
    pub credential_hmac: Option<String>,
    pub version: Option<u64>,
    pub tier: Option<String>,
    pub approval_id: Option<String>,
}

impl std::fmt::Debug for AuditCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditCtx")
    }
}

impl AuditCtx {
    fn with<R>(&self, f: impl FnOnce(&mut Noted) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The authenticated caller (called by the credential check).
    pub fn note_caller(&self, who: impl Into<Actor>) {
        let who = who.into();
        self.with(|f| {
            f.actor = Some(who.kind);
            f.agent = who.agent;
            f.agent_id = who.agent_id;
            f.accessor = who.accessor;
        });
    }

    /// The presented credential, as an HMAC (never the value).
    pub fn note_credential(&self, hmac: Option<String>) {
        self.with(|f| f.credential_hmac = hmac);
    }

    /// The secret version and tier a request touched; `None` keeps what was noted.
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

    /// The approval request a request is about.
    pub fn note_approval(&self, id: String) {
        self.with(|f| f.approval_id = Some(id));
    }

    /// Takes the notes out (the audit layer, once the answer is known).
    pub fn take(&self) -> Noted {
        self.with(std::mem::take)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_notes_and_take_empties_them() {
        let ctx = AuditCtx::default();
        let other = ctx.clone();
        other.note_caller(Actor {
            kind: "token",
            agent: Some("ci".into()),
            agent_id: None,
            accessor: Some("acc".into()),
        });
        other.note_credential(Some("hmac-sha256:00".into()));
        other.note_secret(Some(3), Some("critical"));
        other.note_secret(None, None);
        ctx.note_approval("apr_1".into());
        let n = ctx.take();
        assert_eq!(n.actor, Some("token"));
        assert_eq!((n.agent.as_deref(), n.accessor.as_deref()), (Some("ci"), Some("acc")));
        assert_eq!((n.version, n.tier.as_deref()), (Some(3), Some("critical")), "None keeps");
        assert_eq!(n.approval_id.as_deref(), Some("apr_1"));
        assert_eq!(other.take(), Noted::default());
    }
}
