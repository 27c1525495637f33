//! Commands on users: the first administrator, creating, editing and deactivating users, invite
//! and reset links, and setting passwords (R-ACC-1, R-ACC-2, R-ACC-3).

use redb::WriteTransaction;

use super::agents::sync_agent;
use super::outbox::{end_mail_link, queue_link_mail};
use super::records::{
    all_users, audit, check_email_free, end_sessions, insert_session, load_user, next_user_id, open_link,
    revoke_api_tokens, revoke_links, save_user, user_id_by_email,
};
use super::sessions::check_second_factor;
use super::{ApplyError, Command, Event, Read, RejectKind, Rejection, Runtime, WriteError};
use crate::domain::access::Role;
use crate::domain::account::{NewUser, User, UserPatch, leaves_no_admin, normalize_email};
use crate::domain::audit::Actor;
use crate::domain::ids::UserId;
use crate::domain::mail::Removal;
use crate::domain::secret::{LinkKind, LinkProblem, LinkState};
use crate::domain::session::Session;
use crate::store::tables::LINK_HASH_TO_LINK;

/// A session to open, chosen by the caller (the token's hash and its CSRF value).
#[derive(Debug, Clone)]
pub struct NewSession {
    pub hash: [u8; 32],
    pub csrf: String,
    pub address: String,
}

impl NewSession {
    pub fn open(self, tx: &WriteTransaction, user: UserId, at: u64) -> Result<(), ApplyError> {
        let session = Session { user, created_at: at, last_seen_at: at, csrf: self.csrf, address: self.address };
        insert_session(tx, self.hash, &session)
    }
}

/// An invite or reset link: the hash to store and the full address to mail.
#[derive(Debug, Clone)]
pub struct NewLink {
    pub hash: [u8; 32],
    pub url: String,
}

/// On an empty database, creates the first administrator with an invite link (R-ACC-1).
pub struct EnsureFirstAdmin {
    pub email: String,
    pub link: NewLink,
    pub at: u64,
}

