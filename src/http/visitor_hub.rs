//! Hands the core's events to the visitor sockets they concern. One task hears every event; a
//! visitor socket is subscribed under its visitor's contact and woken only by that contact's
//! conversation events, and by queue moves while its visitor waits. A socket whose visitor has
//! not written (no contact yet) is woken by nothing here: 800 open, idle chats cost nothing per
//! message (each subscribed to the core itself, 800 made a customer's message six times slower).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{broadcast, mpsc, watch};

use crate::core::Event;
use crate::domain::ids::{ChannelId, ContactId};

/// Deliveries a socket may have waiting before it counts as fallen behind.
const BACKLOG: usize = 64;

/// A visitor: their channel and identifier.
pub type VisitorKey = (ChannelId, String);

#[derive(Debug, Default)]
pub struct VisitorHub {
    lists: Mutex<Lists>,
    next_id: AtomicU64,
}

#[derive(Debug, Default)]
struct Lists {
    by_contact: HashMap<ContactId, Vec<Subscriber>>,
    /// Visitors who have not written: no event names them.
    unknown: HashMap<VisitorKey, Vec<Subscriber>>,
}

#[derive(Debug)]
struct Subscriber {
    id: u64,
    deliveries: mpsc::Sender<Delivery>,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    waiting: AtomicBool,
    /// Under which contact it is listed, once known (read under the lists' lock).
    contact: Mutex<Option<ContactId>>,
}

#[derive(Debug)]
pub enum Delivery {
    Event(Arc<Event>),
    /// The visitor wrote their first message: its events went by before the socket was listed
    /// under their new contact.
    Wrote,
}

/// A socket's subscription, ended when dropped. `next` is `None` once the socket fell behind (or
/// the hub stopped): it subscribes again and has its client read again.
#[derive(Debug)]
pub struct Subscription {
    hub: Arc<VisitorHub>,
    visitor: VisitorKey,
    id: u64,
    deliveries: mpsc::Receiver<Delivery>,
    shared: Arc<Shared>,
}

