//! The staff realtime channel: `GET /api/v1/ws` (WebSocket). Pushes the core's events after each
//! commit, each filtered by what the recipient may see (the event table below and `can_see`). An
//! agent's open socket is also their presence. The socket follows the account (`ws_access`): it
//! takes new roles at once, and closes (4001/4003 with the reason) when the sign-in ends, 1011
//! `recheck_failed` when it cannot be re-read. One socket too many (for the user or their address)
//! is closed at once with 4008; one silent for the idle timeout with 1001 (`live_socket`).

use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::conversations::{can_see, my_groups};
use super::extract::Caller;
use super::guard::{ClientIp, Principal};
use super::live_socket::{self, End, LiveSocket};
use super::sockets::{self, Owner};
use super::ws_access::{self, Standing};
use super::{ApiError, AppState};
use crate::core::Event;
use crate::domain::access::{Capability, Role, allows};
use crate::domain::conversation::{Author, Conversation, Status};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::GroupId;
use crate::domain::routing::snapshot::Snapshot;
use crate::jobs::presence::Connected;
use crate::server::ConnectionSlot;

/// Every event kind a client can receive, with the capability it needs; conversation events are
/// further limited to conversations the recipient may see.
pub const EVENT_KINDS: &[(&str, Capability)] = &[
    ("message.created", Capability::Staff),
    ("conversation.created", Capability::Staff),
    ("conversation.assigned", Capability::Staff),
    ("conversation.transferred", Capability::Staff),
    ("conversation.finalized", Capability::Staff),
    ("conversation.updated", Capability::Staff),
    ("agent.status", Capability::Staff),
    ("queue.changed", Capability::Staff),
    ("queue.left", Capability::Staff),
    ("stats.panel", Capability::Staff),
    // As `GET /api/v1/agents`.
    ("agents.changed", Capability::Staff),
];

/// The panel figures are sent at most this often, after something moved.
const PANEL_EVERY: Duration = Duration::from_secs(1);

pub async fn upgrade(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Extension(ClientIp(address)): Extension<ClientIp>,
    slot: Option<Extension<ConnectionSlot>>,
    headers: HeaderMap,
    socket: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let socket = socket
        .map_err(|_| ApiError::new(ErrorCode::WebsocketRequired, "Open this address as a WebSocket (wss://)."))?;
    // A browser always sends Origin: only this server's own pages may open the staff socket.
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|value| value.to_str().ok()) {
        let host = headers.get(header::HOST).and_then(|value| value.to_str().ok()).unwrap_or("");
        if origin != format!("https://{host}") {
            return Err(ApiError::forbidden("WebSocket connections are accepted from this server's own pages only."));
        }
    }
    let slot = slot.map(|Extension(slot)| slot);
    let owner = (Owner::User(caller.user.id), state.settings.http.max_sockets_per_user);
    let live = state.clone();
    Ok(sockets::accept(&state, socket, slot, owner, address, move |socket| session(live, caller, socket)))
}

/// What a socket knows of its recipient; swapped when their roles change.
struct Recipient {
    caller: Principal,
    groups: Vec<GroupId>,
    sees_panel: bool,
    presence: Option<Connected>,
    /// When the session would expire, unless touched: the socket re-checks then.
    recheck_at: Option<u64>,
    /// The user's roles or permissions changed since the client last heard: it should re-read `/me`.
    me_changed: bool,
}

impl Recipient {
    async fn new(state: &AppState, caller: Principal) -> Recipient {
        let mut recipient = Recipient {
            caller,
            groups: Vec::new(),
            sees_panel: false,
            presence: None,
            recheck_at: None,
            me_changed: false,
        };
        recipient.refresh(state).await;
        recipient
    }

    /// After a change of the user: their groups, what they see, and an agent's presence.
    async fn refresh(&mut self, state: &AppState) {
        let user = &self.caller.user;
        self.groups = my_groups(state, user.id).await.unwrap_or_default();
        self.sees_panel = allows(Some(&user.grants()), Capability::Staff);
        let agent = user.roles.contains(&Role::Agent);
        if agent && self.presence.is_none() {
            self.presence = Some(state.presence.connect(user.id).await);
        } else if !agent {
            self.presence = None;
        }
    }

    /// Re-reads the sign-in; `Some((code, reason))` when the socket must close.
    async fn recheck(&mut self, state: &AppState) -> Option<(u16, &'static str)> {
        match ws_access::recheck(state, &self.caller).await {
            Standing::Close { code, reason } => Some((code, reason)),
            Standing::Keep { user, recheck_at } => {
                self.recheck_at = recheck_at;
                if *user != self.caller.user {
                    let old = &self.caller.user;
                    self.me_changed |= user.roles != old.roles || user.permissions != old.permissions;
                    self.caller.user = *user;
                    self.refresh(state).await;
                }
                None
            }
        }
    }

    fn concerns_me(&self, event: &Event) -> bool {
        match event {
            Event::UserChanged { id } => *id == self.caller.user.id,
            Event::SessionsEnded { user } => *user == self.caller.user.id,
            _ => false,
        }
    }
}

