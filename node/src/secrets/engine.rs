//! The secrets rules as plain functions over plain records: which tier gates a read, which
//! version a read or delete is about, what a write needs and proposes, and how an apply
//! changes a path. No I/O, no clock, no keys: the service and the store call these with what
//! they read, so the same rule holds on the proposing leader and in every node's apply.
//!
//! ```text
//!  read:   version_to_read(record, wanted) ──> readable(number, version) ──> effective_tier
//!  write:  check_write(value, type) ──> plan_write(current, tier) ──propose──> judge_put (apply)
//!  delete: delete_target(record) ──> soft_delete      destroy(record, version, number)
//! ```

use ass_client::types::MAX_VALUE_BYTES;

use super::{PutSecret, Refusal, SecretRecord, Tier, VersionRecord, DEFAULT_TYPE};

/// Longest secret type name.
pub const MAX_TYPE_LEN: usize = 64;

/// A request the rules refuse before anything is decrypted or proposed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// A read of the latest version, which is soft-deleted or destroyed.
    #[error("the latest version ({latest}) is deleted")]
    LatestDeleted { latest: u64 },
    #[error("version {version} is deleted")]
    VersionDeleted { version: u64 },
    #[error("version {version} was destroyed")]
    VersionDestroyed { version: u64 },
    #[error("secret values are limited to {MAX_VALUE_BYTES} bytes")]
    ValueTooLarge,
    #[error("`type` must be 1 to 64 characters of [A-Za-z0-9_-]")]
    BadType,
}

/// The tier that gates a read of `version`: the higher of the tier it was written with and
/// the path's tier now (a version written before tiers were kept per version: the path's).
pub fn effective_tier(record: &SecretRecord, version: &VersionRecord) -> Tier {
    match version.tier {
        Some(t) if t > record.tier => t,
        _ => record.tier,
    }
}

/// The version a read is about: the one asked for, or the latest unless that is deleted.
pub fn version_to_read(record: &SecretRecord, wanted: Option<u64>) -> Result<u64, CheckError> {
    match wanted {
        Some(n) => Ok(n),
        None if record.latest_deleted => {
            Err(CheckError::LatestDeleted { latest: record.latest_version })
        }
        None => Ok(record.latest_version),
    }
}

/// Whether a version the record names may still appear: a record and its versions are
/// written in one transaction, but a plain read may land between the trees' updates.
pub fn may_appear(record: &SecretRecord, number: u64) -> bool {
    number <= record.latest_version
}

/// Whether version `number` still has a value to give (checked after the approvals gate, so
/// a gated path says nothing about its versions to a caller without approval).
pub fn readable(number: u64, version: &VersionRecord) -> Result<(), CheckError> {
    if version.destroyed {
        return Err(CheckError::VersionDestroyed { version: number });
    }
    if version.deleted_ms.is_some() {
        return Err(CheckError::VersionDeleted { version: number });
    }
    Ok(())
}

/// The input rules of a write: the value's size and the type's characters.
pub fn check_write(value_len: usize, secret_type: Option<&str>) -> Result<(), CheckError> {
    if value_len > MAX_VALUE_BYTES {
        return Err(CheckError::ValueTooLarge);
    }
    if let Some(t) = secret_type {
        if t.is_empty()
            || t.len() > MAX_TYPE_LEN
            || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(CheckError::BadType);
        }
    }
    Ok(())
}

/// What a write proposes, decided from the path's record as the leader has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WritePlan {
    /// The path's latest version now (0: no secret yet).
    pub latest: u64,
    /// The version to encrypt for and propose: `latest + 1`.
    pub version: u64,
    /// `Some(now)`: the write lowers the path's tier from `now`. It needs `policy:manage`
    /// and, for a gated `now`, the approval a read of the latest version needs; the proposal
    /// then carries `lower_from = Some(now)`.
    pub lowering: Option<Tier>,
}

/// Plans a write of `wanted` (`None`: keep the path's tier) over `current`.
pub fn plan_write(current: Option<&SecretRecord>, wanted: Option<Tier>) -> WritePlan {
    let latest = current.map_or(0, |r| r.latest_version);
    let lowering = match (current.map(|r| r.tier), wanted) {
        (Some(now), Some(to)) if to < now => Some(now),
        _ => None,
    };
    WritePlan { latest, version: latest + 1, lowering }
}

