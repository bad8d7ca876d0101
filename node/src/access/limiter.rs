//! Brute-force protection: a bounded count of failed authentications per client.
//!
//! This module owns the decision "may this client try to authenticate now?". Each client
//! gets a window that opens at its first failure; once it has `max_failures` failures inside
//! the window, [`FailureLimiter::check`] refuses it, with the time left, until the window has
//! passed. Time is always a parameter (`now`), never read here.
//!
//! Clients are keyed by IPv4 address, or by IPv6 `/64` (one host usually holds a whole /64
//! and can rotate through it freely); IPv4-mapped IPv6 addresses count as IPv4. Memory is
//! bounded: at most `capacity` clients are tracked. When a new client would exceed that,
//! clients whose windows have passed are forgotten first, then the one whose window opened
//! earliest. Both are found in O(log n) through an index ordered by window start.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Default failures allowed per window.
pub const DEFAULT_MAX_FAILURES: u32 = 20;
/// Default window.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
/// Default number of clients tracked at once.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// Per-client limit on failed authentications. `Send + Sync`; share it behind an `Arc`.
#[derive(Debug)]
pub struct FailureLimiter {
    max_failures: u32,
    window: Duration,
    capacity: usize,
    inner: Mutex<Inner>,
}

/// The client key: the address with IPv6 cut to its /64.
type Key = IpAddr;

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    /// `(window start, sequence)` → key, oldest first.
    by_start: BTreeMap<(Instant, u64), Key>,
    next_seq: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    start: Instant,
    seq: u64,
    failures: u32,
}

fn key(ip: IpAddr) -> Key {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !(u128::from(u64::MAX));
            IpAddr::V6(Ipv6Addr::from(bits))
        }
    }
}

impl Default for FailureLimiter {
    /// [`DEFAULT_MAX_FAILURES`] per [`DEFAULT_WINDOW`], tracking up to [`DEFAULT_CAPACITY`]
    /// clients.
    fn default() -> Self {
        FailureLimiter::new(DEFAULT_MAX_FAILURES, DEFAULT_WINDOW)
    }
}

impl FailureLimiter {
    /// Allows `max_failures` failures per `window` per client, tracking up to
    /// [`DEFAULT_CAPACITY`] clients. A `max_failures` of zero is taken as one; a zero
    /// `window` never refuses anyone.
    pub fn new(max_failures: u32, window: Duration) -> FailureLimiter {
        FailureLimiter::with_capacity(max_failures, window, DEFAULT_CAPACITY)
    }

