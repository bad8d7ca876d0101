//! The vault's replicated state: how one [`Request`] changes the sled trees, and read access
//! to what has been applied. Deterministic: no clock, no randomness, no keys.
//!
//! ```text
//!  Request ──dedupe (request id)──> Command ──> secrets::apply_* / seal::SealTx / … ──> Response
//! ```

use serde::de::DeserializeOwned;
use sled::transaction::TransactionalTree;

use crate::approvals::{ApprovalPolicyRecord, ApprovalsReader, ApprovalsTx};
use crate::command::{Applied, Command, Rejection, Request, Response};
use crate::identity::{IdentityReader, IdentityTx};
use crate::posture::engine::IgnoreRecord;
use crate::seal::{SealReader, SealTx};
use crate::secrets;

/// The doctor's suppressions, by finding id.
pub type Ignores = std::collections::BTreeMap<String, IgnoreRecord>;
use crate::storage::schema::{
    KEY_APPROVAL_POLICY, KEY_DOCTOR_IGNORES, KEY_LEADER_TIME, KEY_TOKEN_POLICY,
};
use crate::storage::tx::{get_tx, put_tx, TxResult};
use crate::storage::{decode, StorageError, Store};

/// A request id is remembered for this long (leader time); a retry within the window is
/// answered with the first response and applied once.
pub const DEDUPE_WINDOW_MS: u64 = 24 * 3600 * 1000;

/// The state machine's trees inside one transaction.
pub struct Tx<'a> {
    pub meta: &'a TransactionalTree,
    pub secrets: &'a TransactionalTree,
    pub versions: &'a TransactionalTree,
    pub requests: &'a TransactionalTree,
    pub identity: IdentityTx<'a>,
    pub approvals: ApprovalsTx<'a>,
}

impl<'a> Tx<'a> {
    /// Views over the trees in [`Store::sm_trees`] order.
    pub fn from_views(v: &'a [TransactionalTree]) -> Option<Self> {
        let [meta, secrets, versions, requests, agents, agent_names, tokens, credentials, approvals, approval_open, grants] =
            v
        else {
            return None;
        };
        Some(Tx {
            meta,
            secrets,
            versions,
            requests,
            identity: IdentityTx { agents, agent_names, tokens, credentials },
            approvals: ApprovalsTx { approvals, approval_open, grants },
        })
    }
}

/// Applies one request found at log `index`, at most once per request id.
pub fn apply(tx: &Tx<'_>, req: &Request, index: u64) -> TxResult<Applied> {
    let key = req.cmd.dedupe_key();
    if let Some((time_ms, first_key, first)) =
        get_tx::<(u64, String, Applied)>(tx.requests, &req.request_id)?
    {
        if req.time_ms.saturating_sub(time_ms) <= DEDUPE_WINDOW_MS {
            if first_key != key {
                let response = Response::Rejected(Rejection::RequestIdReused);
                return Ok(Applied { index, response, replayed: false });
            }
            return Ok(Applied { replayed: true, ..first });
        }
    }
    // Leader time only moves forward, whatever the clocks of successive leaders say.
    let last: u64 = get_tx(tx.meta, KEY_LEADER_TIME)?.unwrap_or(0);
    if req.time_ms > last {
        put_tx(tx.meta, KEY_LEADER_TIME, &req.time_ms)?;
    }
    let time_ms = req.time_ms.max(last);
    let applied =
        Applied { index, response: apply_command(tx, time_ms, &req.cmd)?, replayed: false };
    // A version conflict asks the proposer to retry with the same request id: don't remember
    // it. A tick has no caller to answer twice.
    let remember =
        !matches!(applied.response, Response::Rejected(Rejection::VersionConflict { .. }))
            && !matches!(req.cmd, Command::Tick);
    if remember {
        put_tx(tx.requests, &req.request_id, &(req.time_ms, key, applied.clone()))?;
    }
    Ok(applied)
}

