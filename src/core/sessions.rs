//! Commands of a signed-in user on their own account: sessions, password, API tokens, two-factor
//! login and profile (R-ACC-3, R-ACC-4).

use redb::WriteTransaction;

use super::accounts::{Changed, NewSession};
pub use super::records::second_factor_missing;
use super::records::{audit, check_second_factor, end_sessions, load_user, revoke_api_tokens, revoke_links, save_user};
use super::{ApplyError, Command, Event, Read, RejectKind, Rejection, Runtime, Tables, WriteError};
use crate::domain::account::{ProfilePatch, Totp, User};
use crate::domain::audit::Actor;
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::{TokenId, UserId};
use crate::domain::session::{ApiToken, Session};
use crate::domain::totp;
use crate::store::indexes;
use crate::store::tables::{API_TOKEN_HASH_TO_TOKEN, SESSION_HASH_TO_SESSION};

/// Signs a user in after their password was checked: checks the second factor if they enrolled
/// (a TOTP code works once; a recovery code is spent), then opens the session.
pub struct OpenSession {
    pub user: UserId,
    pub second_factor: Option<String>,
    pub session: NewSession,
    pub at: u64,
}

/// Who signs in (with the code they spent, if any: to save) and the session to open.
pub struct SignIn {
    user: User,
    spent: bool,
    session: NewSession,
    at: u64,
}

impl Command<Runtime, Event> for OpenSession {
    type Output = User;
    type Plan = SignIn;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<SignIn, ApplyError> {
        let mut user = load_user(read, self.user)?;
        if !user.active {
            return Err(Rejection::new(
                RejectKind::Unauthorized,
                ErrorCode::InvalidCredentials,
                "Wrong e-mail or password.",
            )
            .into());
        }
        let spent = check_second_factor(&user, self.second_factor.as_deref(), RejectKind::Unauthorized, self.at)?;
        let saves = spent.is_some();
        if let Some(spent) = spent {
            user.totp = Some(spent);
        }
        Ok(SignIn { user, spent: saves, session: self.session, at: self.at })
    }

    fn write(plan: SignIn, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<User, WriteError> {
        if plan.spent {
            save_user(tx, &plan.user, None)?;
        }
        plan.session.open(tx, plan.user.id, plan.at)?;
        Ok(plan.user)
    }
}

/// Signs out: the session ends on the server.
pub struct EndSession {
    pub hash: [u8; 32],
}

impl Command<Runtime, Event> for EndSession {
    type Output = ();
    /// The session's hash and its user; `None`: it had ended already.
    type Plan = Option<([u8; 32], Session)>;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<Self::Plan, ApplyError> {
        Ok(find_session(read, self.hash)?.map(|session| (self.hash, session)))
    }

    fn write(
        plan: Self::Plan,
        _: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<(), WriteError> {
        if let Some((hash, session)) = plan {
            SESSION_HASH_TO_SESSION.remove(&mut tx.open_table(SESSION_HASH_TO_SESSION.definition())?, hash)?;
            indexes::session_ended(tx, hash, session.last_seen_at)?;
            events.push(Event::SessionsEnded { user: session.user });
        }
        Ok(())
    }
}

fn find_session(read: &impl Tables, hash: [u8; 32]) -> Result<Option<Session>, ApplyError> {
    let table = read.table(SESSION_HASH_TO_SESSION.definition())?;
    Ok(SESSION_HASH_TO_SESSION.get(&table, hash)?)
}

/// Records activity on a session, for the idle timeout.
pub struct TouchSession {
    pub hash: [u8; 32],
    pub at: u64,
}

impl Command<Runtime, Event> for TouchSession {
    type Output = ();
    /// The session as it will be saved and when it was seen before; `None`: it had ended,
    /// nothing to write.
    type Plan = Option<([u8; 32], Session, u64)>;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<Self::Plan, ApplyError> {
        let found = find_session(read, self.hash)?;
        Ok(found.map(|session| (self.hash, Session { last_seen_at: self.at, ..session.clone() }, session.last_seen_at)))
    }

