//! TLS on real node processes: the API port refuses plain HTTP, the cluster port admits only
//! peers with a certificate of the cluster CA, a slow handshake blocks no one, a config
//! without certificates is refused, and `tls_disable = true` serves plain HTTP with a warning.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ass_node::tls::{install_default_provider, not_after};
use ass_testkit::dev_certs;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;

use crate::harness::Cluster;

/// Sends `request` over a plain TCP connection and returns everything the server answers.
fn raw_exchange(port: u16, request: &[u8]) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(request)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// A reqwest client for a cluster port: trusts `ca_file`, presents `client` (cert, key) if any.
fn cluster_client(ca_file: &Path, client: Option<(&Path, &Path)>) -> reqwest::Client {
    install_default_provider();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca_file).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(ass_node::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => {
            let chain: Vec<_> =
                CertificateDer::pem_file_iter(cert).unwrap().map(|c| c.unwrap()).collect();
            builder
                .with_client_auth_cert(chain, PrivateKeyDer::from_pem_file(key).unwrap())
                .unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A plain HTTP request to the TLS API port gets a 400 `tls_required` that says what to do
/// (and a plain reqwest client gets it too), and the port keeps serving HTTPS afterwards.
/// The metric `ass_tls_cert_not_after_seconds` reports the node certificate's notAfter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_the_api_port_is_refused_and_the_cert_expiry_is_exported() {
    let c = Cluster::start(3).await;
    let port = c.dev.nodes[0].api_port();
    let answer = tokio::task::spawn_blocking(move || {
        raw_exchange(port, b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n")
    })
    .await
    .unwrap()
    .expect("the server answers, then closes");
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.contains("tls_required") && answer.contains("https://"), "{answer}");

    let plain = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let r = plain
        .post(format!("http://127.0.0.1:{port}/v1/secrets/a/b/C"))
        .json(&json!({"value": "never stored"}))
        .send()
        .await
        .expect("an answer, not a hang");
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"], "tls_required");
    assert_eq!(c.get(0, "/v1/secrets/a/b/C").await.status, 404, "nothing was written");

    // The same port still serves HTTPS.
    assert_eq!(c.get(0, "/v1/sys/health?standbyok=true").await.status, 200);

    let text = c.get(0, "/metrics").await.text;
    let cert = c.dir().join("tls/node1.pem");
    let want = not_after(&CertificateDer::from_pem_file(&cert).unwrap()).unwrap();
    assert!(want > 0);
    for port in ["api", "cluster"] {
        let line = format!("ass_tls_cert_not_after_seconds{{port=\"{port}\",node=\"1\"}} {want}");
        assert!(text.contains(&line), "no `{line}` in:\n{text}");
    }
}

/// The cluster port is mutual TLS: a client without a certificate and one with a certificate
/// of another CA fail the handshake, while a holder of a cluster certificate gets through —
/// and the nodes keep replicating and forwarding among themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_port_admits_only_certificates_of_the_cluster_ca() {
    let c = Cluster::start(3).await;
    let ca = c.dev.ca_file.clone().unwrap();
    let url = format!("https://127.0.0.1:{}/raft/vote", c.dev.nodes[1].cluster_port());

    let anonymous = cluster_client(&ca, None);
    let e = anonymous.post(&url).body("x").send().await.expect_err("no client cert: refused");
    assert!(!e.is_status(), "refused in the handshake, not by HTTP: {e:?}");

    let other = tempfile::tempdir().unwrap();
    let foreign = dev_certs(other.path(), &[1], &[]).unwrap();
    let (cert, key) = (&foreign.nodes[0].1.cert_file, &foreign.nodes[0].1.key_file);
    let stranger = cluster_client(&ca, Some((cert, key)));
    let e = stranger.post(&url).body("x").send().await.expect_err("foreign CA: refused");
    assert!(!e.is_status(), "refused in the handshake, not by HTTP: {e:?}");

    // Control: the same request with a cluster certificate passes the handshake and reaches
    // the route (which refuses the garbage body), so the refusals above are the certificate's.
    let tls = c.dir().join("tls");
    let member = cluster_client(&ca, Some((&tls.join("node1.pem"), &tls.join("node1-key.pem"))));
    let r = member.post(&url).body("x").send().await.expect("a cluster certificate gets in");
    assert_eq!(r.status(), 400, "undecodable body");

    // The refusals are counted and logged (warn) on the node that refused.
    let metrics = c.get(1, "/metrics").await.text;
    let refused: u64 = metrics
        .lines()
        .find(|l| l.starts_with("ass_tls_handshake_failures_total{port=\"cluster\""))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no cluster handshake failure counter in:\n{metrics}"));
    assert!(refused >= 2, "{refused} refusals counted");
    let log = std::fs::read_to_string(c.dir().join("node2/node.log")).unwrap();
    assert!(log.contains("TLS handshake refused on the cluster port"), "{log}");

    // The nodes still talk: a write on a follower is forwarded, replicated, read everywhere.
    let leader = c.leader_index().await;
    let follower = (leader + 1) % 3;
    let w = c.put(follower, "tls/check/K", json!({"value": "over mTLS"})).await;
    assert_eq!(w.status, 200, "{:?}", w.body);
    for i in 0..3 {
        assert_eq!(c.get(i, "/v1/secrets/tls/check/K").await.body["value"], "over mTLS");
    }
}

