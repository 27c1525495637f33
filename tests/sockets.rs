//! Staff WebSockets follow the account (issue #12, point 3): signing out, a password change, the
//! session's expiry, revoking the token and deactivation close the user's open sockets at once
//! with a reason; a change of roles or permissions is taken at once without closing, also when
//! the change is among the events a socket that fell behind skipped.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

fn kinds(events: &[Value]) -> Vec<String> {
    events.iter().map(|event| event["type"].as_str().unwrap_or("").to_owned()).collect()
}

#[tokio::test]
async fn signing_out_closes_the_sessions_sockets() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let ana = server.user(&admin, "ana@example.com", &["supervisor"], &[]).await;
    let mut socket = ana.socket(&server).await;
    let asked = Instant::now();
    assert_eq!(ana.post("/api/v1/auth/logout", json!({})).await.status(), 204);
    let (code, reason, _) = closing(&mut socket, 3).await;
    assert_eq!((code, reason.as_str()), (4001, "session_ended"));
    assert!(asked.elapsed() < Duration::from_secs(1), "closed after {:?}", asked.elapsed());
    server.stop().await;
}

#[tokio::test]
async fn a_password_change_closes_the_other_sessions_sockets_and_keeps_this_one() {
    let desk = Desk::open().await;
    let server = &desk.server;
    let here = &desk.admin;
    let elsewhere = Staff::from_response(server, server.login("admin@localhost", PASSWORD).await).await;
    let mut here_socket = here.socket(server).await;
    let mut elsewhere_socket = elsewhere.socket(server).await;
    let body = json!({ "current_password": PASSWORD, "new_password": "another long enough password" });
    assert_eq!(here.post("/api/v1/me/password", body).await.status(), 200);
    let (code, reason, _) = closing(&mut elsewhere_socket, 1).await;
    assert_eq!((code, reason.as_str()), (4001, "session_ended"));
    // The session that changed it goes on, and still hears what happens.
    desk.customer("c1", "hola").await;
    let heard = heard_within(&mut here_socket, 1000).await;
    assert!(kinds(&heard).contains(&"conversation.created".to_owned()), "{heard:?}");
    desk.server.stop().await;
}

#[tokio::test]
async fn a_socket_closes_when_its_session_expires() {
    let server = TestServer::start_with(std::sync::Arc::new(tempfile::tempdir().unwrap()), |settings| {
        settings.auth.session_max = Duration::from_secs(2);
    })
    .await;
    let admin = server.admin().await;
    let opened = Instant::now();
    let mut socket = admin.socket(&server).await;
    let (code, reason, _) = closing(&mut socket, 5).await;
    assert_eq!((code, reason.as_str()), (4001, "session_expired"));
    assert!(opened.elapsed() < Duration::from_millis(3500), "closed after {:?}", opened.elapsed());
    server.stop().await;
}

#[tokio::test]
async fn revoking_a_token_closes_its_sockets() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let created: Value = admin.post("/api/v1/me/tokens", json!({ "name": "panel" })).await.json().await.unwrap();
    let bearer = format!("Bearer {}", created["token"].as_str().unwrap());
    let mut socket = open_socket(&server, &[("authorization", &bearer)]).await.unwrap();
    assert_eq!(admin.delete(&format!("/api/v1/me/tokens/{}", created["id"])).await.status(), 204);
    let (code, reason, _) = closing(&mut socket, 1).await;
    assert_eq!((code, reason.as_str()), (4001, "token_revoked"));
    server.stop().await;
}

#[tokio::test]
async fn a_deactivated_agents_socket_closes_within_a_second_and_hears_nothing_after() {
    let desk = Desk::open().await;
    let (ana, mut socket) = desk.agent("ana@example.com", 2, &[]).await;
    desk.customer("c1", "hola").await;
    next_event(&mut socket, "conversation.assigned", 5).await;
    // Everything before the deactivation has been heard.
    heard_within(&mut socket, 500).await;
    let asked = Instant::now();
    let patched = desk.admin.patch(&format!("/api/v1/users/{}", ana.id()), json!({ "active": false })).await;
    assert_eq!(patched.status(), 200);
    let (code, reason, heard) = closing(&mut socket, 2).await;
    assert!(asked.elapsed() < Duration::from_secs(1), "closed after {:?}", asked.elapsed());
    assert_eq!((code, reason.as_str()), (4003, "account_deactivated"));
    // Her conversation went back to the queue in the same change: she must not hear of it.
    assert!(heard.is_empty(), "heard after the deactivation: {heard:?}");
    desk.server.stop().await;
}

