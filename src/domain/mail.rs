//! Outgoing e-mail: the outbox record and the texts of the mails the accounts area sends, in the
//! recipient's language (Spanish unless they chose English). A mail that carries an invite or reset
//! link keeps the link apart from its text (`MailLink`), so the link can leave the mail once it is
//! sent, used, replaced or expired without reading the text for it (issue 13, finding 2). Pure.

use serde::{Deserialize, Serialize};

use super::account::{Language, User};
use super::ids::UserId;
use super::secret::{LINK_TTL_MS, Link, LinkKind, LinkProblem};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mail {
    pub id: u64,
    pub to: String,
    pub subject: String,
    /// The text, without its link when it has one (`link.at` says where it goes).
    pub body: String,
    pub created_at: u64,
    #[serde(default)]
    pub sent_at: Option<u64>,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub last_attempt_at: Option<u64>,
    /// The invite or reset link the mail carries; `None` for notices (their links open a page, no account).
    #[serde(default)]
    pub link: Option<MailLink>,
}

/// The invite or reset link of a mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailLink {
    /// The SHA-256 of its token: the link's key, to judge whether it still works.
    pub hash: [u8; 32],
    pub kind: LinkKind,
    /// Whose account the link opens.
    pub user: UserId,
    /// Where in the body the link goes (a byte offset).
    pub at: usize,
    /// The mail's language, for the words that stand where a removed link was.
    pub language: Language,
    /// The link itself, stored only while administrators must be able to read it from the
    /// outbox (no SMTP server is configured) and it was not removed; otherwise it is held in
    /// memory until sent, and never written to the database.
    #[serde(default)]
    pub url: Option<String>,
    /// Why the link left the mail, once it did.
    #[serde(default)]
    pub removed: Option<Removal>,
}

/// Why a mail no longer shows its link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Removal {
    /// It went to the recipient; nobody else needs it.
    Sent,
    Used,
    /// A newer link of the same kind was made for the same user.
    Replaced,
    Expired,
    /// It was held in memory to be sent and the server restarted before; a new one replaces it.
    Lost,
    /// The user's password changed after it was made (issue 13, finding 6).
    Revoked,
}

/// What a mail shows where its link goes, judged at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    Live(String),
    Removed(Removal),
}

impl MailLink {
    /// Judges the link now: `record` is the stored link under `hash`, `held` the address held
    /// in memory for sending (when the mail does not store it).
    pub fn judge(&self, record: Option<&Link>, held: Option<&str>, now: u64) -> Shown {
        if let Some(removed) = self.removed {
            return Shown::Removed(removed);
        }
        match record.ok_or(LinkProblem::Unknown).and_then(|link| link.check(self.kind, now)) {
            Err(LinkProblem::Used) => Shown::Removed(Removal::Used),
            Err(LinkProblem::Expired) => Shown::Removed(Removal::Expired),
            Err(LinkProblem::Revoked) => Shown::Removed(Removal::Revoked),
            Err(LinkProblem::Replaced | LinkProblem::Unknown | LinkProblem::WrongKind) => {
                Shown::Removed(Removal::Replaced)
            }
            Ok(()) => match self.url.as_deref().or(held) {
                Some(url) => Shown::Live(url.to_owned()),
                None => Shown::Removed(Removal::Lost),
            },
        }
    }

    /// Takes the link out of the stored mail (it keeps the first reason it was given).
    pub fn remove(&mut self, why: Removal) {
        self.url = None;
        self.removed.get_or_insert(why);
    }
}

impl Mail {
    /// The text as it reads with `shown` where its link goes.
    pub fn text(&self, shown: Option<&Shown>) -> String {
        let (Some(link), Some(shown)) = (&self.link, shown) else {
            return self.body.clone();
        };
        let words = match shown {
            Shown::Live(url) => url.as_str(),
            Shown::Removed(why) => removal_text(*why, link.language),
        };
        // A stored offset is trusted only on a character boundary; else the link goes last.
        let at = if self.body.is_char_boundary(link.at) { link.at } else { self.body.len() };
        format!("{}{words}{}", &self.body[..at], &self.body[at..])
    }
}

