//! Read queries about conversations, messages, contacts and channels.

use redb::{ReadableTable, ReadableTableMetadata};

use super::tables::{
    CHANNEL_ID_TO_CHANNEL, CONTACT_CHANNEL_TO_CONVERSATION, CONTACT_ID_TO_CONTACT, CONVERSATION_ID_TO_CONVERSATION,
    IDENTITY_TO_CONTACT_ID, MESSAGE_KEY_TO_MESSAGE, VISITOR_HASH_TO_VISITOR,
};
use super::{Reader, StoreError};
use crate::domain::conversation::{Channel, Contact, Conversation, Message, Visitor};
use crate::domain::ids::{ChannelId, ContactId, ConversationId};

impl Reader {
    pub fn channels(&self) -> Result<Vec<Channel>, StoreError> {
        let table = self.0.open_table(CHANNEL_ID_TO_CHANNEL.definition())?;
        Ok(CHANNEL_ID_TO_CHANNEL.all(&table)?.into_iter().map(|(_, channel)| channel).collect())
    }

    pub fn channel(&self, id: ChannelId) -> Result<Option<Channel>, StoreError> {
        let table = self.0.open_table(CHANNEL_ID_TO_CHANNEL.definition())?;
        CHANNEL_ID_TO_CHANNEL.get(&table, id.0)
    }

    /// The widget channel a site's `<script data-channel="…">` names.
    pub fn channel_by_key(&self, key: &str) -> Result<Option<Channel>, StoreError> {
        Ok(self.channels()?.into_iter().find(|channel| !channel.public_key.is_empty() && channel.public_key == key))
    }

    pub fn contact(&self, id: ContactId) -> Result<Option<Contact>, StoreError> {
        let table = self.0.open_table(CONTACT_ID_TO_CONTACT.definition())?;
        CONTACT_ID_TO_CONTACT.get(&table, id.0)
    }

    /// A conversation's messages with ids below `before` (all when `None`): the newest `limit`,
    /// returned oldest first.
    pub fn messages(
        &self,
        conversation: ConversationId,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let table = self.0.open_table(MESSAGE_KEY_TO_MESSAGE.definition())?;
        let end = before.unwrap_or(u64::MAX);
        let mut page = Vec::with_capacity(limit);
        for row in table.range((conversation.0, 0)..(conversation.0, end))?.rev().take(limit) {
            let (_, bytes) = row?;
            page.push(super::codec::decode("message_key_to_message", bytes.value())?);
        }
        page.reverse();
        Ok(page)
    }

    /// Conversations with ids below `before`, newest first, that `keep` accepts, at most `limit`.
    pub fn conversations_newest(
        &self,
        before: Option<u64>,
        limit: usize,
        mut keep: impl FnMut(&Conversation) -> bool,
    ) -> Result<Vec<Conversation>, StoreError> {
        let table = self.0.open_table(CONVERSATION_ID_TO_CONVERSATION.definition())?;
        let mut page = Vec::new();
        for row in table.range(..before.unwrap_or(u64::MAX))?.rev() {
            let (_, bytes) = row?;
            let conversation: Conversation = super::codec::decode("conversation_id_to_conversation", bytes.value())?;
            if keep(&conversation) {
                page.push(conversation);
                if page.len() == limit {
                    break;
                }
            }
        }
        Ok(page)
    }

    /// Conversations created at or after `since` (ids grow with time, so this reads from the end).
    pub fn conversations_since(&self, since: u64) -> Result<Vec<Conversation>, StoreError> {
        let table = self.0.open_table(CONVERSATION_ID_TO_CONVERSATION.definition())?;
        let mut recent = Vec::new();
        for row in table.iter()?.rev() {
            let (_, bytes) = row?;
            let conversation: Conversation = super::codec::decode("conversation_id_to_conversation", bytes.value())?;
            if conversation.created_at < since {
                break;
            }
            recent.push(conversation);
        }
        Ok(recent)
    }

    pub fn visitor(&self, hash: [u8; 32]) -> Result<Option<Visitor>, StoreError> {
        let table = self.0.open_table(VISITOR_HASH_TO_VISITOR.definition())?;
        VISITOR_HASH_TO_VISITOR.get(&table, hash)
    }

    pub fn contact_by_identity(&self, channel: ChannelId, identifier: &str) -> Result<Option<ContactId>, StoreError> {
        let index = self.0.open_table(IDENTITY_TO_CONTACT_ID)?;
        Ok(index.get((channel.0, identifier))?.map(|id| ContactId(id.value())))
    }

    /// The contact's newest conversation on a channel.
    pub fn latest_conversation(
        &self,
        contact: ContactId,
        channel: ChannelId,
    ) -> Result<Option<Conversation>, StoreError> {
        let index = self.0.open_table(CONTACT_CHANNEL_TO_CONVERSATION)?;
        match index.get((contact.0, channel.0))?.map(|id| id.value()) {
            Some(id) => self.conversation(ConversationId(id)),
            None => Ok(None),
        }
    }

    /// Deliveries not yet delivered whose time has come, oldest first. Read from the pending
    /// index: delivered ones are never decoded again (the table of every delivery only grows).
    pub fn due_deliveries(&self, now: u64, limit: usize) -> Result<Vec<crate::domain::webhook::Delivery>, StoreError> {
        use super::tables::{DELIVERY_ID_TO_DELIVERY, PENDING_DELIVERY_IDS};
        let pending = self.0.open_table(PENDING_DELIVERY_IDS)?;
        let table = self.0.open_table(DELIVERY_ID_TO_DELIVERY.definition())?;
        let mut due = Vec::new();
        for entry in pending.iter()? {
            let id = entry?.0.value();
            let delivery = DELIVERY_ID_TO_DELIVERY.get(&table, id)?;
            if let Some(delivery) = delivery.filter(|d| d.delivered_at.is_none() && d.next_at <= now) {
                due.push(delivery);
                if due.len() == limit {
                    break;
                }
            }
        }
        Ok(due)
    }

    pub fn conversation_count(&self) -> Result<u64, StoreError> {
        let table = self.0.open_table(CONVERSATION_ID_TO_CONVERSATION.definition())?;
        Ok(table.len()?)
    }
}
