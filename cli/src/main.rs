//! `ass`: the command-line interface of Agent Secret Store, for operators (init, unseal,
//! seal, status), agents and CI jobs (secrets). A thin layer over `ass-client`: it parses
//! arguments, calls the client, prints, and maps errors to exit codes:
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | usage or local error (bad flag, unreadable file, bad address) |
//! | 2 | server error: the cluster refused, answered nonsense, or could not be reached |
//! | 3 | approval required: the secret's tier needs approvals; a request is pending (its id on stderr) |
//! | 4 | approval denied, or the request expired while `secrets get --wait` waited |
//!
//! Errors print as `error: <message> (<code>)` on stderr; with `--json` anywhere before `--`
//! they are one JSON document on stderr instead, `{"error": {"code", "message",
//! "request_id"}}` (plus `approval_id` for a held read, `hint` where one helps), for every
//! command and every error, usage and local ones included (see [`error_code`] for their
//! codes). The token is never printed. A read
//! held by an approval prints `approval required: request <id> (…); ask an approver: …` (or
//! `approval denied: …`, `approval expired: …`) and then the request id alone on its own
//! line, all on stderr, so `--silent` output stays the value or nothing. Codes 3 and 4 come
//! only from reads (`secrets get`); an approver's refused decision (`already_decided`,
//! `approval_expired`, …) is a server error, 2.

mod commands;
mod output;

use std::process::ExitCode;

use ass_client::ErrorCode;
use clap::Parser;

use commands::Cli;

/// A failure already shown to the user piece by piece (per node); only a summary and the
/// exit code are left.
#[derive(Debug)]
pub struct Failed {
    /// Process exit code.
    pub exit: u8,
    /// Stable machine code for `--json` errors (`nodes_failed`, `secrets_unreadable`, …).
    pub code: &'static str,
    /// One-line summary for stderr.
    pub message: String,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failed {}

/// Exit code of a read that needs an approval it doesn't hold: a request is pending.
pub const EXIT_APPROVAL_PENDING: u8 = 3;
/// Exit code of a read whose approval request was denied, or expired while waited for.
pub const EXIT_APPROVAL_DENIED: u8 = 4;

/// Where the approval request holding a read back stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Pending: approvers haven't decided (yet). Also a read answered `approval_expired`,
    /// which opened a new pending request in place of the timed-out one.
    Pending,
    /// Denied by an approver.
    Denied,
    /// Timed out before enough approvals, while `--wait` waited.
    Expired,
}

impl Held {
    /// `pending`, `denied` or `expired`, as in the approval's status.
    pub fn as_str(self) -> &'static str {
        match self {
            Held::Pending => "pending",
            Held::Denied => "denied",
            Held::Expired => "expired",
        }
    }
}

/// A secret read held back by its approval request: exit 3 while it is pending, 4 when it
/// was denied or expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalHeld {
    pub held: Held,
    pub approval_id: String,
    /// What the server (or the wait) said, shown in parentheses.
    pub detail: String,
}

impl ApprovalHeld {
    /// The read refusal `e` as a held read: `approval_required` and `approval_expired` (with
    /// the new request's id) are pending, `approval_denied` is denied. `None` for any other
    /// error, decisions' refusals included (they carry no approval id).
    pub fn from_error(e: &ass_client::Error) -> Option<Self> {
        let id = e.approval_id()?.to_owned();
        let held = if e.is_approval_required() {
            Held::Pending
        } else if e.error_code() == Some(ErrorCode::ApprovalDenied) {
            Held::Denied
        } else {
            return None;
        };
        Some(ApprovalHeld { held, approval_id: id, detail: e.to_string() })
    }

    /// 3 pending, 4 denied or expired.
    pub fn exit(&self) -> u8 {
        match self.held {
            Held::Pending => EXIT_APPROVAL_PENDING,
            Held::Denied | Held::Expired => EXIT_APPROVAL_DENIED,
        }
    }

