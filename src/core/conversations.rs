//! Commands on conversations: a customer writes, an agent replies or notes, transfer, assign,
//! finalize, read, labels (R-CONV-1, R-CONV-5, R-CONV-9). Routing decisions come from the runtime's
//! `Routing`; each assignment it makes is written here, in the same transaction.

use redb::{ReadableTable, WriteTransaction};

use super::records::find_user;
use super::{ApplyError, Command, Event, Read, RejectKind, Rejection, Runtime, Tables, WriteError};
use crate::domain::conversation::{
    ActivityKind, Author, Channel, Contact, Conversation, Identity, Message, Status, check_text, clean_label, preview,
};
use crate::domain::ids::{ChannelId, ContactId, ConversationId, MessageId, UserId};
use crate::domain::policy::{self, NotActing};
use crate::domain::routing::{Assignment, Place, RoutingError};
use crate::domain::webhook::Delivery;
use crate::store::tables::{
    CHANNEL_ID_TO_CHANNEL, CONTACT_CHANNEL_TO_CONVERSATION, CONTACT_ID_TO_CONTACT, CONVERSATION_ID_TO_CONVERSATION,
    DELIVERY_ID_TO_DELIVERY, IDENTITY_TO_CONTACT_ID, MESSAGE_KEY_TO_MESSAGE, OPEN_CONVERSATION_IDS,
    PENDING_DELIVERY_IDS,
};

pub use super::transfers::{Transfer, TransferTarget, requeue};

pub fn load_conversation(tx: &impl Tables, id: ConversationId) -> Result<Conversation, ApplyError> {
    let table = tx.table(CONVERSATION_ID_TO_CONVERSATION.definition())?;
    CONVERSATION_ID_TO_CONVERSATION
        .get(&table, id.0)?
        .ok_or_else(|| Rejection::not_found("conversation_not_found", "There is no such conversation.").into())
}

