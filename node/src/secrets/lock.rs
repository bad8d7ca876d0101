//! The per-path write lock of a leader: writes to one path are planned, encrypted and
//! proposed one at a time, so concurrent writers of a path rarely race for the same version
//! (the version-conflict retry in [`super::service`] covers the rest).

use tokio::sync::{Mutex, MutexGuard};

/// Stripes of the per-path write lock. A write holds its stripe through a whole Raft commit, so
/// with 64 stripes 256 concurrent writers of different paths queued behind each other; 1024
/// stripes (some 40 KiB of mutexes) leave collisions rare at that concurrency.
const STRIPES: usize = 1024;

/// Striped mutexes, one stripe per path hash.
pub struct PathLocks {
    stripes: Vec<Mutex<()>>,
}

impl Default for PathLocks {
    fn default() -> Self {
        Self { stripes: (0..STRIPES).map(|_| Mutex::new(())).collect() }
    }
}

impl PathLocks {
    /// Waits for the stripe of `path` and holds it until the guard drops.
    pub async fn lock(&self, path: &str) -> MutexGuard<'_, ()> {
        self.stripes[stripe(path)].lock().await
    }
}

/// FNV-1a of the path, onto a stripe.
fn stripe(path: &str) -> usize {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in path.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    (h % STRIPES as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_spread_over_the_stripes() {
        let used: std::collections::HashSet<usize> =
            (0..256).map(|i| stripe(&format!("prod/svc/KEY_{i}"))).collect();
        // 256 paths on 1024 stripes: a few collisions at most.
        assert!(used.len() > 220, "{} stripes for 256 paths", used.len());
        assert_eq!(stripe("a/b"), stripe("a/b"));
    }

    #[tokio::test]
    async fn one_path_is_held_by_one_writer_at_a_time() {
        let locks = PathLocks::default();
        let held = locks.lock("prod/a/KEY").await;
        assert!(locks.stripes[stripe("prod/a/KEY")].try_lock().is_err());
        drop(held);
        assert!(locks.stripes[stripe("prod/a/KEY")].try_lock().is_ok());
    }
}
