//! criterion micro benchmarks of the node's hot paths, through `ass_node`'s public API.
//!
//! ```text
//! cargo bench -p ass-benches --bench micro            # measure (≈2–3 min on 2 cores)
//! cargo bench -p ass-benches --bench micro -- token   # only the benches whose name has "token"
//! cargo test  -p ass-benches --bench micro            # run each bench once (CI smoke)
//! ```
//!
//! Groups: `aead`, `barrier`, `seal` (Shamir init/unseal), `shamir` (vsss-rs alone), `scope`,
//! `token_check`, `sm_apply`, `log_flush`. See benches/README.md for what each one measures.
//! Stores live in a temp dir on the same disk as `target/` (fsync is real).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ass_client::types::{AGENT_KEY_PREFIX, TOKEN_PREFIX};
use ass_node::access::allowlist::Allowlist;
use ass_node::access::scope::{Action, ScopeSet};
use ass_node::clock::{wall_ms, LeaderClock};
use ass_node::command::{Command, Request, Response};
use ass_node::crypto::{self, Barrier, Binding, Key, Keyring};
use ass_node::identity::{new_secret_credential, AuthCache, Identity, Principal};
use ass_node::identity::{NewAgent, NewToken};
use ass_node::raft::types::{Entry, LogId};
use ass_node::raft::StateMachine;
use ass_node::seal::{self, hash_token, Submitted, UnsealProgress};
use ass_node::secrets::PutSecret;
use ass_node::state::StateReader;
use ass_node::storage::{encode, Store};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload};
use tempfile::TempDir;
use tokio::runtime::Runtime;
use vsss_rs::Gf256;

/// Batch sizes for state machine apply and log append + flush.
const BATCHES: [usize; 3] = [1, 16, 128];
/// Value sizes for AEAD and barrier.
const VALUE_SIZES: [(usize, &str); 2] = [(256, "256B"), (4096, "4KiB")];

/// `cargo bench` passes `--bench`; `cargo test` does not (criterion then runs each bench once).
/// The token fixture is built small in test mode so `cargo test --workspace` stays quick.
fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

