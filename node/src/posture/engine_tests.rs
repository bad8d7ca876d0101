//! Unit tests of the posture rules, on records built in memory.

use super::*;

const NOW: u64 = 1_000 * DAY_MS;

fn token(acc: &str, scopes: &[&str], ttl_h: u64) -> TokenFact {
    TokenFact {
        accessor: acc.into(),
        agent: None,
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        ip_allowlist: vec!["10.0.0.0/8".into()],
        agent_allowlist: vec![],
        issued_ms: NOW - HOUR_MS,
        expires_ms: NOW - HOUR_MS + ttl_h * HOUR_MS,
        break_glass: false,
        justification: None,
    }
}

fn agent(name: &str, scopes: &[&str]) -> AgentFact {
    AgentFact {
        name: name.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        ip_allowlist: vec!["10.0.0.0/8".into()],
        created_ms: NOW - DAY_MS,
        key_rotated_ms: None,
    }
}

fn secret(path: &str, tier: &str, age_days: u64) -> SecretFact {
    SecretFact {
        path: path.into(),
        tier: tier.into(),
        latest_version: 1,
        updated_ms: NOW - age_days * DAY_MS,
        latest_deleted: false,
    }
}

fn member(id: u64) -> MemberFact {
    MemberFact {
        id,
        voter: true,
        sealed: Some(false),
        tls: Some(true),
        cert_not_after_s: Some(((NOW + 365 * DAY_MS) / 1000) as i64),
    }
}

/// A cluster that passes every check.
fn healthy() -> Facts {
    Facts {
        tokens: vec![token("t1", &["secrets:read:production/gemini/*"], 1)],
        agents: vec![
            agent("gemini-svc", &["secrets:read:production/gemini/*"]),
            agent("you@example.com", &["approvals:decide"]),
        ],
        secrets: vec![secret("production/gemini/KEY", "critical", 10)],
        policy: PolicyFact {
            sensitive_required: 1,
            critical_required: 1,
            approvers: vec!["you@example.com".into()],
        },
        audit: AuditFacts {
            enabled: true,
            since_ms: NOW - 7 * DAY_MS,
            readers: 1,
            chain_ok: Some(true),
            last_backup_ms: Some(NOW - HOUR_MS),
            ..Default::default()
        },
        members: vec![member(1), member(2), member(3)],
        limits: Limits::at(NOW),
    }
}

fn ids(f: &Facts) -> Vec<String> {
    findings(f).into_iter().map(|x| x.id).collect()
}

#[test]
fn a_healthy_cluster_passes_every_check() {
    let r = report(&healthy(), &BTreeMap::new(), vec![]);
    assert_eq!(r.findings, vec![], "{:#?}", r.findings);
    assert_eq!(r.grade, Severity::Pass);
    assert_eq!(r.checks.len(), 10);
    assert!(r.checks.iter().all(|c| c.grade == Severity::Pass));
}

#[test]
fn check_1_flags_all_path_scopes_and_unused_ones() {
    let mut f = healthy();
    f.tokens.push(token("t2", &["secrets:read:*"], 1));
    f.agents.push(agent("ops", &["secrets:*:*"]));
    assert_eq!(
        check_1(&f).iter().map(|x| (x.id.as_str(), x.severity)).collect::<Vec<_>>(),
        [
            ("scope.all_paths:agent:ops", Severity::Fail),
            ("scope.all_paths:token:t2", Severity::Fail)
        ]
    );
    // An agent older than the window that used one of its two scopes.
    let mut f = healthy();
    let mut a = agent("old", &["secrets:read:staging/a/*", "secrets:write:staging/a/*"]);
    a.created_ms = NOW - 30 * DAY_MS;
    f.agents.push(a);
    let mut u = AgentUse::default();
    u.secrets.insert((Action::Read, "staging/a/K".into()), 3);
    f.audit.uses.insert("old".into(), u);
    let got = check_1(&f);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].id, "scope.unused:agent:old:secrets:write:staging/a/*");
    assert_eq!(got[0].severity, Severity::Warn);
    assert_eq!(got[0].fix, "ass agents rightsize old --since 30d");
    // A partial audit answer can't prove it unused.
    f.audit.partial = true;
    assert!(check_1(&f).is_empty());
    f.audit.partial = false;
    // Created inside the window: not judged yet.
    f.agents.last_mut().unwrap().created_ms = NOW - HOUR_MS;
    assert!(check_1(&f).is_empty());
}