/// A client that opens a connection and never finishes the handshake (or sends half a TLS
/// record) holds up nobody; the server drops it after the handshake timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_handshake_blocks_no_other_connection() {
    let c = Cluster::start(3).await;
    let port = c.dev.nodes[0].api_port();
    let silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut half = TcpStream::connect(("127.0.0.1", port)).unwrap();
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).unwrap();
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(c.get(0, "/v1/sys/health?standbyok=true").await.status, 200);
    }
    assert!(started.elapsed() < Duration::from_secs(8), "others were served meanwhile");
    let dropped = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for mut s in [silent, half] {
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut buf = [0u8; 64];
            out.push(match s.read(&mut buf) {
                Ok(_) => Ok(()),
                Err(e) => Err(e.kind()),
            });
        }
        out
    })
    .await
    .unwrap();
    // Closed by the server (EOF, an alert, or a reset), not left open until our read timeout.
    for r in dropped {
        assert!(
            !matches!(r, Err(std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
            "connection still open: {r:?}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(25));
}

fn ass_node(config: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ass-node"))
        .args(["run", "--config"])
        .arg(config)
        .output()
        .expect("ass-node runs")
}

const BASE: &str = r#"node_id = 1
api_addr = "127.0.0.1:1"
cluster_addr = "127.0.0.1:2"
data_dir = "DATA"
[[peers]]
id = 1
api_addr = "127.0.0.1:1"
cluster_addr = "127.0.0.1:2"
"#;

/// A config without `[tls]` (and without `tls_disable = true`), or naming a file that is not
/// there, stops `ass-node run` with an error that names the field and the file.
#[test]
fn a_config_without_usable_certificates_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let base = BASE.replace("DATA", &dir.path().join("data").display().to_string());
    let config = dir.path().join("node.toml");

    std::fs::write(&config, &base).unwrap();
    let out = ass_node(&config);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("`tls`") && err.contains("tls_disable = true"), "{err}");

    let certs = dev_certs(&dir.path().join("tls"), &[1], &[]).unwrap();
    let missing = dir.path().join("tls/nope.pem");
    let with = |cert: &Path, key: &Path, ca: &Path| {
        format!(
            "{base}\n[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\nca_file = \"{}\"\n",
            cert.display(),
            key.display(),
            ca.display()
        )
    };
    let n = &certs.nodes[0].1;
    for (text, field) in [
        (with(&missing, &n.key_file, &certs.ca_file), "tls.cert_file"),
        (with(&n.cert_file, &missing, &certs.ca_file), "tls.key_file"),
        (with(&n.cert_file, &n.key_file, &missing), "tls.ca_file"),
        // A key file that holds a certificate, not a key.
        (with(&n.cert_file, &n.cert_file, &certs.ca_file), "tls.key_file"),
    ] {
        std::fs::write(&config, text).unwrap();
        let out = ass_node(&config);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{field}: {err}");
        assert!(err.contains(&format!("`{field}`")), "names {field}: {err}");
        assert!(err.contains(".pem"), "names the file: {err}");
    }
}

/// `tls_disable = true` serves plain HTTP on the API port, refuses nothing for lack of TLS,
/// and the node log carries the warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_disable_serves_plain_http_and_warns_at_start() {
    let c = Cluster::start_plaintext(3).await;
    assert!(c.dev.api_urls().iter().all(|u| u.starts_with("http://")));
    assert!(c.dev.ca_file.is_none());
    let w = c.put(1, "plain/K", json!({"value": "v"})).await;
    assert_eq!(w.status, 200, "{:?}", w.body);
    assert_eq!(c.get(2, "/v1/secrets/plain/K").await.body["value"], "v");
    let log = std::fs::read_to_string(c.dir().join("node1/node.log")).unwrap();
    assert!(log.contains("TLS IS DISABLED"), "{log}");
    let json = std::fs::read_to_string(c.dir().join("cluster.json")).unwrap();
    assert!(!json.contains("ca_cert"), "{json}");
}
