//! Mail leaves by SMTP when `smtp.url` is set (to a fake SMTP server on 127.0.0.1 that records
//! what it receives), stays in the outbox when it is not, and a failed delivery is recorded.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

async fn outbox_entry(admin: &Staff, email: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let outbox: Value = admin.get("/api/v1/outbox").await.json().await.unwrap();
        if let Some(mail) =
            outbox.as_array().unwrap().iter().find(|mail| mail["to"] == email && mail["status"] == status)
        {
            return mail.clone();
        }
        assert!(Instant::now() < deadline, "no {status} mail to {email}: {outbox}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn invites_go_out_by_smtp_when_it_is_configured() {
    let (port, received) = fake_smtp().await;
    let server = TestServer::start_with(Arc::new(tempfile::tempdir().unwrap()), |settings| {
        settings.smtp.url = Some(format!("smtp://127.0.0.1:{port}"));
    })
    .await;
    let admin = server.admin().await;
    let body = json!({ "first_name": "Sol", "last_name": "Ríos", "email": "sol@example.com", "roles": ["agent"] });
    assert_eq!(admin.post("/api/v1/users", body).await.status(), 201);
    let mail = outbox_entry(&admin, "sol@example.com", "sent").await;
    assert_eq!(mail["attempts"], 1);
    let received = received.lock().unwrap().clone();
    let (recipients, data) =
        received.iter().find(|(to, _)| to.contains(&"sol@example.com".to_owned())).expect("delivered");
    assert_eq!(recipients, &vec!["sol@example.com".to_owned()]);
    assert!(data.contains("Subject: Tu cuenta en centralita"), "{data}");
    // The body is quoted-printable, as mail clients expect; undo it to find the link.
    let decoded = data.replace("=\n", "").replace("=3D", "=");
    assert!(decoded.contains("/invite#token=in_"), "the invite link is in the mail: {decoded}");
    server.stop().await;
}

#[tokio::test]
async fn a_failed_delivery_is_kept_with_its_error_and_without_smtp_mail_waits_in_the_outbox() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let server = TestServer::start_with(Arc::new(tempfile::tempdir().unwrap()), |settings| {
        settings.smtp.url = Some(format!("smtp://127.0.0.1:{port}"));
    })
    .await;
    let admin = server.admin().await;
    let body = json!({ "first_name": "Max", "last_name": "Paz", "email": "max@example.com", "roles": ["agent"] });
    admin.post("/api/v1/users", body).await;
    let failed = outbox_entry(&admin, "max@example.com", "failed").await;
    assert!(failed["last_error"].as_str().is_some_and(|error| !error.is_empty()));
    assert!(failed["sent_at"].is_null(), "not lost: still waiting to be sent");
    server.stop().await;

    let plain = TestServer::start().await;
    let admin = plain.admin().await;
    let body = json!({ "first_name": "Ada", "last_name": "Luz", "email": "ada@example.com", "roles": ["agent"] });
    admin.post("/api/v1/users", body).await;
    let waiting = outbox_entry(&admin, "ada@example.com", "waiting").await;
    assert_eq!(waiting["attempts"], 0);
    plain.stop().await;
}

/// Mails to `email` in the outbox now.
async fn mails_to(admin: &Staff, email: &str) -> Vec<Value> {
    let outbox: Value = admin.get("/api/v1/outbox").await.json().await.unwrap();
    outbox.as_array().unwrap().iter().filter(|mail| mail["to"] == email).cloned().collect()
}