    /// `pending`, `denied` or `expired`, as in the approval's status.
    pub fn status(&self) -> &'static str {
        self.held.as_str()
    }

    /// The stderr text: one sentence saying what to do, then the id alone on its own line
    /// (for scripts: `2>&1 >/dev/null | tail -n1`).
    pub fn text(&self) -> String {
        let id = &self.approval_id;
        let what = match self.held {
            Held::Pending => format!(
                "approval required: request {id} ({}); ask an approver: ass approvals approve {id}",
                self.detail
            ),
            Held::Denied => format!(
                "approval denied: request {id} ({}); see who and why: ass approvals show {id}; \
                 reading again opens a new request once this one times out",
                self.detail
            ),
            Held::Expired => format!(
                "approval expired: request {id} ({}); read again to open a new request",
                self.detail
            ),
        };
        format!("{what}\n{id}")
    }
}

impl std::fmt::Display for ApprovalHeld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text())
    }
}

impl std::error::Error for ApprovalHeld {}

/// The read refusal held back by an approval that `err` is, if it is one.
pub fn approval_held(err: &anyhow::Error) -> Option<ApprovalHeld> {
    if let Some(h) = err.downcast_ref::<ApprovalHeld>() {
        return Some(h.clone());
    }
    err.downcast_ref::<ass_client::Error>().and_then(ApprovalHeld::from_error)
}

/// Exit code for an error: 3 or 4 for a read held back by an approval (see
/// [`ApprovalHeld::exit`]), 2 when the server refused, answered nonsense or was unreachable,
/// 1 for everything local.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if let Some(f) = err.downcast_ref::<Failed>() {
        return f.exit;
    }
    if let Some(h) = approval_held(err) {
        return h.exit();
    }
    match err.downcast_ref::<ass_client::Error>() {
        Some(
            ass_client::Error::Api { .. }
            | ass_client::Error::Transport(_)
            | ass_client::Error::Decode(_),
        ) => 2,
        Some(ass_client::Error::Config(_)) | None => 1,
    }
}

/// The stderr text for an error: `error: <message> (<code>)`, plus a hint where one helps.
/// `credential_given`: a token or an agent key was given.
pub fn error_text(err: &anyhow::Error, credential_given: bool) -> String {
    if let Some(h) = approval_held(err) {
        return h.text();
    }
    match err.downcast_ref::<ass_client::Error>() {
        Some(e) => {
            let mut s = format!("error: {e} ({})", e.code());
            match e.error_code() {
                Some(ErrorCode::Unauthorized) if !credential_given => s.push_str(
                    "\nhint: no token given; set ASS_TOKEN or pass --token (in CI: ASS_AGENT_KEY)",
                ),
                Some(ErrorCode::Replayed) => s.push_str(REPLAYED_HINT),
                Some(ErrorCode::NotAToken) => s.push_str(
                    "\nhint: the root token is not a token (asst_…); describe a token with \
                     `ass tokens lookup ACCESSOR`",
                ),
                Some(ErrorCode::AgentKeyNotAllowed) => s.push_str(
                    "\nhint: an agent key only buys tokens; unset ASS_TOKEN and set ASS_AGENT_KEY \
                     to let the CLI buy one, or use `ass tokens issue`",
                ),
                _ => {}
            }
            s
        }
        None => format!("error: {err:#}"),
    }
}

/// What a `replayed` answer means for the user.
const REPLAYED_HINT: &str = "\nhint: an earlier attempt of this call reached the cluster and \
    was applied, but its answer was lost on the way back; the key or token it made is kept only \
    as a hash and can't be shown again. Check with `ass agents show NAME` / `ass tokens list`, \
    then run the command again (for an agent: `ass agents rotate-key NAME`).";

/// Stable machine code of an error: the server's for a server error (`scope_denied`, …),
/// `approval_required` / `approval_denied` / `approval_expired` for a held read, the
/// client's local kinds (`transport`, `decode`, `config`), a [`Failed`]'s own code, `io`
/// when a file or the terminal failed, and `invalid_input` for any other local refusal. Usage
/// errors (bad flags) are `usage`, decided before a command runs.
pub fn error_code(err: &anyhow::Error) -> String {
    if let Some(f) = err.downcast_ref::<Failed>() {
        return f.code.to_owned();
    }
    if let Some(h) = approval_held(err) {
        return format!(
            "approval_{}",
            if h.held == Held::Pending { "required" } else { h.status() }
        );
    }
    if let Some(e) = err.downcast_ref::<ass_client::Error>() {
        return e.code().to_owned();
    }
    if err.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some()) {
        return "io".to_owned();
    }
    "invalid_input".to_owned()
}

