//! `GET /widget/v1/ws?token=`: a visitor's replies and queue moves, live. (A browser cannot set
//! headers on a WebSocket, hence the token in the query.) A visitor holds at most
//! `http.max_sockets_per_visitor` sockets and an address `http.max_sockets_per_address`.
//!
//! A socket hears only its visitor's events (`visitor_hub`, by their contact) and keeps what it
//! knows of them (their newest conversation, from the events themselves). A queue move while it
//! waits looks its place up in the live snapshot (no store read) and is told only if the place,
//! the overflow or the status changed. Until the visitor writes, no event can name them and the
//! socket hears nothing; their first message moves their sockets under their new contact.

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::http::Uri;
use axum::response::Response;
use serde_json::{Value, json};

use super::guard::ClientIp;
use super::live_socket::{End, LiveSocket};
use super::sockets::{self, Owner};
use super::visitor_hub::{Delivery, Subscription};
use super::widget::{current, limit, place, public_message, status_json, visitor};
use super::{ApiError, AppState};
use crate::core::Event;
use crate::domain::conversation::{Author, Conversation, Status, Visitor};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::{ContactId, ConversationId};
use crate::domain::routing::Place;
use crate::server::ConnectionSlot;

pub async fn socket(
    State(state): State<AppState>,
    Extension(ClientIp(address)): Extension<ClientIp>,
    slot: Option<Extension<ConnectionSlot>>,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    limit(&state, address)?;
    let upgrade =
        upgrade.map_err(|_| ApiError::new(ErrorCode::WebsocketRequired, "Open this address as a WebSocket."))?;
    let token = uri.query().and_then(|q| q.strip_prefix("token=")).unwrap_or("").to_owned();
    let visitor = visitor(&state, &token).await?;
    let slot = slot.map(|Extension(slot)| slot);
    let owner = Owner::Visitor(visitor.channel, visitor.identifier.clone());
    let most = state.settings.http.max_sockets_per_visitor;
    let live = state.clone();
    Ok(sockets::accept(&state, upgrade, slot, (owner, most), address, move |socket| session(live, visitor, socket)))
}

/// What a socket knows of its visitor.
struct Mine {
    contact: Option<ContactId>,
    conversation: Option<Conversation>,
    events: Subscription,
    /// The last status told the client: a queue move that changes none of it is not sent.
    told: Option<(ConversationId, Status, Option<Place>)>,
}

impl Mine {
    /// Read from the store, subscribed first (at the start, after their first message, after
    /// falling behind): what changes after the read is heard.
    async fn read(state: &AppState, visitor: &Visitor) -> Result<Mine, ApiError> {
        let key = (visitor.channel, visitor.identifier.clone());
        // Listed before the contact is read: a first message written meanwhile finds it.
        let unknown = state.visitor_hub.subscribe(key.clone(), None);
        let (channel, identifier) = key.clone();
        let contact = state.read(move |read| read.contact_by_identity(channel, &identifier)).await?;
        let events = match contact {
            Some(contact) => state.visitor_hub.subscribe(key, Some(contact)),
            None => unknown,
        };
        let mine = Mine { contact, conversation: current(state, visitor).await?, events, told: None };
        mine.update_waiting();
        Ok(mine)
    }

    /// Whether `conversation` is the visitor's newest one (kept, as the event tells it).
    fn take(&mut self, conversation: &Conversation) -> bool {
        if self.contact != Some(conversation.contact)
            || self.conversation.as_ref().is_some_and(|c| c.id > conversation.id)
        {
            return false;
        }
        self.conversation = Some(conversation.clone());
        self.update_waiting();
        true
    }

    fn waiting(&self) -> bool {
        self.conversation.as_ref().is_some_and(|c| c.status == Status::Queued)
    }

    fn update_waiting(&self) {
        self.events.set_waiting(self.waiting());
    }
}

async fn session(state: AppState, visitor: Visitor, socket: WebSocket) {
    let mut socket = LiveSocket::new(socket, state.settings.http.idle_timeout);
    let mut stopping = state.stopping.clone();
    let Ok(mut mine) = Mine::read(&state, &visitor).await else {
        return socket.finish(End::Left).await;
    };
    loop {
        let payload = tokio::select! {
            _ = crate::shutdown::stop_requested(&mut stopping) => break,
            delivery = mine.events.next() => match delivery {
                Some(Delivery::Event(event)) => payload(&state, &visitor, &mut mine, &event).await,
                // Their first message (whose events went by before this socket knew they were
                // theirs), or the socket fell behind: read again, and have the client read again.
                Some(Delivery::Wrote) | None => {
                    mine = match Mine::read(&state, &visitor).await { Ok(mine) => mine, Err(_) => break };
                    Some(json!({ "type": "resync" }))
                }
            },
            end = socket.ended() => return socket.finish(end).await,
        };
        if let Some(payload) = payload
            && socket.send_json(&payload).await.is_err()
        {
            break;
        }
    }
}

/// Only this visitor's conversation, only public messages; queue moves as a new position. Others'
/// events are told apart by their contact, without reading anything.
async fn payload(state: &AppState, visitor: &Visitor, mine: &mut Mine, event: &Event) -> Option<Value> {
    let conversation = match event {
        Event::MessageCreated { conversation, message } => {
            if conversation.channel != visitor.channel || !mine.take(conversation) || !message.for_customer() {
                return None;
            }
            let name = match message.author {
                Author::Agent(agent) => {
                    state.read(move |read| read.user(agent)).await.ok().flatten().map(|u| u.first_name)
                }
                _ => None,
            };
            return Some(json!({ "type": "message", "message": public_message(message, name.as_deref()) }));
        }
        Event::ConversationCreated { conversation }
        | Event::ConversationAssigned { conversation }
        | Event::ConversationTransferred { conversation, .. }
        | Event::ConversationFinalized { conversation }
        | Event::ConversationUpdated { conversation } => {
            if conversation.channel != visitor.channel || !mine.take(conversation) {
                return None;
            }
            conversation.clone()
        }
        // Someone's place moved: a waiting visitor's new place is in the snapshot. Out of line,
        // its conversation's own event tells the rest.
        Event::QueueChanged if mine.waiting() => {
            let waiting = mine.conversation.clone()?;
            place(state, &waiting)?;
            waiting
        }
        _ => return None,
    };
    let place = place(state, &conversation);
    let told = Some((conversation.id, conversation.status, place));
    // A queue move that left this visitor's place as it was is not news (an event of their own
    // conversation is told all the same).
    if matches!(event, Event::QueueChanged) && told == mine.told {
        return None;
    }
    mine.told = told;
    Some(json!({ "type": "status", "conversation": status_json(&conversation, place) }))
}
