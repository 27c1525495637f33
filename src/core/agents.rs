//! Commands about agents as the router sees them: availability, presence, routing settings, work
//! returned to the queue, the dispenser; and keeping the router in step with users and groups.

use redb::WriteTransaction;

use super::conversations::{
    load_conversation, routing_rejection, save_conversation, write_assignments, write_assignments_by,
};
use super::records::{all_users, load_user};
use super::runtime::{agent_settings, routable};
use super::{ApplyError, Command, Event, Read, Rejection, Runtime, Tables, WriteError};
use crate::domain::account::{Group, User};
use crate::domain::conversation::{ActivityKind, Conversation, Status};
use crate::domain::ids::{ConversationId, UserId};
use crate::domain::routing::{AgentProfile, AssignMode, RoutingError};
use crate::store::tables::{AGENT_ID_TO_PROFILE, GROUP_ID_TO_GROUP};

fn load_profile(tx: &impl Tables, id: UserId) -> Result<AgentProfile, ApplyError> {
    let table = tx.table(AGENT_ID_TO_PROFILE.definition())?;
    Ok(AGENT_ID_TO_PROFILE.get(&table, id.0)?.unwrap_or_default())
}

fn save_profile(tx: &WriteTransaction, id: UserId, profile: &AgentProfile) -> Result<(), ApplyError> {
    let mut table = tx.open_table(AGENT_ID_TO_PROFILE.definition())?;
    AGENT_ID_TO_PROFILE.insert(&mut table, id.0, profile)?;
    Ok(())
}

fn live_groups(tx: &impl Tables) -> Result<Vec<Group>, ApplyError> {
    let table = tx.table(GROUP_ID_TO_GROUP.definition())?;
    Ok(GROUP_ID_TO_GROUP.all(&table)?.into_iter().map(|(_, group)| group).filter(|g| g.deleted_at.is_none()).collect())
}

/// Conversations the router took back from an agent: waiting again, with no assignee.
fn write_returned(
    tx: &WriteTransaction,
    returned: &[ConversationId],
    events: &mut Vec<Event>,
) -> Result<(), ApplyError> {
    for id in returned {
        let mut conversation = load_conversation(tx, *id)?;
        conversation.status = Status::Queued;
        conversation.assignee = None;
        save_conversation(tx, &conversation)?;
        events.push(Event::ConversationUpdated { conversation });
    }
    Ok(())
}

/// Brings the router's view of a user in line with the store (after a user or group change):
/// an active agent is added or updated; anyone else is removed and their work returns to the queue.
pub fn sync_agent(
    state: &mut Runtime,
    tx: &WriteTransaction,
    user: &User,
    at: u64,
    events: &mut Vec<Event>,
) -> Result<(), ApplyError> {
    let held: Vec<ConversationId> =
        state.routing.agent(user.id).map(|a| a.open.iter().copied().collect()).unwrap_or_default();
    let assignments = if routable(user) {
        let profile = load_profile(tx, user.id)?;
        let made = state.routing.upsert_agent(user.id, agent_settings(user, &profile, &live_groups(tx)?), at);
        let mut more = state.routing.set_available(user.id, profile.available, at).unwrap_or_default();
        more.splice(0..0, made);
        more
    } else {
        if held.is_empty() && state.routing.agent(user.id).is_none() {
            return Ok(());
        }
        let made = state.routing.remove_agent(user.id, at);
        let returned: Vec<ConversationId> =
            held.into_iter().filter(|id| !made.iter().any(|a| a.conversation == *id)).collect();
        write_returned(tx, &returned, events)?;
        write_assignments(tx, &made, at, events)?;
        return tell_queued(tx, &returned, at, events);
    };
    write_assignments(tx, &assignments, at, events)
}

/// Conversations returned to a queue that still wait after routing: the group's members who asked
/// hear of it, as for any conversation entering a queue (the throttle applies).
fn tell_queued(
    tx: &WriteTransaction,
    returned: &[ConversationId],
    at: u64,
    events: &mut Vec<Event>,
) -> Result<(), ApplyError> {
    for id in returned {
        let conversation = load_conversation(tx, *id)?;
        super::notify::entered_queue(tx, &conversation, None, at, events)?;
    }
    Ok(())
}

