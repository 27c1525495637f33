//! Transfers say what happened (issue 12, point 6): a transfer that would change nothing is refused
//! with a clear code, and every transfer, assignment and finalization leaves a line for staff
//! (who, what, to whom) that never reaches the customer.

mod common;

use common::*;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn lines(staff: &Staff, conversation: &Value) -> Vec<Value> {
    let messages: Vec<Value> =
        staff.get(&format!("/api/v1/conversations/{conversation}/messages")).await.json().await.unwrap();
    messages.into_iter().filter(|m| !m["activity"].is_null()).collect()
}

fn summary(line: &Value) -> (String, Option<String>, Option<String>) {
    let name = |party: &Value| party["name"].as_str().map(str::to_owned);
    let activity = &line["activity"];
    (activity["kind"].as_str().unwrap().to_owned(), name(&activity["actor"]), name(&activity["target"]))
}

async fn group(desk: &Desk, name: &str, members: &[u64]) -> Value {
    desk.admin.post("/api/v1/groups", json!({ "name": name, "members": members })).await.json().await.unwrap()
}

#[tokio::test]
async fn transfers_that_would_change_nothing_are_refused_clearly() {
    let desk = Desk::open().await;
    let (ana, _a) = desk.agent("ana@example.com", 3, &["transfer"]).await;
    let (bruno, _b) = desk.agent("bruno@example.com", 3, &[]).await;
    let solo = group(&desk, "Solo Ana", &[ana.id()]).await;
    let shared = group(&desk, "Soporte", &[ana.id(), bruno.id()]).await;
    let body: Value = desk.customer("c1", "hola").await.json().await.unwrap();
    let id = body["conversation"]["id"].clone();
    assert_eq!(desk.conversation(&id).await["assignee"]["id"], ana.id(), "equitable: the first agent by id");
    let path = format!("/api/v1/conversations/{id}/transfer");
    let alone = ana.post(&path, json!({ "group_id": solo["id"] })).await;
    assert_eq!((alone.status(), error_code(alone).await.as_str()), (StatusCode::CONFLICT, "transfer_to_only_yourself"));
    let moved = ana.post(&path, json!({ "group_id": shared["id"] })).await;
    assert_eq!(moved.status(), StatusCode::OK);
    // Bruno got it; moving it to the group it is in is refused.
    let again = bruno.post(&format!("/api/v1/conversations/{id}/transfer"), json!({ "group_id": shared["id"] })).await;
    assert_eq!(again.status(), StatusCode::FORBIDDEN, "Bruno has no transfer permission");
    let same =
        desk.admin.post(&format!("/api/v1/conversations/{id}/transfer"), json!({ "group_id": shared["id"] })).await;
    assert_eq!((same.status(), error_code(same).await.as_str()), (StatusCode::CONFLICT, "transfer_to_same_group"));
    // Nor to the agent it is already with, by a transfer or a supervisor's assignment.
    let bruno_id = json!({ "agent_id": bruno.id() });
    let to_him = desk.admin.post(&format!("/api/v1/conversations/{id}/transfer"), bruno_id.clone()).await;
    assert_eq!((to_him.status(), error_code(to_him).await.as_str()), (StatusCode::CONFLICT, "already_with_agent"));
    let assigned = desk.admin.post(&format!("/api/v1/conversations/{id}/assign"), bruno_id).await;
    assert_eq!((assigned.status(), error_code(assigned).await.as_str()), (StatusCode::CONFLICT, "already_with_agent"));
    let messages: Value = desk.admin.get(&format!("/api/v1/conversations/{id}/messages")).await.json().await.unwrap();
    let lines = messages.as_array().unwrap().iter().filter(|m| !m["activity"].is_null()).count();
    assert_eq!(lines, 3, "assigned to Ana, Ana's transfer, assigned to Bruno: the refusals wrote nothing");
    desk.server.stop().await;
}

