//! The API's JSON bodies (the wire types of `ass_client::types`, as the node's handlers and
//! the client parse them): any bytes parse or fail without a panic, and what parses prints to
//! JSON that parses and prints the same (a fixed point after one round). The first byte picks
//! the type: every request body the node reads and every answer the client reads.
#![no_main]

use ass_client::types::*;
use ass_node_fuzz::json_fixed_point as fixed;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else { return };
    match which % 46 {
        // Request bodies (what a node takes from any client).
        0 => drop(fixed::<InitRequest>(bytes)),
        1 => drop(fixed::<SealMigrateRequest>(bytes)),
        2 => drop(fixed::<UnsealRequest>(bytes)),
        3 => drop(fixed::<PutSecretRequest>(bytes)),
        4 => drop(fixed::<CreateAgentRequest>(bytes)),
        5 => drop(fixed::<IssueTokenRequest>(bytes)),
        6 => drop(fixed::<TokenPolicy>(bytes)),
        7 => drop(fixed::<GenerateRootRequest>(bytes)),
        8 => drop(fixed::<ApprovalPolicyDocument>(bytes)),
        9 => drop(fixed::<DecideRequest>(bytes)),
        10 => drop(fixed::<SnapshotRestoreRequest>(bytes)),
        11 => drop(fixed::<RekeyRequest>(bytes)),
        12 => drop(fixed::<AddMemberRequest>(bytes)),
        13 => drop(fixed::<Tier>(bytes)),
        // Answers (what the client and CLI take from a node or a proxy in between).
        14 => drop(fixed::<ErrorBody>(bytes)),
        15 => drop(fixed::<InitResponse>(bytes)),
        16 => drop(fixed::<SealMigrateResponse>(bytes)),
        17 => drop(fixed::<SealStatus>(bytes)),
        18 => drop(fixed::<WriteResponse>(bytes)),
        19 => drop(fixed::<SecretResponse>(bytes)),
        20 => drop(fixed::<SecretMetadata>(bytes)),
        21 => drop(fixed::<ListResponse>(bytes)),
        22 => drop(fixed::<VersionInfo>(bytes)),
        23 => drop(fixed::<VersionsResponse>(bytes)),
        24 => drop(fixed::<DeleteResponse>(bytes)),
        25 => drop(fixed::<Member>(bytes)),
        26 => drop(fixed::<MembersResponse>(bytes)),
        27 => drop(fixed::<HealthResponse>(bytes)),
        28 => drop(fixed::<AgentInfo>(bytes)),
        29 => drop(fixed::<AgentKeyResponse>(bytes)),
        30 => drop(fixed::<ListAgentsResponse>(bytes)),
        31 => drop(fixed::<TokenInfo>(bytes)),
        32 => drop(fixed::<IssueTokenResponse>(bytes)),
        33 => drop(fixed::<ListTokensResponse>(bytes)),
        34 => drop(fixed::<GenerateRootResponse>(bytes)),
        35 => drop(fixed::<ApprovalInfo>(bytes)),
        36 => drop(fixed::<Decision>(bytes)),
        37 => drop(fixed::<ListApprovalsResponse>(bytes)),
        38 => drop(fixed::<RotateResponse>(bytes)),
        39 => drop(fixed::<SnapshotRestoreResponse>(bytes)),
        40 => drop(fixed::<RekeyResponse>(bytes)),
        41 => drop(fixed::<StepDownResponse>(bytes)),
        42 => drop(fixed::<AutopilotState>(bytes)),
        43 => drop(fixed::<AutopilotServer>(bytes)),
        44 => drop(fixed::<ApprovalPolicy>(bytes)),
        _ => drop(fixed::<TierRule>(bytes)),
    }
});
