//! Approval policy JSON (`approvals::policy_from_document` over the client's
//! `ApprovalPolicyDocument`): an accepted policy keeps its rules (e-mail approvers, folded and
//! distinct; no tier needs more approvals than there are approvers; hours in range), and its
//! document form validates back to the same record; the JSON prints and parses to itself.
#![no_main]

use ass_client::types::ApprovalPolicyDocument;
use ass_node::approvals::{is_email, policy_from_document, MAX_POLICY_HOURS};
use libfuzzer_sys::fuzz_target;

const HOUR_MS: u64 = 3_600_000;

fuzz_target!(|data: &[u8]| {
    ass_node_fuzz::json_fixed_point::<ApprovalPolicyDocument>(data);
    let Ok(doc) = serde_json::from_slice::<ApprovalPolicyDocument>(data) else { return };
    let Ok(record) = policy_from_document(&doc) else { return };
    for (i, a) in record.approvers.iter().enumerate() {
        assert!(is_email(a), "approver {a:?}");
        assert_eq!(*a, a.to_ascii_lowercase());
        assert!(!record.approvers[..i].contains(a), "approver {a:?} twice");
    }
    for rule in [record.standard, record.sensitive, record.critical] {
        assert!(rule.required as usize <= record.approvers.len());
        assert!(
            rule.timeout_ms >= HOUR_MS && rule.timeout_ms <= u64::from(MAX_POLICY_HOURS) * HOUR_MS
        );
        assert_eq!(rule.timeout_ms % HOUR_MS, 0);
    }
    assert!(record.grant_ms >= HOUR_MS && record.grant_ms <= u64::from(MAX_POLICY_HOURS) * HOUR_MS);
    let back =
        policy_from_document(&record.to_document()).expect("a stored policy's document validates");
    assert_eq!(back, record, "document → record → document → record");
    let json = serde_json::to_vec(&record.to_document()).expect("prints");
    let reparsed: ApprovalPolicyDocument = serde_json::from_slice(&json).expect("parses");
    assert_eq!(policy_from_document(&reparsed).as_ref(), Ok(&record));
});
