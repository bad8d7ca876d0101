//! `ass audit`: the audit log of the whole cluster — a table, JSON lines for a SIEM, or
//! followed live with `--tail`.

use std::io::Write;
use std::time::Duration;

use ass_client::scope::AUDIT_READ;
use ass_client::{AuditCursor, AuditEvent, AuditFilter, AuditQueryResponse, AuditStreamItem};
use clap::Args;

use super::Ctx;
use crate::output;

const LONG_ABOUT: &str = "\
Show the audit log: one event per API request on any node, allowed or denied — who (agent,
token accessor, or root), what (action, path, secret version and tier), the result (ok or the
error code), when, on which node, from which address. Secret values, tokens and agent keys are
never in it; a presented credential appears only as an HMAC (see `ass audit hash`).

Without --tail: the newest --limit events of every node, oldest first. A node that does not
answer is named on stderr (its events are missing from the answer). With --json (the same as
--format json-lines): JSON lines, one event per line as one JSON object, not one JSON document
(read it with `jq -c .` or a SIEM's line reader). --format json-array prints one JSON array of
the events instead, for tools that want a single document (`jq '.[]'`).

With --tail: follow new events live until Ctrl-C. The stream resumes where it stood after a
dropped connection, moving to the next address in ASS_ADDR when a node goes away, with no gap
and no duplicate.

Filters: --since/--until take an RFC 3339 time or a duration ago (1h, 7d); --agent an agent
name or id; --path a secret path prefix (production/) or URL path prefix (/v1/tokens);
--result ok, error or an error code (scope_denied, unauthorized, …); --action an action
(secret.read) or family (secret).

Needs the audit:read scope. Check the log was not tampered with: `ass audit verify`.

Examples:
  ass audit --limit 100
  ass audit --json --limit 1000 > audit-$(date +%Y-%m-%d).jsonl
  ass audit --format json-array --since 24h | jq 'map(select(.result != \"ok\")) | length'
  ass audit --tail
  ass audit --since 24h --result error --agent payment-service";

/// Show, export or follow the audit log (`verify`, `hash` below)
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT, args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,

    /// Most events to show (the newest), 1 to 10000
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub limit: u64,

    /// Print JSON lines: one event per line, each its own JSON object (= --format json-lines)
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// Output form: table, json-lines (one JSON object per line), json-array (one document)
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<AuditFormat>,

    /// Follow new events live until Ctrl-C
    #[arg(long, conflicts_with_all = ["limit", "since", "until"])]
    pub tail: bool,

    /// Only events at or after this time (RFC 3339, or a duration ago: 1h, 7d)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Only events before this time (RFC 3339, or a duration ago)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// Only this agent (name or id)
    #[arg(long, value_name = "AGENT")]
    pub agent: Option<String>,

    /// Only paths starting with this (secret path or URL path)
    #[arg(long, value_name = "PREFIX")]
    pub path: Option<String>,

    /// Only this result: ok, error, or an error code
    #[arg(long, value_name = "RESULT")]
    pub result: Option<String>,

    /// Only this action (secret.read) or family (secret)
    #[arg(long, value_name = "ACTION")]
    pub action: Option<String>,
}

/// Output forms of `ass audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditFormat {
    /// Aligned columns for people
    Table,
    /// One JSON object per line (what --json prints)
    JsonLines,
    /// One JSON array holding every event (not with --tail)
    JsonArray,
}

/// `ass audit verify|hash`.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    Verify(super::audit_verify::VerifyArgs),
    Hash(super::audit_hash::HashArgs),
}

impl AuditArgs {
    /// The output form: --json is json-lines; the table by default.
    pub fn output(&self) -> AuditFormat {
        match (self.json, self.format) {
            (true, _) => AuditFormat::JsonLines,
            (false, Some(f)) => f,
            (false, None) => AuditFormat::Table,
        }
    }

    fn filter(&self) -> AuditFilter {
        AuditFilter {
            limit: Some(self.limit as usize),
            since: self.since.clone(),
            until: self.until.clone(),
            agent: self.agent.clone(),
            path: self.path.clone(),
            result: self.result.clone(),
            action: self.action.clone(),
        }
    }
}

/// Runs `ass audit` (and its subcommands).
pub async fn exec(ctx: &Ctx, args: &AuditArgs) -> anyhow::Result<()> {
    match &args.command {
        Some(AuditCommand::Verify(a)) => return super::audit_verify::exec(ctx, a).await,
        Some(AuditCommand::Hash(a)) => return super::audit_hash::exec(ctx, a).await,
        None => {}
    }
    if args.tail {
        if args.output() == AuditFormat::JsonArray {
            anyhow::bail!(
                "--tail follows events as they come: use --json (JSON lines), not json-array"
            );
        }
        return tail(ctx, args).await;
    }
    let resp = ctx.scoped(AUDIT_READ).audit_query(&args.filter()).await?;
    warn_partial(&resp);
    match args.output() {
        AuditFormat::JsonLines => output::print(&json_lines(&resp.events)?),
        AuditFormat::JsonArray => output::print_json(&resp.events),
        AuditFormat::Table => output::print(&render(&resp.events)),
    }
}