#[tokio::test]
async fn every_move_leaves_a_staff_line_the_customer_never_sees() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let channel: Value =
        admin.post("/api/v1/channels", json!({ "kind": "widget", "name": "Web" })).await.json().await.unwrap();
    let ana = server.user(&admin, "ana@example.com", &["agent"], &["transfer"]).await;
    let bruno = server.user(&admin, "bruno@example.com", &["agent"], &[]).await;
    let mut sockets = Vec::new();
    for agent in [&ana, &bruno] {
        sockets.push(agent.socket(&server).await);
        agent
            .request(reqwest::Method::PUT, "/api/v1/me/availability")
            .json(&json!({ "available": true }))
            .send()
            .await
            .unwrap();
    }
    for (who, first, last) in [(&ana, "Ana", "Ruiz"), (&bruno, "Bruno", "Díaz"), (&admin, "Sergio", "Paz")] {
        let renamed = admin
            .patch(&format!("/api/v1/users/{}", who.id()), json!({ "first_name": first, "last_name": last }))
            .await;
        assert_eq!(renamed.status(), StatusCode::OK);
    }
    let soporte: Value =
        admin.post("/api/v1/groups", json!({ "name": "Soporte", "members": [bruno.id()] })).await.json().await.unwrap();
    let start: Value =
        server.post("/widget/v1/visitors", json!({ "channel": channel["public_key"] })).await.json().await.unwrap();
    let token = start["token"].as_str().unwrap().to_owned();
    let visitor =
        |method: reqwest::Method, path: &str| server.client.request(method, server.url(path)).bearer_auth(&token);
    let sent: Value = visitor(reqwest::Method::POST, "/widget/v1/messages")
        .json(&json!({ "text": "hola" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = sent["conversation"]["id"].clone();
    let (tls, _) = handshake(server.addr(), &[b"http/1.1"]).await.unwrap();
    let url = format!("wss://localhost:{}/widget/v1/ws?token={token}", server.addr().port());
    let (mut live, _) = tokio_tungstenite::client_async(url, tls).await.unwrap();

    // Ana (first by id) has it; she transfers to Soporte, where Bruno takes it; the supervisor
    // (the administrator) gives it back to Ana, who finalizes.
    let moved = ana.post(&format!("/api/v1/conversations/{id}/transfer"), json!({ "group_id": soporte["id"] })).await;
    assert_eq!(moved.status(), StatusCode::OK);
    let staff_event = next_event(&mut sockets[1], "message.created", 5).await;
    assert_eq!(staff_event["message"]["activity"]["kind"], "transferred", "staff hear of the line live");
    let assigned = admin.post(&format!("/api/v1/conversations/{id}/assign"), json!({ "agent_id": ana.id() })).await;
    assert_eq!(assigned.status(), StatusCode::OK);
    let finalized = ana.post(&format!("/api/v1/conversations/{id}/finalize"), json!({})).await;
    assert_eq!(finalized.status(), StatusCode::OK);

    let got: Vec<_> = lines(&admin, &id).await.iter().map(summary).collect();
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        got,
        vec![
            ("assigned".to_owned(), None, some("Ana Ruiz")),
            ("transferred".to_owned(), some("Ana Ruiz"), some("Soporte")),
            ("assigned".to_owned(), None, some("Bruno Díaz")),
            ("assigned".to_owned(), some("Sergio Paz"), some("Ana Ruiz")),
            ("finalized".to_owned(), some("Ana Ruiz"), None),
        ],
    );
    let texts: Vec<Value> = lines(&admin, &id).await.iter().map(|line| line["text"].clone()).collect();
    assert_eq!(texts[1], "Ana Ruiz transferred to Soporte", "programs get the line in English");
    assert_eq!(texts[3], "Assigned to Ana Ruiz by Sergio Paz");
    for line in lines(&admin, &id).await {
        assert_eq!(line["private"], true);
    }

    // The visitor: her own message, nothing of the lines, polling or live.
    let shown: Value =
        visitor(reqwest::Method::GET, "/widget/v1/conversation").send().await.unwrap().json().await.unwrap();
    let texts: Vec<&str> = shown["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, vec!["hola"]);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(800);
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, live.next()).await {
        if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
            let event: Value = serde_json::from_str(&text).unwrap();
            assert_ne!(event["type"], "message", "no line reaches the visitor live: {event}");
        }
    }
    server.stop().await;
}

