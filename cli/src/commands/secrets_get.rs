//! `ass secrets get`: reads one version of a secret, value included; with `--wait`, waits
//! for the approval a gated read needs, then reads.
//!
//! ```text
//!  get ──ok──────────────────────────────────────────────────────────────> print value
//!   │ approval_required / approval_expired (request ID pending)
//!   ├── no --wait ──> exit 3, ID on stderr ({"approval_required":…} with --json)
//!   └── --wait D ──> GET /v1/approvals/ID every 2 s ──approved──> get again ──> print value
//!                                                    ├─denied / expired──> exit 4
//!                                                    └─still pending after D──> exit 3
//!   │ approval_denied ──> exit 4 (waiting would not help)
//! ```

use std::time::Duration;

use ass_client::{ApprovalInfo, Client, SecretResponse};
use clap::Args;
use tokio::time::Instant;

use super::{Ctx, ReadArgs};
use crate::output;
use crate::{ApprovalHeld, Held};

const LONG_ABOUT: &str = "\
Read the secret at PATH (the latest version, or --version N).

By default prints path, version, type, tier, created_at and value. --silent prints the bare
value and a newline, for scripts and CI; --json prints everything as JSON.

Reads are linearizable by default (they see every write acknowledged before they started);
--stale answers from the node's local copy at once, --min-index I waits until the node has
applied the index a write printed.

Approvals: reading a secret whose tier needs approvals (critical by default; see `ass policy
approvals show`) opens an approval request, or re-uses the open one, and exits 3 printing on
stderr `approval required: request ID (…); ask an approver: ass approvals approve ID` and
then ID alone on the last line (stdout stays empty; with --json stdout gets
{\"approval_required\": true, \"approval_id\": \"ID\", \"status\": \"pending\"}). --reason TEXT is
recorded on the request for the approvers. Once enough approvers approved, the same read
succeeds for the grant's time (1h by default). A denied request makes reads exit 4 until it
times out.

--wait [DURATION] (15m when given alone) instead follows the request every 2 s with the
same credential and prints the value as soon as it is approved; it exits 4 if the request
is denied or expires, and 3 with the id if it is still pending when DURATION is up. Give
the duration after the path, or as --wait=DURATION.

Exit codes: 0 value printed, 1 usage or local error, 2 server error, 3 approval required
(request pending), 4 approval denied or expired.

In a script, assign first and export after: `X=$(ass secrets get P --silent)` fails (with
`set -e`) or sets $? to the CLI's exit code, but `export X=$(ass secrets get P --silent)` does
not: bash's `export` exits 0 whatever happened inside $(…), so a read that needs an approval
(exit 3) leaves X empty and the job goes on. Better still, `ass run --env X=P -- CMD` reads
every secret first and runs nothing if one fails.

Example:
  GEMINI_API_KEY=$(ass secrets get production/gemini/GEMINI_API_KEY --silent)
  export GEMINI_API_KEY
  ass secrets get production/stripe/STRIPE_SECRET_KEY --reason \"payout run\" --wait 30m --silent";

/// How often `--wait` looks at the approval request.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Read a secret's value
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct GetArgs {
    /// Secret path, e.g. production/gemini/GEMINI_API_KEY
    pub path: String,

    /// Read this version instead of the latest
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub version: Option<u64>,

    /// Print only the value followed by a newline
    #[arg(long, short = 's', conflicts_with = "json")]
    pub silent: bool,

    /// Print the answer as JSON
    #[arg(long)]
    pub json: bool,

    /// Why you read it: recorded on the approval request a gated read opens (printable ASCII)
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,

    /// If the read needs approval, wait up to DURATION (default 15m) for it, then read
    #[arg(
        long,
        value_name = "DURATION",
        num_args = 0..=1,
        default_missing_value = "15m",
        value_parser = super::parse_duration
    )]
    pub wait: Option<Duration>,

    #[command(flatten)]
    pub read: ReadArgs,
}

