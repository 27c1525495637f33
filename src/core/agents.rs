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
use crate::domain::conversation::{ActivityKind, Conversation, Party, Status};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::{ConversationId, UserId};
use crate::domain::routing::{AgentProfile, AssignMode, RoutingError};
use crate::store::StoreError;
use crate::store::tables::{AGENT_ID_TO_PROFILE, GROUP_ID_TO_GROUP};

fn load_profile(tx: &impl Tables, id: UserId) -> Result<AgentProfile, ApplyError> {
    let table = tx.table(AGENT_ID_TO_PROFILE.definition())?;
    Ok(AGENT_ID_TO_PROFILE.get(&table, id.0)?.unwrap_or_default())
}

fn save_profile(tx: &WriteTransaction, id: UserId, profile: &AgentProfile) -> Result<(), WriteError> {
    let mut table = tx.open_table(AGENT_ID_TO_PROFILE.definition())?;
    AGENT_ID_TO_PROFILE.insert(&mut table, id.0, profile)?;
    Ok(())
}

fn live_groups(tx: &impl Tables) -> Result<Vec<Group>, ApplyError> {
    let table = tx.table(GROUP_ID_TO_GROUP.definition())?;
    Ok(GROUP_ID_TO_GROUP.all(&table)?.into_iter().map(|(_, group)| group).filter(|g| g.deleted_at.is_none()).collect())
}

/// A routing step that `check` found possible failed while writing: a bug, so the batch is dropped.
pub(super) fn broken(err: RoutingError) -> WriteError {
    WriteError::Store(StoreError::Invariant(format!("routing refused a step its check allowed: {err}")))
}

/// Refuses an agent the router does not know: routing would refuse them after the first write.
fn check_routed(state: &Runtime, agent: UserId) -> Result<(), ApplyError> {
    match state.routing.agent(agent) {
        Some(_) => Ok(()),
        None => Err(routing_rejection(RoutingError::UnknownAgent)),
    }
}

/// Conversations the router took back from an agent: waiting again, with no assignee.
fn write_returned(
    tx: &WriteTransaction,
    returned: Vec<Conversation>,
    events: &mut Vec<Event>,
) -> Result<(), WriteError> {
    for mut conversation in returned {
        conversation.status = Status::Queued;
        conversation.assignee = None;
        save_conversation(tx, &conversation)?;
        events.push(Event::ConversationUpdated { conversation });
    }
    Ok(())
}

/// Brings the router's view of a user in line with the store (after a user or group change):
/// an active agent is added or updated; anyone else is removed and their work returns to the queue.
/// A step of a command's write: it fails only on storage.
pub fn sync_agent(
    state: &mut Runtime,
    tx: &WriteTransaction,
    user: &User,
    at: u64,
    events: &mut Vec<Event>,
) -> Result<(), WriteError> {
    let held: Vec<ConversationId> =
        state.routing.agent(user.id).map(|a| a.open.iter().copied().collect()).unwrap_or_default();
    if routable(user) {
        let profile = load_profile(tx, user.id)?;
        let mut made = state.routing.upsert_agent(user.id, agent_settings(user, &profile, &live_groups(tx)?), at);
        // Just added or updated: it cannot be unknown.
        made.extend(state.routing.set_available(user.id, profile.available, at).map_err(broken)?);
        return Ok(write_assignments(tx, &made, at, events)?);
    }
    if held.is_empty() && state.routing.agent(user.id).is_none() {
        return Ok(());
    }
    let made = state.routing.remove_agent(user.id, at);
    let returned: Vec<ConversationId> =
        held.into_iter().filter(|id| !made.iter().any(|a| a.conversation == *id)).collect();
    let conversations = returned.iter().map(|id| load_conversation(tx, *id)).collect::<Result<Vec<_>, _>>()?;
    write_returned(tx, conversations, events)?;
    write_assignments(tx, &made, at, events)?;
    tell_queued(tx, &returned, at, events)
}

