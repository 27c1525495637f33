//! A full queue loses nothing (R-CONV-3b, issue 12 point 9): past a group's queue limit a
//! customer's message is still stored, the customer is told all agents are busy (the widget) or
//! gets a plain "queued in overflow" answer (the API channel), staff see the overflow in the panel
//! and the list, and the overflow enters the queue in order as room frees.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A group with a queue limit of one, and an agent of it who is not accepting conversations yet.
async fn full_desk() -> (Desk, Staff, Socket, Value) {
    let desk = Desk::open().await;
    let (ana, socket) = desk.agent("ana@example.com", 1, &[]).await;
    set_available(&ana, false).await;
    let group: Value = desk
        .admin
        .post("/api/v1/groups", json!({ "name": "Ventas", "members": [ana.id()], "rules": { "max_queue": 1 } }))
        .await
        .json()
        .await
        .unwrap();
    (desk, ana, socket, group)
}

async fn set_available(agent: &Staff, available: bool) {
    let answer = agent
        .request(Method::PUT, "/api/v1/me/availability")
        .json(&json!({ "available": available }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
}

async fn texts_of(admin: &Staff, conversation: &Value) -> Vec<String> {
    let messages: Vec<Value> =
        admin.get(&format!("/api/v1/conversations/{conversation}/messages")).await.json().await.unwrap();
    messages.iter().map(|m| m["text"].as_str().unwrap_or("").to_owned()).collect()
}

#[tokio::test]
async fn a_visitor_writing_to_a_full_queue_is_told_all_agents_are_busy_and_her_words_are_kept() {
    let (desk, ana, _socket, group) = full_desk().await;
    let channel: Value = desk
        .admin
        .post("/api/v1/channels", json!({ "kind": "widget", "name": "Web", "group": group["id"] }))
        .await
        .json()
        .await
        .unwrap();
    let key = channel["public_key"].as_str().unwrap().to_owned();
    let server = &desk.server;
    let visitor = |token: String| {
        move |method: Method, path: &str| server.client.request(method, server.url(path)).bearer_auth(&token)
    };
    let mut visitors = Vec::new();
    for name in ["Carla", "Dora"] {
        let start: Value =
            server.post("/widget/v1/visitors", json!({ "channel": key, "name": name })).await.json().await.unwrap();
        visitors.push(visitor(start["token"].as_str().unwrap().to_owned()));
    }
    let send = |who: usize, text: &'static str| {
        let request = visitors[who](Method::POST, "/widget/v1/messages").json(&json!({ "text": text }));
        async move { request.send().await.unwrap() }
    };
    let first: Value = send(0, "Hola, ¿hay stock?").await.json().await.unwrap();
    assert_eq!(first["conversation"]["overflow"], false);
    assert_eq!(first["conversation"]["position"], 1);

    let full = send(1, "Necesito una factura").await;
    assert_eq!(full.status(), StatusCode::CREATED, "a full queue is not an error for the customer");
    let full: Value = full.json().await.unwrap();
    assert_eq!(full["conversation"]["status"], "queued");
    assert_eq!(full["conversation"]["overflow"], true, "the widget says all agents are busy");
    let overflowed = full["conversation"]["id"].clone();
    let shown: Value = visitors[1](Method::GET, "/widget/v1/conversation").send().await.unwrap().json().await.unwrap();
    assert_eq!(shown["conversation"]["overflow"], true);
    assert_eq!(shown["messages"][0]["text"], "Necesito una factura");

    // The message is in the database, and staff see the overflow in the panel and the list.
    assert_eq!(texts_of(&desk.admin, &overflowed).await, vec!["Necesito una factura"]);
    let panel: Value = desk.admin.get("/api/v1/stats/panel").await.json().await.unwrap();
    assert_eq!((panel["in_queue"].as_u64(), panel["overflow"].as_u64()), (Some(2), Some(1)));
    let listed: Vec<Value> = desk.admin.get("/api/v1/conversations?status=queued").await.json().await.unwrap();
    let mine = listed.iter().find(|c| c["id"] == overflowed).unwrap();
    assert_eq!(mine["queue"], json!({ "position": 2, "overflow": true }));

    // Ana starts accepting: she takes the first; the overflowed one enters the queue proper.
    set_available(&ana, true).await;
    let shown: Value = visitors[1](Method::GET, "/widget/v1/conversation").send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (shown["conversation"]["position"].as_u64(), shown["conversation"]["overflow"].as_bool()),
        (Some(1), Some(false))
    );
    let panel: Value = desk.admin.get("/api/v1/stats/panel").await.json().await.unwrap();
    assert_eq!(panel["overflow"], 0);
    desk.server.stop().await;
}

#[tokio::test]
async fn the_api_channel_gets_a_plain_queued_in_overflow_answer_and_the_message_is_kept() {
    let (desk, _ana, _socket, group) = full_desk().await;
    let channel: Value = desk
        .admin
        .post("/api/v1/channels", json!({ "kind": "api", "name": "Ventas API", "group": group["id"] }))
        .await
        .json()
        .await
        .unwrap();
    let send = |who: &'static str, text: &'static str| {
        let request = desk
            .server
            .client
            .post(desk.server.url(&format!("/api/v1/channels/{}/messages", channel["id"])))
            .bearer_auth(channel["token"].as_str().unwrap())
            .json(&json!({ "contact": { "identifier": who }, "text": text }));
        async move { request.send().await.unwrap() }
    };
    let first: Value = send("v1", "hola").await.json().await.unwrap();
    assert_eq!(first["overflow"], false);
    assert!(first.get("notice").is_none());
    let full = send("v2", "¿me atienden?").await;
    assert_eq!(full.status(), StatusCode::CREATED);
    let full: Value = full.json().await.unwrap();
    assert_eq!(full["overflow"], true);
    assert!(full["notice"].as_str().unwrap().contains("overflow"), "{full}");
    assert_eq!(full["conversation"]["queue"], json!({ "position": 2, "overflow": true }));
    // She writes again while waiting: kept too, still in overflow.
    let again: Value = send("v2", "sigo aquí").await.json().await.unwrap();
    assert_eq!(again["overflow"], true);
    assert_eq!(texts_of(&desk.admin, &full["conversation"]["id"]).await, vec!["¿me atienden?", "sigo aquí"]);
    desk.server.stop().await;
}
