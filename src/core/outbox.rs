//! The outbox in the core (issue 13, finding 2): mail that carries an invite or reset link keeps
//! the link apart from its text, stored only where administrators must read it (no SMTP server)
//! and otherwise held in memory until sent; the link leaves the stored mail in the same write that
//! marks it sent, uses it or replaces it. Also the mailer's record of each attempt, a link renewed
//! after a restart lost it, and the audit of an administrator reading someone's reset link.

use redb::{ReadableTable, WriteTransaction};

use super::mail_links::MailLinks;
use super::records::{audit, open_link, queue_mail};
use super::{ApplyError, Command, Event, Read, Rejection, Runtime, Tables, WriteError};
use crate::domain::account::{Language, User};
use crate::domain::audit::Actor;
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::UserId;
use crate::domain::mail::{self, Mail, MailLink, Removal};
use crate::domain::secret::{self, Link, LinkKind, LinkState};
use crate::store::StoreError;
use crate::store::tables::{LINK_HASH_TO_LINK, LINK_HASH_TO_MAIL_ID, MAIL_ID_TO_MAIL, META};

/// Sets, at start, where links of queued mail are kept.
pub struct SetMailLinks {
    pub links: MailLinks,
}

impl Command<Runtime, Event> for SetMailLinks {
    type Output = ();
    /// Nothing can refuse: the setting, for `write` to put in the state.
    type Plan = MailLinks;

    fn check(self, _: &Runtime, _: &Read<'_>) -> Result<MailLinks, ApplyError> {
        Ok(self.links)
    }

