//! Staff WebSockets follow the account (issue #12, point 3): signing out, a password change, the
//! session's expiry, revoking the token and deactivation close the user's open sockets at once
//! with a reason; a change of roles or permissions is taken at once without closing.

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
    let heard = heard_within(&mut socket, 700).await;
    assert!(heard.is_empty(), "an orders administrator heard {heard:?}");

    // A permission change alone keeps the socket, too.
    let patched = desk.admin.patch(&path, json!({ "permissions": [] })).await;
    assert_eq!(patched.status(), 200);
    assert!(heard_within(&mut socket, 300).await.is_empty());

    // Supervisor again: she hears again, on the same socket.
    assert_eq!(desk.admin.patch(&path, json!({ "roles": ["supervisor"] })).await.status(), 200);
    desk.customer("c3", "hola").await;
    assert!(kinds(&heard_within(&mut socket, 700).await).contains(&"conversation.created".to_owned()));
    desk.server.stop().await;
}
