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
    assert_eq!(b[0].body, r#"{"value":"v","type":"api_key","tier":"sensitive"}"#);
    // The node that answered becomes the current one.
    assert_eq!(c.current_address(), ok.addr);
}

/// A node answering 429 (`rate_limited`: it is slowing down failed authentications from our
/// address) is skipped like a sealed one: the write goes to the next node with the same
/// request id, and a read too.
#[tokio::test]
async fn write_and_read_fail_over_on_429_with_one_request_id() {
    let limited = FakeNode::start(|_| (429, err_body("rate_limited"))).await;
    let ok = FakeNode::start(|s| {
        if s.method == Method::PUT {
            (200, WRITE_OK.into())
        } else {
            (200, SECRET.into())
        }
    })
    .await;
    let c = client(&[&limited.addr, &ok.addr], Some("tok"));
    c.put_secret("a/b", &put("v")).await.unwrap();
    let (a, b) = (limited.seen(), ok.seen());
    assert_eq!((a.len(), b.len()), (1, 1));
    assert_eq!(a[0].header(HEADER_REQUEST_ID), b[0].header(HEADER_REQUEST_ID));
    let c = client(&[&limited.addr, &ok.addr], Some("tok"));
    c.get_secret("a/b", &ReadOptions::default()).await.unwrap();
    assert_eq!((limited.seen().len(), ok.seen().len()), (2, 2));
    // Every node limiting: the last 429 is the answer, code kept.
    let only = client(&[&limited.addr], Some("tok"));
    let e = only.get_secret("a/b", &ReadOptions::default()).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(429), "rate_limited"));
    assert!(e.is_failover());
}

/// A token reused from the cache that the cluster refuses (401: revoked) is dropped, a new one
/// is bought with the agent key, and the call is sent once more, transparently.
#[tokio::test]
async fn a_refused_cached_token_is_replaced_and_the_call_sent_again() {
    let revoked = Arc::new(Mutex::new(false));
    let flag = Arc::clone(&revoked);
    let bought = Arc::new(Mutex::new(0u32));
    let count = Arc::clone(&bought);
    let n = FakeNode::start(move |s| match s.uri.as_str() {
        "/v1/tokens" => {
            let mut c = count.lock().unwrap();
            *c += 1;
            (200, issued(&format!("asst_{c}"), 900))
        }
        _ if *flag.lock().unwrap() && s.header("authorization") == Some("Bearer asst_1") => {
            (401, err_body("unauthorized"))
        }
        _ => (200, SECRET.into()),
    })
    .await;
    agent_client(&n.addr, &["secrets:read:a/b"])
        .get_secret("a/b", &Default::default())
        .await
        .unwrap();
    // A second client with the same key, scopes and address reuses the token (memory cache).
    agent_client(&n.addr, &["secrets:read:a/b"])
        .get_secret("a/b", &Default::default())
        .await
        .unwrap();
    assert_eq!(*bought.lock().unwrap(), 1, "one token for both clients");
    *revoked.lock().unwrap() = true;
    let c = agent_client(&n.addr, &["secrets:read:a/b"]);
    c.get_secret("a/b", &ReadOptions::default()).await.unwrap();
    let seen = n.seen();
    let tail: Vec<(&str, Option<&str>)> = seen[seen.len() - 3..]
        .iter()
        .map(|s| (s.uri.as_str(), s.header("authorization")))
        .collect();
    assert_eq!(
        tail,
        [
            ("/v1/secrets/a/b", Some("Bearer asst_1")),
            ("/v1/tokens", Some("Bearer ass_KEY")),
            ("/v1/secrets/a/b", Some("Bearer asst_2")),
        ]
    );
    // And the new token is the cached one now.
    agent_client(&n.addr, &["secrets:read:a/b"])
        .get_secret("a/b", &Default::default())
        .await
        .unwrap();
    assert_eq!(*bought.lock().unwrap(), 2);
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
    assert_ne!(seen[0].header(HEADER_REQUEST_ID), seen[1].header(HEADER_REQUEST_ID));
}

