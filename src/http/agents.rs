//! Agents as staff see them (status, load, capacity), one's own availability, an agent's routing
//! settings, and the live panel figures (R-REP-1).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::extract::{Body, Caller, Id};
use super::query::{Filters, NoFilters, Query};
use super::{ApiError, AppState};
use crate::core::{DEFAULT_CAPACITY, SetAgentRouting, SetAvailability};
use crate::domain::account::User;
use crate::domain::conversation::Panel;
use crate::domain::ids::{GroupId, UserId};
use crate::domain::routing::AssignMode;
use crate::domain::routing::snapshot::AgentFigures;

#[derive(Debug, Serialize)]
pub struct AgentView {
    pub id: UserId,
    pub name: String,
    pub email: String,
    pub available: bool,
    pub online: bool,
    /// Open conversations now held.
    pub load: usize,
    /// The cap in force (own, else group's, else the default of 6).
    pub capacity: u32,
    pub own_capacity: Option<u32>,
    pub mode: AssignMode,
    pub groups: Vec<GroupId>,
}

/// An agent's row: names from the store, figures from the live snapshot (as routing has them).
fn agent_view(user: &User, figures: Option<&AgentFigures>) -> AgentView {
    let figures = figures.cloned().unwrap_or(AgentFigures {
        load: 0,
        capacity: DEFAULT_CAPACITY,
        available: false,
        online: false,
        own_capacity: None,
        mode: AssignMode::default(),
        groups: Vec::new(),
    });
    AgentView {
        id: user.id,
        name: user.full_name(),
        email: user.email.clone(),
        available: figures.available,
        online: figures.online,
        load: figures.load,
        capacity: figures.capacity,
        own_capacity: figures.own_capacity,
        mode: figures.mode,
        groups: figures.groups,
    }
}

/// `GET /api/v1/agents`: every active agent with status, load and capacity. Only the users are
/// read; what routing knows comes from the snapshot.
pub async fn list(State(state): State<AppState>, _: Query<NoFilters>) -> Result<Response, ApiError> {
    let users = state.read(|read| read.users()).await?;
    let live = Arc::clone(&state.live.borrow());
    let views: Vec<AgentView> =
        users.iter().filter(|u| crate::core::routable(u)).map(|user| agent_view(user, live.agent(user.id))).collect();
    Ok(Json(views).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Availability {
    available: bool,
}

/// `PUT /api/v1/me/availability`: "accept new conversations".
pub async fn set_availability(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Body(input): Body<Availability>,
) -> Result<Response, ApiError> {
    let command = SetAvailability { agent: caller.user.id, available: input.available, at: state.clock.now() };
    state.core.call(command).await?;
    Ok(Json(serde_json::json!({ "available": input.available })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingPatch {
    #[serde(default, with = "crate::domain::account::double_option")]
    capacity: Option<Option<u32>>,
    mode: Option<AssignMode>,
}

/// `PATCH /api/v1/agents/{id}`: an agent's own cap (`null`: none) and assignment mode.
pub async fn update(
    State(state): State<AppState>,
    Id(id): Id,
    Body(input): Body<RoutingPatch>,
) -> Result<Response, ApiError> {
    if input.capacity.flatten().is_some_and(|cap| !(1..=100).contains(&cap)) {
        return Err(ApiError::invalid_field("capacity", "from 1 to 100"));
    }
    let command =
        SetAgentRouting { agent: UserId(id), capacity: input.capacity, mode: input.mode, at: state.clock.now() };
    let profile = state.core.call(command).await?;
    Ok(Json(profile).into_response())
}

/// `GET /api/v1/stats/panel?group=`: today's figures (UTC day), for a group or all.
pub async fn stats(State(state): State<AppState>, Query(panel): Query<PanelQuery>) -> Result<Response, ApiError> {
    Ok(Json(panel_figures(&state, panel.group.map(GroupId))).into_response())
}

/// `?group=<id>`: the panel of one group; all groups without it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanelQuery {
    group: Option<u64>,
}

impl Filters for PanelQuery {}

/// Today's panel figures (UTC day) for a group or all, from the live snapshot: what
/// `GET /stats/panel` answers and the `stats.panel` message carries.
pub fn panel_figures(state: &AppState, group: Option<GroupId>) -> Panel {
    state.live.borrow().panel(group, state.clock.now())
}