#[test]
fn check_2_grades_ttls_by_24h_and_8h_with_break_glass() {
    let mut f = healthy();
    f.tokens =
        vec![token("long", &["secrets:read:a/b/*"], 48), token("mid", &["secrets:read:a/b/*"], 12)];
    let mut bg = token("bg", &["secrets:read:a/b/*"], 48);
    bg.break_glass = true;
    bg.justification = Some("INC-42".into());
    f.tokens.push(bg);
    let mut bg_empty = token("bg2", &["secrets:read:a/b/*"], 48);
    bg_empty.break_glass = true;
    bg_empty.justification = Some(String::new());
    f.tokens.push(bg_empty);
    f.tokens.push(token("exact8", &["secrets:read:a/b/*"], 8));
    let got: Vec<_> = check_2(&f).into_iter().map(|x| (x.id, x.severity)).collect();
    assert_eq!(
        got,
        [
            ("ttl.over_24h:long".to_string(), Severity::Fail),
            ("ttl.over_8h:mid".to_string(), Severity::Warn),
            ("ttl.over_8h:bg".to_string(), Severity::Warn),
            ("ttl.over_24h:bg2".to_string(), Severity::Fail),
        ]
    );
    assert!(check_2(&f)[0].fix.starts_with("ass tokens revoke long"));
}

#[test]
fn check_3_needs_approvals_and_a_live_approver() {
    let mut f = healthy();
    f.policy.critical_required = 0;
    assert_eq!(ids(&f), ["approvals.none:critical"]);
    assert_eq!(check_3(&f)[0].severity, Severity::Fail, "a critical secret exists");
    // No sensitive secret: the same gap is a warning.
    f.policy.critical_required = 1;
    f.policy.sensitive_required = 0;
    assert_eq!(check_3(&f)[0].id, "approvals.none:sensitive");
    assert_eq!(check_3(&f)[0].severity, Severity::Warn);
    // The approver is no live agent (removed, or named in another case is fine).
    let mut f = healthy();
    f.agents.retain(|a| a.name != "you@example.com");
    let got = check_3(&f);
    assert_eq!(
        got.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
        ["approvals.no_approver:sensitive", "approvals.no_approver:critical"]
    );
    assert_eq!((got[0].severity, got[1].severity), (Severity::Warn, Severity::Fail));
    assert!(got[1].message.contains("only 0 exist"), "{}", got[1].message);
    let mut f = healthy();
    f.policy.approvers = vec!["You@Example.com".into()];
    assert!(check_3(&f).is_empty(), "approver names compare case-insensitively");
}

#[test]
fn check_4_wants_an_allowlist_where_production_is_reached() {
    let mut f = healthy();
    f.tokens[0].ip_allowlist.clear();
    assert_eq!(ids(&f), ["allowlist.missing:token:t1"]);
    f.tokens[0].agent_allowlist = vec!["10.1.0.0/16".into()];
    assert!(check_4(&f).is_empty(), "the agent's list restricts the token");
    let mut f = healthy();
    f.agents[0].ip_allowlist.clear();
    f.agents.push(AgentFact {
        ip_allowlist: vec![],
        ..agent("staging-svc", &["secrets:read:staging/x/*"])
    });
    assert_eq!(ids(&f), ["allowlist.missing:agent:gemini-svc"]);
    assert!(is_production("prod-eu") && is_production("production") && !is_production("products"));
}

