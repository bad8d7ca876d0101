//! The shipped deployment files of `cluster-config/` against real tools and real nodes:
//! haproxy in front of a 3-node cluster while the leader is killed, Prometheus scraping every
//! node, promtool, systemd-analyze, and the Grafana dashboard's queries against a node's
//! `/metrics`.
//!
//! Every test renders the SHIPPED file (addresses, ports and paths substituted, nothing
//! else), so what is tested is what operators copy. The nodes serve plain HTTP for now:
//! [`Tls::Off`] drops the TLS options of the shipped files; once the nodes serve TLS, pass
//! [`Tls::Ca`] with the dev cluster's CA and the files run as shipped.
//!
//! A tool that is not installed makes its test pass with a loud `SKIPPED` line; `.ci/run`
//! installs them (`haproxy prometheus systemd`), so CI runs every one.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::Cluster;

mod proxy;

/// How the rendered files talk to the nodes.
pub enum Tls<'a> {
    /// Plain HTTP (`tls_disable = true`): the shipped TLS options are removed.
    Off,
    /// HTTPS, checked against this CA file.
    Ca(&'a Path),
}

/// The CA path the shipped files name.
const SHIPPED_CA: &str = "/etc/ass/tls/ca.pem";
/// The node addresses the shipped files name, in node order.
const SHIPPED_NODES: [&str; 3] = ["10.0.0.11:8200", "10.0.0.12:8200", "10.0.0.13:8200"];

fn shipped(rel: &str) -> (PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cluster-config").join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    (path, text)
}

/// Replaces `from` with `to`, insisting that the shipped file still holds `from`.
fn subst(text: &str, from: &str, to: &str, file: &str) -> String {
    assert!(text.contains(from), "cluster-config/{file} no longer contains `{from}`");
    text.replace(from, to)
}

/// The address haproxy connects to the nodes from in the tests (`source`), so that the test's
/// own direct calls from 127.0.0.1 are not taken for the proxy's.
pub const HAPROXY_SOURCE: &str = "127.0.0.9";
/// The node config that goes with [`render_haproxy`]: the shipped file sends PROXY v2 headers
/// from [`HAPROXY_SOURCE`].
pub const NODE_BEHIND_HAPROXY: &str = "[api]\nproxy_protocol_from = [\"127.0.0.9/32\"]\n";

/// The runtime API socket the shipped haproxy config names.
const SHIPPED_SOCKET: &str = "/run/haproxy/admin.sock";

/// Where [`render_haproxy`] puts the runtime API socket of the haproxy on `lb_port`.
pub fn haproxy_socket(lb_port: u16) -> PathBuf {
    std::env::temp_dir().join(format!("ass-haproxy-{lb_port}.sock"))
}

