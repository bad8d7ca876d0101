//! The readable form of a [`Report`]: the table printed at the end of a run and saved as
//! `report.txt` next to `report.json`.

use std::fmt::Write;

use crate::runner::{Percentiles, Report};

fn ms(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v} ms"))
}

fn pct(p: &Percentiles) -> String {
    format!("n={} p50={} p99={} max={}", p.count, ms(p.p50_ms), ms(p.p99_ms), ms(p.max_ms))
}

/// Renders the report as plain text.
pub fn table(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "ass-chaos {} tier: {} nodes, {}", r.tier, r.nodes, r.network);
    let _ = writeln!(
        s,
        "{:.0} s, {} schedules, {} operations, {} violations",
        r.duration_s, r.schedules_run, r.total_ops, r.violations
    );
    let _ = writeln!(s, "\noperations            ok   failed  unknown    total");
    let rows = r
        .secret_ops
        .iter()
        .map(|(k, m)| (format!("secret {k}"), m))
        .chain(r.token_ops.iter().map(|(k, m)| (format!("token {k}"), m)));
    for (kind, m) in rows {
        let get = |k: &str| m.get(k).copied().unwrap_or(0);
        let ok = get("ok") + get("accepted") + get("refused");
        let total: u64 = m.values().sum();
        let _ = writeln!(
            s,
            "  {kind:<16} {ok:>8} {:>8} {:>8} {total:>8}",
            get("failed"),
            get("unknown")
        );
        if m.contains_key("accepted") || m.contains_key("refused") {
            let _ = writeln!(s, "    (accepted {}, refused {})", get("accepted"), get("refused"));
        }
    }
    let _ = writeln!(s, "\nfaults (times in s since start)");
    let _ = writeln!(
        s,
        "  {:<26} {:>7} {:>7} {:>12} {:>12}",
        "schedule", "inject", "heal", "failover", "converged"
    );
    for f in &r.faults {
        let fo = if f.failovers_ms.is_empty() {
            "-".to_string()
        } else {
            f.failovers_ms.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("/") + " ms"
        };
        let _ = writeln!(
            s,
            "  {:<26} {:>7.1} {:>7.1} {:>12} {:>12}{}",
            f.schedule,
            f.injected_at_s,
            f.healed_at_s,
            fo,
            ms(f.convergence_ms),
            if f.violations.is_empty() { "" } else { "  VIOLATION" }
        );
    }
    for sk in &r.skipped {
        let _ = writeln!(s, "  skipped: {sk}");
    }
    let _ = writeln!(s, "\nleader failover   {}", pct(&r.failover));
    let _ = writeln!(s, "convergence       {}", pct(&r.convergence));
    let l = &r.linearizability;
    let _ = writeln!(
        s,
        "\nlinearizability   {} keys, {} steps, {} ms: {} violations, {} timeouts",
        l.keys,
        l.steps,
        l.check_ms,
        l.violations.len(),
        l.timeouts.len()
    );
    let _ = writeln!(s, "durability        {} violations", r.durability_violations.len());
    let v = &r.revocation;
    let _ = writeln!(
        s,
        "revocation        {} issued, {} revoked, {} uses after an acked revoke: {} violations",
        v.issued,
        v.revoked,
        v.uses_after_revoke,
        v.violations.len()
    );
    let _ = writeln!(s, "convergence       {} violations", r.convergence_violations.len());
    let _ = writeln!(s, "unexpected exits  {}", r.unexpected_exits.len());
    let all = l
        .violations
        .iter()
        .chain(&l.timeouts)
        .chain(&r.durability_violations)
        .chain(&v.violations)
        .chain(&r.convergence_violations)
        .chain(&r.unexpected_exits)
        .chain(&r.fault_violations)
        .chain(&r.errors);
    let mut first = true;
    for line in all {
        if first {
            let _ = writeln!(s, "\nproblems:");
            first = false;
        }
        let _ = writeln!(s, "  - {line}");
    }
    s
}
