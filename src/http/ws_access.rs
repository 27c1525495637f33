//! Whether an open staff socket may go on, and as whom: re-read from the store when the user
//! changes, when some of their sessions or tokens end, and when the session would expire. A socket
//! never delivers under roles the user no longer has: it takes the new ones or closes.

use super::AppState;
use super::guard::{Principal, Via};
use crate::domain::account::User;
use crate::domain::session::{Session, SessionLimits};

/// Close code for a socket whose sign-in no longer stands (sign in again).
pub const CLOSE_SIGNED_OUT: u16 = 4001;
/// Close code for a socket whose account may no longer use it.
pub const CLOSE_FORBIDDEN: u16 = 4003;
/// Close code (1011, internal error) when the sign-in could not be re-read: reconnect.
pub const CLOSE_RECHECK_FAILED: u16 = 1011;

/// What a socket must do after a re-check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Go on as `user` (maybe with new roles); re-check at `recheck_at` (a session's expiry).
    Keep { user: Box<User>, recheck_at: Option<u64> },
    /// Close with this code and reason.
    Close { code: u16, reason: &'static str },
}

/// What the store says now about the socket's user and its session or token.
#[derive(Debug, Clone)]
pub struct Found {
    pub user: Option<User>,
    /// For a session socket: its session, if it still exists. For a token socket: unused.
    pub session: Option<Session>,
    /// For a token socket: whether the token still exists.
    pub token: bool,
}

/// The decision, pure.
pub fn judge(via: &Via, found: Found, now: u64, limits: SessionLimits) -> Standing {
    let Some(user) = found.user.filter(|user| user.active) else {
        return Standing::Close { code: CLOSE_FORBIDDEN, reason: "account_deactivated" };
    };
    match via {
        Via::Token { .. } if !found.token => Standing::Close { code: CLOSE_SIGNED_OUT, reason: "token_revoked" },
        Via::Token { .. } => Standing::Keep { user: Box::new(user), recheck_at: None },
        Via::Session { .. } => match found.session {
            None => Standing::Close { code: CLOSE_SIGNED_OUT, reason: "session_ended" },
            Some(session) if session.user != user.id => {
                Standing::Close { code: CLOSE_SIGNED_OUT, reason: "session_ended" }
            }
            Some(session) if !session.is_alive(now, limits) => {
                Standing::Close { code: CLOSE_SIGNED_OUT, reason: "session_expired" }
            }
            Some(session) => Standing::Keep { user: Box::new(user), recheck_at: Some(session.ends_at(limits)) },
        },
    }
}

/// Reads the user and the socket's session or token, and judges.
pub async fn recheck(state: &AppState, caller: &Principal) -> Standing {
    let user_id = caller.user.id;
    let via = caller.via.clone();
    let lookup = via.clone();
    let found = state
        .read(move |read| {
            let user = read.user(user_id)?;
            let (session, token) = match lookup {
                Via::Session { hash, .. } => (read.session(hash)?, false),
                Via::Token { hash } => (None, read.api_token(hash)?.is_some()),
            };
            Ok(Found { user, session, token })
        })
        .await
        .map_err(|err| err.message);
    judge_read(&via, found, state.clock.now(), state.session_limits())
}

/// A store that cannot be read fails closed: the socket must not go on under roles nobody could
/// confirm. The client reconnects, and its new upgrade checks the sign-in the normal way.
pub fn judge_read(via: &Via, found: Result<Found, String>, now: u64, limits: SessionLimits) -> Standing {
    match found {
        Ok(found) => judge(via, found, now, limits),
        Err(err) => {
            tracing::warn!(error = %err, "cannot re-check a staff socket's sign-in: closing it");
            Standing::Close { code: CLOSE_RECHECK_FAILED, reason: "recheck_failed" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::access::Role;
    use crate::domain::account::NewUser;
    use crate::domain::ids::UserId;

    const LIMITS: SessionLimits = SessionLimits { idle_ms: 1_000, max_ms: 10_000 };

    fn user(active: bool) -> User {
        let new = NewUser {
            first_name: "Ana".into(),
            last_name: "Paz".into(),
            email: "ana@example.com".into(),
            roles: vec![Role::Agent],
            permissions: vec![],
            language: None,
            totp_required: false,
        };
        User { active, ..new.into_user(UserId(3), 0).unwrap() }
    }

    fn session(user: u64, last_seen_at: u64) -> Session {
        Session { user: UserId(user), created_at: 0, last_seen_at, csrf: String::new(), address: String::new() }
    }

    fn cookie() -> Via {
        Via::Session { hash: [1; 32], csrf: String::new() }
    }

    #[test]
    fn a_session_socket_follows_its_session_and_its_account() {
        let found = |user, session| Found { user, session, token: false };
        let close = |code, reason| Standing::Close { code, reason };
        assert_eq!(judge(&cookie(), found(Some(user(true)), None), 0, LIMITS), close(4001, "session_ended"));
        assert_eq!(
            judge(&cookie(), found(Some(user(false)), Some(session(3, 0))), 0, LIMITS),
            close(4003, "account_deactivated")
        );
        assert_eq!(judge(&cookie(), found(None, None), 0, LIMITS), close(4003, "account_deactivated"));
        assert_eq!(
            judge(&cookie(), found(Some(user(true)), Some(session(3, 0))), 1_001, LIMITS),
            close(4001, "session_expired")
        );
        assert_eq!(
            judge(&cookie(), found(Some(user(true)), Some(session(9, 0))), 0, LIMITS),
            close(4001, "session_ended"),
            "another user's session"
        );
        // Touched by a request since: a sliding session goes on, to be checked again at its new end.
        assert_eq!(
            judge(&cookie(), found(Some(user(true)), Some(session(3, 900))), 1_001, LIMITS),
            Standing::Keep { user: Box::new(user(true)), recheck_at: Some(1_901) }
        );
    }

    #[test]
    fn a_token_socket_follows_its_token_and_its_account() {
        let token = Via::Token { hash: [2; 32] };
        let found = |user, token| Found { user, session: None, token };
        assert_eq!(
            judge(&token, found(Some(user(true)), false), 0, LIMITS),
            Standing::Close { code: 4001, reason: "token_revoked" }
        );
        assert_eq!(
            judge(&token, found(Some(user(false)), true), 0, LIMITS),
            Standing::Close { code: 4003, reason: "account_deactivated" }
        );
        assert_eq!(
            judge(&token, found(Some(user(true)), true), 0, LIMITS),
            Standing::Keep { user: Box::new(user(true)), recheck_at: None }
        );
    }

    #[test]
    fn a_store_that_cannot_be_read_closes_the_socket() {
        assert_eq!(
            judge_read(&cookie(), Err("disk unreadable".into()), 0, LIMITS),
            Standing::Close { code: 1011, reason: "recheck_failed" }
        );
        let found = Found { user: Some(user(true)), session: Some(session(3, 0)), token: false };
        assert_eq!(
            judge_read(&cookie(), Ok(found), 0, LIMITS),
            Standing::Keep { user: Box::new(user(true)), recheck_at: Some(1_001) }
        );
    }
}