/// The `--json` form of an error: `{"error": {"code", "message", "request_id"}}`, with
/// `approval_id` for a held read and `hint` when the text form has one.
pub fn error_json(err: &anyhow::Error, credential_given: bool) -> serde_json::Value {
    let text = error_text(err, credential_given);
    let (head, hint) = match text.split_once("\nhint: ") {
        Some((h, hint)) => (h.to_owned(), Some(hint.to_owned())),
        None => (text.clone(), None),
    };
    let client = err.downcast_ref::<ass_client::Error>();
    let message = match (client, approval_held(err)) {
        (_, Some(h)) => h.text().lines().next().unwrap_or_default().to_owned(),
        (Some(e), None) => e.to_string(),
        (None, None) => head.strip_prefix("error: ").unwrap_or(&head).to_owned(),
    };
    let mut body = serde_json::json!({
        "code": error_code(err),
        "message": message,
        "request_id": client.and_then(ass_client::Error::request_id),
    });
    if let Some(h) = approval_held(err) {
        body["approval_id"] = h.approval_id.into();
    }
    if let Some(hint) = hint {
        body["hint"] = hint.into();
    }
    serde_json::json!({ "error": body })
}

/// Whether the command line asks for JSON (`--json`, or `--format json-array`, before any
/// `--`): errors are then JSON too. Read from the raw arguments, so usage errors that stop
/// parsing are JSON as well.
pub fn wants_json<I, S>(args: I) -> bool
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut prev_format = false;
    for a in args {
        let a = a.as_ref().to_string_lossy();
        if a == "--" {
            return false;
        }
        if a == "--json" || a == "--format=json-array" || (prev_format && a == "json-array") {
            return true;
        }
        prev_format = a == "--format";
    }
    false
}

/// Prints the error on stderr, as text or (`json`) as one JSON document.
fn report(err: &anyhow::Error, credential_given: bool, json: bool) {
    if json {
        eprintln!("{}", error_json(err, credential_given));
    } else {
        eprintln!("{}", error_text(err, credential_given));
    }
}

