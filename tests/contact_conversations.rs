//! A contact's conversations (issue 22, the workspace's side panel): newest first, a page at a
//! time, and only those the one access policy lets the caller see.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The ids a page lists, and its `X-Next-Before`.
async fn page(staff: &Staff, path: &str) -> (Vec<u64>, Option<String>) {
    let answer = staff.get(path).await;
    assert_eq!(answer.status(), StatusCode::OK, "{path}");
    let next = answer.headers().get("x-next-before").map(|value| value.to_str().unwrap().to_owned());
    let rows: Vec<Value> = answer.json().await.unwrap();
    (rows.iter().map(|c| c["id"].as_u64().unwrap()).collect(), next)
}

/// A customer writes; the conversation's and the contact's ids.
async fn writes(desk: &Desk, who: &str, text: &str) -> (u64, u64) {
    let answer = desk.customer(who, text).await;
    assert_eq!(answer.status(), StatusCode::CREATED);
    let body: Value = answer.json().await.unwrap();
    (body["conversation"]["id"].as_u64().unwrap(), body["conversation"]["contact"]["id"].as_u64().unwrap())
}

#[tokio::test]
async fn a_contacts_conversations_come_newest_first_in_pages_and_as_the_policy_allows() {
    let desk = Desk::open().await;
    let (ana, _ana_socket) = desk.agent("ana@example.com", 5, &[]).await;
    // Marta's first conversation goes to Ana, who finalizes it; her second goes to Ana too and a
    // supervisor hands it to Bruno. Someone else writes in between.
    let (first, marta) = writes(&desk, "marta", "hola").await;
    assert_eq!(ana.post(&format!("/api/v1/conversations/{first}/finalize"), json!({})).await.status(), StatusCode::OK);
    let (other, other_contact) = writes(&desk, "otra", "buenas").await;
    let (second, again) = writes(&desk, "marta", "otra vez yo").await;
    assert_eq!(again, marta, "the same contact");
    assert_ne!(other_contact, marta);
    let bruno = desk.server.user(&desk.admin, "bruno@example.com", &["agent"], &[]).await;
    let given = json!({ "agent_id": bruno.id(), "force": true });
    assert_eq!(
        desk.admin.post(&format!("/api/v1/conversations/{second}/assign"), given).await.status(),
        StatusCode::OK
    );
    let path = format!("/api/v1/contacts/{marta}/conversations");

    // Who sees everything sees both, newest first, the other contact's not among them.
    assert_eq!(page(&desk.admin, &path).await, (vec![second, first], None));
    // A page at a time: each conversation once, the last page without a cursor.
    let (one, next) = page(&desk.admin, &format!("{path}?limit=1")).await;
    assert_eq!((one, next.clone()), (vec![second], Some(second.to_string())));
    let (two, next) = page(&desk.admin, &format!("{path}?limit=1&before={}", next.unwrap())).await;
    assert_eq!((two, next), (vec![first], None));
    assert_eq!(page(&desk.admin, &format!("{path}?before={first}")).await, (vec![], None));

    // Ana held both (she served the second before Bruno got it): both. Bruno held only the second.
    assert_eq!(page(&ana, &path).await.0, vec![second, first]);
    assert_eq!(page(&bruno, &path).await.0, vec![second], "not the conversation Bruno never held");
    // An agent who never held any of Marta's conversations may not see her: 403, as for the contact.
    let carla = desk.server.user(&desk.admin, "carla@example.com", &["agent"], &[]).await;
    assert_eq!(carla.get(&path).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(carla.get(&format!("/api/v1/contacts/{marta}")).await.status(), StatusCode::FORBIDDEN);
    // No such contact: 404 with its code; a bad cursor: 400 naming it.
    let missing = desk.admin.get("/api/v1/contacts/999/conversations").await;
    assert_eq!((missing.status(), error_code(missing).await.as_str()), (StatusCode::NOT_FOUND, "contact_not_found"));
    let bad = desk.admin.get(&format!("{path}?before=abc")).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    // The other contact's list has only its own.
    assert_eq!(page(&desk.admin, &format!("/api/v1/contacts/{other_contact}/conversations")).await.0, vec![other]);
    desk.server.stop().await;
}