    fn write(plan: Self::Plan, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<(), WriteError> {
        if let Some((hash, session, before)) = plan {
            SESSION_HASH_TO_SESSION.insert(
                &mut tx.open_table(SESSION_HASH_TO_SESSION.definition())?,
                hash,
                &session,
            )?;
            indexes::session_seen(tx, hash, Some(before), session.last_seen_at)?;
        }
        Ok(())
    }
}

/// A new password (the old one was checked by the caller): the user's other sessions and open
/// links end, and their API tokens too when asked.
pub struct ChangePassword {
    pub user: UserId,
    pub password_hash: String,
    pub keep: Option<[u8; 32]>,
    pub revoke_tokens: bool,
    pub actor: Actor,
    pub at: u64,
}

/// What a password change ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordChanged {
    pub sessions_ended: usize,
    pub tokens_revoked: usize,
}

impl Command<Runtime, Event> for ChangePassword {
    type Output = PasswordChanged;
    /// The user with the new password, the session to keep, and whether tokens go too.
    type Plan = (Changed, Option<[u8; 32]>, bool);

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<Self::Plan, ApplyError> {
        let mut user = load_user(read, self.user)?;
        user.password_hash = Some(self.password_hash);
        user.updated_at = self.at;
        Ok((Changed { user, actor: self.actor, at: self.at }, self.keep, self.revoke_tokens))
    }

    fn write(
        (changed, keep, revoke_tokens): Self::Plan,
        _: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<PasswordChanged, WriteError> {
        let id = changed.user.id;
        save_user(tx, &changed.user, None)?;
        let sessions_ended = end_sessions(tx, id, keep)?;
        revoke_links(tx, id)?;
        let tokens_revoked = if revoke_tokens { revoke_api_tokens(tx, id)? } else { 0 };
        let detail = if tokens_revoked > 0 { format!("{tokens_revoked} API tokens revoked") } else { String::new() };
        changed.audit(tx, "user.password_changed", detail)?;
        events.push(Event::SessionsEnded { user: id });
        Ok(PasswordChanged { sessions_ended, tokens_revoked })
    }
}

pub struct CreateApiToken {
    pub user: UserId,
    pub name: String,
    pub hash: [u8; 32],
    pub actor: Actor,
    pub at: u64,
}

/// A token with its hash, and who creates or revokes it when.
pub struct TokenChange {
    hash: [u8; 32],
    token: ApiToken,
    actor: Actor,
    at: u64,
}

impl Command<Runtime, Event> for CreateApiToken {
    type Output = ApiToken;
    /// The new token, with the next id and a clean name.
    type Plan = TokenChange;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<TokenChange, ApplyError> {
        let name = crate::domain::account::clean_name("name", &self.name).map_err(Rejection::from)?;
        let next = all_tokens(read)?.iter().map(|(_, token)| token.id.0).max().unwrap_or(0) + 1;
        let token = ApiToken { id: TokenId(next), user: self.user, name, created_at: self.at };
        Ok(TokenChange { hash: self.hash, token, actor: self.actor, at: self.at })
    }

    fn write(
        plan: TokenChange,
        _: &mut Runtime,
        tx: &WriteTransaction,
        _: &mut Vec<Event>,
    ) -> Result<ApiToken, WriteError> {
        let TokenChange { hash, token, actor, at } = plan;
        API_TOKEN_HASH_TO_TOKEN.insert(&mut tx.open_table(API_TOKEN_HASH_TO_TOKEN.definition())?, hash, &token)?;
        audit(tx, &actor, "token.create", format!("token:{}", token.id), token.name.clone(), at)?;
        Ok(token)
    }
}

fn all_tokens(read: &impl Tables) -> Result<Vec<([u8; 32], ApiToken)>, ApplyError> {
    let table = read.table(API_TOKEN_HASH_TO_TOKEN.definition())?;
    Ok(API_TOKEN_HASH_TO_TOKEN.all(&table)?)
}

/// Revokes one of the caller's own tokens; another user's token is "not found".
pub struct RevokeApiToken {
    pub user: UserId,
    pub id: TokenId,
    pub actor: Actor,
    pub at: u64,
}

impl Command<Runtime, Event> for RevokeApiToken {
    type Output = ();
    /// The caller's token to delete.
    type Plan = TokenChange;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<TokenChange, ApplyError> {
        let found = all_tokens(read)?.into_iter().find(|(_, token)| token.id == self.id && token.user == self.user);
        let Some((hash, token)) = found else {
            return Err(Rejection::not_found(ErrorCode::TokenNotFound, "You have no API token with that id.").into());
        };
        Ok(TokenChange { hash, token, actor: self.actor, at: self.at })
    }