/// How long until `at` on the server's clock (which tests may move), as a tokio deadline.
fn deadline(state: &AppState, at: Option<u64>) -> tokio::time::Instant {
    let wait = at.map_or(u64::MAX / 4, |at| at.saturating_sub(state.clock.now()));
    tokio::time::Instant::now() + Duration::from_millis(wait.min(86_400_000))
}

async fn session(state: AppState, caller: Principal, socket: WebSocket) {
    let mut socket = LiveSocket::new(socket, state.settings.http.idle_timeout);
    // Subscribe first: coming online can assign a conversation at once, and that event must reach
    // this very socket.
    let mut events = state.core.subscribe();
    let mut me = Recipient::new(&state, caller).await;
    // The account may have changed between the upgrade's check and the subscription.
    if let Some((code, reason)) = me.recheck(&state).await {
        return socket.finish(End::Close(code, reason)).await;
    }
    let mut panel_tick = tokio::time::interval(PANEL_EVERY);
    // The snapshot this socket last told the agents' figures of.
    let mut live = state.live.clone();
    let mut told = std::sync::Arc::clone(&live.borrow_and_update());
    // When the panel last moved and this socket has not yet shown figures taken after it.
    let mut panel_moved = me.sees_panel.then(std::time::Instant::now);
    let mut stopping = state.stopping.clone();
    let expiry = tokio::time::sleep_until(deadline(&state, me.recheck_at));
    tokio::pin!(expiry);
    loop {
        tokio::select! {
            event = events.recv() => {
                let event = match event {
                    Ok(event) => event,
                    // Too slow to keep up: the skipped events may have changed the account or its
                    // groups, so check both again, then tell the client to reload its lists.
                    Err(RecvError::Lagged(_)) => {
                        if let Some((code, reason)) = me.recheck(&state).await {
                            return socket.finish(End::Close(code, reason)).await;
                        }
                        expiry.as_mut().reset(deadline(&state, me.recheck_at));
                        me.groups = my_groups(&state, me.caller.user.id).await.unwrap_or_default();
                        if send(&mut socket, json!({ "type": "resync" })).await.is_err() { break; }
                        continue;
                    }
                    Err(RecvError::Closed) => break,
                };
                if me.concerns_me(&event) {
                    if let Some((code, reason)) = me.recheck(&state).await {
                        return socket.finish(End::Close(code, reason)).await;
                    }
                    expiry.as_mut().reset(deadline(&state, me.recheck_at));
                    // The page shows what the new roles allow (a dispenser's Take buttons) at once.
                    if std::mem::take(&mut me.me_changed) && send(&mut socket, json!({ "type": "me.changed" })).await.is_err() {
                        break;
                    }
                }
                if matches!(event, Event::GroupChanged { .. }) {
                    me.groups = my_groups(&state, me.caller.user.id).await.unwrap_or_default();
                }
                if me.sees_panel && moves_the_panel(&event) {
                    panel_moved = Some(std::time::Instant::now());
                }
                if let Some(payload) = payload_for(&me.caller, &me.groups, &event)
                    && send(&mut socket, payload).await.is_err()
                {
                    break;
                }
            }
            end = socket.ended() => return socket.finish(end).await,
            _ = crate::shutdown::stop_requested(&mut stopping) => break,
            // The session would expire now: unless a request has touched it since, close.
            _ = &mut expiry, if me.recheck_at.is_some() => {
                if let Some((code, reason)) = me.recheck(&state).await {
                    return socket.finish(End::Close(code, reason)).await;
                }
                expiry.as_mut().reset(deadline(&state, me.recheck_at));
            }
            // The snapshot is published before the batch's events: it holds every change heard.
            _ = panel_tick.tick(), if panel_moved.is_some() && me.sees_panel => {
                let figures = super::agents::panel_figures(&state, None);
                if send(&mut socket, json!({ "type": "stats.panel", "panel": figures })).await.is_err() {
                    break;
                }
                panel_moved = None;
            }
            changed = live.changed() => {
                if changed.is_err() { break; }
                let newest = std::sync::Arc::clone(&live.borrow_and_update());
                let payload = agents_changed(&newest, &told);
                told = newest;
                if me.sees_panel
                    && let Some(payload) = payload
                    && send(&mut socket, payload).await.is_err()
                {
                    break;
                }
            }
        }
    }
}

/// `agents.changed`: the agents whose routing figures differ between two snapshots (load,
/// capacity, availability, presence; and their own cap, mode and groups, as `GET /agents` has
/// them), `None` if none does.
fn agents_changed(newest: &Snapshot, older: &Snapshot) -> Option<Value> {
    let agents: Vec<Value> = newest
        .changed_agents(older)
        .into_iter()
        .map(|(id, figures)| {
            json!({
                "id": id, "load": figures.load, "capacity": figures.capacity,
                "available": figures.available, "online": figures.online,
                "own_capacity": figures.own_capacity, "mode": figures.mode, "groups": figures.groups,
            })
        })
        .collect();
    (!agents.is_empty()).then(|| json!({ "type": "agents.changed", "agents": agents }))
}