fn value(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

// ---------------------------------------------------------------------------------------------
// AEAD and barrier

fn bench_aead(c: &mut Criterion) {
    let key = Key::generate();
    let binding = Binding { kind: "secret", path: "production/gemini/GEMINI_API_KEY", version: 3 };
    let mut g = c.benchmark_group("aead");
    for (len, name) in VALUE_SIZES {
        let plain = value(len);
        let envelope = crypto::seal(&key, 1, &binding, &plain).unwrap();
        assert_eq!(crypto::open(&key, &binding, &envelope).unwrap().expose(), plain.as_slice());
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_function(BenchmarkId::new("seal", name), |b| {
            b.iter(|| crypto::seal(&key, 1, black_box(&binding), black_box(&plain)).unwrap())
        });
        g.bench_function(BenchmarkId::new("open", name), |b| {
            b.iter(|| crypto::open(&key, black_box(&binding), black_box(&envelope)).unwrap())
        });
    }
    g.finish();
}

fn bench_barrier(c: &mut Criterion) {
    // Three terms, as after two rotations; new values use term 3, the old one is still readable.
    let root = Key::generate();
    let mut ring = Keyring::new_with_first_key();
    let old_barrier = Barrier::new(root.clone(), ring.clone());
    ring.rotate();
    ring.rotate();
    let barrier = Barrier::new(root, ring);
    let binding =
        Binding { kind: "secret", path: "production/stripe/STRIPE_SECRET_KEY", version: 7 };
    let mut g = c.benchmark_group("barrier");
    for (len, name) in VALUE_SIZES {
        let plain = value(len);
        let envelope = barrier.encrypt(&binding, &plain).unwrap();
        let old_envelope = old_barrier.encrypt(&binding, &plain).unwrap();
        assert_eq!(barrier.decrypt(&binding, &old_envelope).unwrap().expose(), plain.as_slice());
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_function(BenchmarkId::new("encrypt", name), |b| {
            b.iter(|| barrier.encrypt(black_box(&binding), black_box(&plain)).unwrap())
        });
        g.bench_function(BenchmarkId::new("decrypt", name), |b| {
            b.iter(|| barrier.decrypt(black_box(&binding), black_box(&envelope)).unwrap())
        });
        g.bench_function(BenchmarkId::new("decrypt_old_term", name), |b| {
            b.iter(|| barrier.decrypt(black_box(&binding), black_box(&old_envelope)).unwrap())
        });
    }
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// Shamir: the node's init/unseal, and vsss-rs alone for comparison

fn bench_seal(c: &mut Criterion) {
    let mut g = c.benchmark_group("seal");
    // init: unseal key + root key + keyring, 2 AEAD seals, Shamir split 5/3, base64, root token.
    g.bench_function("init_5_3", |b| b.iter(|| seal::init(black_box(5), black_box(3)).unwrap()));
    // unseal: 3 base64 shares handed in, combined, checked by opening the sealed root key, and
    // the keyring opened with it: exactly what `POST /v1/sys/unseal` does at the threshold.
    let m = seal::init(5, 3).unwrap();
    let picks = [&m.shares[4], &m.shares[1], &m.shares[2]];
    g.bench_function("unseal_3_of_5", |b| {
        b.iter(|| {
            let mut p = UnsealProgress::default();
            let mut last = None;
            for s in picks {
                last = Some(p.submit(black_box(s), &m.config, &m.sealed_keyring).unwrap());
            }
            assert!(matches!(last, Some(Submitted::Unsealed(_))));
            last
        })
    });
    g.finish();

    // The node's split/combine are private; this is the library's share of the cost.
    let mut g = c.benchmark_group("shamir_vsss");
    let secret = Key::generate();
    let shares = Gf256::split_bytes(3, 5, secret.as_bytes(), rand_rng()).unwrap();
    let three: Vec<Vec<u8>> = shares[..3].to_vec();
    assert_eq!(Gf256::combine_bytes(&three).unwrap(), secret.as_bytes());
    g.bench_function("split_5_3_32B", |b| {
        b.iter(|| Gf256::split_bytes(3, 5, black_box(secret.as_bytes()), rand_rng()).unwrap())
    });
    g.bench_function("combine_3_32B", |b| {
        b.iter(|| Gf256::combine_bytes(black_box(&three)).unwrap())
    });
    g.finish();
}

/// The CSPRNG the node hands vsss-rs.
fn rand_rng() -> rand::rngs::ThreadRng {
    rand::rng()
}

// ---------------------------------------------------------------------------------------------
// Scopes

/// A realistic agent: ten scopes over a few namespaces, one admin scope.
fn agent_scopes() -> Vec<String> {
    [
        "secrets:read:production/gemini/*",
        "secrets:read:production/bedrock/*",
        "secrets:read:production/stripe/*",
        "secrets:list:production/*",
        "secrets:read:staging/*",
        "secrets:write:staging/ci/*",
        "secrets:read:dev/*",
        "secrets:*:dev/scratch/*",
        "secrets:read:production/db/PRIMARY_URL",
        "audit:read",
    ]
    .map(String::from)
    .to_vec()
}

/// What a token asks for from that agent (containment is checked at issue time).
fn token_scopes() -> Vec<String> {
    [
        "secrets:read:production/gemini/GEMINI_API_KEY",
        "secrets:read:production/bedrock/*",
        "secrets:list:production/gemini/*",
        "secrets:read:dev/app/*",
    ]
    .map(String::from)
    .to_vec()
}

fn bench_scope(c: &mut Criterion) {
    let strings = agent_scopes();
    let set = ScopeSet::parse(&strings).unwrap();
    let requested = ScopeSet::parse(&token_scopes()).unwrap();
    let mut g = c.benchmark_group("scope");
    g.bench_function("parse_10", |b| b.iter(|| ScopeSet::parse(black_box(&strings)).unwrap()));
    let cases = [
        ("allows_first", Action::Read, "production/gemini/GEMINI_API_KEY", true),
        ("allows_9th", Action::Read, "production/db/PRIMARY_URL", true),
        ("denies_all_10", Action::Read, "production/payments/ADYEN_KEY", false),
    ];
    for (name, action, path, expected) in cases {
        assert_eq!(set.allows_secret(action, path), expected, "{name}");
        g.bench_function(name, |b| {
            b.iter(|| set.allows_secret(black_box(action), black_box(path)))
        });
    }
    assert!(set.contains_all(&requested).is_ok());
    g.bench_function("contains_all_4_in_10", |b| {
        b.iter(|| set.contains_all(black_box(&requested)).is_ok())
    });
    // Every glob match re-validates the path: this is the per-scope floor of a miss.
    g.bench_function("validate_path", |b| {
        b.iter(|| ass_node::secrets::validate_path(black_box("production/db/PRIMARY_URL")))
    });
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// Token check

fn log_id(index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(1, 1), index)
}

/// A store with an applied state machine, fed through `RaftStateMachine::apply`.
struct Sm {
    _dir: TempDir,
    store: Store,
    sm: StateMachine,
    clock: Arc<LeaderClock>,
    next_index: AtomicU64,
}

impl Sm {
    /// A fresh store, initialized (an `Init` entry applied) so secrets and identities apply.
    async fn new() -> Sm {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("open sled");
        let clock = Arc::new(LeaderClock::default());
        let sm = StateMachine::new(store.clone(), clock.clone());
        let s = Sm { _dir: dir, store, sm, clock, next_index: AtomicU64::new(1) };
        let m = seal::init(1, 1).unwrap();
        let init = Command::Init {
            seal: m.config,
            sealed_keyring: m.sealed_keyring,
            root_token_hash: m.root_token_hash,
        };
        let out = s.apply(vec![init]).await;
        assert_eq!(out, vec![Response::Ok]);
        s
    }

    fn entry(&self, cmd: Command) -> Entry {
        let index = self.next_index.fetch_add(1, Ordering::Relaxed);
        let mut request_id = [0u8; 16];
        request_id[..8].copy_from_slice(&index.to_be_bytes());
        let req = Request { request_id, time_ms: wall_ms(), cmd };
        Entry { log_id: log_id(index), payload: EntryPayload::Normal(req) }
    }

    async fn apply(&self, cmds: Vec<Command>) -> Vec<Response> {
        let entries: Vec<Entry> = cmds.into_iter().map(|c| self.entry(c)).collect();
        let mut sm = self.sm.clone();
        sm.apply(entries).await.unwrap().into_iter().map(|a| a.response).collect()
    }
}

/// `agents` agents with ten scopes and a two-range allowlist, each with `tokens_per_agent`
/// tokens of four scopes and a /24 allowlist: what `POST /v1/agents` and `POST /v1/tokens`
/// would have replicated.
struct AuthFixture {
    sm: Sm,
    state: StateReader,
    tokens: Vec<String>,
    root_token_hash: [u8; 32],
}

async fn auth_fixture(agents: usize, tokens_per_agent: usize) -> AuthFixture {
    let sm = Sm::new().await;
    let far = wall_ms() + 30 * 24 * 3_600_000;
    let mut tokens = Vec::with_capacity(agents * tokens_per_agent);
    for a in 0..agents {
        let mut id = [0xA0u8; 16];
        id[8..].copy_from_slice(&(a as u64).to_be_bytes());
        let mut cmds = vec![Command::CreateAgent(NewAgent {
            id,
            name: format!("agent-{a:05}"),
            scopes: agent_scopes(),
            ip_allowlist: vec!["10.0.0.0/16".into(), "192.168.10.0/24".into()],
            description: None,
            key_hash: hash_token(&new_secret_credential(AGENT_KEY_PREFIX)),
        })];
        for t in 0..tokens_per_agent {
            let token = new_secret_credential(TOKEN_PREFIX);
            let mut accessor = [0xB0u8; 16];
            accessor[8..].copy_from_slice(&((a * tokens_per_agent + t) as u64).to_be_bytes());
            cmds.push(Command::IssueToken(NewToken {
                accessor,
                token_hash: hash_token(&token),
                agent_id: Some(id),
                parent: None,
                scopes: token_scopes(),
                ip_allowlist: vec!["10.0.1.0/24".into()],
                expires_ms: far,
                break_glass: false,
                justification: None,
            }));
            tokens.push(token);
        }
        assert!(sm.apply(cmds).await.iter().all(|r| *r == Response::Ok));
    }
    sm.store.flush().await.unwrap();
    let state = StateReader::new(&sm.store);
    let root_token_hash = state.root_token_hash().unwrap().unwrap();
    AuthFixture { sm, state, tokens, root_token_hash }
}

#[derive(Debug, PartialEq, Eq)]
enum Denied {
    Unauthorized,
    IpNotAllowed,
    Scope,
    Internal,
}

impl From<ass_node::storage::StorageError> for Denied {
    fn from(_: ass_node::storage::StorageError) -> Self {
        Denied::Internal
    }
}

/// The cache-miss path: `ass_node::identity::service::resolve` itself (root-token compare,
/// credential → token record, the live chain, the agent, both IP allowlists, the stored
/// scopes), with its error mapped to the bench's outcome.
fn resolve_token(f: &AuthFixture, hash: &[u8; 32], now: u64) -> Result<Identity, Denied> {
    let id = ass_node::identity::service::resolve(&f.state, hash, now).map_err(|e| match e {
        ass_node::identity::service::AuthError::InvalidCredential => Denied::Unauthorized,
        _ => Denied::Internal,
    })?;
    if matches!(id.principal, Principal::Agent { .. }) {
        return Err(Denied::Scope); // an agent key only buys tokens
    }
    Ok(id)
}

/// What `authenticate` (node/src/identity/service.rs) and `Caller::require_secret` do after the
/// identity is known: expiry by cluster time, the allowlists, the scope check for the route.
/// Returns the agent name, as the caller's principal carries it.
fn judge(
    id: &Identity,
    now: u64,
    ip: IpAddr,
    action: Action,
    path: &str,
) -> Result<String, Denied> {
    if now >= id.expires_ms {
        return Err(Denied::Unauthorized);
    }
    if !id.allowlists.iter().all(|a| a.allows(ip)) {
        return Err(Denied::IpNotAllowed);
    }
    if let Some(s) = &id.scopes {
        if !s.allows_secret(action, path) {
            return Err(Denied::Scope);
        }
    }
    match &id.principal {
        Principal::Token { agent_name, .. } => Ok(agent_name.clone().unwrap_or_default()),
        _ => Ok("root".into()),
    }
}

/// A token check without the auth cache (a miss): SHA-256, resolve, judge. Left out: the
/// brute-force limiter and the read-index wait before it.
fn check_token(
    f: &AuthFixture,
    credential: &str,
    ip: IpAddr,
    action: Action,
    path: &str,
) -> Result<String, Denied> {
    let now = f.sm.clock.now_ms();
    let id = resolve_token(f, &hash_token(credential), now)?;
    judge(&id, now, ip, action, path)
}

/// A token check through the auth cache, as `authenticate` makes it: SHA-256, generation,
/// cache lookup (resolve and insert on a miss), judge.
fn check_token_cached(
    f: &AuthFixture,
    cache: &AuthCache,
    credential: &str,
    ip: IpAddr,
    action: Action,
    path: &str,
) -> Result<String, Denied> {
    let hash = hash_token(credential);
    let generation = f.sm.store.identity_gen();
    let now = f.sm.clock.now_ms();
    let id = match cache.get(&hash, generation) {
        Some(id) => id,
        None => {
            let id = Arc::new(resolve_token(f, &hash, now)?);
            cache.insert(hash, generation, id.clone());
            id
        }
    };
    judge(&id, now, ip, action, path)
}

fn bench_token_check(c: &mut Criterion) {
    let rt = runtime();
    let (agents, per_agent) = if benchmarking() { (200, 25) } else { (4, 5) };
    let f = rt.block_on(auth_fixture(agents, per_agent));
    let n = f.tokens.len();
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 1, 17));
    let path = "production/gemini/GEMINI_API_KEY";
    for t in &f.tokens {
        assert!(check_token(&f, t, ip, Action::Read, path).is_ok());
    }
    let unknown = new_secret_credential(TOKEN_PREFIX);
    assert_eq!(check_token(&f, &unknown, ip, Action::Read, path), Err(Denied::Unauthorized));
    let outside = IpAddr::V4(Ipv4Addr::new(10, 0, 2, 17));
    assert_eq!(
        check_token(&f, &f.tokens[0], outside, Action::Read, path),
        Err(Denied::IpNotAllowed)
    );

    let mut g = c.benchmark_group("token_check");
    g.bench_function("sha256", |b| b.iter(|| hash_token(black_box(&f.tokens[0]))));
    let hashes: Vec<[u8; 32]> = f.tokens.iter().map(|t| hash_token(t)).collect();
    let mut i = 0;
    g.bench_function(BenchmarkId::new("credential_lookup", n), |b| {
        b.iter(|| {
            i = (i + 1) % n;
            f.state.identity.credential(black_box(&hashes[i])).unwrap()
        })
    });
    let mut i = 0;
    g.bench_function(BenchmarkId::new("full_ok", n), |b| {
        b.iter(|| {
            i = (i + 1) % n;
            check_token(&f, black_box(&f.tokens[i]), ip, Action::Read, path).unwrap()
        })
    });
    // Through the auth cache, every token warm (the steady state of a read load).
    let cache = AuthCache::default();
    for t in &f.tokens {
        assert!(check_token_cached(&f, &cache, t, ip, Action::Read, path).is_ok());
    }
    assert_eq!(cache.len(), n);
    let mut i = 0;
    g.bench_function(BenchmarkId::new("cached_ok", n), |b| {
        b.iter(|| {
            i = (i + 1) % n;
            check_token_cached(&f, &cache, black_box(&f.tokens[i]), ip, Action::Read, path).unwrap()
        })
    });
    g.bench_function(BenchmarkId::new("full_unknown", n), |b| {
        b.iter(|| check_token(&f, black_box(&unknown), ip, Action::Read, path).unwrap_err())
    });
    // The parsing `authenticate` repeats on every request, from the stored strings.
    let t = f.state.identity.token(&[0xB0; 16]).ok().flatten();
    let (scopes, allowlist) = match t {
        Some(t) => (t.scopes, t.ip_allowlist),
        None => (token_scopes(), vec!["10.0.1.0/24".to_string()]),
    };
    g.bench_function("parse_stored_scopes_4", |b| {
        b.iter(|| ScopeSet::parse(black_box(&scopes)).unwrap())
    });
    g.bench_function("parse_stored_allowlist_1", |b| {
        b.iter(|| Allowlist::parse(black_box(&allowlist)).unwrap())
    });
    g.finish();
    assert_ne!(f.root_token_hash, hash_token(&f.tokens[0]));
}

