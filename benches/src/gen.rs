//! The load generator: closed-loop, one HTTP/1.1 keep-alive connection per concurrent client.
//!
//! Each of the `c` clients owns one connection (hyper's low-level `client::conn::http1`, no
//! pool), sends a request, reads the whole answer, and only then sends the next: closed loop,
//! so the offered load adapts to the server and the latency is the time each request took
//! (no coordinated-omission correction; an open-loop generator would report worse tails for a
//! saturated server). Every system is driven by this same code with requests prepared the
//! same way: a table of templates per key, a key picked uniformly at random per request.
//!
//! A timed run has a warm-up (requests sent then are not counted) and a measured window: a
//! request counts if it was sent and answered inside the window. A counted run (preloading)
//! sends exactly `total` requests, numbered 0..total, the number picking the key.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use serde::Serialize;

/// One request, ready to be sent again and again.
#[derive(Clone)]
pub struct Template {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Template {
    pub fn new(method: Method, path: &str, headers: &HeaderMap, body: Bytes) -> Self {
        let mut headers = headers.clone();
        if !body.is_empty() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        Self { method, uri: path.parse().expect("a valid request path"), headers, body }
    }

    fn request(&self, host: &HeaderValue) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        let h = req.headers_mut();
        h.insert(HOST, host.clone());
        for (k, v) in &self.headers {
            h.insert(k, v.clone());
        }
        req
    }
}

/// What to send: reads and writes by key, and how often a request is a write.
pub struct Plan {
    pub addr: SocketAddr,
    /// Read templates, one per key (empty: writes only).
    pub reads: Vec<Template>,
    /// Write templates, one per key (empty: reads only).
    pub writes: Vec<Template>,
    /// With both: every `write_every`-th request of a client is a write (10 → 90/10).
    pub write_every: u64,
}

impl Plan {
    fn pick(&self, n: u64, random: u64) -> &Template {
        let writes = if self.reads.is_empty() {
            true
        } else if self.writes.is_empty() {
            false
        } else {
            n % self.write_every == self.write_every - 1
        };
        let table = if writes { &self.writes } else { &self.reads };
        &table[(random % table.len() as u64) as usize]
    }
}

/// How long or how much to run.
#[derive(Clone, Copy, Debug)]
pub enum Length {
    Timed {
        warmup: Duration,
        measure: Duration,
    },
    /// Exactly this many requests; request n uses key n (for preloading).
    Counted(u64),
}

/// Figures of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Counted runs only: failed attempts that were sent again (a leader change while loading).
    pub retried: u64,
    /// The first error seen (status and the start of the body, or the transport error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// Attempts after the first of one request in a counted run.
const RETRIES: u32 = 100;

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

struct Shared {
    plan: Plan,
    host: HeaderValue,
    phase: AtomicU8,
    next: AtomicU64,
    length: Length,
}

#[derive(Default)]
struct ClientResult {
    latencies_us: Vec<u32>,
    errors: u64,
    retried: u64,
    first_error: Option<String>,
}

