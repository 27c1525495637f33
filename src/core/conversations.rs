//! Commands on conversations: a customer writes, an agent replies or notes, transfer, assign,
//! finalize, read, labels (R-CONV-1, R-CONV-5, R-CONV-9). Routing decisions come from the runtime's
//! `Routing`; each assignment it makes is written here, in the same transaction.
//!
//! Each command checks (and loads) everything in `check`; its `write` only carries the plan out.
//! The helpers here that only write (`save_conversation`, `append`, `write_assignments`, …) fail
//! only on storage, so any command's `write` may call them.

mod contact_index;
mod customer;
mod webhooks;

use redb::{ReadableTable, WriteTransaction};

use super::records::append;
use super::{ApplyError, Command, Event, Read, Rejection, Runtime, Tables, WriteError};
use crate::domain::conversation::{
    ActivityKind, Author, Channel, Conversation, Message, Party, Status, check_text, clean_label, preview,
};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::{ChannelId, ConversationId, MessageId, UserId};
use crate::domain::policy::{self, NotActing};
use crate::domain::routing::{Assignment, RoutingError};
use crate::store::StoreError;
use crate::store::tables::{
    CHANNEL_ID_TO_CHANNEL, CONVERSATION_ID_TO_CONVERSATION, LAST_MESSAGE_TO_OPEN_ID, OPEN_CONVERSATION_IDS,
};
use webhooks::{Hook, Webhook};

pub use contact_index::IndexContactConversations;
pub use customer::{CustomerMessage, CustomerOutcome, CustomerProfile};
pub use webhooks::DeliveryAttempted;

/// The conversation, or a `conversation_not_found` rejection: for checks.
pub fn load_conversation(tx: &impl Tables, id: ConversationId) -> Result<Conversation, ApplyError> {
    let table = tx.table(CONVERSATION_ID_TO_CONVERSATION.definition())?;
    CONVERSATION_ID_TO_CONVERSATION
        .get(&table, id.0)?
        .ok_or_else(|| Rejection::not_found(ErrorCode::ConversationNotFound, "There is no such conversation.").into())
}

/// The conversation, in a write step: its check made sure it exists (or its command just wrote
/// it), so a missing one is a broken invariant, never a refusal.
pub fn stored_conversation(tx: &impl Tables, id: ConversationId) -> Result<Conversation, StoreError> {
    let table = tx.table(CONVERSATION_ID_TO_CONVERSATION.definition())?;
    CONVERSATION_ID_TO_CONVERSATION
        .get(&table, id.0)?
        .ok_or_else(|| StoreError::Invariant(format!("conversation {} is not on record", id.0)))
}

/// Writes a conversation and keeps the indexes of open ones in step.
pub fn save_conversation(tx: &WriteTransaction, conversation: &Conversation) -> Result<(), StoreError> {
    let stored = {
        let table = tx.open_table(CONVERSATION_ID_TO_CONVERSATION.definition())?;
        CONVERSATION_ID_TO_CONVERSATION.get(&table, conversation.id.0)?.map(|before| before.last_message_at)
    };
    save_conversation_over(tx, conversation, stored)
}

/// As `save_conversation`, for a caller that holds the record as it is stored now: `stored` is
/// its `last_message_at` (`None` for a conversation not on record yet), so it is not read again.
pub fn save_conversation_over(
    tx: &WriteTransaction,
    conversation: &Conversation,
    stored: Option<u64>,
) -> Result<(), StoreError> {
    let mut table = tx.open_table(CONVERSATION_ID_TO_CONVERSATION.definition())?;
    let id = conversation.id.0;
    CONVERSATION_ID_TO_CONVERSATION.insert(&mut table, id, conversation)?;
    let mut open = tx.open_table(OPEN_CONVERSATION_IDS)?;
    let mut by_last_message = tx.open_table(LAST_MESSAGE_TO_OPEN_ID)?;
    if let Some(before) = stored {
        by_last_message.remove((before, id))?;
    }
    if conversation.status == Status::Finalized {
        open.remove(id)?;
    } else {
        open.insert(id, ())?;
        by_last_message.insert((conversation.last_message_at, id), ())?;
    }
    Ok(())
}

pub(super) fn append_message(
    tx: &WriteTransaction,
    conversation: ConversationId,
    author: Author,
    text: String,
    private: bool,
    at: u64,
) -> Result<Message, StoreError> {
    let message =
        Message { id: MessageId(0), conversation, author, text, private, created_at: at, activity: None, rule: None };
    append(tx, message)
}

