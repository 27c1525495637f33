//! A customer writes: the message continues their open conversation on the channel, or opens a
//! new one (linked to the previous) and queues it. Who the contact is, which conversation the
//! message goes to and whether routing takes it are all decided before anything is written, so a
//! refused message leaves no contact and no conversation behind.

use redb::{ReadableTable, WriteTransaction};

use super::{
    append_message, load_channel, load_conversation, routing_broke, routing_rejection, save_conversation_over,
};
use crate::core::{ApplyError, Command, Event, Read, RejectKind, Rejection, Runtime, Tables, WriteError};
use crate::domain::conversation::{
    Author, Channel, Contact, Conversation, Identity, Message, Status, check_text, preview,
};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::{ChannelId, ContactId, ConversationId};
use crate::domain::routing::Place;
use crate::store::tables::{
    CONTACT_CHANNEL_TO_CONVERSATION, CONTACT_ID_TO_CONTACT, CONVERSATION_ID_TO_CONVERSATION, IDENTITY_TO_CONTACT_ID,
};

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

pub struct CustomerPlan {
    channel: Channel,
    identifier: String,
    /// The contact as it is to be stored (what the customer told fills its gaps).
    contact: Contact,
    /// Not on record under this identity yet: the identity index gets it.
    new_contact: bool,
    /// New, or what the customer told filled a gap: the record is written.
    contact_changed: bool,
    /// The conversation the message goes to, before the message.
    conversation: Conversation,
    /// A new one: it is indexed as the contact's latest on the channel and enters routing.
    created: bool,
    text: String,
    at: u64,
}

impl Command<Runtime, Event> for CustomerMessage {
    type Output = CustomerOutcome;
    type Plan = CustomerPlan;

    fn check(self, state: &Runtime, read: &Read<'_>) -> Result<CustomerPlan, ApplyError> {
        let text = check_text(&self.text).map_err(Rejection::from)?;
        let channel = load_channel(read, self.channel)?;
        if channel.disabled_at.is_some() {
            return Err(Rejection::new(
                RejectKind::Gone,
                ErrorCode::ChannelDisabled,
                "This channel has been switched off.",
            )
            .into());
        }
        let (contact, new_contact, contact_changed) =
            contact_of(read, &channel, &self.identifier, &self.profile, self.at)?;
        let latest = latest_conversation(read, contact.id, channel.id)?;
        // A full queue still takes the customer, beyond its limit (overflow): no words are lost.
        let (conversation, created) = match latest {
            Some(open) if open.status != Status::Finalized => (open, false),
            latest => {
                let fresh = new_conversation(read, &contact, &channel, latest.map(|c| c.id), self.at)?;
                state.routing.check_enqueue(fresh.id).map_err(routing_rejection)?;
                (fresh, true)
            }
        };
        let identifier = self.identifier;
        Ok(CustomerPlan {
            channel,
            identifier,
            contact,
            new_contact,
            contact_changed,
            conversation,
            created,
            text,
            at: self.at,
        })
    }

