//! The time the server works with: the system clock plus an offset that tests can move forward, so
//! a test can reach "7 days later" without waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Default)]
pub struct Clock {
    skip_ms: Arc<AtomicU64>,
}

impl Clock {
    /// Milliseconds since the Unix epoch.
    pub fn now(&self) -> u64 {
        system_millis().saturating_add(self.skip_ms.load(Ordering::Relaxed))
    }

    /// Moves this clock (and every copy of it) forward.
    pub fn advance(&self, ms: u64) {
        self.skip_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

pub fn system_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}
