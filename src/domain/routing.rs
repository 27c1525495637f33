//! Routing (R-CONV-3, R-CONV-3b, R-CONV-4): FIFO queues per group and a general queue, agents with
//! capacities, and the policies that pick an agent. Pure and in memory; the core owns one `Routing`
//! and turns its decisions into commands. After every operation no waiting conversation has an
//! eligible agent with a free slot: whatever can be assigned, is.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::ids::{ContactId, ConversationId, GroupId, UserId};

/// A returning customer goes back to their previous agent if served within this time (sticky).
pub const STICKY_WINDOW_MS: u64 = 30 * 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// The agent with the fewest open conversations; ties to the longest since last assignment.
    #[default]
    Equitable,
    /// The agent longest since their last assignment.
    RoundRobin,
    /// The agent who served the customer in the last 30 days, if they can take it; else equitable.
    Sticky,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignMode {
    /// Conversations are given to the agent by the router.
    #[default]
    Automatic,
    /// The agent takes conversations by hand (dispenser).
    Manual,
    /// The agent gets nothing from the queue.
    None,
}

/// A group's routing rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRules {
    pub capacity: Option<u32>,
    #[serde(default)]
    pub policy: Policy,
    /// Past this many waiting, new customers are told "all agents are busy" and wait beyond the
    /// limit (overflow), in order, until room frees; their conversations are never refused.
    #[serde(default)]
    pub max_queue: Option<u32>,
}

/// What is stored of an agent for routing: their own cap, assignment mode and availability.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentProfile {
    #[serde(default)]
    pub capacity: Option<u32>,
    #[serde(default)]
    pub mode: AssignMode,
    #[serde(default)]
    pub available: bool,
}

/// What is known of an agent apart from their conversations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentSettings {
    pub capacity: Option<u32>,
    pub groups: BTreeSet<GroupId>,
    pub mode: AssignMode,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Agent {
    pub settings: AgentSettings,
    pub available: bool,
    pub online: bool,
    pub open: BTreeSet<ConversationId>,
    pub last_assigned_at: u64,
}

/// A conversation's place in line: its queue (`None`: the general queue) and when it entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub queue: Option<GroupId>,
    pub enqueued_at: u64,
    pub contact: ContactId,
    /// The channel's assignment mode: automatic conversations are given out by the router,
    /// manual ones wait for the dispenser, `None` ones for a supervisor (R-CONV-4).
    pub mode: AssignMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment {
    pub conversation: ConversationId,
    pub agent: UserId,
}

/// An agent the router could give a conversation to now, as an assignment policy sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: UserId,
    /// Conversations open now.
    pub load: usize,
    pub capacity: u32,
    pub groups: Vec<GroupId>,
    pub last_assigned_at: u64,
}

/// What a policy outside the router (a rule) decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// No decision: the group's built-in policy picks.
    Builtin,
    /// This candidate.
    Agent(UserId),
    /// Nobody now: the conversation stays queued.
    Leave,
}

/// A question for the outside policy (the rules' `assign` hook), answered later with `answer`:
/// the policy runs away from the writer, on what routing saw when it asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub conversation: ConversationId,
    pub ticket: Ticket,
    /// The agents who could take it when asked; an answer naming anyone else is not followed.
    pub candidates: Vec<Candidate>,
}

/// What routing decided for one waiting conversation.
enum Decision {
    Agent(UserId),
    /// An outside policy keeps it queued; the next in line may go.
    Leave,
    /// No free agent serves its queue.
    Nobody,
}

/// The outside policy's side of routing: whether there is one, and what it was asked.
#[derive(Debug, Clone, Default)]
struct Outside {
    on: bool,
    /// Asked and not answered yet: dispatch passes over these.
    asking: HashSet<ConversationId>,
    /// Left queued by the policy: asked again after a change that may give some agent room.
    left: HashSet<ConversationId>,
    /// Asked since the last `take_questions`.
    questions: Vec<Question>,
}

/// A waiting conversation's place in its queue: 1-based, and whether it is past the group's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Place {
    pub position: usize,
    /// Beyond the queue's limit: the customer was told all agents are busy (R-CONV-3b).
    pub overflow: bool,
}

