//! Who is calling and what it may do: the [`Caller`] that `service::authenticate` makes from
//! a credential, and its access checks. A check answers an [`AccessError`]; the HTTP layer
//! maps it to `403 agent_key_not_allowed` or `403 scope_denied`.

use std::net::IpAddr;

use sha2::Digest;

use super::record::format_id;
use crate::access::scope::{needed_secret_scope, Action, Admin, ScopeSet};
use crate::audit::ctx::{Actor, AuditCtx};

/// Who a credential belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Root,
    /// An agent key: good only for `POST /v1/tokens`.
    Agent {
        id: [u8; 16],
        name: String,
    },
    Token {
        accessor: [u8; 16],
        agent_id: Option<[u8; 16]>,
        agent_name: Option<String>,
        expires_ms: u64,
    },
}

impl Principal {
    /// How the audit log names this principal.
    pub fn actor(&self) -> Actor {
        match self {
            Principal::Root => Actor { kind: "root", ..Actor::default() },
            Principal::Agent { id, name } => Actor {
                kind: "agent_key",
                agent: Some(name.clone()),
                agent_id: Some(format_id(id)),
                accessor: None,
            },
            Principal::Token { accessor, agent_id, agent_name, .. } => Actor {
                kind: "token",
                agent: agent_name.clone(),
                agent_id: agent_id.as_ref().map(format_id),
                accessor: Some(format_id(accessor)),
            },
        }
    }
}

/// Why a caller may not do what it asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// Agent keys only buy tokens.
    #[error(
        "an agent key only buys tokens: exchange it with POST /v1/tokens and call with the token"
    )]
    AgentKeyNotAllowed,
    /// The call needs a scope the caller does not hold.
    #[error("this call needs the scope `{0}`")]
    NeedsScope(String),
}

/// An authenticated caller and what it may do.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// `None` for the root token, which may do everything.
    pub scopes: Option<ScopeSet>,
    pub client_ip: IpAddr,
    /// This request's audit context: services note the version, tier, approval they touch.
    pub audit: AuditCtx,
}

impl Caller {
    /// Agent keys only buy tokens; every other route refuses them.
    pub fn refuse_agent_key(&self) -> Result<(), AccessError> {
        if matches!(self.principal, Principal::Agent { .. }) {
            return Err(AccessError::AgentKeyNotAllowed);
        }
        Ok(())
    }

    /// Requires an admin scope.
    pub fn require_admin(&self, admin: Admin) -> Result<(), AccessError> {
        self.refuse_agent_key()?;
        match &self.scopes {
            None => Ok(()),
            Some(s) if s.allows_admin(admin) => Ok(()),
            Some(_) => Err(AccessError::NeedsScope(admin.to_string())),
        }
    }

    /// Requires a secrets scope for `action` on `path`.
    pub fn require_secret(&self, action: Action, path: &str) -> Result<(), AccessError> {
        self.refuse_agent_key()?;
        match &self.scopes {
            None => Ok(()),
            Some(s) if s.allows_secret(action, path) => Ok(()),
            Some(_) => Err(AccessError::NeedsScope(needed_secret_scope(action, path))),
        }
    }

    /// Whether a list may show `path` (list results are filtered, never refused).
    pub fn may_list(&self, path: &str) -> bool {
        self.scopes.as_ref().is_none_or(|s| s.may_list(path))
    }

    pub fn is_root(&self) -> bool {
        self.principal == Principal::Root
    }

    /// The idempotency key of this caller's write: the client's request id (`raw`, from
    /// `X-Ass-Request-Id`, or a fresh one) bound to who calls. A retry by the same caller (the
    /// same agent through any of its tokens, the root token, or the same agent-less token)
    /// matches its first attempt; a different caller sending the same id makes a request of
    /// its own and never gets another's answer (issue 14: an approver reusing another's id had
    /// her decision dropped).
    pub fn request_id(&self, raw: [u8; 16]) -> [u8; 16] {
        let mut h = sha2::Sha256::new();
        h.update(b"ass/request-id/v1\0");
        match &self.principal {
            Principal::Root => h.update(b"root"),
            Principal::Agent { id, .. } | Principal::Token { agent_id: Some(id), .. } => {
                h.update(b"agent");
                h.update(id);
            }
            Principal::Token { accessor, agent_id: None, .. } => {
                h.update(b"token");
                h.update(accessor);
            }
        }
        h.update(raw);
        let mut id = [0u8; 16];
        id.copy_from_slice(&h.finalize()[..16]);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(principal: Principal, scopes: Option<&[&str]>) -> Caller {
        let scopes = scopes.map(|s| {
            ScopeSet::parse(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>()).unwrap()
        });
        Caller { principal, scopes, client_ip: [127, 0, 0, 1].into(), audit: AuditCtx::default() }
    }

    fn token(agent: Option<u8>, accessor: u8) -> Principal {
        Principal::Token {
            accessor: [accessor; 16],
            agent_id: agent.map(|a| [a; 16]),
            agent_name: None,
            expires_ms: u64::MAX,
        }
    }

    #[test]
    fn agent_keys_only_buy_tokens_and_scopes_are_named() {
        let key = caller(
            Principal::Agent { id: [1; 16], name: "svc".into() },
            Some(&["secrets:read:x/*"]),
        );
        assert_eq!(key.require_admin(Admin::TokensManage), Err(AccessError::AgentKeyNotAllowed));
        assert_eq!(key.require_secret(Action::Read, "a/b"), Err(AccessError::AgentKeyNotAllowed));
        let t = caller(token(Some(1), 2), Some(&["secrets:read:app/*"]));
        assert_eq!(t.require_secret(Action::Read, "app/x"), Ok(()));
        assert_eq!(
            t.require_admin(Admin::TokensManage),
            Err(AccessError::NeedsScope("tokens:manage".into()))
        );
        assert!(matches!(
            t.require_secret(Action::Write, "app/x"),
            Err(AccessError::NeedsScope(_))
        ));
        let root = caller(Principal::Root, None);
        assert!(root.is_root() && root.require_admin(Admin::SysOperator).is_ok());
        assert!(root.may_list("anything/at/all"));
    }

    /// Issue 14: a request id is bound to who sends it; an agent's tokens share one binding.
    #[test]
    fn a_request_id_is_bound_to_its_caller() {
        let raw = [9u8; 16];
        let a1 = caller(token(Some(1), 2), Some(&["secrets:read:x/*"])).request_id(raw);
        let a2 = caller(token(Some(1), 3), Some(&["secrets:read:x/*"])).request_id(raw);
        let b = caller(token(Some(4), 2), Some(&["secrets:read:x/*"])).request_id(raw);
        let loose = caller(token(None, 2), Some(&["secrets:read:x/*"])).request_id(raw);
        let root = caller(Principal::Root, None).request_id(raw);
        assert_eq!(a1, a2, "the same agent through another token");
        assert_ne!(a1, b);
        assert_ne!(a1, loose);
        assert_ne!(root, a1);
        assert_ne!(a1, caller(token(Some(1), 2), Some(&["secrets:read:x/*"])).request_id([8; 16]));
    }

    #[test]
    fn the_audit_actor_names_the_principal() {
        assert_eq!(Principal::Root.actor().kind, "root");
        let a = Principal::Agent { id: [1; 16], name: "svc".into() }.actor();
        assert_eq!((a.kind, a.agent.as_deref(), a.accessor), ("agent_key", Some("svc"), None));
        let t = token(None, 5).actor();
        assert_eq!(t.kind, "token");
        assert_eq!(t.accessor, Some(format_id(&[5; 16])));
        assert_eq!(t.agent_id, None);
    }
}
