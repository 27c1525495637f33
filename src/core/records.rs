//! Writes that several commands share: audit entries, queued mail, links, sessions; and the user
//! lookups their checks share. A write helper is a single step of a command's write phase (after
//! its check) and fails only on storage; a lookup that may refuse is for checks.

use redb::{ReadableTable, WriteTransaction};

use super::{ApplyError, RejectKind, Rejection, Tables};
use crate::domain::account::{Group, Totp, User};
use crate::domain::audit::{Actor, AuditEntry};
use crate::domain::conversation::Message;
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::{GroupId, MessageId, UserId};
use crate::domain::mail::{Letter, Mail, MailLink, Removal};
use crate::domain::secret::{self, Link, LinkKind, LinkState};
use crate::domain::session::Session;
use crate::domain::totp;
use crate::store::tables::{
    API_TOKEN_HASH_TO_TOKEN, AUDIT_ID_TO_ENTRY, EMAIL_TO_USER_ID, GROUP_ID_TO_GROUP, LINK_HASH_TO_LINK,
    LINK_HASH_TO_MAIL_ID, MAIL_ID_TO_MAIL, MESSAGE_KEY_TO_MESSAGE, SESSION_HASH_TO_SESSION, USER_ID_TO_USER,
};
use crate::store::{StoreError, indexes};

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
    indexes::mail_queued(tx, id)?;
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
    let link = Link { kind, user, created_at: at, state: LinkState::Open };
    LINK_HASH_TO_LINK.insert(&mut table, hash, &link)?;
    drop(table);
    indexes::link_opened(tx, hash, link.expires_at())?;
    for (old_hash, _) in open {
        end_mail_link(tx, old_hash, Removal::Replaced)?;
    }
    Ok(())
}

pub fn insert_session(tx: &WriteTransaction, hash: [u8; 32], session: &Session) -> Result<(), StoreError> {
    let mut table = tx.open_table(SESSION_HASH_TO_SESSION.definition())?;
    SESSION_HASH_TO_SESSION.insert(&mut table, hash, session)?;
    indexes::session_seen(tx, hash, None, session.last_seen_at)?;
    Ok(())
}

/// Ends every session of `user` but `keep`; returns how many ended.
pub fn end_sessions(tx: &WriteTransaction, user: UserId, keep: Option<[u8; 32]>) -> Result<usize, StoreError> {
    let mut table = tx.open_table(SESSION_HASH_TO_SESSION.definition())?;
    let doomed: Vec<([u8; 32], u64)> = SESSION_HASH_TO_SESSION
        .all(&table)?
        .into_iter()
        .filter(|(hash, session)| session.user == user && Some(*hash) != keep)
        .map(|(hash, session)| (hash, session.last_seen_at))
        .collect();
    for (hash, seen_at) in &doomed {
        SESSION_HASH_TO_SESSION.remove(&mut table, *hash)?;
        indexes::session_ended(tx, *hash, *seen_at)?;
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

/// The link under `hash` was used or replaced: it leaves the mail that carried it.
pub fn end_mail_link(tx: &WriteTransaction, hash: [u8; 32], why: Removal) -> Result<(), StoreError> {
    let Some(id) = tx.open_table(LINK_HASH_TO_MAIL_ID)?.remove(hash)?.map(|id| id.value()) else {
        return Ok(());
    };
    let mut table = tx.open_table(MAIL_ID_TO_MAIL.definition())?;
    if let Some(mut mail) = MAIL_ID_TO_MAIL.get(&table, id)? {
        if let Some(link) = &mut mail.link {
            link.remove(why);
        }
        MAIL_ID_TO_MAIL.insert(&mut table, id, &mail)?;
    }
    Ok(())
}

/// The answer when two-factor login is on and no code came: `Unauthorized` where it stands for
/// signing in (sign-in, a reset link), `Forbidden` where a signed-in user must prove it is them.
pub fn second_factor_missing(kind: RejectKind) -> Rejection {
    let mut rejection = Rejection::new(
        kind,
        ErrorCode::TotpRequired,
        "Enter the 6-digit code from your authenticator app (or a recovery code).",
    );
    rejection.field = Some("totp");
    rejection
}

/// If the user has two-factor login on, checks `code` (a TOTP code works once; a recovery code is
/// spent) and returns the enrolment to save; `None` when it is off.
pub fn check_second_factor(
    user: &User,
    code: Option<&str>,
    kind: RejectKind,
    at: u64,
) -> Result<Option<Totp>, ApplyError> {
    let Some(enrolled) = user.totp.clone() else {
        return Ok(None);
    };
    let Some(code) = code.map(str::trim).filter(|code| !code.is_empty()) else {
        return Err(second_factor_missing(kind).into());
    };
    second_factor(enrolled, code, kind, at).map(Some)
}

/// Checks a TOTP or recovery code against the enrolment; returns the enrolment updated so the
/// same code cannot work again.
fn second_factor(mut enrolled: Totp, code: &str, kind: RejectKind, at: u64) -> Result<Totp, ApplyError> {
    if let Some(step) = totp::verify(&enrolled.secret, code, at, enrolled.last_step) {
        enrolled.last_step = step;
        return Ok(enrolled);
    }
    let hash = secret::hash(&totp::normalize_recovery_code(code));
    if let Some(position) = enrolled.recovery.iter().position(|stored| *stored == hash) {
        enrolled.recovery.remove(position);
        return Ok(enrolled);
    }
    let mut rejection = Rejection::new(kind, ErrorCode::TotpInvalid, "That code is not valid. Try the current one.");
    rejection.field = Some("totp");
    Err(rejection.into())
}

/// Stores a message as the conversation's next one (its id is given here).
pub fn append(tx: &WriteTransaction, mut message: Message) -> Result<Message, StoreError> {
    let conversation = message.conversation;
    let mut table = tx.open_table(MESSAGE_KEY_TO_MESSAGE.definition())?;
    let last = table.range((conversation.0, 0)..=(conversation.0, u64::MAX))?.next_back().transpose()?;
    let seq = last.map_or(1, |(key, _)| key.value().1 + 1);
    message.id = MessageId(seq);
    MESSAGE_KEY_TO_MESSAGE.insert(&mut table, (conversation.0, seq), &message)?;
    Ok(message)
}

pub fn live_group(all: &[(u64, Group)], id: GroupId) -> Result<Group, ApplyError> {
    all.iter()
        .map(|(_, group)| group)
        .find(|group| group.id == id && group.deleted_at.is_none())
        .cloned()
        .ok_or_else(|| Rejection::not_found(ErrorCode::GroupNotFound, "There is no such group.").into())
}

pub fn check_group_exists(tx: &impl Tables, id: GroupId) -> Result<Group, ApplyError> {
    let table = tx.table(GROUP_ID_TO_GROUP.definition())?;
    live_group(&GROUP_ID_TO_GROUP.all(&table)?, id)
}

/// A rule as staff and customers read its name: its file name without `.rhai`.
pub fn rule_name(file: &str) -> &str {
    file.trim_end_matches(".rhai")
}
