//! The HTTP idle timeout applies to sockets (issue #13, finding 3): the server pings each socket
//! every quarter of `http.idle_timeout` (30 s at most), and closes with 1001 `idle_timeout` one
//! whose client has sent nothing, not even the answer to a ping, for that long. A client that
//! answers (every browser does by itself) stays open; bytes of a frame trickled without end are
//! not an answer.

mod common;

use std::time::{Duration, Instant};

use common::raw_ws::{BINARY, PING, RawSocket};
use common::*;
use serde_json::{Value, json};

const IDLE: Duration = Duration::from_millis(1500);

async fn idle_desk() -> Desk {
    Desk::open_with(|settings| settings.http.idle_timeout = IDLE).await
}

/// A widget channel's visitor token.
async fn visitor_token(desk: &Desk) -> String {
    let widget: Value =
        desk.admin.post("/api/v1/channels", json!({ "kind": "widget", "name": "Sitio" })).await.json().await.unwrap();
    let start = desk.server.post("/widget/v1/visitors", json!({ "channel": widget["public_key"] })).await;
    start.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
}

/// Reads a socket that never answers until the server closes it: the close code and reason, the
/// pings it was sent, and how long after `since` the close came.
async fn until_closed(socket: &mut RawSocket, since: Instant) -> ((u16, String), usize, Duration) {
    let mut pings = 0;
    loop {
        let frame = tokio::time::timeout(IDLE * 4, socket.next_frame()).await;
        let frame = frame.expect("the silent socket stayed open").unwrap().expect("a close frame before the end");
        if frame.opcode == PING {
            pings += 1;
        } else if let Some(close) = frame.close() {
            return (close, pings, since.elapsed());
        }
    }
}

#[tokio::test]
async fn a_socket_whose_client_never_answers_the_pings_is_closed_after_the_idle_timeout() {
    let desk = idle_desk().await;
    let token = visitor_token(&desk).await;
    let addr = desk.server.addr();
    let opened = Instant::now();
    let mut staff = RawSocket::open(addr, "/api/v1/ws", &[("Cookie", &desk.admin.cookie)]).await.unwrap();
    let mut visitor = RawSocket::open(addr, &format!("/widget/v1/ws?token={token}"), &[]).await.unwrap();
    let (staff, visitor) = tokio::join!(until_closed(&mut staff, opened), until_closed(&mut visitor, opened));
    for (name, (close, pings, after)) in [("staff", staff), ("visitor", visitor)] {
        assert_eq!(close, (1001, "idle_timeout".to_owned()), "{name}");
        assert!(pings >= 2, "{name}: only {pings} pings before the close");
        assert!(after >= IDLE && after < IDLE + Duration::from_millis(1000), "{name}: closed after {after:?}");
    }
    // Their connections are let go.
    let deadline = Instant::now() + Duration::from_secs(5);
    while desk.server.running.metrics.http.connections_open.get() > 2 {
        assert!(Instant::now() < deadline, "the idle sockets' connections were kept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    desk.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_whose_clients_answer_the_pings_stay_open_and_hear_events() {
    let desk = idle_desk().await;
    let (agent, mut staff) = desk.agent("ana@example.com", 6, &[]).await;
    let token = visitor_token(&desk).await;
    let said = desk
        .server
        .client
        .post(desk.server.url("/widget/v1/messages"))
        .bearer_auth(&token)
        .json(&json!({ "text": "hola" }))
        .send()
        .await
        .unwrap();
    let id = said.json::<Value>().await.unwrap()["conversation"]["id"].clone();
    let (tls, _) = handshake(desk.server.addr(), &[b"http/1.1"]).await.unwrap();
    let url = format!("wss://localhost:{}/widget/v1/ws?token={token}", desk.server.addr().port());
    let (mut visitor, _) = tokio_tungstenite::client_async(url, tls).await.unwrap();
    // Three idle timeouts with nothing to hear but pings, which the library answers as it reads.
    let quiet = u64::try_from((IDLE * 3).as_millis()).unwrap();
    tokio::join!(heard_within(&mut staff, quiet), heard_within(&mut visitor, quiet));
    // Both are still there: the agent replies, and each hears it.
    let path = format!("/api/v1/conversations/{id}/messages");
    assert_eq!(agent.post(&path, json!({ "text": "¿En qué te ayudo?" })).await.status(), 201);
    let staff_heard = next_event(&mut staff, "message.created", 3).await;
    assert_eq!(staff_heard["message"]["text"], "¿En qué te ayudo?");
    let visitor_heard = next_event(&mut visitor, "message", 3).await;
    assert_eq!(visitor_heard["message"]["text"], "¿En qué te ayudo?");
    desk.server.stop().await;
}

#[tokio::test]
async fn a_frame_trickled_without_end_does_not_keep_a_socket_alive() {
    let desk = idle_desk().await;
    let token = visitor_token(&desk).await;
    let opened = Instant::now();
    let mut socket = RawSocket::open(desk.server.addr(), &format!("/widget/v1/ws?token={token}"), &[]).await.unwrap();
    // A frame within the size limit, whose bytes come one every 100 ms and never all.
    socket.start_frame(BINARY, 1000).await.unwrap();
    let closed = async {
        loop {
            tokio::select! {
                frame = socket.next_frame() => {
                    let frame = frame.unwrap().expect("a close frame before the end");
                    if let Some(close) = frame.close() {
                        return (close, opened.elapsed());
                    }
                }
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    let _ = socket.send_raw(b"x").await;
                }
            }
        }
    };
    let (close, after) = tokio::time::timeout(IDLE * 4, closed).await.expect("the trickling socket stayed open");
    assert_eq!(close, (1001, "idle_timeout".to_owned()));
    assert!(after >= IDLE && after < IDLE + Duration::from_millis(1000), "closed after {after:?}");
    desk.server.stop().await;
}
