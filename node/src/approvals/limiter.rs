//! New approval requests after denials, limited per requester and path on one node: approvers
//! are not flooded, the requester is slowed, never locked out.

/// New requests one requester may open for one path after denials, per window, on one node.
pub const REOPENS_PER_WINDOW: u32 = 5;
/// The window of [`REOPENS_PER_WINDOW`].
pub const REOPEN_WINDOW: std::time::Duration = std::time::Duration::from_secs(3600);
/// Most (requester, path) pairs one node tracks.
const REOPEN_CAPACITY: usize = 10_000;

/// Limits how often a denied requester asks again for the same path: approvers are not
/// flooded, the requester is slowed, never locked out. Per node, in memory, like the
/// failed-auth limiter.
#[derive(Default)]
pub struct ReopenLimiter {
    windows: std::sync::Mutex<std::collections::HashMap<Vec<u8>, (std::time::Instant, u32)>>,
}

impl ReopenLimiter {
    /// Counts one new request for `key` (a [`Requester::key`]); `Err(wait)` when the window's
    /// allowance is used up.
    pub fn try_reopen(
        &self,
        key: &[u8],
        now: std::time::Instant,
    ) -> Result<(), std::time::Duration> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= REOPEN_CAPACITY && !windows.contains_key(key) {
            windows.retain(|_, (start, _)| now.duration_since(*start) < REOPEN_WINDOW);
            if windows.len() >= REOPEN_CAPACITY {
                windows.clear();
            }
        }
        let entry = windows.entry(key.to_vec()).or_insert((now, 0));
        if now.duration_since(entry.0) >= REOPEN_WINDOW {
            *entry = (now, 0);
        }
        if entry.1 >= REOPENS_PER_WINDOW {
            return Err(REOPEN_WINDOW.saturating_sub(now.duration_since(entry.0)));
        }
        entry.1 += 1;
        Ok(())
    }
}