/// Writes what the router decided: each conversation now held by its agent.
pub fn write_assignments(
    tx: &WriteTransaction,
    assignments: &[Assignment],
    at: u64,
    events: &mut Vec<Event>,
) -> Result<(), ApplyError> {
    write_assignments_by(tx, assignments, None, at, events)
}

/// As `write_assignments`, where a user assigned one of them by hand (mail notices tell who).
/// Fails only on storage: routing holds only conversations on record.
pub fn write_assignments_by(
    tx: &WriteTransaction,
    assignments: &[Assignment],
    by: Option<super::notify::By>,
    at: u64,
    events: &mut Vec<Event>,
) -> Result<(), ApplyError> {
    for assignment in assignments {
        let mut conversation = stored_conversation(tx, assignment.conversation)?;
        let stored = conversation.last_message_at;
        // New to whoever gets it (a transfer, a supervisor's choice): the dot shows until she opens it.
        conversation.unread |= conversation.assignee != Some(assignment.agent);
        conversation.status = Status::Assigned;
        conversation.assignee = Some(assignment.agent);
        conversation.assigned_at.get_or_insert(at);
        if !conversation.served_by.contains(&assignment.agent) {
            conversation.served_by.push(assignment.agent);
        }
        save_conversation_over(tx, &conversation, Some(stored))?;
        super::notify::assigned(tx, &conversation, by, at, events)?;
        // A person's assignment (a transfer, a supervisor, the dispenser) wrote its own line.
        if !super::activity::told(events, conversation.id, assignment.agent) {
            let target = super::activity::user_party(tx, assignment.agent)?;
            super::activity::write(tx, events, &conversation, ActivityKind::Assigned, None, Some(target), at)?;
        }
        events.push(Event::ConversationAssigned { conversation });
    }
    if !assignments.is_empty() {
        events.push(Event::QueueChanged);
    }
    Ok(())
}

fn load_channel(tx: &impl Tables, id: ChannelId) -> Result<Channel, ApplyError> {
    let table = tx.table(CHANNEL_ID_TO_CHANNEL.definition())?;
    CHANNEL_ID_TO_CHANNEL
        .get(&table, id.0)?
        .ok_or_else(|| Rejection::not_found(ErrorCode::ChannelNotFound, "There is no such channel.").into())
}

pub fn routing_rejection(err: RoutingError) -> ApplyError {
    let rejection = match err {
        RoutingError::QueueFull => {
            Rejection::conflict(ErrorCode::QueueFull, "That group's queue is at its limit; choose another target.")
        }
        RoutingError::AgentFull => {
            Rejection::conflict(ErrorCode::AgentUnavailable, "That agent is not available or has no free slot.")
        }
        RoutingError::UnknownAgent => Rejection::not_found(
            ErrorCode::AgentNotFound,
            "That user does not take conversations (not an active agent).",
        ),
        RoutingError::UnknownConversation | RoutingError::Duplicate => {
            Rejection::conflict(ErrorCode::ConversationNotRoutable, "The conversation is not waiting or assigned.")
        }
        RoutingError::NotWaiting => Rejection::conflict(
            ErrorCode::ConversationNotWaiting,
            "This conversation is no longer waiting: someone has taken it, or it ended.",
        ),
        RoutingError::NotServed => {
            Rejection::forbidden(ErrorCode::NotYourQueue, "This conversation waits in a queue you do not serve.")
        }
        RoutingError::SupervisorAssigns => Rejection::conflict(
            ErrorCode::SupervisorAssigns,
            "A supervisor or an administrator assigns the conversations of this channel.",
        ),
    };
    rejection.into()
}

/// Routing refused, in a write step, what the command's check found it would do: a bug.
pub fn routing_broke(err: RoutingError) -> WriteError {
    WriteError::Store(StoreError::Invariant(format!("routing refused after its check: {err}")))
}

/// Who acts on a conversation, and whether they may act on any (supervisors, administrators).
#[derive(Debug, Clone, Copy)]
pub struct Staff {
    pub user: UserId,
    pub oversees: bool,
}

pub(super) fn check_may_act(conversation: &Conversation, by: Staff) -> Result<(), ApplyError> {
    policy::may_act(by.user, by.oversees, conversation).map_err(|why| not_acting(why).into())
}

