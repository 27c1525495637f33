//! The outbox in the core (issue 13, finding 2): mail that carries an invite or reset link keeps
//! the link apart from its text, stored only where administrators must read it (no SMTP server)
//! and otherwise held in memory until sent; the link leaves the stored mail in the same write that
//! marks it sent, uses it or replaces it. Also the mailer's record of each attempt, a link renewed
//! after a restart lost it, and the audit of an administrator reading someone's reset link.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use redb::{ReadableTable, WriteTransaction};

use super::accounts::NewLink;
use super::records::{audit, open_link, queue_mail};
use super::{ApplyError, Command, Event, Read, Rejection, Runtime, WriteError};
use crate::domain::account::{Language, User};
use crate::domain::audit::Actor;
use crate::domain::ids::UserId;
use crate::domain::mail::{self, Mail, MailLink, Removal};
use crate::domain::secret::{self, LinkKind};
use crate::store::tables::{LINK_HASH_TO_LINK, LINK_HASH_TO_MAIL_ID, MAIL_ID_TO_MAIL, META};

/// Links of queued mail waiting to be sent, by the hash of their token. Held in memory only, so
/// that the database never holds a link that is, or is about to be, in someone's mailbox.
#[derive(Clone, Default)]
pub struct MailVault(Arc<Mutex<HashMap<[u8; 32], String>>>);

impl std::fmt::Debug for MailVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MailVault({} links)", self.lock().len())
    }
}

impl MailVault {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], String>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn get(&self, hash: &[u8; 32]) -> Option<String> {
        self.lock().get(hash).cloned()
    }

    pub fn hold(&self, hash: [u8; 32], url: String) {
        self.lock().insert(hash, url);
    }

    /// After the mail went out: nobody needs its link any more.
    pub fn forget(&self, hash: &[u8; 32]) {
        self.lock().remove(hash);
    }
}

/// How the core keeps the links of queued mail.
#[derive(Debug, Clone, Default)]
pub struct MailLinks {
    pub vault: MailVault,
    /// No SMTP server is configured: administrators pass links on from the outbox, so a link is
    /// stored with its mail (until used, replaced or expired) and survives restarts.
    pub in_outbox: bool,
}

/// Sets, at start, where links of queued mail are kept.
pub struct SetMailLinks {
    pub links: MailLinks,
}