/// The words that stand where a removed link was.
pub fn removal_text(why: Removal, language: Language) -> &'static str {
    match (why, language) {
        (Removal::Sent, Language::Es) => "[enlace retirado tras el envío]",
        (Removal::Sent, Language::En) => "[link removed after sending]",
        (Removal::Used, Language::Es) => "[enlace retirado: ya se usó]",
        (Removal::Used, Language::En) => "[link removed: it has been used]",
        (Removal::Replaced, Language::Es) => "[enlace retirado: lo sustituyó otro más reciente]",
        (Removal::Replaced, Language::En) => "[link removed: a newer link replaced it]",
        (Removal::Expired, Language::Es) => "[enlace retirado: venció]",
        (Removal::Expired, Language::En) => "[link removed: it expired]",
        (Removal::Lost, Language::Es) => "[enlace no conservado tras un reinicio; lo sustituye otro]",
        (Removal::Lost, Language::En) => "[link not kept across a restart; a new one replaces it]",
        (Removal::Revoked, Language::Es) => "[enlace retirado: la contraseña cambió]",
        (Removal::Revoked, Language::En) => "[link removed: the password was changed]",
    }
}

/// Subject and body of a mail about to be queued; `link_at`: where its link goes in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter {
    pub subject: String,
    pub body: String,
    pub link_at: Option<usize>,
}

impl Letter {
    /// The letter as its recipient reads it, with `link` in its place.
    pub fn with_link(&self, link: &str) -> String {
        match self.link_at {
            Some(at) => format!("{}{link}{}", &self.body[..at], &self.body[at..]),
            None => self.body.clone(),
        }
    }
}

pub fn language(user: &User) -> Language {
    user.language.unwrap_or(Language::Es)
}

fn spanish(user: &User) -> bool {
    language(user) == Language::Es
}

const DAYS: u64 = LINK_TTL_MS / 86_400_000;

/// A letter whose link goes between `before` and `after`.
fn linked(subject: &str, before: String, after: String) -> Letter {
    Letter { subject: subject.to_owned(), link_at: Some(before.len()), body: before + after.as_str() }
}

/// The mail that carries a link of `kind`.
pub fn link_letter(kind: LinkKind, user: &User) -> Letter {
    match kind {
        LinkKind::Invite => invite(user),
        LinkKind::Reset => reset(user),
    }
}

pub fn invite(user: &User) -> Letter {
    let name = &user.first_name;
    if spanish(user) {
        linked(
            "Tu cuenta en centralita",
            format!(
                "Hola {name}:\n\nSe creó una cuenta para ti en centralita. Para elegir tu contraseña y entrar, abre este enlace:\n\n"
            ),
            format!(
                "\n\nEl enlace vale {DAYS} días y sirve una sola vez. Si vence, pide a un administrador que te envíe otra invitación.\n"
            ),
        )
    } else {
        linked(
            "Your centralita account",
            format!(
                "Hello {name},\n\nAn account was created for you on centralita. To choose your password and sign in, open this link:\n\n"
            ),
            format!(
                "\n\nThe link works once, for {DAYS} days. If it expires, ask an administrator to send you a new invitation.\n"
            ),
        )
    }
}

pub fn reset(user: &User) -> Letter {
    let name = &user.first_name;
    if spanish(user) {
        linked(
            "Restablecer tu contraseña de centralita",
            format!("Hola {name}:\n\nPediste restablecer tu contraseña. Para elegir una nueva, abre este enlace:\n\n"),
            format!(
                "\n\nEl enlace vale {DAYS} días y sirve una sola vez. Si no lo pediste tú, ignora este correo: tu contraseña no cambia.\n"
            ),
        )
    } else {
        linked(
            "Reset your centralita password",
            format!("Hello {name},\n\nYou asked to reset your password. To choose a new one, open this link:\n\n"),
            format!(
                "\n\nThe link works once, for {DAYS} days. If you did not ask for this, ignore this mail: your password stays as it is.\n"
            ),
        )
    }
}

/// What a conversation notice tells: which conversation, and where to open it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct About {
    pub conversation: u64,
    /// The contact's name, e-mail or phone; `None` for an anonymous visitor.
    pub contact: Option<String>,
    pub channel: String,
    /// The group whose queue it is in; `None`: the general queue.
    pub queue: Option<String>,
    /// The conversation in the staff UI.
    pub link: String,
}

/// Why a user hears of a conversation (R-GRP-3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Assigned to them: by routing (`by: None`), or by a transfer or a supervisor.
    Assigned { by: Option<String> },
    /// Waiting in the queue of one of their groups.
    Queued,
}

/// The least time between two notices to one user about one conversation.
pub const NOTICE_GAP_MS: u64 = 60_000;

/// Whether a user may be mailed about a conversation now, given when they last were about it.
pub fn may_notify(last: Option<u64>, now: u64) -> bool {
    last.is_none_or(|last| now.saturating_sub(last) >= NOTICE_GAP_MS)
}

