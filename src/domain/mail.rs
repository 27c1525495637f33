//! Outgoing e-mail: the outbox record and the texts of the mails the accounts area sends, in the
//! recipient's language (Spanish unless they chose English). Pure.

use serde::{Deserialize, Serialize};

use super::account::{Language, User};
use super::secret::LINK_TTL_MS;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mail {
    pub id: u64,
    pub to: String,
    pub subject: String,
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
}

/// Subject and body of a mail about to be queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter {
    pub subject: String,
    pub body: String,
}

fn spanish(user: &User) -> bool {
    user.language != Some(Language::En)
}

const DAYS: u64 = LINK_TTL_MS / 86_400_000;

pub fn invite(user: &User, link: &str) -> Letter {
    if spanish(user) {
        Letter {
            subject: "Tu cuenta en centralita".into(),
            body: format!(
                "Hola {name}:\n\nSe creó una cuenta para ti en centralita. Para elegir tu contraseña y entrar, abre este enlace:\n\n{link}\n\nEl enlace vale {DAYS} días y sirve una sola vez. Si vence, pide a un administrador que te envíe otra invitación.\n",
                name = user.first_name
            ),
        }
    } else {
        Letter {
            subject: "Your centralita account".into(),
            body: format!(
                "Hello {name},\n\nAn account was created for you on centralita. To choose your password and sign in, open this link:\n\n{link}\n\nThe link works once, for {DAYS} days. If it expires, ask an administrator to send you a new invitation.\n",
                name = user.first_name
            ),
        }
    }
}

pub fn reset(user: &User, link: &str) -> Letter {
    if spanish(user) {
        Letter {
            subject: "Restablecer tu contraseña de centralita".into(),
            body: format!(
                "Hola {name}:\n\nPediste restablecer tu contraseña. Para elegir una nueva, abre este enlace:\n\n{link}\n\nEl enlace vale {DAYS} días y sirve una sola vez. Si no lo pediste tú, ignora este correo: tu contraseña no cambia.\n",
                name = user.first_name
            ),
        }
    } else {
        Letter {
            subject: "Reset your centralita password".into(),
            body: format!(
                "Hello {name},\n\nYou asked to reset your password. To choose a new one, open this link:\n\n{link}\n\nThe link works once, for {DAYS} days. If you did not ask for this, ignore this mail: your password stays as it is.\n",
                name = user.first_name
            ),
        }
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
    Letter { subject, body }
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
        let es = invite(&user(None), "https://x/invite#token=t");
        assert!(
            es.body.contains("https://x/invite#token=t") && es.body.contains("Hola Ana") && es.body.contains("7 días")
        );
        let en = invite(&user(Some(Language::En)), "L");
        assert!(en.subject.contains("account") && en.body.contains("7 days"));
        assert!(reset(&user(None), "R").body.contains('R'));
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
