//! The client against scripted fake nodes (axum on port 0): failover, idempotency keys,
//! headers, error decoding. No real cluster needed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ass_client::{
    Client, Error, InitRequest, PutSecretRequest, ReadOptions, Tier, UnsealRequest,
    HEADER_CONSISTENCY, HEADER_MIN_INDEX, HEADER_REQUEST_ID,
};
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Router;

/// One request as a fake node saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

type Reply = Arc<dyn Fn(&Seen) -> (u16, String) + Send + Sync>;

/// A fake node: answers every request with `reply` and records it.
struct FakeNode {
    addr: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeNode {
    async fn start(reply: impl Fn(&Seen) -> (u16, String) + Send + Sync + 'static) -> Self {
        let reply: Reply = Arc::new(reply);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let reply = Arc::clone(&reply);
                let log = Arc::clone(&log);
                async move {
                    let s = Seen {
                        method,
                        uri: uri.to_string(),
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    };
                    let (status, body) = reply(&s);
                    log.lock().unwrap().push(s);
                    (
                        StatusCode::from_u16(status).unwrap(),
                        [("content-type", "application/json")],
                        body,
                    )
                        .into_response()
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeNode { addr, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// An address where nothing listens.
async fn dead_addr() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    a
}

fn err_body(code: &str) -> String {
    format!(r#"{{"error":"{code}","message":"{code} happened"}}"#)
}

const WRITE_OK: &str = r#"{"path":"a/b","version":2,"index":17}"#;
const SECRET: &str = r#"{"path":"a/b","version":2,"value":"v","type":"api_key","tier":"sensitive","created_at":"2026-01-01T00:00:00Z"}"#;
const STATUS: &str = r#"{"initialized":true,"sealed":true,"progress":1,"threshold":3,"shares":5,"node_id":2,"leader_id":null,"leader_api":null,"term":0,"applied_index":0,"version":"0.1.0"}"#;

fn client(addrs: &[&str], token: Option<&str>) -> Client {
    Client::builder()
        .addresses(addrs)
        .token(token.map(str::to_owned))
        .backoff(Duration::from_millis(1))
        .connect_timeout(Duration::from_secs(1))
        .build()
        .unwrap()
}

fn put(value: &str) -> PutSecretRequest {
    PutSecretRequest {
        value: value.into(),
        secret_type: Some("api_key".into()),
        tier: Some(Tier::Sensitive),
        cas: None,
    }
}

/// A write that meets a sealed node is retried on the next node with the same request id,
/// so the cluster can apply it once.
#[tokio::test]
async fn write_fails_over_on_sealed_with_one_request_id() {
    let sealed = FakeNode::start(|_| (503, err_body("sealed"))).await;
    let ok = FakeNode::start(|_| (200, WRITE_OK.into())).await;
    let c = client(&[&sealed.addr, &ok.addr], Some("tok"));
    let w = c.put_secret("a/b", &put("v")).await.unwrap();
    assert_eq!((w.version, w.index), (2, 17));
    assert_eq!(c.last_write_index(), 17);

    let (a, b) = (sealed.seen(), ok.seen());
    assert_eq!((a.len(), b.len()), (1, 1));
    let id_a = a[0].header(HEADER_REQUEST_ID).unwrap();
    let id_b = b[0].header(HEADER_REQUEST_ID).unwrap();
    assert_eq!(id_a, id_b);
    assert!(uuid_like(id_a), "{id_a}");
    assert_eq!(b[0].method, Method::PUT);
    assert_eq!(b[0].uri, "/v1/secrets/a/b");
    assert_eq!(b[0].header("authorization"), Some("Bearer tok"));
    assert_eq!(
        b[0].body,
        r#"{"value":"v","type":"api_key","tier":"sensitive"}"#
    );
    // The node that answered becomes the current one.
    assert_eq!(c.current_address(), ok.addr);
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

/// Two logical writes get two different request ids.
#[tokio::test]
async fn each_logical_write_gets_its_own_request_id() {
    let ok = FakeNode::start(|_| (200, WRITE_OK.into())).await;
    let c = client(&[&ok.addr], None);
    c.put_secret("a/b", &put("1")).await.unwrap();
    c.put_secret("a/b", &put("2")).await.unwrap();
    let seen = ok.seen();
    assert_ne!(
        seen[0].header(HEADER_REQUEST_ID),
        seen[1].header(HEADER_REQUEST_ID)
    );
}

/// A refused connection moves the call to the next address; reads carry no request id.
#[tokio::test]
async fn read_fails_over_on_connection_refused() {
    let dead = dead_addr().await;
    let ok = FakeNode::start(|_| (200, SECRET.into())).await;
    let c = client(&[&dead, &ok.addr], Some("tok"));
    let opts = ReadOptions {
        version: Some(2),
        stale: true,
        min_index: Some(9),
    };
    let s = c.get_secret("a/b", &opts).await.unwrap();
    assert_eq!((s.value.as_str(), s.tier), ("v", Tier::Sensitive));
    let seen = ok.seen();
    assert_eq!(seen[0].uri, "/v1/secrets/a/b?version=2");
    assert_eq!(seen[0].header(HEADER_CONSISTENCY), Some("stale"));
    assert_eq!(seen[0].header(HEADER_MIN_INDEX), Some("9"));
    assert_eq!(seen[0].header(HEADER_REQUEST_ID), None);
}

/// A request error that another node would repeat (404) is returned at once, decoded.
#[tokio::test]
async fn not_found_does_not_fail_over() {
    let a = FakeNode::start(|_| (404, err_body("not_found"))).await;
    let b = FakeNode::start(|_| (200, SECRET.into())).await;
    let c = client(&[&a.addr, &b.addr], None);
    let e = c
        .get_secret("a/b", &ReadOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "not_found");
    assert_eq!(e.status(), Some(404));
    assert!(b.seen().is_empty());
}

/// A body that is not our JSON error (a proxy's page) becomes code `http_<status>`.
#[tokio::test]
async fn non_json_error_becomes_http_code() {
    let a = FakeNode::start(|_| (502, "<h1>bad gateway</h1>".into())).await;
    let c = client(&[&a.addr], None);
    let e = c
        .list_secrets(None, &ReadOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "http_502");
}

/// When every node is down the call ends with a transport error naming the failure.
#[tokio::test]
async fn all_nodes_down_is_a_transport_error() {
    let (d1, d2) = (dead_addr().await, dead_addr().await);
    let c = client(&[&d1, &d2], None);
    let e = c.sys_members().await.unwrap_err();
    assert!(matches!(e, Error::Transport(_)), "{e:?}");
    assert!(e.to_string().contains("no node answered"), "{e}");
}

/// When every node is sealed, the caller sees the last `sealed` answer, each node tried once.
#[tokio::test]
async fn all_nodes_sealed_returns_sealed_after_one_round() {
    let a = FakeNode::start(|_| (503, err_body("no_leader"))).await;
    let b = FakeNode::start(|_| (503, err_body("sealed"))).await;
    let c = client(&[&a.addr, &b.addr], None);
    let e = c.delete_secret("a/b", Some(3)).await.unwrap_err();
    assert_eq!(e.code(), "sealed");
    assert_eq!((a.seen().len(), b.seen().len()), (1, 1));
    assert_eq!(a.seen()[0].uri, "/v1/secrets/a/b?version=3");
    assert_eq!(a.seen()[0].method, Method::DELETE);
}

/// Unseal is per node: it never moves to another node, and never sends the token.
#[tokio::test]
async fn unseal_is_per_node_and_tokenless() {
    let dead = dead_addr().await;
    let ok = FakeNode::start(|_| (200, STATUS.into())).await;
    let c = client(&[&dead, &ok.addr], Some("root"));
    let req = UnsealRequest {
        key: Some("share".into()),
        reset: false,
    };
    assert!(matches!(
        c.sys_unseal(&req).await.unwrap_err(),
        Error::Transport(_)
    ));
    assert!(ok.seen().is_empty());

    let st = c.for_node(&ok.addr).sys_unseal(&req).await.unwrap();
    assert_eq!((st.progress, st.threshold, st.node_id), (1, 3, 2));
    let seen = ok.seen();
    assert_eq!(seen[0].uri, "/v1/sys/unseal");
    assert_eq!(seen[0].header("authorization"), None);
    assert_eq!(seen[0].body, r#"{"key":"share","reset":false}"#);
}

/// Health answers 503 for a sealed node and still carries its body.
#[tokio::test]
async fn health_returns_status_with_body() {
    let a = FakeNode::start(|_| {
        (
            503,
            r#"{"initialized":true,"sealed":true,"standby":true,"node_id":1,"version":"0.1.0","server_time_utc":"2026-01-01T00:00:00Z"}"#.into(),
        )
    })
    .await;
    let (status, h) = client(&[&a.addr], None).sys_health().await.unwrap();
    assert_eq!(status, 503);
    assert!(h.sealed);
}

/// Paths reach the server percent-encoded where needed; the prefix goes in the query.
#[tokio::test]
async fn paths_and_prefixes_are_encoded() {
    let a = FakeNode::start(|s| {
        if s.uri.starts_with("/v1/secrets?") {
            (200, r#"{"secrets":[]}"#.into())
        } else {
            (404, err_body("not_found"))
        }
    })
    .await;
    let c = client(&[&a.addr], None);
    let _ = c.get_secret("a b/c?d", &ReadOptions::default()).await;
    c.list_secrets(Some("prod/x y&z"), &ReadOptions::default())
        .await
        .unwrap();
    let seen = a.seen();
    assert_eq!(seen[0].uri, "/v1/secrets/a%20b/c%3Fd");
    assert_eq!(seen[1].uri, "/v1/secrets?prefix=prod%2Fx+y%26z");
    let e = c
        .secret_versions("a/../../sys", &ReadOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "config");
    assert_eq!(a.seen().len(), 2, "a refused path is never sent");
}

/// Init needs no token and sends the requested shape.
#[tokio::test]
async fn init_sends_shares_and_threshold() {
    let a = FakeNode::start(|_| {
        (
            200,
            r#"{"keys":["k1","k2"],"shares":2,"threshold":2,"root_token":"r"}"#.into(),
        )
    })
    .await;
    let c = client(&[&a.addr], Some("old"));
    let r = c
        .sys_init(&InitRequest {
            shares: Some(2),
            threshold: Some(2),
        })
        .await
        .unwrap();
    assert_eq!(r.keys.len(), 2);
    let s = &a.seen()[0];
    assert_eq!(s.body, r#"{"shares":2,"threshold":2}"#);
    assert_eq!(s.header("authorization"), None);
    assert!(s.header(HEADER_REQUEST_ID).is_some());
}

/// A success body that is not what the API promises is a decode error.
#[tokio::test]
async fn garbage_success_body_is_a_decode_error() {
    let a = FakeNode::start(|_| (200, "{}".into())).await;
    let e = client(&[&a.addr], None).sys_status().await.unwrap_err();
    assert_eq!(e.code(), "decode");
}

/// A per-node client for a malformed address fails locally, sending nothing.
#[tokio::test]
async fn for_node_with_a_bad_address_is_a_config_error() {
    let c = client(&["http://127.0.0.1:1"], None);
    for bad in ["not a url", "http://127.0.0.1:1?x=", "ftp://127.0.0.1:1"] {
        let e = c.for_node(bad).sys_status().await.unwrap_err();
        assert_eq!(e.code(), "config", "{bad}");
    }
}
