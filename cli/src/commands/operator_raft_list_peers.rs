//! `ass operator raft list-peers`: the Raft members, each probed on `GET /v1/sys/health`,
//! with a dead-node report: members whose API does not answer within 2 s are flagged DOWN.
//!
//! ```text
//!  GET /v1/sys/members (any node; again from the leader for MATCHED)
//!     └─ per member, at once: GET http://<api_addr>/v1/sys/health ≤ 2 s ──> up | sealed | DOWN
//! ```

use std::time::Duration;

use ass_client::scope::SYS_OPERATOR;
use ass_client::{Client, HealthResponse, Member, MembersResponse};
use clap::Args;
use serde::Serialize;

use super::Ctx;
use crate::output::{self, or_dash, yes_no};

/// How long a member's API has to answer `GET /v1/sys/health` before it is flagged DOWN.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

const LONG_ABOUT: &str = "\
List the Raft members of the cluster — node id, API address, cluster (Raft) address, voter or
learner, which one leads, and the last log index the leader knows each holds (MATCHED) — and
report dead nodes: every member's API address is asked for GET /v1/sys/health, and one that
does not answer within 2 s is flagged DOWN (a sealed node answers: it shows `sealed`). The
report says how many voters answer and whether that is still a quorum.

Members are asked over the scheme of the address this command reached (https:// for a TLS
cluster, with the CA of --ca-cert / ASS_CACERT). Needs a token with the sys:operator scope. A dead node does not change the exit
code; exits 2 only when no node answers the member list.

Example:
  ass operator raft list-peers
  ass operator raft list-peers --json | jq '.down'";

/// List the Raft members and flag the ones that are DOWN
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct ListPeersArgs {
    /// Print {members: [member + health], down: [ids]} as JSON
    #[arg(long)]
    pub json: bool,
}

/// What a member's `GET /v1/sys/health` said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Answered: initialized and unsealed.
    Up,
    /// Answered: sealed (alive, but serves nothing until unsealed).
    Sealed,
    /// Answered: not initialized.
    Uninitialized,
    /// Did not answer within [`HEALTH_TIMEOUT`], or not with a health body.
    Down,
}

impl Health {
    /// What the HEALTH column shows: `up`, `sealed`, `uninitialized` or `DOWN`.
    pub fn label(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Sealed => "sealed",
            Health::Uninitialized => "uninitialized",
            Health::Down => "DOWN",
        }
    }
}

/// One member and how its health probe went.
#[derive(Debug, Clone, Serialize)]
pub struct Peer {
    #[serde(flatten)]
    pub member: Member,
    pub health: Health,
    /// Why it is DOWN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_error: Option<String>,
    /// The base URL it was probed at.
    #[serde(skip)]
    pub url: String,
}

/// The `--json` answer.
#[derive(Debug, Serialize)]
pub struct PeersReport<'a> {
    pub members: &'a [Peer],
    /// Ids of the members flagged DOWN.
    pub down: Vec<u64>,
}

/// Runs `ass operator raft list-peers`.
pub async fn exec(ctx: &Ctx, args: &ListPeersArgs) -> anyhow::Result<()> {
    let resp = members_from_leader(&ctx.scoped(SYS_OPERATOR)).await?;
    let peers = probe_all(&ctx.client, resp.members).await;
    if args.json {
        output::print_json(&PeersReport { down: down_ids(&peers), members: &peers })
    } else {
        output::print(&render(&peers))
    }
}

/// The member list; when the node that answered is not the leader (no MATCHED), the leader's
/// own list if it answers within [`HEALTH_TIMEOUT`].
pub async fn members_from_leader(client: &Client) -> anyhow::Result<MembersResponse> {
    let resp = client.sys_members().await?;
    if resp.members.iter().any(|m| m.matched_index.is_some()) {
        return Ok(resp);
    }
    let Some(leader) = resp.members.iter().find(|m| m.leader) else {
        return Ok(resp);
    };
    let scheme = scheme_of(client.current_address());
    let at_leader = client.for_node(&api_url(scheme, &leader.api_addr));
    match tokio::time::timeout(HEALTH_TIMEOUT, at_leader.sys_members()).await {
        Ok(Ok(from_leader)) if from_leader.members.iter().any(|m| m.matched_index.is_some()) => {
            Ok(from_leader)
        }
        _ => Ok(resp),
    }
}