#[test]
fn check_5_audit_off_broken_or_unread() {
    let mut f = healthy();
    f.audit.readers = 0;
    assert_eq!(ids(&f), ["audit.no_reader"]);
    f.audit.partial = true;
    assert!(ids(&f).is_empty(), "the reader may be on a member that did not answer");
    f.audit.partial = false;
    f.audit.chain_ok = Some(false);
    assert_eq!(ids(&f), ["audit.chain_broken", "audit.no_reader"]);
    let mut f = healthy();
    f.audit.enabled = false;
    assert_eq!(ids(&f), ["audit.disabled"]);
}

#[test]
fn check_6_and_stale_list_use_the_latest_version_time() {
    let mut f = healthy();
    f.secrets.push(secret("staging/a/OLD", "standard", 100));
    f.secrets.push(secret("staging/a/OLDER", "standard", 200));
    let mut gone = secret("staging/a/GONE", "standard", 300);
    gone.latest_deleted = true;
    f.secrets.push(gone);
    assert_eq!(ids(&f), ["rotation.stale:staging/a/OLDER", "rotation.stale:staging/a/OLD"]);
    let s = stale_secrets(&f.secrets, NOW, 150 * DAY_MS);
    assert_eq!(s.len(), 1);
    assert_eq!(
        (s[0].path.as_str(), s[0].namespace.as_str(), s[0].age_days),
        ("staging/a/OLDER", "staging", 200)
    );
    assert_eq!(stale_secrets(&f.secrets, NOW, 0).len(), 3, "0s: every live secret");
    f.limits.rotation_ms = 365 * DAY_MS;
    assert!(check_6(&f).is_empty());
}

#[test]
fn check_7_one_agent_per_service() {
    let mut f = healthy();
    f.agents.push(agent(
        "shared",
        &["secrets:read:production/gemini/*", "secrets:read:production/stripe/KEY"],
    ));
    f.agents.push(agent("wide", &["secrets:read:staging/*"]));
    f.agents.push(agent("two-ns", &["secrets:read:staging/a/*", "secrets:read:dev/a/*"]));
    let got: Vec<_> = check_7(&f).into_iter().map(|x| (x.id, x.severity)).collect();
    assert_eq!(
        got,
        [
            ("agent.multi_service:shared".to_string(), Severity::Fail),
            ("agent.namespace_wide:wide".to_string(), Severity::Warn),
            ("agent.multi_namespace:two-ns".to_string(), Severity::Warn),
        ]
    );
    // From the audit log: two addresses, or paths of a second service.
    let mut f = healthy();
    let mut u = AgentUse::default();
    u.clients.extend(["10.0.0.1".to_string(), "10.0.0.2".to_string()]);
    u.secrets.insert((Action::Read, "production/other/K".into()), 1);
    f.audit.uses.insert("gemini-svc".into(), u);
    assert_eq!(ids(&f), ["agent.multi_service:gemini-svc", "agent.shared_clients:gemini-svc"]);
}

#[test]
fn check_8_production_and_the_rest_apart() {
    let mut f = healthy();
    f.agents.push(agent("both", &["secrets:read:production/a/*", "secrets:read:staging/a/*"]));
    let got = check_8(&f);
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].id.as_str(), got[0].severity),
        ("namespace.cross_prod:both", Severity::Fail)
    );
    assert!(got[0].message.contains("production (production) and non-production (staging)"));
    // `*` is check 1's, not 8's.
    let mut f = healthy();
    f.agents.push(agent("all", &["secrets:read:*"]));
    assert!(check_8(&f).is_empty());
}

#[test]
fn check_9_root_reads_and_old_keys() {
    let mut f = healthy();
    f.audit.root_reads = 3;
    f.agents[0].created_ms = NOW - 100 * DAY_MS;
    f.agents[1].created_ms = NOW - 100 * DAY_MS;
    f.agents[1].key_rotated_ms = Some(NOW - 10 * DAY_MS);
    let got = check_9(&f);
    assert_eq!(
        got.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
        ["root.routine_reads", "agent.key_age:gemini-svc"]
    );
    assert!(got[0].message.contains("3 routine"));
    assert_eq!(got[1].fix, "ass agents rotate-key gemini-svc");
    assert!(got[1].message.contains("never rotated") && got[1].message.contains("100 days"));
}