    fn write(
        plan: TokenChange,
        _: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<(), WriteError> {
        let TokenChange { hash, token, actor, at } = plan;
        API_TOKEN_HASH_TO_TOKEN.remove(&mut tx.open_table(API_TOKEN_HASH_TO_TOKEN.definition())?, hash)?;
        audit(tx, &actor, "token.revoke", format!("token:{}", token.id), token.name, at)?;
        events.push(Event::SessionsEnded { user: token.user });
        Ok(())
    }
}

/// Stores a new secret for the user to add to an authenticator app; not in force until confirmed.
pub struct StartTotp {
    pub user: UserId,
    pub secret: Vec<u8>,
    pub at: u64,
}

impl Command<Runtime, Event> for StartTotp {
    type Output = ();
    /// The user with the pending secret.
    type Plan = User;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<User, ApplyError> {
        let mut user = load_user(read, self.user)?;
        user.totp_pending = Some(self.secret);
        user.updated_at = self.at;
        Ok(user)
    }

    fn write(user: User, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<(), WriteError> {
        Ok(save_user(tx, &user, None)?)
    }
}

/// Confirms the pending secret with a code from the app, turning two-factor login on, or over to
/// the new app. The caller checked the password; a current code (`current`) is checked here when
/// two-factor login is already on.
pub struct EnableTotp {
    pub user: UserId,
    pub code: String,
    pub current: Option<String>,
    /// Hashes of the recovery codes shown to the user once.
    pub recovery: Vec<[u8; 32]>,
    pub actor: Actor,
    pub at: u64,
}

impl Command<Runtime, Event> for EnableTotp {
    type Output = ();
    /// The user with the new enrolment, and whether it replaces one.
    type Plan = (Changed, bool);

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<Self::Plan, ApplyError> {
        let mut user = load_user(read, self.user)?;
        let Some(secret) = user.totp_pending.take() else {
            return Err(Rejection::conflict(ErrorCode::TotpNotStarted, "Start two-factor setup first.").into());
        };
        let replacing = user.totp.is_some();
        // The current code is only proof here: the enrolment it belongs to is replaced below.
        check_second_factor(&user, self.current.as_deref(), RejectKind::Forbidden, self.at)?;
        let Some(step) = totp::verify(&secret, &self.code, self.at, 0) else {
            let mut rejection = Rejection::new(
                RejectKind::Invalid,
                ErrorCode::TotpInvalid,
                "That code is not valid. Check the time on your phone.",
            );
            rejection.field = Some("code");
            return Err(rejection.into());
        };
        user.totp = Some(Totp { secret, last_step: step, recovery: self.recovery });
        user.updated_at = self.at;
        Ok((Changed { user, actor: self.actor, at: self.at }, replacing))
    }

    fn write(
        (changed, replacing): Self::Plan,
        _: &mut Runtime,
        tx: &WriteTransaction,
        _: &mut Vec<Event>,
    ) -> Result<(), WriteError> {
        save_user(tx, &changed.user, None)?;
        let action = if replacing { "user.totp_replaced" } else { "user.totp_enabled" };
        Ok(changed.audit(tx, action, String::new())?)
    }
}

/// Turns two-factor login off, unless an administrator requires it. The caller checked the
/// password; a current code (`current`) is checked here.
pub struct DisableTotp {
    pub user: UserId,
    pub current: Option<String>,
    pub actor: Actor,
    pub at: u64,
}

impl Command<Runtime, Event> for DisableTotp {
    type Output = ();
    /// The user without two-factor login.
    type Plan = Changed;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<Changed, ApplyError> {
        let mut user = load_user(read, self.user)?;
        if user.totp_required {
            return Err(Rejection::conflict(
                ErrorCode::TotpRequiredByAdmin,
                "An administrator requires two-factor login for you.",
            )
            .into());
        }
        check_second_factor(&user, self.current.as_deref(), RejectKind::Forbidden, self.at)?;
        user.totp = None;
        user.totp_pending = None;
        user.updated_at = self.at;
        Ok(Changed { user, actor: self.actor, at: self.at })
    }

    fn write(changed: Changed, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<(), WriteError> {
        save_user(tx, &changed.user, None)?;
        Ok(changed.audit(tx, "user.totp_disabled", String::new())?)
    }
}

pub struct UpdateProfile {
    pub user: UserId,
    pub patch: ProfilePatch,
    pub at: u64,
}

impl Command<Runtime, Event> for UpdateProfile {
    type Output = User;
    /// The user with the patch applied.
    type Plan = User;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<User, ApplyError> {
        let before = load_user(read, self.user)?;
        Ok(self.patch.apply(&before, self.at).map_err(Rejection::from)?)
    }

    fn write(after: User, _: &mut Runtime, tx: &WriteTransaction, events: &mut Vec<Event>) -> Result<User, WriteError> {
        save_user(tx, &after, None)?;
        events.push(Event::UserChanged { id: after.id });
        Ok(after)
    }
}