/// A refused connection moves the call to the next address; reads carry no request id.
#[tokio::test]
async fn read_fails_over_on_connection_refused() {
    let dead = dead_addr().await;
    let ok = FakeNode::start(|_| (200, SECRET.into())).await;
    let c = client(&[&dead, &ok.addr], Some("tok"));
    let opts = ReadOptions { version: Some(2), stale: true, min_index: Some(9), reason: None };
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
    let e = c.get_secret("a/b", &ReadOptions::default()).await.unwrap_err();
    assert_eq!(e.code(), "not_found");
    assert_eq!(e.status(), Some(404));
    assert!(b.seen().is_empty());
}

/// A body that is not our JSON error (a proxy's page) becomes code `http_<status>`.
#[tokio::test]
async fn non_json_error_becomes_http_code() {
    let a = FakeNode::start(|_| (502, "<h1>bad gateway</h1>".into())).await;
    let c = client(&[&a.addr], None);
    let e = c.list_secrets(None, &ReadOptions::default()).await.unwrap_err();
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

/// A write whose first attempt may have been applied (the node read it and dropped the
/// connection without an answer) keeps that ambiguous error, even when the retries on the
/// one address (a load balancer) then find the port closed: a "cannot connect" would tell
/// the caller the write was surely not done.
#[tokio::test]
async fn a_call_that_may_have_been_applied_never_ends_as_cannot_connect() {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let node = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let _ = conn.read(&mut buf).await;
        // Gone without answering; the port closes with it.
    });
    let c = client(&[&addr], None);
    let e = c.put_secret("a/b", &put("v")).await.unwrap_err();
    node.await.unwrap();
    assert!(matches!(e, Error::Transport(_)), "{e:?}");
    assert!(!e.to_string().contains("cannot connect"), "must stay ambiguous: {e}");
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
    let req = UnsealRequest { key: Some("share".into()), reset: false };
    assert!(matches!(c.sys_unseal(&req).await.unwrap_err(), Error::Transport(_)));
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
    c.list_secrets(Some("prod/x y&z"), &ReadOptions::default()).await.unwrap();
    let seen = a.seen();
    assert_eq!(seen[0].uri, "/v1/secrets/a%20b/c%3Fd");
    assert_eq!(seen[1].uri, "/v1/secrets?prefix=prod%2Fx+y%26z");
    let e = c.secret_versions("a/../../sys", &ReadOptions::default()).await.unwrap_err();
    assert_eq!(e.code(), "config");
    assert_eq!(a.seen().len(), 2, "a refused path is never sent");
}

