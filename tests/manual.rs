//! Manual assignment (R-CONV-4, issue 12 point 5): in a manual channel agents of the queue see
//! what waits; those with the dispenser take a chosen one (checked on the server: the permission,
//! the queue they serve, a free slot), or the next one; at the cap an agent is told that she is
//! full.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn channel(desk: &Desk, name: &str, mode: &str, group: Option<&Value>) -> Value {
    let body = json!({ "kind": "api", "name": name, "mode": mode, "group": group.map(|g| g["id"].clone()) });
    desk.admin.post("/api/v1/channels", body).await.json().await.unwrap()
}

async fn write(desk: &Desk, channel: &Value, who: &str) -> Value {
    let answer = desk
        .server
        .client
        .post(desk.server.url(&format!("/api/v1/channels/{}/messages", channel["id"])))
        .bearer_auth(channel["token"].as_str().unwrap())
        .json(&json!({ "contact": { "identifier": who, "name": who }, "text": format!("hola, soy {who}") }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::CREATED);
    answer.json::<Value>().await.unwrap()["conversation"].clone()
}

async fn take(agent: &Staff, conversation: &Value) -> (StatusCode, Value) {
    let answer = agent.post(&format!("/api/v1/conversations/{}/take", conversation["id"]), json!({})).await;
    (answer.status(), answer.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_dispenser_takes_a_chosen_waiting_conversation_and_is_told_when_she_is_full() {
    let desk = Desk::open().await;
    let (bruno, _b) = desk.agent("bruno@example.com", 1, &["dispenser"]).await;
    let (carla, _c) = desk.agent("carla@example.com", 1, &[]).await;
    let manual = channel(&desk, "Manual", "manual", None).await;
    let first = write(&desk, &manual, "Lucía").await;
    let second = write(&desk, &manual, "Mario").await;
    assert_eq!((first["status"].as_str(), second["status"].as_str()), (Some("queued"), Some("queued")));

    // Both agents see what waits, read-only for the one without the dispenser.
    for agent in [&bruno, &carla] {
        let waiting: Vec<Value> = agent.get("/api/v1/conversations?status=queued").await.json().await.unwrap();
        assert_eq!(waiting.len(), 2, "agents of the queue see the waiting conversations");
        assert_eq!(waiting.iter().find(|c| c["id"] == first["id"]).unwrap()["last_preview"], "hola, soy Lucía");
    }
    let (status, body) = take(&carla, &second).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));

    // Bruno picks the newer one, not only "the next".
    let (status, taken) = take(&bruno, &second).await;
    assert_eq!(status, StatusCode::OK, "{taken}");
    assert_eq!((taken["status"].as_str(), taken["assignee"]["id"].as_u64()), (Some("assigned"), Some(bruno.id())));
    let (status, body) = take(&bruno, &second).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conversation_not_waiting")));

    // At his cap of 1: told that he is full, by both ways of taking.
    let (status, body) = take(&bruno, &first).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("at_capacity")));
    assert_eq!(body["error"]["message"], "You are at your limit of 1 conversations; finalize one first.");
    let next = bruno.post("/api/v1/conversations/next", json!({})).await;
    assert_eq!((next.status(), error_code(next).await.as_str()), (StatusCode::CONFLICT, "at_capacity"));

    // A slot frees: "the next one" takes Lucía's and says so; then nothing waits.
    let finalized = bruno.post(&format!("/api/v1/conversations/{}/finalize", second["id"]), json!({})).await;
    assert_eq!(finalized.status(), StatusCode::OK);
    let next: Value = bruno.post("/api/v1/conversations/next", json!({})).await.json().await.unwrap();
    assert_eq!((next["id"].clone(), next["contact"]["name"].as_str()), (first["id"].clone(), Some("Lucía")));
    bruno.post(&format!("/api/v1/conversations/{}/finalize", first["id"]), json!({})).await;
    let nothing = bruno.post("/api/v1/conversations/next", json!({})).await;
    assert_eq!(nothing.status(), StatusCode::NO_CONTENT);
    desk.server.stop().await;
}

#[tokio::test]
async fn taking_is_limited_to_the_queues_one_serves_and_to_what_supervisors_do_not_assign() {
    let desk = Desk::open().await;
    let (bruno, _b) = desk.agent("bruno@example.com", 3, &["dispenser"]).await;
    let (dora, _d) = desk.agent("dora@example.com", 3, &[]).await;
    let group: Value = desk
        .admin
        .post("/api/v1/groups", json!({ "name": "Soporte", "members": [dora.id()] }))
        .await
        .json()
        .await
        .unwrap();
    let support = channel(&desk, "Soporte", "manual", Some(&group)).await;
    let unrouted = channel(&desk, "Sin reparto", "none", None).await;
    let theirs = write(&desk, &support, "Nora").await;
    let (status, body) = take(&bruno, &theirs).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_your_queue")));
    let supervised = write(&desk, &unrouted, "Olga").await;
    let (status, body) = take(&bruno, &supervised).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("supervisor_assigns")));
    let missing = bruno.post("/api/v1/conversations/999999/take", json!({})).await;
    assert_eq!(
        (missing.status(), error_code(missing).await.as_str()),
        (StatusCode::NOT_FOUND, "conversation_not_found")
    );
    // A supervisor still assigns them, as before.
    let assigned = desk
        .admin
        .post(&format!("/api/v1/conversations/{}/assign", supervised["id"]), json!({ "agent_id": bruno.id() }))
        .await;
    assert_eq!(assigned.status(), StatusCode::OK);
    desk.server.stop().await;
}