#[test]
fn deployment_checks() {
    let mut f = healthy();
    f.members[0].tls = Some(false);
    f.members[0].cert_not_after_s = None;
    f.members[1].sealed = Some(true);
    f.members[2].cert_not_after_s = Some(((NOW + 3 * DAY_MS) / 1000) as i64);
    f.audit.last_backup_ms = Some(NOW - 2 * DAY_MS);
    let got: Vec<_> = check_deployment(&f).into_iter().map(|x| (x.id, x.severity)).collect();
    assert_eq!(
        got,
        [
            ("deploy.tls_off:1".to_string(), Severity::Fail),
            ("deploy.sealed:2".to_string(), Severity::Fail),
            ("deploy.cert_expiry:3".to_string(), Severity::Fail),
            ("deploy.backup_old".to_string(), Severity::Warn),
        ]
    );
    let mut f = healthy();
    f.members.truncate(1);
    f.members[0].cert_not_after_s = Some(((NOW + 20 * DAY_MS) / 1000) as i64);
    f.members.push(MemberFact { sealed: None, voter: false, ..member(4) });
    let got: Vec<_> = check_deployment(&f).into_iter().map(|x| (x.id, x.severity)).collect();
    assert_eq!(
        got,
        [
            ("deploy.cert_expiry:1".to_string(), Severity::Warn),
            ("deploy.unreachable:4".to_string(), Severity::Warn),
            ("deploy.few_voters".to_string(), Severity::Warn),
        ]
    );
    // A partial audit answer can't prove there was no backup.
    let mut f = healthy();
    f.audit.last_backup_ms = None;
    f.audit.partial = true;
    assert!(check_deployment(&f).is_empty());
}

#[test]
fn suppressed_findings_stay_listed_but_do_not_count() {
    let mut f = healthy();
    f.tokens.push(token("t2", &["secrets:read:*"], 1));
    f.audit.readers = 0;
    let r = report(&f, &BTreeMap::new(), vec![]);
    assert_eq!(r.grade, Severity::Fail);
    let mut ignores = BTreeMap::new();
    ignores.insert(
        "scope.all_paths:token:t2".to_string(),
        IgnoreRecord { reason: "break-glass drill".into(), by: "root".into(), at_ms: NOW },
    );
    let r = report(&f, &ignores, vec!["a note".into()]);
    assert_eq!(r.grade, Severity::Warn, "only the audit warning counts");
    let c1 = r.checks.iter().find(|c| c.check == "1").unwrap();
    assert_eq!((c1.grade, c1.findings, c1.ignored), (Severity::Pass, 0, 1));
    let x = r.findings.iter().find(|x| x.id == "scope.all_paths:token:t2").unwrap();
    assert_eq!(x.ignored.as_ref().unwrap().reason, "break-glass drill");
    assert_eq!(r.notes, ["a note"]);
    assert_eq!(r.ignores.len(), 1);
    ignores.insert(
        "deploy.few_voters".to_string(),
        IgnoreRecord { reason: "one node by design".into(), by: "root".into(), at_ms: NOW },
    );
    let r = report(&f, &ignores, vec![]);
    assert_eq!(r.ignores.len(), 2, "a suppression matching no finding is still listed");
    assert!(r.findings.iter().all(|x| x.id != "deploy.few_voters"));
}

fn ev(
    actor: &str,
    agent: Option<&str>,
    action: &str,
    path: &str,
    result: &str,
    client: &str,
) -> AuditRecord {
    serde_json::from_value(serde_json::json!({
        "v": 1, "seq": 1, "time": "2026-12-01T00:00:00.000000000Z", "node": 1,
        "request_id": "r", "actor": actor, "agent": agent, "agent_id": null, "accessor": null,
        "credential_hmac": null, "action": action, "method": if action == "secret.write" { "PUT" } else { "GET" },
        "path": path, "version": null, "tier": null, "result": result, "status": 200,
        "client": client, "approval_id": null, "prev_hash": "", "hash": ""
    }))
    .unwrap()
}

