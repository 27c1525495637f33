//! What live views read (issue 14): the queues in order with each waiting conversation's place,
//! the agents' figures and the panel's, as one immutable value the writer publishes after each
//! committed batch. Built from the routing state, never from the store; a batch re-makes only the
//! queues it changed (`Dirty`), the others are shared with the previous snapshot.

mod line;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use line::{Key, Line};

use serde::Serialize;

use super::{AssignMode, Place, Routing};
use crate::domain::conversation::Panel;
use crate::domain::ids::{ConversationId, GroupId, UserId};
use crate::domain::today::DayFigures;

/// Queues changed since the last snapshot, kept by `Routing` as it moves conversations: for each,
/// who came in and who left (so the snapshot edits the line it had), or that it is to be made
/// again whole (its limit changed, a group went away, or too much moved for edits to pay).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dirty {
    queues: BTreeMap<Option<GroupId>, Change>,
    /// Some queue's line moved since `take_moved`: for the command that moved it to say so.
    moved: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    /// In order: added (`true`) or taken out.
    Edits(Vec<(bool, Key)>),
    Whole,
}

/// Past this many moves in one batch a queue is made again whole.
const MAX_EDITS: usize = 4096;

impl Dirty {
    /// The queue is to be made again from routing's line.
    pub(super) fn queue(&mut self, queue: Option<GroupId>) {
        self.queues.insert(queue, Change::Whole);
        self.moved = true;
    }

    /// `key` entered (`true`) or left the queue's line.
    pub(super) fn edit(&mut self, queue: Option<GroupId>, add: bool, key: Key) {
        self.moved = true;
        let change = self.queues.entry(queue).or_insert_with(|| Change::Edits(Vec::new()));
        if let Change::Edits(edits) = change {
            edits.push((add, key));
            if edits.len() > MAX_EDITS {
                *change = Change::Whole;
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }
}

/// One waiting conversation as a live view shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Waiting {
    pub conversation: ConversationId,
    pub enqueued_at: u64,
    pub place: Place,
}

/// One queue, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueView {
    pub max_queue: Option<u32>,
    line: Line,
}

impl QueueView {
    fn of(routing: &Routing, queue: Option<GroupId>) -> QueueView {
        let entries = routing.queues.get(&queue).into_iter().flatten().copied();
        QueueView { max_queue: max_queue(routing, queue), line: Line::of(entries) }
    }

    /// This view with a batch's moves applied: only the parts of the line they touch are new.
    fn edited(&self, routing: &Routing, queue: Option<GroupId>, edits: &[(bool, Key)]) -> QueueView {
        QueueView { max_queue: max_queue(routing, queue), line: self.line.edited(edits) }
    }

    pub fn get(&self, conversation: ConversationId) -> Option<Waiting> {
        let (index, (enqueued_at, conversation)) = self.line.find(conversation)?;
        Some(Waiting { conversation, enqueued_at, place: Place::at(index, self.max_queue) })
    }

    pub fn len(&self) -> usize {
        self.line.len()
    }

    pub fn is_empty(&self) -> bool {
        self.line.is_empty()
    }

    /// How many wait beyond the limit.
    pub fn overflow(&self) -> usize {
        self.max_queue.map_or(0, |max| self.line.len().saturating_sub(max as usize))
    }
}

fn max_queue(routing: &Routing, queue: Option<GroupId>) -> Option<u32> {
    queue.and_then(|group| routing.group_rules(group).max_queue)
}

/// An agent's routing figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentFigures {
    pub load: usize,
    pub capacity: u32,
    pub available: bool,
    pub online: bool,
    pub own_capacity: Option<u32>,
    pub mode: AssignMode,
    pub groups: Vec<GroupId>,
}

/// The published state of the live views. Cheap to clone (every part is shared).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Counts the snapshots published; a reader tells a newer one by it.
    pub generation: u64,
    queues: BTreeMap<Option<GroupId>, Arc<QueueView>>,
    agents: Arc<BTreeMap<UserId, AgentFigures>>,
    day: Arc<DayFigures>,
}

impl Snapshot {
    /// Everything made again from the routing state (at start, after a reload).
    pub fn build(routing: &Routing, day: Arc<DayFigures>) -> Snapshot {
        let queues = routing.queues.keys().map(|queue| (*queue, Arc::new(QueueView::of(routing, *queue)))).collect();
        Snapshot { generation: 0, queues, agents: Arc::new(agents_of(routing)), day }
    }

