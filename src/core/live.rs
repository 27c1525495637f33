//! The snapshot of live views the writer publishes after each committed batch (issue 14): made
//! from the routing state and the day's book, re-made only where the batch changed something, and
//! whole after a reload. Readers hold a `LiveView` and never read the store to answer "where is
//! this visitor in line" or "how loaded is this agent".

use std::sync::Arc;

use tokio::sync::watch;

use super::Event;
use crate::domain::conversation::Conversation;
use crate::domain::routing::Routing;
use crate::domain::routing::snapshot::Snapshot;
use crate::domain::today::DayBook;

/// Where readers find the newest snapshot (and wait for the next one).
pub type LiveView = watch::Receiver<Arc<Snapshot>>;

/// The writer's side: the day's book and the channel the snapshot is published on.
#[derive(Debug)]
pub struct Live {
    book: DayBook,
    sender: Arc<watch::Sender<Arc<Snapshot>>>,
}

impl Default for Live {
    fn default() -> Self {
        Live { book: DayBook::default(), sender: Arc::new(watch::channel(Arc::default()).0) }
    }
}

impl Live {
    /// At start: everything made from the routing state and the day's conversations.
    pub fn new(routing: &Routing, book: DayBook) -> Live {
        let mut live = Live { book, ..Live::default() };
        live.rebuild(routing);
        live
    }

    /// After a reload: a fresh state publishes on the channel readers already hold, in whole.
    pub fn adopt(&mut self, older: &Live, routing: &Routing) {
        self.sender = Arc::clone(&older.sender);
        self.rebuild(routing);
    }

    fn rebuild(&mut self, routing: &Routing) {
        let generation = self.sender.borrow().generation + 1;
        let mut snapshot = Snapshot::build(routing, self.book.publish());
        snapshot.generation = generation;
        self.sender.send_replace(Arc::new(snapshot));
    }

    /// After a commit: the batch's conversations go into the book, and the changed queues and
    /// agents into a new snapshot (none if readers would see no difference).
    pub fn committed(&mut self, routing: &mut Routing, events: &mut dyn Iterator<Item = &Event>) {
        for conversation in events.filter_map(conversation_of) {
            self.book.note(conversation);
        }
        let dirty = routing.take_dirty();
        let next = self.sender.borrow().next(routing, &dirty, self.book.publish());
        if let Some(next) = next {
            self.sender.send_replace(Arc::new(next));
        }
    }

    pub fn view(&self) -> LiveView {
        self.sender.subscribe()
    }
}

fn conversation_of(event: &Event) -> Option<&Conversation> {
    match event {
        Event::ConversationCreated { conversation }
        | Event::ConversationAssigned { conversation }
        | Event::ConversationTransferred { conversation, .. }
        | Event::ConversationFinalized { conversation }
        | Event::ConversationUpdated { conversation }
        | Event::MessageCreated { conversation, .. } => Some(conversation),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{ApplyError, Command, Read, Runtime, WatchLive, WriteError};
    use crate::domain::ids::{ContactId, ConversationId};
    use crate::domain::routing::{AssignMode, Place, Ticket};
    use crate::metrics::Metrics;
    use crate::store::{Store, StoreError};
    use redb::WriteTransaction;

    /// Puts a conversation in line in memory only (the store never hears of it); `fail` then
    /// fails the write, as a broken disk would.
    struct Park {
        conversation: u64,
        fail: bool,
    }

    impl Command<Runtime, Event> for Park {
        type Output = ();
        type Plan = Park;

        fn check(self, _: &Runtime, _: &Read<'_>) -> Result<Park, ApplyError> {
            Ok(self)
        }

        fn write(
            plan: Park,
            state: &mut Runtime,
            _: &WriteTransaction,
            events: &mut Vec<Event>,
        ) -> Result<(), WriteError> {
            let id = plan.conversation;
            let ticket = Ticket { queue: None, enqueued_at: id, contact: ContactId(id), mode: AssignMode::Automatic };
            let broken = |why: &str| WriteError::Store(StoreError::Invariant(why.into()));
            state.routing.enqueue(ConversationId(id), ticket, id).map_err(|_| broken("held"))?;
            if plan.fail {
                return Err(broken("injected"));
            }
            events.push(Event::QueueChanged);
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_snapshot_follows_each_commit_and_is_made_whole_again_after_a_failed_one() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        let (core, _thread) = super::super::Core::spawn(store, Arc::clone(&Metrics::new().core)).unwrap();
        let live = core.call(WatchLive).await.unwrap();
        core.call(Park { conversation: 1, fail: false }).await.unwrap();
        core.call(Park { conversation: 2, fail: false }).await.unwrap();
        let before = Arc::clone(&live.borrow());
        assert_eq!(before.place(ConversationId(2), None), Some(Place { position: 2, overflow: false }));
        assert!(core.call(Park { conversation: 3, fail: true }).await.is_err());
        let after = Arc::clone(&live.borrow());
        assert!(after.generation > before.generation, "a new snapshot after the reload");
        // Made again from the store, which never held any of them: the failed one is not there,
        // and neither are the in-memory ones.
        for id in 1..=3 {
            assert_eq!(after.place(ConversationId(id), None), None);
        }
    }

    /// Presence is not on disk: an agent whose socket is open stays online through a reload.
    #[tokio::test]
    async fn agents_online_before_a_failed_commit_are_online_after_it() {
        use crate::core::{CreateUser, SetAvailability, SetPresence};
        use crate::domain::audit::Actor;

        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        let (core, _thread) = super::super::Core::spawn(store, Arc::clone(&Metrics::new().core)).unwrap();
        let live = core.call(WatchLive).await.unwrap();
        let new = crate::core::tests::agent_ana();
        let actor = Actor::system("test");
        let ana = core.call(CreateUser { new, invite: None, password_hash: None, actor, at: 1 }).await.unwrap();
        core.call(SetPresence { agent: ana.id, online: true, at: 2 }).await.unwrap();
        core.call(SetAvailability { agent: ana.id, available: true, at: 3 }).await.unwrap();
        assert!(core.call(Park { conversation: 9, fail: true }).await.is_err());
        let after = Arc::clone(&live.borrow());
        let figures = after.agent(ana.id).expect("Ana in the snapshot");
        assert!(figures.online && figures.available, "{figures:?}");
    }
}