fn warn_partial(resp: &AuditQueryResponse) {
    for n in resp.nodes.iter().filter(|n| !n.ok) {
        eprintln!(
            "warning: node {} did not answer ({}): its events are missing",
            n.node,
            n.error.as_deref().unwrap_or("no reason given")
        );
    }
}

/// One JSON object per line.
pub fn json_lines(events: &[AuditEvent]) -> anyhow::Result<String> {
    let mut out = String::new();
    for e in events {
        out.push_str(&serde_json::to_string(e)?);
        out.push('\n');
    }
    Ok(out)
}

/// Who: the agent's name, else root / anonymous / the token's accessor.
pub fn actor(e: &AuditEvent) -> String {
    match (&e.agent, e.actor.as_str(), &e.accessor) {
        (Some(a), "agent_key", _) => format!("{a} (agent key)"),
        (Some(a), _, _) => a.clone(),
        (None, "token", Some(acc)) => format!("token {acc}"),
        (None, other, _) => other.to_owned(),
    }
}

/// `2026-11-28T10:00:00.123Z` from the nanosecond form.
fn short_time(t: &str) -> String {
    match (t.find('.'), t.strip_suffix('Z')) {
        (Some(dot), Some(_)) if t.len() > dot + 4 => format!("{}Z", &t[..dot + 4]),
        _ => t.to_owned(),
    }
}

fn row(e: &AuditEvent) -> Vec<String> {
    vec![
        short_time(&e.time),
        e.node.to_string(),
        actor(e),
        e.action.clone(),
        e.path.strip_prefix("/v1/secrets/").unwrap_or(&e.path).to_owned(),
        output::or_dash(e.version),
        output::or_dash(e.tier.as_deref()),
        e.result.clone(),
        e.client.clone(),
    ]
}

const HEADERS: [&str; 9] =
    ["TIME", "NODE", "ACTOR", "ACTION", "PATH", "VERSION", "TIER", "RESULT", "CLIENT"];

/// The events table, or a sentence when there are none.
pub fn render(events: &[AuditEvent]) -> String {
    if events.is_empty() {
        return "No audit events\n".to_owned();
    }
    let rows: Vec<Vec<String>> = events.iter().map(row).collect();
    output::table(&HEADERS, &rows)
}