#[tokio::test]
async fn a_change_of_roles_or_permissions_is_taken_at_once_without_closing() {
    let desk = Desk::open().await;
    let server = &desk.server;
    let sara = server.user(&desk.admin, "sara@example.com", &["supervisor"], &[]).await;
    let mut socket = sara.socket(server).await;
    let path = format!("/api/v1/users/{}", sara.id());
    desk.customer("c1", "hola").await;
    assert!(kinds(&heard_within(&mut socket, 700).await).contains(&"conversation.created".to_owned()));

    // No longer in the conversations area: her open socket stops hearing of them at once.
    let patched = desk.admin.patch(&path, json!({ "roles": ["orders_admin"], "permissions": ["reconcile"] })).await;
    assert_eq!(patched.status(), 200);
    desk.customer("c2", "hola").await;
    // Only that her account changed (the page re-reads /me), nothing of the conversations.
    let heard = kinds(&heard_within(&mut socket, 700).await);
    assert_eq!(heard, ["me.changed"], "an orders administrator heard {heard:?}");

    // A permission change alone keeps the socket, too, and is told likewise.
    let patched = desk.admin.patch(&path, json!({ "permissions": [] })).await;
    assert_eq!(patched.status(), 200);
    assert_eq!(kinds(&heard_within(&mut socket, 300).await), ["me.changed"]);

    // Supervisor again: she hears again, on the same socket.
    assert_eq!(desk.admin.patch(&path, json!({ "roles": ["supervisor"] })).await.status(), 200);
    desk.customer("c3", "hola").await;
    assert!(kinds(&heard_within(&mut socket, 700).await).contains(&"conversation.created".to_owned()));
    desk.server.stop().await;
}

/// Sends `count` customer messages of `bytes` bytes, 16 at a time.
async fn flood(desk: &Desk, count: usize, bytes: usize) {
    use futures_util::StreamExt;
    let text = "x".repeat(bytes);
    let sent = futures_util::stream::iter(0..count)
        .map(|n| {
            let text = &text;
            async move { desk.customer(&format!("c{}", n % 8), text).await.status() }
        })
        .buffer_unordered(16);
    let statuses: Vec<_> = sent.collect().await;
    assert!(statuses.iter().all(|status| status.is_success()), "a message was refused");
}

/// Reads the backlog of a socket until it closes (or stays open 5 s after the backlog): its close
/// code and reason, and how many resyncs came before.
async fn close_after_backlog(socket: &mut Socket) -> (Option<(u16, String)>, usize) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let mut resyncs = 0;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
        match frame {
            Message::Text(text) if text.contains(r#""type":"resync""#) => resyncs += 1,
            Message::Close(Some(frame)) => return (Some((u16::from(frame.code), frame.reason.to_string())), resyncs),
            _ => {}
        }
    }
    (None, resyncs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_fell_behind_rechecks_the_account_before_its_resync() {
    let desk = Desk::open().await;
    let sara = desk.server.user(&desk.admin, "sara@example.com", &["supervisor"], &[]).await;
    // Her socket stops reading: once the connection's buffers are full, the server's sends wait.
    let mut socket = sara.socket(&desk.server).await;
    flood(&desk, 1000, 9_500).await;
    // Deactivated while her socket is stuck, then more than the event buffer (4,096) goes by: the
    // change is among the events her socket skips.
    let patched = desk.admin.patch(&format!("/api/v1/users/{}", sara.id()), json!({ "active": false })).await;
    assert_eq!(patched.status(), 200);
    flood(&desk, 4500, 1).await;
    // She reads again: the socket closes as deactivated, before any resync under her old roles.
    let (close, resyncs) = close_after_backlog(&mut socket).await;
    assert_eq!(close, Some((4003, "account_deactivated".to_owned())), "after {resyncs} resync(s)");
    assert_eq!(resyncs, 0, "a resync was sent before the re-check");
    desk.server.stop().await;
}