impl Place {
    /// The place of the `index`-th (0-based) conversation of a queue limited to `max`.
    pub fn at(index: usize, max: Option<u32>) -> Place {
        Place { position: index + 1, overflow: max.is_some_and(|max| index as u64 >= u64::from(max)) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error("the queue is full")]
    QueueFull,
    #[error("the agent is not available or has no free slot")]
    AgentFull,
    #[error("the conversation is not waiting")]
    NotWaiting,
    #[error("the agent does not serve the conversation's queue")]
    NotServed,
    #[error("a supervisor assigns this conversation")]
    SupervisorAssigns,
    #[error("no such agent")]
    UnknownAgent,
    #[error("no such conversation in routing")]
    UnknownConversation,
    #[error("the conversation is already in routing")]
    Duplicate,
}

/// Queues, agents and assignments.
#[derive(Debug, Clone, Default)]
pub struct Routing {
    default_capacity: u32,
    agents: BTreeMap<UserId, Agent>,
    groups: BTreeMap<GroupId, GroupRules>,
    queues: BTreeMap<Option<GroupId>, BTreeSet<(u64, ConversationId)>>,
    waiting: HashMap<ConversationId, Ticket>,
    assigned: HashMap<ConversationId, (UserId, Ticket)>,
    last_served: HashMap<ContactId, (UserId, u64)>,
    outside: Outside,
    /// Agents who take work now (available, online, automatic, a free slot), kept between calls
    /// so that the common operations (a customer queues, a conversation ends) need no pass over
    /// every agent. `None`: to be listed again.
    free: Option<Vec<UserId>>,
    /// Queues whose line or limit changed since the last snapshot (`snapshot::Dirty`).
    dirty: Dirty,
}

impl Routing {
    pub fn new(default_capacity: u32) -> Self {
        Routing { default_capacity, ..Routing::default() }
    }

    /// Whether an outside policy is asked before the built-in ones. Turned off, what it was
    /// asked is forgotten and the built-in policies assign what they can.
    pub fn set_outside(&mut self, on: bool, now: u64) -> Vec<Assignment> {
        if self.outside.on == on {
            return Vec::new();
        }
        self.outside = Outside { on, ..Outside::default() };
        self.dispatch_fresh(now)
    }

    pub fn outside(&self) -> bool {
        self.outside.on
    }

    /// What the outside policy was asked since the last call, for it to answer.
    pub fn take_questions(&mut self) -> Vec<Question> {
        std::mem::take(&mut self.outside.questions)
    }

    /// Asks again about every waiting conversation (the questions may have been lost).
    pub fn ask_again(&mut self, now: u64) -> Vec<Assignment> {
        self.outside.asking.clear();
        self.outside.left.clear();
        self.dispatch_fresh(now)
    }

    /// The outside policy's answer about `conversation`. An agent who can no longer take it (or
    /// never could) is not followed: the built-in policy decides. An answer about a conversation
    /// no longer waiting, or not asked about, changes nothing but what dispatch can do now.
    pub fn answer(&mut self, conversation: ConversationId, choice: Choice, now: u64) -> Vec<Assignment> {
        let asked = self.outside.asking.remove(&conversation);
        let mut made = Vec::new();
        if let (true, Some(ticket)) = (asked, self.waiting.get(&conversation).copied()) {
            let free: Vec<UserId> = self.free_agents();
            let agent = match choice {
                Choice::Leave => {
                    self.outside.left.insert(conversation);
                    None
                }
                Choice::Agent(agent) if self.eligible(ticket.queue, &free).any(|(id, _)| *id == agent) => Some(agent),
                Choice::Agent(_) | Choice::Builtin => self.builtin(ticket.queue, conversation, &free, now),
            };
            if let Some(agent) = agent {
                self.unpark(conversation);
                self.give(conversation, agent, ticket, now);
                made.push(Assignment { conversation, agent });
            }
        }
        made.extend(self.dispatch(now));
        made
    }

    pub fn agent(&self, id: UserId) -> Option<&Agent> {
        self.agents.get(&id)
    }

    pub fn agents(&self) -> impl Iterator<Item = (&UserId, &Agent)> {
        self.agents.iter()
    }

    pub fn group_rules(&self, id: GroupId) -> GroupRules {
        self.groups.get(&id).copied().unwrap_or_default()
    }

    pub fn ticket(&self, conversation: ConversationId) -> Option<Ticket> {
        self.waiting.get(&conversation).copied()
    }

