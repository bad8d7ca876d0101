//! Prometheus metrics of one node: one registry, names prefixed `ass_`.
//!
//! Labels never carry a secret path or a token: the route label is the route *template*
//! (`/v1/secrets/{*path}`), never the request path. Raft and state gauges are set at scrape
//! time from a [`MetricsSnapshot`] (openraft's metrics and the applied state, gathered by
//! `Node::metrics_snapshot`), so they are never stale; this module knows nothing of the node.
//!
//! ```text
//!  request path, autopilot, TLS, audit ──inc/observe──> counters, histograms (as it happens)
//!  GET /metrics ──> Node::metrics_snapshot() ──> Metrics::render(&snapshot) ──> text
//! ```

use std::time::Instant;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The node's metrics.
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub leader_changes: IntCounter,
    pub audit_write_seconds: Histogram,
    pub audit_failures: IntCounter,
    raft_term: IntGauge,
    raft_is_leader: IntGauge,
    raft_leader_id: IntGauge,
    raft_last_log_index: IntGauge,
    raft_applied_index: IntGauge,
    raft_replication_lag: IntGaugeVec,
    sealed: IntGauge,
    secrets: IntGauge,
    live_tokens: IntGauge,
    /// Dead tokens the leader's sweep removed from the state machine (counted on the leader
    /// that proposed the sweep).
    pub tokens_swept: IntCounter,
    pending_approvals: IntGauge,
    /// notAfter of the node's certificate, Unix seconds, by port (`api`, `cluster`).
    pub tls_cert_not_after: IntGaugeVec,
    /// TLS handshakes that failed or timed out, by port.
    pub tls_handshake_failures: IntCounterVec,
    /// API connections closed before TLS for a PROXY protocol fault, by reason.
    pub proxy_protocol_rejected: IntCounterVec,
    /// Requests hyper refused before routing, by status (414, 431).
    pub http_refused: IntCounterVec,
    /// Audit events of such refusals not written (over the per-second bound).
    pub audit_refusals_suppressed: IntCounter,
    /// Authentications served from the auth cache (`hit`) or resolved from state (`miss`).
    auth_cache_lookups: IntCounterVec,
    /// Leadership handovers this node started, by outcome (`ok`, `timeout`, …).
    pub leader_handovers: IntCounterVec,
    /// Voters autopilot removed as dead (`[autopilot] cleanup_dead_servers`).
    pub autopilot_dead_servers_removed: IntCounter,
    /// 1 while this node was removed from the cluster (it fails its health check).
    pub removed: IntGauge,
    last_leader: std::sync::Mutex<Option<u64>>,
}

fn must<T>(r: prometheus::Result<T>) -> T {
    // Metric definitions are constants: a failure here is a programming error caught by tests.
    r.unwrap_or_else(|e| panic!("metric definition: {e}"))
}