/// Init needs no token and sends the requested shape.
#[tokio::test]
async fn init_sends_shares_and_threshold() {
    let a = FakeNode::start(|_| {
        (200, r#"{"keys":["k1","k2"],"shares":2,"threshold":2,"root_token":"r"}"#.into())
    })
    .await;
    let c = client(&[&a.addr], Some("old"));
    let r = c.sys_init(&InitRequest { shares: Some(2), threshold: Some(2) }).await.unwrap();
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

// ---------------------------------------------------------------------------------------------
// Agent-key mode and token refresh
// ---------------------------------------------------------------------------------------------

/// An issue/refresh answer for `token`, with `remaining` seconds left of a 15-minute life.
fn issued(token: &str, remaining: u64) -> String {
    serde_json::json!({
        "token": token, "accessor": "0b9e6c1e-3d7f-4c61-9f0e-1a2b3c4d5e6f",
        "agent_name": "ci", "scopes": ["secrets:read:a/b"], "ip_allowlist": [],
        "issued_at": "2026-01-01T10:00:00.000Z", "expires_at": "2026-01-01T10:15:00.000Z",
        "ttl_remaining_secs": remaining
    })
    .to_string()
}

fn agent_client(addr: &str, scopes: &[&str]) -> Client {
    client(&[addr], None).with_agent_key(
        "ass_KEY",
        scopes.iter().map(|s| (*s).to_owned()).collect(),
        Duration::from_secs(15 * 60),
    )
}

/// With an agent key the client buys a minimum-scope token (agent key as bearer) before its
/// first call, then uses that token, and buys no second one while it is fresh.
#[tokio::test]
async fn agent_key_is_exchanged_once_then_the_token_is_the_bearer() {
    let n = FakeNode::start(|s| match (s.method.as_str(), s.uri.as_str()) {
        ("POST", "/v1/tokens") => (200, issued("asst_ONE", 900)),
        _ => (200, SECRET.into()),
    })
    .await;
    let c = agent_client(&n.addr, &["secrets:read:a/b"]);
    c.get_secret("a/b", &ReadOptions::default()).await.unwrap();
    c.clone().get_secret("a/b", &ReadOptions::default()).await.unwrap();
    let seen = n.seen();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!((seen[0].method.as_str(), seen[0].uri.as_str()), ("POST", "/v1/tokens"));
    assert_eq!(seen[0].header("authorization"), Some("Bearer ass_KEY"));
    assert_eq!(seen[0].body, r#"{"scopes":["secrets:read:a/b"],"ttl":"15m"}"#);
    assert!(seen[0].header(HEADER_REQUEST_ID).is_some(), "the exchange is a write");
    for s in &seen[1..] {
        assert_eq!(s.uri, "/v1/secrets/a/b");
        assert_eq!(s.header("authorization"), Some("Bearer asst_ONE"));
    }
    assert!(!format!("{c:?}").contains("asst_ONE"));
}

/// Concurrent first calls share one exchange.
#[tokio::test]
async fn concurrent_calls_exchange_once() {
    let n = FakeNode::start(|s| match s.uri.as_str() {
        "/v1/tokens" => (200, issued("asst_ONE", 900)),
        _ => (200, SECRET.into()),
    })
    .await;
    let c = agent_client(&n.addr, &["secrets:read:a/b"]);
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let c = c.clone();
        calls.spawn(async move { c.get_secret("a/b", &ReadOptions::default()).await });
    }
    while let Some(r) = calls.join_next().await {
        r.unwrap().unwrap();
    }
    assert_eq!(n.seen().iter().filter(|s| s.uri == "/v1/tokens").count(), 1);
}

/// A token near its expiry is refreshed before the next call, and the new one is used.
#[tokio::test]
async fn a_token_near_expiry_is_refreshed_before_the_next_call() {
    let n = FakeNode::start(|s| match s.uri.as_str() {
        // 30 s left of 15 min: inside the 3-minute margin at once.
        "/v1/tokens" => (200, issued("asst_ONE", 30)),
        "/v1/tokens/refresh" => (200, issued("asst_TWO", 900)),
        _ => (200, SECRET.into()),
    })
    .await;
    let c = agent_client(&n.addr, &["secrets:read:a/b"]);
    c.get_secret("a/b", &ReadOptions::default()).await.unwrap();
    c.get_secret("a/b", &ReadOptions::default()).await.unwrap();
    c.get_secret("a/b", &ReadOptions::default()).await.unwrap();
    let seen = n.seen();
    let uris: Vec<&str> = seen.iter().map(|s| s.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "/v1/tokens",
            "/v1/secrets/a/b",
            "/v1/tokens/refresh",
            "/v1/secrets/a/b",
            "/v1/secrets/a/b"
        ]
    );
    assert_eq!(seen[1].header("authorization"), Some("Bearer asst_ONE"));
    assert_eq!(seen[2].header("authorization"), Some("Bearer asst_ONE"));
    assert_eq!(seen[2].body, "", "refresh has an empty body");
    assert!(seen[2].header(HEADER_REQUEST_ID).is_some(), "refresh is a write");
    assert_eq!(seen[3].header("authorization"), Some("Bearer asst_TWO"));
    assert_eq!(seen[4].header("authorization"), Some("Bearer asst_TWO"));
}

/// A refresh refused with 401 falls back to a new exchange with the agent key.
#[tokio::test]
async fn refresh_401_exchanges_the_agent_key_again() {
    let exchanges = Arc::new(Mutex::new(0u32));
    let count = Arc::clone(&exchanges);
    let n = FakeNode::start(move |s| match s.uri.as_str() {
        "/v1/tokens" => {
            let mut c = count.lock().unwrap();
            *c += 1;
            (200, issued(&format!("asst_{c}"), if *c == 1 { 10 } else { 900 }))
        }
        "/v1/tokens/refresh" => (401, err_body("unauthorized")),
        _ => (200, SECRET.into()),
    })
    .await;
    let c = agent_client(&n.addr, &["secrets:read:a/b"]);
    c.get_secret("a/b", &ReadOptions::default()).await.unwrap();
    c.get_secret("a/b", &ReadOptions::default()).await.unwrap();
    let seen = n.seen();
    let uris: Vec<&str> = seen.iter().map(|s| s.uri.as_str()).collect();
    assert_eq!(
        uris,
        ["/v1/tokens", "/v1/secrets/a/b", "/v1/tokens/refresh", "/v1/tokens", "/v1/secrets/a/b"]
    );
    assert_eq!(seen[3].header("authorization"), Some("Bearer ass_KEY"));
    assert_eq!(seen[4].header("authorization"), Some("Bearer asst_2"));
}

/// A refresh that fails for another reason keeps the still-valid token.
#[tokio::test]
async fn refresh_failure_keeps_a_token_that_still_works() {
    let n = FakeNode::start(|s| match s.uri.as_str() {
        "/v1/tokens" => (200, issued("asst_ONE", 30)),
        "/v1/tokens/refresh" => (500, err_body("internal")),
        _ => (200, SECRET.into()),
    })
    .await;
    let c = agent_client(&n.addr, &["secrets:read:a/b"]);
    c.get_secret("a/b", &ReadOptions::default()).await.unwrap();
    c.get_secret("a/b", &ReadOptions::default()).await.unwrap();
    let seen = n.seen();
    assert_eq!(seen[2].uri, "/v1/tokens/refresh");
    assert_eq!(seen[3].header("authorization"), Some("Bearer asst_ONE"));
}

/// A refused exchange keeps the server's code and says what was asked for.
#[tokio::test]
async fn refused_exchange_names_the_scopes() {
    let n = FakeNode::start(|_| (403, err_body("scope_denied"))).await;
    let c = agent_client(&n.addr, &["secrets:read:production/stripe/KEY"]);
    let e = c.get_secret("production/stripe/KEY", &ReadOptions::default()).await.unwrap_err();
    assert_eq!((e.code(), e.status()), ("scope_denied", Some(403)));
    assert!(e.to_string().contains("secrets:read:production/stripe/KEY"), "{e}");
    assert!(!e.to_string().contains("ass_KEY"), "{e}");
    assert_eq!(n.seen().len(), 1, "the secret was never asked for");
}

/// A `replayed` exchange (first answer lost) is retried once as a new request.
#[tokio::test]
async fn replayed_exchange_is_retried_with_a_new_request_id() {
    let first = Arc::new(Mutex::new(true));
    let f = Arc::clone(&first);
    let n = FakeNode::start(move |s| match s.uri.as_str() {
        "/v1/tokens" if std::mem::replace(&mut *f.lock().unwrap(), false) => {
            (409, err_body("replayed"))
        }
        "/v1/tokens" => (200, issued("asst_ONE", 900)),
        _ => (200, SECRET.into()),
    })
    .await;
    let c = agent_client(&n.addr, &["secrets:read:a/b"]);
    c.get_secret("a/b", &ReadOptions::default()).await.unwrap();
    let seen = n.seen();
    assert_eq!(seen.len(), 3);
    assert_ne!(seen[0].header(HEADER_REQUEST_ID), seen[1].header(HEADER_REQUEST_ID));
}

/// An explicit issue surfaces `replayed`: the token it made can't be shown again.
#[tokio::test]
async fn replayed_issue_is_reported() {
    let n = FakeNode::start(|_| (409, err_body("replayed"))).await;
    let c = client(&[&n.addr], Some("asst_admin"));
    let req = ass_client::IssueTokenRequest {
        scopes: vec!["secrets:read:a/*".into()],
        ttl: "1h".into(),
        ip_allowlist: vec![],
        justification: None,
    };
    assert_eq!(c.issue_token(&req).await.unwrap_err().code(), "replayed");
}

/// `issue_token` with an agent key sends the key itself, buying no session token.
#[tokio::test]
async fn issue_with_an_agent_key_sends_the_key() {
    let n = FakeNode::start(|_| (200, issued("asst_NEW", 3600))).await;
    let c = agent_client(&n.addr, &[]);
    let req = ass_client::IssueTokenRequest {
        scopes: vec!["secrets:read:production/gemini/*".into()],
        ttl: "1h".into(),
        ip_allowlist: vec!["10.0.1.100/32".into()],
        justification: None,
    };
    let t = c.issue_token(&req).await.unwrap();
    assert_eq!(t.token, "asst_NEW");
    let seen = n.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("authorization"), Some("Bearer ass_KEY"));
    assert_eq!(
        seen[0].body,
        r#"{"scopes":["secrets:read:production/gemini/*"],"ttl":"1h","ip_allowlist":["10.0.1.100/32"]}"#
    );
}