/// One command on haproxy's runtime API socket; its answer.
pub fn haproxy_command(socket: &Path, command: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(socket)
        .unwrap_or_else(|e| panic!("haproxy socket {}: {e}", socket.display()));
    s.write_all(format!("{command}\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The `status` column of `show stat` for one server of backend `ass_nodes` (`UP`, `DOWN`,
/// `DRAIN`, `MAINT`, `UP 1/2`, …).
pub fn haproxy_server_status(socket: &Path, server: &str) -> String {
    let stat = haproxy_command(socket, "show stat");
    let mut lines = stat.lines();
    let header: Vec<&str> =
        lines.next().unwrap_or("").trim_start_matches("# ").split(',').collect();
    let col = header.iter().position(|h| *h == "status").expect("a status column");
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&"ass_nodes") && f.get(1) == Some(&server))
        .and_then(|f| f.get(col).map(|s| s.to_string()))
        .unwrap_or_default()
}

/// `cluster-config/haproxy/haproxy.cfg` for a local cluster: the frontend on `lb_port`, the
/// servers on `api_ports`, connecting from [`HAPROXY_SOURCE`] (start the nodes with
/// [`NODE_BEHIND_HAPROXY`]).
pub fn render_haproxy(lb_port: u16, api_ports: &[u16], tls: Tls<'_>) -> String {
    let file = "haproxy/haproxy.cfg";
    let (_, mut t) = shipped(file);
    t = subst(&t, "bind :8200", &format!("bind 127.0.0.1:{lb_port}"), file);
    t = subst(
        &t,
        "    balance leastconn\n",
        &format!("    balance leastconn\n    source {HAPROXY_SOURCE}\n"),
        file,
    );
    let socket = haproxy_socket(lb_port);
    t = subst(&t, SHIPPED_SOCKET, &socket.display().to_string(), file);
    for (shipped, port) in SHIPPED_NODES.iter().zip(api_ports) {
        t = subst(&t, &format!("{shipped} check"), &format!("127.0.0.1:{port} check"), file);
    }
    match tls {
        Tls::Off => {
            subst(&t, &format!(" check-ssl verify required ca-file {SHIPPED_CA}"), "", file)
        }
        Tls::Ca(ca) => subst(&t, SHIPPED_CA, &ca.display().to_string(), file),
    }
}

/// `cluster-config/prometheus/prometheus.yml` for a local cluster, scraping and evaluating
/// every second, with its rule file at `rules`.
pub fn render_prometheus(api_ports: &[u16], rules: &Path, tls: Tls<'_>) -> String {
    let file = "prometheus/prometheus.yml";
    let (_, mut t) = shipped(file);
    t = subst(&t, "scrape_interval: 15s", "scrape_interval: 1s", file);
    t = subst(&t, "evaluation_interval: 15s", "evaluation_interval: 1s", file);
    t = subst(&t, "  - ass-alerts.yml", &format!("  - {}", rules.display()), file);
    for (shipped, port) in SHIPPED_NODES.iter().zip(api_ports) {
        t = subst(&t, shipped, &format!("127.0.0.1:{port}"), file);
    }
    match tls {
        Tls::Off => {
            t = subst(&t, "scheme: https", "scheme: http", file);
            subst(&t, &format!("    tls_config:\n      ca_file: {SHIPPED_CA}\n"), "", file)
        }
        Tls::Ca(ca) => subst(&t, SHIPPED_CA, &ca.display().to_string(), file),
    }
}

/// The path of `bin` on PATH, or a loud skip message.
pub fn tool(bin: &str, test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(bin)).find(|p| p.is_file()));
    if found.is_none() {
        eprintln!(
            "\n*** SKIPPED {test}: `{bin}` is not installed. `.ci/run` installs it \
             (apt-get install haproxy prometheus systemd); install it to run this test. ***\n"
        );
    }
    found
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process killed when dropped.
pub struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn spawn(cmd: &mut Command, log: &Path) -> Running {
    let out = std::fs::File::create(log).unwrap();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    Running(child)
}

