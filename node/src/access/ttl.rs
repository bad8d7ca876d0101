//! Token lifetimes as users write them: `90s`, `15m`, `1h`, `8h`, `24h`, `2d`, `1h30m`.
//!
//! This module owns the TTL grammar and its compact display. The grammar is deliberately
//! small and hand-parsed (not `humantime`, which also takes `1 hour`, `1month`, `1.5h`-style
//! and sub-second forms): one or more `<digits><unit>` parts with no spaces, units `d`, `h`,
//! `m`, `s` (lower case), from largest to smallest, each at most once. The total must be
//! above zero and at most [`MAX_TTL`] (365 days). Whether a TTL is within the token policy's
//! maximum (24 hours by default) is the policy's question, not this module's.

use std::time::Duration;

/// The longest TTL this grammar accepts: 365 days.
pub const MAX_TTL: Duration = Duration::from_secs(365 * DAY);

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// Longest excerpt of the input quoted back in an error message, in characters.
const QUOTE_CHARS: usize = 64;

/// Why a TTL is refused; the message names the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TtlError {
    /// Nothing at all.
    #[error("TTL is empty; write e.g. `15m`, `1h` or `1h30m`")]
    Empty,
    /// Whitespace anywhere (including only whitespace).
    #[error("TTL {0:?} contains whitespace; write e.g. `1h30m` without spaces")]
    Whitespace(String),
    /// A leading `-`.
    #[error("TTL {0:?} is negative; a TTL must be above zero")]
    Negative(String),
    /// A character that is neither a digit nor a unit letter.
    #[error("TTL {ttl:?} has an unexpected character {ch:?}; write whole numbers with units d, h, m, s, e.g. `1h30m`")]
    BadCharacter {
        /// The TTL.
        ttl: String,
        /// The character.
        ch: char,
    },
    /// Digits not followed by a unit, e.g. `90`.
    #[error("TTL {0:?} has a number without a unit; add s, m, h or d (e.g. `90s`)")]
    MissingUnit(String),
    /// A unit with no digits before it, e.g. `h`.
    #[error("TTL {ttl:?} has unit `{unit}` without a number before it")]
    MissingNumber {
        /// The TTL.
        ttl: String,
        /// The unit.
        unit: char,
    },
    /// A letter that is not one of `d`, `h`, `m`, `s`.
    #[error("TTL {ttl:?} has unknown unit {unit:?}; use s, m, h or d")]
    UnknownUnit {
        /// The TTL.
        ttl: String,
        /// The unit as written.
        unit: String,
    },
    /// Units out of order or repeated, e.g. `30m1h` or `1h1h`.
    #[error("TTL {0:?} has units out of order or repeated; write them largest first, each once (e.g. `1d2h30m`)")]
    UnitOrder(String),
    /// A total of zero.
    #[error("TTL {0:?} is zero; a TTL must be above zero")]
    Zero(String),
    /// A number too large to count.
    #[error("TTL {0:?} is too large to represent")]
    Overflow(String),
    /// Above [`MAX_TTL`].
    #[error("TTL {0:?} is longer than the 365-day maximum")]
    AboveMaximum(String),
}

fn quote(s: &str) -> String {
    s.chars().take(QUOTE_CHARS).collect()
}

/// Seconds per unit letter, with the unit's rank (larger unit, larger rank).
fn unit_seconds(unit: char) -> Option<(u64, u8)> {
    match unit {
        'd' => Some((DAY, 4)),
        'h' => Some((HOUR, 3)),
        'm' => Some((MINUTE, 2)),
        's' => Some((1, 1)),
        _ => None,
    }
}

