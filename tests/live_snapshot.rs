//! The live snapshot the writer publishes after each commit (issue 14): a waiting visitor's socket
//! hears its new place as soon as the queue moves (and nothing when its place did not), staff hear
//! `agents.changed`, and `/agents`, `/stats/panel` and the widget's poll agree with it.

mod common;

use common::*;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type VisitorSocket = Socket;

struct WidgetVisitor {
    token: String,
    conversation: u64,
}

async fn widget_key(admin: &Staff) -> String {
    let channel: Value =
        admin.post("/api/v1/channels", json!({ "kind": "widget", "name": "Sitio" })).await.json().await.unwrap();
    channel["public_key"].as_str().unwrap().to_owned()
}

/// A visitor who wrote once; their conversation's status as the answer told it.
async fn visitor_writes(server: &TestServer, key: &str) -> (WidgetVisitor, Value) {
    let start = server.post("/widget/v1/visitors", json!({ "channel": key })).await;
    let token = start.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    let sent = server.client.post(server.url("/widget/v1/messages")).bearer_auth(&token);
    let sent: Value = sent.json(&json!({ "text": "hola" })).send().await.unwrap().json().await.unwrap();
    let conversation = sent["conversation"]["id"].as_u64().unwrap();
    (WidgetVisitor { token, conversation }, sent["conversation"].clone())
}

async fn visitor_socket(server: &TestServer, visitor: &WidgetVisitor) -> VisitorSocket {
    let (tls, _) = handshake(server.addr(), &[b"http/1.1"]).await.unwrap();
    let url = format!("wss://localhost:{}/widget/v1/ws?token={}", server.addr().port(), visitor.token);
    tokio_tungstenite::client_async(url, tls).await.unwrap().0
}

/// The next `status` a visitor socket hears within `millis`, if any.
async fn status_within(socket: &mut VisitorSocket, millis: u64) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(millis);
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, socket.next()).await {
        if let Message::Text(text) = message {
            let event: Value = serde_json::from_str(&text).unwrap();
            if event["type"] == "status" {
                return Some(event["conversation"].clone());
            }
        }
    }
    None
}

async fn polled(server: &TestServer, visitor: &WidgetVisitor) -> Value {
    let poll = server.client.get(server.url("/widget/v1/conversation")).bearer_auth(&visitor.token);
    poll.send().await.unwrap().json::<Value>().await.unwrap()["conversation"].clone()
}

/// The first `agents.changed` within five seconds that gives `agent` figures `wanted` accepts
/// (earlier ones told of her creation, her presence...): those figures.
async fn agent_changed(socket: &mut Socket, agent: u64, wanted: impl Fn(&Value) -> bool) -> Value {
    loop {
        let event = next_event(socket, "agents.changed", 5).await;
        let mut named = event["agents"].as_array().unwrap().iter().filter(|a| a["id"] == agent);
        if let Some(figures) = named.find(|figures| wanted(figures)) {
            return figures.clone();
        }
    }
}