    pub fn assignee(&self, conversation: ConversationId) -> Option<UserId> {
        self.assigned.get(&conversation).map(|(agent, _)| *agent)
    }

    /// Waiting conversations of a queue, oldest first.
    pub fn queue(&self, queue: Option<GroupId>) -> impl Iterator<Item = ConversationId> + '_ {
        self.queues.get(&queue).into_iter().flatten().map(|(_, id)| *id)
    }

    pub fn waiting_count(&self) -> usize {
        self.waiting.len()
    }

    /// 1-based place in its queue, for "you are number 3".
    pub fn position(&self, conversation: ConversationId) -> Option<usize> {
        let ticket = self.waiting.get(&conversation)?;
        let queue = self.queues.get(&ticket.queue)?;
        let key = (ticket.enqueued_at, conversation);
        // A customer who just wrote is last in line: no walk over everyone ahead of them.
        if queue.last() == Some(&key) {
            return Some(queue.len());
        }
        Some(queue.range(..key).count() + 1)
    }

    /// The place in line and whether it is beyond its queue's limit (overflow).
    pub fn place(&self, conversation: ConversationId) -> Option<Place> {
        let position = self.position(conversation)?;
        let max = self.waiting.get(&conversation)?.queue.and_then(|group| self.group_rules(group).max_queue);
        Some(Place::at(position - 1, max))
    }

    /// Whether some agent other than `except` of the group takes work now (online, available,
    /// automatic, a free slot): else what enters its queue goes back to `except` if she does.
    pub fn taken_by_others(&self, group: GroupId, except: UserId) -> bool {
        self.agents
            .iter()
            .any(|(id, agent)| *id != except && agent.settings.groups.contains(&group) && self.takes_work(agent))
    }

    /// Whether this agent serves the group's queue.
    pub fn is_member(&self, agent: UserId, group: GroupId) -> bool {
        self.agents.get(&agent).is_some_and(|agent| agent.settings.groups.contains(&group))
    }

    /// The agent's own cap, else the smallest cap among their groups that set one, else the default.
    pub fn capacity(&self, agent: &Agent) -> u32 {
        agent.settings.capacity.unwrap_or_else(|| {
            let group_caps = agent.settings.groups.iter().filter_map(|g| self.groups.get(g).and_then(|r| r.capacity));
            group_caps.min().unwrap_or(self.default_capacity)
        })
    }

    pub(super) fn has_slot(&self, agent: &Agent) -> bool {
        (agent.open.len() as u64) < u64::from(self.capacity(agent))
    }

    /// May the agent serve `queue` at all (for the dispenser, whatever their mode)?
    pub(super) fn serves(&self, agent: &Agent, queue: Option<GroupId>) -> bool {
        queue.is_none_or(|group| agent.settings.groups.contains(&group))
    }

    pub fn set_default_capacity(&mut self, capacity: u32, now: u64) -> Vec<Assignment> {
        self.default_capacity = capacity;
        self.dispatch_fresh(now)
    }

    pub fn set_group(&mut self, group: GroupId, rules: GroupRules, now: u64) -> Vec<Assignment> {
        self.groups.insert(group, rules);
        // Its limit may have moved: who overflows changes.
        self.dirty.queue(Some(group));
        self.dispatch_fresh(now)
    }

    /// Forgets a group: its waiting conversations move to the general queue (R-GRP-2).
    pub fn remove_group(&mut self, group: GroupId, now: u64) -> Vec<Assignment> {
        self.groups.remove(&group);
        self.dirty.queue(Some(group));
        self.dirty.queue(None);
        for agent in self.agents.values_mut() {
            agent.settings.groups.remove(&group);
        }
        for (_, conversation) in self.queues.remove(&Some(group)).unwrap_or_default() {
            if let Some(ticket) = self.waiting.get_mut(&conversation) {
                ticket.queue = None;
                self.queues.entry(None).or_default().insert((ticket.enqueued_at, conversation));
            }
        }
        for (_, ticket) in self.assigned.values_mut() {
            if ticket.queue == Some(group) {
                ticket.queue = None;
            }
        }
        self.dispatch_fresh(now)
    }

    /// Adds an agent or changes their settings (capacity, groups, mode).
    pub fn upsert_agent(&mut self, id: UserId, settings: AgentSettings, now: u64) -> Vec<Assignment> {
        self.agents.entry(id).or_default().settings = settings;
        self.dispatch_fresh(now)
    }

