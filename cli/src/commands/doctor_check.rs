//! `ass doctor`: the hardening checklist graded from the live cluster, for people (a table
//! read in ten seconds) and for CI (the exit code).

use std::io::IsTerminal;

use ass_client::scope::AUDIT_READ;
use ass_client::{DoctorOptions, DoctorReport, Severity};
use clap::{Args, Subcommand};

use super::{doctor_ignore, Ctx};
use crate::output;

const LONG_ABOUT: &str = "\
Grade the cluster against the hardening guide's checklist from its live state and audit
log: 1 minimum scope, 2 short TTLs, 3 approvals on sensitive and critical tiers, 4 IP
allowlists on production, 5 audit review, 6 rotation, 7 one agent per service,
8 production apart from the rest, 9 agent keys (not root) in CI, and the deployment's own
checks (TLS, voters, sealed nodes, certificate expiry, backups). Each finding names its
offender and the command that fixes it, and has a stable id to suppress it with a reason
(`ass doctor ignore ID --reason …`).

Exits 0 when every check passes, 1 when some only warn (0 with --warn-ok), 2 when one
fails: gate CI on it. Colour only on a terminal (NO_COLOR turns it off). Needs audit:read
or sys:operator.

Example:
  ass doctor
  ass doctor --since 30d --older-than 180d
  ass doctor --json | jq '.findings[] | select(.severity == \"fail\") | .id'
  ass doctor --warn-ok && echo 'no failure'";

/// Grade the cluster against the hardening checklist (exit 0 pass, 1 warn, 2 fail)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT, args_conflicts_with_subcommands = true)]
pub struct DoctorArgs {
    #[command(subcommand)]
    pub command: Option<DoctorCommand>,

    /// Audit window: a duration back (7d, 12h) or an RFC 3339 time
    #[arg(long, value_name = "WHEN", default_value = "7d")]
    pub since: String,

    /// Secrets whose latest version is older than this are stale (check 6), e.g. 90d
    #[arg(long, value_name = "AGE", default_value = "90d")]
    pub older_than: String,

    /// Agent keys not rotated for this long are flagged (check 9), e.g. 90d
    #[arg(long, value_name = "AGE", default_value = "90d")]
    pub key_max_age: String,

