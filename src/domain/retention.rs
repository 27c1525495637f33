//! What the retention job may delete (issue 14, point 4): delivered webhook deliveries and sent
//! mail past their keeping period, links past their life, sessions past their end. Never what is
//! still needed: a pending delivery, an unsent mail, a live link, a live session. Pure: decided
//! from the record, now and the settings.

use super::mail::Mail;
use super::secret::Link;
use super::session::{Session, SessionLimits};
use super::webhook::Delivery;

pub const DAY_MS: u64 = 86_400_000;

/// At most this many index entries per purge command, so the writer is never held long.
pub const BATCH: usize = 500;

/// How long finished records are kept, and when sessions end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub deliveries_ms: u64,
    pub mail_ms: u64,
    pub sessions: SessionLimits,
}

impl Retention {
    pub fn from_days(webhook_deliveries_days: u64, mail_days: u64, sessions: SessionLimits) -> Retention {
        Retention {
            deliveries_ms: webhook_deliveries_days.saturating_mul(DAY_MS),
            mail_ms: mail_days.saturating_mul(DAY_MS),
            sessions,
        }
    }

    /// Deliveries delivered before this time are due.
    pub fn deliveries_before(&self, now: u64) -> u64 {
        now.saturating_sub(self.deliveries_ms)
    }

    /// Mail sent before this time is due.
    pub fn mail_before(&self, now: u64) -> u64 {
        now.saturating_sub(self.mail_ms)
    }

    /// Sessions last seen before this time have been idle too long.
    pub fn sessions_seen_before(&self, now: u64) -> u64 {
        now.saturating_sub(self.sessions.idle_ms)
    }
}

/// Links that expired before this time are due: a link works up to its expiry, inclusive.
pub fn links_expired_before(now: u64) -> u64 {
    now
}

/// A delivery is deleted once delivered longer ago than the retention; a pending one never.
pub fn delivery_due(delivery: &Delivery, now: u64, retention: &Retention) -> bool {
    delivery.delivered_at.is_some_and(|at| at < retention.deliveries_before(now))
}

/// A mail is deleted once sent longer ago than the retention; an unsent one never.
pub fn mail_due(mail: &Mail, now: u64, retention: &Retention) -> bool {
    mail.sent_at.is_some_and(|at| at < retention.mail_before(now))
}

/// A link is deleted once expired, whatever became of it (used, replaced, revoked or never used):
/// until then it still answers "used" or "replaced" to whoever opens it.
pub fn link_due(link: &Link, now: u64) -> bool {
    link.expires_at() < links_expired_before(now)
}

/// A session is deleted once it has ended (idle too long, or past its absolute limit).
pub fn session_due(session: &Session, now: u64, retention: &Retention) -> bool {
    !session.is_alive(now, retention.sessions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{ChannelId, UserId};
    use crate::domain::secret::{LINK_TTL_MS, LinkKind, LinkState};

    const NOW: u64 = 100 * DAY_MS;

    fn retention() -> Retention {
        Retention::from_days(30, 7, SessionLimits { idle_ms: 3_600_000, max_ms: 7 * DAY_MS })
    }

    fn delivery(delivered_at: Option<u64>) -> Delivery {
        Delivery {
            id: 1,
            channel: ChannelId(1),
            url: String::new(),
            body: String::new(),
            created_at: 0,
            attempts: 1,
            next_at: 0,
            delivered_at,
            last_error: None,
        }
    }

    fn mail(sent_at: Option<u64>) -> Mail {
        Mail {
            id: 1,
            to: String::new(),
            subject: String::new(),
            body: String::new(),
            created_at: 0,
            sent_at,
            attempts: 0,
            last_error: None,
            last_attempt_at: None,
            link: None,
        }
    }

    #[test]
    fn delivered_webhooks_go_after_their_days_and_pending_ones_never() {
        let r = retention();
        assert!(delivery_due(&delivery(Some(NOW - 30 * DAY_MS - 1)), NOW, &r));
        assert!(!delivery_due(&delivery(Some(NOW - 30 * DAY_MS)), NOW, &r), "exactly 30 days: kept");
        assert!(!delivery_due(&delivery(Some(NOW - DAY_MS)), NOW, &r));
        assert!(!delivery_due(&delivery(None), NOW, &r), "pending, however old");
        assert!(!delivery_due(&delivery(Some(0)), 10, &r), "no underflow before the period has passed");
    }

    #[test]
    fn sent_mail_goes_after_its_days_and_unsent_mail_never() {
        let r = retention();
        assert!(mail_due(&mail(Some(NOW - 7 * DAY_MS - 1)), NOW, &r));
        assert!(!mail_due(&mail(Some(NOW - 7 * DAY_MS)), NOW, &r));
        assert!(!mail_due(&mail(None), NOW, &r), "unsent, however old");
    }

    #[test]
    fn links_go_once_expired_whatever_their_state_and_live_ones_stay() {
        let link = |state| Link { kind: LinkKind::Invite, user: UserId(1), created_at: NOW - LINK_TTL_MS, state };
        let open = link(LinkState::Open);
        assert!(open.check(LinkKind::Invite, NOW).is_ok() && !link_due(&open, NOW), "its last valid moment");
        assert!(link_due(&open, NOW + 1) && open.check(LinkKind::Invite, NOW + 1).is_err());
        let used = Link { created_at: NOW, ..link(LinkState::Used) };
        assert!(!link_due(&used, NOW + 1), "used but not expired: it still says so");
        assert!(link_due(&link(LinkState::Replaced), NOW + 1));
    }

    #[test]
    fn sessions_go_once_ended_and_live_ones_stay() {
        let r = retention();
        let session = Session {
            user: UserId(1),
            created_at: NOW - DAY_MS,
            last_seen_at: NOW - 3_600_000,
            csrf: String::new(),
            address: String::new(),
        };
        assert!(!session_due(&session, NOW, &r), "idle exactly the limit: alive");
        assert!(session_due(&session, NOW + 1, &r));
        assert_eq!(r.sessions_seen_before(NOW + 1), session.last_seen_at + 1, "the index range finds it");
        let old = Session { created_at: NOW - 7 * DAY_MS - 1, last_seen_at: NOW, ..session };
        assert!(session_due(&old, NOW, &r), "past the absolute limit, however active");
    }
}