    /// Like [`FailureLimiter::new`], tracking up to `capacity` clients (zero is taken as one).
    pub fn with_capacity(max_failures: u32, window: Duration, capacity: usize) -> FailureLimiter {
        FailureLimiter {
            max_failures: max_failures.max(1),
            window,
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Failures allowed per window.
    pub fn max_failures(&self) -> u32 {
        self.max_failures
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Most clients tracked at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update below leaves the maps usable even if cut short, so a poisoned lock
        // is taken over rather than propagated.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Time elapsed in `entry`'s window at `now`; zero if `now` is before the window opened
    /// (instants taken on other threads can arrive slightly out of order).
    fn elapsed(entry: &Entry, now: Instant) -> Duration {
        now.saturating_duration_since(entry.start)
    }

    fn expired(&self, entry: &Entry, now: Instant) -> bool {
        Self::elapsed(entry, now) >= self.window
    }

    /// `Ok` when `ip` may try to authenticate at `now`; otherwise how long until it may.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let inner = self.lock();
        let Some(entry) = inner.entries.get(&key(ip)) else {
            return Ok(());
        };
        if self.expired(entry, now) || entry.failures < self.max_failures {
            return Ok(());
        }
        Err(self.window.saturating_sub(Self::elapsed(entry, now)))
    }

    /// Counts one failed authentication from `ip` at `now`.
    pub fn record_failure(&self, ip: IpAddr, now: Instant) {
        let k = key(ip);
        let mut guard = self.lock();
        let inner = &mut *guard;
        self.forget_expired(inner, now);
        if let Some(entry) = inner.entries.get_mut(&k) {
            if !self.expired(entry, now) {
                entry.failures = entry.failures.saturating_add(1);
                return;
            }
        }
        // A new window for this client: replace any old entry and its index slot.
        if let Some(old) = inner.entries.remove(&k) {
            inner.by_start.remove(&(old.start, old.seq));
        }
        while inner.entries.len() >= self.capacity {
            if !Self::evict_oldest(inner) {
                break;
            }
        }
        let seq = inner.next_seq;
        inner.next_seq = inner.next_seq.wrapping_add(1);
        inner.entries.insert(k, Entry { start: now, seq, failures: 1 });
        inner.by_start.insert((now, seq), k);
    }

    /// How many clients are tracked now (windows passed or not).
    pub fn tracked(&self) -> usize {
        self.lock().entries.len()
    }

    /// Drops every client whose window has passed at `now`. Each entry is dropped once, so
    /// over time this costs O(log n) per recorded failure.
    fn forget_expired(&self, inner: &mut Inner, now: Instant) {
        while let Some((&(start, seq), &k)) = inner.by_start.first_key_value() {
            if now.saturating_duration_since(start) < self.window {
                break;
            }
            inner.by_start.remove(&(start, seq));
            Self::remove_if_current(inner, k, seq);
        }
    }

    /// Drops the client whose window opened earliest; `false` if the index is empty.
    fn evict_oldest(inner: &mut Inner) -> bool {
        let Some(((_, seq), k)) = inner.by_start.pop_first() else {
            // The index is empty; if entries remain, they are unreachable leftovers of an
            // interrupted update, so clear them rather than grow without bound.
            inner.entries.clear();
            return false;
        };
        Self::remove_if_current(inner, k, seq);
        true
    }

    fn remove_if_current(inner: &mut Inner, k: Key, seq: u64) {
        if inner.entries.get(&k).is_some_and(|e| e.seq == seq) {
            inner.entries.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    fn ip(s: &str) -> IpAddr {
        match s.parse() {
            Ok(ip) => ip,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn defaults() {
        let l = FailureLimiter::default();
        assert_eq!(l.max_failures(), 20);
        assert_eq!(l.window(), secs(60));
        assert_eq!(l.capacity(), 100_000);
        assert_eq!(l.tracked(), 0);
        let n = FailureLimiter::new(5, secs(10));
        assert_eq!(n.max_failures(), 5);
        assert_eq!(n.window(), secs(10));
        assert_eq!(n.capacity(), DEFAULT_CAPACITY);
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<FailureLimiter>();
    }

    #[test]
    fn locks_after_max_failures_until_the_window_passes() {
        let l = FailureLimiter::with_capacity(3, secs(60), 100);
        let t0 = Instant::now();
        let a = ip("203.0.113.7");
        assert_eq!(l.check(a, t0), Ok(()));
        l.record_failure(a, t0);
        l.record_failure(a, t0 + secs(1));
        assert_eq!(l.check(a, t0 + secs(2)), Ok(()));
        l.record_failure(a, t0 + secs(10));
        assert_eq!(l.check(a, t0 + secs(10)), Err(secs(50)));
        assert_eq!(l.check(a, t0 + secs(59)), Err(secs(1)));
        assert_eq!(l.check(a, t0 + Duration::from_millis(59_999)), Err(Duration::from_millis(1)));
        assert_eq!(l.check(a, t0 + secs(60)), Ok(()));
        // After the window a fresh one opens with the next failure.
        l.record_failure(a, t0 + secs(61));
        assert_eq!(l.check(a, t0 + secs(61)), Ok(()));
        l.record_failure(a, t0 + secs(62));
        l.record_failure(a, t0 + secs(63));
        assert_eq!(l.check(a, t0 + secs(63)), Err(secs(58)));
    }

    #[test]
    fn failures_while_locked_do_not_extend_the_lock() {
        let l = FailureLimiter::with_capacity(2, secs(60), 100);
        let t0 = Instant::now();
        let a = ip("198.51.100.1");
        for i in 0..50 {
            l.record_failure(a, t0 + secs(i));
        }
        assert_eq!(l.check(a, t0 + secs(50)), Err(secs(10)));
        assert_eq!(l.check(a, t0 + secs(60)), Ok(()));
    }

    #[test]
    fn clients_are_independent() {
        let l = FailureLimiter::with_capacity(1, secs(60), 100);
        let t0 = Instant::now();
        l.record_failure(ip("1.1.1.1"), t0);
        assert!(l.check(ip("1.1.1.1"), t0).is_err());
        assert_eq!(l.check(ip("1.1.1.2"), t0), Ok(()));
        assert_eq!(l.check(ip("2001:db8:0:1::1"), t0), Ok(()));
    }

    #[test]
    fn mapped_ipv4_and_ipv6_slash_64_share_a_counter() {
        let l = FailureLimiter::with_capacity(2, secs(60), 100);
        let t0 = Instant::now();
        l.record_failure(ip("10.0.0.1"), t0);
        l.record_failure(ip("::ffff:10.0.0.1"), t0);
        assert!(l.check(ip("10.0.0.1"), t0).is_err());
        assert!(l.check(ip("::ffff:10.0.0.1"), t0).is_err());

        l.record_failure(ip("2001:db8:1:2::1"), t0);
        l.record_failure(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), t0);
        assert!(l.check(ip("2001:db8:1:2::99"), t0).is_err());
        assert_eq!(l.check(ip("2001:db8:1:3::1"), t0), Ok(()));
        assert_eq!(l.tracked(), 2);
    }

    #[test]
    fn instants_out_of_order_never_panic() {
        let l = FailureLimiter::with_capacity(2, secs(60), 100);
        let t0 = Instant::now() + secs(1000);
        let a = ip("192.0.2.1");
        l.record_failure(a, t0);
        l.record_failure(a, t0 - secs(5));
        // Before the window opened: the full window is left.
        assert_eq!(l.check(a, t0 - secs(10)), Err(secs(60)));
        assert_eq!(l.check(a, t0 + secs(30)), Err(secs(30)));
    }

    #[test]
    fn degenerate_parameters() {
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        // Zero failures is taken as one.
        let l = FailureLimiter::with_capacity(0, secs(60), 0);
        assert_eq!(l.max_failures(), 1);
        assert_eq!(l.capacity(), 1);
        assert_eq!(l.check(a, t0), Ok(()));
        l.record_failure(a, t0);
        assert_eq!(l.check(a, t0), Err(secs(60)));
        // A zero window never refuses.
        let z = FailureLimiter::with_capacity(1, Duration::ZERO, 10);
        for _ in 0..10 {
            z.record_failure(a, t0);
        }
        assert_eq!(z.check(a, t0), Ok(()));
        // A huge window doesn't overflow.
        let h = FailureLimiter::with_capacity(1, Duration::MAX, 10);
        h.record_failure(a, t0);
        assert!(h.check(a, t0 + secs(1_000_000)).is_err());
    }

    #[test]
    fn memory_is_bounded_and_expired_go_first() {
        let l = FailureLimiter::with_capacity(1, secs(60), 3);
        let t0 = Instant::now();
        let (a, b, c, d) = (ip("10.0.0.1"), ip("10.0.0.2"), ip("10.0.0.3"), ip("10.0.0.4"));
        l.record_failure(a, t0);
        l.record_failure(b, t0 + secs(10));
        l.record_failure(c, t0 + secs(20));
        assert_eq!(l.tracked(), 3);
        // At t0+65 `a`'s window has passed: it goes, b and c stay locked.
        l.record_failure(d, t0 + secs(65));
        assert_eq!(l.tracked(), 3);
        assert!(l.check(b, t0 + secs(65)).is_err());
        assert!(l.check(c, t0 + secs(65)).is_err());
        assert!(l.check(d, t0 + secs(65)).is_err());
        // Nothing expired: the oldest window (b, opened at +10) is evicted.
        let e = ip("10.0.0.5");
        l.record_failure(e, t0 + secs(66));
        assert_eq!(l.tracked(), 3);
        assert_eq!(l.check(b, t0 + secs(66)), Ok(()));
        assert!(l.check(c, t0 + secs(66)).is_err());
        assert!(l.check(d, t0 + secs(66)).is_err());
        assert!(l.check(e, t0 + secs(66)).is_err());
    }

    #[test]
    fn many_clients_stay_within_capacity() {
        let l = FailureLimiter::with_capacity(5, secs(60), 1000);
        let t0 = Instant::now();
        for i in 0..20_000u32 {
            let a = IpAddr::V4(Ipv4Addr::from(i));
            l.record_failure(a, t0 + Duration::from_millis(u64::from(i)));
            assert!(l.tracked() <= 1000);
        }
        // Old entries are also forgotten as time passes.
        l.record_failure(ip("10.9.9.9"), t0 + secs(10_000));
        assert_eq!(l.tracked(), 1);
    }

    #[test]
    fn shared_between_threads() {
        let l = Arc::new(FailureLimiter::with_capacity(100, secs(60), 1000));
        let t0 = Instant::now();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let l = Arc::clone(&l);
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        l.record_failure(ip("10.0.0.1"), t0);
                    }
                })
            })
            .collect();
        for h in handles {
            assert!(h.join().is_ok());
        }
        assert_eq!(l.check(ip("10.0.0.1"), t0), Err(secs(60)));
    }

