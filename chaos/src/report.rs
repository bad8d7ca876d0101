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

/// The report's first line: how many schedules ran of how many the tier names, and the
/// skipped ones, so a partial run never reads as a full one.
pub fn ran_line(r: &Report) -> String {
    let mut line = format!("ran {} of {} schedules", r.schedules_ran, r.schedules_planned);
    if !r.skipped.is_empty() {
        let names: Vec<&str> = r.skipped.iter().map(|s| s.split(':').next().unwrap_or(s)).collect();
        line.push_str(&format!(
            " ({} SKIPPED by --allow-skip: {})",
            r.skipped.len(),
            names.join(", ")
        ));
    }
    if !r.not_run.is_empty() {
        line.push_str(&format!(" ({} never started)", r.not_run.len()));
    }
    line
}

/// Renders the report as plain text.
pub fn table(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", ran_line(r));
    let _ = writeln!(s, "ass-chaos {} tier: {} nodes, {}", r.tier, r.nodes, r.network);
    let _ = writeln!(
        s,
        "{:.0} s, {} fault injections, {} operations, {} violations",
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
        .chain(&r.not_run)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_says_how_many_schedules_ran_of_how_many() {
        let mut r = Report { schedules_planned: 13, schedules_ran: 13, ..Default::default() };
        assert!(table(&r).starts_with("ran 13 of 13 schedules\n"), "{}", table(&r));
        r.schedules_ran = 6;
        r.skipped = vec![
            "partition-leader-minority: needs network namespaces and iptables (not root)".into(),
            "packet-loss: needs network namespaces and iptables (not root)".into(),
        ];
        let first = table(&r).lines().next().unwrap_or_default().to_string();
        assert_eq!(
            first,
            "ran 6 of 13 schedules (2 SKIPPED by --allow-skip: partition-leader-minority, packet-loss)"
        );
        r.not_run = vec!["kill-all: never started (see errors)".into()];
        assert!(table(&r).lines().next().unwrap_or_default().ends_with("(1 never started)"));
        assert!(table(&r).contains("  - kill-all: never started"));
    }
}