    fn write(
        plan: CustomerPlan,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<CustomerOutcome, WriteError> {
        let CustomerPlan {
            channel,
            identifier,
            contact,
            new_contact,
            contact_changed,
            mut conversation,
            created,
            text,
            at,
        } = plan;
        if new_contact {
            tx.open_table(IDENTITY_TO_CONTACT_ID)?.insert((channel.id.0, identifier.as_str()), contact.id.0)?;
        }
        if contact_changed {
            CONTACT_ID_TO_CONTACT.insert(
                &mut tx.open_table(CONTACT_ID_TO_CONTACT.definition())?,
                contact.id.0,
                &contact,
            )?;
        }
        if created {
            let key = (contact.id.0, channel.id.0);
            tx.open_table(CONTACT_CHANNEL_TO_CONVERSATION)?.insert(key, conversation.id.0)?;
            crate::store::indexes::conversation_opened(tx, contact.id.0, conversation.id.0)?;
        }
        let message = append_message(tx, conversation.id, Author::Customer, text, false, at)?;
        // As the check read it in this transaction (or not on record, if new).
        let stored = (!created).then_some(conversation.last_message_at);
        conversation.last_message_at = at;
        conversation.last_customer_at = Some(at);
        conversation.add_message(&message);
        conversation.last_preview = preview(&message.text);
        conversation.unread = true;
        save_conversation_over(tx, &conversation, stored)?;
        if created {
            conversation = enqueue(state, tx, events, conversation, at)?;
        }
        events.push(Event::MessageCreated { conversation: conversation.clone(), message: message.clone() });
        let place = state.routing.place(conversation.id);
        Ok(CustomerOutcome { conversation, message, contact, place })
    }
}

/// A new conversation enters routing (checked: routing does not hold it yet); what routing then
/// assigned is written. Returns the conversation as it now stands.
fn enqueue(
    state: &mut Runtime,
    tx: &WriteTransaction,
    events: &mut Vec<Event>,
    conversation: Conversation,
    at: u64,
) -> Result<Conversation, WriteError> {
    events.push(Event::ConversationCreated { conversation: conversation.clone() });
    let ticket = crate::core::runtime::ticket(&conversation);
    let assignments = state.routing.enqueue(conversation.id, ticket, at).map_err(routing_broke)?;
    events.push(Event::QueueChanged);
    super::write_assignments(tx, &assignments, at, events)?;
    // Read again only if routing gave it to someone at once (the assignment changed the record).
    let conversation = if assignments.iter().any(|assignment| assignment.conversation == conversation.id) {
        super::stored_conversation(tx, conversation.id)?
    } else {
        conversation
    };
    crate::core::notify::entered_queue(tx, &conversation, None, at, events)?;
    Ok(conversation)
}

/// The contact known by this identity on the channel, or a new one (`true`), with the gaps in
/// what is on record filled from what the customer told; and whether the record is to be written
/// (new, or a gap was filled).
fn contact_of(
    tx: &impl Tables,
    channel: &Channel,
    identifier: &str,
    profile: &CustomerProfile,
    at: u64,
) -> Result<(Contact, bool, bool), ApplyError> {
    let index = tx.table(IDENTITY_TO_CONTACT_ID)?;
    let contacts = tx.table(CONTACT_ID_TO_CONTACT.definition())?;
    let known = index.get((channel.id.0, identifier))?.map(|id| id.value());
    let (mut contact, new) = match known.map(|id| CONTACT_ID_TO_CONTACT.get(&contacts, id)).transpose()?.flatten() {
        Some(contact) => (contact, false),
        None => {
            let id = ContactId(CONTACT_ID_TO_CONTACT.next_key(&contacts)?);
            let identity = Identity { channel: channel.id, identifier: identifier.to_owned() };
            (Contact { id, identities: vec![identity], created_at: at, ..Contact::default() }, true)
        }
    };
    // What the customer tells about themselves fills gaps; staff edits are not overwritten.
    let mut changed = new;
    let mut fill = |slot: &mut Option<String>, given: &Option<String>| {
        if slot.is_none() {
            *slot = given.clone().filter(|value| !value.trim().is_empty());
            changed |= slot.is_some();
        }
    };
    fill(&mut contact.name, &profile.name);
    fill(&mut contact.email, &profile.email);
    fill(&mut contact.phone, &profile.phone);
    Ok((contact, new, changed))
}

/// The contact's newest conversation on a channel.
fn latest_conversation(
    tx: &impl Tables,
    contact: ContactId,
    channel: ChannelId,
) -> Result<Option<Conversation>, ApplyError> {
    let index = tx.table(CONTACT_CHANNEL_TO_CONVERSATION)?;
    let latest = index.get((contact.0, channel.0))?.map(|id| id.value());
    latest.map(|id| load_conversation(tx, ConversationId(id))).transpose()
}

/// A new conversation of the contact on the channel, queued in the channel's group, after
/// `previous` (their latest one there, finalized).
fn new_conversation(
    tx: &impl Tables,
    contact: &Contact,
    channel: &Channel,
    previous: Option<ConversationId>,
    at: u64,
) -> Result<Conversation, ApplyError> {
    let table = tx.table(CONVERSATION_ID_TO_CONVERSATION.definition())?;
    let id = ConversationId(CONVERSATION_ID_TO_CONVERSATION.next_key(&table)?);
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
        waiting_since: None,
    })
}