/// The result of applying a [`PutSecret`] to a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    pub record: SecretRecord,
    pub version: VersionRecord,
    /// `Some(tier)`: the write lowers the path from `tier`; the versions written before
    /// versions kept a tier of their own must be stamped with it first, so they keep it.
    pub stamp_legacy: Option<Tier>,
}

/// Judges a write at apply, against the path as it is by then: the check-and-set
/// expectation, the version (a concurrent write may have taken it), and a tier lowering
/// against the authority the proposer carried (`lower_from` at or above the tier now).
pub fn judge_put(
    current: Option<&SecretRecord>,
    put: &PutSecret,
    time_ms: u64,
) -> Result<PutOutcome, Refusal> {
    let latest = current.map_or(0, |r| r.latest_version);
    if let Some(expected) = put.cas {
        if expected != latest {
            return Err(Refusal::CasMismatch { expected, actual: latest });
        }
    }
    if put.version != latest + 1 {
        return Err(Refusal::VersionConflict { latest });
    }
    let tier = put.tier.or(current.map(|r| r.tier)).unwrap_or_default();
    let mut stamp_legacy = None;
    if let Some(now) = current.map(|r| r.tier) {
        if tier < now {
            let authorized = put.lower_from.is_some_and(|from| from >= now);
            if !authorized {
                return Err(Refusal::TierDowngradeDenied { current: now });
            }
            stamp_legacy = Some(now);
        }
    }
    let record = SecretRecord {
        secret_type: put
            .secret_type
            .clone()
            .or_else(|| current.map(|r| r.secret_type.clone()))
            .unwrap_or_else(|| DEFAULT_TYPE.to_string()),
        tier,
        latest_version: put.version,
        created_ms: current.map_or(time_ms, |r| r.created_ms),
        updated_ms: time_ms,
        latest_deleted: false,
    };
    let version = VersionRecord {
        created_ms: time_ms,
        deleted_ms: None,
        destroyed: false,
        ciphertext: put.ciphertext.clone(),
        tier: Some(tier),
    };
    Ok(PutOutcome { record, version, stamp_legacy })
}

/// Stamps a version written before versions kept a tier with the tier it was kept behind.
pub fn stamp(version: &mut VersionRecord, tier: Tier) -> bool {
    if version.tier.is_none() {
        version.tier = Some(tier);
        return true;
    }
    false
}

/// The version a soft delete marks: the latest, unless it is deleted already.
pub fn delete_target(record: &SecretRecord) -> Result<u64, Refusal> {
    if record.latest_deleted {
        return Err(Refusal::AlreadyDeleted);
    }
    Ok(record.latest_version)
}

/// Marks the latest version deleted at `time_ms`; its ciphertext stays (a soft delete).
pub fn soft_delete(record: &mut SecretRecord, version: &mut VersionRecord, time_ms: u64) {
    version.deleted_ms = Some(time_ms);
    record.latest_deleted = true;
    record.updated_ms = time_ms;
}

