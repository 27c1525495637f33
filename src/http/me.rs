//! The signed-in user's own account: profile, password, API tokens, two-factor login.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::auth::me_view;
use super::extract::{Body, Caller, Id};
use super::guard::{Principal, Via};
use super::query::{NoFilters, Query};
use super::views::TokenView;
use super::{ApiError, AppState};
use crate::core::{
    ChangePassword, CoreError, CreateApiToken, DisableTotp, EnableTotp, RevokeApiToken, StartTotp, UpdateProfile,
};
use crate::domain::account::{ProfilePatch, check_password};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::TokenId;
use crate::domain::{secret, totp};

fn csrf_of(via: &Via) -> Option<String> {
    match via {
        Via::Session { csrf, .. } => Some(csrf.clone()),
        Via::Token { .. } => None,
    }
}

pub async fn show(State(state): State<AppState>, Caller(caller): Caller) -> Result<Response, ApiError> {
    let csrf = csrf_of(&caller.via);
    Ok(Json(me_view(&state, caller.user, csrf).await?).into_response())
}

pub async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Body(patch): Body<ProfilePatch>,
) -> Result<Response, ApiError> {
    let user = state.core.call(UpdateProfile { user: caller.user.id, patch, at: state.clock.now() }).await?;
    Ok(Json(me_view(&state, user, csrf_of(&caller.via)).await?).into_response())
}

