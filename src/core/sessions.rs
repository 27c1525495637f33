//! Commands of a signed-in user on their own account: sessions, password, API tokens, two-factor
//! login and profile (R-ACC-3, R-ACC-4).

use redb::WriteTransaction;

use super::accounts::NewSession;
use super::records::{audit, end_sessions, load_user, revoke_api_tokens, revoke_links, save_user};
use super::{ApplyError, Command, Event, Read, RejectKind, Rejection, Runtime, WriteError};
use crate::domain::account::{ProfilePatch, Totp, User};
use crate::domain::audit::Actor;
use crate::domain::ids::{TokenId, UserId};
use crate::domain::session::ApiToken;
use crate::domain::{secret, totp};
use crate::store::tables::{API_TOKEN_HASH_TO_TOKEN, SESSION_HASH_TO_SESSION};

/// Signs a user in after their password was checked: checks the second factor if they enrolled
/// (a TOTP code works once; a recovery code is spent), then opens the session.
pub struct OpenSession {
    pub user: UserId,
    pub second_factor: Option<String>,
    pub session: NewSession,
    pub at: u64,
}

impl Command<Runtime, Event> for OpenSession {
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

impl OpenSession {
    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<User, ApplyError> {
        let mut user = load_user(tx, self.user)?;
        if !user.active {
            return Err(
                Rejection::new(RejectKind::Unauthorized, "invalid_credentials", "Wrong e-mail or password.").into()
            );
        }
        if let Some(spent) =
            check_second_factor(&user, self.second_factor.as_deref(), RejectKind::Unauthorized, self.at)?
        {
            user.totp = Some(spent);
            save_user(tx, &user, None)?;
        }
        self.session.open(tx, user.id, self.at)?;
        Ok(user)
    }
}

/// The answer when two-factor login is on and no code came: `Unauthorized` where it stands for
/// signing in (sign-in, a reset link), `Forbidden` where a signed-in user must prove it is them.
pub fn second_factor_missing(kind: RejectKind) -> Rejection {
    let mut rejection = Rejection::new(
        kind,
        "totp_required",
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
    let mut rejection = Rejection::new(kind, "totp_invalid", "That code is not valid. Try the current one.");
    rejection.field = Some("totp");
    Err(rejection.into())
}

/// Signs out: the session ends on the server.
pub struct EndSession {
    pub hash: [u8; 32],
}

impl Command<Runtime, Event> for EndSession {
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

impl EndSession {
    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, events: &mut Vec<Event>) -> Result<(), ApplyError> {
        let mut table = tx.open_table(SESSION_HASH_TO_SESSION.definition())?;
        if let Some(session) = SESSION_HASH_TO_SESSION.get(&table, self.hash)? {
            SESSION_HASH_TO_SESSION.remove(&mut table, self.hash)?;
            events.push(Event::SessionsEnded { user: session.user });
        }
        Ok(())
    }
}

/// Records activity on a session, for the idle timeout.
pub struct TouchSession {
    pub hash: [u8; 32],
    pub at: u64,
}

impl Command<Runtime, Event> for TouchSession {
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

impl TouchSession {
    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<(), ApplyError> {
        let mut table = tx.open_table(SESSION_HASH_TO_SESSION.definition())?;
        if let Some(mut session) = SESSION_HASH_TO_SESSION.get(&table, self.hash)? {
            session.last_seen_at = self.at;
            SESSION_HASH_TO_SESSION.insert(&mut table, self.hash, &session)?;
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

impl ChangePassword {
    fn apply(
        self,
        _: &mut Runtime,
        tx: &WriteTransaction,
        events: &mut Vec<Event>,
    ) -> Result<PasswordChanged, ApplyError> {
        let mut user = load_user(tx, self.user)?;
        user.password_hash = Some(self.password_hash);
        user.updated_at = self.at;
        save_user(tx, &user, None)?;
        let sessions_ended = end_sessions(tx, user.id, self.keep)?;
        revoke_links(tx, user.id)?;
        let tokens_revoked = if self.revoke_tokens { revoke_api_tokens(tx, user.id)? } else { 0 };
        let detail = if tokens_revoked > 0 { format!("{tokens_revoked} API tokens revoked") } else { String::new() };
        audit(tx, &self.actor, "user.password_changed", format!("user:{}", user.id), detail, self.at)?;
        events.push(Event::SessionsEnded { user: user.id });
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

impl Command<Runtime, Event> for CreateApiToken {
    type Output = ApiToken;
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

impl CreateApiToken {
    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<ApiToken, ApplyError> {
        let name = crate::domain::account::clean_name("name", &self.name).map_err(Rejection::from)?;
        let mut table = tx.open_table(API_TOKEN_HASH_TO_TOKEN.definition())?;
        let next = API_TOKEN_HASH_TO_TOKEN.all(&table)?.iter().map(|(_, token)| token.id.0).max().unwrap_or(0) + 1;
        let token = ApiToken { id: TokenId(next), user: self.user, name, created_at: self.at };
        API_TOKEN_HASH_TO_TOKEN.insert(&mut table, self.hash, &token)?;
        drop(table);
        audit(tx, &self.actor, "token.create", format!("token:{}", token.id), token.name.clone(), self.at)?;
        Ok(token)
    }
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

impl RevokeApiToken {
    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, events: &mut Vec<Event>) -> Result<(), ApplyError> {
        let mut table = tx.open_table(API_TOKEN_HASH_TO_TOKEN.definition())?;
        let found = API_TOKEN_HASH_TO_TOKEN
            .all(&table)?
            .into_iter()
            .find(|(_, token)| token.id == self.id && token.user == self.user);
        let Some((hash, token)) = found else {
            return Err(Rejection::not_found("token_not_found", "You have no API token with that id.").into());
        };
        API_TOKEN_HASH_TO_TOKEN.remove(&mut table, hash)?;
        drop(table);
        audit(tx, &self.actor, "token.revoke", format!("token:{}", token.id), token.name, self.at)?;
        events.push(Event::SessionsEnded { user: self.user });
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

impl StartTotp {
    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<(), ApplyError> {
        let mut user = load_user(tx, self.user)?;
        user.totp_pending = Some(self.secret);
        user.updated_at = self.at;
        save_user(tx, &user, None)
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

impl EnableTotp {
    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<(), ApplyError> {
        let mut user = load_user(tx, self.user)?;
        let Some(secret) = user.totp_pending.take() else {
            return Err(Rejection::conflict("totp_not_started", "Start two-factor setup first.").into());
        };
        let replacing = user.totp.is_some();
        check_second_factor(&user, self.current.as_deref(), RejectKind::Forbidden, self.at)?;
        let Some(step) = totp::verify(&secret, &self.code, self.at, 0) else {
            let mut rejection = Rejection::new(
                RejectKind::Invalid,
                "totp_invalid",
                "That code is not valid. Check the time on your phone.",
            );
            rejection.field = Some("code");
            return Err(rejection.into());
        };
        user.totp = Some(Totp { secret, last_step: step, recovery: self.recovery });
        user.updated_at = self.at;
        save_user(tx, &user, None)?;
        let action = if replacing { "user.totp_replaced" } else { "user.totp_enabled" };
        audit(tx, &self.actor, action, format!("user:{}", user.id), String::new(), self.at)
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

impl DisableTotp {
    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<(), ApplyError> {
        let mut user = load_user(tx, self.user)?;
        if user.totp_required {
            return Err(Rejection::conflict(
                "totp_required_by_admin",
                "An administrator requires two-factor login for you.",
            )
            .into());
        }
        check_second_factor(&user, self.current.as_deref(), RejectKind::Forbidden, self.at)?;
        user.totp = None;
        user.totp_pending = None;
        user.updated_at = self.at;
        save_user(tx, &user, None)?;
        audit(tx, &self.actor, "user.totp_disabled", format!("user:{}", user.id), String::new(), self.at)
    }
}

pub struct UpdateProfile {
    pub user: UserId,
    pub patch: ProfilePatch,
    pub at: u64,
}

impl Command<Runtime, Event> for UpdateProfile {
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

impl UpdateProfile {
    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, events: &mut Vec<Event>) -> Result<User, ApplyError> {
        let before = load_user(tx, self.user)?;
        let after = self.patch.apply(&before, self.at).map_err(Rejection::from)?;
        save_user(tx, &after, None)?;
        events.push(Event::UserChanged { id: after.id });
        Ok(after)
    }
}