    /// Removes an agent (deactivated): their conversations return to the head of their queues.
    pub fn remove_agent(&mut self, id: UserId, now: u64) -> Vec<Assignment> {
        self.return_open(id);
        self.agents.remove(&id);
        self.dispatch_fresh(now)
    }

    pub fn set_available(&mut self, id: UserId, available: bool, now: u64) -> Result<Vec<Assignment>, RoutingError> {
        self.agents.get_mut(&id).ok_or(RoutingError::UnknownAgent)?.available = available;
        Ok(self.dispatch_fresh(now))
    }

    pub fn set_online(&mut self, id: UserId, online: bool, now: u64) -> Result<Vec<Assignment>, RoutingError> {
        self.agents.get_mut(&id).ok_or(RoutingError::UnknownAgent)?.online = online;
        Ok(self.dispatch_fresh(now))
    }

    /// Puts back a conversation read from disk at start, assigned or waiting, without checking
    /// capacity, presence or queue limits. An assignee no longer routable puts it back in line.
    pub fn restore(&mut self, conversation: ConversationId, agent: Option<UserId>, ticket: Ticket, assigned_at: u64) {
        match agent.filter(|agent| self.agents.contains_key(agent)) {
            Some(agent) => self.give(conversation, agent, ticket, assigned_at),
            None => self.park(conversation, ticket),
        }
    }

    /// Marks an agent online again after the state was read back from disk (presence is not
    /// stored), without assigning anything: like `restore`, the next operation dispatches.
    pub fn restore_online(&mut self, id: UserId) {
        if let Some(agent) = self.agents.get_mut(&id) {
            agent.online = true;
            self.free = None;
        }
    }

    /// Whether a group's queue is at its limit: a new customer waits beyond it (overflow), and a
    /// transfer into it is refused.
    pub fn queue_full(&self, queue: Option<GroupId>) -> bool {
        let Some(max) = queue.and_then(|group| self.group_rules(group).max_queue) else {
            return false;
        };
        self.queues.get(&queue).map_or(0, BTreeSet::len) as u64 >= u64::from(max)
    }

    /// An agent offline too long: their open conversations go back to the head of their queues,
    /// keeping their original waiting time (R-CONV-4).
    pub fn return_conversations(&mut self, id: UserId, now: u64) -> Vec<Assignment> {
        self.return_open(id);
        self.dispatch_fresh(now)
    }

    fn return_open(&mut self, id: UserId) {
        let Some(agent) = self.agents.get_mut(&id) else {
            return;
        };
        for conversation in std::mem::take(&mut agent.open) {
            if let Some((_, ticket)) = self.assigned.remove(&conversation) {
                self.park(conversation, ticket);
            }
        }
    }

    fn park(&mut self, conversation: ConversationId, ticket: Ticket) {
        let key = (ticket.enqueued_at, conversation);
        self.dirty.edit(ticket.queue, true, key);
        self.queues.entry(ticket.queue).or_default().insert(key);
        self.waiting.insert(conversation, ticket);
    }

    /// Takes a conversation out of its queue (it is given to someone, or leaves routing).
    pub(super) fn unpark(&mut self, conversation: ConversationId) -> Option<Ticket> {
        let ticket = self.waiting.remove(&conversation)?;
        let key = (ticket.enqueued_at, conversation);
        self.dirty.edit(ticket.queue, false, key);
        if let Some(line) = self.queues.get_mut(&ticket.queue) {
            line.remove(&key);
        }
        self.outside.asking.remove(&conversation);
        self.outside.left.remove(&conversation);
        Some(ticket)
    }

    /// A new conversation wants an agent. Past its queue's limit it still waits, behind the rest
    /// (overflow), and enters the queue proper as the ones ahead are served: nothing is refused.
    pub fn enqueue(
        &mut self,
        conversation: ConversationId,
        ticket: Ticket,
        now: u64,
    ) -> Result<Vec<Assignment>, RoutingError> {
        self.check_enqueue(conversation)?;
        self.park(conversation, ticket);
        Ok(self.dispatch(now))
    }