fn apply_command(tx: &Tx<'_>, time_ms: u64, cmd: &Command) -> TxResult<Response> {
    let seal = SealTx { meta: tx.meta };
    if !matches!(cmd, Command::Init { .. } | Command::Tick) && !seal.is_initialized()? {
        return Ok(Response::Rejected(Rejection::NotInitialized));
    }
    match cmd {
        Command::Init { seal: config, sealed_keyring, root_token_hash } => {
            done(seal.init(config, sealed_keyring, root_token_hash)?)
        }
        Command::PutSecret(put) => {
            written(secrets::apply_put(tx.secrets, tx.versions, time_ms, put)?)
        }
        Command::PutSecretV1(put) => {
            written(secrets::apply_put(tx.secrets, tx.versions, time_ms, &put.into())?)
        }
        Command::SweepTokens { accessors, dead_before_ms } => {
            let swept = tx.identity.sweep_tokens(accessors, (*dead_before_ms).min(time_ms))?;
            Ok(answer(swept.map(|tokens| Response::Swept { tokens })))
        }
        Command::DeleteLatest { path } => {
            let deleted = secrets::apply_delete_latest(tx.secrets, tx.versions, time_ms, path)?;
            Ok(answer(deleted.map(|version| Response::Deleted { version, destroyed: false })))
        }
        Command::DestroyVersion { path, version } => {
            let destroyed =
                secrets::apply_destroy(tx.secrets, tx.versions, time_ms, path, *version)?;
            Ok(answer(destroyed.map(|version| Response::Deleted { version, destroyed: true })))
        }
        Command::CreateAgent(a) => done(tx.identity.create_agent(time_ms, a)?),
        Command::RotateAgentKey { id, key_hash } => {
            done(tx.identity.rotate_agent_key(time_ms, id, key_hash)?)
        }
        Command::RevokeAgent { id } => done(tx.identity.revoke_agent(time_ms, id)?),
        Command::IssueToken(t) => done(tx.identity.issue_token(time_ms, t)?),
        Command::RevokeToken { accessor } => done(tx.identity.revoke_token(time_ms, accessor)?),
        Command::SetTokenPolicy(policy) => {
            put_tx(tx.meta, KEY_TOKEN_POLICY, policy)?;
            Ok(Response::Ok)
        }
        Command::SetRootToken { hash } => {
            seal.set_root_token(hash.as_ref())?;
            Ok(Response::Ok)
        }
        Command::Tick => Ok(Response::Ok),
        Command::SetApprovalPolicy(policy) => {
            put_tx(tx.meta, KEY_APPROVAL_POLICY, policy)?;
            Ok(Response::Ok)
        }
        Command::OpenApproval(a) => {
            let policy: ApprovalPolicyRecord =
                get_tx(tx.meta, KEY_APPROVAL_POLICY)?.unwrap_or_default();
            let opened = tx.approvals.open(time_ms, &policy, a)?;
            Ok(answer(opened.map(|id| Response::Approval { id })))
        }
        Command::RotateKeyring { term, sealed_keyring } => {
            done(seal.rotate_keyring(*term, sealed_keyring)?)
        }
        Command::Rekey { seal: config } => {
            seal.rekey(config)?;
            Ok(Response::Ok)
        }
        Command::SetAutoSeal { auto } => {
            seal.set_auto_seal(auto.as_ref())?;
            Ok(Response::Ok)
        }
        Command::DecideApproval(d) => {
            let policy: ApprovalPolicyRecord =
                get_tx(tx.meta, KEY_APPROVAL_POLICY)?.unwrap_or_default();
            done(tx.approvals.decide(time_ms, &policy, d)?)
        }
        Command::IgnoreFinding { id, ignore } => {
            let mut all: Ignores = get_tx(tx.meta, KEY_DOCTOR_IGNORES)?.unwrap_or_default();
            match ignore {
                Some(i) => {
                    let record =
                        IgnoreRecord { reason: i.reason.clone(), by: i.by.clone(), at_ms: time_ms };
                    all.insert(id.clone(), record);
                }
                None => {
                    if all.remove(id).is_none() {
                        return Ok(Response::Rejected(Rejection::NotFound));
                    }
                }
            }
            put_tx(tx.meta, KEY_DOCTOR_IGNORES, &all)?;
            Ok(Response::Ok)
        }
        // Replaces whole trees, which a transaction can't scan: the state machine applies it
        // on its own (`StateMachine::apply_restore`) and passes it here only to refuse it,
        // when the cluster was initialized after a restore into an empty one was proposed.
        Command::Restore { .. } => Ok(Response::Rejected(Rejection::AlreadyInitialized)),
    }
}