/// Writes a conversation and keeps the index of open ones in step.
pub fn save_conversation(tx: &WriteTransaction, conversation: &Conversation) -> Result<(), ApplyError> {
    let mut table = tx.open_table(CONVERSATION_ID_TO_CONVERSATION.definition())?;
    CONVERSATION_ID_TO_CONVERSATION.insert(&mut table, conversation.id.0, conversation)?;
    let mut open = tx.open_table(OPEN_CONVERSATION_IDS)?;
    if conversation.status == Status::Finalized {
        open.remove(conversation.id.0)?;
    } else {
        open.insert(conversation.id.0, ())?;
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
) -> Result<Message, ApplyError> {
    let message =
        Message { id: MessageId(0), conversation, author, text, private, created_at: at, activity: None, rule: None };
    append(tx, message)
}

/// Stores a message as the conversation's next one (its id is given here).
pub fn append(tx: &WriteTransaction, mut message: Message) -> Result<Message, ApplyError> {
    let conversation = message.conversation;
    let mut table = tx.open_table(MESSAGE_KEY_TO_MESSAGE.definition())?;
    let last = table.range((conversation.0, 0)..=(conversation.0, u64::MAX))?.next_back().transpose()?;
    let seq = last.map_or(1, |(key, _)| key.value().1 + 1);
    message.id = MessageId(seq);
    MESSAGE_KEY_TO_MESSAGE.insert(&mut table, (conversation.0, seq), &message)?;
    Ok(message)
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
pub fn write_assignments_by(
    tx: &WriteTransaction,
    assignments: &[Assignment],
    by: Option<super::notify::By>,
    at: u64,
    events: &mut Vec<Event>,
) -> Result<(), ApplyError> {
    for assignment in assignments {
        let mut conversation = load_conversation(tx, assignment.conversation)?;
        // New to whoever gets it (a transfer, a supervisor's choice): the dot shows until she opens it.
        conversation.unread |= conversation.assignee != Some(assignment.agent);
        conversation.status = Status::Assigned;
        conversation.assignee = Some(assignment.agent);
        conversation.assigned_at.get_or_insert(at);
        if !conversation.served_by.contains(&assignment.agent) {
            conversation.served_by.push(assignment.agent);
        }
        save_conversation(tx, &conversation)?;
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

/// What a customer gives of themselves with a message.
#[derive(Debug, Clone, Default)]
pub struct CustomerProfile {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// A customer's message on a channel: continues their open conversation there, or opens a new
/// one (linked to the previous) and queues it.
pub struct CustomerMessage {
    pub channel: ChannelId,
    /// Who the customer is on the channel (a widget visitor id, a phone, an API identifier).
    pub identifier: String,
    pub profile: CustomerProfile,
    pub text: String,
    pub at: u64,
}

#[derive(Debug, Clone)]
pub struct CustomerOutcome {
    pub conversation: Conversation,
    pub message: Message,
    pub contact: Contact,
    /// Its place in line while it waits; `overflow` when the queue was past its limit.
    pub place: Option<Place>,
}

impl Command<Runtime, Event> for CustomerMessage {
    type Output = CustomerOutcome;
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

impl CustomerMessage {
    fn apply(
        self,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<CustomerOutcome, ApplyError> {
        let text = check_text(&self.text).map_err(Rejection::from)?;
        let channel = load_channel(tx, self.channel)?;
        if channel.disabled_at.is_some() {
            return Err(
                Rejection::new(RejectKind::Gone, "channel_disabled", "This channel has been switched off.").into()
            );
        }
        let contact = find_or_create_contact(tx, &channel, &self.identifier, &self.profile, self.at)?;
        let current = latest_conversation(tx, contact.id, channel.id)?.filter(|c| c.status != Status::Finalized);
        // A full queue still takes the customer, beyond its limit (overflow): no words are lost.
        let (mut conversation, created) = match current {
            Some(conversation) => (conversation, false),
            None => (new_conversation(tx, &contact, &channel, self.at)?, true),
        };
        if created && let Some(chooser) = &state.rule_chooser {
            // The router may ask the rules' `assign` about it before it is committed.
            chooser.remember(&conversation, &contact, &channel);
        }
        let message = append_message(tx, conversation.id, Author::Customer, text, false, self.at)?;
        conversation.last_message_at = self.at;
        conversation.last_customer_at = Some(self.at);
        conversation.last_preview = preview(&message.text);
        conversation.unread = true;
        save_conversation(tx, &conversation)?;
        if created {
            events.push(Event::ConversationCreated { conversation: conversation.clone() });
            let assignments = state
                .routing
                .enqueue(conversation.id, super::runtime::ticket(&conversation), self.at)
                .map_err(routing_rejection)?;
            events.push(Event::QueueChanged);
            write_assignments(tx, &assignments, self.at, events)?;
            conversation = load_conversation(tx, conversation.id)?;
            super::notify::entered_queue(tx, &conversation, None, self.at, events)?;
        }
        events.push(Event::MessageCreated { conversation: conversation.clone(), message: message.clone() });
        let place = state.routing.place(conversation.id);
        Ok(CustomerOutcome { conversation, message, contact, place })
    }
}

fn load_channel(tx: &impl Tables, id: ChannelId) -> Result<Channel, ApplyError> {
    let table = tx.table(CHANNEL_ID_TO_CHANNEL.definition())?;
    CHANNEL_ID_TO_CHANNEL
        .get(&table, id.0)?
        .ok_or_else(|| Rejection::not_found("channel_not_found", "There is no such channel.").into())
}

fn find_or_create_contact(
    tx: &WriteTransaction,
    channel: &Channel,
    identifier: &str,
    profile: &CustomerProfile,
    at: u64,
) -> Result<Contact, ApplyError> {
    let mut index = tx.open_table(IDENTITY_TO_CONTACT_ID)?;
    let mut contacts = tx.open_table(CONTACT_ID_TO_CONTACT.definition())?;
    let known = index.get((channel.id.0, identifier))?.map(|id| id.value());
    let mut contact = match known.map(|id| CONTACT_ID_TO_CONTACT.get(&contacts, id)).transpose()?.flatten() {
        Some(contact) => contact,
        None => {
            let id = ContactId(CONTACT_ID_TO_CONTACT.next_key(&contacts)?);
            index.insert((channel.id.0, identifier), id.0)?;
            let identity = Identity { channel: channel.id, identifier: identifier.to_owned() };
            Contact { id, identities: vec![identity], created_at: at, ..Contact::default() }
        }
    };
    // What the customer tells about themselves fills gaps; staff edits are not overwritten.
    let fill = |slot: &mut Option<String>, given: &Option<String>| {
        if slot.is_none() {
            *slot = given.clone().filter(|value| !value.trim().is_empty());
        }
    };
    fill(&mut contact.name, &profile.name);
    fill(&mut contact.email, &profile.email);
    fill(&mut contact.phone, &profile.phone);
    CONTACT_ID_TO_CONTACT.insert(&mut contacts, contact.id.0, &contact)?;
    Ok(contact)
}

/// The contact's newest conversation on a channel.
fn latest_conversation(
    tx: &WriteTransaction,
    contact: ContactId,
    channel: ChannelId,
) -> Result<Option<Conversation>, ApplyError> {
    let index = tx.open_table(CONTACT_CHANNEL_TO_CONVERSATION)?;
    let latest = index.get((contact.0, channel.0))?.map(|id| id.value());
    latest.map(|id| load_conversation(tx, ConversationId(id))).transpose()
}

fn new_conversation(
    tx: &WriteTransaction,
    contact: &Contact,
    channel: &Channel,
    at: u64,
) -> Result<Conversation, ApplyError> {
    let table = tx.open_table(CONVERSATION_ID_TO_CONVERSATION.definition())?;
    let id = ConversationId(CONVERSATION_ID_TO_CONVERSATION.next_key(&table)?);
    let mut index = tx.open_table(CONTACT_CHANNEL_TO_CONVERSATION)?;
    let previous = index.insert((contact.id.0, channel.id.0), id.0)?.map(|old| ConversationId(old.value()));
    Ok(Conversation {
        id,
        contact: contact.id,
        channel: channel.id,
        group: channel.group,
        status: Status::Queued,
        assignee: None,
        created_at: at,
        enqueued_at: Some(at),
        assigned_at: None,
        finalized_at: None,
        finalize_reason: None,
        labels: Vec::new(),
        previous,
        last_message_at: at,
        last_preview: String::new(),
        unread: true,
        first_response_at: None,
        served_by: Vec::new(),
        abandoned: false,
        mode: channel.mode,
        last_customer_at: None,
    })
}

pub fn routing_rejection(err: RoutingError) -> ApplyError {
    let rejection = match err {
        RoutingError::QueueFull => {
            Rejection::conflict("queue_full", "That group's queue is at its limit; choose another target.")
        }
        RoutingError::AgentFull => {
            Rejection::conflict("agent_unavailable", "That agent is not available or has no free slot.")
        }
        RoutingError::UnknownAgent => {
            Rejection::not_found("agent_not_found", "That user does not take conversations (not an active agent).")
        }
        RoutingError::UnknownConversation | RoutingError::Duplicate => {
            Rejection::conflict("conversation_not_routable", "The conversation is not waiting or assigned.")
        }
        RoutingError::NotWaiting => Rejection::conflict(
            "conversation_not_waiting",
            "This conversation is no longer waiting: someone has taken it, or it ended.",
        ),
        RoutingError::NotServed => {
            Rejection::forbidden("not_your_queue", "This conversation waits in a queue you do not serve.")
        }
        RoutingError::SupervisorAssigns => Rejection::conflict(
            "supervisor_assigns",
            "A supervisor or an administrator assigns the conversations of this channel.",
        ),
    };
    rejection.into()
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
        NotActing::Finalized => Rejection::conflict("conversation_finalized", "The conversation is finalized."),
        NotActing::NotYours => {
            Rejection::forbidden("not_your_conversation", "The conversation is not assigned to you.")
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

impl Command<Runtime, Event> for AgentMessage {
    type Output = Message;
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

impl AgentMessage {
    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, events: &mut Vec<Event>) -> Result<Message, ApplyError> {
        let text = check_text(&self.text).map_err(Rejection::from)?;
        let mut conversation = load_conversation(tx, self.conversation)?;
        check_may_act(&conversation, self.by)?;
        let message = append_message(tx, conversation.id, Author::Agent(self.by.user), text, self.private, self.at)?;
        if !self.private {
            conversation.first_response_at.get_or_insert(self.at);
            conversation.last_message_at = self.at;
            conversation.last_preview = preview(&message.text);
            queue_webhook(tx, &conversation, Hook::Message(&message), self.at)?;
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

impl Command<Runtime, Event> for Finalize {
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

impl Finalize {
    fn apply(
        self,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Conversation, ApplyError> {
        let mut conversation = load_conversation(tx, self.conversation)?;
        check_may_act(&conversation, self.by)?;
        let reason = self.reason.as_deref().map(clean_label).transpose().map_err(Rejection::from)?;
        let actor = super::activity::user_party(tx, self.by.user)?;
        super::activity::write(tx, events, &conversation, ActivityKind::Finalized, Some(actor), None, self.at)?;
        finish(state, tx, events, &mut conversation, reason, self.at)?;
        Ok(conversation)
    }
}

/// Finalizes a conversation already checked: its slot goes to the next waiting one, the API
/// channel's webhook hears of it.
pub fn finish(
    state: &mut Runtime,
    tx: &WriteTransaction,
    events: &mut Vec<Event>,
    conversation: &mut Conversation,
    reason: Option<String>,
    at: u64,
) -> Result<(), ApplyError> {
    let assignments = state.routing.release(conversation.id, at).unwrap_or_default();
    conversation.abandoned = conversation.assigned_at.is_none();
    conversation.status = Status::Finalized;
    conversation.finalized_at = Some(at);
    conversation.finalize_reason = reason;
    conversation.unread = false;
    save_conversation(tx, conversation)?;
    queue_webhook(tx, conversation, Hook::Finalized, at)?;
    events.push(Event::ConversationFinalized { conversation: conversation.clone() });
    write_assignments(tx, &assignments, at, events)
}

/// A message from a rule (its reply or note), with the rule's name as author: public ones reach
/// the customer (and an API channel's webhook) like an agent's reply.
pub fn system_message(
    tx: &WriteTransaction,
    events: &mut Vec<Event>,
    conversation: &mut Conversation,
    text: String,
    private: bool,
    rule: &str,
    at: u64,
) -> Result<(), ApplyError> {
    let rule = Some(super::rules::rule_name(rule).to_owned()).filter(|name| !name.is_empty());
    let message = Message {
        id: MessageId(0),
        conversation: conversation.id,
        author: Author::System,
        text,
        private,
        created_at: at,
        activity: None,
        rule,
    };
    let message = append(tx, message)?;
    if !private {
        conversation.last_message_at = at;
        conversation.last_preview = preview(&message.text);
        queue_webhook(tx, conversation, Hook::Message(&message), at)?;
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

impl MarkRead {
    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, events: &mut Vec<Event>) -> Result<(), ApplyError> {
        let mut conversation = load_conversation(tx, self.conversation)?;
        if conversation.assignee == Some(self.by.user) && conversation.unread {
            conversation.unread = false;
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

impl SetLabel {
    fn apply(
        self,
        _: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Conversation, ApplyError> {
        let label = clean_label(&self.label).map_err(Rejection::from)?;
        let mut conversation = load_conversation(tx, self.conversation)?;
        policy::may_edit(self.by.user, self.by.oversees, &conversation).map_err(not_acting)?;
        conversation.labels.retain(|existing| !existing.eq_ignore_ascii_case(&label));
        if self.present {
            conversation.labels.push(label);
        }
        save_conversation(tx, &conversation)?;
        events.push(Event::ConversationUpdated { conversation: conversation.clone() });
        Ok(conversation)
    }
}

/// Every conversation not finalized.
pub fn open_conversations(tx: &impl Tables) -> Result<Vec<Conversation>, ApplyError> {
    let index = tx.table(OPEN_CONVERSATION_IDS)?;
    let ids: Vec<u64> = index.iter()?.map(|row| row.map(|(id, _)| id.value())).collect::<Result<_, _>>()?;
    ids.into_iter().map(|id| load_conversation(tx, ConversationId(id))).collect()
}

/// What a webhook tells: a reply was sent, or the conversation ended.
enum Hook<'a> {
    Message(&'a Message),
    Finalized,
}

/// An agent's reply, or the end of a conversation, on an API channel with a webhook: stored as a
/// delivery in this same transaction, so it is sent (and retried) even across restarts.
fn queue_webhook(
    tx: &WriteTransaction,
    conversation: &Conversation,
    hook: Hook<'_>,
    at: u64,
) -> Result<(), ApplyError> {
    let channel = load_channel(tx, conversation.channel)?;
    let Some(url) =
        channel.webhook_url.clone().filter(|_| channel.kind == crate::domain::conversation::ChannelKind::Api)
    else {
        return Ok(());
    };
    let contacts = tx.open_table(CONTACT_ID_TO_CONTACT.definition())?;
    let contact = CONTACT_ID_TO_CONTACT.get(&contacts, conversation.contact.0)?.unwrap_or_default();
    let identifier = contact.identities.iter().find(|i| i.channel == channel.id).map(|i| i.identifier.clone());
    let mut table = tx.open_table(DELIVERY_ID_TO_DELIVERY.definition())?;
    let id = DELIVERY_ID_TO_DELIVERY.next_key(&table)?;
    let mut body = serde_json::json!({
        "delivery_id": id,
        "channel_id": channel.id,
        "conversation_id": conversation.id,
        "contact": { "id": contact.id, "identifier": identifier },
    });
    match hook {
        Hook::Message(message) if !message.for_customer() => return Ok(()),
        Hook::Message(message) => {
            let agent = match message.author {
                Author::Agent(id) => find_user(tx, id)?.map(|user| user.first_name),
                _ => message.rule.clone(),
            };
            body["event"] = "message.created".into();
            body["message"] = serde_json::json!({ "id": message.id, "text": message.text, "created_at": message.created_at, "agent_name": agent });
        }
        Hook::Finalized => {
            body["event"] = "conversation.finalized".into();
            body["reason"] = conversation.finalize_reason.clone().into();
        }
    }
    let delivery = Delivery {
        id,
        channel: channel.id,
        url,
        body: body.to_string(),
        created_at: at,
        attempts: 0,
        next_at: at,
        delivered_at: None,
        last_error: None,
    };
    DELIVERY_ID_TO_DELIVERY.insert(&mut table, id, &delivery)?;
    tx.open_table(PENDING_DELIVERY_IDS)?.insert(id, ())?;
    Ok(())
}

/// The webhook job tried a delivery.
pub struct DeliveryAttempted {
    pub id: u64,
    /// `None`: the receiver answered 2xx.
    pub error: Option<String>,
    pub at: u64,
}

impl Command<Runtime, Event> for DeliveryAttempted {
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

impl DeliveryAttempted {
    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<(), ApplyError> {
        let mut table = tx.open_table(DELIVERY_ID_TO_DELIVERY.definition())?;
        let Some(mut delivery) = DELIVERY_ID_TO_DELIVERY.get(&table, self.id)? else {
            return Ok(());
        };
        delivery.attempts += 1;
        match self.error {
            None => {
                delivery.delivered_at = Some(self.at);
                tx.open_table(PENDING_DELIVERY_IDS)?.remove(self.id)?;
            }
            Some(error) => {
                delivery.last_error = Some(error);
                delivery.next_at = self.at + crate::domain::webhook::retry_pause_ms(delivery.attempts);
            }
        }
        DELIVERY_ID_TO_DELIVERY.insert(&mut table, self.id, &delivery)?;
        Ok(())
    }
}
