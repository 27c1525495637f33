//! How many WebSockets each user and each visitor has open: at most `http.max_sockets_per_user` /
//! `http.max_sockets_per_visitor`; one more is accepted and closed at once with 4008
//! `too_many_sockets` (a browser never sees an HTTP refusal's status, only 1006), its connection
//! slot counted until the close. (Each socket keeps its slot under `http.max_connections`.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};

use crate::domain::ids::{ChannelId, UserId};

/// Close code of a socket refused because its owner already holds the most they may.
pub const CLOSE_TOO_MANY_SOCKETS: u16 = 4008;

/// The largest message or frame a client may send on a socket. Clients send only pings and close
/// frames, so a few KiB is plenty; the library's defaults (64 MiB messages) let a handful of
/// sockets make the server buffer gigabytes.
pub const MAX_CLIENT_MESSAGE: usize = 4 * 1024;

/// Close code (RFC 6455 "message too big") for a client that sent more than `MAX_CLIENT_MESSAGE`.
pub const CLOSE_TOO_BIG: u16 = 1009;

/// How long a socket closed for a message over the limit stays connected, for its close frame to
/// be read.
const CLOSE_LINGER: std::time::Duration = std::time::Duration::from_millis(500);

/// The buffers and limits every socket of this server uses.
pub fn bounded(upgrade: WebSocketUpgrade) -> WebSocketUpgrade {
    upgrade
        .read_buffer_size(MAX_CLIENT_MESSAGE)
        .write_buffer_size(MAX_CLIENT_MESSAGE)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
}

/// Ends a socket whose read failed: a message over the limit is told so with 1009
/// `message_too_big`; any other failure (a broken connection, a protocol error) just ends it.
pub async fn end_after_read_error(socket: &mut WebSocket, err: axum::Error) {
    // The library says so only in its words ("Space limit exceeded: Message too long: …").
    if err.to_string().contains("too long") {
        let started = std::time::Instant::now();
        super::ws::close(socket, (CLOSE_TOO_BIG, "message_too_big")).await;
        // The rest of the oversized message is still unread, and dropping a connection with unread
        // bytes resets it, which can discard the close frame before the client reads it: linger a
        // moment first (the stream cannot be read past the error to wait for the client's answer).
        tokio::time::sleep(CLOSE_LINGER.saturating_sub(started.elapsed())).await;
    }
}

/// Accepts the upgrade only to close it at once with 4008 `too_many_sockets`, so a browser's
/// WebSocket learns why. `held` (the connection's slot) is kept until the close is done.
pub fn refuse<T: Send + 'static>(upgrade: WebSocketUpgrade, held: T) -> Response {
    upgrade
        .on_upgrade(move |mut socket| async move {
            let _held = held;
            super::ws::close(&mut socket, (CLOSE_TOO_MANY_SOCKETS, "too_many_sockets")).await;
        })
        .into_response()
}

/// Whose socket it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    User(UserId),
    /// A widget visitor: their channel and identifier.
    Visitor(ChannelId, String),
}

/// The open sockets per owner.
#[derive(Debug, Default)]
pub struct Sockets {
    open: Mutex<HashMap<Owner, usize>>,
}

/// One open socket, counted until dropped.
#[derive(Debug)]
pub struct Ticket {
    sockets: Arc<Sockets>,
    owner: Owner,
}

impl Sockets {
    /// Counts one more socket for `owner`, unless they already hold `max` (`None`: refuse it).
    pub fn open(self: &Arc<Self>, owner: Owner, max: usize) -> Option<Ticket> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(owner.clone()).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Ticket { sockets: Arc::clone(self), owner })
    }

    pub fn count(&self, owner: &Owner) -> usize {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).get(owner).copied().unwrap_or(0)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self.sockets.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.owner) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.owner);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_holds_at_most_max_and_a_closed_one_frees_its_place() {
        let sockets = Arc::new(Sockets::default());
        let ana = Owner::User(UserId(1));
        let tickets: Vec<Ticket> = (0..3).map(|_| sockets.open(ana.clone(), 3).unwrap()).collect();
        assert!(sockets.open(ana.clone(), 3).is_none(), "a fourth is refused");
        // Another owner is not affected.
        let visitor = Owner::Visitor(ChannelId(1), "v1".into());
        let _theirs = sockets.open(visitor.clone(), 1).unwrap();
        assert!(sockets.open(visitor, 1).is_none());
        drop(tickets);
        assert_eq!(sockets.count(&ana), 0);
        assert!(sockets.open(ana, 3).is_some());
    }
}