#[test]
fn audit_facts_condense_the_window() {
    let events = vec![
        ev("token", Some("svc"), "secret.read", "/v1/secrets/production/a/K1", "ok", "10.0.0.1"),
        ev("token", Some("svc"), "secret.read", "/v1/secrets/production/a/K1", "ok", "10.0.0.2"),
        ev(
            "token",
            Some("svc"),
            "secret.versions",
            "/v1/secrets/production/a/K2/versions",
            "ok",
            "10.0.0.1",
        ),
        ev(
            "token",
            Some("svc"),
            "secret.read",
            "/v1/secrets/production/b/K",
            "scope_denied",
            "10.0.0.9",
        ),
        ev("token", Some("svc"), "secret.list", "/v1/secrets", "ok", "10.0.0.1"),
        ev("agent_key", Some("svc"), "token.issue", "/v1/tokens", "ok", "10.0.0.1"),
        ev("root", None, "secret.read", "/v1/secrets/production/a/K1", "ok", "127.0.0.1"),
        ev("root", None, "secret.write", "/v1/secrets/production/a/K1", "ok", "127.0.0.1"),
        ev("token", Some("sec"), "audit.query", "/v1/audit", "ok", "10.0.0.5"),
        ev("root", None, "audit.verify", "/v1/audit/verify", "scope_denied", "10.0.0.5"),
        ev("root", None, "sys.snapshot.save", "/v1/sys/snapshot", "ok", "127.0.0.1"),
    ];
    let f = audit_facts(&events, 5, "/v1/sys/snapshot");
    assert_eq!(f.readers, 1);
    assert_eq!(f.root_reads, 1);
    assert!(f.last_backup_ms.is_some());
    let u = &f.uses["svc"];
    assert_eq!(u.events, 6);
    assert_eq!(u.lists, 1);
    assert_eq!(u.secrets[&(Action::Read, "production/a/K1".to_string())], 2);
    assert_eq!(u.secrets[&(Action::Read, "production/a/K2".to_string())], 1);
    assert_eq!(u.secrets.len(), 2, "denied calls are no use");
    assert_eq!(u.clients.len(), 2, "only successful calls' addresses count");
    assert_eq!(u.admin_actions["token.issue"], 1);
}

#[test]
fn rightsize_suggests_the_smallest_covering_set() {
    let a = agent(
        "svc",
        &[
            "secrets:read:production/*",
            "secrets:write:production/a/*",
            "audit:read",
            "agents:manage",
        ],
    );
    let mut u = AgentUse::default();
    u.secrets.insert((Action::Read, "production/a/K1".into()), 2);
    u.secrets.insert((Action::Read, "production/a/K2".into()), 1);
    u.secrets.insert((Action::Read, "production/b/K".into()), 4);
    u.admin_actions.insert("audit.query".into(), 1);
    u.admin_actions.insert("token.issue".into(), 9);
    let r = rightsize_of(&a, &u);
    assert_eq!(
        r.suggested,
        ["secrets:read:production/a/*", "secrets:read:production/b/K", "audit:read"]
    );
    assert_eq!(r.unused, ["secrets:write:production/a/*", "agents:manage"]);
    assert_eq!(r.held[0].uses, 7);
    assert_eq!(r.held[2].uses, 1);
    assert_eq!(r.used.len(), 4);
    // Nothing used: nothing suggested, everything unused.
    let r = rightsize_of(&a, &AgentUse::default());
    assert!(r.suggested.is_empty());
    assert_eq!(r.unused.len(), 4);
}

