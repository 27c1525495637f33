//! Every table of the database, declared once. Keys are plain redb types; values are encoded by
//! `codec` and typed through `Typed`, so a table cannot be read as the wrong type.

use std::marker::PhantomData;

use redb::{Key, ReadableTable, Table, TableDefinition, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{BootRecord, StoreError, codec};
use crate::domain::account::{Group, User};
use crate::domain::audit::AuditEntry;
use crate::domain::conversation::{Channel, Contact, Conversation, Message, Visitor};
use crate::domain::mail::Mail;
use crate::domain::routing::AgentProfile;
use crate::domain::secret::Link;
use crate::domain::session::{ApiToken, Session};

/// `meta`: schema version and other facts about the file itself.
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Every start of the server, numbered from 1: version, start and clean-stop times.
pub const BOOT_SEQ_TO_RECORD: Typed<u64, BootRecord> = Typed::new("boot_seq_to_record");

/// Users by id; deactivated users stay (their history does).
pub const USER_ID_TO_USER: Typed<u64, User> = Typed::new("user_id_to_user");

/// Lower-case e-mail to user id: the uniqueness index.
pub const EMAIL_TO_USER_ID: TableDefinition<&str, u64> = TableDefinition::new("email_to_user_id");

/// Groups (departments) by id; deleted ones are marked, not removed.
pub const GROUP_ID_TO_GROUP: Typed<u64, Group> = Typed::new("group_id_to_group");

/// Browser sessions by the SHA-256 of the cookie value.
pub const SESSION_HASH_TO_SESSION: Typed<[u8; 32], Session> = Typed::new("session_hash_to_session");

/// Personal API tokens by the SHA-256 of the token.
pub const API_TOKEN_HASH_TO_TOKEN: Typed<[u8; 32], ApiToken> = Typed::new("api_token_hash_to_token");

/// Invite and reset links by the SHA-256 of their token, until they expire.
pub const LINK_HASH_TO_LINK: Typed<[u8; 32], Link> = Typed::new("link_hash_to_link");

/// Every mail, sent or waiting (the outbox); sent mail is deleted after `retention.mail_days`.
pub const MAIL_ID_TO_MAIL: Typed<u64, Mail> = Typed::new("mail_id_to_mail");

/// The SHA-256 of a link's token to the mail that carries it, while the mail may still show it:
/// using or replacing the link takes it out of that mail in the same write.
pub const LINK_HASH_TO_MAIL_ID: TableDefinition<[u8; 32], u64> = TableDefinition::new("link_hash_to_mail_id");

/// The audit log, in order.
pub const AUDIT_ID_TO_ENTRY: Typed<u64, AuditEntry> = Typed::new("audit_id_to_entry");

/// Channels (web widget, API) by id.
pub const CHANNEL_ID_TO_CHANNEL: Typed<u64, Channel> = Typed::new("channel_id_to_channel");

/// Contacts (customers) by id.
pub const CONTACT_ID_TO_CONTACT: Typed<u64, Contact> = Typed::new("contact_id_to_contact");

/// (channel id, the customer's identifier on it) to contact id.
pub const IDENTITY_TO_CONTACT_ID: TableDefinition<(u64, &str), u64> = TableDefinition::new("identity_to_contact_id");

/// Conversations by id.
pub const CONVERSATION_ID_TO_CONVERSATION: Typed<u64, Conversation> = Typed::new("conversation_id_to_conversation");

/// (contact id, channel id) to the contact's newest conversation there.
pub const CONTACT_CHANNEL_TO_CONVERSATION: TableDefinition<(u64, u64), u64> =
    TableDefinition::new("contact_channel_to_conversation");

/// (contact id, conversation id): every conversation of a contact, on any channel, in id order (the
/// side panel's previous conversations, newest first, read a page at a time).
pub const CONTACT_TO_CONVERSATION_IDS: TableDefinition<(u64, u64), ()> =
    TableDefinition::new("contact_to_conversation_ids");

/// Ids of conversations not finalized, for the live lists.
pub const OPEN_CONVERSATION_IDS: TableDefinition<u64, ()> = TableDefinition::new("open_conversation_ids");

/// (last message at, id) of each conversation not finalized: the open lists, newest message
/// first, read a page at a time (`before` cursors) without decoding the others.
pub const LAST_MESSAGE_TO_OPEN_ID: TableDefinition<(u64, u64), ()> = TableDefinition::new("last_message_to_open_id");

/// Messages by (conversation id, message id): a conversation's messages are one range, in order.
pub const MESSAGE_KEY_TO_MESSAGE: Typed<(u64, u64), Message> = Typed::new("message_key_to_message");

/// Web-widget visitors by the SHA-256 of their token.
pub const VISITOR_HASH_TO_VISITOR: Typed<[u8; 32], Visitor> = Typed::new("visitor_hash_to_visitor");

/// Outgoing webhook deliveries (they survive restarts); delivered ones are deleted after
/// `retention.webhook_deliveries_days`.
pub const DELIVERY_ID_TO_DELIVERY: Typed<u64, crate::domain::webhook::Delivery> = Typed::new("delivery_id_to_delivery");

/// Ids of deliveries not yet delivered, so the sender never reads the delivered history.
pub const PENDING_DELIVERY_IDS: TableDefinition<u64, ()> = TableDefinition::new("pending_delivery_ids");

/// (when it was delivered, delivery id): delivered deliveries in time order, for the retention job.
pub const DELIVERED_AT_DELIVERY_IDS: TableDefinition<(u64, u64), ()> =
    TableDefinition::new("delivered_at_delivery_ids");

/// Ids of mail not sent yet, so the mailer never reads the sent history.
pub const PENDING_MAIL_IDS: TableDefinition<u64, ()> = TableDefinition::new("pending_mail_ids");

/// (when it was sent, mail id): sent mail in time order, for the retention job.
pub const SENT_AT_MAIL_IDS: TableDefinition<(u64, u64), ()> = TableDefinition::new("sent_at_mail_ids");

/// (when it expires, hash): every invite and reset link in expiry order, for the retention job.
pub const EXPIRES_AT_LINK_HASHES: TableDefinition<(u64, [u8; 32]), ()> = TableDefinition::new("expires_at_link_hashes");

/// (last request, hash): browser sessions in the order they go idle, for the retention job. A
/// session touched again moves; an entry whose session is gone or moved is dropped when met.
pub const SEEN_AT_SESSION_HASHES: TableDefinition<(u64, [u8; 32]), ()> = TableDefinition::new("seen_at_session_hashes");

/// Each agent's routing settings and availability.
pub const AGENT_ID_TO_PROFILE: Typed<u64, AgentProfile> = Typed::new("agent_id_to_profile");

/// Settings the core needs in its transactions, written at each start (`public_url`).
pub const SETTING_TO_TEXT: TableDefinition<&str, &str> = TableDefinition::new("setting_to_text");

/// (user id, conversation id) to when the user was last mailed about the conversation (R-GRP-3):
/// the throttle, committed with the mail itself. Rows older than the gap are pruned as the user
/// gets new notices.
pub const USER_CONVERSATION_TO_NOTICE_AT: TableDefinition<(u64, u64), u64> =
    TableDefinition::new("user_conversation_to_notice_at");

/// Creates every table, so that read transactions never meet a missing one.
pub fn create_all(tx: &WriteTransaction) -> Result<(), StoreError> {
    tx.open_table(META)?;
    tx.open_table(EMAIL_TO_USER_ID)?;
    tx.open_table(BOOT_SEQ_TO_RECORD.definition())?;
    tx.open_table(USER_ID_TO_USER.definition())?;
    tx.open_table(GROUP_ID_TO_GROUP.definition())?;
    tx.open_table(SESSION_HASH_TO_SESSION.definition())?;
    tx.open_table(API_TOKEN_HASH_TO_TOKEN.definition())?;
    tx.open_table(LINK_HASH_TO_LINK.definition())?;
    tx.open_table(MAIL_ID_TO_MAIL.definition())?;
    tx.open_table(LINK_HASH_TO_MAIL_ID)?;
    tx.open_table(AUDIT_ID_TO_ENTRY.definition())?;
    tx.open_table(CHANNEL_ID_TO_CHANNEL.definition())?;
    tx.open_table(CONTACT_ID_TO_CONTACT.definition())?;
    tx.open_table(IDENTITY_TO_CONTACT_ID)?;
    tx.open_table(CONVERSATION_ID_TO_CONVERSATION.definition())?;
    tx.open_table(OPEN_CONVERSATION_IDS)?;
    tx.open_table(LAST_MESSAGE_TO_OPEN_ID)?;
    tx.open_table(CONTACT_CHANNEL_TO_CONVERSATION)?;
    tx.open_table(CONTACT_TO_CONVERSATION_IDS)?;
    tx.open_table(MESSAGE_KEY_TO_MESSAGE.definition())?;
    tx.open_table(AGENT_ID_TO_PROFILE.definition())?;
    tx.open_table(VISITOR_HASH_TO_VISITOR.definition())?;
    tx.open_table(DELIVERY_ID_TO_DELIVERY.definition())?;
    tx.open_table(PENDING_DELIVERY_IDS)?;
    tx.open_table(DELIVERED_AT_DELIVERY_IDS)?;
    tx.open_table(PENDING_MAIL_IDS)?;
    tx.open_table(SENT_AT_MAIL_IDS)?;
    tx.open_table(EXPIRES_AT_LINK_HASHES)?;
    tx.open_table(SEEN_AT_SESSION_HASHES)?;
    tx.open_table(SETTING_TO_TEXT)?;
    tx.open_table(USER_CONVERSATION_TO_NOTICE_AT)?;
    Ok(())
}

/// A table whose values are `V` encoded by `codec`.
pub struct Typed<K: Key + 'static, V> {
    name: &'static str,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Typed<K, V>
where
    K: Key + 'static + for<'a> redb::Value<SelfType<'a> = K>,
    V: Serialize + DeserializeOwned,
{
    pub const fn new(name: &'static str) -> Self {
        Typed { name, _types: PhantomData }
    }

    pub const fn definition(&self) -> TableDefinition<'static, K, &'static [u8]> {
        TableDefinition::new(self.name)
    }

    pub fn get(&self, table: &impl ReadableTable<K, &'static [u8]>, key: K) -> Result<Option<V>, StoreError> {
        match table.get(key)? {
            Some(bytes) => Ok(Some(codec::decode(self.name, bytes.value())?)),
            None => Ok(None),
        }
    }

    pub fn last(&self, table: &impl ReadableTable<K, &'static [u8]>) -> Result<Option<(K, V)>, StoreError> {
        match table.last()? {
            Some((key, bytes)) => Ok(Some((key.value(), codec::decode(self.name, bytes.value())?))),
            None => Ok(None),
        }
    }

    pub fn all(&self, table: &impl ReadableTable<K, &'static [u8]>) -> Result<Vec<(K, V)>, StoreError> {
        let mut rows = Vec::new();
        for row in table.iter()? {
            let (key, bytes) = row?;
            rows.push((key.value(), codec::decode(self.name, bytes.value())?));
        }
        Ok(rows)
    }

    /// Rows with keys below `before` (all when `None`), newest first, at most `limit`.
    pub fn newest(
        &self,
        table: &impl ReadableTable<K, &'static [u8]>,
        before: Option<K>,
        limit: usize,
    ) -> Result<Vec<(K, V)>, StoreError>
    where
        K: Copy,
    {
        let mut rows = Vec::new();
        let range = match before {
            Some(before) => table.range(..before)?,
            None => table.range::<K>(..)?,
        };
        for row in range.rev().take(limit) {
            let (key, bytes) = row?;
            rows.push((key.value(), codec::decode(self.name, bytes.value())?));
        }
        Ok(rows)
    }

    pub fn insert(&self, table: &mut Table<'_, K, &'static [u8]>, key: K, value: &V) -> Result<(), StoreError> {
        let bytes = codec::encode(self.name, value)?;
        table.insert(key, bytes.as_slice())?;
        Ok(())
    }

    pub fn remove(&self, table: &mut Table<'_, K, &'static [u8]>, key: K) -> Result<(), StoreError> {
        table.remove(key)?;
        Ok(())
    }

    /// The key after the last one (1 for an empty table): ids grow in time order, which redb
    /// inserts fastest.
    pub fn next_key(&self, table: &impl ReadableTable<u64, &'static [u8]>) -> Result<u64, StoreError> {
        Ok(table.last()?.map_or(1, |(key, _)| key.value() + 1))
    }
}
