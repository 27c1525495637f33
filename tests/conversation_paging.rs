//! Lists of open conversations page past 200 with `before` (issue 14, point 4), and the staff
//! socket's conversation carries what a list row needs (point 3).

mod common;

use std::collections::HashSet;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;

/// Every page of an open list from `path`, following `X-Next-Before`.
async fn every_page(staff: &Staff, path: &str) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let url = match &before {
            Some(cursor) => format!("{path}&before={cursor}"),
            None => path.to_owned(),
        };
        let answer = staff.get(&url).await;
        assert_eq!(answer.status(), StatusCode::OK);
        before = answer.headers().get("x-next-before").map(|value| value.to_str().unwrap().to_owned());
        pages.push(answer.json().await.unwrap());
        if before.is_none() {
            return pages;
        }
        assert!(pages.len() < 10, "the pages never end");
    }
}

#[tokio::test]
async fn four_hundred_fifty_open_conversations_read_page_by_page_each_once_in_order() {
    let desk = Desk::open().await;
    // Sent 15 at a time: many share a millisecond, which the cursor must tell apart.
    let url = desk.server.url(&format!("/api/v1/channels/{}/messages", desk.channel["id"]));
    let token = desk.channel["token"].as_str().unwrap().to_owned();
    for round in 0..30 {
        let mut sends = tokio::task::JoinSet::new();
        for n in 0..15 {
            let body = serde_json::json!({ "contact": { "identifier": format!("c{}", round * 15 + n), "name": format!("c{}", round * 15 + n) }, "text": "hola" });
            let send = desk.server.client.post(&url).bearer_auth(&token).json(&body).send();
            sends.spawn(send);
        }
        while let Some(answer) = sends.join_next().await {
            assert_eq!(answer.unwrap().unwrap().status(), StatusCode::CREATED);
        }
    }
    let pages = every_page(&desk.admin, "/api/v1/conversations?status=open&limit=200").await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [200, 200, 50]);
    let rows: Vec<&Value> = pages.iter().flatten().collect();
    let ids: HashSet<u64> = rows.iter().map(|c| c["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), 450, "each conversation once");
    let keys: Vec<(u64, u64)> =
        rows.iter().map(|c| (c["last_message_at"].as_u64().unwrap(), c["id"].as_u64().unwrap())).collect();
    assert!(keys.windows(2).all(|pair| pair[0] > pair[1]), "newest message first, then id");
    // A new message moves its conversation to the head of the first page; a finalized one leaves.
    let last = rows[449]["contact"]["name"].as_str().unwrap().to_owned();
    desk.customer(&last, "¿sigue ahí?").await;
    let gone = rows[0]["id"].clone();
    assert_eq!(
        desk.admin.post(&format!("/api/v1/conversations/{gone}/finalize"), serde_json::json!({})).await.status(),
        StatusCode::OK
    );
    let pages = every_page(&desk.admin, "/api/v1/conversations?status=open&limit=200").await;
    assert_eq!(pages[0][0]["id"], rows[449]["id"]);
    let rows: Vec<&Value> = pages.iter().flatten().collect();
    assert_eq!(rows.len(), 449);
    assert!(rows.iter().all(|c| c["id"] != gone));
    desk.server.stop().await;
}

#[tokio::test]
async fn a_bad_cursor_is_refused_with_its_code() {
    let desk = Desk::open().await;
    desk.customer("c1", "hola").await;
    for path in [
        "/api/v1/conversations?before=abc",
        "/api/v1/conversations?before=12",
        "/api/v1/conversations?before=12-",
        "/api/v1/conversations?status=finalized&before=12-3",
        "/api/v1/conversations?status=queued&before=12-3",
    ] {
        let answer = desk.admin.get(path).await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{path}");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_cursor", "{path}");
        assert_eq!(body["error"]["field"], "before", "{path}");
    }
    // A good one past the last conversation: an empty page, no next.
    let answer = desk.admin.get("/api/v1/conversations?before=0-0").await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(answer.headers().get("x-next-before").is_none());
    assert_eq!(answer.json::<Vec<Value>>().await.unwrap(), Vec::<Value>::new());
    desk.server.stop().await;
}

