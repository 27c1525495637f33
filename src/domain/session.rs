//! Sign-in sessions (for the web UI, in a cookie) and personal API tokens (for programs), and the
//! rules for when a session ends (R-ACC-4). Pure.

use serde::{Deserialize, Serialize};

use super::ids::{TokenId, UserId};

/// A signed-in browser, stored under the SHA-256 of its cookie value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub user: UserId,
    pub created_at: u64,
    pub last_seen_at: u64,
    /// Sent back by the UI in `X-CSRF-Token` on every state-changing request.
    pub csrf: String,
    pub address: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Ends after this long without a request.
    pub idle_ms: u64,
    /// Ends this long after sign-in, however active.
    pub max_ms: u64,
}

impl Session {
    pub fn is_alive(&self, now: u64, limits: SessionLimits) -> bool {
        now.saturating_sub(self.last_seen_at) <= limits.idle_ms && now.saturating_sub(self.created_at) <= limits.max_ms
    }

    /// The first moment the session is no longer alive, unless a request touches it first.
    pub fn ends_at(&self, limits: SessionLimits) -> u64 {
        let idle_end = self.last_seen_at.saturating_add(limits.idle_ms);
        let max_end = self.created_at.saturating_add(limits.max_ms);
        idle_end.min(max_end).saturating_add(1)
    }

    /// Recording every request would write on every click: a request records itself once a
    /// minute, or once a quarter of the idle limit when that is shorter. (A fixed minute signed
    /// out a busy user whose idle limit was the minimum, one minute: issue 13, finding 7.)
    pub fn needs_touch(&self, now: u64, limits: SessionLimits) -> bool {
        now.saturating_sub(self.last_seen_at) >= (limits.idle_ms / 4).min(60_000)
    }
}

/// A personal API token, stored under the SHA-256 of its value; the value is shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: TokenId,
    pub user: UserId,
    pub name: String,
    pub created_at: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ends_when_idle_or_old() {
        let limits = SessionLimits { idle_ms: 1_000, max_ms: 10_000 };
        let session = Session {
            user: UserId(1),
            created_at: 0,
            last_seen_at: 5_000,
            csrf: String::new(),
            address: String::new(),
        };
        assert!(session.is_alive(6_000, limits));
        assert!(!session.is_alive(6_001, limits), "idle too long");
        let busy = Session { last_seen_at: 10_000, ..session.clone() };
        assert!(busy.is_alive(10_000, limits));
        assert!(!busy.is_alive(10_001, limits), "past the absolute limit");
        assert!(!busy.needs_touch(10_249, limits) && busy.needs_touch(10_250, limits), "a quarter of a short limit");
        let hours = SessionLimits { idle_ms: 8 * 3_600_000, max_ms: 7 * 86_400_000 };
        assert!(!busy.needs_touch(69_999, hours) && busy.needs_touch(70_000, hours), "a minute at most");
        assert_eq!(session.ends_at(limits), 6_001, "idle first");
        assert_eq!(busy.ends_at(limits), 10_001, "the absolute limit first");
        assert!(busy.is_alive(busy.ends_at(limits) - 1, limits) && !busy.is_alive(busy.ends_at(limits), limits));
    }

    #[test]
    fn a_request_every_so_often_keeps_a_session_at_the_shortest_idle_limit_alive() {
        let limits = SessionLimits { idle_ms: 60_000, max_ms: 3_600_000 };
        let mut session =
            Session { user: UserId(1), created_at: 0, last_seen_at: 0, csrf: String::new(), address: String::new() };
        // A click every 40 s for ten minutes, each touching the session when it says so.
        for now in (40_000..600_000).step_by(40_000) {
            assert!(session.is_alive(now, limits), "signed out at {now} ms while active");
            if session.needs_touch(now, limits) {
                session.last_seen_at = now;
            }
        }
    }
}
