//! What a client may send on a socket is bounded (issue #13, finding 3, first part): clients send
//! only pings and close frames, so a message or frame over 4 KiB closes the socket with 1009
//! `message_too_big` instead of being buffered (the library's default allowed 64 MiB per socket).

mod common;

use std::time::Duration;

use common::*;
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const TOO_BIG: usize = 64 * 1024;

#[tokio::test]
async fn a_staff_socket_closes_on_a_message_over_the_limit_and_keeps_small_ones() {
    let desk = Desk::open().await;
    let mut calm = desk.admin.socket(&desk.server).await;
    let mut greedy = desk.admin.socket(&desk.server).await;
    calm.send(Message::Text("hello".into())).await.unwrap();
    calm.send(Message::Ping(vec![1; 100].into())).await.unwrap();
    greedy.send(Message::Text("x".repeat(TOO_BIG).into())).await.unwrap();
    let (code, reason, _) = closing(&mut greedy, 3).await;
    assert_eq!((code, reason.as_str()), (1009, "message_too_big"));
    // The calm socket still hears what happens.
    desk.customer("c1", "hola").await;
    let heard = heard_within(&mut calm, 700).await;
    assert!(heard.iter().any(|event| event["type"] == "conversation.created"), "heard {heard:?}");
    desk.server.stop().await;
}

#[tokio::test]
async fn a_visitor_socket_closes_on_a_message_over_the_limit() {
    let desk = Desk::open().await;
    let server = &desk.server;
    let widget: Value =
        desk.admin.post("/api/v1/channels", json!({ "kind": "widget", "name": "Sitio" })).await.json().await.unwrap();
    let start = server.post("/widget/v1/visitors", json!({ "channel": widget["public_key"] })).await;
    let token = start.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    let url = format!("wss://localhost:{}/widget/v1/ws?token={token}", server.addr().port());
    let (tls, _) = handshake(server.addr(), &[b"http/1.1"]).await.unwrap();
    let (mut socket, _) = tokio_tungstenite::client_async(url, tls).await.unwrap();
    socket.send(Message::Binary(vec![0; TOO_BIG].into())).await.unwrap();
    let (code, reason, _) = closing(&mut socket, 3).await;
    assert_eq!((code, reason.as_str()), (1009, "message_too_big"));
    // The server let the connection go.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while server.running.metrics.http.connections_open.get() > 1 {
        assert!(tokio::time::Instant::now() < deadline, "the closed socket's connection was kept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    desk.server.stop().await;
}