pub fn api_ports(c: &Cluster) -> Vec<u16> {
    c.dev.nodes.iter().map(|n| n.api_port()).collect()
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// The shipped haproxy config, Prometheus config, alert rules (with their unit tests) and
/// systemd unit pass their own tools' checks.
#[test]
fn shipped_configs_pass_haproxy_promtool_and_systemd_analyze() {
    let dir = tempfile::tempdir().unwrap();
    let test = "shipped_configs_pass_haproxy_promtool_and_systemd_analyze";
    if let Some(haproxy) = tool("haproxy", test) {
        // As shipped, with the CA path pointing at a real (empty is not enough) PEM file.
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, TEST_CA_PEM).unwrap();
        let cfg = dir.path().join("haproxy.cfg");
        std::fs::write(&cfg, render_haproxy(8200, &[8201, 8202, 8203], Tls::Ca(&ca))).unwrap();
        run_ok(Command::new(&haproxy).arg("-c").arg("-f").arg(&cfg));
        std::fs::write(&cfg, render_haproxy(8200, &[8201, 8202, 8203], Tls::Off)).unwrap();
        run_ok(Command::new(&haproxy).arg("-c").arg("-f").arg(&cfg));
    }
    if let Some(promtool) = tool("promtool", test) {
        let (rules, _) = shipped("prometheus/ass-alerts.yml");
        let (rule_tests, _) = shipped("prometheus/ass-alerts.test.yml");
        let out = run_ok(Command::new(&promtool).arg("check").arg("rules").arg(&rules));
        assert!(out.contains("SUCCESS: 11 rules found"), "{out}");
        run_ok(Command::new(&promtool).arg("test").arg("rules").arg(&rule_tests));
        // The shipped config as is (it names the rule file next to it) ...
        let (config, _) = shipped("prometheus/prometheus.yml");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, TEST_CA_PEM).unwrap();
        let with_ca = dir.path().join("prometheus-tls.yml");
        let text = std::fs::read_to_string(&config)
            .unwrap()
            .replace(SHIPPED_CA, &ca.display().to_string())
            .replace("  - ass-alerts.yml", &format!("  - {}", rules.display()));
        std::fs::write(&with_ca, text).unwrap();
        let out = run_ok(Command::new(&promtool).arg("check").arg("config").arg(&with_ca));
        assert!(out.contains("SUCCESS"), "{out}");
        // ... and as the Prometheus test renders it.
        let rendered = dir.path().join("prometheus.yml");
        std::fs::write(&rendered, render_prometheus(&[1, 2, 3], &rules, Tls::Off)).unwrap();
        run_ok(Command::new(&promtool).arg("check").arg("config").arg(&rendered));
    }
    if let Some(analyze) = tool("systemd-analyze", test) {
        let file = "systemd/ass-node.service";
        let (_, unit) = shipped(file);
        let unit = subst(&unit, "/usr/local/bin/ass-node", env!("CARGO_BIN_EXE_ass-node"), file);
        for must in [
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ReadWritePaths=/var/lib/ass",
            "PrivateTmp=yes",
            "CapabilityBoundingSet=\n",
            "LimitCORE=0",
            "MemoryDenyWriteExecute=yes",
        ] {
            assert!(unit.contains(must), "{file} lacks `{must}`");
        }
        let path = dir.path().join("ass-node.service");
        std::fs::write(&path, unit).unwrap();
        let out = Command::new(&analyze).arg("verify").arg(&path).output().unwrap();
        let text = String::from_utf8_lossy(&out.stderr).to_string();
        let about_us: Vec<&str> = text.lines().filter(|l| l.contains("ass-node")).collect();
        assert!(out.status.success() && about_us.is_empty(), "systemd-analyze verify:\n{text}");

        // The backup service and its timer, verified together (the timer names the service).
        let script = shipped_path("systemd/ass-backup");
        let (_, service) = shipped("systemd/ass-backup.service");
        let service = subst(
            &service,
            "ExecStart=/usr/local/bin/ass-backup",
            &format!("ExecStart={}", script.display()),
            "systemd/ass-backup.service",
        );
        for must in ["Type=oneshot", "ProtectSystem=strict", "NoNewPrivileges=yes", "UMask=0077"] {
            assert!(service.contains(must), "ass-backup.service lacks `{must}`");
        }
        let (_, timer) = shipped("systemd/ass-backup.timer");
        assert!(timer.contains("Persistent=true") && timer.contains("Unit=ass-backup.service"));
        let (svc, tmr) =
            (dir.path().join("ass-backup.service"), dir.path().join("ass-backup.timer"));
        std::fs::write(&svc, service).unwrap();
        std::fs::write(&tmr, timer).unwrap();
        let out = Command::new(&analyze).arg("verify").arg(&svc).arg(&tmr).output().unwrap();
        let text = String::from_utf8_lossy(&out.stderr).to_string();
        let about_us: Vec<&str> = text.lines().filter(|l| l.contains("ass-backup")).collect();
        assert!(out.status.success() && about_us.is_empty(), "systemd-analyze verify:\n{text}");
    }
}

/// The path of a shipped file.
pub fn shipped_path(rel: &str) -> PathBuf {
    shipped(rel).0
}

