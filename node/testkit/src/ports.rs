//! Free loopback ports for a cluster: a base port `P` such that the API ports `P..P+n` and the
//! cluster ports `P+100..P+100+n` all bind on 127.0.0.1 now. Bases are handed out 200 apart
//! from a per-process starting point (so parallel tests of one process and parallel test
//! processes pick different ones), below the Linux ephemeral range (32768+) that outgoing
//! connections draw from.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

const LOW: u32 = 10_000;
/// `LOW + SPAN + 200 < 32768`.
const SPAN: u32 = 22_000;
const STEP: u32 = 200;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Whether `base..base+n` and `base+100..base+100+n` all bind on 127.0.0.1 now.
pub fn ports_free(base: u16, n: u16) -> bool {
    let mut held = Vec::new();
    for port in (base..base + n).chain(base + 100..base + 100 + n) {
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => held.push(l),
            Err(_) => return false,
        }
    }
    true
}

/// A base port for `n` nodes (at most 100) whose ports are free now; `None` when every
/// candidate between 10000 and 32000 is taken.
pub fn free_base_port(n: u16) -> Option<u16> {
    assert!(n <= 100, "a base port serves at most 100 nodes");
    let seed = (std::process::id() % (SPAN / STEP)) * STEP;
    for _ in 0..SPAN / STEP {
        let k = NEXT.fetch_add(STEP, Ordering::SeqCst);
        let base = LOW + (seed + k) % SPAN;
        let base = u16::try_from(base).expect("below 32768");
        if ports_free(base, n) {
            return Some(base);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_are_free_distinct_and_below_the_ephemeral_range() {
        let a = free_base_port(5).unwrap();
        let b = free_base_port(5).unwrap();
        assert_ne!(a, b);
        for base in [a, b] {
            assert!((10_000..32_000).contains(&base), "{base}");
        }
        let held = TcpListener::bind(("127.0.0.1", a + 101)).unwrap();
        assert!(!ports_free(a, 5), "a held cluster port counts");
        drop(held);
    }
}