async fn set_available(agent: &Staff, available: bool) {
    let answer =
        agent.request(reqwest::Method::PUT, "/api/v1/me/availability").json(&json!({ "available": available }));
    assert_eq!(answer.send().await.unwrap().status(), StatusCode::OK);
}

async fn set_mode(desk: &Desk, agent: &Staff, mode: &str) {
    let patched = desk.admin.patch(&format!("/api/v1/agents/{}", agent.id()), json!({ "mode": mode })).await;
    assert_eq!(patched.status(), StatusCode::OK);
}

/// The other members must take work now, not merely be members: else routing gives it back.
#[tokio::test]
async fn a_transfer_to_a_group_where_nobody_else_takes_work_now_is_refused() {
    let desk = Desk::open().await;
    let (ana, _a) = desk.agent("ana@example.com", 3, &["transfer"]).await;
    let (bruno, _b) = desk.agent("bruno@example.com", 3, &[]).await;
    let soporte = group(&desk, "Soporte", &[ana.id(), bruno.id()]).await;
    let body: Value = desk.customer("c1", "hola").await.json().await.unwrap();
    let id = body["conversation"]["id"].clone();
    assert_eq!(desk.conversation(&id).await["assignee"]["id"], ana.id());
    let path = format!("/api/v1/conversations/{id}/transfer");
    let refused = || async {
        let answer = ana.post(&path, json!({ "group_id": soporte["id"] })).await;
        (answer.status(), error_code(answer).await)
    };
    let only_yourself = (StatusCode::CONFLICT, "transfer_to_only_yourself".to_owned());
    set_available(&bruno, false).await;
    assert_eq!(refused().await, only_yourself, "Bruno is not accepting conversations");
    set_available(&bruno, true).await;
    set_mode(&desk, &bruno, "manual").await;
    assert_eq!(refused().await, only_yourself, "Bruno takes them by hand: routing gives him none");
    assert_eq!(desk.conversation(&id).await["assignee"]["id"], ana.id(), "nothing moved");
    set_mode(&desk, &bruno, "automatic").await;
    let moved = ana.post(&path, json!({ "group_id": soporte["id"] })).await;
    assert_eq!(moved.status(), StatusCode::OK);
    assert_eq!(desk.conversation(&id).await["assignee"]["id"], bruno.id(), "Bruno takes work: it went to him");
    desk.server.stop().await;
}

#[tokio::test]
async fn a_conversation_transferred_to_someone_is_new_to_them() {
    let desk = Desk::open().await;
    let (ana, _a) = desk.agent("ana@example.com", 3, &["transfer"]).await;
    let (bruno, _b) = desk.agent("bruno@example.com", 3, &[]).await;
    let body: Value = desk.customer("c1", "hola").await.json().await.unwrap();
    let id = body["conversation"]["id"].clone();
    assert_eq!(desk.conversation(&id).await["assignee"]["id"], ana.id());
    assert_eq!(ana.post(&format!("/api/v1/conversations/{id}/read"), json!({})).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(desk.conversation(&id).await["unread"], false, "Ana read it");
    let moved = ana.post(&format!("/api/v1/conversations/{id}/transfer"), json!({ "agent_id": bruno.id() })).await;
    assert_eq!(moved.status(), StatusCode::OK);
    let now = desk.conversation(&id).await;
    assert_eq!(
        (now["assignee"]["id"].clone(), now["unread"].clone()),
        (json!(bruno.id()), json!(true)),
        "new to Bruno"
    );
    desk.server.stop().await;
}