/// Probes every member's health at once (no credential: health needs none).
pub async fn probe_all(client: &Client, members: Vec<Member>) -> Vec<Peer> {
    let scheme = scheme_of(client.current_address());
    futures::future::join_all(members.into_iter().map(|member| async move {
        let url = api_url(scheme, &member.api_addr);
        let answer = tokio::time::timeout(HEALTH_TIMEOUT, client.for_node(&url).sys_health())
            .await
            .map_err(|_| {
                format!("{url}: no answer within {}", humantime::format_duration(HEALTH_TIMEOUT))
            })
            .and_then(|r| r.map(|(_, body)| body).map_err(|e| e.to_string()));
        let (health, health_error) = classify(answer);
        Peer { member, health, health_error, url }
    }))
    .await
}

/// The base URL of a member's API: its `host:port` over `scheme` (a cluster is TLS
/// throughout or not at all, so the scheme of the address that answered fits every member;
/// an address that already has a scheme is kept).
pub fn api_url(scheme: &str, api_addr: &str) -> String {
    if api_addr.contains("://") {
        api_addr.to_owned()
    } else {
        format!("{scheme}://{api_addr}")
    }
}

/// `https` for an `https://` address, else `http`.
pub fn scheme_of(addr: &str) -> &'static str {
    if addr.starts_with("https://") {
        "https"
    } else {
        "http"
    }
}

/// A probe's outcome as a health and, when DOWN, why.
pub fn classify(answer: Result<HealthResponse, String>) -> (Health, Option<String>) {
    match answer {
        Ok(h) if !h.initialized => (Health::Uninitialized, None),
        Ok(h) if h.sealed => (Health::Sealed, None),
        Ok(_) => (Health::Up, None),
        Err(why) => (Health::Down, Some(why)),
    }
}

/// Ids of the members flagged DOWN.
pub fn down_ids(peers: &[Peer]) -> Vec<u64> {
    peers.iter().filter(|p| p.health == Health::Down).map(|p| p.member.id).collect()
}

/// `voter` / `learner`.
pub fn role(m: &Member) -> &'static str {
    if m.voter {
        "voter"
    } else {
        "learner"
    }
}

/// The peers table, then the dead-node report.
pub fn render(peers: &[Peer]) -> String {
    let rows: Vec<Vec<String>> = peers
        .iter()
        .map(|p| {
            let m = &p.member;
            vec![
                m.id.to_string(),
                m.api_addr.clone(),
                m.cluster_addr.clone(),
                role(m).to_owned(),
                yes_no(m.leader),
                or_dash(m.matched_index),
                or_dash(m.lag),
                contact(m),
                p.health.label().to_owned(),
            ]
        })
        .collect();
    let mut out = output::table(
        &["ID", "API", "CLUSTER", "ROLE", "LEADER", "MATCHED", "LAG", "CONTACT", "HEALTH"],
        &rows,
    );
    out.push('\n');
    out.push_str(&report(peers));
    out
}

/// When the leader last heard from a member: `12ms`, `3.4s`, `never`, or `-` (not the
/// leader's list), with `!` when the leader flags it unreachable.
pub fn contact(m: &Member) -> String {
    let since = match m.last_contact_ms {
        Some(ms) if ms < 1000 => format!("{ms}ms"),
        Some(ms) => format!("{:.1}s", ms as f64 / 1000.0),
        None if m.unreachable == Some(true) => "never".to_owned(),
        None => return "-".to_owned(),
    };
    if m.unreachable == Some(true) {
        format!("{since}!")
    } else {
        since
    }
}