impl VisitorHub {
    /// Starts the task that hears `events` until the server stops.
    pub fn spawn(mut events: broadcast::Receiver<Event>, mut stopping: watch::Receiver<bool>) -> Arc<VisitorHub> {
        let hub = Arc::new(VisitorHub::default());
        let task = Arc::clone(&hub);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    event = events.recv() => match event {
                        Ok(event) => task.deliver(event),
                        // Every socket may have missed something of its own.
                        Err(broadcast::error::RecvError::Lagged(_)) => *task.lock() = Lists::default(),
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                    _ = crate::shutdown::stop_requested(&mut stopping) => break,
                }
            }
            *task.lock() = Lists::default();
        });
        hub
    }

    /// Lists a socket of `visitor`, under `contact` if they have one.
    pub fn subscribe(self: &Arc<Self>, visitor: VisitorKey, contact: Option<ContactId>) -> Subscription {
        let (sender, deliveries) = mpsc::channel(BACKLOG);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(Shared { waiting: AtomicBool::new(false), contact: Mutex::new(contact) });
        let subscriber = Subscriber { id, deliveries: sender, shared: Arc::clone(&shared) };
        let mut lists = self.lock();
        match contact {
            Some(contact) => lists.by_contact.entry(contact).or_default().push(subscriber),
            None => lists.unknown.entry(visitor.clone()).or_default().push(subscriber),
        }
        Subscription { hub: Arc::clone(self), visitor, id, deliveries, shared }
    }

    /// `visitor` wrote and has `contact`: their sockets are listed under it from now on, before
    /// the answer to their message (what happens next reaches them), and told so.
    pub fn wrote(&self, visitor: &VisitorKey, contact: ContactId) {
        let mut lists = self.lock();
        let Some(moving) = lists.unknown.remove(visitor) else { return };
        for subscriber in moving {
            *lock(&subscriber.shared.contact) = Some(contact);
            if subscriber.deliveries.try_send(Delivery::Wrote).is_ok() {
                lists.by_contact.entry(contact).or_default().push(subscriber);
            }
        }
    }

    fn deliver(&self, event: Event) {
        let contact = match &event {
            Event::MessageCreated { conversation, .. }
            | Event::ConversationCreated { conversation }
            | Event::ConversationAssigned { conversation }
            | Event::ConversationTransferred { conversation, .. }
            | Event::ConversationFinalized { conversation }
            | Event::ConversationUpdated { conversation } => Some(conversation.contact),
            Event::QueueChanged => None,
            _ => return,
        };
        let event = Arc::new(event);
        let offer = |list: &mut Vec<Subscriber>, only_waiting: bool| {
            // One that cannot take it has fallen behind: dropped, it learns so and starts again.
            list.retain(|s| {
                (only_waiting && !s.shared.waiting.load(Ordering::Relaxed))
                    || s.deliveries.try_send(Delivery::Event(Arc::clone(&event))).is_ok()
            });
        };
        let by_contact = &mut self.lock().by_contact;
        match contact {
            Some(contact) => {
                if let Some(list) = by_contact.get_mut(&contact) {
                    offer(list, false);
                }
            }
            None => by_contact.values_mut().for_each(|list| offer(list, true)),
        }
        by_contact.retain(|_, list| !list.is_empty());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lists> {
        lock(&self.lists)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Subscription {
    pub async fn next(&mut self) -> Option<Delivery> {
        self.deliveries.recv().await
    }

    /// Whether its visitor waits in a queue (and so wants to hear of queue moves).
    pub fn set_waiting(&self, waiting: bool) {
        self.shared.waiting.store(waiting, Ordering::Relaxed);
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut lists = self.hub.lock();
        let contact = *lock(&self.shared.contact);
        let Lists { by_contact, unknown } = &mut *lists;
        let removed = |list: &mut Vec<Subscriber>| {
            list.retain(|s| s.id != self.id);
            list.is_empty()
        };
        match contact {
            Some(contact) => {
                if by_contact.get_mut(&contact).is_some_and(removed) {
                    by_contact.remove(&contact);
                }
            }
            None => {
                if unknown.get_mut(&self.visitor).is_some_and(removed) {
                    unknown.remove(&self.visitor);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::conversation::{Conversation, Status};
    use crate::domain::ids::ConversationId;

    fn conversation(contact: u64) -> Conversation {
        Conversation {
            id: ConversationId(contact),
            contact: ContactId(contact),
            channel: ChannelId(1),
            group: None,
            status: Status::Queued,
            assignee: None,
            created_at: 0,
            enqueued_at: None,
            assigned_at: None,
            finalized_at: None,
            finalize_reason: None,
            labels: Vec::new(),
            previous: None,
            last_message_at: 0,
            last_customer_at: None,
            waiting_since: None,
            last_preview: String::new(),
            unread: false,
            first_response_at: None,
            served_by: Vec::new(),
            abandoned: false,
            mode: Default::default(),
        }
    }

    #[test]
    fn a_socket_hears_its_contacts_events_and_queue_moves_only_while_waiting() {
        let hub = Arc::new(VisitorHub::default());
        let key = |n: u64| (ChannelId(1), format!("v{n}"));
        let (mut mine, mut other) =
            (hub.subscribe(key(1), Some(ContactId(1))), hub.subscribe(key(2), Some(ContactId(2))));
        hub.deliver(Event::ConversationCreated { conversation: conversation(1) });
        hub.deliver(Event::QueueChanged);
        assert!(
            matches!(mine.deliveries.try_recv(), Ok(Delivery::Event(event)) if matches!(*event, Event::ConversationCreated { .. }))
        );
        assert!(mine.deliveries.try_recv().is_err(), "not waiting: no queue moves");
        assert!(other.deliveries.try_recv().is_err(), "another contact's event is not theirs");
        mine.set_waiting(true);
        hub.deliver(Event::QueueChanged);
        assert!(
            matches!(mine.deliveries.try_recv(), Ok(Delivery::Event(event)) if matches!(*event, Event::QueueChanged))
        );
        hub.deliver(Event::MailQueued);
        assert!(mine.deliveries.try_recv().is_err());
        drop(mine);
        assert!(!hub.lock().by_contact.contains_key(&ContactId(1)), "a dropped subscription is gone");
    }

    #[test]
    fn a_socket_that_falls_behind_is_dropped_and_learns_so() {
        let hub = Arc::new(VisitorHub::default());
        let mut slow = hub.subscribe((ChannelId(1), "v1".into()), Some(ContactId(1)));
        for _ in 0..=BACKLOG {
            hub.deliver(Event::ConversationUpdated { conversation: conversation(1) });
        }
        let mut heard = 0;
        while slow.deliveries.try_recv().is_ok() {
            heard += 1;
        }
        assert_eq!(heard, BACKLOG);
        assert!(matches!(slow.deliveries.try_recv(), Err(mpsc::error::TryRecvError::Disconnected)));
    }

    #[test]
    fn a_visitor_who_has_not_written_hears_nothing_until_they_write() {
        let hub = Arc::new(VisitorHub::default());
        let visitor = (ChannelId(1), "v1".to_owned());
        let mut quiet = hub.subscribe(visitor.clone(), None);
        hub.deliver(Event::ConversationCreated { conversation: conversation(1) });
        hub.deliver(Event::QueueChanged);
        assert!(quiet.deliveries.try_recv().is_err(), "no event names a visitor without a contact");
        hub.wrote(&visitor, ContactId(1));
        assert!(matches!(quiet.deliveries.try_recv(), Ok(Delivery::Wrote)));
        hub.deliver(Event::ConversationAssigned { conversation: conversation(1) });
        assert!(matches!(quiet.deliveries.try_recv(), Ok(Delivery::Event(_))), "listed under the contact now");
        drop(quiet);
        let lists = hub.lock();
        assert!(lists.by_contact.is_empty() && lists.unknown.is_empty());
    }
}