    /// Exit 0 when nothing fails, even if some checks warn
    #[arg(long)]
    pub warn_ok: bool,

    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

/// `ass doctor …`.
#[derive(Debug, Subcommand)]
pub enum DoctorCommand {
    Ignore(doctor_ignore::IgnoreArgs),
}

/// Runs `ass doctor`.
pub async fn exec(ctx: &Ctx, args: &DoctorArgs) -> anyhow::Result<()> {
    if let Some(DoctorCommand::Ignore(a)) = &args.command {
        return doctor_ignore::exec(ctx, a).await;
    }
    let opts = DoctorOptions {
        since: Some(args.since.clone()),
        older_than: Some(args.older_than.clone()),
        key_max_age: Some(args.key_max_age.clone()),
    };
    let report = ctx.scoped(AUDIT_READ).doctor(&opts).await?;
    if args.json {
        output::print_json(&report)?;
    } else {
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        output::print(&render(&report, colour))?;
    }
    verdict(&report, args.warn_ok)
}

/// The exit status CI gates on.
pub fn verdict(report: &DoctorReport, warn_ok: bool) -> anyhow::Result<()> {
    let count =
        |s| report.findings.iter().filter(|f| f.severity == s && f.ignored.is_none()).count();
    match report.grade {
        Severity::Pass => Ok(()),
        Severity::Warn if warn_ok => Ok(()),
        Severity::Warn => Err(crate::Failed {
            exit: 1,
            code: "doctor_warn",
            message: format!(
                "{} warning(s), no failure (--warn-ok accepts that)",
                count(Severity::Warn)
            ),
        }
        .into()),
        Severity::Fail => Err(crate::Failed {
            exit: 2,
            code: "doctor_fail",
            message: format!(
                "{} failing and {} warning finding(s)",
                count(Severity::Fail),
                count(Severity::Warn)
            ),
        }
        .into()),
    }
}

fn paint(s: Severity, text: &str, colour: bool) -> String {
    if !colour {
        return text.to_owned();
    }
    let code = match s {
        Severity::Pass => "32",
        Severity::Warn => "33",
        Severity::Fail => "1;31",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

fn label(s: Severity) -> &'static str {
    match s {
        Severity::Pass => "PASS",
        Severity::Warn => "WARN",
        Severity::Fail => "FAIL",
    }
}

/// The checklist table, then each finding with its fix, then the ignored ones.
pub fn render(r: &DoctorReport, colour: bool) -> String {
    let mut out = format!(
        "ass doctor: {}   (audit window since {}, at {})\n\n",
        paint(r.grade, label(r.grade), colour),
        r.since,
        r.generated_at
    );
    let rows: Vec<Vec<String>> = r
        .checks
        .iter()
        .map(|c| {
            let n = match (c.findings, c.ignored) {
                (0, 0) => String::new(),
                (n, 0) => n.to_string(),
                (n, i) => format!("{n} (+{i} ignored)"),
            };
            // Pad before painting so escape codes don't break the columns.
            vec![
                c.check.clone(),
                c.title.clone(),
                paint(c.grade, &format!("{:<4}", label(c.grade)), colour),
                n,
            ]
        })
        .collect();
    out.push_str(&output::table(&["CHECK", "PRACTICE", "GRADE", "FINDINGS"], &rows));
    let counting: Vec<_> = r.findings.iter().filter(|f| f.ignored.is_none()).collect();
    if !counting.is_empty() {
        out.push('\n');
    }
    for f in counting {
        out.push_str(&format!(
            "{} [{}] {}\n    {}\n    fix: {}\n",
            paint(f.severity, label(f.severity), colour),
            f.check,
            f.id,
            f.message,
            f.fix
        ));
    }
    let ignored: Vec<_> =
        r.findings.iter().filter_map(|f| f.ignored.as_ref().map(|i| (f, i))).collect();
    if !ignored.is_empty() {
        out.push_str("\nIgnored:\n");
        for (f, i) in ignored {
            out.push_str(&format!(
                "  [{}] {} ({}) by {} at {}: {}\n",
                f.check,
                f.id,
                f.severity.as_str(),
                i.by,
                i.at,
                i.reason
            ));
        }
    }
    let unmatched: Vec<_> =
        r.ignores.keys().filter(|id| !r.findings.iter().any(|f| &f.id == *id)).collect();
    if !unmatched.is_empty() {
        out.push_str(&format!(
            "\nSuppressions matching no finding now (lift with `ass doctor ignore ID --remove`): {}\n",
            unmatched.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    for n in &r.notes {
        out.push_str(&format!("\nnote: {n}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::{fixture, parse};

    fn report(grade: &str, findings: serde_json::Value) -> DoctorReport {
        fixture(serde_json::json!({
            "grade": grade, "generated_at": "2026-12-06T22:00:00.000Z",
            "since": "2026-11-29T22:00:00.000Z",
            "checks": [
                {"check": "1", "title": "Minimum scope", "grade": grade, "findings": 1, "ignored": 0},
                {"check": "2", "title": "Short-lived tokens", "grade": "pass", "findings": 0, "ignored": 1}
            ],
            "findings": findings, "notes": []
        }))
    }

    #[test]
    fn exit_codes_follow_the_grade() {
        let code = |r: &DoctorReport, ok| verdict(r, ok).err().map(|e| crate::exit_code(&e));
        assert_eq!(code(&report("pass", serde_json::json!([])), false), None);
        assert_eq!(code(&report("warn", serde_json::json!([])), false), Some(1));
        assert_eq!(code(&report("warn", serde_json::json!([])), true), None);
        assert_eq!(code(&report("fail", serde_json::json!([])), true), Some(2));
    }

    #[test]
    fn the_table_shows_grades_findings_fixes_and_ignores() {
        let r = report(
            "fail",
            serde_json::json!([
                {"id": "scope.all_paths:token:t", "check": "1", "severity": "fail",
                 "offender": "token:t", "message": "token t holds secrets:read:*",
                 "fix": "ass tokens revoke t"},
                {"id": "ttl.over_8h:u", "check": "2", "severity": "warn", "offender": "token:u",
                 "message": "m", "fix": "f",
                 "ignored": {"reason": "drill", "by": "root", "at": "2026-12-06T21:00:00.000Z"}}
            ]),
        );
        let text = render(&r, false);
        assert!(text.starts_with("ass doctor: FAIL"), "{text}");
        assert!(text.contains("1      Minimum scope       FAIL   1\n"), "{text}");
        assert!(text.contains("2      Short-lived tokens  PASS   0 (+1 ignored)\n"), "{text}");
        assert!(text.contains("FAIL [1] scope.all_paths:token:t\n    token t holds secrets:read:*\n    fix: ass tokens revoke t\n"), "{text}");
        assert!(
            text.contains(
                "Ignored:\n  [2] ttl.over_8h:u (warn) by root at 2026-12-06T21:00:00.000Z: drill\n"
            ),
            "{text}"
        );
        assert!(!text.contains('\x1b'), "no colour off a terminal");
        assert!(render(&r, true).contains("\x1b[1;31mFAIL"));
    }

    #[test]
    fn flags_and_the_ignore_subcommand_parse() {
        let cli = parse(&["doctor", "--json", "--since", "30d", "--warn-ok"]).unwrap();
        assert!(
            matches!(cli.command, crate::commands::Command::Doctor(ref a) if a.warn_ok && a.json && a.since == "30d")
        );
        assert!(parse(&["doctor", "ignore", "ttl.over_8h:x", "--reason", "ok"]).is_ok());
        assert!(
            parse(&["doctor", "ignore", "ttl.over_8h:x"]).is_err(),
            "a reason or --remove is required"
        );
        assert!(parse(&["doctor", "ignore", "ttl.over_8h:x", "--remove"]).is_ok());
    }
}