fn not_acting(why: NotActing) -> Rejection {
    match why {
        NotActing::Finalized => Rejection::conflict(ErrorCode::ConversationFinalized, "The conversation is finalized."),
        NotActing::NotYours => {
            Rejection::forbidden(ErrorCode::NotYourConversation, "The conversation is not assigned to you.")
        }
    }
}

/// An agent's reply (sent to the customer) or internal note (`private`, staff only).
pub struct AgentMessage {
    pub conversation: ConversationId,
    pub by: Staff,
    pub text: String,
    pub private: bool,
    pub at: u64,
}

pub struct AgentMessagePlan {
    conversation: Conversation,
    author: UserId,
    text: String,
    private: bool,
    /// A reply on an API channel with a webhook: where it goes, and the agent's name it carries.
    webhook: Option<(Webhook, Option<String>)>,
    at: u64,
}

impl Command<Runtime, Event> for AgentMessage {
    type Output = Message;
    type Plan = AgentMessagePlan;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<AgentMessagePlan, ApplyError> {
        let text = check_text(&self.text).map_err(Rejection::from)?;
        let conversation = load_conversation(read, self.conversation)?;
        check_may_act(&conversation, self.by)?;
        let webhook = match self.private {
            true => None,
            false => Webhook::of(read, &conversation)?.map(|hook| hook.with_agent(read, self.by.user)).transpose()?,
        };
        Ok(AgentMessagePlan { conversation, author: self.by.user, text, private: self.private, webhook, at: self.at })
    }

    fn write(
        plan: AgentMessagePlan,
        _: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Message, WriteError> {
        let AgentMessagePlan { mut conversation, author, text, private, webhook, at } = plan;
        let message = append_message(tx, conversation.id, Author::Agent(author), text, private, at)?;
        // A reply ends the customer's wait; a note does not.
        conversation.add_message(&message);
        if !private {
            conversation.first_response_at.get_or_insert(at);
            conversation.last_message_at = at;
            conversation.last_preview = preview(&message.text);
        }
        if let Some((webhook, agent)) = webhook {
            webhook.deliver(tx, Hook::Message { message: &message, agent }, at)?;
        }
        save_conversation(tx, &conversation)?;
        events.push(Event::MessageCreated { conversation, message: message.clone() });
        Ok(message)
    }
}

/// Closes a conversation with an optional reason; the agent's slot takes the next waiting one.
pub struct Finalize {
    pub conversation: ConversationId,
    pub reason: Option<String>,
    pub by: Staff,
    pub at: u64,
}

pub struct FinalizePlan {
    conversation: Conversation,
    reason: Option<String>,
    actor: Party,
    webhook: Option<Webhook>,
    at: u64,
}

impl Command<Runtime, Event> for Finalize {
    type Output = Conversation;
    type Plan = FinalizePlan;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<FinalizePlan, ApplyError> {
        let conversation = load_conversation(read, self.conversation)?;
        check_may_act(&conversation, self.by)?;
        let reason = self.reason.as_deref().map(clean_label).transpose().map_err(Rejection::from)?;
        let actor = super::activity::user_party(read, self.by.user)?;
        let webhook = Webhook::of(read, &conversation)?;
        Ok(FinalizePlan { conversation, reason, actor, webhook, at: self.at })
    }