/// Parses a TTL such as `90s`, `15m`, `1h`, `8h`, `24h`, `2d` or `1h30m`.
///
/// Refuses the empty string, whitespace, signs, fractions, numbers without a unit, units
/// other than `d`/`h`/`m`/`s`, units out of order or repeated, a zero total, overflow and
/// anything above [`MAX_TTL`]. Each error names the input.
pub fn parse_ttl(s: &str) -> Result<Duration, TtlError> {
    if s.is_empty() {
        return Err(TtlError::Empty);
    }
    if s.chars().any(char::is_whitespace) {
        return Err(TtlError::Whitespace(quote(s)));
    }
    if s.starts_with('-') {
        return Err(TtlError::Negative(quote(s)));
    }
    let overflow = || TtlError::Overflow(quote(s));
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    let mut last_rank: u8 = u8::MAX;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(d) = c.to_digit(10) {
            let n = number.unwrap_or(0);
            number = Some(
                n.checked_mul(10).and_then(|n| n.checked_add(u64::from(d))).ok_or_else(overflow)?,
            );
            continue;
        }
        if !c.is_ascii_alphabetic() {
            return Err(TtlError::BadCharacter { ttl: quote(s), ch: c });
        }
        // A run of letters is one unit as written: `ms`, `min`, `hours` are all unknown.
        let mut unit = String::from(c);
        while let Some(&next) = chars.peek() {
            if !next.is_ascii_alphabetic() {
                break;
            }
            unit.push(next);
            chars.next();
        }
        let Some((secs, rank)) = unit_seconds(c).filter(|_| unit.len() == 1) else {
            return Err(TtlError::UnknownUnit { ttl: quote(s), unit: quote(&unit) });
        };
        let Some(n) = number.take() else {
            return Err(TtlError::MissingNumber { ttl: quote(s), unit: c });
        };
        if rank >= last_rank {
            return Err(TtlError::UnitOrder(quote(s)));
        }
        last_rank = rank;
        total =
            n.checked_mul(secs).and_then(|part| total.checked_add(part)).ok_or_else(overflow)?;
    }
    if number.is_some() {
        return Err(TtlError::MissingUnit(quote(s)));
    }
    if total == 0 {
        return Err(TtlError::Zero(quote(s)));
    }
    let ttl = Duration::from_secs(total);
    if ttl > MAX_TTL {
        return Err(TtlError::AboveMaximum(quote(s)));
    }
    Ok(ttl)
}

