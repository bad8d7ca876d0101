//! Cluster time as this node knows it: leader-stamped time from the log, carried forward by
//! this node's monotonic clock.
//!
//! Every command carries the leader's wall-clock time; the state machine reports the latest it
//! applied to [`LeaderClock::observe`]. Expiry is judged by [`LeaderClock::now_ms`], the later
//! of that estimate and this node's wall clock minus the allowed skew: a node whose wall clock
//! runs behind cannot extend a token, and one whose clock runs ahead only ends tokens early.
//! The leader writes a `Tick` when the log is idle, so followers' estimates stay fresh.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The latest leader time seen, and when it was seen.
#[derive(Debug)]
pub struct LeaderClock {
    seen: Mutex<Option<(u64, Instant)>>,
    max_skew_ms: u64,
}

impl LeaderClock {
    pub fn new(max_skew_ms: u64) -> Self {
        Self { seen: Mutex::new(None), max_skew_ms }
    }

    /// Records leader time `leader_ms`, applied just now.
    pub fn observe(&self, leader_ms: u64) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.is_none_or(|(ms, _)| leader_ms >= ms) {
            *seen = Some((leader_ms, Instant::now()));
        }
    }

    /// Leader time carried forward by the monotonic clock, if any was seen.
    pub fn leader_estimate_ms(&self) -> Option<u64> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.map(|(ms, at)| ms.saturating_add(at.elapsed().as_millis() as u64))
    }

    /// How long ago leader time was last seen.
    pub fn age(&self) -> Option<Duration> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.map(|(_, at)| at.elapsed())
    }

    /// The time expiry is judged against, ms since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        let wall = wall_ms().saturating_sub(self.max_skew_ms);
        self.leader_estimate_ms().map_or(wall, |leader| leader.max(wall))
    }
}

impl Default for LeaderClock {
    fn default() -> Self {
        Self::new(crate::config::DEFAULT_MAX_CLOCK_SKEW_MS)
    }
}

/// This machine's wall clock, ms since the Unix epoch.
pub fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Wall-clock time in ms since the Unix epoch; used only by the leader to stamp commands.
pub fn now_ms() -> u64 {
    wall_ms()
}

/// RFC 3339 form of a leader-stamped time.
pub fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wall_clock_behind_cannot_pull_time_back() {
        let clock = LeaderClock::new(5000);
        let leader_now = wall_ms() + 3_600_000; // the leader is an hour "ahead" of this node
        clock.observe(leader_now);
        assert!(clock.now_ms() >= leader_now);
    }

    #[test]
    fn without_leader_time_the_wall_clock_minus_skew_counts() {
        let clock = LeaderClock::new(5000);
        let now = clock.now_ms();
        let wall = wall_ms();
        assert!(now <= wall - 5000 + 50 && now + 50 >= wall - 5000);
    }

    #[test]
    fn older_observations_never_move_time_back() {
        let clock = LeaderClock::new(0);
        clock.observe(2_000_000_000_000);
        clock.observe(1_000);
        assert!(clock.leader_estimate_ms().unwrap() >= 2_000_000_000_000);
    }
}