    fn write(
        links: MailLinks,
        state: &mut Runtime,
        _: &WriteTransaction,
        _: &mut Vec<Event>,
    ) -> Result<(), WriteError> {
        state.mail_links = links;
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
) -> Result<u64, StoreError> {
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

pub struct MailAttempted {
    pub id: u64,
    /// `None`: delivered to the SMTP server.
    pub error: Option<String>,
    pub at: u64,
}

impl Command<Runtime, Event> for MailAttempted {
    type Output = ();
    /// The mail with the attempt recorded, and the link that leaves the index when it was sent.
    type Plan = (Mail, Option<[u8; 32]>);

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<Self::Plan, ApplyError> {
        let mut mail = find_mail(read, self.id)?
            .ok_or_else(|| Rejection::not_found(ErrorCode::MailNotFound, "There is no such mail."))?;
        mail.attempts += 1;
        mail.last_attempt_at = Some(self.at);
        let mut sent_link = None;
        match self.error {
            None => {
                mail.sent_at = Some(self.at);
                // Sent: the link is in the recipient's mailbox, and leaves ours in this same write.
                if let Some(link) = &mut mail.link {
                    link.remove(Removal::Sent);
                    sent_link = Some(link.hash);
                }
            }
            Some(error) => mail.last_error = Some(error),
        }
        Ok((mail, sent_link))
    }

    fn write(
        (mail, sent_link): Self::Plan,
        _: &mut Runtime,
        tx: &WriteTransaction,
        _: &mut Vec<Event>,
    ) -> Result<(), WriteError> {
        if let Some(hash) = sent_link {
            tx.open_table(LINK_HASH_TO_MAIL_ID)?.remove(hash)?;
        }
        if let Some(at) = mail.sent_at {
            crate::store::indexes::mail_sent(tx, mail.id, at)?;
        }
        Ok(save_mail(tx, &mail)?)
    }
}

fn find_mail(read: &impl Tables, id: u64) -> Result<Option<Mail>, StoreError> {
    MAIL_ID_TO_MAIL.get(&read.table(MAIL_ID_TO_MAIL.definition())?, id)
}

fn find_link(read: &impl Tables, hash: [u8; 32]) -> Result<Option<secret::Link>, StoreError> {
    LINK_HASH_TO_LINK.get(&read.table(LINK_HASH_TO_LINK.definition())?, hash)
}

/// Gives a waiting mail a new link in place of one held in memory and lost at a restart, when
/// that one still works (the new one lasts as long); answers whether it did.
pub struct RenewMailLink {
    pub id: u64,
    pub link: NewLink,
    pub at: u64,
}

/// A renewal found possible: the mail, the link it loses, the new one and when the old was made.
pub struct Renewal {
    mail: Mail,
    old: MailLink,
    new: NewLink,
    created_at: u64,
}

impl Command<Runtime, Event> for RenewMailLink {
    type Output = bool;
    /// `None`: the mail was sent, lost its link, keeps it stored, or its link no longer works.
    type Plan = Option<Renewal>;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<Self::Plan, ApplyError> {
        let Some(mail) = find_mail(read, self.id)? else {
            return Ok(None);
        };
        let Some(old) = mail.link.clone() else {
            return Ok(None);
        };
        if mail.sent_at.is_some() || old.removed.is_some() || old.url.is_some() {
            return Ok(None);
        }
        let Some(record) = find_link(read, old.hash)?.filter(|record| record.check(old.kind, self.at).is_ok()) else {
            return Ok(None);
        };
        Ok(Some(Renewal { mail, old, new: self.link, created_at: record.created_at }))
    }

    fn write(
        plan: Self::Plan,
        state: &mut Runtime,
        tx: &WriteTransaction,
        _: &mut Vec<Event>,
    ) -> Result<bool, WriteError> {
        let Some(Renewal { mut mail, old, new, created_at }) = plan else {
            return Ok(false);
        };
        tx.open_table(LINK_HASH_TO_MAIL_ID)?.remove(old.hash)?;
        open_link(tx, old.kind, old.user, new.hash, created_at)?;
        let url = keep(state, &new);
        mail.link = Some(MailLink { hash: new.hash, url, ..old });
        save_mail(tx, &mail)?;
        tx.open_table(LINK_HASH_TO_MAIL_ID)?.insert(new.hash, mail.id)?;
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
    /// Nothing can refuse: the reads to record.
    type Plan = Self;

    fn check(self, _: &Runtime, _: &Read<'_>) -> Result<Self, ApplyError> {
        Ok(self)
    }

    fn write(plan: Self, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<(), WriteError> {
        for read in plan.reads {
            let detail = format!("{} (mail {})", read.to, read.mail);
            audit(tx, &plan.actor, "mail.reset_link_read", format!("user:{}", read.user), detail, plan.at)?;
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

/// A legacy mail as it will be saved, and the link to keep for it when that link still works.
pub struct Adopted {
    mail: Mail,
    keeps: Option<NewLink>,
    /// A link that still worked but was mailed already: its token sat in clear in the file (and
    /// may still, in freed pages or a backup), so it is revoked.
    revokes: Option<([u8; 32], Link)>,
}

impl Command<Runtime, Event> for AdoptLegacyMail {
    type Output = usize;
    /// The mail to rewrite; `None`: this database did it already.
    type Plan = Option<Vec<Adopted>>;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<Self::Plan, ApplyError> {
        if read.table(META)?.get(LEGACY_ADOPTED)?.is_some() {
            return Ok(None);
        }
        let legacy = MAIL_ID_TO_MAIL.all(&read.table(MAIL_ID_TO_MAIL.definition())?)?;
        let mut adopted = Vec::new();
        for (_, mail) in legacy.into_iter().filter(|(_, mail)| mail.link.is_none()) {
            if let Some(one) = adopt(read, mail, self.at)? {
                adopted.push(one);
            }
        }
        Ok(Some(adopted))
    }

    fn write(
        plan: Self::Plan,
        state: &mut Runtime,
        tx: &WriteTransaction,
        _: &mut Vec<Event>,
    ) -> Result<usize, WriteError> {
        let Some(adopted) = plan else {
            return Ok(0);
        };
        let count = adopted.len();
        for Adopted { mut mail, keeps, revokes } in adopted {
            if let (Some(new), Some(link)) = (keeps, &mut mail.link) {
                link.url = keep(state, &new);
                tx.open_table(LINK_HASH_TO_MAIL_ID)?.insert(new.hash, mail.id)?;
            }
            if let Some((hash, link)) = revokes {
                let revoked = Link { state: LinkState::Revoked, ..link };
                LINK_HASH_TO_LINK.insert(&mut tx.open_table(LINK_HASH_TO_LINK.definition())?, hash, &revoked)?;
            }
            save_mail(tx, &mail)?;
        }
        tx.open_table(META)?.insert(LEGACY_ADOPTED, 1)?;
        Ok(count)
    }
}

/// What becomes of one legacy mail: its link out of the text and beside it (or, for a link the
/// database no longer knows, words saying it is gone); `None` when it carries no link.
fn adopt(read: &impl Tables, mut mail: Mail, at: u64) -> Result<Option<Adopted>, StoreError> {
    let Some((start, end, token)) = written_link(&mail.body) else {
        return Ok(None);
    };
    let url = mail.body[start..end].to_owned();
    let hash = secret::hash(token);
    let record = find_link(read, hash)?;
    let language = if mail.body.starts_with("Hello") { Language::En } else { Language::Es };
    mail.body.replace_range(start..end, "");
    let Some(record) = record else {
        mail.body.insert_str(start, mail::removal_text(Removal::Replaced, language));
        return Ok(Some(Adopted { mail, keeps: None, revokes: None }));
    };
    let mut link =
        MailLink { hash, kind: record.kind, user: record.user, at: start, language, url: None, removed: None };
    let (mut keeps, mut revokes) = (None, None);
    let works = record.check(record.kind, at).is_ok();
    if mail.sent_at.is_some() {
        link.removed = Some(Removal::Sent);
        revokes = works.then(|| (hash, record.clone()));
    } else if works {
        keeps = Some(NewLink { hash, url });
    }
    mail.link = Some(link);
    Ok(Some(Adopted { mail, keeps, revokes }))
}

fn save_mail(tx: &WriteTransaction, mail: &Mail) -> Result<(), StoreError> {
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

/// An invite or reset link: the hash to store and the full address to mail.
#[derive(Debug, Clone)]
pub struct NewLink {
    pub hash: [u8; 32],
    pub url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::Store;

    fn adopt_legacy(state: &mut Runtime, tx: &WriteTransaction) -> usize {
        let plan = AdoptLegacyMail { at: 10 }.check(state, &Read::new(tx)).unwrap();
        AdoptLegacyMail::write(plan, state, tx, &mut Vec::new()).unwrap()
    }

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
        assert_eq!(adopt_legacy(&mut state, &tx), 3);
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
        let links = tx.open_table(LINK_HASH_TO_LINK.definition()).unwrap();
        let sent_link = LINK_HASH_TO_LINK.get(&links, secret::hash(sent_token)).unwrap().unwrap();
        assert_eq!(sent_link.state, LinkState::Revoked, "its token sat in clear in the file: it no longer opens");
        let waiting_link = LINK_HASH_TO_LINK.get(&links, secret::hash(waiting_token)).unwrap().unwrap();
        assert_eq!(waiting_link.state, LinkState::Open, "a waiting mail's link still works");
        drop(links);

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
        assert_eq!(adopt_legacy(&mut state, &tx), 0, "once");
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
