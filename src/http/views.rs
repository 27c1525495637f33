//! What the API shows of stored records: no password hashes, no secrets, times in milliseconds.

use serde::Serialize;

use crate::domain::access::{Permission, Role};
use crate::domain::account::{Group, Language, User};
use crate::domain::ids::{GroupId, TokenId, UserId};
use crate::domain::mail::Mail;
use crate::domain::session::ApiToken;

#[derive(Debug, Serialize)]
pub struct UserView {
    pub id: UserId,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub roles: Vec<Role>,
    pub permissions: Vec<Permission>,
    pub language: Option<Language>,
    pub active: bool,
    /// `invited` until a password is set, then `active`, or `deactivated`.
    pub status: &'static str,
    pub totp_enabled: bool,
    pub totp_required: bool,
    pub groups: Vec<GroupId>,
    pub created_at: u64,
}

impl UserView {
    pub fn new(user: &User, groups: &[Group]) -> Self {
        let status = match (user.active, user.password_hash.is_some()) {
            (false, _) => "deactivated",
            (true, false) => "invited",
            (true, true) => "active",
        };
        UserView {
            id: user.id,
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            email: user.email.clone(),
            roles: user.roles.clone(),
            permissions: user.permissions.clone(),
            language: user.language,
            active: user.active,
            status,
            totp_enabled: user.totp.is_some(),
            totp_required: user.totp_required,
            groups: groups.iter().filter(|group| group.members.contains(&user.id)).map(|group| group.id).collect(),
            created_at: user.created_at,
        }
    }
}

/// The signed-in user's own view, with what the UI needs to behave.
#[derive(Debug, Serialize)]
pub struct MeView {
    #[serde(flatten)]
    pub user: UserView,
    pub notify_assignments: bool,
    /// Two-factor enrolment is required and not done: only the profile works until it is.
    pub totp_setup_required: bool,
    /// Send back in `X-CSRF-Token` on state-changing requests (cookie sessions only).
    pub csrf_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MemberView {
    pub id: UserId,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Serialize)]
pub struct GroupView {
    pub id: GroupId,
    pub name: String,
    pub members: Vec<MemberView>,
    pub created_at: u64,
}

impl GroupView {
    pub fn new(group: &Group, users: &[User]) -> Self {
        let members = group
            .members
            .iter()
            .filter_map(|id| users.iter().find(|user| user.id == *id))
            .map(|user| MemberView { id: user.id, name: user.full_name(), email: user.email.clone() })
            .collect();
        GroupView { id: group.id, name: group.name.clone(), members, created_at: group.created_at }
    }
}

#[derive(Debug, Serialize)]
pub struct TokenView {
    pub id: TokenId,
    pub name: String,
    pub created_at: u64,
}

impl From<&ApiToken> for TokenView {
    fn from(token: &ApiToken) -> Self {
        TokenView { id: token.id, name: token.name.clone(), created_at: token.created_at }
    }
}

#[derive(Debug, Serialize)]
pub struct MailView {
    pub id: u64,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub created_at: u64,
    pub sent_at: Option<u64>,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// `sent`, `failed` (will retry) or `waiting` (no SMTP server configured, or not tried yet).
    pub status: &'static str,
}

impl From<Mail> for MailView {
    fn from(mail: Mail) -> Self {
        let status = match (mail.sent_at, &mail.last_error) {
            (Some(_), _) => "sent",
            (None, Some(_)) => "failed",
            (None, None) => "waiting",
        };
        MailView {
            id: mail.id,
            to: mail.to,
            subject: mail.subject,
            body: mail.body,
            created_at: mail.created_at,
            sent_at: mail.sent_at,
            attempts: mail.attempts,
            last_error: mail.last_error,
            status,
        }
    }
}