/// Runs `ass secrets get`.
pub async fn exec(ctx: &Ctx, args: &GetArgs) -> anyhow::Result<()> {
    let client = ctx.scoped(scope(args));
    match read(&client, args).await {
        Ok(s) if args.json => output::print_json(&s),
        Ok(s) if args.silent => output::print(&render_silent(&s)),
        Ok(s) => output::print(&render(&s)),
        Err(e) => {
            if let (true, Some(held)) = (args.json, crate::approval_held(&e)) {
                output::print_json(&HeldJson::of(&held))?;
            }
            Err(e)
        }
    }
}

/// The read, and with `--wait` the wait for its approval and the read after it.
async fn read(client: &Client, args: &GetArgs) -> anyhow::Result<SecretResponse> {
    let opts = options(args);
    let err = match client.get_secret(&args.path, &opts).await {
        Ok(s) => return Ok(s),
        Err(e) => e,
    };
    let (Some(limit), Some(held)) = (args.wait, ApprovalHeld::from_error(&err)) else {
        return Err(err.into());
    };
    if held.held != Held::Pending {
        return Err(held.into()); // denied: waiting would not change that
    }
    let first = held.text().lines().next().unwrap_or_default().to_owned();
    eprintln!("{first}\nwaiting up to {} for the approval…", humantime::format_duration(limit));
    wait_for_approval(client, &held.approval_id, limit).await?;
    Ok(client.get_secret(&args.path, &opts).await?)
}

/// The client's read options: consistency, version and reason.
pub fn options(args: &GetArgs) -> ass_client::ReadOptions {
    let mut o = args.read.options(args.version);
    o.reason = args.reason.clone();
    o
}

/// What `--wait` does after looking at the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Approved: read the secret.
    Read,
    /// Still pending and time left: look again in [`POLL_INTERVAL`].
    Poll,
    /// Stop, held: `Pending` when the time is up (exit 3), `Denied` or `Expired` (exit 4).
    Stop(Held),
}

/// The wait's decision from the request's `status` and whether time is left. A status this
/// CLI does not know (or none, when the cluster could not be reached) counts as pending.
pub fn next_step(status: &str, time_left: bool) -> Next {
    match status {
        "approved" => Next::Read,
        "denied" => Next::Stop(Held::Denied),
        "expired" => Next::Stop(Held::Expired),
        _ if time_left => Next::Poll,
        _ => Next::Stop(Held::Pending),
    }
}

/// Follows request `id` until it is approved (`Ok`), or fails with an [`ApprovalHeld`] when
/// it is denied, expires or is still pending after `limit`. Unreachable nodes are waited out;
/// any other error stops the wait.
async fn wait_for_approval(client: &Client, id: &str, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    let mut last: Option<ApprovalInfo> = None;
    loop {
        match client.get_approval(id).await {
            Ok(a) => {
                if last.as_ref().is_some_and(|l| l.approvals.len() < a.approvals.len()) {
                    eprintln!("{}", progress(&a));
                }
                last = Some(a);
            }
            Err(e) if e.is_failover() => eprintln!("cannot look at request {id} now: {e}"),
            Err(e) => return Err(e.into()),
        }
        let status = last.as_ref().map_or("", |a| a.status.as_str());
        let now = Instant::now();
        match next_step(status, now < deadline) {
            Next::Read => return Ok(()),
            Next::Poll => tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await,
            Next::Stop(held) => {
                let detail = stop_detail(held, last.as_ref(), limit);
                return Err(ApprovalHeld { held, approval_id: id.to_owned(), detail }.into());
            }
        }
    }
}

/// `1 of 2 approvals (you@company.com)`.
pub fn progress(a: &ApprovalInfo) -> String {
    let who: Vec<&str> = a.approvals.iter().map(|d| d.approver.as_str()).collect();
    format!("{} of {} approvals ({})", a.approvals.len(), a.required_approvals, who.join(", "))
}