/// haproxy with the shipped config in front of a 3-node cluster: reads through it go on while
/// the leader is killed; after the failover every read succeeds. Prints the failover gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_keeps_reads_going_through_a_leader_kill() {
    let Some(haproxy) = tool("haproxy", "haproxy_keeps_reads_going_through_a_leader_kill") else {
        return;
    };
    let mut c = Cluster::start_with(3, NODE_BEHIND_HAPROXY).await;
    let path = "production/lb/API_KEY";
    assert_eq!(c.put(0, path, json!({"value": "through-haproxy"})).await.status, 200);
    let lb = free_port();
    let cfg = c.dir().join("haproxy.cfg");
    let ca = c.dev.ca_file.clone().expect("a TLS cluster");
    std::fs::write(&cfg, render_haproxy(lb, &api_ports(&c), Tls::Ca(&ca))).unwrap();
    let log = c.dir().join("haproxy.log");
    let _haproxy = spawn(Command::new(&haproxy).arg("-db").arg("-f").arg(&cfg), &log);

    // A new connection for every read, so haproxy picks a server each time.
    ass_node::tls::install_default_provider();
    let tls = ass_testkit::api::api_client_config(&std::fs::read(&ca).unwrap()).unwrap();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(3))
        .tls_backend_preconfigured(tls)
        .build()
        .unwrap();
    let url = format!("https://127.0.0.1:{lb}/v1/secrets/{path}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = http.get(&url).bearer_auth(&c.dev.root_token).send().await;
        if matches!(&r, Ok(r) if r.status() == 200) {
            break;
        }
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(Instant::now() < deadline, "haproxy never served a read: {r:?}\n{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let start = Instant::now();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (http, url, token, stop) =
            (http.clone(), url.clone(), c.dev.root_token.clone(), stop.clone());
        tokio::spawn(async move {
            let mut log: Vec<(Duration, Result<(), String>)> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let at = start.elapsed();
                let r = match http.get(&url).bearer_auth(&token).send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let body: Value = r.json().await.unwrap_or(Value::Null);
                        if status == 200 && body["value"] == "through-haproxy" {
                            Ok(())
                        } else {
                            Err(format!("{status} {}", body["error"]))
                        }
                    }
                    Err(e) => Err(format!("transport: {e}")),
                };
                log.push((at, r));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            log
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let leader = c.leader_index().await;
    let killed_at = start.elapsed();
    c.dev.kill(leader);
    let new_leader = c.leader_index().await;
    let elected_at = start.elapsed();
    // Keep reading well past the election and haproxy's health checks (2 × 1 s to mark the
    // dead node down).
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let log = reader.await.unwrap();
    let end = log.last().map(|(t, _)| *t).unwrap();

    // A read that started just before the kill may still be in flight when the leader dies:
    // "before" means started at least 200 ms before it (a read here takes ~35 ms).
    let in_flight = Duration::from_millis(200);
    let before: Vec<_> = log.iter().filter(|(t, _)| *t + in_flight < killed_at).collect();
    let errors: Vec<_> = log.iter().filter(|(_, r)| r.is_err()).collect();
    let last_error = errors.last().map(|(t, _)| *t);
    let after_last_error = log.iter().filter(|(t, _)| Some(*t) > last_error).count();
    let gap = last_error.map_or(Duration::ZERO, |t| t.saturating_sub(killed_at));
    let mut kinds: Vec<String> = errors.iter().filter_map(|(_, r)| r.clone().err()).collect();
    kinds.sort();
    kinds.dedup();
    eprintln!(
        "haproxy failover: {} reads in {:.1} s through 127.0.0.1:{lb}; leader node {} killed at \
         {:.2} s, node {} elected by {:.2} s; {} failed reads, last one {:.2} s after the kill \
         (failover gap); {} reads after it, all ok; error kinds: {kinds:?}",
        log.len(),
        end.as_secs_f64(),
        c.dev.nodes[leader].id,
        killed_at.as_secs_f64(),
        c.dev.nodes[new_leader].id,
        elected_at.as_secs_f64(),
        errors.len(),
        gap.as_secs_f64(),
        after_last_error,
    );
    assert!(before.len() >= 20, "reads ran before the kill: {}", before.len());
    assert!(
        before.iter().all(|(_, r)| r.is_ok()),
        "every read before the kill succeeds: {before:?}"
    );
    assert!(
        errors.iter().all(|(t, _)| *t + in_flight >= killed_at),
        "errors only after the kill: {errors:?}"
    );
    // After the failover every read succeeds: the last error is well before the end, and
    // the reads since then (seconds of them) all succeeded.
    assert!(
        last_error.is_none_or(|t| end.saturating_sub(t) >= Duration::from_secs(3)),
        "reads still failing at the end: {errors:?}"
    );
    assert!(after_last_error >= 50, "reads went on after the failover: {after_last_error}");
}

/// A real Prometheus with the shipped scrape config and alert rules scrapes every node of a
/// 3-node cluster; its API shows every target up, exactly one leader, no node sealed, and
/// every rule loaded and evaluated without error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_every_node_with_the_shipped_config() {
    let test = "prometheus_scrapes_every_node_with_the_shipped_config";
    let Some(prometheus) = tool("prometheus", test) else { return };
    let c = Cluster::start(3).await;
    let dir = c.dir().join("prometheus");
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("ass-alerts.yml");
    std::fs::write(&rules, shipped("prometheus/ass-alerts.yml").1).unwrap();
    let cfg = dir.join("prometheus.yml");
    let ca = c.dev.ca_file.clone().expect("a TLS cluster");
    std::fs::write(&cfg, render_prometheus(&api_ports(&c), &rules, Tls::Ca(&ca))).unwrap();
    let port = free_port();
    let log = dir.join("prometheus.log");
    let _prom = spawn(
        Command::new(&prometheus)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}")),
        &log,
    );
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let api = format!("http://127.0.0.1:{port}");
    let query = |q: &'static str| {
        let (http, api) = (http.clone(), api.clone());
        async move {
            let r = http.get(format!("{api}/api/v1/query")).query(&[("query", q)]).send().await;
            match r {
                Ok(r) => r.json::<Value>().await.ok().map(|v| v["data"]["result"].clone()),
                Err(_) => None,
            }
        }
    };
    let value = |s: &Value| s["value"][1].as_str().unwrap_or("").to_string();
    let wait = |what: &str, started: Instant| {
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            started.elapsed() < Duration::from_secs(45),
            "{what} within 45 s; prometheus log:\n{log}"
        );
    };

    // Every node scraped and up.
    let t0 = Instant::now();
    let up = loop {
        if let Some(r) = query("up{job=\"ass\"}").await {
            let arr = r.as_array().cloned().unwrap_or_default();
            if arr.len() == 3 && arr.iter().all(|s| value(s) == "1") {
                break arr;
            }
        }
        wait("all 3 targets up", t0);
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let mut instances: Vec<String> =
        up.iter().map(|s| s["metric"]["instance"].as_str().unwrap().to_string()).collect();
    instances.sort();
    let mut want: Vec<String> = api_ports(&c).iter().map(|p| format!("127.0.0.1:{p}")).collect();
    want.sort();
    assert_eq!(instances, want, "every node is a target");

    // Exactly one leader, the one the cluster names; nobody sealed.
    let leader_id = c.status(0).await.leader_id.unwrap().to_string();
    let leaders = query("ass_raft_is_leader{job=\"ass\"}").await.unwrap();
    let leaders = leaders.as_array().unwrap();
    assert_eq!(leaders.len(), 3, "{leaders:?}");
    let leading: Vec<&str> = leaders
        .iter()
        .filter(|s| value(s) == "1")
        .map(|s| s["metric"]["node"].as_str().unwrap())
        .collect();
    assert_eq!(leading, [leader_id.as_str()], "{leaders:?}");
    let sealed = query("sum(ass_sealed{job=\"ass\"})").await.unwrap();
    assert_eq!(value(&sealed[0]), "0");

    // Every rule of the shipped file is loaded and evaluates cleanly; none fires.
    let t0 = Instant::now();
    loop {
        let r: Value =
            http.get(format!("{api}/api/v1/rules")).send().await.unwrap().json().await.unwrap();
        let rules: Vec<Value> = r["data"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        let evaluated = rules
            .iter()
            .all(|r| r["health"] == "ok" && r["lastEvaluation"] != "0001-01-01T00:00:00Z");
        if rules.len() == 11 && evaluated {
            // A rule evaluated before the first scrape landed may still be pending (e.g.
            // `absent(...)`); it must clear once the data is there. The backup rules watch
            // the backup job's textfile metric, which this test has no node_exporter for:
            // AssBackupMissing is pending (no backup recorded), AssBackupTooOld quiet.
            let backup =
                |r: &&Value| r["name"].as_str().is_some_and(|n| n.starts_with("AssBackup"));
            let firing: Vec<&Value> =
                rules.iter().filter(|r| !backup(r) && r["state"] != "inactive").collect();
            let missing_pending =
                rules.iter().any(|r| r["name"] == "AssBackupMissing" && r["state"] == "pending");
            let too_old_quiet =
                rules.iter().any(|r| r["name"] == "AssBackupTooOld" && r["state"] == "inactive");
            if firing.is_empty() && missing_pending && too_old_quiet {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "a healthy cluster raises no alert: {firing:?}"
            );
        }
        wait("11 rules evaluated", t0);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "prometheus: {} targets up ({}), leader node {leader_id}, 11 rules evaluated (AssBackupMissing \
         pending: no backup job here) in {:.1} s",
        up.len(),
        instances.join(", "),
        t0.elapsed().as_secs_f64()
    );
}

/// Metric names the shipped dashboard and alert rules may name before any node exports them:
/// the TLS certificate gauge arrives with TLS.
const LANDING: &[&str] = &[];

fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = expr.as_bytes();
    let mut i = 0;
    while let Some(pos) = expr[i..].find("ass_") {
        let s = i + pos;
        let starts_word = s == 0 || !(b[s - 1].is_ascii_alphanumeric() || b[s - 1] == b'_');
        let mut e = s;
        while e < b.len() && (b[e].is_ascii_alphanumeric() || b[e] == b'_') {
            e += 1;
        }
        if starts_word {
            out.push(expr[s..e].to_string());
        }
        i = e;
    }
    out
}