async fn finalize(agent: &Staff, conversation: u64) {
    let done = agent.post(&format!("/api/v1/conversations/{conversation}/finalize"), json!({})).await;
    assert_eq!(done.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_waiting_visitor_hears_each_new_place_and_staff_hear_the_agents_figures() {
    let desk = Desk::open().await;
    let server = &desk.server;
    let key = widget_key(&desk.admin).await;
    let mut watching = desk.admin.socket(server).await;
    let (ana, _presence) = desk.agent("ana@example.com", 1, &[]).await;
    let ana_id = ana.id();

    let (first, status) = visitor_writes(server, &key).await;
    assert_eq!(status["status"], "assigned");
    let figures = agent_changed(&mut watching, ana_id, |f| f["load"] == 1).await;
    let told =
        ["load", "capacity", "available", "online", "own_capacity", "mode", "groups"].map(|k| figures[k].clone());
    assert_eq!(told, [json!(1), json!(1), json!(true), json!(true), json!(1), json!("automatic"), json!([])]);
    let (second, status) = visitor_writes(server, &key).await;
    assert_eq!((status["position"].clone(), status["overflow"].clone()), (json!(1), json!(false)));
    let (third, status) = visitor_writes(server, &key).await;
    assert_eq!(status["position"], 2);
    let (mut second_live, mut third_live) =
        (visitor_socket(server, &second).await, visitor_socket(server, &third).await);

    // Ana ends the first: the second is hers at once, the third moves up.
    finalize(&ana, first.conversation).await;
    let told = status_within(&mut second_live, 3000).await.expect("the second visitor heard");
    assert_eq!((told["status"].clone(), told["position"].clone()), (json!("assigned"), Value::Null));
    let told = status_within(&mut third_live, 3000).await.expect("the third visitor heard its new place");
    assert_eq!((told["id"].as_u64(), told["position"].clone()), (Some(third.conversation), json!(1)));

    // Someone joins behind: the third's place did not move, so it hears nothing.
    let (fourth, status) = visitor_writes(server, &key).await;
    assert_eq!(status["position"], 2);
    assert_eq!(status_within(&mut third_live, 700).await, None, "a queue move that left its place as it was");
    assert_eq!(polled(server, &third).await["position"], 1);
    assert_eq!(polled(server, &fourth).await["position"], 2);

    // The staff views agree with the snapshot.
    let agents: Value = desk.admin.get("/api/v1/agents").await.json().await.unwrap();
    let row = agents.as_array().unwrap().iter().find(|a| a["id"] == ana_id).unwrap().clone();
    assert_eq!(
        (row["load"].clone(), row["capacity"].clone(), row["online"].clone()),
        (json!(1), json!(1), json!(true))
    );
    let panel: Value = desk.admin.get("/api/v1/stats/panel").await.json().await.unwrap();
    assert_eq!((panel["in_queue"].clone(), panel["agents_online"].clone()), (json!(2), json!(1)));
    assert_eq!(panel["total_today"], 4);
    let queued: Value = desk.admin.get("/api/v1/conversations?status=queued").await.json().await.unwrap();
    let places: Vec<Value> = queued.as_array().unwrap().iter().map(|c| c["queue"]["position"].clone()).collect();
    assert_eq!(places, vec![json!(1), json!(2)]);

    // The rest go in turn; with nobody left waiting, Ana's load falls and staff hear it.
    finalize(&ana, second.conversation).await;
    let told = status_within(&mut third_live, 3000).await.expect("the third is served");
    assert_eq!(told["status"], "assigned");
    finalize(&ana, third.conversation).await;
    finalize(&ana, fourth.conversation).await;
    let figures = agent_changed(&mut watching, ana_id, |f| f["load"] == 0).await;
    assert_eq!((figures["capacity"].clone(), figures["online"].clone()), (json!(1), json!(true)));
    let panel: Value = desk.admin.get("/api/v1/stats/panel").await.json().await.unwrap();
    assert_eq!((panel["in_queue"].clone(), panel["unattended"].clone()), (json!(0), json!(0)));
    desk.server.stop().await;
}

#[tokio::test]
async fn availability_reaches_staff_as_agents_changed_and_not_an_orders_admin() {
    let desk = Desk::open().await;
    let server = &desk.server;
    let (ana, _presence) = desk.agent("ana@example.com", 2, &[]).await;
    let mut watching = desk.admin.socket(server).await;
    let orders = server.user(&desk.admin, "orders@example.com", &["orders_admin"], &[]).await;
    let mut outsider = orders.socket(server).await;
    let away = ana.request(reqwest::Method::PUT, "/api/v1/me/availability").json(&json!({ "available": false }));
    assert_eq!(away.send().await.unwrap().status(), StatusCode::OK);
    let figures = agent_changed(&mut watching, ana.id(), |f| f["available"] == false).await;
    assert_eq!((figures["available"].clone(), figures["load"].clone()), (json!(false), json!(0)));
    let heard = heard_within(&mut outsider, 700).await;
    assert!(heard.iter().all(|e| e["type"] != "agents.changed"), "an orders admin may not list agents: {heard:?}");
    desk.server.stop().await;
}
