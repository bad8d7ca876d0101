//! Audit queries: the filter of `GET /v1/audit` and the merge of every node's answer. Pure.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::record::AuditRecord;
use super::store::format_ns;

/// Default and largest `limit`.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 10_000;

/// A parsed, checked filter. Times are in the events' own text form, so they compare as text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub limit: usize,
    pub since: Option<String>,
    pub until: Option<String>,
    pub agent: Option<String>,
    pub path: Option<String>,
    pub result: Option<String>,
    pub action: Option<String>,
}

/// A filter parameter that can't be used; names the parameter.
#[derive(Debug, thiserror::Error)]
#[error("`{param}`: {message}")]
pub struct FilterError {
    pub param: &'static str,
    pub message: String,
}

fn bad(param: &'static str, message: impl Into<String>) -> FilterError {
    FilterError { param, message: message.into() }
}

/// RFC 3339 (any precision), or a duration back from `now_ns` (`15m`, `2h`, `7d`).
pub fn parse_time(param: &'static str, s: &str, now_ns: u64) -> Result<String, FilterError> {
    if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        let ns = t
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| bad(param, "must not be before 1970"))?
            .as_nanos() as u64;
        return Ok(format_ns(ns));
    }
    match humantime::parse_duration(s) {
        Ok(d) => Ok(format_ns(now_ns.saturating_sub(d.as_nanos() as u64))),
        Err(_) => Err(bad(
            param,
            format!(
                "`{}` is neither an RFC 3339 time (2026-11-28T10:00:00Z) nor a duration ago (1h, 7d)",
                s.chars().take(40).collect::<String>()
            ),
        )),
    }
}

impl Filter {
    /// From the query string of `GET /v1/audit`.
    pub fn from_query(q: &HashMap<String, String>, now_ns: u64) -> Result<Self, FilterError> {
        let text = |k: &'static str| -> Result<Option<String>, FilterError> {
            match q.get(k).map(|v| v.trim()).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) if v.len() > 512 => Err(bad(k, "is limited to 512 bytes")),
                Some(v) => Ok(Some(v.to_owned())),
            }
        };
        let limit = match q.get("limit") {
            None => DEFAULT_LIMIT,
            Some(v) => {
                v.trim().parse::<usize>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(
                    || bad("limit", format!("must be a number from 1 to {MAX_LIMIT}")),
                )?
            }
        };
        let since = text("since")?.map(|s| parse_time("since", &s, now_ns)).transpose()?;
        let until = text("until")?.map(|s| parse_time("until", &s, now_ns)).transpose()?;
        if let (Some(s), Some(u)) = (&since, &until) {
            if s >= u {
                return Err(bad("until", "must be later than `since`"));
            }
        }
        Ok(Filter {
            limit,
            since,
            until,
            agent: text("agent")?,
            path: text("path")?,
            result: text("result")?,
            action: text("action")?,
        })
    }

    /// Whether the event is before `since` (so older ones, scanned newest first, are too).
    pub fn too_old(&self, e: &AuditRecord) -> bool {
        self.since.as_ref().is_some_and(|s| e.time < *s)
    }

    pub fn matches(&self, e: &AuditRecord) -> bool {
        if self.too_old(e) || self.until.as_ref().is_some_and(|u| e.time >= *u) {
            return false;
        }
        if let Some(a) = &self.agent {
            if e.agent.as_ref() != Some(a) && e.agent_id.as_ref() != Some(a) {
                return false;
            }
        }
        if let Some(p) = &self.path {
            let secret = e.path.strip_prefix("/v1/secrets/");
            let p = p.trim_end_matches('*');
            if !e.path.starts_with(p) && !secret.is_some_and(|s| s.starts_with(p)) {
                return false;
            }
        }
        if let Some(r) = &self.result {
            let ok = match r.as_str() {
                "error" | "denied" => e.result != "ok",
                other => e.result == other,
            };
            if !ok {
                return false;
            }
        }
        if let Some(a) = &self.action {
            let ok = if let Some(prefix) = a.strip_suffix('*') {
                e.action.starts_with(prefix)
            } else if !a.contains('.') {
                e.action == *a
                    || e.action.strip_prefix(a.as_str()).is_some_and(|r| r.starts_with('.'))
            } else {
                e.action == *a
            };
            if !ok {
                return false;
            }
        }
        true
    }
}