/// An agent key without scopes can't buy a session token: a local error, nothing sent.
#[tokio::test]
async fn agent_key_without_scopes_is_a_config_error() {
    let n = FakeNode::start(|_| (200, SECRET.into())).await;
    let c = agent_client(&n.addr, &[]);
    let e = c.get_secret("a/b", &ReadOptions::default()).await.unwrap_err();
    assert_eq!(e.code(), "config");
    assert!(n.seen().is_empty());
}

/// `lookup_self` teaches the client its token's expiry, so the next call refreshes it;
/// `refresh_token` makes the new token the bearer.
#[tokio::test]
async fn lookup_self_enables_refresh_and_refresh_switches_the_bearer() {
    let n = FakeNode::start(|s| match s.uri.as_str() {
        "/v1/tokens/self" => {
            let v: serde_json::Value = serde_json::from_str(&issued("x", 20)).unwrap();
            let mut info = v.as_object().unwrap().clone();
            info.remove("token");
            (200, serde_json::Value::Object(info).to_string())
        }
        "/v1/tokens/refresh" if s.header("authorization") == Some("Bearer asst_OLD") => {
            (200, issued("asst_NEW", 900))
        }
        "/v1/tokens/refresh" => (200, issued("asst_NEWER", 900)),
        _ => (200, SECRET.into()),
    })
    .await;
    let c = client(&[&n.addr], Some("asst_OLD"));
    c.get_secret("a/b", &ReadOptions::default()).await.unwrap();
    let info = c.lookup_self().await.unwrap();
    assert_eq!(info.ttl_remaining_secs, 20);
    c.get_secret("a/b", &ReadOptions::default()).await.unwrap();
    let r = c.refresh_token().await.unwrap();
    assert_eq!(r.token, "asst_NEWER");
    c.get_secret("a/b", &ReadOptions::default()).await.unwrap();
    let seen: Vec<(String, String)> = n
        .seen()
        .iter()
        .map(|s| (s.uri.clone(), s.header("authorization").unwrap_or("").to_owned()))
        .collect();
    let want = [
        ("/v1/secrets/a/b", "Bearer asst_OLD"),
        ("/v1/tokens/self", "Bearer asst_OLD"),
        ("/v1/tokens/refresh", "Bearer asst_OLD"),
        ("/v1/secrets/a/b", "Bearer asst_NEW"),
        ("/v1/tokens/refresh", "Bearer asst_NEW"),
        ("/v1/secrets/a/b", "Bearer asst_NEWER"),
    ];
    let got: Vec<(&str, &str)> = seen.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(got, want);
}