    /// The conversation leaves routing (finalized, or moved by a transfer): its agent's slot frees.
    pub fn release(&mut self, conversation: ConversationId, now: u64) -> Result<Vec<Assignment>, RoutingError> {
        self.check_release(conversation)?;
        if self.waiting.contains_key(&conversation) {
            self.unpark(conversation);
            return Ok(Vec::new());
        }
        let (agent, _) = self.assigned.remove(&conversation).ok_or(RoutingError::UnknownConversation)?;
        if let Some(this) = self.agents.get_mut(&agent) {
            this.open.remove(&conversation);
        }
        // Room freed: what the outside policy left queued may go now.
        self.outside.left.clear();
        // Only this agent's room changed: add them to the list of who takes work, if they now do.
        let takes_work = self.agents.get(&agent).is_some_and(|this| self.takes_work(this));
        if let Some(free) = &mut self.free
            && takes_work
            && !free.contains(&agent)
        {
            free.push(agent);
        }
        Ok(self.dispatch(now))
    }

    /// Gives a conversation to a chosen agent (transfer, supervisor assignment). Without `force`
    /// the agent must be available with a free slot.
    pub fn assign_to(
        &mut self,
        conversation: ConversationId,
        agent: UserId,
        force: bool,
        now: u64,
    ) -> Result<Vec<Assignment>, RoutingError> {
        self.check_assign_to(conversation, agent, force)?;
        let ticket = match (self.waiting.get(&conversation), self.assigned.get(&conversation)) {
            (Some(ticket), _) => *ticket,
            (None, Some((_, ticket))) => *ticket,
            (None, None) => return Err(RoutingError::UnknownConversation),
        };
        self.release(conversation, now)?;
        self.give(conversation, agent, ticket, now);
        let mut assignments = vec![Assignment { conversation, agent }];
        assignments.extend(self.dispatch_fresh(now));
        Ok(assignments)
    }

    pub(super) fn give(&mut self, conversation: ConversationId, agent: UserId, ticket: Ticket, now: u64) {
        // The agent may be full now; `dispatch` keeps its own list and puts it back.
        self.free = None;
        if let Some(this) = self.agents.get_mut(&agent) {
            this.open.insert(conversation);
            this.last_assigned_at = now;
        }
        self.assigned.insert(conversation, (agent, ticket));
        self.last_served.insert(ticket.contact, (agent, now));
    }

    /// Assigns whatever can be: repeatedly the oldest waiting conversation that has an eligible
    /// agent. Agents with a free slot are listed once, so a call costs one pass over the agents.
    fn dispatch(&mut self, now: u64) -> Vec<Assignment> {
        let mut made = Vec::new();
        let mut free = match self.free.take() {
            Some(free) => free,
            None => self.free_agents(),
        };
        while !free.is_empty() && !self.waiting.is_empty() {
            let Some((conversation, agent)) = self.next_assignment(&free, now) else { break };
            let Some(ticket) = self.unpark(conversation) else { break };
            self.give(conversation, agent, ticket, now);
            if !self.agents.get(&agent).is_some_and(|a| self.has_slot(a)) {
                free.retain(|id| *id != agent);
            }
            made.push(Assignment { conversation, agent });
        }
        self.free = Some(free);
        made
    }

    /// `dispatch` after a change that may give any agent room: the list is made again.
    fn dispatch_fresh(&mut self, now: u64) -> Vec<Assignment> {
        self.free = None;
        self.outside.left.clear();
        self.dispatch(now)
    }

    /// Agents who take work now.
    fn free_agents(&self) -> Vec<UserId> {
        self.agents.iter().filter(|(_, agent)| self.takes_work(agent)).map(|(id, _)| *id).collect()
    }

    /// Available, online, automatic and with a free slot.
    fn takes_work(&self, agent: &Agent) -> bool {
        agent.available && agent.online && agent.settings.mode == AssignMode::Automatic && self.has_slot(agent)
    }

