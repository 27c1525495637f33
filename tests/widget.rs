//! The web widget's public API: visitors start a session, write, get the agent's reply (never an
//! internal note) by polling and live, from any origin, within a rate limit.

mod common;

use common::*;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn widget_channel(admin: &Staff) -> String {
    let channel: Value =
        admin.post("/api/v1/channels", json!({ "kind": "widget", "name": "Sitio web" })).await.json().await.unwrap();
    assert!(channel["snippet"].as_str().unwrap().contains("/widget.js\" data-channel=\"wk_"));
    channel["public_key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_visitor_chats_with_an_agent_and_never_sees_internal_notes() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let key = widget_channel(&admin).await;
    let agent = server.user(&admin, "ana@example.com", &["agent"], &[]).await;
    let _presence = agent.socket(&server).await;
    agent
        .request(reqwest::Method::PUT, "/api/v1/me/availability")
        .json(&json!({ "available": true }))
        .send()
        .await
        .unwrap();

    let start = server.post("/widget/v1/visitors", json!({ "channel": key, "name": "Carla" })).await;
    assert_eq!(start.status(), StatusCode::CREATED);
    assert_eq!(start.headers()["access-control-allow-origin"], "*");
    let token = start.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    let visitor =
        |method: reqwest::Method, path: &str| server.client.request(method, server.url(path)).bearer_auth(&token);

    let empty: Value =
        visitor(reqwest::Method::GET, "/widget/v1/conversation").send().await.unwrap().json().await.unwrap();
    assert!(empty["conversation"].is_null());
    let sent: Value = visitor(reqwest::Method::POST, "/widget/v1/messages")
        .json(&json!({ "text": "¿Tienen envío?" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sent["conversation"]["status"], "assigned", "the available agent took it at once");
    let id = sent["conversation"]["id"].clone();

    let (tls, _) = handshake(server.addr(), &[b"http/1.1"]).await.unwrap();
    let url = format!("wss://localhost:{}/widget/v1/ws?token={token}", server.addr().port());
    let (mut live, _) = tokio_tungstenite::client_async(url, tls).await.unwrap();

    agent
        .post(&format!("/api/v1/conversations/{id}/messages"), json!({ "text": "nota interna", "private": true }))
        .await;
    agent.post(&format!("/api/v1/conversations/{id}/messages"), json!({ "text": "Sí, a todo el país" })).await;
    let pushed = loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(5), live.next()).await.expect("a live reply");
        if let Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) = frame {
            let event: Value = serde_json::from_str(&text).unwrap();
            if event["type"] == "message" {
                break event;
            }
        }
    };
    assert_eq!(pushed["message"]["text"], "Sí, a todo el país", "the note was never pushed");
    assert_eq!(pushed["message"]["agent_name"], "Test");

    let polled: Value =
        visitor(reqwest::Method::GET, "/widget/v1/conversation").send().await.unwrap().json().await.unwrap();
    let texts: Vec<&str> = polled["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, vec!["¿Tienen envío?", "Sí, a todo el país"]);
    let contact: Value = admin.get(&format!("/api/v1/conversations/{id}")).await.json().await.unwrap();
    assert_eq!(contact["contact"]["name"], "Carla");

    // A visitor token is nothing to the staff API, and a wrong one is refused.
    let staff_api = server.client.get(server.url("/api/v1/conversations")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(staff_api.status(), StatusCode::UNAUTHORIZED);
    let wrong = server.client.get(server.url("/widget/v1/conversation")).bearer_auth("vt_nope").send().await.unwrap();
    assert_eq!(error_code(wrong).await, "invalid_visitor");
    server.stop().await;
}

#[tokio::test]
async fn the_widget_answers_preflights_and_limits_each_address() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let key = widget_channel(&admin).await;
    let preflight = server
        .client
        .request(reqwest::Method::OPTIONS, server.url("/widget/v1/messages"))
        .header("origin", "https://tienda.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert!(preflight.headers()["access-control-allow-headers"].to_str().unwrap().contains("authorization"));
    let unknown = server.post("/widget/v1/visitors", json!({ "channel": "wk_unknown" })).await;
    assert_eq!(error_code(unknown).await, "channel_not_found");
    let mut limited = 0;
    for _ in 0..80 {
        if server.post("/widget/v1/visitors", json!({ "channel": key })).await.status() == StatusCode::TOO_MANY_REQUESTS
        {
            limited += 1;
        }
    }
    assert!(limited >= 15, "only {limited} of 80 rapid requests were limited");
    // Staff are not affected by a busy widget address.
    assert_eq!(admin.get("/api/v1/me").await.status(), StatusCode::OK);
    let script = server.get("/widget.js").await;
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    server.stop().await;
}

#[tokio::test]
async fn channels_can_be_edited_rotated_and_switched_off() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let api: Value =
        admin.post("/api/v1/channels", json!({ "kind": "api", "name": "Bot" })).await.json().await.unwrap();
    let bad = admin.post("/api/v1/channels", json!({ "kind": "api", "name": "x", "webhook_url": "https://" })).await;
    assert_eq!(bad.json::<Value>().await.unwrap()["error"]["field"], "webhook_url");
    let inbound = |token: String| {
        let (client, url) = (server.client.clone(), server.url(&format!("/api/v1/channels/{}/messages", api["id"])));
        async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "contact": { "identifier": "a" }, "text": "hola" }))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let old = api["token"].as_str().unwrap().to_owned();
    assert_eq!(inbound(old.clone()).await, StatusCode::CREATED);
    let rotated: Value =
        admin.post(&format!("/api/v1/channels/{}/rotate", api["id"]), json!({})).await.json().await.unwrap();
    let new = rotated["token"].as_str().unwrap().to_owned();
    assert_eq!(inbound(old).await, StatusCode::UNAUTHORIZED, "the old token died at once");
    assert_eq!(inbound(new.clone()).await, StatusCode::CREATED);
    let renamed: Value = admin
        .patch(&format!("/api/v1/channels/{}", api["id"]), json!({ "name": "Bot 2", "mode": "manual" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((renamed["name"].as_str(), renamed["mode"].as_str()), (Some("Bot 2"), Some("manual")));
    assert_eq!(admin.delete(&format!("/api/v1/channels/{}", api["id"])).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(inbound(new).await, StatusCode::NOT_FOUND, "a switched-off channel takes nothing");
    let key = widget_channel(&admin).await;
    let widget: Value = admin.get("/api/v1/channels").await.json().await.unwrap();
    let widget_id = widget.as_array().unwrap().iter().find(|c| c["public_key"] == key.as_str()).unwrap()["id"].clone();
    admin.delete(&format!("/api/v1/channels/{widget_id}")).await;
    let refused = server.post("/widget/v1/visitors", json!({ "channel": key })).await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    server.stop().await;
}
