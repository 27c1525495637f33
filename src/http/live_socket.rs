//! One open WebSocket of this server, staff or visitor: what its client may send (4 KiB a
//! message, else 1009 `message_too_big`), and how long it may stay silent. The server pings every
//! quarter of `http.idle_timeout` (at most 30 s), and a socket whose client has sent nothing for
//! that long, not even the answer to a ping (which browsers give by themselves), is closed with
//! 1001 `idle_timeout`; a send the client does not take within that window ends it too.

use std::pin::Pin;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use serde_json::Value;
use tokio::time::{Instant, Interval, MissedTickBehavior, Sleep};

/// The largest message or frame a client may send on a socket. Clients send only pings and close
/// frames, so a few KiB is plenty; the library's defaults (64 MiB messages) let a handful of
/// sockets make the server buffer gigabytes.
pub const MAX_CLIENT_MESSAGE: usize = 4 * 1024;

/// Close code (RFC 6455 "message too big") for a client that sent more than `MAX_CLIENT_MESSAGE`.
pub const CLOSE_TOO_BIG: u16 = 1009;

/// Close code (RFC 6455 "going away") for a client silent for the idle timeout.
pub const CLOSE_IDLE: u16 = 1001;

/// Pings are sent at least this often.
const MAX_PING_EVERY: Duration = Duration::from_secs(30);

/// How long a socket closed for a message over the limit stays connected, for its close frame to
/// be read.
const CLOSE_LINGER: Duration = Duration::from_millis(500);

/// The buffers and limits every socket of this server uses.
pub fn bounded(upgrade: WebSocketUpgrade) -> WebSocketUpgrade {
    upgrade
        .read_buffer_size(MAX_CLIENT_MESSAGE)
        .write_buffer_size(MAX_CLIENT_MESSAGE)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
}

/// Why a socket ends.
#[derive(Debug)]
pub enum End {
    /// The client closed it, or the connection broke.
    Left,
    /// The client sent a message or frame over the limit.
    TooBig,
    /// The client sent nothing for the idle timeout.
    Silent,
    /// The server ends it with this close code and reason.
    Close(u16, &'static str),
}

/// An open socket, pinged, with the moment its client will have been silent too long.
pub struct LiveSocket {
    socket: WebSocket,
    ping: Interval,
    idle: Duration,
    silent_at: Pin<Box<Sleep>>,
}

/// The client is gone or does not read what it is sent: end the socket.
#[derive(Debug)]
pub struct Gone;

impl LiveSocket {
    pub fn new(socket: WebSocket, idle: Duration) -> LiveSocket {
        let every = (idle / 4).clamp(Duration::from_millis(10), MAX_PING_EVERY);
        let mut ping = tokio::time::interval_at(Instant::now() + every, every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        LiveSocket { socket, ping, idle, silent_at: Box::pin(tokio::time::sleep(idle)) }
    }

    /// Reads what the client sends (pings, answers to pings, anything small; ignored but for
    /// being heard) and pings it, until the socket must end. Cancel-safe, for `select!`.
    pub async fn ended(&mut self) -> End {
        loop {
            tokio::select! {
                // What the client sent is heard before its silence is judged.
                biased;
                incoming = self.socket.recv() => match incoming {
                    Some(Ok(Message::Close(_))) | None => return End::Left,
                    // The library says so only in its words ("Space limit exceeded: Message too long: …").
                    Some(Err(err)) if err.to_string().contains("too long") => return End::TooBig,
                    Some(Err(_)) => return End::Left,
                    Some(Ok(_)) => self.silent_at.as_mut().reset(Instant::now() + self.idle),
                },
                _ = &mut self.silent_at => return End::Silent,
                _ = self.ping.tick() => {
                    if self.send(Message::Ping(Vec::new().into())).await.is_err() {
                        return End::Left;
                    }
                }
            }
        }
    }

    /// Sends a JSON message.
    pub async fn send_json(&mut self, payload: &Value) -> Result<(), Gone> {
        self.send(Message::Text(payload.to_string().into())).await
    }

    /// A client that does not take what it is sent before its silence would end it is gone (a
    /// live one reads, to answer pings); waiting longer would keep its socket past the timeout.
    async fn send(&mut self, message: Message) -> Result<(), Gone> {
        match tokio::time::timeout_at(self.silent_at.deadline(), self.socket.send(message)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(Gone),
        }
    }

    /// Ends the socket, saying why when there is someone to tell.
    pub async fn finish(mut self, end: End) {
        match end {
            End::Left => {}
            End::Silent => close(&mut self.socket, (CLOSE_IDLE, "idle_timeout")).await,
            End::Close(code, reason) => close(&mut self.socket, (code, reason)).await,
            End::TooBig => {
                let started = std::time::Instant::now();
                close(&mut self.socket, (CLOSE_TOO_BIG, "message_too_big")).await;
                // The rest of the oversized message is still unread, and dropping a connection with
                // unread bytes resets it, which can discard the close frame before the client reads
                // it: linger a moment first (the stream cannot be read past the error to wait for
                // the client's answer).
                tokio::time::sleep(CLOSE_LINGER.saturating_sub(started.elapsed())).await;
            }
        }
    }
}

/// Ends a socket with a close frame that says why (`reason` is a code the UI translates).
pub async fn close(socket: &mut WebSocket, (code, reason): (u16, &'static str)) {
    let frame = CloseFrame { code, reason: reason.into() };
    // A client that does not read cannot hold the close up: it is bounded like the wait below.
    let sent = tokio::time::timeout(Duration::from_secs(2), socket.send(Message::Close(Some(frame)))).await;
    if !matches!(sent, Ok(Ok(()))) {
        return;
    }
    // Give the client a moment to answer the close, then drop the connection either way.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}
