//! Keys and membership: rotating the data key, new unseal shares, and changing the Raft
//! membership. Every call here needs `sys:operator`
//! ([`scope::SYS_OPERATOR`](crate::scope::SYS_OPERATOR)).
//!
//! ```text
//!  rotate() ──POST /v1/sys/rotate──> leader (forwarded) ──> key term N+1 for new writes;
//!                                                            old versions keep their term
//!  rekey()  ──POST /v1/sys/rekey───> ONE node (per node, no failover): progress kept there;
//!                                    at the threshold of CURRENT shares → NEW shares, once
//!  add_member() ──> learner, caught up ──promote_member()──> voter ──remove_member()──> gone
//! ```
//!
//! `rotate` and the membership calls are writes: each logical call carries one
//! `x-ass-request-id` for all its attempts on every node it fails over to. A refused
//! membership change is 409 `membership_change_failed`, its message openraft's reason.

use std::time::Duration;

use reqwest::Method;

use crate::types::{
    AddMemberRequest, MembersResponse, RekeyRequest, RekeyResponse, RotateResponse,
    SealMigrateRequest, SealMigrateResponse, SnapshotRestoreRequest, SnapshotRestoreResponse,
    StepDownResponse,
};
use crate::{Call, Client, Error};

/// Least time [`Client::add_member`] allows one node: the cluster holds the call until the new
/// learner has caught up, up to 60 s, then answers 504 `timeout`.
pub const ADD_MEMBER_TIMEOUT: Duration = Duration::from_secs(75);

/// Least time a snapshot save or restore allows one node.
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(120);

/// `/v1/sys/members/<id>[/<action>]`.
fn member_route(id: u64, action: Option<&str>) -> String {
    match action {
        Some(a) => format!("/v1/sys/members/{id}/{a}"),
        None => format!("/v1/sys/members/{id}"),
    }
}

impl Client {
    /// `POST /v1/sys/rotate` (needs `sys:operator`; a write, run by the leader): adds a
    /// data-key term. New writes are encrypted with it; older versions keep decrypting with
    /// theirs (`key_term` in [`Client::secret_versions`]). Nothing is re-encrypted.
    pub async fn rotate(&self) -> Result<RotateResponse, Error> {
        let r: RotateResponse = self.call(Call::new(Method::POST, "/v1/sys/rotate")).await?;
        self.note_write_index(r.index);
        Ok(r)
    }

    /// `POST /v1/sys/step-down` (needs `sys:operator`; a write, so it reaches the leader):
    /// hands leadership to another voter. Answers the old and the new leader's ids.
    pub async fn step_down(&self) -> Result<StepDownResponse, Error> {
        self.call(Call::new(Method::POST, "/v1/sys/step-down")).await
    }

    /// `POST /v1/sys/rekey` (needs `sys:operator`): hands one CURRENT unseal key share (or
    /// `reset: true`) to the current node only — progress is per node, like unseal: use
    /// [`Client::for_node`] and send every share to the same node. `shares`/`threshold` (the
    /// server's default 5/3) are read from the call that completes the threshold, whose
    /// answer carries the NEW shares ([`RekeyResponse::keys`]), shown this once; the old
    /// shares stop working. Refusals: `invalid_share`, `duplicate_share`, `invalid_shares`.
    pub async fn rekey(&self, req: &RekeyRequest) -> Result<RekeyResponse, Error> {
        self.call(Call::new(Method::POST, "/v1/sys/rekey").per_node().json(req)?).await
    }

    /// `POST /v1/sys/seal/migrate` on this node: one share towards moving the cluster between
    /// Shamir unseal shares and auto-unseal. Unauthenticated: the shares are the credential.
    pub async fn seal_migrate(
        &self,
        req: &SealMigrateRequest,
    ) -> Result<SealMigrateResponse, Error> {
        self.call(Call::new(Method::POST, "/v1/sys/seal/migrate").per_node().json(req)?).await
    }

