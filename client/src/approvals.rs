//! Approvals: the requests gated reads open, the approvers' decisions, and the approval
//! policy.
//!
//! ```text
//!  get_secret (critical) ──403 approval_required──> Error::approval_id() = ID
//!        ▲                                               │ approvers (agents named by e-mail,
//!        │ grant for the path                            ▼  holding approvals:decide)
//!        └──── approved ◄── approve(ID) × required ◄── list_approvals / get_approval(ID)
//!                            deny(ID) ──> denied (reads answer approval_denied until it expires)
//! ```
//!
//! A decision is a write: it carries one `x-ass-request-id` for all its attempts, so an
//! approval retried on another node counts once. The requester may follow its own request
//! with [`Client::get_approval`] using the token it read with; everything else needs
//! `approvals:decide` ([`scope::APPROVALS_DECIDE`](crate::scope::APPROVALS_DECIDE)), and the
//! policy calls `policy:manage`.

use reqwest::Method;

use crate::addr::encode_path_segment;
use crate::types::{ApprovalInfo, ApprovalPolicyDocument, DecideRequest, ListApprovalsResponse};
use crate::{Call, Client, Error};

/// `/v1/approvals/<id>[/<action>]`.
fn approval_route(id: &str, action: Option<&str>) -> Result<String, Error> {
    let seg = encode_path_segment("approval id", id)?;
    Ok(match action {
        Some(a) => format!("/v1/approvals/{seg}/{a}"),
        None => format!("/v1/approvals/{seg}"),
    })
}

/// The body of a decision: the comment, if any (an empty one is none).
fn decide_request(comment: Option<&str>) -> DecideRequest {
    DecideRequest { comment: comment.filter(|c| !c.is_empty()).map(str::to_owned) }
}

impl Client {
    /// `GET /v1/approvals[?status=S]` (needs `approvals:decide`): approval requests with
    /// status `S` — `pending` (the server's default for `None`), `approved`, `denied`,
    /// `expired` or `all` — oldest first.
    pub async fn list_approvals(
        &self,
        status: Option<&str>,
    ) -> Result<ListApprovalsResponse, Error> {
        let mut call = Call::new(Method::GET, "/v1/approvals");
        if let Some(s) = status.filter(|s| !s.is_empty()) {
            call = call.query("status", s);
        }
        self.call(call).await
    }

    /// `GET /v1/approvals/{id}`: one request, its decisions and its status. Needs
    /// `approvals:decide`, except for the requester itself (the agent whose read opened it,
    /// through any of its tokens), which may follow its own request.
    pub async fn get_approval(&self, id: &str) -> Result<ApprovalInfo, Error> {
        self.call(Call::new(Method::GET, approval_route(id, None)?)).await
    }

    /// `POST /v1/approvals/{id}/approve` (needs `approvals:decide`, and a token of an agent
    /// named in the policy's approvers): adds this approver's approval; at the tier's count
    /// the request is approved and the requester may read the path for the grant's time.
    /// Refusals: `not_an_approver`, `self_approval`, `already_decided`, `approval_closed`,
    /// `approval_expired`, `not_found`.
    pub async fn approve(&self, id: &str, comment: Option<&str>) -> Result<ApprovalInfo, Error> {
        let call = Call::new(Method::POST, approval_route(id, Some("approve"))?)
            .json(&decide_request(comment))?;
        self.call(call).await
    }

    /// `POST /v1/approvals/{id}/deny` (as [`Client::approve`]): closes the request as denied;
    /// the requester's reads of the path answer `approval_denied` until it times out.
    pub async fn deny(&self, id: &str, comment: Option<&str>) -> Result<ApprovalInfo, Error> {
        let call = Call::new(Method::POST, approval_route(id, Some("deny"))?)
            .json(&decide_request(comment))?;
        self.call(call).await
    }

    /// `GET /v1/policy/approvals`: how many approvals each tier needs, within how long, who
    /// the approvers are and how long a grant lasts. With an agent's token it needs
    /// `policy:manage`.
    pub async fn get_approval_policy(&self) -> Result<ApprovalPolicyDocument, Error> {
        self.call(Call::new(Method::GET, "/v1/policy/approvals")).await
    }

    /// `PUT /v1/policy/approvals` (needs `policy:manage`): replaces the approval policy and
    /// returns it as stored (defaults filled in). A policy the cluster refuses is
    /// `invalid_policy`, its message naming the problem (an unknown tier, more approvals than
    /// approvers, an approver that is not an e-mail address, …).
    ///
    /// An approver that is no live agent yet is refused (`unknown_approver`); see
    /// [`Self::set_approval_policy_allowing_unknown`].
    pub async fn set_approval_policy(
        &self,
        doc: &ApprovalPolicyDocument,
    ) -> Result<ApprovalPolicyDocument, Error> {
        self.call(Call::new(Method::PUT, "/v1/policy/approvals").json(doc)?).await
    }

    /// Like [`Self::set_approval_policy`], accepting approvers that do not exist yet: reads
    /// that need them wait until they are created.
    pub async fn set_approval_policy_allowing_unknown(
        &self,
        doc: &ApprovalPolicyDocument,
    ) -> Result<ApprovalPolicyDocument, Error> {
        let call = Call::new(Method::PUT, "/v1/policy/approvals")
            .query("allow_unknown_approvers", "true")
            .json(doc)?;
        self.call(call).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approval_routes_encode_one_segment() {
        let id = "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f";
        assert_eq!(approval_route(id, None).unwrap(), format!("/v1/approvals/{id}"));
        assert_eq!(
            approval_route(id, Some("approve")).unwrap(),
            format!("/v1/approvals/{id}/approve")
        );
        assert_eq!(approval_route("a/b", Some("deny")).unwrap(), "/v1/approvals/a%2Fb/deny");
        assert!(approval_route("", None).is_err());
        assert!(approval_route("..", Some("approve")).is_err());
    }

    #[test]
    fn empty_comment_is_no_comment() {
        assert_eq!(serde_json::to_string(&decide_request(None)).unwrap(), "{}");
        assert_eq!(serde_json::to_string(&decide_request(Some(""))).unwrap(), "{}");
        assert_eq!(
            serde_json::to_string(&decide_request(Some("ok"))).unwrap(),
            r#"{"comment":"ok"}"#
        );
    }
}
