//! When an agent whose last staff socket closed counts as offline, and when her conversations go
//! back to the queue (R-CONV-2, R-CONV-4). Pure: the caller passes `now` and runs the timers.
//!
//! Each offline period is timed from its own start: every connect or last disconnect bumps the
//! user's generation, and a timer acts only while the generation it was started with is current.

use std::collections::HashMap;

use super::ids::UserId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceLimits {
    /// Offline this long after the last socket closed: the agent counts as offline.
    pub grace_ms: u64,
    /// Offline this long: her open conversations return to the queue.
    pub return_ms: u64,
}

/// A timer to run: wake at `at` and ask `Presence::due` with this generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    pub user: UserId,
    pub generation: u64,
    pub at: u64,
}

/// What a timer that woke up must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// The user came back, or a newer offline period has its own timer: stop.
    Stale,
    /// Not yet (woken early, or the clock moved back): sleep until `at`.
    Wait { at: u64 },
    /// Record the user as offline, then wake again at `next` to return her work.
    GoOffline { next: u64 },
    /// Return her open conversations to the queue; this timer ends.
    ReturnWork,
}

#[derive(Debug, Clone, Default)]
struct Entry {
    sockets: usize,
    generation: u64,
    /// When the current offline period began, while there is one.
    offline_since: Option<u64>,
    /// Whether this offline period already recorded the user as offline.
    marked: bool,
}

/// Every user's open sockets and the generation of their current offline timer.
#[derive(Debug, Clone, Default)]
pub struct Presence {
    users: HashMap<UserId, Entry>,
}

impl Presence {
    pub fn is_online(&self, user: UserId) -> bool {
        self.users.get(&user).is_some_and(|entry| entry.sockets > 0)
    }

    pub fn online_users(&self) -> Vec<UserId> {
        self.users.iter().filter(|(_, entry)| entry.sockets > 0).map(|(user, _)| *user).collect()
    }

    /// A socket opened. True when it is the user's first (she comes online); any timer of a
    /// previous offline period is stale from now on.
    pub fn connect(&mut self, user: UserId) -> bool {
        let entry = self.users.entry(user).or_default();
        entry.sockets += 1;
        if entry.sockets == 1 {
            entry.generation += 1;
            entry.offline_since = None;
            entry.marked = false;
            return true;
        }
        false
    }

    /// A socket closed. When it was the last one, a new offline period starts now, with its own
    /// timer (due at the end of the grace period).
    pub fn disconnect(&mut self, user: UserId, now: u64, limits: PresenceLimits) -> Option<Timer> {
        let entry = self.users.get_mut(&user)?;
        entry.sockets = entry.sockets.saturating_sub(1);
        if entry.sockets > 0 {
            return None;
        }
        entry.generation += 1;
        entry.offline_since = Some(now);
        entry.marked = false;
        Some(Timer { user, generation: entry.generation, at: now.saturating_add(limits.grace_ms) })
    }