#[tokio::test]
async fn the_socket_conversation_carries_the_fields_of_a_list_row() {
    let desk = Desk::open().await;
    let mut socket = desk.admin.socket(&desk.server).await;
    desk.customer("c1", "hola").await;
    let event = next_event(&mut socket, "message.created", 5).await;
    let listed: Vec<Value> = desk.admin.get("/api/v1/conversations").await.json().await.unwrap();
    let row = &listed[0];
    let carried = &event["conversation"];
    for field in [
        "id",
        "status",
        "labels",
        "unread",
        "last_message_at",
        "last_preview",
        "created_at",
        "enqueued_at",
        "assigned_at",
        "finalized_at",
        "finalize_reason",
        "previous",
    ] {
        assert_eq!(carried[field], row[field], "{field}");
    }
    assert_eq!(carried["channel_id"], row["channel"]["id"]);
    assert_eq!(carried["contact_id"], row["contact"]["id"]);
    assert!(carried["enqueued_at"].is_u64(), "it waits: {carried}");
    desk.server.stop().await;
}

/// A conversation another agent is given leaves the queue: an agent who saw it wait hears
/// `queue.left` (and no more of it), those who still see it hear the assignment.
#[tokio::test]
async fn those_who_saw_a_conversation_wait_hear_that_it_left_the_queue() {
    let desk = Desk::open().await;
    let ana = desk.server.user(&desk.admin, "ana@example.com", &["agent"], &[]).await;
    let beto = desk.server.user(&desk.admin, "beto@example.com", &["agent"], &[]).await;
    let (mut ana_live, mut beto_live) = (ana.socket(&desk.server).await, beto.socket(&desk.server).await);
    let mut admin_live = desk.admin.socket(&desk.server).await;
    let written: Value = desk.customer("c1", "hola").await.json().await.unwrap();
    let id = written["conversation"]["id"].clone();
    assert_eq!(written["conversation"]["status"], "queued", "nobody is available");
    next_event(&mut ana_live, "conversation.created", 5).await;
    let given = serde_json::json!({ "agent_id": beto.id(), "force": true });
    assert_eq!(desk.admin.post(&format!("/api/v1/conversations/{id}/assign"), given).await.status(), StatusCode::OK);
    let left = next_event(&mut ana_live, "queue.left", 5).await;
    assert_eq!(left, serde_json::json!({ "type": "queue.left", "conversation_id": id }));
    assert_eq!(next_event(&mut beto_live, "conversation.assigned", 5).await["conversation"]["id"], id);
    assert_eq!(next_event(&mut admin_live, "conversation.assigned", 5).await["conversation"]["id"], id);
    let heard = heard_within(&mut ana_live, 500).await;
    assert!(heard.iter().all(|event| event["type"] != "conversation.assigned"), "Ana heard {heard:?}");
    let heard = heard_within(&mut admin_live, 300).await;
    assert!(heard.iter().all(|event| event["type"] != "queue.left"), "the admin sees it: {heard:?}");
    // A waiting conversation moved to a group Ana does not serve leaves her queue too.
    let group = serde_json::json!({ "name": "Ventas", "members": [beto.id()] });
    let group: Value = desk.admin.post("/api/v1/groups", group).await.json().await.unwrap();
    let written: Value = desk.customer("c2", "hola").await.json().await.unwrap();
    let id = written["conversation"]["id"].clone();
    next_event(&mut ana_live, "conversation.created", 5).await;
    let moved = serde_json::json!({ "group_id": group["id"] });
    assert_eq!(desk.admin.post(&format!("/api/v1/conversations/{id}/transfer"), moved).await.status(), StatusCode::OK);
    assert_eq!(next_event(&mut ana_live, "queue.left", 5).await["conversation_id"], id);
    desk.server.stop().await;
}