    #[test]
    fn survives_a_poisoned_lock() {
        let l = Arc::new(FailureLimiter::with_capacity(1, secs(60), 10));
        let l2 = Arc::clone(&l);
        let r = std::thread::spawn(move || {
            let _guard = l2.inner.lock();
            panic!("poison the lock");
        })
        .join();
        assert!(r.is_err());
        assert!(l.inner.is_poisoned());
        let t0 = Instant::now();
        l.record_failure(ip("10.0.0.1"), t0);
        assert!(l.check(ip("10.0.0.1"), t0).is_err());
    }

    /// A reference model: unbounded, one counter per key, the same window rule.
    #[derive(Default)]
    struct Model {
        m: HashMap<IpAddr, (u64, u32)>,
    }

    impl Model {
        fn check(&self, k: IpAddr, now: u64, max: u32, window: u64) -> Result<(), Duration> {
            match self.m.get(&k) {
                Some(&(start, n)) if now.saturating_sub(start) < window && n >= max => {
                    Err(secs(window - now.saturating_sub(start)))
                }
                _ => Ok(()),
            }
        }

        fn record(&mut self, k: IpAddr, now: u64, window: u64) {
            let e = self.m.entry(k).or_insert((now, 0));
            if now.saturating_sub(e.0) >= window {
                *e = (now, 0);
            }
            e.1 = e.1.saturating_add(1);
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Check(u8),
        Fail(u8),
        Wait(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            1 => (0u8..4).prop_map(Op::Check),
            3 => (0u8..4).prop_map(Op::Fail),
            1 => (0u64..30).prop_map(Op::Wait),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn prop_matches_the_model(ops in prop::collection::vec(op(), 0..200), max in 1u32..5, window in 1u64..60) {
            let l = FailureLimiter::with_capacity(max, secs(window), 1000);
            let mut model = Model::default();
            let t0 = Instant::now();
            let mut now = 0u64;
            for op in ops {
                match op {
                    Op::Wait(d) => now += d,
                    Op::Fail(i) => {
                        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, i));
                        l.record_failure(a, t0 + secs(now));
                        model.record(a, now, window);
                    }
                    Op::Check(i) => {
                        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, i));
                        prop_assert_eq!(l.check(a, t0 + secs(now)), model.check(a, now, max, window));
                    }
                }
            }
        }

        #[test]
        fn prop_bounded_and_never_panics(
            ops in prop::collection::vec((any::<u32>(), 0u64..100, any::<bool>()), 0..300),
            cap in 1usize..20,
        ) {
            let l = FailureLimiter::with_capacity(3, secs(50), cap);
            let t0 = Instant::now() + secs(1000);
            for (addr, t, fail) in ops {
                // Times jump back and forth on purpose.
                let now = t0 + secs(t) - secs(50);
                let a = IpAddr::V4(Ipv4Addr::from(addr % 64));
                if fail {
                    l.record_failure(a, now);
                } else if let Err(wait) = l.check(a, now) {
                    prop_assert!(wait <= secs(50));
                }
                prop_assert!(l.tracked() <= cap);
            }
        }
    }
}