/// A domain apply's outcome as the command's answer.
fn answer<E: Into<Rejection>>(outcome: Result<Response, E>) -> Response {
    outcome.unwrap_or_else(|refusal| Response::Rejected(refusal.into()))
}

fn done<E: Into<Rejection>>(outcome: Result<(), E>) -> TxResult<Response> {
    Ok(answer(outcome.map(|()| Response::Ok)))
}

fn written(outcome: Result<u64, secrets::Refusal>) -> TxResult<Response> {
    Ok(answer(outcome.map(|version| Response::Written { version })))
}

/// Removes remembered request ids applied before `cutoff_ms`; returns how many.
pub fn prune_requests(store: &Store, cutoff_ms: u64) -> Result<usize, StorageError> {
    let mut pruned = 0;
    for item in store.requests.iter() {
        let (k, v) = item?;
        let (time_ms, _, _): (u64, String, Applied) = decode(&v)?;
        if time_ms < cutoff_ms {
            store.requests.remove(k)?;
            pruned += 1;
        }
    }
    Ok(pruned)
}

/// Read access to the applied cluster-wide settings.
#[derive(Clone)]
pub struct StateReader {
    meta: sled::Tree,
    pub secrets: secrets::SecretsReader,
    pub identity: IdentityReader,
    pub approvals: ApprovalsReader,
    pub seal: SealReader,
}

impl StateReader {
    pub fn new(store: &Store) -> Self {
        Self {
            meta: store.sm_meta.clone(),
            secrets: secrets::SecretsReader::new(store.secrets.clone(), store.versions.clone()),
            identity: IdentityReader::new(store),
            approvals: ApprovalsReader::new(store),
            seal: SealReader::new(store.sm_meta.clone()),
        }
    }

    fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        self.meta.get(key)?.map(|v| decode(&v)).transpose()
    }

    /// SHA-256 of the root token (the seal's record, read by identity; see [`SealReader`]).
    pub fn root_token_hash(&self) -> Result<Option<[u8; 32]>, StorageError> {
        self.seal.root_token_hash()
    }

    /// The token TTL policy (the default until one is set).
    pub fn token_policy(&self) -> Result<crate::identity::TokenPolicyRecord, StorageError> {
        Ok(self.get(KEY_TOKEN_POLICY)?.unwrap_or_default())
    }

    /// The approval policy (the default until one is set).
    pub fn approval_policy(&self) -> Result<ApprovalPolicyRecord, StorageError> {
        Ok(self.get(KEY_APPROVAL_POLICY)?.unwrap_or_default())
    }

    /// The suppressed doctor findings, by id.
    pub fn doctor_ignores(&self) -> Result<Ignores, StorageError> {
        Ok(self.get(KEY_DOCTOR_IGNORES)?.unwrap_or_default())
    }

    /// The latest leader time applied, ms since the Unix epoch.
    pub fn leader_time_ms(&self) -> Result<u64, StorageError> {
        Ok(self.get(KEY_LEADER_TIME)?.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_drops_only_request_ids_older_than_the_cutoff() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for (id, time) in [(1u8, 100u64), (2, 200), (3, 300)] {
            let v =
                crate::storage::encode(&(time, "put_secret:a/b".to_string(), Applied::default()))
                    .unwrap();
            store.requests.insert([id; 16], v).unwrap();
        }
        assert_eq!(prune_requests(&store, 250).unwrap(), 2);
        assert!(store.requests.get([3u8; 16]).unwrap().is_some());
        assert!(store.requests.get([1u8; 16]).unwrap().is_none());
        assert_eq!(prune_requests(&store, 250).unwrap(), 0);
    }
}
