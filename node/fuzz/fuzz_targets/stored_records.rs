//! Stored and replicated records (`storage::decode` and `VersionRecord::decode`, the Raft
//! snapshot's `snapshot_trees`): every record a node reads back from sled or the Raft log
//! decodes without a panic, and what decodes re-encodes to a fixed point. The first byte
//! picks the record type; the rest is the stored value, format byte first.
#![no_main]

use ass_node::approvals::{ApprovalPolicyRecord, ApprovalRecord};
use ass_node::command::{Applied, Request};
use ass_node::identity::{AgentRecord, CredentialRef, TokenPolicyRecord, TokenRecord};
use ass_node::raft::types::{Entry, LogId, NodeId, SnapshotMeta, StoredMembership};
use ass_node::seal::{AutoSeal, SealConfig};
use ass_node::secrets::{SecretRecord, VersionRecord};
use ass_node_fuzz::stored_fixed_point as fixed;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else { return };
    match which % 20 {
        0 => drop(fixed::<SecretRecord>(bytes)),
        1 => {
            // Two layouts: V1 (no tier) reads as V2 with no tier; V2 re-encodes to itself.
            if let Ok(v) = VersionRecord::decode(bytes) {
                let once = v.encode().expect("encodes");
                assert_eq!(VersionRecord::decode(&once).expect("decodes"), v);
                if bytes.first() == Some(&ass_node::storage::CODEC_V1) {
                    assert_eq!(v.tier, None);
                }
            }
        }
        2 => drop(fixed::<AgentRecord>(bytes)),
        3 => drop(fixed::<TokenRecord>(bytes)),
        4 => drop(fixed::<TokenPolicyRecord>(bytes)),
        5 => drop(fixed::<CredentialRef>(bytes)),
        6 => drop(fixed::<ApprovalRecord>(bytes)),
        7 => drop(fixed::<ApprovalPolicyRecord>(bytes)),
        8 => drop(fixed::<SealConfig>(bytes)),
        9 => drop(fixed::<AutoSeal>(bytes)),
        10 => drop(fixed::<(u64, String, Applied)>(bytes)),
        11 => drop(fixed::<Option<LogId>>(bytes)),
        12 => drop(fixed::<SnapshotMeta>(bytes)),
        13 => drop(fixed::<StoredMembership>(bytes)),
        14 => drop(fixed::<Entry>(bytes)),
        15 => drop(fixed::<openraft::Vote<NodeId>>(bytes)),
        16 => drop(fixed::<Request>(bytes)),
        17 => drop(fixed::<u64>(bytes)),
        18 => {
            if let Ok(trees) = ass_node::raft::state_machine::snapshot_trees(bytes) {
                let body = ass_node::backup::Body { trees };
                let once = ass_node::storage::encode(&body).expect("encodes");
                let again = ass_node::raft::state_machine::snapshot_trees(&once).expect("decodes");
                assert_eq!(again, body.trees);
            }
        }
        _ => drop(fixed::<ass_node::audit::chain::Checkpoint>(bytes)),
    }
});