/// Agent and token routes, methods and the generate-root share.
#[tokio::test]
async fn identity_routes_and_methods() {
    let n = FakeNode::start(|s| match s.uri.as_str() {
        "/v1/agents/ci/revoke" => (
            200,
            r#"{"id":"i","name":"ci","scopes":["secrets:read:a/*"],"ip_allowlist":[],"created_at":"t","revoked_at":"t2"}"#.into(),
        ),
        "/v1/tokens?all=true" => (200, r#"{"tokens":[]}"#.into()),
        "/v1/sys/generate-root" => (200, r#"{"progress":1,"threshold":3}"#.into()),
        "/v1/sys/root/revoke" => (200, r#"{"revoked":true,"index":42}"#.into()),
        "/v1/policy/tokens" => (200, r#"{"max_ttl":"12h","break_glass":false,"break_glass_max_ttl":"72h"}"#.into()),
        _ => (404, err_body("no_route")),
    })
    .await;
    let c = client(&[&n.addr], Some("root"));
    assert!(c.revoke_agent("ci").await.unwrap().revoked_at.is_some());
    assert!(c.list_tokens(true).await.unwrap().tokens.is_empty());
    let g = c
        .generate_root(&ass_client::GenerateRootRequest {
            key: Some("c2hhcmU=".into()),
            reset: false,
        })
        .await
        .unwrap();
    assert_eq!((g.progress, g.threshold, g.root_token), (1, 3, None));
    assert_eq!(c.revoke_root().await.unwrap().index, 42);
    assert_eq!(c.last_write_index(), 42);
    let p = ass_client::TokenPolicy { max_ttl: "12h".into(), ..Default::default() };
    assert_eq!(c.set_token_policy(&p).await.unwrap(), p);
    let seen = n.seen();
    let m: Vec<(&str, &str)> = seen.iter().map(|s| (s.method.as_str(), s.uri.as_str())).collect();
    assert_eq!(
        m,
        [
            ("POST", "/v1/agents/ci/revoke"),
            ("GET", "/v1/tokens?all=true"),
            ("POST", "/v1/sys/generate-root"),
            ("POST", "/v1/sys/root/revoke"),
            ("PUT", "/v1/policy/tokens"),
        ]
    );
    assert_eq!(seen[2].header("authorization"), None, "generate-root is unauthenticated");
    assert_eq!(seen[2].body, r#"{"key":"c2hhcmU=","reset":false}"#);
    assert_eq!(seen[3].header("authorization"), Some("Bearer root"));
}

const APPROVAL: &str = r#"{"id":"6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f","status":"pending","agent_name":"payment-service","path":"production/stripe/STRIPE_SECRET_KEY","tier":"critical","version":5,"reason":"payout","required_approvals":2,"approvals":[{"approver":"you@company.com","comment":"ok","at":"t1"}],"requested_at":"t0","expires_at":"t9"}"#;
const APPROVAL_ID: &str = "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f";

/// A gated read sends its reason as `x-ass-reason` and fails with the approval id the node
/// named; no failover (another node would open no other request).
#[tokio::test]
async fn gated_read_sends_the_reason_and_keeps_the_approval_id() {
    let n = FakeNode::start(|_| {
        (
            403,
            format!(
                r#"{{"error":"approval_required","message":"needs approval","approval_id":"{APPROVAL_ID}"}}"#
            ),
        )
    })
    .await;
    let other = FakeNode::start(|_| (200, SECRET.into())).await;
    let c = client(&[&n.addr, &other.addr], Some("t"));
    let opts = ReadOptions { reason: Some("payout run".into()), ..Default::default() };
    let e = c.get_secret("production/stripe/STRIPE_SECRET_KEY", &opts).await.unwrap_err();
    assert!(e.is_approval_required());
    assert_eq!((e.status(), e.approval_id()), (Some(403), Some(APPROVAL_ID)));
    let seen = n.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header(ass_client::HEADER_REASON), Some("payout run"));
    assert!(other.seen().is_empty(), "a refusal is not a reason to fail over");
    // Without a reason, no header; a reason that is not printable ASCII is refused locally.
    c.get_secret("a/b", &ReadOptions::default()).await.unwrap_err();
    assert_eq!(n.seen()[1].header(ass_client::HEADER_REASON), None);
    let bad = ReadOptions { reason: Some("café".into()), ..Default::default() };
    assert_eq!(c.get_secret("a/b", &bad).await.unwrap_err().code(), "config");
    assert_eq!(n.seen().len(), 2, "nothing sent");
}

/// Approval routes, methods, bodies; decisions carry a request id.
#[tokio::test]
async fn approval_routes_methods_and_bodies() {
    let policy = r#"{"approval_policy":{"tiers":{"critical":{"required_approvals":2,"timeout_hours":24}},"approvers":["you@company.com","security@company.com"],"grant_hours":1}}"#;
    let n = FakeNode::start(move |s| match s.uri.split('?').next().unwrap() {
        "/v1/approvals" => (200, format!(r#"{{"approvals":[{APPROVAL}]}}"#)),
        "/v1/policy/approvals" => (200, policy.into()),
        u if u.starts_with("/v1/approvals/") => (200, APPROVAL.into()),
        _ => (404, err_body("no_route")),
    })
    .await;
    let c = client(&[&n.addr], Some("asst_approver"));
    let l = c.list_approvals(None).await.unwrap();
    assert_eq!(l.approvals[0].reason.as_deref(), Some("payout"));
    c.list_approvals(Some("all")).await.unwrap();
    let a = c.get_approval(APPROVAL_ID).await.unwrap();
    assert_eq!((a.required_approvals, a.approvals.len()), (2, 1));
    c.approve(APPROVAL_ID, Some("ok")).await.unwrap();
    c.deny(APPROVAL_ID, None).await.unwrap();
    let doc = c.get_approval_policy().await.unwrap();
    assert_eq!(doc.approval_policy.approvers.len(), 2);
    assert_eq!(c.set_approval_policy(&doc).await.unwrap(), doc);
    let seen = n.seen();
    let m: Vec<(&str, &str)> = seen.iter().map(|s| (s.method.as_str(), s.uri.as_str())).collect();
    let approve = format!("/v1/approvals/{APPROVAL_ID}/approve");
    let deny = format!("/v1/approvals/{APPROVAL_ID}/deny");
    let show = format!("/v1/approvals/{APPROVAL_ID}");
    assert_eq!(
        m,
        [
            ("GET", "/v1/approvals"),
            ("GET", "/v1/approvals?status=all"),
            ("GET", show.as_str()),
            ("POST", approve.as_str()),
            ("POST", deny.as_str()),
            ("GET", "/v1/policy/approvals"),
            ("PUT", "/v1/policy/approvals"),
        ]
    );
    assert_eq!(seen[3].body, r#"{"comment":"ok"}"#);
    assert_eq!(seen[4].body, "{}");
    assert!(seen[3].header(HEADER_REQUEST_ID).is_some_and(uuid_like));
    assert_eq!(seen[6].body, policy);
    assert!(seen.iter().all(|s| s.header("authorization") == Some("Bearer asst_approver")));
}

/// Refused decisions keep the server's code and carry no approval id.
#[tokio::test]
async fn refused_decisions_keep_their_code() {
    let n = FakeNode::start(|_| (409, err_body("already_decided"))).await;
    let c = client(&[&n.addr], Some("t"));
    let e = c.approve(APPROVAL_ID, None).await.unwrap_err();
    assert_eq!((e.status(), e.code(), e.approval_id()), (Some(409), "already_decided", None));
    assert!(!e.is_approval_required());
    assert_eq!(c.approve("..", None).await.unwrap_err().code(), "config");
}

const MEMBERS: &str = r#"{"members":[{"id":4,"api_addr":"n4:8200","cluster_addr":"n4:8201","voter":false,"leader":false,"matched_index":9}]}"#;

/// Rotate and the membership calls are writes: each logical call keeps one request id across
/// failover, and two calls get two ids. Rotate's index counts as a write index.
#[tokio::test]
async fn rotate_and_membership_calls_fail_over_with_one_request_id() {
    let sealed = FakeNode::start(|_| (503, err_body("sealed"))).await;
    let ok = FakeNode::start(|s| match s.uri.as_str() {
        "/v1/sys/rotate" => (200, r#"{"term":2,"index":41}"#.into()),
        _ => (200, MEMBERS.into()),
    })
    .await;
    let c = client(&[&sealed.addr, &ok.addr], Some("root"));
    let r = c.rotate().await.unwrap();
    assert_eq!((r.term, r.index, c.last_write_index()), (2, 41, 41));
    // The next calls start on the node that answered: put the sealed one first again.
    let c = client(&[&sealed.addr, &ok.addr], Some("root"));
    let req = ass_client::AddMemberRequest {
        id: 4,
        api_addr: "n4:8200".into(),
        cluster_addr: "n4:8201".into(),
    };
    let m = c.add_member(&req).await.unwrap();
    assert_eq!((m.members[0].id, m.members[0].voter), (4, false));
    c.promote_member(4).await.unwrap();
    c.remove_member(4).await.unwrap();
    let (a, b) = (sealed.seen(), ok.seen());
    let m: Vec<(&str, &str)> = b.iter().map(|s| (s.method.as_str(), s.uri.as_str())).collect();
    assert_eq!(
        m,
        [
            ("POST", "/v1/sys/rotate"),
            ("POST", "/v1/sys/members"),
            ("POST", "/v1/sys/members/4/promote"),
            ("DELETE", "/v1/sys/members/4"),
        ]
    );
    assert_eq!(b[1].body, r#"{"id":4,"api_addr":"n4:8200","cluster_addr":"n4:8201"}"#);
    // rotate and add_member went to the sealed node first, with the same id they kept.
    assert_eq!(a.len(), 2);
    for (first, retried) in a.iter().zip(&b) {
        assert_eq!(first.uri, retried.uri);
        let id = first.header(HEADER_REQUEST_ID).unwrap();
        assert!(uuid_like(id), "{id}");
        assert_eq!(Some(id), retried.header(HEADER_REQUEST_ID));
    }
    let ids: std::collections::HashSet<_> =
        b.iter().map(|s| s.header(HEADER_REQUEST_ID).unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 4, "one id per logical call");
    assert!(b.iter().all(|s| s.header("authorization") == Some("Bearer root")));
}

/// Rekey is per node: the current node only, with the token; a sealed answer is returned,
/// not failed over. The new shares come back once.
#[tokio::test]
async fn rekey_is_per_node_with_the_token() {
    let sealed = FakeNode::start(|_| (503, err_body("sealed"))).await;
    let other = FakeNode::start(|_| {
        (200, r#"{"progress":0,"threshold":2,"keys":["k1","k2","k3"]}"#.into())
    })
    .await;
    let c = client(&[&sealed.addr, &other.addr], Some("root"));
    let req = ass_client::RekeyRequest {
        key: Some("c2hhcmU=".into()),
        reset: false,
        shares: Some(3),
        threshold: Some(2),
    };
    assert_eq!(c.rekey(&req).await.unwrap_err().code(), "sealed");
    assert!(other.seen().is_empty(), "rekey never fails over");
    let r = c.for_node(&other.addr).rekey(&req).await.unwrap();
    assert_eq!(r.keys.as_deref().map(<[String]>::len), Some(3));
    let s = &other.seen()[0];
    assert_eq!((s.method.as_str(), s.uri.as_str()), ("POST", "/v1/sys/rekey"));
    assert_eq!(s.body, r#"{"key":"c2hhcmU=","reset":false,"shares":3,"threshold":2}"#);
    assert_eq!(s.header("authorization"), Some("Bearer root"));
}
