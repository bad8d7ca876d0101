//! The accept loop of both ports: TCP accept, then — in the connection's own task — the TLS
//! handshake (bounded by [`HANDSHAKE_TIMEOUT`]) and HTTP/1.1 over the axum router.
//!
//! ```text
//!  accept ──spawn──> peek 1st byte ──0x16 (TLS)──> handshake ≤ 10 s ──> hyper http1 ──> router
//!     ▲                    └──'A'..'Z' (plain HTTP)──> 400 `tls_required`, close
//!     └── never waits on a client: a slow or garbage handshake only costs its own task
//! ```
//!
//! Every request carries `ConnectInfo<SocketAddr>` of the TCP peer, as with `axum::serve`, so
//! the client-IP and allowlist logic sees the real socket address. On the API port, a peer in
//! `[api] proxy_protocol_from` must open with a PROXY protocol header, and the client it names
//! is the peer from then on (see [`super::proxy_protocol`]). With no TLS config (the
//! explicit `tls_disable = true`) the loop serves plain HTTP the same way.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// Longest time a client may take to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest time a client may take to send a request's headers. hyper starts this clock when
/// a kept-alive connection goes idle, too, so it also closes idle connections: keep it above
/// the pool idle timeouts of our clients (SDK 90 s, peers 60 s), or a client could send on a
/// connection the server is just closing.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Failed handshakes are logged at most this often per port (a misconfigured peer retries
/// every heartbeat).
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(10);

/// Which port a loop serves: its name in logs and its handshake-failure counter.
#[derive(Clone)]
pub struct Port {
    /// `api` or `cluster`.
    pub name: &'static str,
    /// `ass_tls_handshake_failures_total{port}`.
    pub handshake_failures: prometheus::IntCounter,
    /// The PROXY protocol policy (API port only; `None`: no peer may send a header, and a
    /// header is then just a failed handshake).
    pub proxy: Option<super::proxy_protocol::ProxyProtocol>,
    /// Told of each request hyper refused before routing (`tls::refusal`): the client's
    /// socket address and the status. The API port records an audit event.
    pub on_refusal: Option<Arc<dyn Fn(SocketAddr, u16) + Send + Sync>>,
}

/// Largest request head hyper reads into a connection's buffer. Heads up to this reach the
/// router, which refuses those over `http::MAX_HEADER_BYTES` itself with a JSON 431; only
/// larger ones get hyper's own answer (rewritten by `tls::refusal`).
const MAX_HEAD_BUFFER: usize = 1024 * 1024 + 16 * 1024;

impl Port {
    /// Counts a failed handshake; logs it (with how many since the last line) at most every
    /// [`FAILURE_LOG_EVERY`]: at warn on the cluster port, where only members should knock
    /// and a failure means a misconfigured peer or a stranger; at debug on the API port.
    fn handshake_failed(&self, peer: SocketAddr, why: &str, last_log: &Mutex<Option<Instant>>) {
        self.handshake_failures.inc();
        let mut last = last_log.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t.elapsed() < FAILURE_LOG_EVERY) {
            return;
        }
        *last = Some(Instant::now());
        let total = self.handshake_failures.get();
        if self.name == "cluster" {
            tracing::warn!(port = self.name, %peer, error = why, total, "TLS handshake refused on the cluster port (is the peer's certificate from the cluster CA?)");
        } else {
            tracing::debug!(port = self.name, %peer, error = why, total, "TLS handshake failed");
        }
    }
}

/// Serves `router` on `listener` until `stop` turns true, then lets open connections finish
/// their current request. `tls`: the rustls config of this port, `None` for plain HTTP.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<ServerConfig>>,
    port: Port,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let last_failure_log = Arc::new(Mutex::new(None));
    let name = port.name;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(port = name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
        };
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        let port = port.clone();
        let last_failure_log = last_failure_log.clone();
        tokio::spawn(async move {
            let name = port.name;
            let mut tcp = tcp;
            // Behind a TCP load balancer the PROXY header names the real client: from here on
            // it is this connection's peer address.
            let peer = match &port.proxy {
                None => peer,
                Some(proxy) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, proxy.accept(&mut tcp, peer))
                        .await
                    {
                        Ok(Ok(client)) => client,
                        Ok(Err(e)) => {
                            tracing::warn!(port = name, %peer, reason = e.reason(), error = %e, "PROXY protocol: connection refused");
                            return;
                        }
                        Err(_) => {
                            proxy.rejected.with_label_values(&["timeout"]).inc();
                            tracing::warn!(port = name, %peer, "PROXY protocol: no header within the handshake timeout");
                            return;
                        }
                    }
                }
            };
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                router.clone().oneshot(req)
            });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_buf_size(MAX_HEAD_BUFFER);
            let on_refusal = port
                .on_refusal
                .clone()
                .map(|f| -> super::refusal::OnRefusal { Arc::new(move |status| f(peer, status)) });
            let Some(acceptor) = acceptor else {
                let io = super::refusal::RefusalRewrite::new(tcp, on_refusal);
                let conn = http.serve_connection(TokioIo::new(io), service);
                if let Err(e) = watcher.watch(conn).await {
                    tracing::debug!(port = name, %peer, error = %e, "connection ended with an error");
                }
                return;
            };
            let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
                if is_plain_http(&tcp).await {
                    refuse_plain_http(tcp).await;
                    return None;
                }
                match acceptor.accept(tcp).await {
                    Ok(s) => Some(s),
                    Err(e) => {
                        port.handshake_failed(peer, &e.to_string(), &last_failure_log);
                        None
                    }
                }
            })
            .await;
            let stream = match tls {
                Ok(Some(s)) => s,
                Ok(None) => return,
                Err(_) => {
                    port.handshake_failed(peer, "handshake timed out", &last_failure_log);
                    return;
                }
            };
            let io = super::refusal::RefusalRewrite::new(stream, on_refusal);
            let conn = http.serve_connection(TokioIo::new(io), service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(port = name, %peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Whether the client opened with a plain HTTP request line instead of a TLS record (0x16).
async fn is_plain_http(tcp: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(tcp.peek(&mut first).await, Ok(1) if first[0].is_ascii_uppercase())
}

/// Body of the answer to a plain HTTP request on a TLS port.
pub const PLAIN_HTTP_ANSWER: &str = r#"{"error":"tls_required","message":"this port serves HTTPS only: use an https:// address (and --ca-cert / ASS_CACERT with the cluster CA)"}"#;

/// Answers a plain HTTP request on a TLS port with a 400 that says what to do, then closes.
async fn refuse_plain_http(mut tcp: TcpStream) {
    // Read the request head first: closing with unread bytes would reset the connection
    // before the client reads the answer.
    let mut buf = vec![0u8; 16 * 1024];
    let mut seen = 0;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while seen < buf.len() {
            match tcp.read(&mut buf[seen..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen += n,
            }
            if buf[..seen].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{PLAIN_HTTP_ANSWER}",
        PLAIN_HTTP_ANSWER.len()
    );
    let _ = tcp.write_all(answer.as_bytes()).await;
    let _ = tcp.shutdown().await;
    // Let a request body drain briefly so the close stays orderly.
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        while let Ok(n) = tcp.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_http_answer_is_an_error_body_of_a_known_code() {
        let body: ass_client::types::ErrorBody = serde_json::from_str(PLAIN_HTTP_ANSWER).unwrap();
        assert_eq!(body.error, ass_client::ErrorCode::TlsRequired);
        assert_eq!(body.error.status(), 400, "refuse_plain_http writes a 400");
    }
}