/// The dead-node report: which members are DOWN and why, whether the voters that answer are
/// still a quorum, and sealed members to unseal.
pub fn report(peers: &[Peer]) -> String {
    let timeout = humantime::format_duration(HEALTH_TIMEOUT);
    let down: Vec<&Peer> = peers.iter().filter(|p| p.health == Health::Down).collect();
    let mut out = String::new();
    if down.is_empty() {
        out.push_str(&format!(
            "Dead nodes: none; all {} members answer GET /v1/sys/health.\n",
            peers.len()
        ));
    } else {
        out.push_str(&format!(
            "Dead nodes: {} of {} members did not answer GET /v1/sys/health within {timeout}:\n",
            down.len(),
            peers.len()
        ));
        for p in &down {
            let why = p.health_error.as_deref().unwrap_or("no answer");
            out.push_str(&format!("  node {} ({}): {why}\n", p.member.id, p.member.api_addr));
        }
        let voters = peers.iter().filter(|p| p.member.voter).count();
        let answering = peers.iter().filter(|p| p.member.voter && p.health != Health::Down).count();
        let quorum = voters / 2 + 1;
        if answering >= quorum {
            out.push_str(&format!(
                "{answering} of {voters} voters answer; a quorum needs {quorum}: the cluster \
                 still commits.\n"
            ));
        } else {
            out.push_str(&format!(
                "QUORUM LOST: only {answering} of {voters} voters answer; a quorum needs \
                 {quorum}: no write commits until enough of them are back.\n"
            ));
        }
        out.push_str(
            "Bring a dead node back, or remove it for good: ass operator raft remove-node ID\n",
        );
    }
    for p in peers.iter().filter(|p| p.member.unreachable == Some(true) && p.health != Health::Down)
    {
        out.push_str(&format!(
            "Unreachable from the leader: node {} answers its API but not the leader's Raft \
             RPCs (last contact {}): check its cluster port ({}) and the network between them.\n",
            p.member.id,
            contact(&p.member).trim_end_matches('!'),
            p.member.cluster_addr
        ));
    }
    for p in peers.iter().filter(|p| p.health == Health::Sealed) {
        out.push_str(&format!(
            "Sealed: node {}; unseal it with `ass operator unseal --addr {}`.\n",
            p.member.id, p.url
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::{fixture, parse};
    use crate::commands::{Command, OperatorCommand, RaftCommand};

    fn member(id: u64, voter: bool, leader: bool, matched: Option<u64>) -> Member {
        fixture(serde_json::json!({
            "id": id, "api_addr": format!("127.0.0.1:820{id}"),
            "cluster_addr": format!("127.0.0.1:830{id}"), "voter": voter, "leader": leader,
            "matched_index": matched
        }))
    }

    fn health(initialized: bool, sealed: bool) -> HealthResponse {
        fixture(serde_json::json!({
            "initialized": initialized, "sealed": sealed, "standby": true, "node_id": 2,
            "version": "0.1.0", "server_time_utc": "2026-01-01T00:00:00Z"
        }))
    }

    fn peer(m: Member, answer: Result<HealthResponse, String>) -> Peer {
        let (health, health_error) = classify(answer);
        let url = api_url("http", &m.api_addr);
        Peer { member: m, health, health_error, url }
    }

    #[test]
    fn flags_parse() {
        match parse(&["operator", "raft", "list-peers", "--json"]).unwrap().command {
            Command::Operator(OperatorCommand::Raft(RaftCommand::ListPeers(a))) => assert!(a.json),
            other => panic!("{other:?}"),
        }
        assert!(parse(&["operator", "raft"]).is_err(), "a verb is needed");
    }

    #[test]
    fn api_urls_get_the_scheme_of_the_cluster() {
        assert_eq!(api_url("http", "127.0.0.1:8201"), "http://127.0.0.1:8201");
        assert_eq!(api_url("https", "127.0.0.1:8201"), "https://127.0.0.1:8201");
        assert_eq!(api_url("https", "http://n1:8201"), "http://n1:8201");
        assert_eq!(scheme_of("https://n1:8201"), "https");
        assert_eq!(scheme_of("http://n1:8201"), "http");
    }

    #[test]
    fn a_probe_is_up_sealed_uninitialized_or_down() {
        assert_eq!(classify(Ok(health(true, false))), (Health::Up, None));
        assert_eq!(classify(Ok(health(true, true))), (Health::Sealed, None));
        assert_eq!(classify(Ok(health(false, true))), (Health::Uninitialized, None));
        assert_eq!(
            classify(Err("x: timed out".into())),
            (Health::Down, Some("x: timed out".into()))
        );
    }

    #[test]
    fn all_up_reports_no_dead_nodes() {
        let peers = vec![
            peer(member(1, true, true, Some(57)), Ok(health(true, false))),
            peer(member(2, true, false, Some(57)), Ok(health(true, false))),
            peer(member(3, true, false, Some(56)), Ok(health(true, false))),
        ];
        assert_eq!(
            render(&peers),
            "ID  API             CLUSTER         ROLE   LEADER  MATCHED  LAG  CONTACT  HEALTH\n\
             1   127.0.0.1:8201  127.0.0.1:8301  voter  yes     57       -    -        up\n\
             2   127.0.0.1:8202  127.0.0.1:8302  voter  no      57       -    -        up\n\
             3   127.0.0.1:8203  127.0.0.1:8303  voter  no      56       -    -        up\n\
             \n\
             Dead nodes: none; all 3 members answer GET /v1/sys/health.\n"
        );
        assert!(down_ids(&peers).is_empty());
    }

    #[test]
    fn a_dead_member_is_flagged_down_with_why_and_the_quorum() {
        let refused = "http://127.0.0.1:8203: cannot connect: Connection refused";
        let peers = vec![
            peer(member(1, true, true, Some(57)), Ok(health(true, false))),
            peer(member(2, true, false, None), Ok(health(true, true))),
            peer(member(3, true, false, Some(40)), Err(refused.into())),
            peer(
                member(4, false, false, Some(57)),
                Err("http://127.0.0.1:8204: no answer within 2s".into()),
            ),
        ];
        assert_eq!(
            render(&peers),
            "ID  API             CLUSTER         ROLE     LEADER  MATCHED  LAG  CONTACT  HEALTH\n\
             1   127.0.0.1:8201  127.0.0.1:8301  voter    yes     57       -    -        up\n\
             2   127.0.0.1:8202  127.0.0.1:8302  voter    no      -        -    -        sealed\n\
             3   127.0.0.1:8203  127.0.0.1:8303  voter    no      40       -    -        DOWN\n\
             4   127.0.0.1:8204  127.0.0.1:8304  learner  no      57       -    -        DOWN\n\
             \n\
             Dead nodes: 2 of 4 members did not answer GET /v1/sys/health within 2s:\n\
             \x20 node 3 (127.0.0.1:8203): http://127.0.0.1:8203: cannot connect: Connection \
             refused\n\
             \x20 node 4 (127.0.0.1:8204): http://127.0.0.1:8204: no answer within 2s\n\
             2 of 3 voters answer; a quorum needs 2: the cluster still commits.\n\
             Bring a dead node back, or remove it for good: ass operator raft remove-node ID\n\
             Sealed: node 2; unseal it with `ass operator unseal --addr http://127.0.0.1:8202`.\n"
        );
        assert_eq!(down_ids(&peers), [3, 4]);
        let j =
            serde_json::to_value(PeersReport { down: down_ids(&peers), members: &peers }).unwrap();
        assert_eq!(j["down"], serde_json::json!([3, 4]));
        assert_eq!(j["members"][0]["health"], "up");
        assert_eq!(j["members"][0]["matched_index"], 57);
        assert!(j["members"][0].get("health_error").is_none());
        assert_eq!(j["members"][2]["health"], "down");
        assert_eq!(j["members"][2]["health_error"], refused);
    }

    #[test]
    fn the_leaders_view_shows_lag_contact_and_unreachable_members() {
        let with = |id: u64, matched: u64, lag: u64, contact: Option<u64>, unreachable: bool| {
            let mut m = member(id, true, id == 1, Some(matched));
            m.lag = Some(lag);
            m.last_contact_ms = contact;
            m.unreachable = Some(unreachable);
            m
        };
        let peers = vec![
            peer(with(1, 90, 0, Some(0), false), Ok(health(true, false))),
            peer(with(2, 88, 2, Some(42), false), Ok(health(true, false))),
            // Its API answers, but the leader has not heard from it for 7.5 s.
            peer(with(3, 60, 30, Some(7_500), true), Ok(health(true, false))),
            peer(with(4, 0, 90, None, true), Err("gone".into())),
        ];
        let out = render(&peers);
        assert!(
            out.starts_with(
                "ID  API             CLUSTER         ROLE   LEADER  MATCHED  LAG  CONTACT  HEALTH\n\
                 1   127.0.0.1:8201  127.0.0.1:8301  voter  yes     90       0    0ms      up\n\
                 2   127.0.0.1:8202  127.0.0.1:8302  voter  no      88       2    42ms     up\n\
                 3   127.0.0.1:8203  127.0.0.1:8303  voter  no      60       30   7.5s!    up\n\
                 4   127.0.0.1:8204  127.0.0.1:8304  voter  no      0        90   never!   DOWN\n"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "Unreachable from the leader: node 3 answers its API but not the leader's Raft \
                 RPCs (last contact 7.5s): check its cluster port (127.0.0.1:8303)"
            ),
            "{out}"
        );
        assert!(!out.contains("node 4 answers its API"), "a DOWN node is reported once: {out}");
        let j = serde_json::to_value(&peers[2].member).unwrap();
        assert_eq!((j["lag"].as_u64(), j["unreachable"].as_bool()), (Some(30), Some(true)));
    }

    #[test]
    fn losing_most_voters_says_quorum_lost() {
        let peers = vec![
            peer(member(1, true, false, None), Ok(health(true, false))),
            peer(member(2, true, false, None), Err("gone".into())),
            peer(member(3, true, false, None), Err("gone".into())),
        ];
        let r = report(&peers);
        assert!(r.contains("QUORUM LOST: only 1 of 3 voters answer; a quorum needs 2"), "{r}");
    }
}