impl Command<Runtime, Event> for EnsureFirstAdmin {
    type Output = Option<User>;
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

impl EnsureFirstAdmin {
    fn apply(
        self,
        _: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Option<User>, ApplyError> {
        if !all_users(tx)?.is_empty() {
            return Ok(None);
        }
        let new = NewUser {
            first_name: "Admin".into(),
            last_name: "centralita".into(),
            email: self.email,
            roles: vec![Role::Admin],
            permissions: vec![],
            language: None,
            totp_required: false,
        };
        let user = new.into_user(next_user_id(tx)?, self.at).map_err(Rejection::from)?;
        save_user(tx, &user, None)?;
        open_link(tx, LinkKind::Invite, user.id, self.link.hash, self.at)?;
        let actor = Actor::system("first start");
        audit(
            tx,
            &actor,
            "user.create",
            format!("user:{}", user.id),
            format!("first administrator {}", user.email),
            self.at,
        )?;
        events.push(Event::UserChanged { id: user.id });
        Ok(Some(user))
    }
}

/// Creates a user. With a password (the command line) the user can sign in at once; without one
/// an invite is mailed.
pub struct CreateUser {
    pub new: NewUser,
    pub invite: Option<NewLink>,
    pub password_hash: Option<String>,
    pub actor: Actor,
    pub at: u64,
}

impl Command<Runtime, Event> for CreateUser {
    type Output = User;
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

impl CreateUser {
    fn apply(self, state: &mut Runtime, tx: &WriteTransaction, events: &mut Vec<Event>) -> Result<User, ApplyError> {
        let mut user = self.new.into_user(next_user_id(tx)?, self.at).map_err(Rejection::from)?;
        check_email_free(tx, &user.email, None)?;
        user.password_hash = self.password_hash;
        save_user(tx, &user, None)?;
        if let Some(link) = self.invite {
            open_link(tx, LinkKind::Invite, user.id, link.hash, self.at)?;
            queue_link_mail(state, tx, &user, LinkKind::Invite, &link, self.at)?;
        }
        let roles: Vec<&str> = user.roles.iter().map(|role| role.as_str()).collect();
        let detail = format!("{} ({})", user.email, roles.join(", "));
        audit(tx, &self.actor, "user.create", format!("user:{}", user.id), detail, self.at)?;
        sync_agent(state, tx, &user, self.at, events)?;
        events.push(Event::UserChanged { id: user.id });
        Ok(user)
    }
}

/// An administrator's edit; deactivating ends the user's sessions at once.
pub struct UpdateUser {
    pub id: UserId,
    pub patch: UserPatch,
    pub actor: Actor,
    pub at: u64,
}

impl Command<Runtime, Event> for UpdateUser {
    type Output = User;
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

impl UpdateUser {
    fn apply(self, state: &mut Runtime, tx: &WriteTransaction, events: &mut Vec<Event>) -> Result<User, ApplyError> {
        let before = load_user(tx, self.id)?;
        let after = self.patch.apply(&before, self.at).map_err(Rejection::from)?;
        check_email_free(tx, &after.email, Some(after.id))?;
        if leaves_no_admin(&all_users(tx)?, &after) {
            return Err(Rejection::conflict("last_admin", "At least one active administrator must remain.").into());
        }
        save_user(tx, &after, Some(&before.email))?;
        let deactivated = before.active && !after.active;
        if deactivated {
            end_sessions(tx, after.id, None)?;
            revoke_api_tokens(tx, after.id)?;
        }
        let action = if deactivated { "user.deactivate" } else { "user.update" };
        audit(tx, &self.actor, action, format!("user:{}", after.id), after.email.clone(), self.at)?;
        // First, so the user's open sockets re-check their roles before any event this edit causes.
        events.push(Event::UserChanged { id: after.id });
        sync_agent(state, tx, &after, self.at, events)?;
        Ok(after)
    }
}

/// Sends a new invite; the previous link dies.
pub struct ResendInvite {
    pub id: UserId,
    pub link: NewLink,
    pub actor: Actor,
    pub at: u64,
}

impl Command<Runtime, Event> for ResendInvite {
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

impl ResendInvite {
    fn apply(self, state: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<(), ApplyError> {
        let user = load_user(tx, self.id)?;
        if !user.active {
            return Err(Rejection::conflict("user_inactive", "The user is deactivated; activate them first.").into());
        }
        if user.password_hash.is_some() {
            return Err(Rejection::conflict(
                "already_active",
                "The user has already set a password; they can use \"Forgot password\" instead.",
            )
            .into());
        }
        open_link(tx, LinkKind::Invite, user.id, self.link.hash, self.at)?;
        queue_link_mail(state, tx, &user, LinkKind::Invite, &self.link, self.at)?;
        audit(tx, &self.actor, "user.invite", format!("user:{}", user.id), user.email.clone(), self.at)?;
        Ok(())
    }
}

/// Uses an invite or reset link: checks the second factor if the user has one (a link alone must
/// not get past two-factor login), sets the password, spends the link and kills any other open
/// one, ends the user's other sessions (and API tokens when asked), and opens a new session.
pub struct UseLink {
    pub kind: LinkKind,
    pub hash: [u8; 32],
    pub password_hash: String,
    pub second_factor: Option<String>,
    pub revoke_tokens: bool,
    pub session: NewSession,
    pub address: String,
    pub at: u64,
}

impl Command<Runtime, Event> for UseLink {
    type Output = User;
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

impl UseLink {
    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, events: &mut Vec<Event>) -> Result<User, ApplyError> {
        let mut links = tx.open_table(LINK_HASH_TO_LINK.definition())?;
        let link = LINK_HASH_TO_LINK.get(&links, self.hash)?.ok_or_else(|| link_rejection(LinkProblem::Unknown))?;
        link.check(self.kind, self.at).map_err(link_rejection)?;
        let mut user = load_user(tx, link.user)?;
        if !user.active {
            return Err(Rejection::new(RejectKind::Gone, "user_inactive", "This account has been deactivated.").into());
        }
        let second = check_second_factor(&user, self.second_factor.as_deref(), RejectKind::Unauthorized, self.at)?;
        LINK_HASH_TO_LINK.insert(
            &mut links,
            self.hash,
            &crate::domain::secret::Link { state: LinkState::Used, ..link },
        )?;
        drop(links);
        end_mail_link(tx, self.hash, Removal::Used)?;
        revoke_links(tx, user.id)?;
        user.totp = second.or(user.totp);
        user.password_hash = Some(self.password_hash);
        user.updated_at = self.at;
        save_user(tx, &user, None)?;
        end_sessions(tx, user.id, None)?;
        let tokens = if self.revoke_tokens { revoke_api_tokens(tx, user.id)? } else { 0 };
        self.session.open(tx, user.id, self.at)?;
        let action = match self.kind {
            LinkKind::Invite => "user.invite_accepted",
            LinkKind::Reset => "user.password_reset",
        };
        let actor = Actor { user: Some(user.id), email: user.email.clone(), address: self.address };
        let detail = if tokens > 0 { format!("{tokens} API tokens revoked") } else { String::new() };
        audit(tx, &actor, action, format!("user:{}", user.id), detail, self.at)?;
        events.push(Event::UserChanged { id: user.id });
        // The sockets of ended sessions and revoked tokens re-check and close.
        events.push(Event::SessionsEnded { user: user.id });
        Ok(user)
    }
}

/// The answer for a link that cannot be used, in words a person can act on.
pub fn link_rejection(problem: LinkProblem) -> Rejection {
    match problem {
        LinkProblem::Unknown | LinkProblem::WrongKind => Rejection::not_found(
            "link_invalid",
            "This link is not valid. Check that you copied all of it, or ask for a new one.",
        ),
        LinkProblem::Expired => Rejection::new(
            RejectKind::Gone,
            "link_expired",
            "This link has expired (links last 7 days). Ask an administrator to send a new invitation, or use \"Forgot password\".",
        ),
        LinkProblem::Used => Rejection::new(
            RejectKind::Gone,
            "link_used",
            "This link has already been used. Sign in, or ask for a new one.",
        ),
        LinkProblem::Replaced => Rejection::new(
            RejectKind::Gone,
            "link_replaced",
            "A newer link was sent after this one; use the newest e-mail.",
        ),
        LinkProblem::Revoked => Rejection::new(
            RejectKind::Gone,
            "link_revoked",
            "This link no longer works: the password was changed after it was sent. Sign in, or ask for a new one.",
        ),
    }
}

/// "Forgot password": mails a reset link if the address belongs to an active user, and does
/// nothing otherwise (the caller answers the same either way).
pub struct RequestReset {
    pub email: String,
    pub link: NewLink,
    pub address: String,
    pub at: u64,
}

impl Command<Runtime, Event> for RequestReset {
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

impl RequestReset {
    fn apply(self, state: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<(), ApplyError> {
        let Ok(email) = normalize_email(&self.email) else {
            return Ok(());
        };
        let Some(id) = user_id_by_email(tx, &email)? else {
            return Ok(());
        };
        let user = load_user(tx, id)?;
        if !user.active {
            return Ok(());
        }
        open_link(tx, LinkKind::Reset, user.id, self.link.hash, self.at)?;
        queue_link_mail(state, tx, &user, LinkKind::Reset, &self.link, self.at)?;
        let actor = Actor { user: None, email: user.email.clone(), address: self.address };
        audit(tx, &actor, "user.reset_requested", format!("user:{}", user.id), String::new(), self.at)?;
        Ok(())
    }
}

/// Sets a password directly (the command line's `user reset-password`); ends every session and
/// open link.
pub struct SetPassword {
    pub email: String,
    pub password_hash: String,
    pub actor: Actor,
    pub at: u64,
}

/// Removes a user's two-factor login from the command line on a stopped server: the way back for
/// someone who lost both their phone and their recovery codes (the reset link no longer is).
pub struct ClearTotp {
    pub email: String,
    pub actor: Actor,
    pub at: u64,
}

impl Command<Runtime, Event> for ClearTotp {
    type Output = User;
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

impl ClearTotp {
    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, events: &mut Vec<Event>) -> Result<User, ApplyError> {
        let email = normalize_email(&self.email).map_err(Rejection::from)?;
        let id = user_id_by_email(tx, &email)?
            .ok_or_else(|| Rejection::not_found("user_not_found", format!("No user has the e-mail {email}.")))?;
        let mut user = load_user(tx, id)?;
        user.totp = None;
        user.totp_pending = None;
        user.updated_at = self.at;
        save_user(tx, &user, None)?;
        end_sessions(tx, user.id, None)?;
        audit(tx, &self.actor, "user.totp_cleared", format!("user:{}", user.id), user.email.clone(), self.at)?;
        events.push(Event::UserChanged { id: user.id });
        Ok(user)
    }
}

impl Command<Runtime, Event> for SetPassword {
    type Output = User;
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

impl SetPassword {
    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, events: &mut Vec<Event>) -> Result<User, ApplyError> {
        let email = normalize_email(&self.email).map_err(Rejection::from)?;
        let id = user_id_by_email(tx, &email)?
            .ok_or_else(|| Rejection::not_found("user_not_found", format!("No user has the e-mail {email}.")))?;
        let mut user = load_user(tx, id)?;
        user.password_hash = Some(self.password_hash);
        user.active = true;
        user.updated_at = self.at;
        save_user(tx, &user, None)?;
        end_sessions(tx, user.id, None)?;
        revoke_links(tx, user.id)?;
        audit(tx, &self.actor, "user.password_set", format!("user:{}", user.id), user.email.clone(), self.at)?;
        events.push(Event::UserChanged { id: user.id });
        Ok(user)
    }
}