/// Why the wait stopped, for the parentheses of the held message.
pub fn stop_detail(held: Held, last: Option<&ApprovalInfo>, limit: Duration) -> String {
    match (held, last) {
        (Held::Denied, Some(a)) => match &a.denial {
            Some(d) => match &d.comment {
                Some(c) => format!("denied by {}: {c}", d.approver),
                None => format!("denied by {}", d.approver),
            },
            None => "denied".to_owned(),
        },
        (Held::Expired, Some(a)) => format!(
            "timed out at {} with {} of {} approvals",
            a.expires_at,
            a.approvals.len(),
            a.required_approvals
        ),
        (Held::Pending, Some(a)) => {
            format!("still pending after {}: {}", humantime::format_duration(limit), progress(a))
        }
        (Held::Pending, None) => {
            format!("still pending after {}", humantime::format_duration(limit))
        }
        (_, None) => held.as_str().to_owned(),
    }
}

/// What `--json` prints on stdout when a read is held back by its approval request.
#[derive(Debug, serde::Serialize, PartialEq, Eq)]
pub struct HeldJson<'a> {
    pub approval_required: bool,
    pub approval_id: &'a str,
    /// `pending`, `denied` or `expired`.
    pub status: &'static str,
}

impl<'a> HeldJson<'a> {
    pub fn of(h: &'a ApprovalHeld) -> Self {
        HeldJson { approval_required: true, approval_id: &h.approval_id, status: h.status() }
    }
}

/// The least scope this read needs (asked for when only an agent key is given). The same
/// token follows the approval request with `--wait`: the requester needs no other scope.
pub fn scope(args: &GetArgs) -> String {
    ass_client::scope::secret_read(&args.path)
}

/// The bare value and a newline.
pub fn render_silent(s: &SecretResponse) -> String {
    format!("{}\n", s.value)
}