/// Checks the current password with the same brute-force guard as sign-in. The attempt stays
/// counted until the caller says how the request ended (`guard.signed_in`, or `settle`).
async fn verify_password(
    state: &AppState,
    caller: &Principal,
    password: String,
    field: &'static str,
) -> Result<(), ApiError> {
    if let Err(wait) = state.guard.begin_sign_in(&caller.user.email, caller.address, state.clock.now()) {
        return Err(ApiError::too_many(ErrorCode::TooManyAttempts, wait.0));
    }
    let checked = state.passwords.verify(password, caller.user.password_hash.clone()).await;
    if let Err(busy) = checked {
        // Not checked, so not a guess.
        state.guard.refund_sign_in(&caller.user.email, caller.address);
        return Err(busy.into());
    }
    if checked != Ok(true) {
        let error = ApiError::new(ErrorCode::WrongPassword, "The current password is not right.");
        return Err(error.on_field(field));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
    /// Also revoke every API token of the user (off unless asked).
    #[serde(default)]
    revoke_tokens: bool,
}

/// Changes the password; every other session of the user ends, and so does any reset link sent
/// before; the API tokens too when asked.
pub async fn change_password(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Body(input): Body<PasswordChange>,
) -> Result<Response, ApiError> {
    check_password(&input.new_password, &caller.user.email)
        .map_err(|invalid| crate::domain::account::Invalid { field: "new_password", ..invalid })?;
    verify_password(&state, &caller, input.current_password, "current_password").await?;
    state.guard.signed_in(&caller.user.email, caller.address);
    let password_hash = state.passwords.hash(input.new_password).await?;
    let command = ChangePassword {
        user: caller.user.id,
        password_hash,
        keep: caller.session_hash(),
        revoke_tokens: input.revoke_tokens,
        actor: caller.actor(),
        at: state.clock.now(),
    };
    let changed = state.core.call(command).await?;
    let body = json!({ "other_sessions_ended": changed.sessions_ended, "tokens_revoked": changed.tokens_revoked });
    Ok(Json(body).into_response())
}

pub async fn list_tokens(
    State(state): State<AppState>,
    Caller(caller): Caller,
    _: Query<NoFilters>,
) -> Result<Response, ApiError> {
    let user = caller.user.id;
    let tokens = state.read(move |read| read.api_tokens_of(user)).await?;
    Ok(Json(tokens.iter().map(TokenView::from).collect::<Vec<_>>()).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    name: String,
}

/// Creates an API token; its value is in this answer only.
pub async fn create_token(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Body(input): Body<NewToken>,
) -> Result<Response, ApiError> {
    let value = secret::new_token("ct_");
    let command = CreateApiToken {
        user: caller.user.id,
        name: input.name,
        hash: secret::hash(&value),
        actor: caller.actor(),
        at: state.clock.now(),
    };
    let token = state.core.call(command).await?;
    let body = json!({ "id": token.id, "name": token.name, "created_at": token.created_at, "token": value });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn revoke_token(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Id(id): Id,
) -> Result<Response, ApiError> {
    let command =
        RevokeApiToken { user: caller.user.id, id: TokenId(id), actor: caller.actor(), at: state.clock.now() };
    state.core.call(command).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Two-factor login is changed by a person signed in to the web UI: an API token is a program,
/// and one that leaked must not be able to turn off or take over the account's second factor.
fn person_at_the_keyboard(caller: &Principal) -> Result<(), ApiError> {
    match caller.via {
        Via::Session { .. } => Ok(()),
        Via::Token { .. } => Err(ApiError::new(
            ErrorCode::SessionRequired,
            "Two-factor login can only be changed from a signed-in web session, not with an API token.",
        )),
    }
}

/// Proves it is the user before a change of two-factor login: a web session and the password
/// (a current code, when two-factor login is on, is checked by the command).
async fn prove_person(state: &AppState, caller: &Principal, password: String) -> Result<(), ApiError> {
    person_at_the_keyboard(caller)?;
    verify_password(state, caller, password, "password").await
}

/// Closes the sign-in attempt `prove_person` began: a wrong current code stays counted, as at
/// sign-in (the password alone must not buy unlimited guesses at the code); anything else gives
/// it back — a typo of the code from the app being set up (`code`) guesses at nothing.
fn settle<T>(state: &AppState, caller: &Principal, result: Result<T, CoreError>) -> Result<T, ApiError> {
    match &result {
        Ok(_) => state.guard.signed_in(&caller.user.email, caller.address),
        Err(CoreError::Rejected(rejection))
            if rejection.code == ErrorCode::TotpInvalid && rejection.field != Some("code") => {}
        Err(_) => state.guard.refund_sign_in(&caller.user.email, caller.address),
    }
    Ok(result?)
}

/// Starts two-factor setup: a new secret for the authenticator app, in force once confirmed.
pub async fn totp_setup(State(state): State<AppState>, Caller(caller): Caller) -> Result<Response, ApiError> {
    person_at_the_keyboard(&caller)?;
    let secret = totp::new_secret();
    let url = totp::otpauth_url(&secret, &caller.user.email);
    let body = json!({ "secret": totp::base32(&secret), "qr_svg": totp::qr_svg(&url), "otpauth_url": url });
    state.core.call(StartTotp { user: caller.user.id, secret, at: state.clock.now() }).await?;
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpEnable {
    /// From the app being set up.
    code: String,
    password: String,
    /// A current code (or recovery code) of the app in use, when two-factor login is already on.
    #[serde(default)]
    totp: Option<String>,
}

/// Confirms setup with a code from the app; answers the recovery codes, shown this once.
pub async fn totp_enable(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Body(input): Body<TotpEnable>,
) -> Result<Response, ApiError> {
    prove_person(&state, &caller, input.password).await?;
    let codes = totp::new_recovery_codes();
    let recovery = codes.iter().map(|code| secret::hash(code)).collect();
    let command = EnableTotp {
        user: caller.user.id,
        code: input.code,
        current: input.totp,
        recovery,
        actor: caller.actor(),
        at: state.clock.now(),
    };
    settle(&state, &caller, state.core.call(command).await)?;
    Ok(Json(json!({ "recovery_codes": codes })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpDisable {
    password: String,
    /// A current code or a recovery code.
    #[serde(default)]
    totp: Option<String>,
}

pub async fn totp_disable(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Body(input): Body<TotpDisable>,
) -> Result<Response, ApiError> {
    prove_person(&state, &caller, input.password).await?;
    let command =
        DisableTotp { user: caller.user.id, current: input.totp, actor: caller.actor(), at: state.clock.now() };
    settle(&state, &caller, state.core.call(command).await)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
