//! The seal's decisions as plain functions over plain records: no I/O, no clock, no Raft.
//!
//! ```text
//!  share ──UnsealProgress::submit──> Progress(n) | Unsealed(root, keyring) | duplicate | wrong
//!  config, auto record, sealed?, progress ──view──> SealView (what `GET /v1/sys/status` says)
//!  initialized, sealed, leader, removed, overrides ──health_status──> 200 | 429 | 501 | 503 | 530
//!  to, current seal type, HSM? ──migration──> target | unknown | already | no HSM
//!  initialized, sealed, handing over, draining, removed ──may_lead──> campaign and heartbeat?
//! ```

use std::collections::HashMap;

use zeroize::Zeroizing;

use super::record::{AutoSeal, SealConfig};
use super::shamir::{self, SealError};
use crate::crypto::{Key, Keyring};

/// Shares handed in so far on this node. Pure: no I/O, no clock.
#[derive(Default)]
pub struct UnsealProgress {
    shares: Vec<Zeroizing<Vec<u8>>>,
}

/// What the shares opened: the root key and the keyring. Lives only in the unsealed barrier.
pub struct Unlocked {
    pub root: Key,
    pub keyring: Keyring,
}

/// The result of handing in one share.
pub enum Submitted {
    /// More shares are needed; this many are held.
    Progress(u8),
    /// The threshold was reached and the shares opened the root key and keyring.
    Unsealed(Unlocked),
}

impl UnsealProgress {
    pub fn count(&self) -> u8 {
        self.shares.len() as u8
    }

    /// Forgets every share held.
    pub fn reset(&mut self) {
        self.shares.clear();
    }

    /// Hands in one base64 share. At the threshold, opens the root key and the keyring; on
    /// failure the progress is reset and nothing is unsealed. A malformed or duplicate share
    /// changes nothing; a share with a held id but other bytes (another init's) resets.
    pub fn submit(
        &mut self,
        share_b64: &str,
        config: &SealConfig,
        sealed_keyring: &[u8],
    ) -> Result<Submitted, SealError> {
        let share = shamir::decode_share(share_b64)?;
        if self.shares.iter().any(|s| s[0] == share[0]) {
            if self.shares.iter().any(|s| s.as_slice() == share.as_slice()) {
                return Err(SealError::DuplicateShare);
            }
            // Same id, different bytes: shares of two different inits.
            self.reset();
            return Err(SealError::WrongShares);
        }
        self.shares.push(share);
        if self.count() < config.threshold {
            return Ok(Submitted::Progress(self.count()));
        }
        let result = shamir::open(&self.shares, config, sealed_keyring);
        self.reset();
        result.map(|(root, keyring)| Submitted::Unsealed(Unlocked { root, keyring }))
    }
}

/// How the cluster unseals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealType {
    /// A threshold of unseal key shares, handed in on every node.
    Shamir,
    /// An HSM unwraps the root key; the shares are recovery keys.
    Pkcs11,
}

impl SealType {
    /// The seal type a cluster with (or without) an auto-unseal record has.
    pub fn of(auto: Option<&AutoSeal>) -> Self {
        if auto.is_some() {
            SealType::Pkcs11
        } else {
            SealType::Shamir
        }
    }

    /// The name on the wire and in the config (`shamir`, `pkcs11`).
    pub fn as_str(self) -> &'static str {
        match self {
            SealType::Shamir => "shamir",
            SealType::Pkcs11 => "pkcs11",
        }
    }
}

impl std::fmt::Display for SealType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The seal part of a node's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealView {
    pub initialized: bool,
    pub sealed: bool,
    /// Unseal shares held on this node.
    pub progress: u8,
    /// 0 before init.
    pub threshold: u8,
    /// 0 before init.
    pub shares: u8,
    pub seal_type: SealType,
}

/// What a node's seal status is, from the replicated records and this node's state.
pub fn view(
    config: Option<&SealConfig>,
    auto: Option<&AutoSeal>,
    sealed: bool,
    progress: u8,
) -> SealView {
    SealView {
        initialized: config.is_some(),
        sealed,
        progress,
        threshold: config.map_or(0, |c| c.threshold),
        shares: config.map_or(0, |c| c.shares),
        seal_type: SealType::of(auto),
    }
}

/// What the load-balancer health check knows about a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthFacts {
    pub initialized: bool,
    pub sealed: bool,
    pub leader: bool,
    pub removed: bool,
}

/// An override parameter of the health check that is not an HTTP status code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{param}` must be an HTTP status code")]
pub struct BadStatusCode {
    pub param: &'static str,
}

