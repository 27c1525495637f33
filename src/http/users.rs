//! Users administration: list, create (with an invite), edit roles and permissions, deactivate,
//! re-send the invite (R-ACC-2).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::extract::{Body, Caller, Id};
use super::query::{NoFilters, Query};
use super::views::UserView;
use super::{ApiError, AppState};
use crate::core::{CreateUser, NewLink, ResendInvite, UpdateUser};
use crate::domain::account::{NewUser, User, UserPatch};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::UserId;
use crate::domain::secret;

pub async fn list(State(state): State<AppState>, _: Query<NoFilters>) -> Result<Response, ApiError> {
    let (users, groups) = state.read(|read| Ok((read.users()?, read.groups()?))).await?;
    Ok(Json(users.iter().map(|user| UserView::new(user, &groups)).collect::<Vec<_>>()).into_response())
}

async fn view(state: &AppState, user: &User) -> Result<UserView, ApiError> {
    let groups = state.read(|read| read.groups()).await?;
    Ok(UserView::new(user, &groups))
}

/// A fresh invite link: the token goes in the mail only, its hash in the database.
pub fn invite_link(state: &AppState) -> NewLink {
    let token = secret::new_token("in_");
    NewLink { hash: secret::hash(&token), url: format!("{}/invite#token={token}", state.public_url) }
}

pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Body(new): Body<NewUser>,
) -> Result<Response, ApiError> {
    let command = CreateUser {
        new,
        invite: Some(invite_link(&state)),
        password_hash: None,
        actor: caller.actor(),
        at: state.clock.now(),
    };
    let user = state.core.call(command).await?;
    state.mail_queued.notify_one();
    Ok((StatusCode::CREATED, Json(view(&state, &user).await?)).into_response())
}

pub async fn show(State(state): State<AppState>, Id(id): Id) -> Result<Response, ApiError> {
    let user = state
        .read(move |read| read.user(UserId(id)))
        .await?
        .ok_or_else(|| ApiError::not_found(ErrorCode::UserNotFound, "There is no such user."))?;
    Ok(Json(view(&state, &user).await?).into_response())
}

pub async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Id(id): Id,
    Body(patch): Body<UserPatch>,
) -> Result<Response, ApiError> {
    let user =
        state.core.call(UpdateUser { id: UserId(id), patch, actor: caller.actor(), at: state.clock.now() }).await?;
    Ok(Json(view(&state, &user).await?).into_response())
}

/// Deactivates (users are never erased: their history stays); their sessions end at once.
pub async fn deactivate(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Id(id): Id,
) -> Result<Response, ApiError> {
    let patch = UserPatch { active: Some(false), ..UserPatch::default() };
    let user =
        state.core.call(UpdateUser { id: UserId(id), patch, actor: caller.actor(), at: state.clock.now() }).await?;
    Ok(Json(view(&state, &user).await?).into_response())
}

pub async fn invite(State(state): State<AppState>, Caller(caller): Caller, Id(id): Id) -> Result<Response, ApiError> {
    let command =
        ResendInvite { id: UserId(id), link: invite_link(&state), actor: caller.actor(), at: state.clock.now() };
    state.core.call(command).await?;
    state.mail_queued.notify_one();
    let body = json!({ "message": "A new invitation was sent; the previous link no longer works." });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}
