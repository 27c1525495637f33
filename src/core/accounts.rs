//! Commands on users: the first administrator, creating, editing and deactivating users, invite
//! and reset links, and setting passwords (R-ACC-1, R-ACC-2, R-ACC-3).

use redb::WriteTransaction;

use super::agents::sync_agent;
pub use super::outbox::NewLink;
use super::outbox::queue_link_mail;
use super::records::{
    all_users, audit, check_email_free, end_sessions, insert_session, load_user, next_user_id, open_link,
    revoke_api_tokens, revoke_links, save_user, user_id_by_email,
};
use super::records::{check_second_factor, end_mail_link};
use super::{ApplyError, Command, Event, Read, RejectKind, Rejection, Runtime, Tables, WriteError};
use crate::domain::access::Role;
use crate::domain::account::{NewUser, User, UserPatch, leaves_no_admin, normalize_email};
use crate::domain::audit::Actor;
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::UserId;
use crate::domain::mail::Removal;
use crate::domain::secret::{Link, LinkKind, LinkProblem, LinkState};
use crate::domain::session::Session;
use crate::store::StoreError;
use crate::store::tables::LINK_HASH_TO_LINK;

/// A session to open, chosen by the caller (the token's hash and its CSRF value).
#[derive(Debug, Clone)]
pub struct NewSession {
    pub hash: [u8; 32],
    pub csrf: String,
    pub address: String,
}

impl NewSession {
    pub fn open(self, tx: &WriteTransaction, user: UserId, at: u64) -> Result<(), StoreError> {
        let session = Session { user, created_at: at, last_seen_at: at, csrf: self.csrf, address: self.address };
        insert_session(tx, self.hash, &session)
    }
}

/// A user as a check decided they become, with who changes them and when: the plan of the
/// commands that save a user and record it.
pub struct Changed {
    pub user: User,
    pub actor: Actor,
    pub at: u64,
}

impl Changed {
    /// Records `action` on the user in the audit log.
    pub fn audit(&self, tx: &WriteTransaction, action: &str, detail: String) -> Result<(), StoreError> {
        audit(tx, &self.actor, action, format!("user:{}", self.user.id), detail, self.at)
    }
}

/// On an empty database, creates the first administrator with an invite link (R-ACC-1).
pub struct EnsureFirstAdmin {
    pub email: String,
    pub link: NewLink,
    pub at: u64,
}