/// The health check's status, with Vault's codes: 530 removed, 501 not initialized, 503
/// sealed, 200 active leader (or any unsealed node with `standbyok`), 429 unsealed standby.
/// `removedcode`, `uninitcode`, `sealedcode`, `activecode`, `standbycode` override them; only
/// the override of the chosen case is read (and must be 100 to 599).
pub fn health_status(
    f: HealthFacts,
    query: &HashMap<String, String>,
) -> Result<u16, BadStatusCode> {
    let code = |param: &'static str, default: u16| match query.get(param) {
        None => Ok(default),
        Some(v) => {
            v.parse::<u16>().ok().filter(|c| (100..600).contains(c)).ok_or(BadStatusCode { param })
        }
    };
    let standby_ok = query.get("standbyok").is_some_and(|v| v.is_empty() || v == "true");
    if f.removed {
        // Vault's `removedcode`: a removed node can't serve, whatever else is true.
        code("removedcode", 530)
    } else if !f.initialized {
        code("uninitcode", 501)
    } else if f.sealed {
        code("sealedcode", 503)
    } else if f.leader || standby_ok {
        code("activecode", 200)
    } else {
        code("standbycode", 429)
    }
}

/// Why a seal migration can't start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrateRefusal {
    #[error("give `to`: \"pkcs11\" (auto-unseal) or \"shamir\" (unseal shares)")]
    UnknownTarget,
    #[error("the cluster's seal is already {0}")]
    AlreadyMigrated(SealType),
    #[error(
        "this node has no HSM: set [seal] type = \"pkcs11\" in its config, restart it, and \
         hand the shares in there"
    )]
    NoHsm,
}

/// The seal type a migration asked `to` moves the cluster to, from `current`. Moving to
/// pkcs11 needs this node's HSM; moving back to Shamir needs none (the way out when the HSM
/// is lost).
pub fn migration(
    to: Option<&str>,
    current: SealType,
    has_hsm: bool,
) -> Result<SealType, MigrateRefusal> {
    let target = match to.unwrap_or("") {
        "pkcs11" => SealType::Pkcs11,
        "shamir" => SealType::Shamir,
        _ => return Err(MigrateRefusal::UnknownTarget),
    };
    if target == current {
        return Err(MigrateRefusal::AlreadyMigrated(current));
    }
    if target == SealType::Pkcs11 && !has_hsm {
        return Err(MigrateRefusal::NoHsm);
    }
    Ok(target)
}

/// What decides whether a node campaigns and heartbeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleFacts {
    pub initialized: bool,
    pub sealed: bool,
    pub stepping_down: bool,
    pub draining: bool,
    pub removed: bool,
}