    fn write(
        plan: FinalizePlan,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Conversation, WriteError> {
        let FinalizePlan { mut conversation, reason, actor, webhook, at } = plan;
        super::activity::write(tx, events, &conversation, ActivityKind::Finalized, Some(actor), None, at)?;
        close(state, tx, events, &mut conversation, reason, webhook.as_ref(), at)?;
        Ok(conversation)
    }
}

/// Finalizes a conversation already checked: its slot goes to the next waiting one, the API
/// channel's webhook hears of it. (For a command's write step: refuses only if the conversation's
/// channel is not on record.)
pub fn finish(
    state: &mut Runtime,
    tx: &WriteTransaction,
    events: &mut Vec<Event>,
    conversation: &mut Conversation,
    reason: Option<String>,
    at: u64,
) -> Result<(), ApplyError> {
    let webhook = Webhook::of(tx, conversation)?;
    Ok(close(state, tx, events, conversation, reason, webhook.as_ref(), at)?)
}

fn close(
    state: &mut Runtime,
    tx: &WriteTransaction,
    events: &mut Vec<Event>,
    conversation: &mut Conversation,
    reason: Option<String>,
    webhook: Option<&Webhook>,
    at: u64,
) -> Result<(), WriteError> {
    // One routing does not hold (a bot's) has no slot to free.
    let assignments = state.routing.release(conversation.id, at).unwrap_or_default();
    conversation.finalize(reason, at);
    save_conversation(tx, conversation)?;
    if let Some(webhook) = webhook {
        webhook.deliver(tx, Hook::Finalized { reason: conversation.finalize_reason.clone() }, at)?;
    }
    events.push(Event::ConversationFinalized { conversation: conversation.clone() });
    Ok(write_assignments(tx, &assignments, at, events)?)
}

/// A message from a rule (its reply or note), with the rule's name as author: public ones reach
/// the customer (and an API channel's webhook) like an agent's reply. (For a command's write
/// step: refuses only if the conversation's channel is not on record.)
pub fn system_message(
    tx: &WriteTransaction,
    events: &mut Vec<Event>,
    conversation: &mut Conversation,
    text: String,
    private: bool,
    rule: &str,
    at: u64,
) -> Result<(), ApplyError> {
    let webhook = if private { None } else { Webhook::of(tx, conversation)? };
    let rule = Some(super::records::rule_name(rule).to_owned()).filter(|name| !name.is_empty());
    let message = Message {
        id: MessageId(0),
        conversation: conversation.id,
        author: Author::System,
        text,
        private,
        created_at: at,
        activity: None,
        rule: rule.clone(),
    };
    let message = append(tx, message)?;
    // A rule's words are no agent's answer: the customer's wait goes on.
    conversation.add_message(&message);
    if !private {
        conversation.last_message_at = at;
        conversation.last_preview = preview(&message.text);
    }
    if let Some(webhook) = webhook {
        webhook.deliver(tx, Hook::Message { message: &message, agent: rule }, at)?;
    }
    save_conversation(tx, conversation)?;
    events.push(Event::MessageCreated { conversation: conversation.clone(), message });
    Ok(())
}

/// The agent opened the conversation: the unread dot goes.
pub struct MarkRead {
    pub conversation: ConversationId,
    pub by: Staff,
}

impl Command<Runtime, Event> for MarkRead {
    type Output = ();
    /// The conversation without its dot, if it had one for her.
    type Plan = Option<Conversation>;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<Option<Conversation>, ApplyError> {
        let conversation = load_conversation(read, self.conversation)?;
        let hers = conversation.assignee == Some(self.by.user) && conversation.unread;
        Ok(hers.then_some(Conversation { unread: false, ..conversation }))
    }

    fn write(
        plan: Option<Conversation>,
        _: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<(), WriteError> {
        if let Some(conversation) = plan {
            save_conversation(tx, &conversation)?;
            events.push(Event::ConversationUpdated { conversation });
        }
        Ok(())
    }
}

/// Adds or removes a label.
pub struct SetLabel {
    pub conversation: ConversationId,
    pub label: String,
    pub present: bool,
    pub by: Staff,
}

impl Command<Runtime, Event> for SetLabel {
    type Output = Conversation;
    /// The conversation with its labels as they are to be.
    type Plan = Conversation;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<Conversation, ApplyError> {
        let label = clean_label(&self.label).map_err(Rejection::from)?;
        let mut conversation = load_conversation(read, self.conversation)?;
        policy::may_edit(self.by.user, self.by.oversees, &conversation).map_err(not_acting)?;
        conversation.labels.retain(|existing| !existing.eq_ignore_ascii_case(&label));
        if self.present {
            conversation.labels.push(label);
        }
        Ok(conversation)
    }

    fn write(
        conversation: Conversation,
        _: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Conversation, WriteError> {
        save_conversation(tx, &conversation)?;
        events.push(Event::ConversationUpdated { conversation: conversation.clone() });
        Ok(conversation)
    }
}

/// Every conversation not finalized (fails only on storage: the index lists what is on record).
pub fn open_conversations(tx: &impl Tables) -> Result<Vec<Conversation>, ApplyError> {
    let index = tx.table(OPEN_CONVERSATION_IDS)?;
    let ids: Vec<u64> = index.iter()?.map(|row| row.map(|(id, _)| id.value())).collect::<Result<_, _>>()?;
    Ok(ids.into_iter().map(|id| stored_conversation(tx, ConversationId(id))).collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests;