/// Writes a duration compactly, largest unit first, zero parts left out: `90s` → `1m30s`,
/// 5400 s → `1h30m`, 86 400 s → `1d`, zero → `0s`. Fractions of a second are dropped.
/// For any TTL [`parse_ttl`] accepts, `parse_ttl(&format_ttl(d)) == Ok(d)`.
pub fn format_ttl(d: Duration) -> String {
    let mut rest = d.as_secs();
    if rest == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, secs) in [('d', DAY), ('h', HOUR), ('m', MINUTE), ('s', 1)] {
        let n = rest / secs;
        rest %= secs;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push(unit);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn guide_forms() {
        for (s, d) in [
            ("90s", 90),
            ("15m", 15 * 60),
            ("1h", 3600),
            ("8h", 8 * 3600),
            ("24h", 24 * 3600),
            ("2d", 2 * 86_400),
            ("1h30m", 5400),
            ("1d2h3m4s", 86_400 + 2 * 3600 + 3 * 60 + 4),
            ("1d30s", 86_430),
            ("90m", 5400),
            ("3600s", 3600),
            ("1h0m", 3600),
            ("0h1s", 1),
            ("01h", 3600),
            ("1s", 1),
            ("365d", 365 * 86_400),
            ("364d23h59m59s", 365 * 86_400 - 1),
            ("8760h", 365 * 86_400),
        ] {
            assert_eq!(parse_ttl(s), Ok(secs(d)), "{s}");
        }
    }

    #[test]
    fn errors() {
        let q = |s: &str| s.to_string();
        assert_eq!(parse_ttl(""), Err(TtlError::Empty));
        for s in [" ", "   ", "\t", "\n", " 1h", "1h ", "1h 30m", "1\u{a0}h"] {
            assert_eq!(parse_ttl(s), Err(TtlError::Whitespace(q(s))), "{s:?}");
        }
        for s in ["-1h", "-0s", "-"] {
            assert_eq!(parse_ttl(s), Err(TtlError::Negative(q(s))), "{s:?}");
        }
        for (s, ch) in [
            ("+1h", '+'),
            ("1.5h", '.'),
            ("1h-30m", '-'),
            ("1h,30m", ','),
            ("1h_", '_'),
            ("١h", '١'),
            ("1h\0", '\0'),
            ("1é", 'é'),
        ] {
            assert_eq!(parse_ttl(s), Err(TtlError::BadCharacter { ttl: q(s), ch }), "{s:?}");
        }
        for s in ["90", "0", "1h30", "007"] {
            assert_eq!(parse_ttl(s), Err(TtlError::MissingUnit(q(s))), "{s:?}");
        }
        for (s, unit) in [("h", 'h'), ("m30s", 'm'), ("d1h", 'd')] {
            assert_eq!(parse_ttl(s), Err(TtlError::MissingNumber { ttl: q(s), unit }), "{s:?}");
        }
        for (s, unit) in [
            ("1H", "H"),
            ("1ms", "ms"),
            ("1min", "min"),
            ("1hour", "hour"),
            ("2w", "w"),
            ("1y", "y"),
            ("1hs", "hs"),
            ("1hm", "hm"),
            ("1D", "D"),
            ("x", "x"),
        ] {
            assert_eq!(
                parse_ttl(s),
                Err(TtlError::UnknownUnit { ttl: q(s), unit: q(unit) }),
                "{s:?}"
            );
        }
        for s in ["30m1h", "1h1h", "1s1m", "1m1d", "1h2h"] {
            assert_eq!(parse_ttl(s), Err(TtlError::UnitOrder(q(s))), "{s:?}");
        }
        for s in ["0s", "0m", "0h", "0d", "0d0h0m0s", "000s"] {
            assert_eq!(parse_ttl(s), Err(TtlError::Zero(q(s))), "{s:?}");
        }
        for s in [
            "99999999999999999999s",
            "18446744073709551616s",
            "999999999999999999d",
            "1d18446744073709551615s",
        ] {
            assert_eq!(parse_ttl(s), Err(TtlError::Overflow(q(s))), "{s:?}");
        }
        for s in ["366d", "365d1s", "8761h", "31536001s", "18446744073709551615s"] {
            assert_eq!(parse_ttl(s), Err(TtlError::AboveMaximum(q(s))), "{s:?}");
        }
    }

    #[test]
    fn messages_name_the_input() {
        for s in ["1.5h", "90", "1hour", "30m1h", "0s", "366d", "-1h", " 1h", "h"] {
            let msg = parse_ttl(s).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(msg.contains(&format!("{s:?}")), "{msg}");
        }
        // Long input is cut, control characters escaped.
        let long = format!("{}x", "1".repeat(10_000));
        let msg = parse_ttl(&long).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.len() < 400, "{msg}");
        let msg = parse_ttl("1h\u{1b}").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(!msg.contains('\u{1b}'), "{msg}");
    }

    #[test]
    fn formatting() {
        for (d, s) in [
            (0, "0s"),
            (1, "1s"),
            (59, "59s"),
            (60, "1m"),
            (90, "1m30s"),
            (900, "15m"),
            (3600, "1h"),
            (5400, "1h30m"),
            (8 * 3600, "8h"),
            (86_400, "1d"),
            (2 * 86_400, "2d"),
            (86_400 + 1, "1d1s"),
            (90_061, "1d1h1m1s"),
            (365 * 86_400, "365d"),
        ] {
            assert_eq!(format_ttl(secs(d)), s, "{d}");
        }
        assert_eq!(format_ttl(Duration::from_millis(1500)), "1s");
        assert_eq!(format_ttl(Duration::from_millis(999)), "0s");
        assert_eq!(format_ttl(Duration::MAX), format!("{}d7h15s", u64::MAX / DAY));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn prop_format_parse_round_trip(n in 1u64..=365 * DAY) {
            let d = secs(n);
            prop_assert_eq!(parse_ttl(&format_ttl(d)), Ok(d));
        }

        #[test]
        fn prop_never_panics_and_bounded(s in "\\PC{0,24}") {
            if let Ok(d) = parse_ttl(&s) {
                prop_assert!(d > Duration::ZERO && d <= MAX_TTL);
                prop_assert_eq!(d.subsec_nanos(), 0);
            }
        }

        #[test]
        fn prop_grammar_like(s in "[0-9]{0,4}[dhms]?[0-9]{0,4}[dhms]?[0-9]{0,3}[dhms]?") {
            if let Ok(d) = parse_ttl(&s) {
                prop_assert!(d > Duration::ZERO && d <= MAX_TTL);
                // Re-formatting and parsing gives the same duration.
                prop_assert_eq!(parse_ttl(&format_ttl(d)), Ok(d));
            }
        }
    }
}