fn subject(scopes: &[&str], allow: &[&str]) -> Subject {
    Subject {
        name: "agent:svc".into(),
        scopes: Some(scopes.iter().map(|s| s.to_string()).collect()),
        allowlists: vec![allow.iter().map(|s| s.to_string()).collect()],
        dead: None,
        is_agent_key: false,
    }
}

#[test]
fn explain_names_the_granting_scope_or_the_reason() {
    let s = subject(&["secrets:list:production/a/*", "secrets:read:production/a/*"], &[]);
    let e = explain(&s, Action::Read, "production/a/K", None, None);
    assert_eq!(
        (e.decision.as_str(), e.granted_by.as_deref()),
        ("allowed", Some("secrets:read:production/a/*"))
    );
    assert!(e.reasons.is_empty());
    // Another action on a matching path.
    let e = explain(&s, Action::Write, "production/a/K", None, None);
    assert_eq!((e.decision.as_str(), e.reasons[0].code.as_str()), ("denied", "action"));
    assert!(
        e.reasons[0].message.contains("secrets:write:production/a/K"),
        "{}",
        e.reasons[0].message
    );
    // Another namespace.
    let e = explain(&s, Action::Read, "staging/a/K", None, None);
    assert_eq!(e.reasons[0].code, "namespace");
    assert!(e.reasons[0].message.contains("only production"), "{}", e.reasons[0].message);
    // Same namespace, another folder.
    let e = explain(&s, Action::Read, "production/b/K", None, None);
    assert_eq!(e.reasons[0].code, "no_scope_matches");
    // The address.
    let s = subject(&["secrets:read:production/a/*"], &["10.0.0.0/8"]);
    let e = explain(&s, Action::Read, "production/a/K", Some("192.168.1.1".parse().unwrap()), None);
    assert_eq!((e.decision.as_str(), e.reasons[0].code.as_str()), ("denied", "ip_not_allowed"));
    let e = explain(&s, Action::Read, "production/a/K", Some("10.1.2.3".parse().unwrap()), None);
    assert_eq!(e.decision, "allowed");
    let e = explain(&s, Action::Read, "production/a/K", None, None);
    assert_eq!((e.decision.as_str(), e.reasons[0].code.as_str()), ("allowed", "ip_restricted"));
    // The tier.
    let gate = Gate { tier: "critical".into(), required: 2, granted: false };
    let e =
        explain(&s, Action::Read, "production/a/K", Some("10.0.0.1".parse().unwrap()), Some(&gate));
    assert_eq!(
        (e.decision.as_str(), e.reasons[0].code.as_str()),
        ("needs_approval", "approval_required")
    );
    assert!(e.reasons[0].message.contains("2 approval"));
    let granted = Gate { granted: true, ..gate.clone() };
    assert_eq!(
        explain(&s, Action::Read, "production/a/K", None, Some(&granted)).decision,
        "allowed"
    );
    assert_eq!(explain(&s, Action::Write, "production/a/K", None, Some(&gate)).decision, "denied");
    // A dead credential; root.
    let mut dead = s.clone();
    dead.dead = Some("expired".into());
    let e = explain(&dead, Action::Read, "production/a/K", None, None);
    assert_eq!((e.decision.as_str(), e.reasons[0].code.as_str()), ("denied", "credential_dead"));
    assert!(e.granted_by.is_some(), "the scope still matches; the credential is what fails");
    let root = Subject { scopes: None, allowlists: vec![], ..s };
    assert_eq!(explain(&root, Action::Any, "x/y", None, None).decision, "allowed");
}

#[test]
fn service_of_names_the_folder_a_glob_is_confined_to() {
    let s = |ns: &str, svc: Option<&str>| Some((ns.to_string(), svc.map(str::to_string)));
    assert_eq!(service_of("production/gemini/*"), s("production", Some("gemini")));
    assert_eq!(service_of("production/gemini/KEY"), s("production", Some("gemini")));
    assert_eq!(service_of("production/*"), s("production", None));
    assert_eq!(service_of("production/KEY"), s("production", None));
    assert_eq!(service_of("*"), None);
}
