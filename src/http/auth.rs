//! Signing in and out, "forgot password", and the links from e-mails (invite, reset).

use std::net::IpAddr;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::extract::{Body, Caller};
use super::guard::{ClientIp, clear_session_cookie, session_cookie};
use super::views::{MeView, UserView};
use super::{ApiError, AppState};
use crate::core::{
    EndSession, NewLink, NewSession, OpenSession, RejectKind, RequestReset, UseLink, link_rejection,
    second_factor_missing,
};
use crate::domain::account::{User, check_password};
use crate::domain::error_code::ErrorCode;
use crate::domain::secret::{self, LinkKind, LinkProblem};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginInput {
    email: String,
    password: String,
    #[serde(default)]
    totp: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    Extension(ClientIp(address)): Extension<ClientIp>,
    Body(input): Body<LoginInput>,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let email = input.email.trim().to_lowercase();
    if let Err(wait) = state.guard.begin_sign_in(&email, address, now) {
        return Err(ApiError::too_many(ErrorCode::TooManyAttempts, wait.0));
    }
    let lookup = email.clone();
    let found = state.read(move |read| read.user_by_email(&lookup)).await?;
    let stored = found.as_ref().and_then(|user| user.password_hash.clone());
    let matches = match state.passwords.verify(input.password, stored).await {
        Ok(matches) => matches,
        Err(busy) => {
            // Not checked, so not a guess.
            state.guard.refund_sign_in(&email, address);
            return Err(busy.into());
        }
    };
    let Some(user) = found.filter(|_| matches) else {
        return Err(ApiError::new(ErrorCode::InvalidCredentials, "Wrong e-mail or password."));
    };
    if !user.active {
        // The password was right, so saying why is safe, and spares a useless "forgot password".
        let message = "This account has been deactivated; ask an administrator.";
        return Err(ApiError::new(ErrorCode::UserInactive, message).with_status(StatusCode::FORBIDDEN));
    }
    let (token, session) = new_session(address);
    let csrf = session.csrf.clone();
    let command = OpenSession { user: user.id, second_factor: input.totp.clone(), session, at: now };
    let user = match state.core.call(command).await {
        Ok(user) => user,
        Err(err) => {
            if input.totp.as_deref().is_none_or(|code| code.trim().is_empty()) {
                state.guard.refund_sign_in(&email, address);
            }
            return Err(err.into());
        }
    };
    state.guard.signed_in(&email, address);
    signed_in(&state, user, &token, csrf, StatusCode::OK).await
}

/// A new session token (for the cookie) and what the core stores of it.
fn new_session(address: IpAddr) -> (String, NewSession) {
    let token = secret::new_token("");
    let session = NewSession { hash: secret::hash(&token), csrf: secret::new_token(""), address: address.to_string() };
    (token, session)
}

/// The answer to a successful sign-in: the session cookie and the user as `GET /me` shows it.
async fn signed_in(
    state: &AppState,
    user: User,
    token: &str,
    csrf: String,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let me = me_view(state, user, Some(csrf)).await?;
    let cookie = session_cookie(token, state.settings.auth.session_max.as_secs());
    Ok((status, [(header::SET_COOKIE, cookie)], Json(me)).into_response())
}

pub async fn me_view(state: &AppState, user: User, csrf: Option<String>) -> Result<MeView, ApiError> {
    let groups = state.read(|read| read.groups()).await?;
    let totp_setup_required = user.totp_required && user.totp.is_none();
    Ok(MeView {
        user: UserView::new(&user, &groups),
        notify_assignments: user.notify_assignments,
        notify_group_queue: user.notify_group_queue,
        totp_setup_required,
        csrf_token: csrf,
    })
}

pub async fn logout(State(state): State<AppState>, Caller(caller): Caller) -> Result<Response, ApiError> {
    if let Some(hash) = caller.session_hash() {
        state.core.call(EndSession { hash }).await?;
    }
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear_session_cookie())]).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgotInput {
    email: String,
}