    /// `POST /v1/sys/members` (needs `sys:operator`): adds a node as a learner. The cluster
    /// answers once the learner has caught up (504 `timeout` after 60 s), so this call allows
    /// each node at least [`ADD_MEMBER_TIMEOUT`]. Answers the new member list.
    pub async fn add_member(&self, req: &AddMemberRequest) -> Result<MembersResponse, Error> {
        let wait = self.inner.timeout.max(ADD_MEMBER_TIMEOUT);
        self.call(Call::new(Method::POST, "/v1/sys/members").json(req)?.timeout(wait)).await
    }

    /// `GET /v1/sys/snapshot` (needs `sys:operator`): the whole replicated state as one
    /// encrypted backup file (see docs/operations.md, "Back up and restore"). Allows each node
    /// at least [`SNAPSHOT_TIMEOUT`].
    ///
    /// `local`: save the current node's state as it is, without a read index (per node, no
    /// failover) — for a cluster that lost quorum for good; it may miss writes the lost
    /// majority committed.
    pub async fn snapshot_save(&self, local: bool) -> Result<Vec<u8>, Error> {
        let wait = self.inner.timeout.max(SNAPSHOT_TIMEOUT);
        let mut call = Call::new(Method::GET, "/v1/sys/snapshot").timeout(wait);
        if local {
            call = call.query("local", "true").per_node();
        }
        let answer = self.execute(call).await?;
        if !(200..300).contains(&answer.status) {
            return Err(crate::error::api_error_with_id(
                answer.status,
                &answer.body,
                answer.request_id,
            ));
        }
        Ok(answer.body)
    }

    /// `POST /v1/sys/snapshot/restore`: restores a backup file. On a new, uninitialized
    /// cluster `req.keys` holds a threshold of the snapshot's original unseal shares (no
    /// token needed: the shares are the credential) and the node that takes the call is
    /// unsealed by it; on an initialized cluster it needs `sys:operator` and a file of this
    /// cluster. Refusals: `snapshot_invalid`, `snapshot_truncated`, `snapshot_corrupt`,
    /// `snapshot_unsupported`, `snapshot_foreign`, `snapshot_too_large`, `invalid_shares`.
    pub async fn snapshot_restore(
        &self,
        req: &SnapshotRestoreRequest,
    ) -> Result<SnapshotRestoreResponse, Error> {
        let wait = self.inner.timeout.max(SNAPSHOT_TIMEOUT);
        let r: SnapshotRestoreResponse = self
            .call(Call::new(Method::POST, "/v1/sys/snapshot/restore").json(req)?.timeout(wait))
            .await?;
        self.note_write_index(r.index);
        Ok(r)
    }

    /// `POST /v1/sys/members/{id}/promote` (needs `sys:operator`): makes a learner a voter.
    /// Answers the new member list.
    pub async fn promote_member(&self, id: u64) -> Result<MembersResponse, Error> {
        self.call(Call::new(Method::POST, member_route(id, Some("promote")))).await
    }

    /// `DELETE /v1/sys/members/{id}` (needs `sys:operator`): removes a voter or a learner.
    /// Answers the new member list.
    pub async fn remove_member(&self, id: u64) -> Result<MembersResponse, Error> {
        self.call(Call::new(Method::DELETE, member_route(id, None))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_routes() {
        assert_eq!(member_route(4, None), "/v1/sys/members/4");
        assert_eq!(member_route(4, Some("promote")), "/v1/sys/members/4/promote");
    }

    #[test]
    fn add_member_allows_at_least_the_servers_wait() {
        let c = Client::builder()
            .addresses(["http://a:1"])
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        assert_eq!(c.inner.timeout.max(ADD_MEMBER_TIMEOUT), ADD_MEMBER_TIMEOUT);
        assert!(ADD_MEMBER_TIMEOUT > Duration::from_secs(60), "longer than the server's wait");
        assert_eq!(c.for_node("http://b:2").inner.timeout, Duration::from_secs(5));
    }

    #[test]
    fn rekey_request_sends_only_what_is_given() {
        let req = RekeyRequest {
            key: Some("c2hhcmU=".into()),
            reset: false,
            shares: Some(3),
            threshold: Some(2),
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"key":"c2hhcmU=","reset":false,"shares":3,"threshold":2}"#
        );
    }
}