/// Syncs every user: after a group change, memberships and caps may have moved for many.
pub fn sync_all_agents(
    state: &mut Runtime,
    tx: &WriteTransaction,
    at: u64,
    events: &mut Vec<Event>,
) -> Result<(), ApplyError> {
    for user in all_users(tx)? {
        sync_agent(state, tx, &user, at, events)?;
    }
    Ok(())
}

fn agent_status(state: &Runtime, agent: UserId) -> Event {
    let (available, online) = state.routing.agent(agent).map_or((false, false), |a| (a.available, a.online));
    Event::AgentStatus { agent, available, online }
}

/// "Accept new conversations": on or off, kept across restarts. Going off keeps open conversations.
pub struct SetAvailability {
    pub agent: UserId,
    pub available: bool,
    pub at: u64,
}

impl Command<Runtime, Event> for SetAvailability {
    type Output = ();
    type Plan = Self;

    fn check(self, _: &Runtime, _: &Read<'_>) -> Result<Self, ApplyError> {
        Ok(self) // not split yet: everything happens in `write`
    }

    fn write(
        plan: Self,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Self::Output, WriteError> {
        Ok(plan.apply(state, tx, events)?)
    }
}

impl SetAvailability {
    fn apply(self, state: &mut Runtime, tx: &WriteTransaction, events: &mut Vec<Event>) -> Result<(), ApplyError> {
        let user = load_user(tx, self.agent)?;
        if !routable(&user) {
            return Err(Rejection::conflict("not_an_agent", "Only active agents take conversations.").into());
        }
        let mut profile = load_profile(tx, self.agent)?;
        profile.available = self.available;
        save_profile(tx, self.agent, &profile)?;
        let assignments =
            state.routing.set_available(self.agent, self.available, self.at).map_err(routing_rejection)?;
        events.push(agent_status(state, self.agent));
        write_assignments(tx, &assignments, self.at, events)
    }
}

/// An agent's UI connected (online) or stayed away past the grace period (offline).
pub struct SetPresence {
    pub agent: UserId,
    pub online: bool,
    pub at: u64,
}

impl Command<Runtime, Event> for SetPresence {
    type Output = ();
    type Plan = Self;

    fn check(self, _: &Runtime, _: &Read<'_>) -> Result<Self, ApplyError> {
        Ok(self) // not split yet: everything happens in `write`
    }

    fn write(
        plan: Self,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Self::Output, WriteError> {
        Ok(plan.apply(state, tx, events)?)
    }
}

impl SetPresence {
    fn apply(self, state: &mut Runtime, tx: &WriteTransaction, events: &mut Vec<Event>) -> Result<(), ApplyError> {
        let Ok(assignments) = state.routing.set_online(self.agent, self.online, self.at) else {
            return Ok(()); // Not an agent: presence does not route anything.
        };
        events.push(agent_status(state, self.agent));
        write_assignments(tx, &assignments, self.at, events)
    }
}

/// An agent offline longer than allowed: their open conversations go back to the head of the
/// queue, keeping their original waiting time (R-CONV-4).
pub struct ReturnWork {
    pub agent: UserId,
    pub at: u64,
}

impl Command<Runtime, Event> for ReturnWork {
    type Output = usize;
    type Plan = Self;

    fn check(self, _: &Runtime, _: &Read<'_>) -> Result<Self, ApplyError> {
        Ok(self) // not split yet: everything happens in `write`
    }

    fn write(
        plan: Self,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Self::Output, WriteError> {
        Ok(plan.apply(state, tx, events)?)
    }
}

impl ReturnWork {
    fn apply(self, state: &mut Runtime, tx: &WriteTransaction, events: &mut Vec<Event>) -> Result<usize, ApplyError> {
        let Some(agent) = state.routing.agent(self.agent) else {
            return Ok(0);
        };
        if agent.online {
            return Ok(0); // Came back in time.
        }
        let held: Vec<ConversationId> = agent.open.iter().copied().collect();
        let made = state.routing.return_conversations(self.agent, self.at);
        write_returned(tx, &held, events)?;
        write_assignments(tx, &made, self.at, events)?;
        tell_queued(tx, &held, self.at, events)?;
        Ok(held.len())
    }
}

/// The dispenser: the caller takes the oldest waiting conversation they may serve.
pub struct TakeNext {
    pub agent: UserId,
    pub at: u64,
}

impl Command<Runtime, Event> for TakeNext {
    type Output = Option<Conversation>;
    type Plan = Self;

