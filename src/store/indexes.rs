//! The indexes that keep the mailer, the retention job and the contact panel off whole tables
//! (issue 14, point 4; issue 22):
//! written in the same transaction as the record they point to, by whoever writes that record.
//! Each helper is one write step and fails only on storage.

use redb::WriteTransaction;

use super::StoreError;
use super::tables::{
    CONTACT_TO_CONVERSATION_IDS, DELIVERED_AT_DELIVERY_IDS, EXPIRES_AT_LINK_HASHES, PENDING_MAIL_IDS,
    SEEN_AT_SESSION_HASHES, SENT_AT_MAIL_IDS,
};

/// A mail was queued: it waits in the pending index until sent.
pub fn mail_queued(tx: &WriteTransaction, id: u64) -> Result<(), StoreError> {
    tx.open_table(PENDING_MAIL_IDS)?.insert(id, ())?;
    Ok(())
}

/// A mail was sent: it leaves the pending index and joins the sent ones, in time order.
pub fn mail_sent(tx: &WriteTransaction, id: u64, at: u64) -> Result<(), StoreError> {
    tx.open_table(PENDING_MAIL_IDS)?.remove(id)?;
    tx.open_table(SENT_AT_MAIL_IDS)?.insert((at, id), ())?;
    Ok(())
}

/// A webhook delivery was delivered (it left the pending index in the same write).
pub fn delivery_delivered(tx: &WriteTransaction, id: u64, at: u64) -> Result<(), StoreError> {
    tx.open_table(DELIVERED_AT_DELIVERY_IDS)?.insert((at, id), ())?;
    Ok(())
}

/// A link was made; it is found again when it expires.
pub fn link_opened(tx: &WriteTransaction, hash: [u8; 32], expires_at: u64) -> Result<(), StoreError> {
    tx.open_table(EXPIRES_AT_LINK_HASHES)?.insert((expires_at, hash), ())?;
    Ok(())
}

/// A session was made (`before`: `None`) or touched (`before`: its previous last request).
pub fn session_seen(tx: &WriteTransaction, hash: [u8; 32], before: Option<u64>, at: u64) -> Result<(), StoreError> {
    let mut index = tx.open_table(SEEN_AT_SESSION_HASHES)?;
    if let Some(before) = before {
        index.remove((before, hash))?;
    }
    index.insert((at, hash), ())?;
    Ok(())
}

/// A session ended (signed out, or ended with the user's others).
pub fn session_ended(tx: &WriteTransaction, hash: [u8; 32], seen_at: u64) -> Result<(), StoreError> {
    tx.open_table(SEEN_AT_SESSION_HASHES)?.remove((seen_at, hash))?;
    Ok(())
}

/// A conversation was opened for a contact: it joins the contact's conversations.
pub fn conversation_opened(tx: &WriteTransaction, contact: u64, conversation: u64) -> Result<(), StoreError> {
    tx.open_table(CONTACT_TO_CONVERSATION_IDS)?.insert((contact, conversation), ())?;
    Ok(())
}
