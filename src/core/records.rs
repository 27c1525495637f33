//! Writes that several commands share: audit entries, queued mail, links, sessions; and the user
//! lookups their checks share. A write helper is a single step of a command's write phase (after
//! its check) and fails only on storage; a lookup that may refuse is for checks.

use redb::{ReadableTable, WriteTransaction};

use super::outbox::end_mail_link;
use super::{ApplyError, Rejection, Tables};
use crate::domain::account::User;
use crate::domain::audit::{Actor, AuditEntry};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::UserId;
use crate::domain::mail::{Letter, Mail, MailLink, Removal};
use crate::domain::secret::{Link, LinkKind, LinkState};
use crate::domain::session::Session;
use crate::store::StoreError;
use crate::store::tables::{
    API_TOKEN_HASH_TO_TOKEN, AUDIT_ID_TO_ENTRY, EMAIL_TO_USER_ID, LINK_HASH_TO_LINK, MAIL_ID_TO_MAIL,
    SESSION_HASH_TO_SESSION, USER_ID_TO_USER,
};

pub fn audit(
    tx: &WriteTransaction,
    actor: &Actor,
    action: &str,
    target: String,
    detail: String,
    at: u64,
) -> Result<(), StoreError> {
    let mut table = tx.open_table(AUDIT_ID_TO_ENTRY.definition())?;
    let id = AUDIT_ID_TO_ENTRY.next_key(&table)?;
    let entry = AuditEntry { id, at, actor: actor.clone(), action: action.to_owned(), target, detail };
    AUDIT_ID_TO_ENTRY.insert(&mut table, id, &entry)?;
    Ok(())
}

/// Puts a mail in the outbox; the mailer sends it after the commit. A mail with a link is queued
/// through `outbox::queue_link_mail`, which decides where the link is kept.
pub fn queue_mail(
    tx: &WriteTransaction,
    to: &str,
    letter: Letter,
    link: Option<MailLink>,
    at: u64,
) -> Result<u64, StoreError> {
    let mut table = tx.open_table(MAIL_ID_TO_MAIL.definition())?;
    let id = MAIL_ID_TO_MAIL.next_key(&table)?;
    let mail = Mail {
        id,
        to: to.to_owned(),
        subject: letter.subject,
        body: letter.body,
        created_at: at,
        sent_at: None,
        attempts: 0,
        last_error: None,
        last_attempt_at: None,
        link,
    };
    MAIL_ID_TO_MAIL.insert(&mut table, id, &mail)?;
    Ok(id)
}

/// Opens a new link for `user`, replacing any open link of the same kind (the old one dies, and
/// leaves the mail that carried it).
pub fn open_link(
    tx: &WriteTransaction,
    kind: LinkKind,
    user: UserId,
    hash: [u8; 32],
    at: u64,
) -> Result<(), StoreError> {
    let mut table = tx.open_table(LINK_HASH_TO_LINK.definition())?;
    let open: Vec<([u8; 32], Link)> = LINK_HASH_TO_LINK
        .all(&table)?
        .into_iter()
        .filter(|(_, link)| link.user == user && link.kind == kind && link.state == LinkState::Open)
        .collect();
    for (old_hash, old) in &open {
        LINK_HASH_TO_LINK.insert(&mut table, *old_hash, &Link { state: LinkState::Replaced, ..old.clone() })?;
    }
    LINK_HASH_TO_LINK.insert(&mut table, hash, &Link { kind, user, created_at: at, state: LinkState::Open })?;
    drop(table);
    for (old_hash, _) in open {
        end_mail_link(tx, old_hash, Removal::Replaced)?;
    }
    Ok(())
}

pub fn insert_session(tx: &WriteTransaction, hash: [u8; 32], session: &Session) -> Result<(), StoreError> {
    let mut table = tx.open_table(SESSION_HASH_TO_SESSION.definition())?;
    SESSION_HASH_TO_SESSION.insert(&mut table, hash, session)?;
    Ok(())
}

/// Ends every session of `user` but `keep`; returns how many ended.
pub fn end_sessions(tx: &WriteTransaction, user: UserId, keep: Option<[u8; 32]>) -> Result<usize, StoreError> {
    let mut table = tx.open_table(SESSION_HASH_TO_SESSION.definition())?;
    let doomed: Vec<[u8; 32]> = SESSION_HASH_TO_SESSION
        .all(&table)?
        .into_iter()
        .filter(|(hash, session)| session.user == user && Some(*hash) != keep)
        .map(|(hash, _)| hash)
        .collect();
    for hash in &doomed {
        SESSION_HASH_TO_SESSION.remove(&mut table, *hash)?;
    }
    Ok(doomed.len())
}

