//! The PROXY protocol through the real haproxy with the shipped config (`send-proxy-v2`):
//! per-address rules judge the client haproxy names, and nodes refuse PROXY headers from
//! anyone else, and connections from the proxy that lack one.

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{api_ports, free_port, render_haproxy, spawn, tool, Tls, HAPROXY_SOURCE};
use crate::harness::Cluster;

/// A client of the load balancer bound to `local` (127.0.0.2, 127.0.0.3…), a new connection
/// per request so haproxy picks a server (and sends a header) each time.
fn client_from(local: &str, ca: &[u8]) -> reqwest::Client {
    let tls = ass_testkit::api::api_client_config(ca).unwrap();
    reqwest::Client::builder()
        .local_address(local.parse::<IpAddr>().unwrap())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .tls_backend_preconfigured(tls)
        .build()
        .unwrap()
}

async fn get(http: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    match http.get(url).bearer_auth(token).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        Err(e) => (0, json!({"transport": e.to_string()})),
    }
}

/// Sum of `ass_proxy_protocol_rejected_total{reason}` over the nodes.
async fn rejected(c: &Cluster, reason: &str) -> u64 {
    let mut total = 0;
    for i in 0..c.dev.nodes.len() {
        let r = c.call(i, "GET", "/metrics", None).await;
        for line in r.text.lines() {
            if line.starts_with("ass_proxy_protocol_rejected_total")
                && line.contains(&format!("reason=\"{reason}\""))
            {
                total += line.rsplit(' ').next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            }
        }
    }
    total
}

/// Opens a raw TCP connection from `local` to `to`, writes `first`, and says whether the node
/// closed it without a byte of answer (true) or answered something (false).
async fn closed_without_answer(local: &str, to: SocketAddr, first: &[u8]) -> bool {
    let s = tokio::net::TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::new(local.parse().unwrap(), 0)).unwrap();
    let mut sock = s.connect(to).await.unwrap();
    let _ = sock.write_all(first).await;
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(12), sock.read(&mut buf)).await;
    matches!(read, Ok(Ok(0)) | Ok(Err(_)))
}

