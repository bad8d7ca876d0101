//! TTLs (`access::ttl`): an accepted TTL is above zero and at most `MAX_TTL`, and
//! `parse_ttl(format_ttl(d)) == d`; any whole number of seconds in range formats to a string
//! that parses back to it.
#![no_main]

use std::time::Duration;

use ass_node::access::ttl::{format_ttl, parse_ttl, MAX_TTL};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() >= 8 {
        let secs = u64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
        let d = Duration::from_secs(1 + secs % MAX_TTL.as_secs());
        assert_eq!(parse_ttl(&format_ttl(d)), Ok(d), "format_ttl({d:?})");
    }
    let Some(s) = ass_node_fuzz::text(data) else { return };
    let Ok(d) = parse_ttl(s) else { return };
    assert!(d > Duration::ZERO && d <= MAX_TTL, "{s:?} gave {d:?}");
    assert_eq!(d.subsec_nanos(), 0);
    let printed = format_ttl(d);
    assert_eq!(parse_ttl(&printed), Ok(d), "{s:?} → {printed:?}");
});