/// A sealed node must not lead once the cluster is initialized (it can't encrypt, and while
/// it leads every write waits); before init every node may lead, or init could never commit.
/// A node handing over, stopping or removed does not lead either.
pub fn may_lead(f: RoleFacts) -> bool {
    let sealed_after_init = f.initialized && f.sealed;
    !(sealed_after_init || f.stepping_down || f.draining || f.removed)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::seal::shamir::{init, rekey, InitMaterial, SHARE_LEN};
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use proptest::prelude::*;

    /// Hands in the picked shares of `m` one at a time; the last answer.
    pub(crate) fn unseal_with(m: &InitMaterial, picks: &[usize]) -> Result<Submitted, SealError> {
        let mut p = UnsealProgress::default();
        let mut last = None;
        for &i in picks {
            last = Some(p.submit(&m.shares[i], &m.config, &m.sealed_keyring)?);
        }
        Ok(last.expect("at least one share"))
    }

    #[test]
    fn any_threshold_subset_unseals() {
        let m = init(5, 3).unwrap();
        for picks in [[0, 1, 2], [4, 2, 0], [1, 3, 4]] {
            assert!(matches!(unseal_with(&m, &picks), Ok(Submitted::Unsealed(_))));
        }
        assert!(matches!(unseal_with(&m, &[0, 1]), Ok(Submitted::Progress(2))));
    }

    #[test]
    fn threshold_one_and_shares_one_work() {
        let m = init(1, 1).unwrap();
        assert!(matches!(unseal_with(&m, &[0]), Ok(Submitted::Unsealed(_))));
        let m = init(3, 1).unwrap();
        assert!(matches!(unseal_with(&m, &[2]), Ok(Submitted::Unsealed(_))));
    }

    #[test]
    fn mixed_shares_fail_and_reset() {
        let a = init(5, 3).unwrap();
        let b = init(5, 3).unwrap();
        let mut p = UnsealProgress::default();
        p.submit(&a.shares[0], &a.config, &a.sealed_keyring).unwrap();
        p.submit(&b.shares[1], &a.config, &a.sealed_keyring).unwrap();
        let r = p.submit(&a.shares[2], &a.config, &a.sealed_keyring);
        assert_eq!(r.err(), Some(SealError::WrongShares));
        assert_eq!(p.count(), 0);
        // A share with an id already given, from another init, is caught at once.
        p.submit(&a.shares[0], &a.config, &a.sealed_keyring).unwrap();
        let r = p.submit(&b.shares[0], &a.config, &a.sealed_keyring);
        assert_eq!(r.err(), Some(SealError::WrongShares));
        assert_eq!(p.count(), 0);
    }

    #[test]
    fn threshold_shares_of_another_cluster_fail() {
        let a = init(5, 3).unwrap();
        let b = init(5, 3).unwrap();
        let mut p = UnsealProgress::default();
        for i in 0..2 {
            p.submit(&b.shares[i], &a.config, &a.sealed_keyring).unwrap();
        }
        let r = p.submit(&b.shares[2], &a.config, &a.sealed_keyring);
        assert_eq!(r.err(), Some(SealError::WrongShares));
    }

    #[test]
    fn bad_input_is_refused_without_progress() {
        let m = init(5, 3).unwrap();
        let mut p = UnsealProgress::default();
        for bad in ["", "not base64!", "AAAA", &STANDARD.encode([0u8; SHARE_LEN])] {
            assert_eq!(
                p.submit(bad, &m.config, &m.sealed_keyring).err(),
                Some(SealError::MalformedShare)
            );
        }
        assert_eq!(p.count(), 0);
        p.submit(&m.shares[0], &m.config, &m.sealed_keyring).unwrap();
        let r = p.submit(&m.shares[0], &m.config, &m.sealed_keyring);
        assert_eq!(r.err(), Some(SealError::DuplicateShare));
        assert_eq!(p.count(), 1);
    }

    #[test]
    fn rekeyed_shares_open_the_same_root_and_old_ones_stop() {
        let m = init(5, 3).unwrap();
        let Ok(Submitted::Unsealed(u)) = unseal_with(&m, &[0, 1, 2]) else { panic!("unseal") };
        let (config, shares) = rekey(&u.root, 3, 2).unwrap();
        let mut p = UnsealProgress::default();
        p.submit(&shares[0], &config, &m.sealed_keyring).unwrap();
        assert!(matches!(
            p.submit(&shares[2], &config, &m.sealed_keyring),
            Ok(Submitted::Unsealed(_))
        ));
        let mut p = UnsealProgress::default();
        p.submit(&m.shares[0], &config, &m.sealed_keyring).unwrap();
        assert_eq!(
            p.submit(&m.shares[1], &config, &m.sealed_keyring).err(),
            Some(SealError::WrongShares)
        );
    }

    #[test]
    fn view_before_and_after_init() {
        let v = view(None, None, true, 0);
        assert_eq!(
            v,
            SealView {
                initialized: false,
                sealed: true,
                progress: 0,
                threshold: 0,
                shares: 0,
                seal_type: SealType::Shamir
            }
        );
        let m = init(5, 3).unwrap();
        let auto =
            AutoSeal { kind: "pkcs11".into(), key_label: "k".into(), wrapped_root_key: vec![1] };
        let v = view(Some(&m.config), Some(&auto), true, 2);
        assert!(v.initialized && v.sealed);
        assert_eq!((v.progress, v.threshold, v.shares), (2, 3, 5));
        assert_eq!(v.seal_type.as_str(), "pkcs11");
    }

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const UNSEALED_LEADER: HealthFacts =
        HealthFacts { initialized: true, sealed: false, leader: true, removed: false };

    #[test]
    fn health_defaults_follow_vault() {
        let none = q(&[]);
        let standby = HealthFacts { leader: false, ..UNSEALED_LEADER };
        let sealed = HealthFacts { sealed: true, ..standby };
        let uninit = HealthFacts { initialized: false, ..sealed };
        let removed = HealthFacts { removed: true, ..UNSEALED_LEADER };
        assert_eq!(health_status(UNSEALED_LEADER, &none), Ok(200));
        assert_eq!(health_status(standby, &none), Ok(429));
        assert_eq!(health_status(sealed, &none), Ok(503));
        assert_eq!(health_status(uninit, &none), Ok(501));
        assert_eq!(health_status(removed, &none), Ok(530));
        assert_eq!(health_status(standby, &q(&[("standbyok", "")])), Ok(200));
        assert_eq!(health_status(standby, &q(&[("standbyok", "true")])), Ok(200));
        assert_eq!(health_status(standby, &q(&[("standbyok", "false")])), Ok(429));
        assert_eq!(health_status(standby, &q(&[("standbycode", "200")])), Ok(200));
    }

    #[test]
    fn health_reads_only_the_chosen_override() {
        let bad = q(&[("sealedcode", "nope"), ("activecode", "204")]);
        assert_eq!(health_status(UNSEALED_LEADER, &bad), Ok(204));
        let sealed = HealthFacts { sealed: true, ..UNSEALED_LEADER };
        assert_eq!(health_status(sealed, &bad), Err(BadStatusCode { param: "sealedcode" }));
        for v in ["99", "600", "-1", "", "2OO"] {
            let e = health_status(sealed, &q(&[("sealedcode", v)]));
            assert_eq!(e, Err(BadStatusCode { param: "sealedcode" }), "{v}");
        }
        assert_eq!(health_status(sealed, &q(&[("sealedcode", "599")])), Ok(599));
    }

    proptest! {
        /// Removed beats everything, then not initialized, then sealed; an unsealed node is
        /// active if it leads or `standbyok` is set, else standby; overrides of other cases
        /// never matter.
        #[test]
        fn health_priority(initialized: bool, sealed: bool, leader: bool, removed: bool,
                           standby_ok: bool, other in 100u16..600) {
            let f = HealthFacts { initialized, sealed, leader, removed };
            let (param, default) = if removed { ("removedcode", 530) }
                else if !initialized { ("uninitcode", 501) }
                else if sealed { ("sealedcode", 503) }
                else if leader || standby_ok { ("activecode", 200) }
                else { ("standbycode", 429) };
            let mut query = q(&[]);
            if standby_ok { query.insert("standbyok".into(), "true".into()); }
            for p in ["removedcode", "uninitcode", "sealedcode", "activecode", "standbycode"] {
                if p != param { query.insert(p.into(), "garbage".into()); }
            }
            prop_assert_eq!(health_status(f, &query), Ok(default));
            query.insert(param.into(), other.to_string());
            prop_assert_eq!(health_status(f, &query), Ok(other));
        }

        /// A node leads only when nothing forbids it; before init even a sealed one may.
        #[test]
        fn may_lead_only_when_nothing_forbids(initialized: bool, sealed: bool,
                                              stepping_down: bool, draining: bool, removed: bool) {
            let f = RoleFacts { initialized, sealed, stepping_down, draining, removed };
            let forbidden = (initialized && sealed) || stepping_down || draining || removed;
            prop_assert_eq!(may_lead(f), !forbidden);
        }
    }

    #[test]
    fn migration_rules() {
        use SealType::*;
        assert_eq!(migration(Some("pkcs11"), Shamir, true), Ok(Pkcs11));
        assert_eq!(migration(Some("shamir"), Pkcs11, false), Ok(Shamir));
        assert_eq!(migration(Some("pkcs11"), Shamir, false), Err(MigrateRefusal::NoHsm));
        assert_eq!(
            migration(Some("shamir"), Shamir, true),
            Err(MigrateRefusal::AlreadyMigrated(Shamir))
        );
        // Already there is said before a missing HSM.
        assert_eq!(
            migration(Some("pkcs11"), Pkcs11, false),
            Err(MigrateRefusal::AlreadyMigrated(Pkcs11))
        );
        for to in [None, Some(""), Some("PKCS11"), Some("aws")] {
            assert_eq!(migration(to, Shamir, true), Err(MigrateRefusal::UnknownTarget));
        }
        assert_eq!(
            MigrateRefusal::AlreadyMigrated(Pkcs11).to_string(),
            "the cluster's seal is already pkcs11"
        );
    }

    #[test]
    fn progress_counts_and_resets() {
        let m = init(5, 3).unwrap();
        let mut p = UnsealProgress::default();
        assert!(matches!(
            p.submit(&m.shares[3], &m.config, &m.sealed_keyring),
            Ok(Submitted::Progress(1))
        ));
        assert!(matches!(
            p.submit(&m.shares[1], &m.config, &m.sealed_keyring),
            Ok(Submitted::Progress(2))
        ));
        p.reset();
        assert_eq!(p.count(), 0);
        // After a complete unseal the progress is empty again.
        for i in 0..3 {
            let _ = p.submit(&m.shares[i], &m.config, &m.sealed_keyring).unwrap();
        }
        assert_eq!(p.count(), 0);
    }
}