/// Runs `plan` with `concurrency` connections.
pub async fn run(plan: Plan, concurrency: usize, length: Length) -> anyhow::Result<Outcome> {
    let host = HeaderValue::from_str(&plan.addr.to_string())?;
    let shared = Arc::new(Shared {
        plan,
        host,
        phase: AtomicU8::new(if matches!(length, Length::Counted(_)) { MEASURE } else { WARMUP }),
        next: AtomicU64::new(0),
        length,
    });
    // Connect everyone before the clock starts.
    let mut conns = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        conns.push(connect(shared.plan.addr).await?);
    }
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for (i, conn) in conns.into_iter().enumerate() {
        let shared = shared.clone();
        tasks.push(tokio::spawn(client(shared, conn, i as u64)));
    }
    let (measure_start, measured) = match length {
        Length::Timed { warmup, measure } => {
            tokio::time::sleep(warmup).await;
            shared.phase.store(MEASURE, Ordering::SeqCst);
            let t0 = Instant::now();
            tokio::time::sleep(measure).await;
            shared.phase.store(STOP, Ordering::SeqCst);
            (t0, t0.elapsed())
        }
        Length::Counted(_) => (started, Duration::ZERO),
    };
    let mut all = ClientResult::default();
    for t in tasks {
        let r = t.await?;
        all.latencies_us.extend_from_slice(&r.latencies_us);
        all.errors += r.errors;
        all.retried += r.retried;
        if all.first_error.is_none() {
            all.first_error = r.first_error;
        }
    }
    let seconds = match length {
        Length::Timed { .. } => measured.as_secs_f64(),
        Length::Counted(_) => measure_start.elapsed().as_secs_f64(),
    };
    let mut lat = all.latencies_us;
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i] as f64 / 1000.0
    };
    let requests = lat.len() as u64;
    Ok(Outcome {
        requests,
        errors: all.errors,
        seconds,
        rps: if seconds > 0.0 { requests as f64 / seconds } else { 0.0 },
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: lat.last().map_or(0.0, |m| *m as f64 / 1000.0),
        retried: all.retried,
        first_error: all.first_error,
    })
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn client(shared: Arc<Shared>, mut conn: Sender, id: u64) -> ClientResult {
    let mut out = ClientResult::default();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (id.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
    let mut n: u64 = 0;
    // Counted runs: the request being retried and how often it failed.
    let mut pending: Option<(u64, u32)> = None;
    loop {
        let phase = shared.phase.load(Ordering::Relaxed);
        if phase == STOP {
            break;
        }
        let (template, counted) = match shared.length {
            Length::Counted(total) => {
                let seq = match pending {
                    Some((seq, _)) => seq,
                    None => {
                        let seq = shared.next.fetch_add(1, Ordering::Relaxed);
                        if seq >= total {
                            break;
                        }
                        pending = Some((seq, 0));
                        seq
                    }
                };
                (shared.plan.pick(seq, seq), true)
            }
            Length::Timed { .. } => {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                (shared.plan.pick(n, rng), phase == MEASURE)
            }
        };
        n += 1;
        let req = template.request(&shared.host);
        let t0 = Instant::now();
        let result = async {
            conn.ready().await?;
            let resp = conn.send_request(req).await?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, body))
        }
        .await;
        let elapsed = t0.elapsed();
        let still = shared.phase.load(Ordering::Relaxed) == MEASURE;
        // A counted run sends a failed request again (up to RETRIES times, 100 ms apart): it
        // loads data, and a leader change on a busy machine must not leave holes.
        if let Some((seq, failures)) = pending {
            let ok = matches!(&result, Ok((status, _)) if status.is_success());
            if ok {
                pending = None;
            } else if failures < RETRIES {
                out.retried += 1;
                pending = Some((seq, failures + 1));
                if result.is_err() {
                    if let Ok(c) = connect(shared.plan.addr).await {
                        conn = c;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            } else {
                pending = None;
            }
        }
        match result {
            Ok((status, _)) if status.is_success() => {
                if counted && still {
                    out.latencies_us.push(elapsed.as_micros().min(u32::MAX as u128) as u32);
                }
            }
            Ok((status, body)) => {
                if counted && still {
                    out.errors += 1;
                    if out.first_error.is_none() {
                        out.first_error = Some(format!(
                            "{status}: {}",
                            String::from_utf8_lossy(&body[..body.len().min(200)])
                        ));
                    }
                }
            }
            Err(e) => {
                if counted {
                    out.errors += 1;
                    if out.first_error.is_none() {
                        out.first_error = Some(format!("transport: {e}"));
                    }
                }
                // A broken connection: make a new one (and back off if the server is gone).
                match connect(shared.plan.addr).await {
                    Ok(c) => conn = c,
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }
    }
    out
}