/// The Grafana dashboard is valid JSON whose every query (and every alert rule) names only
/// metrics a real leader's `/metrics` exports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_and_alerts_query_only_metrics_a_node_exports() {
    let (_, dash) = shipped("grafana/ass-dashboard.json");
    let dash: Value = serde_json::from_str(&dash).expect("the dashboard is JSON");
    assert_eq!(dash["uid"], "ass-cluster");
    let mut exprs: Vec<String> = Vec::new();
    for p in dash["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().expect("targets") {
            exprs.push(t["expr"].as_str().expect("expr").to_string());
        }
    }
    assert!(exprs.len() >= 10, "{exprs:?}");
    let (_, rules) = shipped("prometheus/ass-alerts.yml");
    exprs.extend(rules.lines().filter_map(|l| l.trim().strip_prefix("expr: ")).map(String::from));

    let c = Cluster::start(3).await;
    let leader = c.leader_index().await;
    assert_eq!(c.get(leader, "/v1/sys/status").await.status, 200); // fills the HTTP histogram
    let text = c
        .dev
        .api_client()
        .unwrap()
        .get(format!("{}/metrics", c.dev.nodes[leader].api_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exported: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let mut missing = Vec::new();
    for e in &exprs {
        for name in metric_names(e) {
            // The backup metrics come from the backup script's textfile, not from a node.
            if name.starts_with("ass_backup_") {
                let (_, script) = shipped("systemd/ass-backup");
                assert!(script.contains(&format!("\n{name} ")), "ass-backup writes {name}");
                continue;
            }
            if !exported.contains(name.as_str()) && !LANDING.contains(&name.as_str()) {
                missing.push(format!("{name} (in `{e}`)"));
            }
        }
    }
    assert!(missing.is_empty(), "queried but not exported: {missing:?}\nexported: {exported:?}");
    assert_eq!(metric_names("rate(ass_a_total[1m]) + xass_b"), ["ass_a_total"]);
}

/// A self-signed CA certificate (PEM, public part only; its key was discarded), for config
/// checks that load the CA file.
const TEST_CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBgzCCASmgAwIBAgIUGSKGPr2XM4mb6OiOcO75lgjmZZUwCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLYXNzIHRlc3QgQ0EwIBcNMjYxMTI4MTQ0MDQzWhgPMjEyNjEx
MDQxNDQwNDNaMBYxFDASBgNVBAMMC2FzcyB0ZXN0IENBMFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAE38OFQkm6BYlGTZUFgtTuk9H1BEYw9nwkgAMPD7pAnTFPVWuk
CaIG9UjYk0Pft11uRvs3z2YE9jVD2pS95NOSTaNTMFEwHQYDVR0OBBYEFNCNRcmU
uLa9llrB2+0irCAgL38PMB8GA1UdIwQYMBaAFNCNRcmUuLa9llrB2+0irCAgL38P
MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIhAIbbvuMqkG/XKARA
5iCK4i6jtueSuiXHTdlvt/mQxMLYAiAnAwk2elbWSg83Vx9hs3srK3r5Ky53rYkL
tbA0zYv+Sw==
-----END CERTIFICATE-----
";