impl Command<Runtime, Event> for SetMailLinks {
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

impl SetMailLinks {
    fn apply(self, state: &mut Runtime, _: &WriteTransaction, _: &mut Vec<Event>) -> Result<(), ApplyError> {
        state.mail_links = self.links;
        Ok(())
    }
}

/// A fresh link of `kind` under `base` (the public URL): the token goes in the mail only.
pub fn fresh_link(kind: LinkKind, base: &str) -> NewLink {
    let (prefix, page) = match kind {
        LinkKind::Invite => ("in_", "invite"),
        LinkKind::Reset => ("rs_", "reset"),
    };
    let token = secret::new_token(prefix);
    NewLink { hash: secret::hash(&token), url: format!("{base}/{page}#token={token}") }
}

/// Puts the invite or reset mail for `link` in the outbox.
pub fn queue_link_mail(
    state: &Runtime,
    tx: &WriteTransaction,
    user: &User,
    kind: LinkKind,
    link: &NewLink,
    at: u64,
) -> Result<u64, ApplyError> {
    let letter = mail::link_letter(kind, user);
    let url = keep(state, link);
    let carried = MailLink {
        hash: link.hash,
        kind,
        user: user.id,
        at: letter.link_at.unwrap_or(letter.body.len()),
        language: mail::language(user),
        url,
        removed: None,
    };
    let id = queue_mail(tx, &user.email, letter, Some(carried), at)?;
    tx.open_table(LINK_HASH_TO_MAIL_ID)?.insert(link.hash, id)?;
    Ok(id)
}

/// Keeps a link where this server keeps them; the address to store with the mail, if any.
fn keep(state: &Runtime, link: &NewLink) -> Option<String> {
    if state.mail_links.in_outbox {
        return Some(link.url.clone());
    }
    // An aborted batch leaves an entry no mail points to: harmless, and gone at the next start.
    state.mail_links.vault.hold(link.hash, link.url.clone());
    None
}

/// The link under `hash` was used or replaced: it leaves the mail that carried it.
pub fn end_mail_link(tx: &WriteTransaction, hash: [u8; 32], why: Removal) -> Result<(), ApplyError> {
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

pub struct MailAttempted {
    pub id: u64,
    /// `None`: delivered to the SMTP server.
    pub error: Option<String>,
    pub at: u64,
}

impl Command<Runtime, Event> for MailAttempted {
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

impl MailAttempted {
    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<(), ApplyError> {
        let mut table = tx.open_table(MAIL_ID_TO_MAIL.definition())?;
        let mut mail = MAIL_ID_TO_MAIL
            .get(&table, self.id)?
            .ok_or_else(|| Rejection::not_found("mail_not_found", "There is no such mail."))?;
        mail.attempts += 1;
        mail.last_attempt_at = Some(self.at);
        match self.error {
            None => {
                mail.sent_at = Some(self.at);
                // Sent: the link is in the recipient's mailbox, and leaves ours in this same write.
                if let Some(link) = &mut mail.link {
                    link.remove(Removal::Sent);
                    tx.open_table(LINK_HASH_TO_MAIL_ID)?.remove(link.hash)?;
                }
            }
            Some(error) => mail.last_error = Some(error),
        }
        MAIL_ID_TO_MAIL.insert(&mut table, self.id, &mail)?;
        Ok(())
    }
}

/// Gives a waiting mail a new link in place of one held in memory and lost at a restart, when
/// that one still works (the new one lasts as long); answers whether it did.
pub struct RenewMailLink {
    pub id: u64,
    pub link: NewLink,
    pub at: u64,
}

impl Command<Runtime, Event> for RenewMailLink {
    type Output = bool;
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

impl RenewMailLink {
    fn apply(self, state: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<bool, ApplyError> {
        let mail = {
            let table = tx.open_table(MAIL_ID_TO_MAIL.definition())?;
            MAIL_ID_TO_MAIL.get(&table, self.id)?
        };
        let Some((mut mail, old)) = mail.and_then(|mail| mail.link.clone().map(|link| (mail, link))) else {
            return Ok(false);
        };
        if mail.sent_at.is_some() || old.removed.is_some() || old.url.is_some() {
            return Ok(false);
        }
        let record = {
            let links = tx.open_table(LINK_HASH_TO_LINK.definition())?;
            LINK_HASH_TO_LINK.get(&links, old.hash)?
        };
        let Some(record) = record.filter(|record| record.check(old.kind, self.at).is_ok()) else {
            return Ok(false);
        };
        tx.open_table(LINK_HASH_TO_MAIL_ID)?.remove(old.hash)?;
        open_link(tx, old.kind, old.user, self.link.hash, record.created_at)?;
        let url = keep(state, &self.link);
        mail.link = Some(MailLink { hash: self.link.hash, url, ..old });
        let mut table = tx.open_table(MAIL_ID_TO_MAIL.definition())?;
        MAIL_ID_TO_MAIL.insert(&mut table, self.id, &mail)?;
        tx.open_table(LINK_HASH_TO_MAIL_ID)?.insert(self.link.hash, self.id)?;
        Ok(true)
    }
}

/// A reset link of someone else that an administrator was shown in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRead {
    pub mail: u64,
    /// Whose account the link opens, and their address.
    pub user: UserId,
    pub to: String,
}

/// Records in the audit log who read whose reset link, and when.
pub struct LinksRead {
    pub actor: Actor,
    pub reads: Vec<LinkRead>,
    pub at: u64,
}

impl Command<Runtime, Event> for LinksRead {
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

impl LinksRead {
    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<(), ApplyError> {
        for read in self.reads {
            let detail = format!("{} (mail {})", read.to, read.mail);
            audit(tx, &self.actor, "mail.reset_link_read", format!("user:{}", read.user), detail, self.at)?;
        }
        Ok(())
    }
}

const LEGACY_ADOPTED: &str = "mail_links_adopted";

/// Once per database, at start: mail queued before links were kept apart from the text (they were
/// written into it) gets the same treatment: a sent mail loses its link, a waiting one whose link
/// works keeps it as new mail does.
pub struct AdoptLegacyMail {
    pub at: u64,
}

impl Command<Runtime, Event> for AdoptLegacyMail {
    type Output = usize;
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

impl AdoptLegacyMail {
    fn apply(self, state: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<usize, ApplyError> {
        if tx.open_table(META)?.get(LEGACY_ADOPTED)?.is_some() {
            return Ok(0);
        }
        let legacy: Vec<Mail> = {
            let table = tx.open_table(MAIL_ID_TO_MAIL.definition())?;
            MAIL_ID_TO_MAIL.all(&table)?.into_iter().map(|(_, mail)| mail).filter(|mail| mail.link.is_none()).collect()
        };
        let mut adopted = 0;
        for mut mail in legacy {
            let Some((start, end, token)) = written_link(&mail.body) else {
                continue;
            };
            let url = mail.body[start..end].to_owned();
            let hash = secret::hash(token);
            let record = {
                let links = tx.open_table(LINK_HASH_TO_LINK.definition())?;
                LINK_HASH_TO_LINK.get(&links, hash)?
            };
            let language = if mail.body.starts_with("Hello") { Language::En } else { Language::Es };
            mail.body.replace_range(start..end, "");
            let Some(record) = record else {
                // A link the database no longer knows: only the words saying it is gone remain.
                mail.body.insert_str(start, mail::removal_text(Removal::Replaced, language));
                save_mail(tx, &mail)?;
                adopted += 1;
                continue;
            };
            let mut link =
                MailLink { hash, kind: record.kind, user: record.user, at: start, language, url: None, removed: None };
            if mail.sent_at.is_some() {
                link.removed = Some(Removal::Sent);
            } else if record.check(record.kind, self.at).is_ok() {
                link.url = keep(state, &NewLink { hash, url });
                tx.open_table(LINK_HASH_TO_MAIL_ID)?.insert(hash, mail.id)?;
            }
            mail.link = Some(link);
            save_mail(tx, &mail)?;
            adopted += 1;
        }
        tx.open_table(META)?.insert(LEGACY_ADOPTED, 1)?;
        Ok(adopted)
    }
}

fn save_mail(tx: &WriteTransaction, mail: &Mail) -> Result<(), ApplyError> {
    let mut table = tx.open_table(MAIL_ID_TO_MAIL.definition())?;
    MAIL_ID_TO_MAIL.insert(&mut table, mail.id, mail)?;
    Ok(())
}

/// Where an invite or reset link was written into a mail's text (start and end of the address),
/// and its token.
fn written_link(body: &str) -> Option<(usize, usize, &str)> {
    let mark = body.find("#token=")?;
    let start = body[..mark].rfind(|c: char| c.is_ascii_whitespace()).map_or(0, |at| at + 1);
    let end = body[mark..].find(|c: char| c.is_ascii_whitespace()).map_or(body.len(), |at| mark + at);
    Some((start, end, &body[mark + "#token=".len()..end]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::secret::{Link, LinkState};
    use crate::store::Store;

    fn legacy(id: u64, body: String, sent: bool) -> Mail {
        Mail {
            id,
            to: "ana@example.com".into(),
            subject: "s".into(),
            body,
            created_at: 0,
            sent_at: sent.then_some(5),
            attempts: u32::from(sent),
            last_error: None,
            last_attempt_at: None,
            link: None,
        }
    }

    /// A database from before: links written into mail text. Sent ones lose theirs, a waiting one
    /// keeps a working link as new mail does (held in memory where SMTP sends it), once.
    #[test]
    fn older_mail_gets_its_link_taken_out_of_the_text_once() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        let tx = store.begin_write().unwrap();
        let (sent_token, waiting_token) = ("rs_sentsentsent", "in_waitwaitwait");
        {
            let mut links = tx.open_table(LINK_HASH_TO_LINK.definition()).unwrap();
            for (token, kind) in [(sent_token, LinkKind::Reset), (waiting_token, LinkKind::Invite)] {
                let link = Link { kind, user: UserId(2), created_at: 0, state: LinkState::Open };
                LINK_HASH_TO_LINK.insert(&mut links, secret::hash(token), &link).unwrap();
            }
        }
        let body = |token: &str| {
            format!("Hello Ana,\n\nopen this link:\n\nhttps://x/p#token={token}\n\nThe link works once.\n")
        };
        save_mail(&tx, &legacy(1, body(sent_token), true)).unwrap();
        save_mail(&tx, &legacy(2, body(waiting_token), false)).unwrap();
        save_mail(&tx, &legacy(3, body("rs_forgotten"), true)).unwrap();
        save_mail(&tx, &legacy(4, "Hola:\n\nhttps://x/conversations#conversation=4\n".into(), false)).unwrap();
        let mut state = Runtime::default();
        assert_eq!(AdoptLegacyMail { at: 10 }.apply(&mut state, &tx, &mut Vec::new()).unwrap(), 3);
        let table = tx.open_table(MAIL_ID_TO_MAIL.definition()).unwrap();
        let mail = |id| MAIL_ID_TO_MAIL.get(&table, id).unwrap().unwrap();
        let removed = |mail: &Mail| mail.text(mail.link.as_ref().map(|link| link.judge(None, None, 10)).as_ref());

        let sent = mail(1);
        assert!(!sent.body.contains("token") && sent.body.contains("link:\n\n\n\nThe link"), "{}", sent.body);
        let link = sent.link.clone().unwrap();
        assert_eq!(
            (link.kind, link.user, link.url, link.removed),
            (LinkKind::Reset, UserId(2), None, Some(Removal::Sent))
        );
        assert!(removed(&sent).contains("link:\n\n[link removed after sending]\n\nThe link"), "{}", removed(&sent));

        let waiting = mail(2);
        let link = waiting.link.clone().unwrap();
        assert_eq!((link.kind, link.url.as_deref(), link.removed), (LinkKind::Invite, None, None), "not stored");
        let held = state.mail_links.vault.get(&secret::hash(waiting_token));
        assert_eq!(held.as_deref(), Some("https://x/p#token=in_waitwaitwait"), "held in memory for SMTP");
        assert_eq!(
            tx.open_table(LINK_HASH_TO_MAIL_ID).unwrap().get(secret::hash(waiting_token)).unwrap().unwrap().value(),
            2
        );

        let unknown = mail(3);
        assert!(
            unknown.link.is_none()
                && !unknown.body.contains("token")
                && unknown.body.contains("[link removed: a newer link replaced it]")
        );
        assert_eq!(
            mail(4),
            legacy(4, "Hola:\n\nhttps://x/conversations#conversation=4\n".into(), false),
            "a notice stays"
        );
        drop(table);
        assert_eq!(AdoptLegacyMail { at: 10 }.apply(&mut state, &tx, &mut Vec::new()).unwrap(), 0, "once");
    }

    #[test]
    fn a_link_written_into_an_old_mail_is_found_whole() {
        let body = "Hola Ana:\n\nabre este enlace:\n\nhttps://x:1/reset#token=rs_abc-_9\n\nEl enlace vale";
        let (start, end, token) = written_link(body).unwrap();
        assert_eq!((&body[start..end], token), ("https://x:1/reset#token=rs_abc-_9", "rs_abc-_9"));
        assert_eq!(written_link("https://x/invite#token=in_z"), Some((0, 27, "in_z")));
        assert_eq!(written_link("Hello,\n\nno link here: https://x/conversations#conversation=4\n"), None);
    }
}
