//! The approval trees: the deterministic apply of approval commands ([`ApprovalsTx`]; the
//! rules it applies are [`super::engine`]'s) and reads of applied state ([`ApprovalsReader`]).

use sled::transaction::TransactionalTree;

use super::engine;
use super::record::{
    ApprovalPolicyRecord, ApprovalRecord, GrantRecord, NewApproval, NewDecision, Refusal,
    Requester, Status,
};
use crate::storage::tx::{get_tx, put_tx, TxResult};
use crate::storage::{decode, StorageError};

/// The approval trees inside one transaction.
pub struct ApprovalsTx<'a> {
    pub approvals: &'a TransactionalTree,
    pub approval_open: &'a TransactionalTree,
    pub grants: &'a TransactionalTree,
}

impl ApprovalsTx<'_> {
    /// Opens a request, or re-uses the open one of the same requester for the same path.
    pub fn open(
        &self,
        time_ms: u64,
        policy: &ApprovalPolicyRecord,
        a: &NewApproval,
    ) -> TxResult<Result<[u8; 16], Refusal>> {
        let key = a.requester.key(&a.path);
        if let Some(existing) = self.approval_open.get(&key)? {
            if let Ok(existing_id) = <[u8; 16]>::try_from(existing.as_ref()) {
                let record: Option<ApprovalRecord> = get_tx(self.approvals, &existing_id)?;
                if let Some(r) = record {
                    // Only a pending request is re-used: after a denial the requester may ask
                    // again (the proposer lets it only with a new reason).
                    if engine::reusable(&r, a.tier, time_ms) {
                        return Ok(Ok(existing_id));
                    }
                }
            }
        }
        let rule = policy.rule(a.tier);
        let record = ApprovalRecord {
            requester: a.requester,
            agent_name: a.agent_name.clone(),
            path: a.path.clone(),
            tier: a.tier,
            version: a.version,
            reason: a.reason.clone(),
            required: rule.required.max(1),
            status: Status::Pending,
            approvals: Vec::new(),
            denial: None,
            requested_ms: time_ms,
            expires_ms: time_ms.saturating_add(rule.timeout_ms),
            grant_expires_ms: None,
        };
        put_tx(self.approvals, &a.id, &record)?;
        self.approval_open.insert(key, &a.id[..])?;
        Ok(Ok(a.id))
    }

    /// Records one approver's decision; at the tier's count the requester gets a grant.
    pub fn decide(
        &self,
        time_ms: u64,
        policy: &ApprovalPolicyRecord,
        d: &NewDecision,
    ) -> TxResult<Result<(), Refusal>> {
        let Some(mut r): Option<ApprovalRecord> = get_tx(self.approvals, &d.id)? else {
            return Ok(Err(Refusal::NotFound));
        };
        if let Err(refusal) = engine::check_decision(&r, policy, d, time_ms) {
            return Ok(Err(refusal));
        }
        if let Some(grant) = engine::record_decision(&mut r, policy, d, time_ms) {
            put_tx(self.grants, &r.requester.key(&r.path), &grant)?;
        }
        put_tx(self.approvals, &d.id, &r)?;
        Ok(Ok(()))
    }
}

/// Read access to applied approval state, on any node.
#[derive(Clone)]
pub struct ApprovalsReader {
    approvals: sled::Tree,
    approval_open: sled::Tree,
    grants: sled::Tree,
}

impl ApprovalsReader {
    pub fn new(store: &crate::storage::Store) -> Self {
        Self {
            approvals: store.approvals.clone(),
            approval_open: store.approval_open.clone(),
            grants: store.grants.clone(),
        }
    }

    pub fn get(&self, id: &[u8; 16]) -> Result<Option<ApprovalRecord>, StorageError> {
        self.approvals.get(id)?.map(|v| decode(&v)).transpose()
    }

    /// The latest request of `requester` for `path`.
    pub fn latest(
        &self,
        requester: &Requester,
        path: &str,
    ) -> Result<Option<([u8; 16], ApprovalRecord)>, StorageError> {
        let Some(id) = self.approval_open.get(requester.key(path))? else { return Ok(None) };
        let id: [u8; 16] =
            id.as_ref().try_into().map_err(|_| StorageError::Codec("bad approval id".into()))?;
        Ok(self.get(&id)?.map(|r| (id, r)))
    }

    pub fn grant(
        &self,
        requester: &Requester,
        path: &str,
    ) -> Result<Option<GrantRecord>, StorageError> {
        self.grants.get(requester.key(path))?.map(|v| decode(&v)).transpose()
    }

    pub fn all(&self) -> Result<Vec<([u8; 16], ApprovalRecord)>, StorageError> {
        let mut out: Vec<([u8; 16], ApprovalRecord)> = Vec::new();
        for item in self.approvals.iter() {
            let (k, v) = item?;
            let id: [u8; 16] =
                k.as_ref().try_into().map_err(|_| StorageError::Codec("bad approval id".into()))?;
            out.push((id, decode(&v)?));
        }
        out.sort_by_key(|(_, r)| r.requested_ms);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approvals::record::HOUR_MS;
    use crate::secrets::Tier;

    /// Expiry is judged at apply by the command's leader-stamped time, not by any clock.
    #[test]
    fn decisions_after_the_timeout_are_refused_at_apply() {
        use sled::Transactional;
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).temporary(true).open().unwrap();
        let (a, o, g) =
            (db.open_tree("a").unwrap(), db.open_tree("o").unwrap(), db.open_tree("g").unwrap());
        let policy = ApprovalPolicyRecord {
            approvers: vec!["you@company.com".into(), "sec@company.com".into()],
            ..Default::default()
        };
        let id = [7u8; 16];
        let new = NewApproval {
            id,
            requester: Requester::Agent([1; 16]),
            agent_name: Some("svc".into()),
            path: "production/x/K".into(),
            tier: Tier::Critical,
            version: 1,
            reason: None,
        };
        let decide = |who: &str, agent: u8, at: u64| {
            (&a, &o, &g)
                .transaction(|(a, o, g)| {
                    let tx = ApprovalsTx { approvals: a, approval_open: o, grants: g };
                    if at == 0 {
                        return tx.open(0, &policy, &new).map(|r| r.map(Some));
                    }
                    let d = NewDecision {
                        id,
                        approver: who.into(),
                        approver_agent: [agent; 16],
                        approve: true,
                        comment: None,
                    };
                    tx.decide(at, &policy, &d).map(|r| r.map(|()| None))
                })
                .unwrap()
        };
        assert_eq!(decide("", 0, 0), Ok(Some(id)));
        let hour = HOUR_MS;
        assert_eq!(decide("you@company.com", 2, 24 * hour + 1), Err(Refusal::ApprovalExpired));
        assert_eq!(decide("you@company.com", 2, 24 * hour - 1), Ok(None));
        assert_eq!(decide("nobody@company.com", 3, hour), Err(Refusal::NotAnApprover));
        assert_eq!(decide("you@company.com", 1, hour), Err(Refusal::SelfApproval));
    }
}
