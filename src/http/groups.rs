//! Groups (departments): list for staff; create, rename, members and delete for administrators.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::extract::{Body, Caller, Id};
use super::views::GroupView;
use super::{ApiError, AppState};
use crate::core::{CreateGroup, DeleteGroup, UpdateGroup};
use crate::domain::account::Group;
use crate::domain::ids::{GroupId, UserId};

pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (groups, users) = state.read(|read| Ok((read.groups()?, read.users()?))).await?;
    Ok(Json(groups.iter().map(|group| GroupView::new(group, &users)).collect::<Vec<_>>()).into_response())
}

async fn view(state: &AppState, group: &Group) -> Result<GroupView, ApiError> {
    let users = state.read(|read| read.users()).await?;
    Ok(GroupView::new(group, &users))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    name: String,
    #[serde(default)]
    members: Vec<UserId>,
}

pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Body(input): Body<NewGroup>,
) -> Result<Response, ApiError> {
    let command =
        CreateGroup { name: input.name, members: input.members, actor: caller.actor(), at: state.clock.now() };
    let group = state.core.call(command).await?;
    Ok((StatusCode::CREATED, Json(view(&state, &group).await?)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupPatch {
    name: Option<String>,
    members: Option<Vec<UserId>>,
}

pub async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Id(id): Id,
    Body(input): Body<GroupPatch>,
) -> Result<Response, ApiError> {
    let command = UpdateGroup {
        id: GroupId(id),
        name: input.name,
        members: input.members,
        rules: None,
        actor: caller.actor(),
        at: state.clock.now(),
    };
    let group = state.core.call(command).await?;
    Ok(Json(view(&state, &group).await?).into_response())
}

pub async fn remove(State(state): State<AppState>, Caller(caller): Caller, Id(id): Id) -> Result<Response, ApiError> {
    state.core.call(DeleteGroup { id: GroupId(id), actor: caller.actor(), at: state.clock.now() }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