// ---------------------------------------------------------------------------------------------
// State machine apply, log append + flush

/// A `PutSecret` of a 256-byte value to a new path (version 1), with a real barrier envelope.
fn put_cmd(n: u64, ciphertext: &[u8]) -> Command {
    Command::PutSecret(PutSecret {
        path: format!("production/svc-{n:08}/API_KEY"),
        version: 1,
        cas: None,
        secret_type: None,
        tier: None,
        lower_from: None,
        ciphertext: ciphertext.to_vec(),
    })
}

fn envelope_256() -> Vec<u8> {
    let barrier = Barrier::new(Key::generate(), Keyring::new_with_first_key());
    barrier
        .encrypt(
            &Binding { kind: "secret", path: "production/svc/API_KEY", version: 1 },
            &value(256),
        )
        .unwrap()
}

fn bench_sm_apply(c: &mut Criterion) {
    let rt = runtime();
    let sm = rt.block_on(Sm::new());
    let ct = envelope_256();
    let paths = AtomicU64::new(0);
    let mut g = c.benchmark_group("sm_apply");
    for batch in BATCHES {
        g.throughput(Throughput::Elements(batch as u64));
        let make = || -> Vec<Entry> {
            (0..batch)
                .map(|_| sm.entry(put_cmd(paths.fetch_add(1, Ordering::Relaxed), &ct)))
                .collect()
        };
        let first = rt.block_on(sm.sm.clone().apply(make())).unwrap();
        assert!(first.iter().all(|a| a.response == Response::Written { version: 1 }));
        g.bench_function(BenchmarkId::new("put_secret", batch), |b| {
            b.to_async(&rt).iter_batched(
                make,
                |entries| {
                    let mut sm = sm.sm.clone();
                    async move { sm.apply(entries).await.unwrap() }
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// `LogStore::append` needs openraft's `LogFlushed` callback, which only openraft can build
/// (`LogFlushed::new` is `pub(crate)` in 0.9.25), so this measures what append and its group
/// commit do underneath (node/src/raft/log_store.rs): encode each entry, `Wal::append` the
/// batch, then one `Wal::sync` (fdatasync of the segment).
fn bench_log_flush(c: &mut Criterion) {
    let rt = runtime();
    let sm = rt.block_on(Sm::new());
    let wal_dir = tempfile::tempdir().unwrap();
    let wal = ass_node::storage::wal::Wal::open(
        wal_dir.path(),
        ass_node::storage::wal::DEFAULT_SEGMENT_BYTES,
    )
    .unwrap();
    let ct = envelope_256();
    let start_index = sm.next_index.load(Ordering::Relaxed);
    let mut g = c.benchmark_group("log_flush");
    for batch in BATCHES {
        g.throughput(Throughput::Elements(batch as u64));
        let make = || -> Vec<Entry> {
            (0..batch)
                .map(|_| {
                    let n = sm.next_index.load(Ordering::Relaxed);
                    sm.entry(put_cmd(n, &ct))
                })
                .collect()
        };
        g.bench_function(BenchmarkId::new("append_put_secret", batch), |b| {
            b.iter_batched(
                make,
                |entries| {
                    let encoded: Vec<_> =
                        entries.iter().map(|e| (e.log_id.index, encode(e).unwrap())).collect();
                    wal.append(encoded.iter().map(|(i, b)| (*i, b.as_slice()))).unwrap();
                    wal.sync().unwrap();
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
    // With a filter that skips this group (`-- token_check`) nothing was appended.
    let ran = sm.next_index.load(Ordering::Relaxed) > start_index;
    assert!(!ran || wal.bounds().is_some(), "the appends reached the log");
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .without_plots()
}

criterion_group! {
    name = micro;
    config = config();
    targets = bench_aead, bench_barrier, bench_seal, bench_scope, bench_token_check,
        bench_sm_apply, bench_log_flush
}
criterion_main!(micro);