/// Conversations returned to a queue that still wait after routing: the group's members who asked
/// hear of it, as for any conversation entering a queue (the throttle applies).
fn tell_queued(
    tx: &WriteTransaction,
    returned: &[ConversationId],
    at: u64,
    events: &mut Vec<Event>,
) -> Result<(), WriteError> {
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
) -> Result<(), WriteError> {
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

/// An agent's routing profile as it is to be saved.
pub struct ProfilePlan {
    agent: UserId,
    profile: AgentProfile,
    at: u64,
}

impl Command<Runtime, Event> for SetAvailability {
    type Output = ();
    type Plan = ProfilePlan;

    fn check(self, state: &Runtime, read: &Read<'_>) -> Result<ProfilePlan, ApplyError> {
        let user = load_user(read, self.agent)?;
        if !routable(&user) {
            return Err(Rejection::conflict(ErrorCode::NotAnAgent, "Only active agents take conversations.").into());
        }
        check_routed(state, self.agent)?;
        let profile = AgentProfile { available: self.available, ..load_profile(read, self.agent)? };
        Ok(ProfilePlan { agent: self.agent, profile, at: self.at })
    }

    fn write(
        plan: ProfilePlan,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<(), WriteError> {
        save_profile(tx, plan.agent, &plan.profile)?;
        let made = state.routing.set_available(plan.agent, plan.profile.available, plan.at).map_err(broken)?;
        events.push(agent_status(state, plan.agent));
        Ok(write_assignments(tx, &made, plan.at, events)?)
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
    /// `None`: not an agent, so presence routes nothing.
    type Plan = Option<SetPresence>;

    fn check(self, state: &Runtime, _: &Read<'_>) -> Result<Option<SetPresence>, ApplyError> {
        Ok(state.routing.agent(self.agent).is_some().then_some(self))
    }

    fn write(
        plan: Option<SetPresence>,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<(), WriteError> {
        let Some(presence) = plan else {
            return Ok(());
        };
        let made = state.routing.set_online(presence.agent, presence.online, presence.at).map_err(broken)?;
        events.push(agent_status(state, presence.agent));
        Ok(write_assignments(tx, &made, presence.at, events)?)
    }
}

/// An agent offline longer than allowed: their open conversations go back to the head of the
/// queue, keeping their original waiting time (R-CONV-4).
pub struct ReturnWork {
    pub agent: UserId,
    pub at: u64,
}

/// An agent away too long and the conversations she holds, to return.
pub struct ReturnPlan {
    agent: UserId,
    held: Vec<Conversation>,
    at: u64,
}

impl Command<Runtime, Event> for ReturnWork {
    type Output = usize;
    /// `None`: she came back in time, or is no agent.
    type Plan = Option<ReturnPlan>;

    fn check(self, state: &Runtime, read: &Read<'_>) -> Result<Option<ReturnPlan>, ApplyError> {
        let Some(agent) = state.routing.agent(self.agent).filter(|agent| !agent.online) else {
            return Ok(None);
        };
        let held = agent.open.iter().map(|id| load_conversation(read, *id)).collect::<Result<_, _>>()?;
        Ok(Some(ReturnPlan { agent: self.agent, held, at: self.at }))
    }

    fn write(
        plan: Option<ReturnPlan>,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<usize, WriteError> {
        let Some(ReturnPlan { agent, held, at }) = plan else {
            return Ok(0);
        };
        let returned: Vec<ConversationId> = held.iter().map(|conversation| conversation.id).collect();
        let made = state.routing.return_conversations(agent, at);
        write_returned(tx, held, events)?;
        write_assignments(tx, &made, at, events)?;
        tell_queued(tx, &returned, at, events)?;
        Ok(returned.len())
    }
}

/// The dispenser: the caller takes the oldest waiting conversation they may serve.
pub struct TakeNext {
    pub agent: UserId,
    pub at: u64,
}

impl Command<Runtime, Event> for TakeNext {
    type Output = Option<Conversation>;
    /// `None`: nothing waits that she may take.
    type Plan = Option<Taking>;

    fn check(self, state: &Runtime, read: &Read<'_>) -> Result<Option<Taking>, ApplyError> {
        let next = state.routing.next_for(self.agent).map_err(|err| dispenser_rejection(state, self.agent, err))?;
        next.map(|conversation| Taking::load(read, conversation, self.agent, self.at)).transpose()
    }

    fn write(
        plan: Option<Taking>,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Option<Conversation>, WriteError> {
        plan.map(|taking| taking.write(state, tx, events)).transpose()
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
    type Plan = Taking;

    fn check(self, state: &Runtime, read: &Read<'_>) -> Result<Taking, ApplyError> {
        let taking = Taking::load(read, self.conversation, self.agent, self.at)?;
        state
            .routing
            .may_take(self.conversation, self.agent)
            .map_err(|err| dispenser_rejection(state, self.agent, err))?;
        Ok(taking)
    }

    fn write(
        plan: Taking,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Conversation, WriteError> {
        plan.write(state, tx, events)
    }
}

/// A conversation the dispenser gives an agent (routing said she may take it).
pub struct Taking {
    conversation: Conversation,
    agent: UserId,
    /// The agent as the activity line names her.
    me: Party,
    at: u64,
}

impl Taking {
    fn load(read: &Read<'_>, conversation: ConversationId, agent: UserId, at: u64) -> Result<Taking, ApplyError> {
        let conversation = load_conversation(read, conversation)?;
        Ok(Taking { conversation, agent, me: super::activity::user_party(read, agent)?, at })
    }

    fn write(
        self,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Conversation, WriteError> {
        let Taking { conversation, agent, me, at } = self;
        let assignment = state.routing.take(conversation.id, agent, at).map_err(broken)?;
        // The "Bruno took it from the queue" line.
        super::activity::write(tx, events, &conversation, ActivityKind::Taken, Some(me.clone()), Some(me), at)?;
        // She took it herself: no mail about it (`by` is her).
        let by = super::notify::By { conversation: conversation.id, user: agent };
        write_assignments_by(tx, &[assignment], Some(by), at, events)?;
        Ok(load_conversation(tx, conversation.id)?)
    }
}

/// A refusal of the dispenser, told to the agent who asked: when full, that *she* is full.
fn dispenser_rejection(state: &Runtime, agent: UserId, err: RoutingError) -> ApplyError {
    match (err, state.routing.agent(agent)) {
        (RoutingError::AgentFull, Some(this)) => {
            let limit = state.routing.capacity(this);
            Rejection::conflict(
                ErrorCode::AtCapacity,
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

/// An agent's new routing settings, and the user to sync the router with.
pub struct AgentRoutingPlan {
    user: User,
    profile: AgentProfile,
    at: u64,
}

impl Command<Runtime, Event> for SetAgentRouting {
    type Output = AgentProfile;
    type Plan = AgentRoutingPlan;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<AgentRoutingPlan, ApplyError> {
        let user = load_user(read, self.agent)?;
        if !routable(&user) {
            return Err(Rejection::conflict(ErrorCode::NotAnAgent, "Only active agents have routing settings.").into());
        }
        let mut profile = load_profile(read, self.agent)?;
        if let Some(capacity) = self.capacity {
            profile.capacity = capacity;
        }
        if let Some(mode) = self.mode {
            profile.mode = mode;
        }
        Ok(AgentRoutingPlan { user, profile, at: self.at })
    }

    fn write(
        plan: AgentRoutingPlan,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<AgentProfile, WriteError> {
        save_profile(tx, plan.user.id, &plan.profile)?;
        sync_agent(state, tx, &plan.user, plan.at, events)?;
        Ok(plan.profile)
    }
}

#[cfg(test)]
mod tests;
