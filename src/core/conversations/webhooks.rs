//! An API channel's webhook: an agent's reply, a rule's reply or the end of a conversation is
//! stored as a delivery in the transaction of the change itself, so it is sent (and retried) even
//! across restarts. Where it goes and what it says of the contact are read while checking, so
//! storing it cannot refuse.

use redb::WriteTransaction;

use super::load_channel;
use crate::core::records::find_user;
use crate::core::{ApplyError, Command, Event, Read, Runtime, Tables, WriteError};
use crate::domain::conversation::{ChannelKind, Conversation, Message};
use crate::domain::ids::{ChannelId, ContactId, ConversationId, UserId};
use crate::domain::webhook::Delivery;
use crate::store::StoreError;
use crate::store::tables::{CONTACT_ID_TO_CONTACT, DELIVERY_ID_TO_DELIVERY, PENDING_DELIVERY_IDS};

/// Where a conversation's webhook goes, and who its customer is on the channel.
pub struct Webhook {
    url: String,
    channel: ChannelId,
    conversation: ConversationId,
    contact: ContactId,
    identifier: Option<String>,
}

/// What a webhook tells.
pub enum Hook<'a> {
    /// A message for the customer, with the name of the agent (or rule) who wrote it.
    Message {
        message: &'a Message,
        agent: Option<String>,
    },
    Finalized {
        reason: Option<String>,
    },
}

impl Webhook {
    /// The conversation's webhook, if its channel is an API channel with one. Refuses only if the
    /// channel is not on record.
    pub fn of(tx: &impl Tables, conversation: &Conversation) -> Result<Option<Webhook>, ApplyError> {
        let channel = load_channel(tx, conversation.channel)?;
        let Some(url) = channel.webhook_url.filter(|_| channel.kind == ChannelKind::Api) else {
            return Ok(None);
        };
        let contacts = tx.table(CONTACT_ID_TO_CONTACT.definition())?;
        let contact = CONTACT_ID_TO_CONTACT.get(&contacts, conversation.contact.0)?.unwrap_or_default();
        let identifier = contact.identities.iter().find(|i| i.channel == channel.id).map(|i| i.identifier.clone());
        Ok(Some(Webhook { url, channel: channel.id, conversation: conversation.id, contact: contact.id, identifier }))
    }

    /// With the first name of the agent who replies (none if she is no longer on record).
    pub fn with_agent(self, tx: &impl Tables, agent: UserId) -> Result<(Webhook, Option<String>), ApplyError> {
        let name = find_user(tx, agent)?.map(|user| user.first_name);
        Ok((self, name))
    }

    /// Stores the delivery (the webhook job sends it after the commit).
    pub fn deliver(&self, tx: &WriteTransaction, hook: Hook<'_>, at: u64) -> Result<(), StoreError> {
        let mut table = tx.open_table(DELIVERY_ID_TO_DELIVERY.definition())?;
        let id = DELIVERY_ID_TO_DELIVERY.next_key(&table)?;
        let mut body = serde_json::json!({
            "delivery_id": id,
            "channel_id": self.channel,
            "conversation_id": self.conversation,
            "contact": { "id": self.contact, "identifier": self.identifier },
        });
        match hook {
            Hook::Message { message, .. } if !message.for_customer() => return Ok(()),
            Hook::Message { message, agent } => {
                body["event"] = "message.created".into();
                body["message"] = serde_json::json!({ "id": message.id, "text": message.text, "created_at": message.created_at, "agent_name": agent });
            }
            Hook::Finalized { reason } => {
                body["event"] = "conversation.finalized".into();
                body["reason"] = reason.into();
            }
        }
        let delivery = Delivery {
            id,
            channel: self.channel,
            url: self.url.clone(),
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
}

/// The webhook job tried a delivery.
pub struct DeliveryAttempted {
    pub id: u64,
    /// `None`: the receiver answered 2xx.
    pub error: Option<String>,
    pub at: u64,
}

/// The delivery as it is to be, and whether it is done (it leaves the pending index).
pub struct Attempted {
    id: u64,
    delivery: Delivery,
    delivered: bool,
}

impl Command<Runtime, Event> for DeliveryAttempted {
    type Output = ();
    /// `None`: no such delivery, nothing to record.
    type Plan = Option<Attempted>;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<Option<Attempted>, ApplyError> {
        let table = read.table(DELIVERY_ID_TO_DELIVERY.definition())?;
        let Some(mut delivery) = DELIVERY_ID_TO_DELIVERY.get(&table, self.id)? else {
            return Ok(None);
        };
        delivery.attempts += 1;
        let delivered = self.error.is_none();
        match self.error {
            None => delivery.delivered_at = Some(self.at),
            Some(error) => {
                delivery.last_error = Some(error);
                delivery.next_at = self.at + crate::domain::webhook::retry_pause_ms(delivery.attempts);
            }
        }
        Ok(Some(Attempted { id: self.id, delivery, delivered }))
    }

    fn write(
        plan: Option<Attempted>,
        _: &mut Runtime,
        tx: &WriteTransaction,
        _: &mut Vec<Event>,
    ) -> Result<(), WriteError> {
        let Some(Attempted { id, delivery, delivered }) = plan else {
            return Ok(());
        };
        if let Some(at) = delivery.delivered_at.filter(|_| delivered) {
            tx.open_table(PENDING_DELIVERY_IDS)?.remove(id)?;
            crate::store::indexes::delivery_delivered(tx, id, at)?;
        }
        let mut table = tx.open_table(DELIVERY_ID_TO_DELIVERY.definition())?;
        DELIVERY_ID_TO_DELIVERY.insert(&mut table, id, &delivery)?;
        Ok(())
    }
}