/// Answers the same whether or not the address has an account.
pub async fn forgot(
    State(state): State<AppState>,
    Extension(ClientIp(address)): Extension<ClientIp>,
    Body(input): Body<ForgotInput>,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    if let Err(wait) = state.guard.begin_mail(address, now) {
        return Err(ApiError::too_many(ErrorCode::TooManyAttempts, wait.0));
    }
    let token = secret::new_token("rs_");
    let link = NewLink { hash: secret::hash(&token), url: format!("{}/reset#token={token}", state.public_url) };
    state.core.call(RequestReset { email: input.email, link, address: address.to_string(), at: now }).await?;
    state.mail_queued.notify_one();
    let message = "If an account uses that address, a link to choose a new password is on its way.";
    Ok((StatusCode::ACCEPTED, Json(json!({ "message": message }))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteInput {
    token: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetInput {
    token: String,
    password: String,
    /// The second factor, when the account has two-factor login on: asked as sign-in asks it.
    #[serde(default)]
    totp: Option<String>,
    /// A reset revokes the user's API tokens unless told not to: whoever made the reset needed
    /// may have made tokens too.
    #[serde(default = "revoke_by_default")]
    revoke_tokens: bool,
}

fn revoke_by_default() -> bool {
    true
}

/// What using a link asks for.
struct LinkUse {
    token: String,
    password: String,
    totp: Option<String>,
    revoke_tokens: bool,
}

pub async fn reset(
    State(state): State<AppState>,
    Extension(ClientIp(address)): Extension<ClientIp>,
    Body(input): Body<ResetInput>,
) -> Result<Response, ApiError> {
    let ResetInput { token, password, totp, revoke_tokens } = input;
    use_link(state, address, LinkKind::Reset, LinkUse { token, password, totp, revoke_tokens }).await
}

pub async fn accept_invite(
    State(state): State<AppState>,
    Extension(ClientIp(address)): Extension<ClientIp>,
    Body(input): Body<InviteInput>,
) -> Result<Response, ApiError> {
    let InviteInput { token, password } = input;
    use_link(state, address, LinkKind::Invite, LinkUse { token, password, totp: None, revoke_tokens: false }).await
}

/// Checks the link (and that a second factor came, if the account has one) before the costly
/// password hash, then lets the core check it all again and spend it atomically; the user ends up
/// signed in. A code tried here counts against the sign-in budget, as at sign-in.
async fn use_link(state: AppState, address: IpAddr, kind: LinkKind, input: LinkUse) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let hash = secret::hash(input.token.trim());
    let user = linked_user(&state, hash, Some(kind), now).await?;
    check_password(&input.password, &user.email)?;
    let second_factor = input.totp.filter(|code| !code.trim().is_empty());
    let guessing = user.totp.is_some();
    if guessing {
        if second_factor.is_none() {
            return Err(second_factor_missing(RejectKind::Unauthorized).into());
        }
        if let Err(wait) = state.guard.begin_sign_in(&user.email, address, now) {
            return Err(ApiError::too_many(ErrorCode::TooManyAttempts, wait.0));
        }
    }
    let password_hash = state.passwords.hash(input.password).await?;
    let (token, session) = new_session(address);
    let csrf = session.csrf.clone();
    let revoke_tokens = input.revoke_tokens;
    let command = UseLink {
        kind,
        hash,
        password_hash,
        second_factor,
        revoke_tokens,
        session,
        address: address.to_string(),
        at: now,
    };
    let used = state.core.call(command).await?;
    if guessing {
        state.guard.signed_in(&user.email, address);
    }
    signed_in(&state, used, &token, csrf, StatusCode::OK).await
}

/// The user a usable link belongs to (of `kind`, or of any kind).
async fn linked_user(state: &AppState, hash: [u8; 32], kind: Option<LinkKind>, now: u64) -> Result<User, ApiError> {
    let link = state.read(move |read| read.link(hash)).await?.ok_or_else(|| link_rejection(LinkProblem::Unknown))?;
    link.check(kind.unwrap_or(link.kind), now).map_err(link_rejection)?;
    let id = link.user;
    state.read(move |read| read.user(id)).await?.filter(|user| user.active).ok_or_else(|| {
        ApiError::new(ErrorCode::UserInactive, "This account has been deactivated.").with_status(StatusCode::GONE)
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckInput {
    token: String,
}

/// Tells the page behind a link whose it is and whether it still works, before a password is typed.
pub async fn check_link(State(state): State<AppState>, Body(input): Body<CheckInput>) -> Result<Response, ApiError> {
    let hash = secret::hash(input.token.trim());
    let now = state.clock.now();
    let user = linked_user(&state, hash, None, now).await?;
    let link = state.read(move |read| read.link(hash)).await?.ok_or_else(|| link_rejection(LinkProblem::Unknown))?;
    let kind = match link.kind {
        LinkKind::Invite => "invite",
        LinkKind::Reset => "reset",
    };
    let body = json!({
        "kind": kind,
        "email": user.email,
        "first_name": user.first_name,
        "expires_at": link.expires_at(),
    });
    Ok(Json(body).into_response())
}