/// The key/value block.
pub fn render(s: &SecretResponse) -> String {
    output::kv_block(&[
        ("path", s.path.clone()),
        ("version", s.version.to_string()),
        ("type", s.secret_type.clone()),
        ("tier", s.tier.to_string()),
        ("created_at", s.created_at.clone()),
        ("value", s.value.clone()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::approvals_show::tests::approval;
    use crate::commands::tests::{fixture, parse};
    use crate::commands::{Command, SecretsCommand};

    fn args(argv: &[&str]) -> GetArgs {
        match parse(argv).unwrap().command {
            Command::Secrets(SecretsCommand::Get(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    fn secret() -> SecretResponse {
        fixture(serde_json::json!({
            "path": "production/gemini/GEMINI_API_KEY", "version": 4, "value": "AIza-xyz",
            "type": "api_key", "tier": "sensitive", "created_at": "2026-11-28T10:00:00Z"
        }))
    }

    #[test]
    fn ci_form_parses() {
        let a = args(&["secrets", "get", "production/stripe/KEY", "--silent"]);
        assert!(a.silent && !a.json);
        assert_eq!((a.wait, a.reason.as_deref()), (None, None));
        assert_eq!(options(&a), ass_client::ReadOptions::default());
    }

    #[test]
    fn agent_key_token_holds_only_read_on_the_path() {
        let a = args(&["secrets", "get", "production/gemini/GEMINI_API_KEY", "--version", "2"]);
        assert_eq!(scope(&a), "secrets:read:production/gemini/GEMINI_API_KEY");
    }

    #[test]
    fn read_options_parse() {
        let a = args(&["secrets", "get", "a/b", "--version", "2", "--stale", "--min-index", "77"]);
        let o = a.read.options(a.version);
        assert_eq!((o.version, o.stale, o.min_index), (Some(2), true, Some(77)));
    }

    #[test]
    fn reason_becomes_a_read_option() {
        let a = args(&["secrets", "get", "a/b", "--reason", "payout run", "--stale"]);
        let o = options(&a);
        assert_eq!((o.reason.as_deref(), o.stale), (Some("payout run"), true));
    }

    #[test]
    fn wait_alone_means_15_minutes() {
        let min = |m: u64| Some(Duration::from_secs(m * 60));
        assert_eq!(args(&["secrets", "get", "a/b", "--wait"]).wait, min(15));
        assert_eq!(args(&["secrets", "get", "a/b", "--wait", "--silent"]).wait, min(15));
        let a = args(&["secrets", "get", "a/b", "--wait", "--reason", "r"]);
        assert_eq!((a.wait, a.reason.as_deref()), (min(15), Some("r")));
        assert_eq!(args(&["secrets", "get", "--wait=60s", "a/b"]).wait, min(1));
        assert_eq!(args(&["secrets", "get", "a/b", "--wait", "60s", "-s"]).wait, min(1));
        assert_eq!(args(&["secrets", "get", "a/b", "--wait", "1h"]).wait, min(60));
    }

    #[test]
    fn bad_wait_durations_are_usage_errors() {
        assert!(parse(&["secrets", "get", "a/b", "--wait", "0s"]).is_err());
        assert!(parse(&["secrets", "get", "a/b", "--wait", "soon"]).is_err());
        // The path is not a duration: give --wait after the path, or with `=`.
        assert!(parse(&["secrets", "get", "--wait", "a/b"]).is_err());
    }

    #[test]
    fn wait_reads_once_approved() {
        assert_eq!(next_step("approved", true), Next::Read);
        assert_eq!(next_step("approved", false), Next::Read, "approved at the deadline: read");
    }

    #[test]
    fn wait_polls_while_pending_and_time_is_left() {
        assert_eq!(next_step("pending", true), Next::Poll);
        assert_eq!(next_step("", true), Next::Poll, "cluster unreachable: keep waiting");
        assert_eq!(next_step("escalated", true), Next::Poll, "unknown status: keep waiting");
    }

    #[test]
    fn wait_times_out_pending_with_exit_3() {
        assert_eq!(next_step("pending", false), Next::Stop(Held::Pending));
        assert_eq!(next_step("", false), Next::Stop(Held::Pending));
    }

    #[test]
    fn wait_stops_on_denied_or_expired_with_exit_4() {
        for (status, held) in [("denied", Held::Denied), ("expired", Held::Expired)] {
            for time_left in [true, false] {
                assert_eq!(next_step(status, time_left), Next::Stop(held));
            }
            let h = ApprovalHeld { held, approval_id: "x".into(), detail: String::new() };
            assert_eq!(h.exit(), 4);
        }
    }

    #[test]
    fn stop_details_say_who_and_how_far() {
        let limit = Duration::from_secs(60);
        let mut denied = approval("denied", &[]);
        denied.denial = Some(fixture(serde_json::json!({
            "approver": "security@company.com", "comment": "not during the freeze", "at": "t"
        })));
        assert_eq!(
            stop_detail(Held::Denied, Some(&denied), limit),
            "denied by security@company.com: not during the freeze"
        );
        assert_eq!(
            stop_detail(Held::Expired, Some(&approval("expired", &["you@company.com"])), limit),
            "timed out at 2026-11-29T10:00:00.000Z with 1 of 2 approvals"
        );
        assert_eq!(
            stop_detail(Held::Pending, Some(&approval("pending", &["you@company.com"])), limit),
            "still pending after 1m: 1 of 2 approvals (you@company.com)"
        );
        assert_eq!(stop_detail(Held::Pending, None, limit), "still pending after 1m");
    }

    #[test]
    fn held_json_names_the_request() {
        let h =
            ApprovalHeld { held: Held::Pending, approval_id: "id-1".into(), detail: "d".into() };
        assert_eq!(
            serde_json::to_string(&HeldJson::of(&h)).unwrap(),
            r#"{"approval_required":true,"approval_id":"id-1","status":"pending"}"#
        );
        let d = ApprovalHeld { held: Held::Denied, ..h };
        assert_eq!(HeldJson::of(&d).status, "denied");
    }

    #[test]
    fn version_zero_is_a_usage_error() {
        assert!(parse(&["secrets", "get", "a/b", "--version", "0"]).is_err());
    }

    #[test]
    fn silent_and_json_conflict() {
        assert!(parse(&["secrets", "get", "a/b", "--silent", "--json"]).is_err());
    }

    #[test]
    fn silent_is_the_bare_value() {
        assert_eq!(render_silent(&secret()), "AIza-xyz\n");
    }

    #[test]
    fn default_is_a_key_value_block() {
        assert_eq!(
            render(&secret()),
            "path        production/gemini/GEMINI_API_KEY\n\
             version     4\n\
             type        api_key\n\
             tier        sensitive\n\
             created_at  2026-11-28T10:00:00Z\n\
             value       AIza-xyz\n"
        );
    }
}