/// Whether the error is stdout closing under us (`ass … | head`): not worth a message.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    let json = wants_json(std::env::args_os().skip(1));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if json && e.use_stderr() => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            let message = first.strip_prefix("error: ").unwrap_or(first);
            let body = serde_json::json!({"error": {
                "code": "usage", "message": message, "request_id": null,
            }});
            eprintln!("{body}");
            return ExitCode::from(1);
        }
        Err(e) => {
            let _ = e.print();
            // Help and version are successes; every other parse failure is a usage error.
            return if e.use_stderr() { ExitCode::from(1) } else { ExitCode::SUCCESS };
        }
    };
    let credential_given = cli.global.has_credential();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let e = anyhow::Error::new(e).context("cannot start the async runtime");
            report(&e, credential_given, json);
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e, credential_given, json);
            ExitCode::from(exit_code(&e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ass_client::Error;

    fn api(code: &str) -> anyhow::Error {
        api_with(403, code, None).into()
    }

    fn api_with(status: u16, code: &str, approval_id: Option<&str>) -> Error {
        Error::Api {
            status,
            code: code.into(),
            message: "nope".into(),
            leader: None,
            approval_id: approval_id.map(str::to_owned),
            request_id: None,
        }
    }

    const ID: &str = "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f";

    #[test]
    fn approval_required_exits_3_and_denied_exits_4() {
        let required = anyhow::Error::from(api_with(403, "approval_required", Some(ID)));
        assert_eq!(exit_code(&required), EXIT_APPROVAL_PENDING);
        let expired = anyhow::Error::from(api_with(403, "approval_expired", Some(ID)));
        assert_eq!(exit_code(&expired), 3, "a read answered expired opened a new request");
        let denied = anyhow::Error::from(api_with(403, "approval_denied", Some(ID)));
        assert_eq!(exit_code(&denied), EXIT_APPROVAL_DENIED);
        assert_eq!((EXIT_APPROVAL_PENDING, EXIT_APPROVAL_DENIED), (3, 4));
    }

    #[test]
    fn decision_refusals_are_server_errors() {
        for code in ["approval_expired", "approval_closed", "already_decided", "self_approval"] {
            let e = anyhow::Error::from(api_with(409, code, None));
            assert_eq!(exit_code(&e), 2, "{code}");
            assert_eq!(error_text(&e, true), format!("error: nope ({code})"));
        }
        let odd = anyhow::Error::from(api_with(403, "scope_denied", Some(ID)));
        assert_eq!(exit_code(&odd), 2, "only approval codes hold a read");
    }

    #[test]
    fn held_reads_from_the_wait_keep_their_exit() {
        let held = |held| ApprovalHeld { held, approval_id: ID.into(), detail: "d".into() };
        let code = |h: ApprovalHeld| exit_code(&anyhow::Error::from(h));
        assert_eq!(code(held(Held::Pending)), 3);
        assert_eq!(code(held(Held::Denied)), 4);
        assert_eq!(code(held(Held::Expired)), 4);
        assert_eq!(held(Held::Expired).status(), "expired");
    }

    #[test]
    fn approval_required_says_what_to_do_and_ends_with_the_id() {
        let e = anyhow::Error::from(api_with(403, "approval_required", Some(ID)));
        let t = error_text(&e, true);
        assert_eq!(
            t,
            format!(
                "approval required: request {ID} (nope); ask an approver: ass approvals approve \
                 {ID}\n{ID}"
            )
        );
        let d = error_text(&anyhow::Error::from(api_with(403, "approval_denied", Some(ID))), true);
        assert!(d.starts_with(&format!("approval denied: request {ID} (nope); ")), "{d}");
        assert!(d.ends_with(&format!("\n{ID}")), "{d}");
    }

    #[test]
    fn server_errors_exit_2() {
        assert_eq!(exit_code(&api("not_found")), 2);
        assert_eq!(exit_code(&Error::Transport("refused".into()).into()), 2);
        assert_eq!(exit_code(&Error::Decode("junk".into()).into()), 2);
    }

    #[test]
    fn local_errors_exit_1() {
        assert_eq!(exit_code(&Error::Config("bad addr".into()).into()), 1);
        assert_eq!(exit_code(&anyhow::anyhow!("cannot read file")), 1);
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        assert_eq!(exit_code(&anyhow::Error::new(io).context("reading")), 1);
    }

    #[test]
    fn reported_failures_keep_their_code() {
        let e: anyhow::Error =
            Failed { exit: 2, code: "nodes_failed", message: "1 of 3 nodes failed".into() }.into();
        assert_eq!(exit_code(&e), 2);
        assert_eq!(error_text(&e, true), "error: 1 of 3 nodes failed");
    }

    #[test]
    fn client_errors_print_message_and_code() {
        assert_eq!(error_text(&api("cas_mismatch"), true), "error: nope (cas_mismatch)");
        assert_eq!(
            error_text(&Error::Transport("no node answered".into()).into(), true),
            "error: no node answered (transport)"
        );
    }

    #[test]
    fn unauthorized_without_token_hints_at_ass_token() {
        let t = error_text(&api("unauthorized"), false);
        assert!(t.starts_with("error: nope (unauthorized)\nhint:"), "{t}");
        assert!(!error_text(&api("unauthorized"), true).contains("hint"));
    }

    #[test]
    fn replayed_says_the_credential_is_lost() {
        let t = error_text(&api("replayed"), true);
        assert!(t.starts_with("error: nope (replayed)\nhint: an earlier attempt"), "{t}");
        assert!(t.contains("can't be shown again"), "{t}");
        assert_eq!(exit_code(&api("replayed")), 2);
    }

    #[test]
    fn global_args_debug_hides_token_and_agent_key() {
        let cli = Cli::try_parse_from([
            "ass",
            "--token",
            "asst_SECRET1",
            "--agent-key",
            "ass_SECRET2",
            "secrets",
            "list",
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        assert!(!shown.contains("SECRET1") && !shown.contains("SECRET2"), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");
    }

    #[test]
    fn a_token_wins_over_an_agent_key() {
        let both =
            Cli::try_parse_from(["ass", "--token", "t", "--agent-key", "ass_k", "secrets", "list"])
                .unwrap();
        assert_eq!((both.global.token(), both.global.agent_key()), (Some("t"), None));
        let key =
            Cli::try_parse_from(["ass", "--agent-key", "ass_k", "--token", "", "secrets", "list"])
                .unwrap();
        assert_eq!((key.global.token(), key.global.agent_key()), (None, Some("ass_k")));
        assert!(key.global.has_credential());
    }

    #[test]
    fn local_errors_print_their_context_chain() {
        let e = anyhow::anyhow!("gone").context("cannot read key file k");
        assert_eq!(error_text(&e, true), "error: cannot read key file k: gone");
    }

    #[test]
    fn json_is_asked_for_before_the_double_dash() {
        assert!(wants_json(["secrets", "get", "a/b", "--json"]));
        assert!(wants_json(["audit", "--format", "json-array"]));
        assert!(wants_json(["audit", "--format=json-array"]));
        assert!(!wants_json(["audit", "--format", "table"]));
        assert!(!wants_json(["run", "--env", "A=a/b", "--", "jq", "--json"]));
        assert!(!wants_json(["secrets", "get", "a/b"]));
    }

    #[test]
    fn json_errors_have_code_message_and_request_id() {
        let mut e = api_with(403, "scope_denied", None);
        if let Error::Api { request_id, .. } = &mut e {
            *request_id = Some("req-1".into());
        }
        let j = error_json(&e.into(), true);
        assert_eq!(
            j,
            serde_json::json!({"error": {"code": "scope_denied", "message": "nope",
                "request_id": "req-1"}})
        );
        let held = error_json(&api_with(403, "approval_required", Some(ID)).into(), true);
        assert_eq!(held["error"]["code"], "approval_required");
        assert_eq!(held["error"]["approval_id"], ID);
        let hinted = error_json(&api("unauthorized"), false);
        assert!(hinted["error"]["hint"].as_str().unwrap().contains("ASS_TOKEN"), "{hinted}");
    }

    #[test]
    fn local_errors_have_stable_codes() {
        let code = |e: anyhow::Error| error_code(&e);
        assert_eq!(code(anyhow::anyhow!("bad spec")), "invalid_input");
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        assert_eq!(code(anyhow::Error::new(io).context("cannot read key file k")), "io");
        assert_eq!(code(Error::Config("bad addr".into()).into()), "config");
        let f = Failed { exit: 3, code: "secrets_unreadable", message: "m".into() };
        assert_eq!(code(f.into()), "secrets_unreadable");
        let held = ApprovalHeld { held: Held::Denied, approval_id: ID.into(), detail: "d".into() };
        assert_eq!(code(held.into()), "approval_denied");
        let j = error_json(&anyhow::anyhow!("gone").context("cannot read CA file x"), true);
        assert_eq!(j["error"]["message"], "cannot read CA file x: gone");
        assert_eq!(j["error"]["request_id"], serde_json::Value::Null);
    }

    #[test]
    fn broken_pipe_is_recognised() {
        let e = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(is_broken_pipe(&e));
        assert!(!is_broken_pipe(&anyhow::anyhow!("x")));
    }

    #[test]
    fn usage_errors_are_not_help() {
        let e = Cli::try_parse_from(["ass", "secrets", "get"]).unwrap_err();
        assert!(e.use_stderr(), "missing PATH is a usage error (exit 1)");
        let h = Cli::try_parse_from(["ass", "--help"]).unwrap_err();
        assert!(!h.use_stderr(), "--help exits 0");
    }
}