/// Follows the stream, reconnecting with the cursor and moving through the addresses.
async fn tail(ctx: &Ctx, args: &AuditArgs) -> anyhow::Result<()> {
    let client = ctx.scoped(AUDIT_READ);
    let addrs = client.addresses().to_vec();
    let filter = AuditFilter { limit: None, ..args.filter() };
    let local = filter_checker(&filter);
    let mut cursor: Option<AuditCursor> = None;
    let mut at = 0usize;
    let mut failures = 0u32;
    let mut out = std::io::stdout().lock();
    loop {
        let addr = &addrs[at % addrs.len()];
        match client.audit_stream(addr, cursor.as_ref()).await {
            Ok(mut stream) => {
                if failures > 0 {
                    eprintln!("note: following the audit log through {addr}");
                }
                failures = 0;
                loop {
                    match stream.next().await {
                        Ok(Some(AuditStreamItem::Event(e, c))) => {
                            cursor = Some(c);
                            if !local(&e) {
                                continue;
                            }
                            let line = if args.output() == AuditFormat::JsonLines {
                                serde_json::to_string(&e)?
                            } else {
                                row(&e).join("  ")
                            };
                            writeln!(out, "{line}")?;
                            out.flush()?;
                        }
                        Ok(Some(AuditStreamItem::Cursor(c))) => cursor = Some(c),
                        Ok(Some(AuditStreamItem::Lagging { node, error })) => eprintln!(
                            "note: node {node} cannot be reached ({error}); its events follow when it answers"
                        ),
                        Ok(None) => {
                            eprintln!("note: {addr} closed the stream; reconnecting");
                            break;
                        }
                        Err(e) => {
                            eprintln!("note: {e}; reconnecting");
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                // A refusal every node would repeat (scope, credential, bad cursor): stop.
                if let ass_client::Error::Api { status, .. } = &e {
                    if matches!(status, 400 | 401 | 403) {
                        return Err(e.into());
                    }
                }
                failures += 1;
                eprintln!("note: cannot follow through {addr}: {e}");
            }
        }
        at += 1;
        let pause = if failures as usize >= addrs.len() { 1000 } else { 100 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// The stream carries every event: the filters are applied here.
fn filter_checker(f: &AuditFilter) -> impl Fn(&AuditEvent) -> bool {
    let f = f.clone();
    move |e: &AuditEvent| {
        let agent_ok = f
            .agent
            .as_ref()
            .is_none_or(|a| e.agent.as_ref() == Some(a) || e.agent_id.as_ref() == Some(a));
        let path_ok = f.path.as_ref().is_none_or(|p| {
            let p = p.trim_end_matches('*');
            e.path.starts_with(p)
                || e.path.strip_prefix("/v1/secrets/").is_some_and(|s| s.starts_with(p))
        });
        let result_ok = f.result.as_ref().is_none_or(|r| match r.as_str() {
            "error" | "denied" => e.result != "ok",
            other => e.result == other,
        });
        let action_ok = f.action.as_ref().is_none_or(|a| {
            if let Some(prefix) = a.strip_suffix('*') {
                e.action.starts_with(prefix)
            } else if !a.contains('.') {
                e.action == *a
                    || e.action.strip_prefix(a.as_str()).is_some_and(|r| r.starts_with('.'))
            } else {
                e.action == *a
            }
        });
        agent_ok && path_ok && result_ok && action_ok
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::commands::tests::parse;
    use crate::commands::Command;

    fn args(argv: &[&str]) -> AuditArgs {
        match parse(argv).unwrap().command {
            Command::Audit(a) => a,
            other => panic!("{other:?}"),
        }
    }

    pub fn event(seq: u64) -> AuditEvent {
        AuditEvent {
            v: 1,
            seq,
            time: "2026-11-28T10:00:00.123456789Z".into(),
            node: 2,
            request_id: "r".into(),
            actor: "token".into(),
            agent: Some("payment-service".into()),
            agent_id: Some("a1".into()),
            accessor: Some("acc".into()),
            credential_hmac: None,
            action: "secret.read".into(),
            method: "GET".into(),
            path: "/v1/secrets/production/stripe/KEY".into(),
            version: Some(3),
            tier: Some("critical".into()),
            result: "ok".into(),
            status: 200,
            client: "10.0.0.7".into(),
            approval_id: None,
            prev_hash: "p".into(),
            hash: "h".into(),
        }
    }

    #[test]
    fn the_hardening_guide_forms_parse() {
        let a = args(&["audit", "--limit", "100"]);
        assert_eq!((a.limit, a.json, a.tail), (100, false, false));
        let a = args(&["audit", "--json", "--limit", "1000"]);
        assert_eq!((a.limit, a.json), (1000, true));
        assert_eq!(a.output(), AuditFormat::JsonLines);
        assert_eq!(args(&["audit"]).output(), AuditFormat::Table);
        let a = args(&["audit", "--format", "json-array"]);
        assert_eq!(a.output(), AuditFormat::JsonArray);
        assert!(parse(&["audit", "--json", "--format", "json-array"]).is_err());
        assert!(args(&["audit", "--tail"]).tail);
        assert_eq!(args(&["audit"]).limit, 100);
        assert!(parse(&["audit", "--limit", "0"]).is_err());
        assert!(parse(&["audit", "--tail", "--limit", "5"]).is_err());
        let a = args(&["audit", "--since", "1h", "--result", "error", "--agent", "x"]);
        assert_eq!(a.filter().since.as_deref(), Some("1h"));
        assert!(matches!(args(&["audit", "verify"]).command, Some(AuditCommand::Verify(_))));
        assert!(matches!(args(&["audit", "hash", "v"]).command, Some(AuditCommand::Hash(_))));
    }

    #[test]
    fn table_shows_who_did_what() {
        let mut root = event(4);
        root.actor = "root".into();
        root.agent = None;
        root.accessor = None;
        root.action = "sys.seal".into();
        root.path = "/v1/sys/seal".into();
        root.version = None;
        root.tier = None;
        root.result = "scope_denied".into();
        assert_eq!(
            render(&[event(3), root]),
            "TIME                      NODE  ACTOR            ACTION       PATH                   VERSION  TIER      RESULT        CLIENT\n\
             2026-11-28T10:00:00.123Z  2     payment-service  secret.read  production/stripe/KEY  3        critical  ok            10.0.0.7\n\
             2026-11-28T10:00:00.123Z  2     root             sys.seal     /v1/sys/seal           -        -         scope_denied  10.0.0.7\n"
        );
        assert_eq!(render(&[]), "No audit events\n");
    }

    #[test]
    fn json_lines_are_one_event_each() {
        let text = json_lines(&[event(1), event(2)]).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let back: AuditEvent = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(back, event(2));
    }

    #[test]
    fn tail_filters_locally() {
        let f = |pairs: AuditFilter| filter_checker(&pairs)(&event(1));
        assert!(f(AuditFilter { agent: Some("payment-service".into()), ..Default::default() }));
        assert!(!f(AuditFilter { agent: Some("other".into()), ..Default::default() }));
        assert!(f(AuditFilter { path: Some("production/".into()), ..Default::default() }));
        assert!(!f(AuditFilter { result: Some("error".into()), ..Default::default() }));
        assert!(f(AuditFilter { action: Some("secret".into()), ..Default::default() }));
        assert!(!f(AuditFilter { action: Some("secre".into()), ..Default::default() }));
    }
}