    /// The snapshot after a batch: only the queues in `dirty` are made again. `None` when
    /// nothing a reader sees changed.
    pub fn next(&self, routing: &Routing, dirty: &Dirty, day: Arc<DayFigures>) -> Option<Snapshot> {
        let agents = agents_of(routing);
        let agents_same = agents == *self.agents;
        if dirty.is_empty() && agents_same && Arc::ptr_eq(&day, &self.day) {
            return None;
        }
        let mut queues = self.queues.clone();
        for (queue, change) in &dirty.queues {
            if !routing.queues.contains_key(queue) {
                queues.remove(queue);
                continue;
            }
            let view = match (change, self.queues.get(queue)) {
                (Change::Edits(edits), Some(older)) => older.edited(routing, *queue, edits),
                _ => QueueView::of(routing, *queue),
            };
            queues.insert(*queue, Arc::new(view));
        }
        let agents = if agents_same { Arc::clone(&self.agents) } else { Arc::new(agents) };
        Some(Snapshot { generation: self.generation + 1, queues, agents, day })
    }

    pub fn queue(&self, queue: Option<GroupId>) -> Option<&Arc<QueueView>> {
        self.queues.get(&queue)
    }

    pub fn queues(&self) -> impl Iterator<Item = (&Option<GroupId>, &Arc<QueueView>)> {
        self.queues.iter()
    }

    /// A waiting conversation, looked up first in the queue it is thought to be in (`hint`),
    /// then in the others (a deleted group's moved to the general queue).
    pub fn waiting(&self, conversation: ConversationId, hint: Option<GroupId>) -> Option<Waiting> {
        let first = self.queues.get(&hint).and_then(|view| view.get(conversation));
        first.or_else(|| self.queues.values().find_map(|view| view.get(conversation)))
    }

    pub fn place(&self, conversation: ConversationId, hint: Option<GroupId>) -> Option<Place> {
        self.waiting(conversation, hint).map(|waiting| waiting.place)
    }

    /// The places of those of `conversations` that wait.
    pub fn places<'a>(
        &self,
        conversations: impl Iterator<Item = &'a crate::domain::conversation::Conversation>,
    ) -> HashMap<ConversationId, Place> {
        let waiting = conversations.filter(|c| c.status == crate::domain::conversation::Status::Queued);
        waiting.filter_map(|c| Some((c.id, self.place(c.id, c.group)?))).collect()
    }

    pub fn agent(&self, id: UserId) -> Option<&AgentFigures> {
        self.agents.get(&id)
    }

    pub fn agents(&self) -> impl Iterator<Item = (&UserId, &AgentFigures)> {
        self.agents.iter()
    }

    /// Agents whose figures differ from `older`'s (or who are new since).
    pub fn changed_agents<'a>(&'a self, older: &'a Snapshot) -> Vec<(UserId, &'a AgentFigures)> {
        if Arc::ptr_eq(&self.agents, &older.agents) {
            return Vec::new();
        }
        let changed = self.agents.iter().filter(|(id, figures)| older.agents.get(id) != Some(figures));
        changed.map(|(id, figures)| (*id, figures)).collect()
    }

    /// The panel (R-REP-1) of a group or all at `now`: today's figures (none yet if no batch
    /// committed today), the overflow and the agents online now.
    pub fn panel(&self, group: Option<GroupId>, now: u64) -> Panel {
        let mut panel = self.day.panel(group, now);
        let overflow = |queue: Option<GroupId>| self.queues.get(&queue).map_or(0, |view| view.overflow());
        panel.overflow = match group {
            Some(group) => overflow(Some(group)),
            None => self.queues.values().map(|view| view.overflow()).sum(),
        };
        let online = self.agents.values().filter(|a| a.online && group.is_none_or(|g| a.groups.contains(&g)));
        panel.agents_online = online.count();
        panel
    }
}

fn agents_of(routing: &Routing) -> BTreeMap<UserId, AgentFigures> {
    let figures = |agent: &super::Agent| AgentFigures {
        load: agent.open.len(),
        capacity: routing.capacity(agent),
        available: agent.available,
        online: agent.online,
        own_capacity: agent.settings.capacity,
        mode: agent.settings.mode,
        groups: agent.settings.groups.iter().copied().collect(),
    };
    routing.agents.iter().map(|(id, agent)| (*id, figures(agent))).collect()
}

impl Routing {
    /// The queues changed since the last call, and forgets them.
    pub fn take_dirty(&mut self) -> Dirty {
        std::mem::take(&mut self.dirty)
    }

    /// Whether some queue's line moved since the last call: the command that moved it tells the
    /// waiting visitors (a customer who left the line moves everyone behind them).
    pub fn take_moved(&mut self) -> bool {
        std::mem::take(&mut self.dirty.moved)
    }
}

#[cfg(test)]
mod tests;
