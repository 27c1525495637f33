//! How long a customer has waited for an answer (issue 22, "sort by waiting time"): a
//! conversation's `waiting_since` is its oldest customer message no agent has replied to yet, as
//! the list, the detail and the staff socket show it. A note is no answer; a reply is; finalizing
//! ends the wait, and the customer's next message starts a new one.

mod common;

use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

/// The `message.created` event of message `id` (earlier ones, such as activity lines, are passed).
async fn event_of(socket: &mut Socket, id: &Value) -> Value {
    loop {
        let event = next_event(socket, "message.created", 5).await;
        if &event["message"]["id"] == id {
            return event;
        }
    }
}

/// What the open list (as an administrator sees it) and the detail say of conversation `id`.
async fn waiting_in_list_and_detail(desk: &Desk, id: &Value) -> (Value, Value) {
    let list: Value = desk.admin.get("/api/v1/conversations?status=all&assignee=all").await.json().await.unwrap();
    let row = list.as_array().unwrap().iter().find(|c| &c["id"] == id).expect("the conversation is listed");
    (row["waiting_since"].clone(), desk.conversation(id).await["waiting_since"].clone())
}

/// The customer writes through the API channel; the answer is checked against the OpenAPI document.
async fn customer_writes(desk: &Desk, text: &str) -> Value {
    // Messages a few milliseconds apart, so their times tell them apart.
    tokio::time::sleep(Duration::from_millis(5)).await;
    contract::checked(&Method::POST, desk.customer("c1", text).await).await.json().await.unwrap()
}

#[tokio::test]
async fn the_wait_runs_from_the_first_unanswered_message_until_an_agent_replies() {
    let desk = Desk::open().await;
    let (ana, mut socket) = desk.agent("ana@example.com", 2, &[]).await;
    let first = customer_writes(&desk, "hola").await;
    let (id, first_at) = (first["conversation"]["id"].clone(), first["message"]["created_at"].clone());
    assert_eq!(first["conversation"]["waiting_since"], first_at, "the channel's answer shows the wait");
    assert_eq!(event_of(&mut socket, &first["message"]["id"]).await["conversation"]["waiting_since"], first_at);
    let second = customer_writes(&desk, "¿hay alguien?").await;
    assert_ne!(second["message"]["created_at"], first_at);
    assert_eq!(second["conversation"]["waiting_since"], first_at, "a second message keeps the first one's time");
    assert_eq!(waiting_in_list_and_detail(&desk, &id).await, (first_at.clone(), first_at.clone()));

    let path = format!("/api/v1/conversations/{id}/messages");
    let note: Value =
        ana.post(&path, json!({ "text": "mirar el pedido", "private": true })).await.json().await.unwrap();
    assert_eq!(event_of(&mut socket, &note["id"]).await["conversation"]["waiting_since"], first_at);
    assert_eq!(
        waiting_in_list_and_detail(&desk, &id).await,
        (first_at.clone(), first_at.clone()),
        "a note answers nobody"
    );

    let reply: Value = ana.post(&path, json!({ "text": "Hola, ya lo miro" })).await.json().await.unwrap();
    assert_eq!(event_of(&mut socket, &reply["id"]).await["conversation"]["waiting_since"], Value::Null);
    assert_eq!(waiting_in_list_and_detail(&desk, &id).await, (Value::Null, Value::Null), "the reply ends the wait");

    let again = customer_writes(&desk, "gracias, otra cosa").await;
    let again_at = again["message"]["created_at"].clone();
    assert_eq!(again["conversation"]["id"], id);
    assert_eq!(waiting_in_list_and_detail(&desk, &id).await, (again_at.clone(), again_at.clone()), "a new wait");

    let finalized = ana.post(&format!("/api/v1/conversations/{id}/finalize"), json!({})).await;
    assert_eq!(finalized.status(), 200);
    let finalized: Value = finalized.json().await.unwrap();
    assert_eq!(finalized["waiting_since"], Value::Null, "finalizing ends the wait");
    assert_eq!(waiting_in_list_and_detail(&desk, &id).await, (Value::Null, Value::Null));

    // The customer writes after the end: the new conversation waits from that message.
    let reopened = customer_writes(&desk, "vuelvo a escribir").await;
    assert_ne!(reopened["conversation"]["id"], id);
    assert_eq!(reopened["conversation"]["waiting_since"], reopened["message"]["created_at"]);
    desk.server.stop().await;
}