    /// A timer of `generation` woke at `now`: what to do. Records the step it hands out, so a step
    /// is handed out once.
    pub fn due(&mut self, user: UserId, generation: u64, now: u64, limits: PresenceLimits) -> Due {
        let Some(entry) = self.users.get_mut(&user) else {
            return Due::Stale;
        };
        let Some(since) = entry.offline_since.filter(|_| entry.generation == generation && entry.sockets == 0) else {
            return Due::Stale;
        };
        let offline_at = since.saturating_add(limits.grace_ms);
        let return_at = since.saturating_add(limits.return_ms.max(limits.grace_ms));
        if !entry.marked {
            if now < offline_at {
                return Due::Wait { at: offline_at };
            }
            entry.marked = true;
            return Due::GoOffline { next: return_at };
        }
        if now < return_at {
            return Due::Wait { at: return_at };
        }
        // The period is over: forget it, so a late duplicate timer finds nothing to do.
        entry.offline_since = None;
        Due::ReturnWork
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: PresenceLimits = PresenceLimits { grace_ms: 15_000, return_ms: 300_000 };
    const ANA: UserId = UserId(7);

    /// Runs a timer the way the presence job does, from `timer.at`, stepping the clock to each
    /// wake-up; returns the steps taken with their times, stopping at `until`.
    fn run(presence: &mut Presence, timer: Timer, until: u64) -> Vec<(u64, Due)> {
        let mut steps = Vec::new();
        let mut at = timer.at;
        while at <= until {
            let due = presence.due(timer.user, timer.generation, at, LIMITS);
            steps.push((at, due));
            at = match due {
                Due::Wait { at } | Due::GoOffline { next: at } => at,
                Due::Stale | Due::ReturnWork => break,
            };
        }
        steps
    }

    #[test]
    fn a_reconnect_cancels_the_timer_of_the_earlier_offline_period() {
        let mut presence = Presence::default();
        assert!(presence.connect(ANA));
        let first = presence.disconnect(ANA, 0, LIMITS).unwrap();
        assert!(presence.connect(ANA), "back within the grace period");
        // She closes the tab again just before the first period would have returned her work.
        let last = presence.disconnect(ANA, 290_000, LIMITS).unwrap();
        // The first timer wakes at its grace end and at its return time: both find it stale.
        assert_eq!(run(&mut presence, first, 600_000), vec![(15_000, Due::Stale)]);
        assert_eq!(presence.due(ANA, first.generation, 300_000, LIMITS), Due::Stale);
        // Only the last period's own timer acts, and only after its full length.
        assert_eq!(last.at, 305_000);
        assert_eq!(
            run(&mut presence, last, 600_000),
            vec![(305_000, Due::GoOffline { next: 590_000 }), (590_000, Due::ReturnWork)]
        );
    }

    #[test]
    fn the_grace_period_is_timed_from_the_last_disconnect() {
        let mut presence = Presence::default();
        presence.connect(ANA);
        let first = presence.disconnect(ANA, 0, LIMITS).unwrap();
        presence.connect(ANA);
        let last = presence.disconnect(ANA, 9_000, LIMITS).unwrap();
        // The first timer would have marked her offline at 15 s, 6 s into the new period.
        assert_eq!(presence.due(ANA, first.generation, 15_000, LIMITS), Due::Stale);
        assert_eq!(presence.due(ANA, last.generation, 15_000, LIMITS), Due::Wait { at: 24_000 });
        assert_eq!(presence.due(ANA, last.generation, 24_000, LIMITS), Due::GoOffline { next: 309_000 });
        assert_eq!(presence.due(ANA, last.generation, 308_999, LIMITS), Due::Wait { at: 309_000 });
        assert_eq!(presence.due(ANA, last.generation, 309_000, LIMITS), Due::ReturnWork);
        assert_eq!(presence.due(ANA, last.generation, 309_001, LIMITS), Due::Stale, "handed out once");
    }

    #[test]
    fn an_open_socket_keeps_her_online_whatever_the_timers_say() {
        let mut presence = Presence::default();
        presence.connect(ANA);
        presence.connect(ANA);
        assert_eq!(presence.disconnect(ANA, 0, LIMITS), None, "another tab is still open");
        assert!(presence.is_online(ANA));
        let timer = presence.disconnect(ANA, 1_000, LIMITS).unwrap();
        assert!(!presence.is_online(ANA));
        assert!(presence.connect(UserId(8)));
        assert_eq!(presence.online_users(), vec![UserId(8)]);
        presence.connect(ANA);
        assert_eq!(presence.due(ANA, timer.generation, 400_000, LIMITS), Due::Stale);
        assert_eq!(presence.disconnect(UserId(99), 0, LIMITS), None, "never connected");
    }

    #[test]
    fn a_late_timer_does_both_steps_at_once() {
        // The machine slept past both deadlines: the timer still goes offline first, then returns.
        let mut presence = Presence::default();
        presence.connect(ANA);
        let timer = presence.disconnect(ANA, 0, LIMITS).unwrap();
        assert_eq!(presence.due(ANA, timer.generation, 1_000_000, LIMITS), Due::GoOffline { next: 300_000 });
        assert_eq!(presence.due(ANA, timer.generation, 1_000_000, LIMITS), Due::ReturnWork);
    }
}