/// Destroys version `number` for good: its ciphertext is dropped, and if it is the latest,
/// the path reads as deleted. A destroyed version can't be destroyed again.
pub fn destroy(
    record: &mut SecretRecord,
    version: &mut VersionRecord,
    number: u64,
    time_ms: u64,
) -> Result<(), Refusal> {
    if version.destroyed {
        return Err(Refusal::AlreadyDeleted);
    }
    version.destroyed = true;
    version.ciphertext = Vec::new();
    version.deleted_ms.get_or_insert(time_ms);
    if number == record.latest_version {
        record.latest_deleted = true;
    }
    record.updated_ms = time_ms;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALL: [Tier; 3] = [Tier::Standard, Tier::Sensitive, Tier::Critical];

    fn record(tier: Tier, latest: u64) -> SecretRecord {
        SecretRecord {
            secret_type: "generic".into(),
            tier,
            latest_version: latest,
            created_ms: 10,
            updated_ms: 20,
            latest_deleted: false,
        }
    }

    fn version(tier: Option<Tier>) -> VersionRecord {
        VersionRecord {
            created_ms: 10,
            deleted_ms: None,
            destroyed: false,
            ciphertext: vec![1, 2, 3],
            tier,
        }
    }

    fn put(version: u64, tier: Option<Tier>, lower_from: Option<Tier>) -> PutSecret {
        PutSecret {
            path: "prod/a/KEY".into(),
            version,
            cas: None,
            secret_type: None,
            tier,
            lower_from,
            ciphertext: vec![version as u8],
        }
    }

    #[test]
    fn effective_tier_is_the_higher_of_version_and_path() {
        for path in ALL {
            for own in ALL {
                let t = effective_tier(&record(path, 1), &version(Some(own)));
                assert_eq!(t, path.max(own), "path {path}, version {own}");
            }
            // A version from before tiers were kept per version: the path's tier.
            assert_eq!(effective_tier(&record(path, 1), &version(None)), path);
        }
    }

    #[test]
    fn a_read_is_about_the_wanted_or_latest_live_version() {
        let mut r = record(Tier::Standard, 4);
        assert_eq!(version_to_read(&r, None), Ok(4));
        assert_eq!(version_to_read(&r, Some(2)), Ok(2));
        r.latest_deleted = true;
        assert_eq!(version_to_read(&r, None), Err(CheckError::LatestDeleted { latest: 4 }));
        // An explicit version is still asked for: readable() judges it.
        assert_eq!(version_to_read(&r, Some(4)), Ok(4));
        assert!(may_appear(&r, 4) && may_appear(&r, 1) && !may_appear(&r, 5));
    }

    #[test]
    fn destroyed_and_deleted_versions_give_no_value() {
        let mut v = version(Some(Tier::Standard));
        assert_eq!(readable(3, &v), Ok(()));
        v.deleted_ms = Some(5);
        assert_eq!(readable(3, &v), Err(CheckError::VersionDeleted { version: 3 }));
        v.destroyed = true;
        assert_eq!(readable(3, &v), Err(CheckError::VersionDestroyed { version: 3 }));
        assert_eq!(
            CheckError::VersionDestroyed { version: 3 }.to_string(),
            "version 3 was destroyed"
        );
    }

    #[test]
    fn write_input_rules() {
        assert_eq!(check_write(MAX_VALUE_BYTES, None), Ok(()));
        assert_eq!(check_write(MAX_VALUE_BYTES + 1, None), Err(CheckError::ValueTooLarge));
        for good in ["api_key", "x", "A-9", &"t".repeat(MAX_TYPE_LEN)] {
            assert_eq!(check_write(1, Some(good)), Ok(()), "{good}");
        }
        for bad in ["", "a b", "é", "a/b", &"t".repeat(MAX_TYPE_LEN + 1)] {
            assert_eq!(check_write(1, Some(bad)), Err(CheckError::BadType), "{bad}");
        }
    }

    #[test]
    fn a_write_plans_the_next_version_and_names_a_lowering() {
        assert_eq!(
            plan_write(None, Some(Tier::Standard)),
            WritePlan { latest: 0, version: 1, lowering: None }
        );
        let r = record(Tier::Sensitive, 7);
        assert_eq!(plan_write(Some(&r), None).lowering, None);
        assert_eq!(plan_write(Some(&r), Some(Tier::Critical)).lowering, None);
        assert_eq!(plan_write(Some(&r), Some(Tier::Sensitive)).lowering, None);
        let p = plan_write(Some(&r), Some(Tier::Standard));
        assert_eq!(p, WritePlan { latest: 7, version: 8, lowering: Some(Tier::Sensitive) });
    }

    #[test]
    fn apply_checks_cas_then_version_then_tier() {
        let r = record(Tier::Critical, 2);
        let mut p = put(3, Some(Tier::Standard), None);
        p.cas = Some(1);
        assert_eq!(
            judge_put(Some(&r), &p, 99),
            Err(Refusal::CasMismatch { expected: 1, actual: 2 })
        );
        p.cas = Some(2);
        p.version = 2;
        assert_eq!(judge_put(Some(&r), &p, 99), Err(Refusal::VersionConflict { latest: 2 }));
        p.version = 3;
        assert_eq!(
            judge_put(Some(&r), &p, 99),
            Err(Refusal::TierDowngradeDenied { current: Tier::Critical })
        );
        p.lower_from = Some(Tier::Sensitive);
        assert_eq!(
            judge_put(Some(&r), &p, 99),
            Err(Refusal::TierDowngradeDenied { current: Tier::Critical })
        );
        p.lower_from = Some(Tier::Critical);
        let out = judge_put(Some(&r), &p, 99).unwrap();
        assert_eq!(out.stamp_legacy, Some(Tier::Critical));
        assert_eq!((out.record.tier, out.record.latest_version), (Tier::Standard, 3));
        assert_eq!((out.record.created_ms, out.record.updated_ms), (10, 99));
        assert_eq!(out.version.tier, Some(Tier::Standard));
    }

    #[test]
    fn a_first_write_takes_defaults_and_later_writes_keep_type_and_tier() {
        let out = judge_put(None, &put(1, None, None), 5).unwrap();
        assert_eq!(out.record.secret_type, DEFAULT_TYPE);
        assert_eq!(out.record.tier, Tier::Standard);
        assert_eq!(out.record.created_ms, 5);
        let mut r = record(Tier::Sensitive, 1);
        r.secret_type = "api_key".into();
        r.latest_deleted = true;
        let out = judge_put(Some(&r), &put(2, None, None), 6).unwrap();
        assert_eq!(
            (out.record.secret_type.as_str(), out.record.tier),
            ("api_key", Tier::Sensitive)
        );
        assert!(!out.record.latest_deleted, "a new version is live again");
        assert_eq!(out.stamp_legacy, None);
    }

    #[test]
    fn delete_and_destroy_rules() {
        let mut r = record(Tier::Standard, 2);
        let mut v = version(Some(Tier::Standard));
        assert_eq!(delete_target(&r), Ok(2));
        soft_delete(&mut r, &mut v, 50);
        assert!(r.latest_deleted && v.deleted_ms == Some(50) && !v.ciphertext.is_empty());
        assert_eq!(delete_target(&r), Err(Refusal::AlreadyDeleted));
        // Destroying keeps the first deletion time and drops the ciphertext.
        assert_eq!(destroy(&mut r, &mut v, 2, 60), Ok(()));
        assert!(v.destroyed && v.ciphertext.is_empty() && v.deleted_ms == Some(50));
        assert_eq!(destroy(&mut r, &mut v, 2, 70), Err(Refusal::AlreadyDeleted));
        // Destroying an older version leaves the latest live.
        let mut r = record(Tier::Standard, 3);
        let mut old = version(None);
        assert_eq!(destroy(&mut r, &mut old, 1, 80), Ok(()));
        assert!(!r.latest_deleted && old.deleted_ms == Some(80));
    }

    #[test]
    fn stamping_never_overwrites_a_versions_own_tier() {
        let mut v = version(None);
        assert!(stamp(&mut v, Tier::Critical));
        assert_eq!(v.tier, Some(Tier::Critical));
        assert!(!stamp(&mut v, Tier::Standard));
        assert_eq!(v.tier, Some(Tier::Critical));
    }

    fn tier() -> impl Strategy<Value = Tier> {
        prop_oneof![Just(Tier::Standard), Just(Tier::Sensitive), Just(Tier::Critical)]
    }

    proptest! {
        /// What the leader plans from a record is what the apply accepts against the same
        /// record, and it lowers the tier exactly when the plan said it needs the authority.
        #[test]
        fn the_plan_and_the_apply_agree(
            now in proptest::option::of(tier()),
            latest in 1u64..1000,
            wanted in proptest::option::of(tier()),
        ) {
            let current = now.map(|t| record(t, latest));
            let plan = plan_write(current.as_ref(), wanted);
            let p = put(plan.version, wanted, plan.lowering);
            let out = judge_put(current.as_ref(), &p, 1).unwrap();
            prop_assert_eq!(out.stamp_legacy, plan.lowering);
            prop_assert_eq!(out.record.latest_version, plan.version);
            if let Some(now) = now {
                prop_assert_eq!(plan.lowering.is_some(), out.record.tier < now);
                // Without the authority, the same write is refused.
                let bare = put(plan.version, wanted, None);
                prop_assert_eq!(
                    judge_put(current.as_ref(), &bare, 1).is_err(),
                    plan.lowering.is_some()
                );
            }
        }
    }
}
