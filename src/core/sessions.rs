//! Commands of a signed-in user on their own account: sessions, password, API tokens, two-factor
//! login and profile (R-ACC-3, R-ACC-4).

use redb::WriteTransaction;

use super::accounts::NewSession;
use super::records::{audit, end_sessions, load_user, save_user};
use super::{ApplyError, Command, Event, RejectKind, Rejection, Runtime};
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

    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<User, ApplyError> {
        let mut user = load_user(tx, self.user)?;
        if !user.active {
            return Err(
                Rejection::new(RejectKind::Unauthorized, "invalid_credentials", "Wrong e-mail or password.").into()
            );
        }
        if let Some(enrolled) = user.totp.clone() {
            let code = self.second_factor.as_deref().map(str::trim).filter(|code| !code.is_empty());
            let Some(code) = code else {
                return Err(Rejection::new(
                    RejectKind::Unauthorized,
                    "totp_required",
                    "Enter the 6-digit code from your authenticator app (or a recovery code).",
                )
                .into());
            };
            user.totp = Some(second_factor(enrolled, code, self.at)?);
            save_user(tx, &user, None)?;
        }
        self.session.open(tx, user.id, self.at)?;
        Ok(user)
    }
}

/// Checks a TOTP or recovery code against the enrolment; returns the enrolment updated so the
/// same code cannot work again.
fn second_factor(mut enrolled: Totp, code: &str, at: u64) -> Result<Totp, ApplyError> {
    if let Some(step) = totp::verify(&enrolled.secret, code, at, enrolled.last_step) {
        enrolled.last_step = step;
        return Ok(enrolled);
    }
    let hash = secret::hash(&totp::normalize_recovery_code(code));
    if let Some(position) = enrolled.recovery.iter().position(|stored| *stored == hash) {
        enrolled.recovery.remove(position);
        return Ok(enrolled);
    }
    let mut rejection =
        Rejection::new(RejectKind::Unauthorized, "totp_invalid", "That code is not valid. Try the current one.");
    rejection.field = Some("totp");
    Err(rejection.into())
}

/// Signs out: the session ends on the server.
pub struct EndSession {
    pub hash: [u8; 32],
}

impl Command<Runtime, Event> for EndSession {
    type Output = ();

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

    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<(), ApplyError> {
        let mut table = tx.open_table(SESSION_HASH_TO_SESSION.definition())?;
        if let Some(mut session) = SESSION_HASH_TO_SESSION.get(&table, self.hash)? {
            session.last_seen_at = self.at;
            SESSION_HASH_TO_SESSION.insert(&mut table, self.hash, &session)?;
        }
        Ok(())
    }
}

/// A new password (the old one was checked by the caller); the user's other sessions end.
pub struct ChangePassword {
    pub user: UserId,
    pub password_hash: String,
    pub keep: Option<[u8; 32]>,
    pub actor: Actor,
    pub at: u64,
}

impl Command<Runtime, Event> for ChangePassword {
    type Output = usize;

    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, events: &mut Vec<Event>) -> Result<usize, ApplyError> {
        let mut user = load_user(tx, self.user)?;
        user.password_hash = Some(self.password_hash);
        user.updated_at = self.at;
        save_user(tx, &user, None)?;
        let ended = end_sessions(tx, user.id, self.keep)?;
        audit(tx, &self.actor, "user.password_changed", format!("user:{}", user.id), String::new(), self.at)?;
        events.push(Event::SessionsEnded { user: user.id });
        Ok(ended)
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

    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<(), ApplyError> {
        let mut user = load_user(tx, self.user)?;
        user.totp_pending = Some(self.secret);
        user.updated_at = self.at;
        save_user(tx, &user, None)
    }
}

/// Confirms the pending secret with a code from the app, turning two-factor login on.
pub struct EnableTotp {
    pub user: UserId,
    pub code: String,
    /// Hashes of the recovery codes shown to the user once.
    pub recovery: Vec<[u8; 32]>,
    pub actor: Actor,
    pub at: u64,
}

impl Command<Runtime, Event> for EnableTotp {
    type Output = ();

    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<(), ApplyError> {
        let mut user = load_user(tx, self.user)?;
        let Some(secret) = user.totp_pending.take() else {
            return Err(Rejection::conflict("totp_not_started", "Start two-factor setup first.").into());
        };
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
        audit(tx, &self.actor, "user.totp_enabled", format!("user:{}", user.id), String::new(), self.at)
    }
}

/// Turns two-factor login off (the caller checked the password), unless an administrator requires it.
pub struct DisableTotp {
    pub user: UserId,
    pub actor: Actor,
    pub at: u64,
}

impl Command<Runtime, Event> for DisableTotp {
    type Output = ();

    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, _: &mut Vec<Event>) -> Result<(), ApplyError> {
        let mut user = load_user(tx, self.user)?;
        if user.totp_required {
            return Err(Rejection::conflict(
                "totp_required_by_admin",
                "An administrator requires two-factor login for you.",
            )
            .into());
        }
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

    fn apply(self, _: &mut Runtime, tx: &WriteTransaction, events: &mut Vec<Event>) -> Result<User, ApplyError> {
        let before = load_user(tx, self.user)?;
        let after = self.patch.apply(&before, self.at).map_err(Rejection::from)?;
        save_user(tx, &after, None)?;
        events.push(Event::UserChanged { id: after.id });
        Ok(after)
    }
}