impl Command<Runtime, Event> for EnsureFirstAdmin {
    type Output = Option<User>;
    /// The administrator and their invite; `None` when there are users already.
    type Plan = Option<(Changed, NewLink)>;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<Self::Plan, ApplyError> {
        if !all_users(read)?.is_empty() {
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
        let user = new.into_user(next_user_id(read)?, self.at).map_err(Rejection::from)?;
        Ok(Some((Changed { user, actor: Actor::system("first start"), at: self.at }, self.link)))
    }

    fn write(
        plan: Self::Plan,
        _: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<Option<User>, WriteError> {
        let Some((admin, link)) = plan else {
            return Ok(None);
        };
        save_user(tx, &admin.user, None)?;
        open_link(tx, LinkKind::Invite, admin.user.id, link.hash, admin.at)?;
        admin.audit(tx, "user.create", format!("first administrator {}", admin.user.email))?;
        events.push(Event::UserChanged { id: admin.user.id });
        Ok(Some(admin.user))
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
    /// The user (its id, clean fields, a free e-mail) and the invite to mail, if any.
    type Plan = (Changed, Option<NewLink>);

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<Self::Plan, ApplyError> {
        let mut user = self.new.into_user(next_user_id(read)?, self.at).map_err(Rejection::from)?;
        check_email_free(read, &user.email, None)?;
        user.password_hash = self.password_hash;
        Ok((Changed { user, actor: self.actor, at: self.at }, self.invite))
    }

    fn write(
        (created, invite): Self::Plan,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<User, WriteError> {
        let (user, at) = (&created.user, created.at);
        save_user(tx, user, None)?;
        if let Some(link) = invite {
            open_link(tx, LinkKind::Invite, user.id, link.hash, at)?;
            queue_link_mail(state, tx, user, LinkKind::Invite, &link, at)?;
        }
        let roles: Vec<&str> = user.roles.iter().map(|role| role.as_str()).collect();
        created.audit(tx, "user.create", format!("{} ({})", user.email, roles.join(", ")))?;
        sync_agent(state, tx, user, at, events)?;
        events.push(Event::UserChanged { id: user.id });
        Ok(created.user)
    }
}

/// An administrator's edit; deactivating ends the user's sessions at once.
pub struct UpdateUser {
    pub id: UserId,
    pub patch: UserPatch,
    pub actor: Actor,
    pub at: u64,
}

/// The edited user, the e-mail they had, and whether the edit deactivates them.
pub struct Edit {
    after: Changed,
    old_email: String,
    deactivated: bool,
}

impl Command<Runtime, Event> for UpdateUser {
    type Output = User;
    type Plan = Edit;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<Edit, ApplyError> {
        let before = load_user(read, self.id)?;
        let after = self.patch.apply(&before, self.at).map_err(Rejection::from)?;
        check_email_free(read, &after.email, Some(after.id))?;
        if leaves_no_admin(&all_users(read)?, &after) {
            return Err(
                Rejection::conflict(ErrorCode::LastAdmin, "At least one active administrator must remain.").into()
            );
        }
        let deactivated = before.active && !after.active;
        Ok(Edit {
            after: Changed { user: after, actor: self.actor, at: self.at },
            old_email: before.email,
            deactivated,
        })
    }

    fn write(
        plan: Edit,
        state: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<User, WriteError> {
        let Edit { after, old_email, deactivated } = plan;
        // A link mailed to the old address, or to someone switched off, must not open the
        // account later (on reactivation).
        if deactivated || old_email != after.user.email {
            revoke_links(tx, after.user.id)?;
        }
        save_user(tx, &after.user, Some(&old_email))?;
        if deactivated {
            end_sessions(tx, after.user.id, None)?;
            revoke_api_tokens(tx, after.user.id)?;
        }
        let action = if deactivated { "user.deactivate" } else { "user.update" };
        after.audit(tx, action, after.user.email.clone())?;
        // First, so the user's open sockets re-check their roles before any event this edit causes.
        events.push(Event::UserChanged { id: after.user.id });
        sync_agent(state, tx, &after.user, after.at, events)?;
        Ok(after.user)
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
    /// The invited user (active, without a password) and the new link.
    type Plan = (Changed, NewLink);

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<Self::Plan, ApplyError> {
        let user = load_user(read, self.id)?;
        if !user.active {
            return Err(
                Rejection::conflict(ErrorCode::UserInactive, "The user is deactivated; activate them first.").into()
            );
        }
        if user.password_hash.is_some() {
            return Err(Rejection::conflict(
                ErrorCode::AlreadyActive,
                "The user has already set a password; they can use \"Forgot password\" instead.",
            )
            .into());
        }
        Ok((Changed { user, actor: self.actor, at: self.at }, self.link))
    }

    fn write(
        (invited, link): Self::Plan,
        state: &mut Runtime,
        tx: &WriteTransaction,
        _: &mut Vec<Event>,
    ) -> Result<(), WriteError> {
        let (user, at) = (&invited.user, invited.at);
        open_link(tx, LinkKind::Invite, user.id, link.hash, at)?;
        queue_link_mail(state, tx, user, LinkKind::Invite, &link, at)?;
        invited.audit(tx, "user.invite", user.email.clone())?;
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

/// A link found good, for a user who passed the second factor: the user as they will be saved
/// (new password, the spent code), the link to mark used, and what else to end.
pub struct LinkUse {
    user: Changed,
    kind: LinkKind,
    hash: [u8; 32],
    link: Link,
    revoke_tokens: bool,
    session: NewSession,
}

impl Command<Runtime, Event> for UseLink {
    type Output = User;
    type Plan = LinkUse;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<LinkUse, ApplyError> {
        let links = read.table(LINK_HASH_TO_LINK.definition())?;
        let link = LINK_HASH_TO_LINK.get(&links, self.hash)?.ok_or_else(|| link_rejection(LinkProblem::Unknown))?;
        link.check(self.kind, self.at).map_err(link_rejection)?;
        let mut user = load_user(read, link.user)?;
        if !user.active {
            return Err(Rejection::new(
                RejectKind::Gone,
                ErrorCode::UserInactive,
                "This account has been deactivated.",
            )
            .into());
        }
        let second = check_second_factor(&user, self.second_factor.as_deref(), RejectKind::Unauthorized, self.at)?;
        user.totp = second.or(user.totp);
        user.password_hash = Some(self.password_hash);
        user.updated_at = self.at;
        let actor = Actor { user: Some(user.id), email: user.email.clone(), address: self.address };
        Ok(LinkUse {
            user: Changed { user, actor, at: self.at },
            kind: self.kind,
            hash: self.hash,
            link,
            revoke_tokens: self.revoke_tokens,
            session: self.session,
        })
    }

    fn write(
        plan: LinkUse,
        _: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<User, WriteError> {
        let LinkUse { user: changed, kind, hash, link, revoke_tokens, session } = plan;
        let (user, at) = (&changed.user, changed.at);
        let used = Link { state: LinkState::Used, ..link };
        LINK_HASH_TO_LINK.insert(&mut tx.open_table(LINK_HASH_TO_LINK.definition())?, hash, &used)?;
        end_mail_link(tx, hash, Removal::Used)?;
        revoke_links(tx, user.id)?;
        save_user(tx, user, None)?;
        end_sessions(tx, user.id, None)?;
        let tokens = if revoke_tokens { revoke_api_tokens(tx, user.id)? } else { 0 };
        session.open(tx, user.id, at)?;
        let action = match kind {
            LinkKind::Invite => "user.invite_accepted",
            LinkKind::Reset => "user.password_reset",
        };
        let detail = if tokens > 0 { format!("{tokens} API tokens revoked") } else { String::new() };
        changed.audit(tx, action, detail)?;
        events.push(Event::UserChanged { id: user.id });
        // The sockets of ended sessions and revoked tokens re-check and close.
        events.push(Event::SessionsEnded { user: user.id });
        Ok(changed.user)
    }
}

/// The answer for a link that cannot be used, in words a person can act on.
pub fn link_rejection(problem: LinkProblem) -> Rejection {
    match problem {
        LinkProblem::Unknown | LinkProblem::WrongKind => Rejection::not_found(
            ErrorCode::LinkInvalid,
            "This link is not valid. Check that you copied all of it, or ask for a new one.",
        ),
        LinkProblem::Expired => Rejection::new(
            RejectKind::Gone,
            ErrorCode::LinkExpired,
            "This link has expired (links last 7 days). Ask an administrator to send a new invitation, or use \"Forgot password\".",
        ),
        LinkProblem::Used => Rejection::new(
            RejectKind::Gone,
            ErrorCode::LinkUsed,
            "This link has already been used. Sign in, or ask for a new one.",
        ),
        LinkProblem::Replaced => Rejection::new(
            RejectKind::Gone,
            ErrorCode::LinkReplaced,
            "A newer link was sent after this one; use the newest e-mail.",
        ),
        LinkProblem::Revoked => Rejection::new(
            RejectKind::Gone,
            ErrorCode::LinkRevoked,
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
    /// The active user to mail and the link; `None`: nobody to mail, nothing to write.
    type Plan = Option<(Changed, NewLink)>;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<Self::Plan, ApplyError> {
        let Ok(email) = normalize_email(&self.email) else {
            return Ok(None);
        };
        let Some(id) = user_id_by_email(read, &email)? else {
            return Ok(None);
        };
        let user = load_user(read, id)?;
        if !user.active {
            return Ok(None);
        }
        let actor = Actor { user: None, email: user.email.clone(), address: self.address };
        Ok(Some((Changed { user, actor, at: self.at }, self.link)))
    }

    fn write(
        plan: Self::Plan,
        state: &mut Runtime,
        tx: &WriteTransaction,
        _: &mut Vec<Event>,
    ) -> Result<(), WriteError> {
        let Some((reset, link)) = plan else {
            return Ok(());
        };
        let (user, at) = (&reset.user, reset.at);
        open_link(tx, LinkKind::Reset, user.id, link.hash, at)?;
        queue_link_mail(state, tx, user, LinkKind::Reset, &link, at)?;
        reset.audit(tx, "user.reset_requested", String::new())?;
        Ok(())
    }
}

/// The user with the e-mail `raw` (normalized), or `user_not_found`: for the command line.
fn user_by_email(read: &impl Tables, raw: &str) -> Result<User, ApplyError> {
    let email = normalize_email(raw).map_err(Rejection::from)?;
    let id = user_id_by_email(read, &email)?
        .ok_or_else(|| Rejection::not_found(ErrorCode::UserNotFound, format!("No user has the e-mail {email}.")))?;
    load_user(read, id)
}

/// Sets a password directly (the command line's `user reset-password`); ends every session and
/// open link.
pub struct SetPassword {
    pub email: String,
    pub password_hash: String,
    /// Keep the user's API tokens (by default a reset from the command line revokes them, as a
    /// reset by link does).
    pub keep_tokens: bool,
    pub actor: Actor,
    pub at: u64,
}

impl Command<Runtime, Event> for SetPassword {
    /// The user, and how many API tokens were revoked.
    type Output = (User, usize);
    type Plan = (Changed, bool);

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<(Changed, bool), ApplyError> {
        let mut user = user_by_email(read, &self.email)?;
        user.password_hash = Some(self.password_hash);
        user.active = true;
        user.updated_at = self.at;
        Ok((Changed { user, actor: self.actor, at: self.at }, self.keep_tokens))
    }

    fn write(
        (plan, keep_tokens): (Changed, bool),
        _: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<(User, usize), WriteError> {
        save_user(tx, &plan.user, None)?;
        end_sessions(tx, plan.user.id, None)?;
        revoke_links(tx, plan.user.id)?;
        let revoked = if keep_tokens { 0 } else { revoke_api_tokens(tx, plan.user.id)? };
        plan.audit(tx, "user.password_set", plan.user.email.clone())?;
        events.push(Event::SessionsEnded { user: plan.user.id });
        events.push(Event::UserChanged { id: plan.user.id });
        Ok((plan.user, revoked))
    }
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
    type Plan = Changed;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<Changed, ApplyError> {
        let mut user = user_by_email(read, &self.email)?;
        user.totp = None;
        user.totp_pending = None;
        user.updated_at = self.at;
        Ok(Changed { user, actor: self.actor, at: self.at })
    }

    fn write(
        plan: Changed,
        _: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<User, WriteError> {
        save_user(tx, &plan.user, None)?;
        end_sessions(tx, plan.user.id, None)?;
        plan.audit(tx, "user.totp_cleared", plan.user.email.clone())?;
        events.push(Event::UserChanged { id: plan.user.id });
        Ok(plan.user)
    }
}

#[cfg(test)]
mod tests;
