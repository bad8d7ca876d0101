//! Peer RPC bodies on the cluster port and their answers (`storage::decode` of openraft's
//! append/vote/snapshot requests and responses, proposals (`command::Request`), forwarded
//! client requests, removal notices, read-index and node-state answers): any bytes decode or
//! fail without a panic; what decodes re-encodes to a fixed point; a forwarded request that
//! rebuilds keeps its method, URI, headers and body.
#![no_main]

use ass_node::autopilot::NodeState;
use ass_node::command::{Applied, Request, Response};
use ass_node::http::forward::{self, ForwardedRequest, ForwardedResponse};
use ass_node::node::ProposeError;
use ass_node::raft::read_index::ReadIndexError;
use ass_node::raft::types::{NodeId, TypeConfig};
use ass_node_fuzz::stored_fixed_point as fixed;
use libfuzzer_sys::fuzz_target;
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else { return };
    match which % 14 {
        0 => drop(fixed::<AppendEntriesRequest<TypeConfig>>(bytes)),
        1 => drop(fixed::<VoteRequest<NodeId>>(bytes)),
        2 => drop(fixed::<InstallSnapshotRequest<TypeConfig>>(bytes)),
        3 => drop(fixed::<Request>(bytes)),
        4 => drop(fixed::<u64>(bytes)),
        5 => drop(fixed::<Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>>(bytes)),
        6 => drop(fixed::<Result<VoteResponse<NodeId>, RaftError<NodeId>>>(bytes)),
        7 => drop(fixed::<
            Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
        >(bytes)),
        8 => drop(fixed::<Result<(u64, Response, bool), ProposeError>>(bytes)),
        9 => drop(fixed::<Result<u64, ReadIndexError>>(bytes)),
        10 => drop(fixed::<NodeState>(bytes)),
        11 => drop(fixed::<ForwardedResponse>(bytes)),
        12 => drop(fixed::<Applied>(bytes)),
        _ => {
            if fixed::<ForwardedRequest>(bytes).is_none() {
                return;
            }
            let env: ForwardedRequest = ass_node::storage::decode(bytes).expect("decoded above");
            let (method, body) = (env.method.clone(), env.body.clone());
            let n_headers = env.headers.len();
            if let Ok(req) = forward::rebuild(env) {
                assert_eq!(req.method().as_str(), method);
                assert_eq!(req.headers().len(), n_headers);
                let got = futures_body(req.into_body());
                assert_eq!(got, body);
            }
        }
    }
});

/// The whole body of a rebuilt request (an in-memory body: one poll).
fn futures_body(body: axum::body::Body) -> Vec<u8> {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    rt.block_on(async {
        axum::body::to_bytes(body, usize::MAX).await.expect("in-memory body").to_vec()
    })
}
