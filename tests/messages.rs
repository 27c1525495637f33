//! Reading a conversation's messages page by page: `?limit=` is honoured from 1 to 200 (20 when
//! absent) and anything else is a clear 400 naming the field.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn the_messages_limit_is_honoured_and_checked() {
    let desk = Desk::open().await;
    let (ana, _socket) = desk.agent("ana@example.com", 2, &[]).await;
    let mut id = Value::Null;
    for n in 1..=60 {
        let body: Value = desk.customer("c1", &format!("mensaje {n}")).await.json().await.unwrap();
        id = body["conversation"]["id"].clone();
    }
    let texts = |page: &Value| {
        page.as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    let path = format!("/api/v1/conversations/{id}/messages");
    let default: Value = ana.get(&path).await.json().await.unwrap();
    assert_eq!(texts(&default).len(), 20, "20 when no limit is given");
    assert_eq!(texts(&default).last().map(String::as_str), Some("mensaje 60"));
    let fifty_page: Value = ana.get(&format!("{path}?limit=50")).await.json().await.unwrap();
    let fifty = texts(&fifty_page);
    assert_eq!(fifty.len(), 50, "?limit=50 gives 50");
    assert_eq!((fifty[0].as_str(), fifty[49].as_str()), ("mensaje 11", "mensaje 60"));
    let all: Value = ana.get(&format!("{path}?limit=200")).await.json().await.unwrap();
    // The 60 messages and the staff's line saying the first one was assigned to Ana.
    assert_eq!(texts(&all).len(), 61);
    let eleventh = &fifty_page[0]["id"];
    let older: Value = ana.get(&format!("{path}?before={eleventh}&limit=5")).await.json().await.unwrap();
    assert_eq!(texts(&older), ["mensaje 6", "mensaje 7", "mensaje 8", "mensaje 9", "mensaje 10"]);
    for bad in ["0", "201", "-1", "many", ""] {
        let response = ana.get(&format!("{path}?limit={bad}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "limit={bad}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(
            (error["error"]["code"].as_str(), error["error"]["field"].as_str()),
            (Some("invalid_input"), Some("limit")),
            "limit={bad}"
        );
    }
    // The outbox keeps its own default of 50.
    let outbox = desk.admin.get("/api/v1/outbox?limit=1").await;
    assert_eq!(outbox.status(), StatusCode::OK);
    desk.server.stop().await;
}
