//! A customer's message is written whole or not at all (issue 14, acceptance): to a full queue it
//! is kept (the overflow of issue 12) as its contact, its conversation and the message together,
//! and a refused one leaves nothing, not even a new contact. Read from the database itself once
//! the server has stopped, so no half-written row can hide behind what the API shows.

mod common;

use centralita::domain::conversation::Status;
use centralita::domain::ids::{ChannelId, ContactId};
use centralita::store::Store;
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn a_message_to_a_full_queue_is_kept_whole_and_a_refused_one_leaves_no_contact() {
    let desk = Desk::open().await;
    let group: Value = desk
        .admin
        .post("/api/v1/groups", json!({ "name": "Ventas", "members": [], "rules": { "max_queue": 1 } }))
        .await
        .json()
        .await
        .unwrap();
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
            .json(&json!({ "contact": { "identifier": who, "name": who }, "text": text }));
        async move { request.send().await.unwrap() }
    };
    let first = send("v1", "hola").await;
    assert_eq!(first.status(), StatusCode::CREATED);
    // Nobody serves Ventas: the queue (limit 1) is full from now on.
    let full = send("v2", "¿me atienden?").await;
    assert_eq!(full.status(), StatusCode::CREATED);
    let full: Value = full.json().await.unwrap();
    assert_eq!(full["overflow"], true, "{full}");

    // Refused by the core (blank text) while the queue is full: a new customer, and a known one.
    for who in ["v3", "v2"] {
        let refused = send(who, "   ").await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let refused: Value = refused.json().await.unwrap();
        assert_eq!(refused["error"]["code"], "invalid_input", "{refused}");
    }

    let id = ChannelId(channel["id"].as_u64().unwrap());
    let dir = desk.server.stop().await;
    let (store, _) = Store::open(dir.path()).expect("the database opens");
    let read = store.read().unwrap();
    for (who, text) in [("v1", "hola"), ("v2", "¿me atienden?")] {
        let contact = read.contact_by_identity(id, who).unwrap().expect("the contact is kept");
        let conversation = read.latest_conversation(contact, id).unwrap().expect("with its conversation");
        assert_eq!((conversation.contact, conversation.status), (contact, Status::Queued));
        let texts: Vec<String> =
            read.messages(conversation.id, None, 10).unwrap().into_iter().map(|m| m.text).collect();
        assert_eq!(texts, vec![text], "{who}: the message, once");
        assert_eq!(read.contact(contact).unwrap().unwrap().name.as_deref(), Some(who));
    }
    assert_eq!(read.contact_by_identity(id, "v3").unwrap(), None, "the refused newcomer left no contact");
    assert_eq!(read.contact(ContactId(3)).unwrap(), None, "nor any other");
    assert_eq!(read.conversation_count().unwrap(), 2, "nor a conversation");
    let open: Vec<_> = read.open_conversations().unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(open.len(), 2, "both wait, in the index of open ones too: {open:?}");
}