impl Metrics {
    pub fn new(node_id: u64) -> Self {
        let registry = must(Registry::new_custom(
            Some("ass".into()),
            Some([("node".to_string(), node_id.to_string())].into()),
        ));
        let http_requests = must(IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route template, method and status"),
            &["route", "method", "status"],
        ));
        let http_duration = must(HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route template",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["route"],
        ));
        let gauge = |name: &str, help: &str| must(IntGauge::new(name, help));
        let m = Metrics {
            http_requests,
            http_duration,
            leader_changes: must(IntCounter::new(
                "raft_leader_changes_total",
                "Leader changes this node has seen",
            )),
            audit_write_seconds: must(Histogram::with_opts(HistogramOpts::new(
                "audit_write_seconds",
                "Time to record an audit event durably",
            ))),
            audit_failures: must(IntCounter::new(
                "audit_failures_total",
                "Audit events that could not be recorded",
            )),
            raft_term: gauge("raft_term", "Current Raft term"),
            raft_is_leader: gauge("raft_is_leader", "1 if this node is the leader"),
            raft_leader_id: gauge("raft_leader_id", "Id of the leader this node knows (0: none)"),
            raft_last_log_index: gauge("raft_last_log_index", "Last log index on this node"),
            raft_applied_index: gauge("raft_applied_index", "Last log index applied on this node"),
            raft_replication_lag: must(IntGaugeVec::new(
                Opts::new(
                    "raft_replication_lag_entries",
                    "On the leader: entries each follower is behind",
                ),
                &["follower"],
            )),
            sealed: gauge("sealed", "1 if this node is sealed"),
            secrets: gauge("secrets", "Secret paths stored"),
            live_tokens: gauge("live_tokens", "Tokens neither expired nor revoked"),
            tokens_swept: must(IntCounter::new(
                "tokens_swept_total",
                "Dead tokens (expired or revoked over an hour ago) removed by this node's sweeps",
            )),
            pending_approvals: gauge(
                "pending_approvals",
                "Approval requests waiting for a decision",
            ),
            tls_cert_not_after: must(IntGaugeVec::new(
                Opts::new(
                    "tls_cert_not_after_seconds",
                    "Unix time when the certificate served on the port expires (notAfter)",
                ),
                &["port"],
            )),
            tls_handshake_failures: must(IntCounterVec::new(
                Opts::new(
                    "tls_handshake_failures_total",
                    "TLS handshakes on the port that failed or timed out (on the cluster port: \
                     a client without a cluster-CA certificate)",
                ),
                &["port"],
            )),
            proxy_protocol_rejected: must(IntCounterVec::new(
                Opts::new(
                    "proxy_protocol_rejected_total",
                    "API connections closed before TLS: a configured proxy sent no PROXY header \
                     (missing), a bad one (malformed) or none in time (timeout), or a peer not \
                     in [api] proxy_protocol_from sent one (untrusted)",
                ),
                &["reason"],
            )),
            http_refused: must(IntCounterVec::new(
                Opts::new(
                    "http_refused_before_routing_total",
                    "Requests refused before routing because they could not be read (a URI over \
                     64 KiB, a head over 1 MiB), by status",
                ),
                &["status"],
            )),
            audit_refusals_suppressed: must(IntCounter::new(
                "audit_refusals_suppressed_total",
                "Audit events of refused unreadable requests not written: over the per-second bound",
            )),
            auth_cache_lookups: must(IntCounterVec::new(
                Opts::new(
                    "auth_cache_lookups_total",
                    "Credential checks answered from the auth cache (hit) or resolved from the \
                     state machine (miss)",
                ),
                &["result"],
            )),
            leader_handovers: must(IntCounterVec::new(
                Opts::new(
                    "raft_leader_handovers_total",
                    "Leadership handovers this node started (transfer-leader, clean stop), by \
                     outcome",
                ),
                &["outcome"],
            )),
            autopilot_dead_servers_removed: must(IntCounter::new(
                "autopilot_dead_servers_removed_total",
                "Voters removed by dead-server cleanup on this node while it led",
            )),
            removed: gauge("removed", "1 if this node was removed from the cluster"),
            last_leader: std::sync::Mutex::new(None),
            registry,
        };
        for c in [
            Box::new(m.http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.http_duration.clone()),
            Box::new(m.leader_changes.clone()),
            Box::new(m.audit_write_seconds.clone()),
            Box::new(m.audit_failures.clone()),
            Box::new(m.raft_term.clone()),
            Box::new(m.raft_is_leader.clone()),
            Box::new(m.raft_leader_id.clone()),
            Box::new(m.raft_last_log_index.clone()),
            Box::new(m.raft_applied_index.clone()),
            Box::new(m.raft_replication_lag.clone()),
            Box::new(m.sealed.clone()),
            Box::new(m.secrets.clone()),
            Box::new(m.live_tokens.clone()),
            Box::new(m.tokens_swept.clone()),
            Box::new(m.pending_approvals.clone()),
            Box::new(m.tls_cert_not_after.clone()),
            Box::new(m.tls_handshake_failures.clone()),
            Box::new(m.proxy_protocol_rejected.clone()),
            Box::new(m.auth_cache_lookups.clone()),
            Box::new(m.leader_handovers.clone()),
            Box::new(m.autopilot_dead_servers_removed.clone()),
            Box::new(m.removed.clone()),
            Box::new(m.http_refused.clone()),
            Box::new(m.audit_refusals_suppressed.clone()),
        ] {
            must(m.registry.register(c));
        }
        m
    }

    /// Records one finished HTTP request.
    pub fn observe_http(&self, route: &str, method: &str, status: u16, started: Instant) {
        self.http_requests.with_label_values(&[route, method, &status.to_string()]).inc();
        self.http_duration.with_label_values(&[route]).observe(started.elapsed().as_secs_f64());
    }

    /// Notes the leader this node sees; counts changes.
    pub fn observe_leader(&self, leader: Option<u64>) {
        let mut last = self.last_leader.lock().unwrap_or_else(|e| e.into_inner());
        if leader.is_some() && *last != leader {
            if last.is_some() {
                self.leader_changes.inc();
            }
            *last = leader;
        }
    }

    /// The text exposition, with the Raft and state gauges set from `now` (read at scrape
    /// time, so never stale).
    pub fn render(&self, now: &MetricsSnapshot) -> String {
        self.observe_leader(now.leader);
        self.raft_term.set(now.term as i64);
        self.raft_is_leader.set(i64::from(now.leader == Some(now.node_id)));
        self.raft_leader_id.set(now.leader.unwrap_or(0) as i64);
        self.raft_last_log_index.set(now.last_log_index as i64);
        self.raft_applied_index.set(now.applied_index as i64);
        self.raft_replication_lag.reset();
        if let Some(replication) = &now.replication {
            for (id, matched) in replication {
                if *id != now.node_id {
                    let lag = now.last_log_index.saturating_sub(matched.unwrap_or(0));
                    self.raft_replication_lag.with_label_values(&[&id.to_string()]).set(lag as i64);
                }
            }
        }
        self.sealed.set(i64::from(now.sealed));
        self.secrets.set(now.secrets as i64);
        self.live_tokens.set(now.live_tokens as i64);
        self.pending_approvals.set(now.pending_approvals as i64);
        // The cache counts on its own (no registry on the hot path); catch the counters up.
        for (result, total) in [("hit", now.auth_cache_hits), ("miss", now.auth_cache_misses)] {
            let counter = self.auth_cache_lookups.with_label_values(&[result]);
            counter.inc_by(total.saturating_sub(counter.get()));
        }
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// What a scrape reads from the node at scrape time: Raft's view, applied state and the
/// auth cache's own counters. Gathered by `Node::metrics_snapshot`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    pub node_id: u64,
    pub term: u64,
    /// The leader this node knows.
    pub leader: Option<u64>,
    pub last_log_index: u64,
    pub applied_index: u64,
    /// On the leader: each member and the last log index it matched (`None`: none yet).
    pub replication: Option<Vec<(u64, Option<u64>)>>,
    pub sealed: bool,
    pub secrets: u64,
    pub live_tokens: u64,
    pub pending_approvals: u64,
    /// Lookups the auth cache answered (`hit`) or sent to state (`miss`) since start.
    pub auth_cache_hits: u64,
    pub auth_cache_misses: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_register_and_labels_carry_no_paths() {
        let m = Metrics::new(1);
        m.observe_http("/v1/secrets/{*path}", "GET", 200, Instant::now());
        let mut out = Vec::new();
        TextEncoder::new().encode(&m.registry.gather(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(r#"ass_http_requests_total{method="GET",route="/v1/secrets/{*path}",status="200",node="1"} 1"#),
            "{text}"
        );
        m.observe_leader(Some(1));
        m.observe_leader(Some(2));
        assert_eq!(m.leader_changes.get(), 1);
    }

    fn line<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines().filter(|l| l.starts_with(name)).collect()
    }

    #[test]
    fn a_snapshot_sets_the_gauges_it_reads() {
        let m = Metrics::new(1);
        let mut now = MetricsSnapshot {
            node_id: 1,
            term: 7,
            leader: Some(1),
            last_log_index: 120,
            applied_index: 118,
            replication: Some(vec![(1, Some(120)), (2, Some(100)), (3, None)]),
            sealed: false,
            secrets: 5,
            live_tokens: 3,
            pending_approvals: 2,
            auth_cache_hits: 40,
            auth_cache_misses: 4,
        };
        let text = m.render(&now);
        assert_eq!(line(&text, "ass_raft_term{"), [r#"ass_raft_term{node="1"} 7"#]);
        assert_eq!(line(&text, "ass_raft_is_leader{"), [r#"ass_raft_is_leader{node="1"} 1"#]);
        let lag = line(&text, "ass_raft_replication_lag_entries{");
        assert_eq!(
            lag,
            [
                r#"ass_raft_replication_lag_entries{follower="2",node="1"} 20"#,
                r#"ass_raft_replication_lag_entries{follower="3",node="1"} 120"#,
            ],
            "the leader itself has no lag line"
        );
        assert!(text.contains(r#"ass_pending_approvals{node="1"} 2"#), "{text}");
        assert!(text.contains(r#"ass_auth_cache_lookups_total{result="hit",node="1"} 40"#));
        // A follower's scrape: no lag lines, the counters only grow to the new totals.
        now.leader = Some(2);
        now.replication = None;
        now.sealed = true;
        now.auth_cache_hits = 41;
        let text = m.render(&now);
        assert!(line(&text, "ass_raft_replication_lag_entries{").is_empty(), "{text}");
        assert_eq!(line(&text, "ass_raft_leader_id{"), [r#"ass_raft_leader_id{node="1"} 2"#]);
        assert_eq!(line(&text, "ass_sealed{"), [r#"ass_sealed{node="1"} 1"#]);
        assert!(text.contains(r#"ass_auth_cache_lookups_total{result="hit",node="1"} 41"#));
        assert_eq!(m.leader_changes.get(), 1);
    }
}