    fn check(self, _: &Runtime, _: &Read<'_>) -> Result<Self, ApplyError> {
        Ok(self) // not split yet: everything happens in `write`
    }

    fn write(
        plan: Self,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Self::Output, WriteError> {
        Ok(plan.apply(state, tx, events)?)
    }
}

impl TakeNext {
    fn apply(
        self,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Option<Conversation>, ApplyError> {
        let taken =
            state.routing.take_next(self.agent, self.at).map_err(|err| dispenser_rejection(state, self.agent, err))?;
        let Some(assignment) = taken else {
            return Ok(None);
        };
        write_taken(tx, assignment.conversation, self.agent, self.at, events)?;
        // She took it herself: no mail about it (`by` is her).
        let by = super::notify::By { conversation: assignment.conversation, user: self.agent };
        write_assignments_by(tx, &[assignment], Some(by), self.at, events)?;
        Ok(Some(load_conversation(tx, assignment.conversation)?))
    }
}

/// The dispenser, by choice: the caller takes this waiting conversation (manual mode, R-CONV-4).
pub struct Take {
    pub conversation: ConversationId,
    pub agent: UserId,
    pub at: u64,
}

impl Command<Runtime, Event> for Take {
    type Output = Conversation;
    type Plan = Self;

    fn check(self, _: &Runtime, _: &Read<'_>) -> Result<Self, ApplyError> {
        Ok(self) // not split yet: everything happens in `write`
    }

    fn write(
        plan: Self,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Self::Output, WriteError> {
        Ok(plan.apply(state, tx, events)?)
    }
}

impl Take {
    fn apply(
        self,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Conversation, ApplyError> {
        load_conversation(tx, self.conversation)?;
        let assignment = state
            .routing
            .take(self.conversation, self.agent, self.at)
            .map_err(|err| dispenser_rejection(state, self.agent, err))?;
        write_taken(tx, assignment.conversation, self.agent, self.at, events)?;
        let by = super::notify::By { conversation: assignment.conversation, user: self.agent };
        write_assignments_by(tx, &[assignment], Some(by), self.at, events)?;
        load_conversation(tx, assignment.conversation)
    }
}

/// The "Bruno took it from the queue" line.
fn write_taken(
    tx: &WriteTransaction,
    conversation: ConversationId,
    agent: UserId,
    at: u64,
    events: &mut Vec<Event>,
) -> Result<(), ApplyError> {
    let conversation = load_conversation(tx, conversation)?;
    let me = super::activity::user_party(tx, agent)?;
    super::activity::write(tx, events, &conversation, ActivityKind::Taken, Some(me.clone()), Some(me), at)
}

/// A refusal of the dispenser, told to the agent who asked: when full, that *she* is full.
fn dispenser_rejection(state: &Runtime, agent: UserId, err: RoutingError) -> ApplyError {
    match (err, state.routing.agent(agent)) {
        (RoutingError::AgentFull, Some(this)) => {
            let limit = state.routing.capacity(this);
            Rejection::conflict(
                "at_capacity",
                format!("You are at your limit of {limit} conversations; finalize one first."),
            )
            .into()
        }
        (err, _) => routing_rejection(err),
    }
}

/// An administrator sets an agent's own cap and assignment mode.
pub struct SetAgentRouting {
    pub agent: UserId,
    pub capacity: Option<Option<u32>>,
    pub mode: Option<AssignMode>,
    pub at: u64,
}

impl Command<Runtime, Event> for SetAgentRouting {
    type Output = AgentProfile;
    type Plan = Self;

    fn check(self, _: &Runtime, _: &Read<'_>) -> Result<Self, ApplyError> {
        Ok(self) // not split yet: everything happens in `write`
    }

    fn write(
        plan: Self,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Self::Output, WriteError> {
        Ok(plan.apply(state, tx, events)?)
    }
}

impl SetAgentRouting {
    fn apply(
        self,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<AgentProfile, ApplyError> {
        let user = load_user(tx, self.agent)?;
        if !routable(&user) {
            return Err(Rejection::conflict("not_an_agent", "Only active agents have routing settings.").into());
        }
        let mut profile = load_profile(tx, self.agent)?;
        if let Some(capacity) = self.capacity {
            profile.capacity = capacity;
        }
        if let Some(mode) = self.mode {
            profile.mode = mode;
        }
        save_profile(tx, self.agent, &profile)?;
        sync_agent(state, tx, &user, self.at, events)?;
        Ok(profile)
    }
}