fn moves_the_panel(event: &Event) -> bool {
    matches!(
        event,
        Event::QueueChanged
            | Event::ConversationAssigned { .. }
            | Event::ConversationFinalized { .. }
            | Event::AgentStatus { .. }
            | Event::MessageCreated { .. }
    )
}

async fn send(socket: &mut LiveSocket, payload: Value) -> Result<(), live_socket::Gone> {
    socket.send_json(&payload).await
}

/// The conversation as the event carries it: every field of a list row that needs no read (names
/// of the contact, channel, group and assignee do; a page that lacks them reads the conversation).
fn conversation_json(conversation: &Conversation) -> Value {
    json!({
        "id": conversation.id,
        "status": conversation.status,
        "assignee_id": conversation.assignee,
        "group_id": conversation.group,
        "contact_id": conversation.contact,
        "channel_id": conversation.channel,
        "labels": conversation.labels,
        "unread": conversation.unread,
        "last_message_at": conversation.last_message_at,
        "last_preview": conversation.last_preview,
        "created_at": conversation.created_at,
        "enqueued_at": conversation.enqueued_at,
        "assigned_at": conversation.assigned_at,
        "finalized_at": conversation.finalized_at,
        "finalize_reason": conversation.finalize_reason,
        "previous": conversation.previous,
        "waiting_since": conversation.waiting_since,
    })
}

/// A conversation taken out of a queue is news to those who saw it wait there, though they may
/// not see it now: another agent took it, or it moved to a group's queue they do not serve. They
/// hear that it left, and nothing more, so their waiting list can drop it without reading the
/// queue again (a recipient who never saw it waiting ignores the id).
fn left_the_queue(caller: &Principal, groups: &[GroupId], event: &Event, conversation: &Conversation) -> Option<Value> {
    let waits = conversation.status == Status::Queued;
    let left = match event {
        Event::ConversationAssigned { .. } | Event::ConversationFinalized { .. } => !waits,
        // Moved, by a person or a rule: into a queue this recipient does not see, or to an agent.
        Event::ConversationTransferred { .. } => true,
        Event::ConversationUpdated { .. } => waits,
        _ => false,
    };
    let saw_it = || {
        waits
            || can_see(caller, &Conversation { status: Status::Queued, assignee: None, ..conversation.clone() }, groups)
    };
    (left && saw_it()).then(|| json!({ "type": "queue.left", "conversation_id": conversation.id }))
}

/// The message for this recipient, or `None` when they may not see the event.
pub fn payload_for(caller: &Principal, groups: &[GroupId], event: &Event) -> Option<Value> {
    let (kind, conversation, extra) = match event {
        Event::MessageCreated { conversation, message } => {
            let author = match message.author {
                Author::Customer => json!({ "kind": "customer" }),
                Author::System => json!({ "kind": "system", "name": message.rule }),
                Author::Agent(id) => json!({ "kind": "agent", "id": id }),
            };
            let message = json!({
                "id": message.id, "text": message.text, "private": message.private,
                "created_at": message.created_at, "author": author, "activity": message.activity,
            });
            ("message.created", Some(conversation), Some(("message", message)))
        }
        Event::ConversationCreated { conversation } => ("conversation.created", Some(conversation), None),
        Event::ConversationAssigned { conversation } => ("conversation.assigned", Some(conversation), None),
        Event::ConversationTransferred { conversation, from } => {
            ("conversation.transferred", Some(conversation), Some(("from", json!(from))))
        }
        Event::ConversationFinalized { conversation } => ("conversation.finalized", Some(conversation), None),
        Event::ConversationUpdated { conversation } => ("conversation.updated", Some(conversation), None),
        Event::AgentStatus { agent, available, online } => {
            ("agent.status", None, Some(("agent", json!({ "id": agent, "available": available, "online": online }))))
        }
        Event::QueueChanged => ("queue.changed", None, None),
        Event::ServerStarted { .. }
        | Event::UserChanged { .. }
        | Event::SessionsEnded { .. }
        | Event::GroupChanged { .. }
        | Event::MailQueued
        | Event::AssignmentAsked { .. } => return None,
    };
    let capability = EVENT_KINDS.iter().find(|(name, _)| *name == kind).map(|(_, capability)| *capability)?;
    if !allows(Some(&caller.user.grants()), capability) {
        return None;
    }
    let mut payload = json!({ "type": kind });
    if let Some(conversation) = conversation {
        // A transfer away is still news to the agent it left.
        let left_me = matches!(event, Event::ConversationTransferred { from, .. } if *from == caller.user.id);
        if !left_me && !can_see(caller, conversation, groups) {
            return left_the_queue(caller, groups, event, conversation);
        }
        payload["conversation"] = conversation_json(conversation);
    }
    if let Some((key, value)) = extra {
        payload[key] = value;
    }
    Some(payload)
}