/// Waits (at most `within`) for a mail to `email` whose subject contains `subject`.
async fn mail_within(admin: &Staff, email: &str, subject: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let mails = mails_to(admin, email).await;
        if let Some(mail) = mails.iter().find(|mail| mail["subject"].as_str().unwrap_or("").contains(subject)) {
            return mail.clone();
        }
        assert!(Instant::now() < deadline, "no mail \"{subject}\" to {email} within {within:?}: {mails:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn opt_in(user: &Staff, body: Value) {
    assert_eq!(user.patch("/api/v1/me", body).await.status(), 200);
}

#[tokio::test]
async fn an_assignment_mails_an_agent_who_opted_in_once_a_minute_per_conversation_in_her_language() {
    let (port, received) = fake_smtp().await;
    let desk = Desk::open_with(|settings| settings.smtp.url = Some(format!("smtp://127.0.0.1:{port}"))).await;
    let (ana, _ana_socket) = desk.agent("ana@example.com", 3, &[]).await;
    opt_in(&ana, json!({ "first_name": "Ana", "language": "en", "notify_assignments": true })).await;
    let me: Value = ana.get("/api/v1/me").await.json().await.unwrap();
    assert_eq!((me["notify_assignments"].as_bool(), me["notify_group_queue"].as_bool()), (Some(true), Some(false)));

    // Routing gives Ana the first conversation: one mail, in English, within 2 s.
    let started = Instant::now();
    let first: Value = desk.customer("Marta Gil", "hola").await.json().await.unwrap();
    let id = first["conversation"]["id"].as_u64().unwrap();
    let mail =
        mail_within(&desk.admin, "ana@example.com", "Conversation assigned: Marta Gil", Duration::from_secs(2)).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    let body = mail["body"].as_str().unwrap();
    let link = format!("{}/conversations#conversation={id}", desk.server.running.public_url);
    for part in ["Hello Ana", "Channel: Tienda", "Queue: general", &format!("#{id}"), link.as_str()] {
        assert!(body.contains(part), "{part} in {body}");
    }
    // And it leaves by SMTP at once, not at the next sweep.
    let deadline = Instant::now() + Duration::from_secs(2);
    let delivered = |data: &String| data.contains("Subject: Conversation assigned: Marta Gil");
    while !received.lock().unwrap().iter().any(|(to, data)| to == &["ana@example.com"] && delivered(data)) {
        assert!(Instant::now() < deadline, "not delivered by SMTP: {:?}", received.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A supervisor moves it to Luis (who did not opt in) and back within the minute: no new mail.
    let (luis, _luis_socket) = desk.agent("luis@example.com", 3, &[]).await;
    let sergio = desk.server.user(&desk.admin, "sergio@example.com", &["supervisor"], &[]).await;
    opt_in(&sergio, json!({ "first_name": "Sergio", "last_name": "Ruiz" })).await;
    for agent in [luis.id(), ana.id()] {
        let moved = sergio.post(&format!("/api/v1/conversations/{id}/assign"), json!({ "agent_id": agent })).await;
        assert_eq!(moved.status(), 200);
    }
    // Another conversation the supervisor gives her is mailed, naming him; it comes after the
    // refused one would have, so by now a second mail about the first would be in the outbox.
    let second: Value = desk.customer("Pablo", "hola").await.json().await.unwrap();
    let second_id = second["conversation"]["id"].as_u64().unwrap();
    let holder = desk.conversation(&second["conversation"]["id"]).await["assignee"]["id"].as_u64().unwrap();
    if holder == ana.id() {
        mail_within(&desk.admin, "ana@example.com", "Conversation assigned: Pablo", Duration::from_secs(2)).await;
    } else {
        let moved =
            sergio.post(&format!("/api/v1/conversations/{second_id}/assign"), json!({ "agent_id": ana.id() })).await;
        assert_eq!(moved.status(), 200);
        let mail =
            mail_within(&desk.admin, "ana@example.com", "Conversation assigned: Pablo", Duration::from_secs(2)).await;
        assert!(
            mail["body"].as_str().unwrap().contains("Sergio Ruiz assigned a conversation to you."),
            "names who assigned it: {mail}"
        );
    }
    let about_first = mails_to(&desk.admin, "ana@example.com").await;
    let about_first = about_first.iter().filter(|mail| mail["subject"].as_str().unwrap().contains("Marta Gil"));
    assert_eq!(about_first.count(), 1, "one mail per conversation a minute");
    assert!(
        mails_to(&desk.admin, "luis@example.com")
            .await
            .iter()
            .all(|mail| !mail["subject"].as_str().unwrap().contains("assigned")),
        "Luis did not opt in"
    );
    desk.server.stop().await;
}

#[tokio::test]
async fn a_conversation_waiting_in_a_group_queue_mails_the_members_who_opted_in() {
    let desk = Desk::open().await;
    let (eva, _eva_socket) = desk.agent("eva@example.com", 3, &["dispenser"]).await;
    let (luis, _luis_socket) = desk.agent("luis@example.com", 3, &[]).await;
    opt_in(&eva, json!({ "notify_group_queue": true, "notify_assignments": true })).await;
    for agent in [&eva, &luis] {
        let off = agent.request(reqwest::Method::PUT, "/api/v1/me/availability").json(&json!({ "available": false }));
        assert_eq!(off.send().await.unwrap().status(), 200);
    }
    let group: Value = desk
        .admin
        .post("/api/v1/groups", json!({ "name": "Ventas", "members": [eva.id(), luis.id()] }))
        .await
        .json()
        .await
        .unwrap();
    let channel: Value = desk
        .admin
        .post("/api/v1/channels", json!({ "kind": "api", "name": "Ventas web", "group": group["id"] }))
        .await
        .json()
        .await
        .unwrap();
    let url = desk.server.url(&format!("/api/v1/channels/{}/messages", channel["id"]));
    let body = json!({ "contact": { "identifier": "v1" }, "text": "hola" });
    let sent =
        desk.server.client.post(url).bearer_auth(channel["token"].as_str().unwrap()).json(&body).send().await.unwrap();
    assert_eq!(sent.status(), 201);
    // Spanish (she chose no language), an anonymous visitor, the group's queue.
    let mail = mail_within(
        &desk.admin,
        "eva@example.com",
        "Conversación en espera en Ventas: Visitante",
        Duration::from_secs(2),
    )
    .await;
    assert!(mail["body"].as_str().unwrap().contains("Canal: Ventas web"), "{mail}");
    // She takes it herself: no mail for that. Luis did not opt in: none at all.
    let taken = eva.post("/api/v1/conversations/next", json!({})).await;
    assert_eq!(taken.status(), 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(mails_to(&desk.admin, "eva@example.com").await.len(), 2, "the invite and the queue notice only");
    assert_eq!(mails_to(&desk.admin, "luis@example.com").await.len(), 1, "only his invite");
    desk.server.stop().await;
}

/// A group with `members`, and an API channel into it.
async fn group_channel(desk: &Desk, name: &str, members: &[u64]) -> (Value, Value) {
    let group: Value =
        desk.admin.post("/api/v1/groups", json!({ "name": name, "members": members })).await.json().await.unwrap();
    let channel: Value = desk
        .admin
        .post("/api/v1/channels", json!({ "kind": "api", "name": format!("{name} web"), "group": group["id"] }))
        .await
        .json()
        .await
        .unwrap();
    (group, channel)
}

#[tokio::test]
async fn a_transfer_to_a_group_mails_whom_routing_chose_without_blaming_the_one_transferring() {
    let desk = Desk::open().await;
    let (ana, _ana_socket) = desk.agent("ana@example.com", 3, &["transfer"]).await;
    let (bruno, _bruno_socket) = desk.agent("bruno@example.com", 3, &[]).await;
    opt_in(&ana, json!({ "first_name": "Ana", "last_name": "Ruiz" })).await;
    opt_in(&bruno, json!({ "first_name": "Bruno", "language": "en", "notify_assignments": true })).await;
    let soporte: Value = desk
        .admin
        .post("/api/v1/groups", json!({ "name": "Soporte", "members": [bruno.id()] }))
        .await
        .json()
        .await
        .unwrap();
    let written: Value = desk.customer("Marta", "hola").await.json().await.unwrap();
    let id = written["conversation"]["id"].clone();
    assert_eq!(desk.conversation(&id).await["assignee"]["id"], ana.id(), "the first agent by id");
    let moved = ana.post(&format!("/api/v1/conversations/{id}/transfer"), json!({ "group_id": soporte["id"] })).await;
    assert_eq!(moved.status(), 200);
    assert_eq!(desk.conversation(&id).await["assignee"]["id"], bruno.id(), "routing gave it to Bruno");
    let mail =
        mail_within(&desk.admin, "bruno@example.com", "Conversation assigned: Marta", Duration::from_secs(2)).await;
    let body = mail["body"].as_str().unwrap();
    assert!(body.contains("A conversation was assigned to you."), "routing's choice: {body}");
    assert!(!body.contains("Ana"), "Ana chose the group, not Bruno: {body}");

    // A transfer to him by name is Ana's choice, and says so.
    let other: Value = desk.customer("Pablo", "hola").await.json().await.unwrap();
    let other_id = other["conversation"]["id"].clone();
    let holder = desk.conversation(&other_id).await["assignee"]["id"].as_u64().unwrap();
    assert_eq!(holder, ana.id(), "Ana has the fewest open");
    let named =
        ana.post(&format!("/api/v1/conversations/{other_id}/transfer"), json!({ "agent_id": bruno.id() })).await;
    assert_eq!(named.status(), 200);
    let mail =
        mail_within(&desk.admin, "bruno@example.com", "Conversation assigned: Pablo", Duration::from_secs(2)).await;
    assert!(mail["body"].as_str().unwrap().contains("Ana Ruiz assigned a conversation to you."), "{mail}");
    desk.server.stop().await;
}

#[tokio::test]
async fn work_returned_to_a_queue_mails_the_members_who_opted_in() {
    let desk = Desk::open().await;
    let (ana, _ana_socket) = desk.agent("ana@example.com", 3, &[]).await;
    let (eva, _eva_socket) = desk.agent("eva@example.com", 3, &[]).await;
    opt_in(&eva, json!({ "language": "en", "notify_group_queue": true })).await;
    let off = eva.request(reqwest::Method::PUT, "/api/v1/me/availability").json(&json!({ "available": false }));
    assert_eq!(off.send().await.unwrap().status(), 200);
    let (_, channel) = group_channel(&desk, "Ventas", &[ana.id(), eva.id()]).await;
    let url = desk.server.url(&format!("/api/v1/channels/{}/messages", channel["id"]));
    let body = json!({ "contact": { "identifier": "v1", "name": "Marta" }, "text": "hola" });
    let sent: Value = desk
        .server
        .client
        .post(url)
        .bearer_auth(channel["token"].as_str().unwrap())
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = sent["conversation"]["id"].clone();
    assert_eq!(desk.conversation(&id).await["assignee"]["id"], ana.id());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        mails_to(&desk.admin, "eva@example.com")
            .await
            .iter()
            .all(|m| !m["subject"].as_str().unwrap().contains("waiting")),
        "assigned at once: nothing waited"
    );
    // Ana is deactivated: her conversation goes back to Ventas' queue, where Eva hears of it.
    let patched = desk.admin.patch(&format!("/api/v1/users/{}", ana.id()), json!({ "active": false })).await;
    assert_eq!(patched.status(), 200);
    assert_eq!(desk.conversation(&id).await["status"], "queued");
    mail_within(&desk.admin, "eva@example.com", "Conversation waiting in Ventas: Marta", Duration::from_secs(2)).await;
    desk.server.stop().await;
}
