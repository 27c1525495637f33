//! Agents as staff see them (status, load, capacity), one's own availability, an agent's routing
//! settings, and the live panel figures (R-REP-1).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::extract::{Body, Caller, Id};
use super::query::{Filters, NoFilters, Query};
use super::{ApiError, AppState};
use crate::core::{DEFAULT_CAPACITY, SetAgentRouting, SetAvailability};
use crate::domain::access::Role;
use crate::domain::account::{Group, User};
use crate::domain::conversation::{Conversation, Status, panel};
use crate::domain::ids::{GroupId, UserId};
use crate::domain::routing::{AgentProfile, AssignMode};

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

fn effective_capacity(profile: &AgentProfile, groups: &[GroupId], all: &[Group]) -> u32 {
    profile.capacity.unwrap_or_else(|| {
        let caps = all.iter().filter(|g| groups.contains(&g.id)).filter_map(|g| g.rules.capacity);
        caps.min().unwrap_or(DEFAULT_CAPACITY)
    })
}

fn agent_view(
    state: &AppState,
    user: &User,
    profile: AgentProfile,
    groups: &[Group],
    open: &[Conversation],
) -> AgentView {
    let member_of: Vec<GroupId> = groups.iter().filter(|g| g.members.contains(&user.id)).map(|g| g.id).collect();
    AgentView {
        id: user.id,
        name: user.full_name(),
        email: user.email.clone(),
        available: profile.available,
        online: state.presence.is_online(user.id),
        load: open.iter().filter(|c| c.assignee == Some(user.id) && c.status == Status::Assigned).count(),
        capacity: effective_capacity(&profile, &member_of, groups),
        own_capacity: profile.capacity,
        mode: profile.mode,
        groups: member_of,
    }
}

/// `GET /api/v1/agents`: every active agent with status, load and capacity.
pub async fn list(State(state): State<AppState>, _: Query<NoFilters>) -> Result<Response, ApiError> {
    let (users, groups, open, profiles) = state
        .read(|read| {
            let users: Vec<User> =
                read.users()?.into_iter().filter(|u| u.active && u.roles.contains(&Role::Agent)).collect();
            let profiles = users
                .iter()
                .map(|u| read.agent_profile(u.id).map(Option::unwrap_or_default))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((users, read.groups()?, read.open_conversations()?, profiles))
        })
        .await?;
    let views: Vec<AgentView> =
        users.iter().zip(profiles).map(|(user, profile)| agent_view(&state, user, profile, &groups, &open)).collect();
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
    Ok(Json(panel_figures(&state, panel.group.map(GroupId)).await?).into_response())
}

/// `?group=<id>`: the panel of one group; all groups without it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanelQuery {
    group: Option<u64>,
}

impl Filters for PanelQuery {}

/// Today's panel figures (UTC day) for a group or all: what `GET /stats/panel` answers and the
/// `stats.panel` event carries.
pub async fn panel_figures(
    state: &AppState,
    group: Option<GroupId>,
) -> Result<crate::domain::conversation::Panel, ApiError> {
    let now = state.clock.now();
    let day_start = now - now % 86_400_000;
    let (recent, groups, users, overflow) = state
        .read(move |read| {
            let open = read.open_conversations()?;
            let places = read.queue_places(&open)?;
            let in_group = |c: &&Conversation| group.is_none_or(|g| c.group == Some(g));
            let overflow =
                open.iter().filter(in_group).filter(|c| places.get(&c.id).is_some_and(|p| p.overflow)).count();
            Ok((read.conversations_since(day_start)?, read.groups()?, read.users()?, overflow))
        })
        .await?;
    let agents: std::collections::HashSet<UserId> =
        users.iter().filter(|u| u.active && u.roles.contains(&Role::Agent)).map(|u| u.id).collect();
    let online: Vec<UserId> = state.presence.online_users().into_iter().filter(|id| agents.contains(id)).collect();
    let agents_online = match group {
        Some(group) => {
            groups.iter().find(|g| g.id == group).map_or(0, |g| g.members.iter().filter(|m| online.contains(m)).count())
        }
        None => online.len(),
    };
    let in_group = recent.iter().filter(|c| group.is_none_or(|g| c.group == Some(g)));
    Ok(crate::domain::conversation::Panel { overflow, ..panel(in_group, day_start, agents_online) })
}

/// Panel figures shared by every staff WebSocket: computed at most about once a second however
/// many sockets ask (a thousand agents must not mean a thousand reads of the day's conversations).
#[derive(Default)]
pub struct PanelCache {
    latest: tokio::sync::Mutex<Option<(std::time::Instant, crate::domain::conversation::Panel)>>,
}

/// The shared figures and when their computation began (they include every change before it).
pub async fn shared_panel(
    state: &AppState,
) -> Result<(std::time::Instant, crate::domain::conversation::Panel), ApiError> {
    // Held while computing, so concurrent askers wait for one computation instead of repeating it.
    let mut latest = state.panel.latest.lock().await;
    if let Some((at, figures)) = *latest
        && at.elapsed() < std::time::Duration::from_millis(900)
    {
        return Ok((at, figures));
    }
    let started = std::time::Instant::now();
    let figures = panel_figures(state, None).await?;
    *latest = Some((started, figures));
    Ok((started, figures))
}