/// Behind the shipped haproxy (`send-proxy-v2`), a token allowlisted to 127.0.0.2/32 works
/// from a client bound to 127.0.0.2 and is refused from 127.0.0.3; bad tokens from
/// 127.0.0.3 get 127.0.0.3 rate limited, not 127.0.0.2; the audit trail names the client.
/// Straight to a node, a PROXY header from a non-proxy and a header-less connection from the
/// proxy's address are both closed and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_proxy_protocol_gives_nodes_the_real_client_address() {
    let test = "haproxy_proxy_protocol_gives_nodes_the_real_client_address";
    let Some(haproxy) = tool("haproxy", test) else {
        return;
    };
    let c = Cluster::start_with(
        3,
        "[api]\nproxy_protocol_from = [\"127.0.0.9/32\"]\n[auth]\nmax_failures_per_minute = 5\n",
    )
    .await;
    let secret = "production/lb/PROXY_KEY";
    assert_eq!(c.put(0, secret, json!({"value": "real-client"})).await.status, 200);
    let read = ["secrets:read:production/*"];
    let agent = c
        .call(
            0,
            "POST",
            "/v1/agents",
            Some(
                json!({"name": "behind-haproxy", "scopes": read, "ip_allowlist": ["127.0.0.0/8"]}),
            ),
        )
        .await;
    assert_eq!(agent.status, 200, "{:?}", agent.body);
    let key = agent.body["agent_key"].as_str().unwrap().to_string();
    let r = c
        .send_as(
            0,
            Some(&key),
            "POST",
            "/v1/tokens",
            Some(json!({"scopes": read, "ttl": "1h", "ip_allowlist": ["127.0.0.2/32"]})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let fenced = r.body["token"].as_str().unwrap().to_string();

    let lb = free_port();
    let cfg = c.dir().join("haproxy-proxy.cfg");
    let ca_file = c.dev.ca_file.clone().expect("a TLS cluster");
    std::fs::write(&cfg, render_haproxy(lb, &api_ports(&c), Tls::Ca(&ca_file))).unwrap();
    assert!(std::fs::read_to_string(&cfg).unwrap().contains("send-proxy-v2"));
    let log = c.dir().join("haproxy-proxy.log");
    let _haproxy = spawn(Command::new(&haproxy).arg("-db").arg("-f").arg(&cfg), &log);

    ass_node::tls::install_default_provider();
    let ca = std::fs::read(&ca_file).unwrap();
    let (from2, from3) = (client_from("127.0.0.2", &ca), client_from("127.0.0.3", &ca));
    let url = format!("https://127.0.0.1:{lb}/v1/secrets/{secret}");

    // haproxy's health checks (PROXY v2 + TLS) must mark the nodes up first.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = get(&from2, &url, &fenced).await;
        if status == 200 {
            assert_eq!(body["value"], "real-client");
            break;
        }
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(Instant::now() < deadline, "no read through haproxy: {status} {body}\n{log}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The allowlist judges the client haproxy names, on whichever node haproxy picks.
    let mut from2_ok = 0;
    let mut from3_refused = 0;
    for _ in 0..6 {
        let (s, b) = get(&from2, &url, &fenced).await;
        assert_eq!((s, b["value"].as_str()), (200, Some("real-client")), "{b}");
        from2_ok += 1;
        let (s, b) = get(&from3, &url, &fenced).await;
        assert_eq!((s, b["error"].as_str()), (403, Some("ip_not_allowed")), "{b}");
        from3_refused += 1;
    }

    // 127.0.0.3 burns its failure budget with bad tokens; 127.0.0.2 is untouched.
    let mut statuses = Vec::new();
    for i in 0..30 {
        statuses.push(get(&from3, &url, &format!("asst_bogus{i}")).await.0);
    }
    assert!(statuses.contains(&429), "127.0.0.3 gets rate limited: {statuses:?}");
    // The limiter answers failures only (a valid credential is never refused), so the
    // budgets show in what a bad token gets: 429 from 127.0.0.3, still 401 from 127.0.0.2.
    let (bad3, _) = get(&from3, &url, "asst_bogus-again").await;
    let mut root2 = Vec::new();
    let mut bad2 = Vec::new();
    for i in 0..3 {
        root2.push(get(&from2, &url, &c.dev.root_token).await.0);
        bad2.push(get(&from2, &url, &format!("asst_other{i}")).await.0);
    }
    assert_eq!(bad3, 429, "127.0.0.3 is over its budget on every node");
    assert!(bad2.iter().all(|s| *s == 401), "127.0.0.2 has its own budget: {bad2:?}");
    assert!(root2.iter().all(|s| *s == 200), "127.0.0.2 is served: {root2:?}");
    let (root3, _) = get(&from3, &url, &c.dev.root_token).await;

    // The audit trail records the real client.
    let r = c.call(0, "GET", &format!("/v1/audit?path={secret}&limit=200"), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let clients: std::collections::BTreeSet<String> = r.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["client"].as_str().map(str::to_string))
        .collect();
    assert!(
        clients.contains("127.0.0.2") && clients.contains("127.0.0.3"),
        "audit clients: {clients:?}"
    );
    assert!(!clients.contains(HAPROXY_SOURCE), "audit clients: {clients:?}");

    // Straight to a node: a PROXY header from a non-proxy address is refused, and so is a
    // connection from the proxy's address without one.
    let node = SocketAddr::from(([127, 0, 0, 1], c.dev.nodes[0].api_port()));
    let (untrusted0, missing0) = (rejected(&c, "untrusted").await, rejected(&c, "missing").await);
    let spoof = b"PROXY TCP4 127.0.0.2 127.0.0.1 5555 8200\r\n";
    assert!(closed_without_answer("127.0.0.3", node, spoof).await, "spoofed header closed");
    let ppp_v2 = {
        let mut h = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
        h.extend_from_slice(&[127, 0, 0, 2, 127, 0, 0, 1, 0x15, 0xb3, 0x20, 0x08]);
        h
    };
    assert!(closed_without_answer("127.0.0.1", node, &ppp_v2).await, "spoofed v2 header closed");
    // A TLS ClientHello's first bytes from the proxy's address, without a header.
    assert!(
        closed_without_answer(HAPROXY_SOURCE, node, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03")
            .await,
        "header-less connection from the proxy closed"
    );
    let (untrusted, missing) = (rejected(&c, "untrusted").await, rejected(&c, "missing").await);
    assert_eq!(untrusted - untrusted0, 2, "two untrusted headers counted");
    assert_eq!(missing - missing0, 1, "one missing header counted");
    // A plain client from a non-proxy address is still served directly.
    let direct = c.get(0, &format!("/v1/secrets/{secret}")).await;
    assert_eq!(direct.body["value"], "real-client");

    eprintln!(
        "PROXY protocol through haproxy 127.0.0.1:{lb} (source {HAPROXY_SOURCE}, send-proxy-v2): \
         token allowlisted to 127.0.0.2/32: {from2_ok}/6 reads 200 from 127.0.0.2, \
         {from3_refused}/6 403 ip_not_allowed from 127.0.0.3; 30 bad tokens from 127.0.0.3: \
         {statuses:?}, then a bad token from 127.0.0.3: {bad3}, from 127.0.0.2: {bad2:?}; root \
         token from 127.0.0.2: {root2:?}, from 127.0.0.3: {root3}; \
         audit clients {clients:?}; direct: 2 spoofed headers and 1 header-less proxy \
         connection closed (ass_proxy_protocol_rejected_total untrusted {untrusted}, missing \
         {missing})"
    );
}
