//! The writer's in-memory state: the routing of conversations to agents, rebuilt from the store at
//! start (and after a failed commit), so that deciding an assignment never touches the disk.

use std::collections::BTreeSet;

use redb::WriteTransaction;

use super::live::LiveView;
use super::{ApplyError, Command, Event, Read, State, WriteError};
use crate::domain::access::Role;
use crate::domain::account::{Group, User};
use crate::domain::conversation::{Conversation, Status};
use crate::domain::routing::{AgentProfile, AgentSettings, Routing, Ticket};
use crate::domain::today::{DayBook, day_start};
use crate::store::{Store, StoreError};

/// Conversations per agent when neither the agent nor their groups set a cap (R-CONV-3).
pub const DEFAULT_CAPACITY: u32 = 6;

#[derive(Debug, Default)]
pub struct Runtime {
    pub(crate) last_boot: u64,
    pub(crate) routing: Routing,
    /// Where invite and reset links wait to be sent; survives a reload of the state.
    pub(crate) mail_links: super::mail_links::MailLinks,
    /// The live views' snapshot, published after each commit; its channel survives a reload.
    pub(crate) live: super::live::Live,
}

impl State<super::Event> for Runtime {
    fn load(store: &Store) -> Result<Self, StoreError> {
        let read = store.read()?;
        let last_boot = read.boots()?.last().map_or(0, |(seq, _)| *seq);
        let groups = read.groups()?;
        let mut routing = Routing::new(DEFAULT_CAPACITY);
        for group in &groups {
            routing.set_group(group.id, group.rules, 0);
        }
        for user in read.users()?.iter().filter(|user| routable(user)) {
            let profile = read.agent_profile(user.id)?.unwrap_or_default();
            routing.upsert_agent(user.id, agent_settings(user, &profile, &groups), 0);
            let _ = routing.set_available(user.id, profile.available, 0);
        }
        for conversation in read.open_conversations()? {
            restore(&mut routing, &conversation);
        }
        let book = day_book(&read)?;
        routing.take_dirty();
        let live = super::live::Live::new(&routing, book);
        Ok(Runtime { last_boot, routing, mail_links: Default::default(), live })
    }

    fn reload(&mut self, store: &Store) -> Result<(), StoreError> {
        let mut fresh = Runtime::load(store)?;
        // Presence is not on disk: who has a socket open is still online.
        let online: Vec<_> = self.routing.agents().filter(|(_, agent)| agent.online).map(|(id, _)| *id).collect();
        for id in online {
            fresh.routing.restore_online(id);
        }
        // The questions put to the rules' `assign` hook are forgotten (asked again with the next
        // batch); the hook stays on.
        fresh.routing.set_outside(self.routing.outside(), 0);
        fresh.mail_links = self.mail_links.clone();
        fresh.live.adopt(&self.live, &fresh.routing);
        *self = fresh;
        Ok(())
    }

    fn committed(&mut self, events: &mut dyn Iterator<Item = &super::Event>) {
        self.live.committed(&mut self.routing, events);
    }

    fn settle(&mut self, events: &mut Vec<super::Event>) {
        if self.routing.take_moved() && !events.contains(&super::Event::QueueChanged) {
            events.push(super::Event::QueueChanged);
        }
        events.extend(
            self.routing.take_questions().into_iter().map(|question| super::Event::AssignmentAsked { question }),
        );
    }
}

/// Today's book from the conversations created since yesterday began: its day is the newest
/// one's (a clock moved by a test), else the system clock's.
fn day_book(read: &crate::store::Reader) -> Result<DayBook, StoreError> {
    let yesterday = day_start(crate::clock::system_millis()).saturating_sub(86_400_000);
    let recent = read.conversations_since(yesterday)?;
    let newest = recent.iter().map(|c| c.created_at).max().unwrap_or(0);
    Ok(DayBook::new(newest.max(crate::clock::system_millis()), recent.iter()))
}

/// Users the router gives conversations to: active agents.
pub fn routable(user: &User) -> bool {
    user.active && user.roles.contains(&Role::Agent)
}

pub fn agent_settings(user: &User, profile: &AgentProfile, groups: &[Group]) -> AgentSettings {
    let member_of: BTreeSet<_> =
        groups.iter().filter(|group| group.members.contains(&user.id)).map(|group| group.id).collect();
    AgentSettings { capacity: profile.capacity, groups: member_of, mode: profile.mode }
}

pub fn ticket(conversation: &Conversation) -> Ticket {
    Ticket {
        queue: conversation.group,
        enqueued_at: conversation.enqueued_at.unwrap_or(conversation.created_at),
        contact: conversation.contact,
        mode: conversation.mode,
    }
}

fn restore(routing: &mut Routing, conversation: &Conversation) {
    match (conversation.status, conversation.assignee) {
        (Status::Assigned, Some(agent)) => {
            routing.restore(conversation.id, Some(agent), ticket(conversation), conversation.assigned_at.unwrap_or(0));
        }
        (Status::Queued | Status::Assigned, _) => routing.restore(conversation.id, None, ticket(conversation), 0),
        (Status::Bot | Status::Finalized, _) => {}
    }
}

/// Hands out a `LiveView` (the server asks once at start). Writes nothing.
pub struct WatchLive;

impl Command<Runtime, Event> for WatchLive {
    type Output = LiveView;
    type Plan = LiveView;

    fn check(self, state: &Runtime, _: &Read<'_>) -> Result<LiveView, ApplyError> {
        Ok(state.live.view())
    }

    fn write(
        plan: LiveView,
        _: &mut Runtime,
        _: &WriteTransaction,
        _: &mut Vec<Event>,
    ) -> Result<LiveView, WriteError> {
        Ok(plan)
    }
}
