//! Today's panel figures (R-REP-1), kept as conversations change instead of recomputed from the
//! day's conversations on every read: each conversation of the day adds its share to the totals
//! of its group and of all, and a change takes the old share out before adding the new one.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::conversation::{Conversation, Panel, Status};
use super::ids::{ConversationId, GroupId};

const DAY_MS: u64 = 86_400_000;

/// The UTC day `at` falls in, as its first millisecond.
pub fn day_start(at: u64) -> u64 {
    at - at % DAY_MS
}

/// What one conversation adds to its day's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Share {
    group: Option<GroupId>,
    queued: bool,
    unattended: bool,
    /// Queue → assignment, if it waited and was served.
    wait: Option<u64>,
}

impl Share {
    fn of(conversation: &Conversation) -> Share {
        let waited = match (conversation.enqueued_at, conversation.assigned_at) {
            (Some(enqueued), Some(assigned)) if !conversation.abandoned => Some(assigned.saturating_sub(enqueued)),
            _ => None,
        };
        Share {
            group: conversation.group,
            queued: conversation.status == Status::Queued,
            unattended: conversation.status == Status::Assigned && conversation.first_response_at.is_none(),
            wait: waited,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Totals {
    total: usize,
    queued: usize,
    unattended: usize,
    wait_sum: u64,
    /// Waits as a multiset, for the longest one after a share is taken out.
    waits: BTreeMap<u64, usize>,
}

impl Totals {
    fn apply(&mut self, share: &Share, sign: bool) {
        let step = |n: &mut usize, yes: bool| match (yes, sign) {
            (false, _) => {}
            (true, true) => *n += 1,
            (true, false) => *n = n.saturating_sub(1),
        };
        step(&mut self.total, true);
        step(&mut self.queued, share.queued);
        step(&mut self.unattended, share.unattended);
        if let Some(wait) = share.wait {
            if sign {
                self.wait_sum += wait;
                *self.waits.entry(wait).or_default() += 1;
            } else {
                self.wait_sum = self.wait_sum.saturating_sub(wait);
                if let Some(n) = self.waits.get_mut(&wait) {
                    *n -= 1;
                    if *n == 0 {
                        self.waits.remove(&wait);
                    }
                }
            }
        }
    }

    fn figures(&self) -> Panel {
        let waited: usize = self.waits.values().sum();
        Panel {
            average_wait_ms: self.wait_sum.checked_div(waited as u64).unwrap_or(0),
            max_wait_ms: self.waits.keys().next_back().copied().unwrap_or(0),
            in_queue: self.queued,
            total_today: self.total,
            unattended: self.unattended,
            ..Panel::default()
        }
    }
}

/// The day's figures as published: per group and for all (`None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayFigures {
    pub day_start: u64,
    figures: BTreeMap<Option<GroupId>, Panel>,
}

impl DayFigures {
    /// Today's figures at `now`: none when the book is of an earlier day (nothing was created
    /// since midnight). `overflow` and `agents_online` are not the day's: left at 0.
    pub fn panel(&self, group: Option<GroupId>, now: u64) -> Panel {
        if day_start(now) != self.day_start {
            return Panel::default();
        }
        self.figures.get(&group).copied().unwrap_or_default()
    }
}

/// The day's conversations' shares and totals; the writer keeps one.
#[derive(Debug, Clone, Default)]
pub struct DayBook {
    day_start: u64,
    shares: HashMap<ConversationId, Share>,
    totals: BTreeMap<Option<GroupId>, Totals>,
    changed: bool,
    published: Arc<DayFigures>,
}

impl DayBook {
    /// A book of the day of `now`, from the conversations created since it began.
    pub fn new<'a>(now: u64, conversations: impl Iterator<Item = &'a Conversation>) -> DayBook {
        let mut book = DayBook { day_start: day_start(now), ..DayBook::default() };
        conversations.for_each(|c| book.note(c));
        book.publish();
        book
    }

    /// A conversation as it is now (created or changed).
    pub fn note(&mut self, conversation: &Conversation) {
        let day = day_start(conversation.created_at);
        if day < self.day_start {
            return;
        }
        if day > self.day_start {
            // A new day began: yesterday's conversations are not today's.
            *self = DayBook { day_start: day, published: Arc::clone(&self.published), ..DayBook::default() };
        }
        let share = Share::of(conversation);
        if let Some(old) = self.shares.insert(conversation.id, share) {
            if old == share {
                return;
            }
            self.apply(&old, false);
        }
        self.apply(&share, true);
        self.changed = true;
    }

    fn apply(&mut self, share: &Share, sign: bool) {
        self.totals.entry(None).or_default().apply(share, sign);
        if share.group.is_some() {
            self.totals.entry(share.group).or_default().apply(share, sign);
        }
    }

    /// The figures as of the last change: the same `Arc` while nothing changed.
    pub fn publish(&mut self) -> Arc<DayFigures> {
        if self.changed || self.published.day_start != self.day_start {
            let figures = self.totals.iter().map(|(group, totals)| (*group, totals.figures())).collect();
            self.published = Arc::new(DayFigures { day_start: self.day_start, figures });
            self.changed = false;
        }
        Arc::clone(&self.published)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::conversation::panel;

    fn conversation(id: u64, group: Option<u64>, status: Status, created_at: u64) -> Conversation {
        Conversation { group: group.map(GroupId), status, created_at, ..Conversation::for_tests(ConversationId(id)) }
    }

    #[test]
    fn the_book_agrees_with_the_panel_computed_over_the_days_conversations() {
        let day = 20 * DAY_MS;
        let mut all = [
            conversation(1, Some(1), Status::Queued, day + 5),
            conversation(2, Some(1), Status::Assigned, day + 6),
            conversation(3, None, Status::Assigned, day + 7),
            conversation(4, Some(2), Status::Finalized, day + 8),
            conversation(5, None, Status::Queued, day - 1),
        ];
        for c in &mut all[1..4] {
            c.enqueued_at = Some(c.created_at);
            c.assigned_at = Some(c.created_at + 100 * c.id.0);
        }
        all[2].first_response_at = Some(day + 900);
        let mut book = DayBook::new(day + 10, all.iter().take(2));
        all[2..].iter().for_each(|c| book.note(c));
        // A change takes the old share out: 2 is answered now, 1 served after 40 ms.
        all[1].first_response_at = Some(day + 50);
        all[0].status = Status::Assigned;
        all[0].enqueued_at = Some(day + 5);
        all[0].assigned_at = Some(day + 45);
        book.note(&all[1]);
        book.note(&all[0]);
        let figures = book.publish();
        for group in [None, Some(GroupId(1)), Some(GroupId(2)), Some(GroupId(3))] {
            let of_group = all.iter().filter(|c| group.is_none_or(|g| c.group == Some(g)));
            assert_eq!(figures.panel(group, day + 10), panel(of_group, day, 0), "group {group:?}");
        }
        assert_eq!(figures.panel(None, day + DAY_MS), Panel::default(), "a new day has no figures yet");
        assert!(Arc::ptr_eq(&figures, &book.publish()), "unchanged: the same figures");
    }

    #[test]
    fn a_conversation_of_a_new_day_starts_a_new_book() {
        let day = 20 * DAY_MS;
        let mut book = DayBook::new(day, [conversation(1, None, Status::Queued, day + 1)].iter());
        book.note(&conversation(2, None, Status::Queued, day + DAY_MS + 1));
        let figures = book.publish();
        assert_eq!(figures.panel(None, day + DAY_MS + 2).total_today, 1);
        book.note(&conversation(1, None, Status::Finalized, day + 1));
        assert!(Arc::ptr_eq(&figures, &book.publish()), "yesterday's conversation changes nothing");
    }
}
