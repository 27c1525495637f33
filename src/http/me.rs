//! The signed-in user's own account: profile, password, API tokens, two-factor login.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::auth::me_view;
use super::extract::{Body, Caller, Id};
use super::guard::Via;
use super::views::TokenView;
use super::{ApiError, AppState};
use crate::core::{ChangePassword, CreateApiToken, DisableTotp, EnableTotp, RevokeApiToken, StartTotp, UpdateProfile};
use crate::domain::account::{ProfilePatch, check_password};
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

/// The current password, checked with the same brute-force guard as sign-in.
async fn check_current_password(
    state: &AppState,
    caller: &super::guard::Principal,
    password: String,
) -> Result<(), ApiError> {
    if let Err(wait) = state.guard.begin_sign_in(&caller.user.email, caller.address, state.clock.now()) {
        return Err(ApiError::too_many("too_many_attempts", wait.0));
    }
    let checked = state.passwords.verify(password, caller.user.password_hash.clone()).await;
    if let Err(busy) = checked {
        // Not checked, so not a guess.
        state.guard.refund_sign_in(&caller.user.email, caller.address);
        return Err(busy.into());
    }
    if checked != Ok(true) {
        let error = ApiError::new(StatusCode::FORBIDDEN, "wrong_password", "The current password is not right.");
        return Err(error.on_field("current_password"));
    }
    state.guard.signed_in(&caller.user.email, caller.address);
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// Changes the password; every other session of the user ends.
pub async fn change_password(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Body(input): Body<PasswordChange>,
) -> Result<Response, ApiError> {
    check_password(&input.new_password, &caller.user.email)
        .map_err(|invalid| crate::domain::account::Invalid { field: "new_password", ..invalid })?;
    check_current_password(&state, &caller, input.current_password).await?;
    let password_hash = state.passwords.hash(input.new_password).await?;
    let command = ChangePassword {
        user: caller.user.id,
        password_hash,
        keep: caller.session_hash(),
        actor: caller.actor(),
        at: state.clock.now(),
    };
    let ended = state.core.call(command).await?;
    Ok(Json(json!({ "other_sessions_ended": ended })).into_response())
}

pub async fn list_tokens(State(state): State<AppState>, Caller(caller): Caller) -> Result<Response, ApiError> {
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

/// Starts two-factor setup: a new secret for the authenticator app, in force once confirmed.
pub async fn totp_setup(State(state): State<AppState>, Caller(caller): Caller) -> Result<Response, ApiError> {
    let secret = totp::new_secret();
    let url = totp::otpauth_url(&secret, &caller.user.email);
    let body = json!({ "secret": totp::base32(&secret), "qr_svg": totp::qr_svg(&url), "otpauth_url": url });
    state.core.call(StartTotp { user: caller.user.id, secret, at: state.clock.now() }).await?;
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    code: String,
}

/// Confirms setup with a code from the app; answers the recovery codes, shown this once.
pub async fn totp_enable(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Body(input): Body<TotpCode>,
) -> Result<Response, ApiError> {
    let codes = totp::new_recovery_codes();
    let recovery = codes.iter().map(|code| secret::hash(code)).collect();
    let command =
        EnableTotp { user: caller.user.id, code: input.code, recovery, actor: caller.actor(), at: state.clock.now() };
    state.core.call(command).await?;
    Ok(Json(json!({ "recovery_codes": codes })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordConfirm {
    password: String,
}

pub async fn totp_disable(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Body(input): Body<PasswordConfirm>,
) -> Result<Response, ApiError> {
    check_current_password(&state, &caller, input.password)
        .await
        .map_err(|error| ApiError { field: error.field.map(|_| "password".to_owned()), ..error })?;
    state.core.call(DisableTotp { user: caller.user.id, actor: caller.actor(), at: state.clock.now() }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