pub fn conversation_notice(user: &User, notice: &Notice, about: &About) -> Letter {
    let es = spanish(user);
    let contact = about.contact.clone().unwrap_or_else(|| if es { "Visitante" } else { "Visitor" }.to_owned());
    let queue = about.queue.clone().unwrap_or_else(|| "general".to_owned());
    let name = &user.first_name;
    let (subject, opening) = match (notice, es) {
        (Notice::Assigned { by: None }, true) => {
            (format!("Conversación asignada: {contact}"), "Se te asignó una conversación.".to_owned())
        }
        (Notice::Assigned { by: Some(by) }, true) => {
            (format!("Conversación asignada: {contact}"), format!("{by} te asignó una conversación."))
        }
        (Notice::Assigned { by: None }, false) => {
            (format!("Conversation assigned: {contact}"), "A conversation was assigned to you.".to_owned())
        }
        (Notice::Assigned { by: Some(by) }, false) => {
            (format!("Conversation assigned: {contact}"), format!("{by} assigned a conversation to you."))
        }
        (Notice::Queued, true) => (
            format!("Conversación en espera en {queue}: {contact}"),
            format!("Una conversación espera en la cola de {queue}, uno de tus grupos."),
        ),
        (Notice::Queued, false) => (
            format!("Conversation waiting in {queue}: {contact}"),
            format!("A conversation is waiting in the queue of {queue}, one of your groups."),
        ),
    };
    let (id, channel, link) = (about.conversation, &about.channel, &about.link);
    let body = if es {
        format!(
            "Hola {name}:\n\n{opening}\n\nConversación: #{id}\nContacto: {contact}\nCanal: {channel}\nCola: {queue}\n\nPara abrirla:\n\n{link}\n\nRecibes este correo porque lo pediste en tu perfil de centralita; allí puedes dejar de recibirlo.\n"
        )
    } else {
        format!(
            "Hello {name},\n\n{opening}\n\nConversation: #{id}\nContact: {contact}\nChannel: {channel}\nQueue: {queue}\n\nTo open it:\n\n{link}\n\nYou get this mail because you asked for it in your centralita profile; you can turn it off there.\n"
        )
    };
    Letter { subject, body, link_at: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::UserId;

    fn user(language: Option<Language>) -> User {
        User {
            id: UserId(1),
            first_name: "Ana".into(),
            last_name: "Pérez".into(),
            email: "ana@example.com".into(),
            roles: vec![],
            permissions: vec![],
            language,
            active: true,
            password_hash: None,
            totp: None,
            totp_pending: None,
            totp_required: false,
            notify_assignments: false,
            notify_group_queue: false,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn invites_carry_the_link_in_the_user_language() {
        let es = invite(&user(None)).with_link("https://x/invite#token=t");
        assert!(
            es.contains("enlace:\n\nhttps://x/invite#token=t\n\nEl enlace")
                && es.contains("Hola Ana")
                && es.contains("7 días")
        );
        let en = invite(&user(Some(Language::En)));
        assert!(
            en.subject.contains("account") && en.body.contains("7 days") && en.with_link("L").contains("link:\n\nL\n")
        );
        assert!(reset(&user(None)).with_link("R").contains("\nR\n"));
        assert_eq!(link_letter(LinkKind::Reset, &user(None)), reset(&user(None)));
    }

    fn link_mail(language: Language) -> Mail {
        let letter = reset(&user(Some(language)));
        Mail {
            id: 1,
            to: "ana@example.com".into(),
            subject: letter.subject,
            body: letter.body,
            created_at: 0,
            sent_at: None,
            attempts: 0,
            last_error: None,
            last_attempt_at: None,
            link: Some(MailLink {
                hash: [7; 32],
                kind: LinkKind::Reset,
                user: UserId(1),
                at: letter.link_at.unwrap(),
                language,
                url: Some("https://x/reset#token=rs_t".into()),
                removed: None,
            }),
        }
    }

    fn record(state: crate::domain::secret::LinkState) -> Link {
        Link { kind: LinkKind::Reset, user: UserId(1), created_at: 1_000, state }
    }

    #[test]
    fn a_link_shows_only_while_it_works_and_was_not_removed() {
        use crate::domain::secret::LinkState;
        let mail = link_mail(Language::En);
        let link = mail.link.clone().unwrap();
        let open = record(LinkState::Open);
        let live = link.judge(Some(&open), None, 1_000 + LINK_TTL_MS);
        assert_eq!(live, Shown::Live("https://x/reset#token=rs_t".into()));
        assert!(mail.text(Some(&live)).contains("link:\n\nhttps://x/reset#token=rs_t\n\nThe link"));
        let expired = link.judge(Some(&open), None, 1_001 + LINK_TTL_MS);
        assert_eq!(expired, Shown::Removed(Removal::Expired));
        assert!(mail.text(Some(&expired)).contains("link:\n\n[link removed: it expired]\n\nThe link"));
        assert_eq!(link.judge(Some(&record(LinkState::Used)), None, 0), Shown::Removed(Removal::Used));
        assert_eq!(link.judge(Some(&record(LinkState::Replaced)), None, 0), Shown::Removed(Removal::Replaced));
        assert_eq!(link.judge(None, None, 0), Shown::Removed(Removal::Replaced), "no such link");
        // Not stored: the address held in memory for sending, or nothing after a restart.
        let held = MailLink { url: None, ..link.clone() };
        assert_eq!(held.judge(Some(&open), Some("H"), 2_000), Shown::Live("H".into()));
        assert_eq!(held.judge(Some(&open), None, 2_000), Shown::Removed(Removal::Lost));
        let mut sent = link;
        sent.remove(Removal::Sent);
        sent.remove(Removal::Used);
        assert_eq!((sent.url.as_deref(), sent.removed), (None, Some(Removal::Sent)), "the first reason stays");
        assert_eq!(sent.judge(Some(&open), Some("H"), 2_000), Shown::Removed(Removal::Sent));
    }

    #[test]
    fn a_removed_link_reads_in_the_mail_language_and_a_bad_offset_goes_last() {
        let mut mail = link_mail(Language::Es);
        let sent = Shown::Removed(Removal::Sent);
        assert!(mail.text(Some(&sent)).contains("enlace:\n\n[enlace retirado tras el envío]\n\nEl enlace"));
        mail.body = "añ".into();
        mail.link.as_mut().unwrap().at = 2;
        assert_eq!(mail.text(Some(&Shown::Live("L".into()))), "añL", "inside the ñ: at the end");
        assert_eq!(mail.text(None), "añ");
    }

    fn about(contact: Option<&str>, queue: Option<&str>) -> About {
        About {
            conversation: 42,
            contact: contact.map(str::to_owned),
            channel: "Web".into(),
            queue: queue.map(str::to_owned),
            link: "https://x/conversations#conversation=42".into(),
        }
    }

    #[test]
    fn notices_name_the_conversation_and_link_to_it_in_the_user_language() {
        let about = about(Some("Marta Gil"), Some("Ventas"));
        let es = conversation_notice(&user(None), &Notice::Assigned { by: None }, &about);
        assert_eq!(es.subject, "Conversación asignada: Marta Gil");
        for part in ["Hola Ana", "Se te asignó", "#42", "Marta Gil", "Canal: Web", "Cola: Ventas", &about.link] {
            assert!(es.body.contains(part), "{part} in {}", es.body);
        }
        let en =
            conversation_notice(&user(Some(Language::En)), &Notice::Assigned { by: Some("Sergio".into()) }, &about);
        assert_eq!(en.subject, "Conversation assigned: Marta Gil");
        assert!(en.body.contains("Sergio assigned a conversation to you.") && en.body.contains("Queue: Ventas"));
        let queued = conversation_notice(&user(Some(Language::En)), &Notice::Queued, &about);
        assert!(queued.subject.contains("waiting in Ventas") && queued.body.contains(&about.link));
    }

    #[test]
    fn an_anonymous_visitor_in_the_general_queue_is_named_so() {
        let es = conversation_notice(&user(None), &Notice::Queued, &about(None, None));
        assert!(es.subject.contains("Visitante") && es.body.contains("Cola: general"), "{}", es.body);
        let en = conversation_notice(&user(Some(Language::En)), &Notice::Assigned { by: None }, &about(None, None));
        assert!(en.subject.contains("Visitor"));
    }

    #[test]
    fn one_notice_per_minute_at_most() {
        assert!(may_notify(None, 0));
        assert!(!may_notify(Some(1_000), 1_000));
        assert!(!may_notify(Some(1_000), 1_000 + NOTICE_GAP_MS - 1));
        assert!(may_notify(Some(1_000), 1_000 + NOTICE_GAP_MS));
        // A clock that went back does not open the gate early.
        assert!(!may_notify(Some(5_000), 4_000));
    }
}