/// The user, if there is one: for write steps after routing changed, where a missing user must
/// not turn into a rejection (the single-writer rule: a write fails only on storage).
pub fn find_user(tx: &impl Tables, id: UserId) -> Result<Option<User>, StoreError> {
    let table = tx.table(USER_ID_TO_USER.definition())?;
    USER_ID_TO_USER.get(&table, id.0)
}

/// The user, or a `user_not_found` rejection: for checks, before a command's first write.
pub fn load_user(tx: &impl Tables, id: UserId) -> Result<User, ApplyError> {
    let table = tx.table(USER_ID_TO_USER.definition())?;
    USER_ID_TO_USER
        .get(&table, id.0)?
        .ok_or_else(|| Rejection::not_found(ErrorCode::UserNotFound, "There is no such user.").into())
}

pub fn all_users(tx: &impl Tables) -> Result<Vec<User>, StoreError> {
    let table = tx.table(USER_ID_TO_USER.definition())?;
    Ok(USER_ID_TO_USER.all(&table)?.into_iter().map(|(_, user)| user).collect())
}

pub fn user_id_by_email(tx: &impl Tables, email: &str) -> Result<Option<UserId>, StoreError> {
    let index = tx.table(EMAIL_TO_USER_ID)?;
    Ok(index.get(email)?.map(|id| UserId(id.value())))
}

/// Writes a user and keeps the e-mail index in step (`old_email`: the address it had before).
pub fn save_user(tx: &WriteTransaction, user: &User, old_email: Option<&str>) -> Result<(), StoreError> {
    let mut users = tx.open_table(USER_ID_TO_USER.definition())?;
    USER_ID_TO_USER.insert(&mut users, user.id.0, user)?;
    let mut index = tx.open_table(EMAIL_TO_USER_ID)?;
    if let Some(old) = old_email.filter(|old| *old != user.email) {
        index.remove(old)?;
    }
    index.insert(user.email.as_str(), user.id.0)?;
    Ok(())
}

/// The id the next user will get (read by a check; the user is written in the same command).
pub fn next_user_id(tx: &impl Tables) -> Result<UserId, StoreError> {
    let table = tx.table(USER_ID_TO_USER.definition())?;
    Ok(UserId(USER_ID_TO_USER.next_key(&table)?))
}

/// Refuses an address another user already has.
pub fn check_email_free(tx: &impl Tables, email: &str, except: Option<UserId>) -> Result<(), ApplyError> {
    match user_id_by_email(tx, email)? {
        Some(owner) if Some(owner) != except => {
            let mut rejection =
                Rejection::conflict(ErrorCode::EmailTaken, format!("Another user already has the e-mail {email}."));
            rejection.field = Some("email");
            Err(rejection.into())
        }
        _ => Ok(()),
    }
}

/// Deletes every API token of a user (deactivation: a reactivated user starts without them; a new
/// password, when asked); returns how many. The caller publishes `SessionsEnded` so their
/// sockets close.
pub fn revoke_api_tokens(tx: &WriteTransaction, user: UserId) -> Result<usize, StoreError> {
    let mut table = tx.open_table(API_TOKEN_HASH_TO_TOKEN.definition())?;
    let doomed: Vec<[u8; 32]> = API_TOKEN_HASH_TO_TOKEN
        .all(&table)?
        .into_iter()
        .filter(|(_, token)| token.user == user)
        .map(|(hash, _)| hash)
        .collect();
    for hash in &doomed {
        API_TOKEN_HASH_TO_TOKEN.remove(&mut table, *hash)?;
    }
    Ok(doomed.len())
}

/// Kills every open link of a user, of either kind: a new password makes a reset link sent
/// before it (maybe to a mailbox someone else reads) useless.
pub fn revoke_links(tx: &WriteTransaction, user: UserId) -> Result<(), StoreError> {
    let mut table = tx.open_table(LINK_HASH_TO_LINK.definition())?;
    let open: Vec<([u8; 32], Link)> = LINK_HASH_TO_LINK
        .all(&table)?
        .into_iter()
        .filter(|(_, link)| link.user == user && link.state == LinkState::Open)
        .collect();
    for (hash, link) in open {
        LINK_HASH_TO_LINK.insert(&mut table, hash, &Link { state: LinkState::Revoked, ..link })?;
        end_mail_link(tx, hash, Removal::Revoked)?;
    }
    Ok(())
}