/// Sort key of the merged answer: time, then node, then seq.
pub fn order(a: &AuditRecord, b: &AuditRecord) -> std::cmp::Ordering {
    (&a.time, a.node, a.seq).cmp(&(&b.time, b.node, b.seq))
}

/// Merges every node's newest matches into the newest `limit`, oldest first.
pub fn merge(per_node: Vec<Vec<AuditRecord>>, limit: usize) -> Vec<AuditRecord> {
    let mut all: Vec<AuditRecord> = per_node.into_iter().flatten().collect();
    all.sort_by(order);
    all.dedup_by(|a, b| a.node == b.node && a.seq == b.seq);
    let skip = all.len().saturating_sub(limit);
    all.drain(..skip);
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::tests::event;

    fn q(pairs: &[(&str, &str)]) -> Result<Filter, FilterError> {
        let m = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Filter::from_query(&m, 1_000_000_000_000)
    }

    #[test]
    fn limits_and_times_are_checked() {
        assert_eq!(q(&[]).unwrap().limit, DEFAULT_LIMIT);
        for bad in ["0", "10001", "x", "-1"] {
            assert_eq!(q(&[("limit", bad)]).unwrap_err().param, "limit");
        }
        assert_eq!(q(&[("since", "yesterday-ish")]).unwrap_err().param, "since");
        let f = q(&[("since", "2026-11-28T10:00:00Z"), ("until", "1s")]).unwrap_err();
        assert_eq!(f.param, "until");
        let f = q(&[("since", "2026-11-28T10:00:00Z")]).unwrap();
        assert_eq!(f.since.as_deref(), Some("2026-11-28T10:00:00.000000000Z"));
        assert_eq!(q(&[("since", "1s")]).unwrap().since.unwrap(), format_ns(999_000_000_000));
    }

    #[test]
    fn filters_match_what_they_say() {
        let mut e = event(3);
        e.agent = Some("payment-service".into());
        e.agent_id = Some("a1".into());
        e.path = "/v1/secrets/production/stripe/KEY".into();
        e.result = "scope_denied".into();
        let yes = |pairs: &[(&str, &str)]| q(pairs).unwrap().matches(&e);
        assert!(yes(&[("agent", "payment-service")]) && yes(&[("agent", "a1")]));
        assert!(!yes(&[("agent", "payment")]));
        assert!(yes(&[("path", "production/")]) && yes(&[("path", "/v1/secrets/prod")]));
        assert!(yes(&[("path", "production/*")]) && !yes(&[("path", "staging/")]));
        assert!(yes(&[("result", "error")]) && yes(&[("result", "scope_denied")]));
        assert!(!yes(&[("result", "ok")]));
        assert!(yes(&[("action", "secret.read")]) && yes(&[("action", "secret")]));
        assert!(yes(&[("action", "secret.*")]) && !yes(&[("action", "secret.rea")]));
        assert!(!yes(&[("action", "secrets")]) && !yes(&[("action", "token")]));
        assert!(yes(&[("since", "2026-11-28T10:00:00.000000003Z")]));
        assert!(!yes(&[("since", "2026-11-28T10:00:00.000000004Z")]));
        assert!(!yes(&[("until", "2026-11-28T10:00:00.000000003Z")]));
    }

    #[test]
    fn merge_orders_by_time_node_seq_and_keeps_the_newest() {
        let mk = |node: u64, seq: u64, t: u64| {
            let mut e = event(seq);
            e.node = node;
            e.time = format_ns(t);
            e
        };
        let merged = merge(
            vec![vec![mk(1, 1, 10), mk(1, 2, 30)], vec![mk(2, 7, 20), mk(2, 8, 30)], vec![]],
            3,
        );
        let keys: Vec<(u64, u64)> = merged.iter().map(|e| (e.node, e.seq)).collect();
        assert_eq!(keys, vec![(2, 7), (1, 2), (2, 8)]);
    }
}
