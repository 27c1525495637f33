//! Read queries about conversations, messages, contacts and channels.

use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};

use super::tables::{
    CHANNEL_ID_TO_CHANNEL, CONTACT_CHANNEL_TO_CONVERSATION, CONTACT_ID_TO_CONTACT, CONTACT_TO_CONVERSATION_IDS,
    CONVERSATION_ID_TO_CONVERSATION, IDENTITY_TO_CONTACT_ID, LAST_MESSAGE_TO_OPEN_ID, MESSAGE_KEY_TO_MESSAGE,
    OPEN_CONVERSATION_IDS, VISITOR_HASH_TO_VISITOR,
};
use super::{Reader, StoreError};
use crate::domain::conversation::{Channel, Contact, Conversation, Message, Visitor};
use crate::domain::ids::{ChannelId, ContactId, ConversationId};

/// Where an open conversation stands in the open lists: `(last_message_at, id)`.
pub type OpenKey = (u64, u64);

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

    /// A page of open conversations, newest message first, strictly after the cursor `before`
    /// (`(last_message_at, id)`, the whole list when `None`), that `keep` accepts: at most `limit`,
    /// and the cursor of the next page when more follow. Read along the index: only the entries
    /// up to the page's end (and one more match) are decoded.
    pub fn open_page(
        &self,
        before: Option<OpenKey>,
        limit: usize,
        mut keep: impl FnMut(&Conversation) -> bool,
    ) -> Result<(Vec<Conversation>, Option<OpenKey>), StoreError> {
        let index = self.0.open_table(LAST_MESSAGE_TO_OPEN_ID)?;
        let table = self.0.open_table(CONVERSATION_ID_TO_CONVERSATION.definition())?;
        let mut page = Vec::new();
        for row in index.range(..before.unwrap_or((u64::MAX, u64::MAX)))?.rev() {
            let (key, _) = row?;
            let Some(conversation) = CONVERSATION_ID_TO_CONVERSATION.get(&table, key.value().1)? else { continue };
            if !keep(&conversation) {
                continue;
            }
            if page.len() == limit {
                let next = page.last().map(|last: &Conversation| (last.last_message_at, last.id.0));
                return Ok((page, next));
            }
            page.push(conversation);
        }
        Ok((page, None))
    }

    /// A page of a contact's conversations, newest first (by id), with ids below `before` (all
    /// when `None`), that `keep` accepts: at most `limit`, and the `before` of the next page when
    /// more follow. Read along the contact's index: other contacts' conversations are never decoded.
    pub fn contact_conversations(
        &self,
        contact: ContactId,
        before: Option<u64>,
        limit: usize,
        mut keep: impl FnMut(&Conversation) -> bool,
    ) -> Result<(Vec<Conversation>, Option<u64>), StoreError> {
        let index = self.0.open_table(CONTACT_TO_CONVERSATION_IDS)?;
        let table = self.0.open_table(CONVERSATION_ID_TO_CONVERSATION.definition())?;
        let mut page = Vec::new();
        let end = (contact.0, before.unwrap_or(u64::MAX));
        for row in index.range((contact.0, 0)..end)?.rev() {
            let id = row?.0.value().1;
            let Some(conversation) = CONVERSATION_ID_TO_CONVERSATION.get(&table, id)? else { continue };
            if !keep(&conversation) {
                continue;
            }
            if page.len() == limit {
                let next = page.last().map(|last: &Conversation| last.id.0);
                return Ok((page, next));
            }
            page.push(conversation);
        }
        Ok((page, None))
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

/// Fills the index of open conversations by last message when it is out of step with the open
/// ones (a file written before it existed): checked at each start, rebuilt only then.
pub(super) fn index_open_by_last_message(tx: &WriteTransaction) -> Result<(), StoreError> {
    let open = tx.open_table(OPEN_CONVERSATION_IDS)?;
    let mut index = tx.open_table(LAST_MESSAGE_TO_OPEN_ID)?;
    if index.len()? == open.len()? {
        return Ok(());
    }
    index.retain(|_, _| false)?;
    let table = tx.open_table(CONVERSATION_ID_TO_CONVERSATION.definition())?;
    for row in open.iter()? {
        let id = row?.0.value();
        if let Some(conversation) = CONVERSATION_ID_TO_CONVERSATION.get(&table, id)? {
            index.insert((conversation.last_message_at, id), ())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// Open conversations written as a file from before the index: `(last_message_at, id)` each.
    fn without_the_index(store: &Store, rows: &[(u64, u64)]) {
        let tx = store.begin_write().unwrap();
        {
            let mut table = tx.open_table(CONVERSATION_ID_TO_CONVERSATION.definition()).unwrap();
            let mut open = tx.open_table(OPEN_CONVERSATION_IDS).unwrap();
            for &(at, id) in rows {
                let mut conversation = Conversation::for_tests(crate::domain::ids::ConversationId(id));
                conversation.last_message_at = at;
                CONVERSATION_ID_TO_CONVERSATION.insert(&mut table, id, &conversation).unwrap();
                open.insert(id, ()).unwrap();
            }
        }
        tx.commit().unwrap();
    }

    #[test]
    fn pages_of_open_conversations_come_newest_first_each_once_through_ties_after_a_reopen_indexes_them() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        let rows = [(100, 1), (300, 2), (100, 3), (100, 4), (200, 5), (300, 6), (100, 7)];
        without_the_index(&store, &rows);
        drop(store);
        let (store, _) = Store::open(dir.path()).unwrap();
        let read = store.read().unwrap();
        let (mut seen, mut before) = (Vec::new(), None);
        loop {
            let (page, next) = read.open_page(before, 2, |c| c.id.0 != 5).unwrap();
            assert!(page.len() <= 2);
            seen.extend(page.iter().map(|c| (c.last_message_at, c.id.0)));
            match next {
                Some(next) => before = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, [(300, 6), (300, 2), (100, 7), (100, 4), (100, 3), (100, 1)], "5 is filtered out");
    }
}
