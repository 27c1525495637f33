//! Groups (departments): list for staff; create, rename, members and delete for administrators.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::extract::{Body, Caller, Id};
use super::query::{NoFilters, Query};
use super::views::GroupView;
use super::{ApiError, AppState};
use crate::core::{CreateGroup, DeleteGroup, UpdateGroup};
use crate::domain::account::Group;
use crate::domain::ids::{GroupId, UserId};
use crate::domain::routing::GroupRules;

pub async fn list(State(state): State<AppState>, _: Query<NoFilters>) -> Result<Response, ApiError> {
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
    /// Capacity, policy (equitable, round_robin, sticky) and queue limit of the group's queue.
    #[serde(default)]
    rules: GroupRules,
}

pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Body(input): Body<NewGroup>,
) -> Result<Response, ApiError> {
    check_rules(&input.rules)?;
    let command = CreateGroup {
        name: input.name,
        members: input.members,
        rules: input.rules,
        actor: caller.actor(),
        at: state.clock.now(),
    };
    let group = state.core.call(command).await?;
    Ok((StatusCode::CREATED, Json(view(&state, &group).await?)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupPatch {
    name: Option<String>,
    members: Option<Vec<UserId>>,
    rules: Option<GroupRules>,
}

/// Caps and limits within reason: 1 to 100 conversations per agent, 1 to 10,000 waiting.
fn check_rules(rules: &GroupRules) -> Result<(), ApiError> {
    let bad = ApiError::invalid_field;
    if rules.capacity.is_some_and(|cap| !(1..=100).contains(&cap)) {
        return Err(bad("rules.capacity", "from 1 to 100"));
    }
    if rules.max_queue.is_some_and(|max| !(1..=10_000).contains(&max)) {
        return Err(bad("rules.max_queue", "from 1 to 10000"));
    }
    Ok(())
}

pub async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Id(id): Id,
    Body(input): Body<GroupPatch>,
) -> Result<Response, ApiError> {
    if let Some(rules) = &input.rules {
        check_rules(rules)?;
    }
    let command = UpdateGroup {
        id: GroupId(id),
        name: input.name,
        members: input.members,
        rules: input.rules,
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
