//! Who is calling, at the HTTP edge: the client address, the consistency the credential is
//! judged at, and the `Authorization: Bearer` header. The judgement itself is
//! [`crate::identity::service::authenticate`].
//!
//! ```text
//!  client IP (peer, or the forwarding header of a trusted proxy, or the forwarding node's word)
//!    ──> consistency (read index) ──> Bearer credential ──> identity::service::authenticate
//!    ──> Caller { principal, scopes }     (401 / 403 ip_not_allowed / 429 from its AuthError)
//! ```
//!
//! The state is made current *before* the credential is checked (a linearizable request waits
//! for the read index), so a revoke that was acknowledged anywhere is seen here.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::Method;

use super::error::ApiError;
use super::extract::consistency;
use super::forward::Forwarded;
use crate::access::allowlist::{client_ip_from_hops, forwarded_hops};
use crate::audit::AuditCtx;
use crate::identity::service::authenticate;
use crate::node::{Consistency, Node};

/// Kept for the handlers that name them here; they live in [`crate::identity`].
use crate::identity::Caller;

/// The client's address as this cluster judges it; set once per request.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// Works out the client address (the outermost layer, `http::edge`, calls it). A request
/// forwarded by another node keeps the address that node worked out (the cluster port is
/// trusted); otherwise the socket peer, or, when the peer is a trusted proxy, the client named
/// by the `[auth] forwarded_header` (all its lines, walked from the right).
pub fn set_client_ip(node: &Node, req: &mut Request) {
    if req.extensions().get::<Forwarded>().is_none() || req.extensions().get::<ClientIp>().is_none()
    {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let trusted = &node.auth().trusted_proxies;
        let ip = if trusted.is_empty() {
            peer.ip().to_canonical()
        } else {
            // Every line of the header, in order: repeated lines are one list.
            let header = node.config().auth.forwarded_header;
            let lines = req.headers().get_all(header.name()).iter().map(|v| v.to_str().ok());
            client_ip_from_hops(peer, &forwarded_hops(header, lines), trusted)
        };
        req.extensions_mut().insert(ClientIp(ip));
    }
}

impl FromRequestParts<Arc<Node>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        node: &Arc<Node>,
    ) -> Result<Self, Self::Rejection> {
        // Make local state current first, so the credential is judged on it.
        let wanted = if parts.method == Method::GET || parts.method == Method::HEAD {
            consistency(&parts.headers)?
        } else if (parts.method == Method::PUT || parts.method == Method::DELETE)
            && parts.uri.path().starts_with("/v1/secrets/")
        {
            // A secret write or delete is judged by the state machine (CAS, versions) and
            // takes effect only if it commits; its caller may be judged on a ready leader's
            // state without a read-index round (`Node::leader_ready`).
            Consistency::BeforeProposal
        } else {
            Consistency::Linearizable
        };
        node.prepare_read(wanted).await?;
        caller_from_local_state(parts, node)
    }
}

/// The caller judged on this node's local state as it is, without a read index: only for
/// what must work when no leader can be reached (a backup saved from a survivor after
/// quorum is lost). The limiter still applies.
pub(crate) fn caller_from_local_state(parts: &Parts, node: &Node) -> Result<Caller, ApiError> {
    let ip = parts.extensions.get::<ClientIp>().map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0);
    let audit = parts.extensions.get::<AuditCtx>().cloned().unwrap_or_default();
    let credential = bearer(parts)?;
    Ok(authenticate(node, credential, ip, node.clock().now_ms(), audit)?)
}

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing `Authorization: Bearer <token>` header"))?;
    header
        .to_str()
        .ok()
        .and_then(|h| h.get(..7).filter(|p| p.eq_ignore_ascii_case("bearer ")).map(|_| &h[7..]))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer <token>`"))
}