    /// The oldest waiting conversation (across queues) that gets an agent now, and that agent. A
    /// conversation an outside policy leaves queued does not hold up the ones behind it; after
    /// `MAX_LEAVES` such answers the rest wait for the next change.
    fn next_assignment(&mut self, free: &[UserId], now: u64) -> Option<(ConversationId, UserId)> {
        const MAX_LEAVES: usize = 16;
        let automatic = |mode| mode == AssignMode::Automatic;
        let mut heads: Vec<((u64, ConversationId), Option<GroupId>)> = self
            .queues
            .iter()
            .filter_map(|(queue, line)| self.first_in(line, automatic).map(|head| (head, *queue)))
            .collect();
        let mut leaves = 0;
        loop {
            let index = (0..heads.len()).min_by_key(|i| heads[*i].0)?;
            let (head, queue) = heads[index];
            match self.decide(queue, head.1, free, now) {
                Decision::Agent(agent) => return Some((head.1, agent)),
                Decision::Leave if leaves < MAX_LEAVES => {
                    leaves += 1;
                    let line = self.queues.get(&queue)?;
                    let mut behind = line.range((std::ops::Bound::Excluded(head), std::ops::Bound::Unbounded));
                    match behind.find(|(_, id)| self.waiting.get(id).is_some_and(|t| automatic(t.mode))) {
                        Some(next) => heads[index].0 = *next,
                        None => drop(heads.swap_remove(index)),
                    }
                }
                Decision::Leave | Decision::Nobody => drop(heads.swap_remove(index)),
            }
        }
    }

    /// The oldest entry of a queue whose channel mode `wanted` accepts.
    pub(super) fn first_in(
        &self,
        line: &BTreeSet<(u64, ConversationId)>,
        wanted: impl Fn(AssignMode) -> bool,
    ) -> Option<(u64, ConversationId)> {
        line.iter().find(|(_, id)| self.waiting.get(id).is_some_and(|ticket| wanted(ticket.mode))).copied()
    }

    /// Who takes a conversation of `queue` among the free agents: with an outside policy, it is
    /// asked (and the conversation passed over until it answers); else the queue's built-in policy.
    fn decide(&mut self, queue: Option<GroupId>, conversation: ConversationId, free: &[UserId], now: u64) -> Decision {
        if self.eligible(queue, free).next().is_none() {
            return Decision::Nobody;
        }
        if self.outside.on {
            if !self.outside.asking.contains(&conversation) && !self.outside.left.contains(&conversation) {
                self.ask(queue, conversation, free);
            }
            return Decision::Leave;
        }
        self.builtin(queue, conversation, free, now).map_or(Decision::Nobody, Decision::Agent)
    }

    /// The free agents who serve `queue`.
    fn eligible<'a>(
        &'a self,
        queue: Option<GroupId>,
        free: &'a [UserId],
    ) -> impl Iterator<Item = (&'a UserId, &'a Agent)> + 'a {
        free.iter()
            .filter_map(|id| self.agents.get_key_value(id))
            .filter(move |(_, agent)| queue.is_none_or(|group| agent.settings.groups.contains(&group)))
    }

    /// The queue's built-in policy's pick among the free agents who serve it.
    fn builtin(
        &self,
        queue: Option<GroupId>,
        conversation: ConversationId,
        free: &[UserId],
        now: u64,
    ) -> Option<UserId> {
        let policy = queue.map(|group| self.group_rules(group).policy).unwrap_or_default();
        if policy == Policy::Sticky
            && let Some(contact) = self.waiting.get(&conversation).map(|ticket| ticket.contact)
            && let Some((previous, at)) = self.last_served.get(&contact)
            && now.saturating_sub(*at) <= STICKY_WINDOW_MS
            && self.eligible(queue, free).any(|(id, _)| id == previous)
        {
            return Some(*previous);
        }
        let chosen = match policy {
            Policy::RoundRobin => self.eligible(queue, free).min_by_key(|(id, agent)| (agent.last_assigned_at, **id)),
            Policy::Equitable | Policy::Sticky => {
                self.eligible(queue, free).min_by_key(|(id, agent)| (agent.open.len(), agent.last_assigned_at, **id))
            }
        };
        chosen.map(|(id, _)| *id)
    }

    /// Puts the question about `conversation` to the outside policy, with who could take it now.
    fn ask(&mut self, queue: Option<GroupId>, conversation: ConversationId, free: &[UserId]) {
        let Some(ticket) = self.waiting.get(&conversation).copied() else { return };
        let candidates = self
            .eligible(queue, free)
            .map(|(id, agent)| Candidate {
                id: *id,
                load: agent.open.len(),
                capacity: self.capacity(agent),
                groups: agent.settings.groups.iter().copied().collect(),
                last_assigned_at: agent.last_assigned_at,
            })
            .collect();
        self.outside.asking.insert(conversation);
        self.outside.questions.push(Question { conversation, ticket, candidates });
    }
}

mod checks;
mod dispenser;
pub mod snapshot;

use snapshot::Dirty;
#[cfg(test)]
mod tests;
