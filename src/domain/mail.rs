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
}
