//! The retention job over the real server and database (issue 14, point 4): with a short
//! retention and the clock moved on, delivered webhooks, sent mail, expired links and ended
//! sessions go, while pending deliveries, unsent mail, live links and live sessions stay; the
//! mailer sends what waited across a restart; a database from before the indexes gets them.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use centralita::clock::Clock;
use centralita::config::Settings;
use centralita::domain::secret;
use common::{Desk, PASSWORD, Received, Staff, TestServer, fake_smtp, token_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

const DAY_MS: u64 = 86_400_000;

fn short_retention(settings: &mut Settings) {
    settings.retention.webhook_deliveries_days = 1;
    settings.retention.mail_days = 1;
    // Sessions idle for two days end; the test's own stay alive until then.
    settings.auth.session_idle = Duration::from_secs(2 * 86_400);
    settings.auth.session_max = Duration::from_secs(30 * 86_400);
}

fn session_hash(staff: &Staff) -> [u8; 32] {
    secret::hash(staff.cookie.split_once('=').unwrap().1)
}

/// A webhook receiver on 127.0.0.1 answering `status` to every call; counts the calls.
async fn receiver(status: StatusCode) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let counted = Arc::clone(&counted);
            async move {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                status
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The link in the newest mail the fake SMTP server got for `to`.
fn received_token(received: &Received, to: &str) -> String {
    let got = received.lock().unwrap();
    let (_, data) = got.iter().rev().find(|(rcpt, _)| rcpt.iter().any(|r| r == to)).expect("a mail to the user");
    // The body is quoted-printable: undo it to find the link.
    let decoded = data.replace("=\n", "").replace("=3D", "=");
    let word = decoded.split_whitespace().find(|word| word.contains("#token=")).expect("a link in the mail");
    token_of(word)
}

fn mailed(received: &Received, to: &str) -> bool {
    received.lock().unwrap().iter().any(|(rcpt, _)| rcpt.iter().any(|r| r == to))
}

/// Invites `email` and signs them in through the link the fake SMTP server received.
async fn invited(server: &TestServer, admin: &Staff, received: &Received, email: &str) -> Staff {
    let body = json!({ "first_name": "A", "last_name": "B", "email": email, "roles": ["agent"] });
    assert_eq!(admin.post("/api/v1/users", body).await.status(), StatusCode::CREATED);
    wait_for("the invite", || mailed(received, email)).await;
    let token = received_token(received, email);
    let accepted = server.post("/api/v1/invites/accept", json!({ "token": token, "password": PASSWORD })).await;
    Staff::from_response(server, accepted).await
}

/// One customer message on `channel` answered by `agent`: one webhook delivery to its receiver.
async fn reply_through(desk: &Desk, agent: &Staff, channel: &Value, who: &str) {
    let inbound = desk
        .server
        .client
        .post(desk.server.url(&format!("/api/v1/channels/{}/messages", channel["id"])))
        .bearer_auth(channel["token"].as_str().unwrap())
        .json(&json!({ "contact": { "identifier": who }, "text": "hola" }))
        .send()
        .await
        .unwrap();
    assert!(inbound.status().is_success(), "{}", inbound.text().await.unwrap());
    let id = inbound.json::<Value>().await.unwrap()["conversation"]["id"].clone();
    let replied = agent.post(&format!("/api/v1/conversations/{id}/messages"), json!({ "text": "¡Hola!" })).await;
    assert!(replied.status().is_success(), "{}", replied.text().await.unwrap());
}

#[tokio::test]
async fn old_finished_records_go_and_what_is_still_needed_stays() {
    let (port, received) = fake_smtp().await;
    let desk = Desk::open_with(|settings| {
        short_retention(settings);
        settings.smtp.url = Some(format!("smtp://127.0.0.1:{port}"));
    })
    .await;
    let server = &desk.server;
    // A delivered webhook and one whose receiver always fails (pending for ever).
    let (good_url, good_calls) = receiver(StatusCode::OK).await;
    let (bad_url, bad_calls) = receiver(StatusCode::SERVICE_UNAVAILABLE).await;
    let channel = |name: &str, url: &str| json!({ "kind": "api", "name": name, "webhook_url": url });
    let good: Value = desk.admin.post("/api/v1/channels", channel("Good", &good_url)).await.json().await.unwrap();
    let bad: Value = desk.admin.post("/api/v1/channels", channel("Bad", &bad_url)).await.json().await.unwrap();
    let (agent, _presence) = desk.agent("ana@example.com", 5, &[]).await;
    reply_through(&desk, &agent, &good, "+56911111111").await;
    reply_through(&desk, &agent, &bad, "+56922222222").await;
    wait_for("the deliveries", || {
        good_calls.load(std::sync::atomic::Ordering::SeqCst) >= 1
            && bad_calls.load(std::sync::atomic::Ordering::SeqCst) >= 1
    })
    .await;
    // A sent invite whose link will expire, and a session that will end.
    let created = desk
        .admin
        .post(
            "/api/v1/users",
            json!({ "first_name": "Old", "last_name": "Invite", "email": "old@example.com", "roles": ["agent"] }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    wait_for("the old invite", || mailed(&received, "old@example.com")).await;
    let old_link = secret::hash(&received_token(&received, "old@example.com"));
    assert!(server.running.store.read().unwrap().link(old_link).unwrap().is_some());
    let idle = invited(server, &desk.admin, &received, "idle@example.com").await;
    let store = server.running.store.clone();
    let read = || store.read().unwrap();
    let (delivered, pending) = (1..=2)
        .map(|id| read().delivery(id).unwrap().unwrap())
        .partition::<Vec<_>, _>(|delivery| delivery.delivered_at.is_some());
    assert_eq!((delivered.len(), pending.len()), (1, 1));
    assert!(read().session(session_hash(&idle)).unwrap().is_some());

    // Eight days later: the invite's link has expired, the idle session ended, the delivery and
    // the mail are past their day.
    server.running.clock.advance(8 * DAY_MS);
    let admin = Staff::from_response(server, server.login("admin@localhost", PASSWORD).await).await;
    let created = admin
        .post(
            "/api/v1/users",
            json!({ "first_name": "New", "last_name": "Invite", "email": "new@example.com", "roles": ["agent"] }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    wait_for("the new invite", || mailed(&received, "new@example.com")).await;
    let new_link = secret::hash(&received_token(&received, "new@example.com"));
    let fresh = invited(server, &admin, &received, "fresh@example.com").await;
    server.running.retention.run_now().await;

    assert!(read().delivery(delivered[0].id).unwrap().is_none(), "the delivered webhook went");
    assert!(read().delivery(pending[0].id).unwrap().is_some(), "the pending one stays");
    let mails: Vec<String> = read().mails(None, 100).unwrap().into_iter().map(|mail| mail.to).collect();
    assert!(mails.contains(&"new@example.com".to_owned()), "mail sent today stays: {mails:?}");
    assert!(!mails.contains(&"old@example.com".to_owned()), "mail sent 8 days ago went: {mails:?}");
    assert!(read().link(old_link).unwrap().is_none(), "the expired link went");
    assert!(read().link(new_link).unwrap().is_some(), "the live link stays");
    assert!(read().session(session_hash(&idle)).unwrap().is_none(), "the ended session went");
    for live in [&admin, &fresh] {
        assert!(read().session(session_hash(live)).unwrap().is_some(), "a live session stays");
        assert_eq!(live.get("/api/v1/me").await.status(), StatusCode::OK);
    }
    assert_eq!(idle.get("/api/v1/me").await.status(), StatusCode::UNAUTHORIZED);
    desk.server.stop().await;
}

/// Removes what a database written before the indexes lacks: the tables and the mark.
fn make_it_old(dir: &std::path::Path) {
    use centralita::store::tables::{
        DELIVERED_AT_DELIVERY_IDS, EXPIRES_AT_LINK_HASHES, META, PENDING_MAIL_IDS, SEEN_AT_SESSION_HASHES,
        SENT_AT_MAIL_IDS,
    };
    let db = redb::Database::open(dir.join("centralita.redb")).unwrap();
    let tx = db.begin_write().unwrap();
    assert!(tx.delete_table(PENDING_MAIL_IDS).unwrap(), "the pending index existed");
    tx.delete_table(SENT_AT_MAIL_IDS).unwrap();
    tx.delete_table(DELIVERED_AT_DELIVERY_IDS).unwrap();
    tx.delete_table(EXPIRES_AT_LINK_HASHES).unwrap();
    tx.delete_table(SEEN_AT_SESSION_HASHES).unwrap();
    assert!(tx.open_table(META).unwrap().remove("retention_indexes_built").unwrap().is_some());
    tx.commit().unwrap();
}

/// Mail sent on the first run, mail that could not be sent on the second (no SMTP server
/// answers), then a third run days later with SMTP working: the waiting mail goes out, the old
/// sent mail, its expired link and the ended session are deleted, on a database that had its
/// indexes (`old: false`) or was written before them (`old: true`).
async fn restarts_days_later(old: bool) {
    let (port, received) = fake_smtp().await;
    let smtp = move |settings: &mut Settings| {
        short_retention(settings);
        settings.smtp.url = Some(format!("smtp://127.0.0.1:{port}"));
    };
    let server = TestServer::start_with(Arc::new(tempfile::tempdir().unwrap()), smtp).await;
    let admin = server.admin().await;
    let invite = |email: &str| json!({ "first_name": "A", "last_name": "B", "email": email, "roles": ["agent"] });
    assert_eq!(admin.post("/api/v1/users", invite("sent@example.com")).await.status(), StatusCode::CREATED);
    wait_for("the first invite", || mailed(&received, "sent@example.com")).await;
    let sent_link = secret::hash(&received_token(&received, "sent@example.com"));
    let admin_session = session_hash(&admin);
    let read = server.running.store.read().unwrap();
    assert!(read.link(sent_link).unwrap().is_some() && read.session(admin_session).unwrap().is_some());
    drop(read);
    let dir = server.stop().await;

    // No SMTP server listens there: the mail waits.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = TestServer::start_with(Arc::clone(&dir), |settings| {
        short_retention(settings);
        settings.smtp.url = Some(format!("smtp://127.0.0.1:{closed}"));
    })
    .await;
    let admin = Staff::from_response(&server, server.login("admin@localhost", PASSWORD).await).await;
    assert_eq!(admin.post("/api/v1/users", invite("waiting@example.com")).await.status(), StatusCode::CREATED);
    let store = server.running.store.clone();
    wait_for("a failed attempt", || {
        store.read().unwrap().unsent_mails(10).unwrap().iter().any(|mail| mail.attempts > 0)
    })
    .await;
    drop(store);
    let dir = server.stop().await;
    if old {
        make_it_old(dir.path());
    }

    let clock = Clock::default();
    clock.advance(8 * DAY_MS);
    let server = TestServer::start_with_clock(Arc::clone(&dir), clock, smtp).await;
    wait_for("the mail that waited", || mailed(&received, "waiting@example.com")).await;
    server.running.retention.run_now().await;
    let read = server.running.store.read().unwrap();
    let mails: Vec<String> = read.mails(None, 100).unwrap().into_iter().map(|mail| mail.to).collect();
    assert_eq!(mails, ["waiting@example.com"], "the mail sent 8 days ago went, the one sent now stays");
    assert!(read.unsent_mails(10).unwrap().is_empty());
    assert!(read.link(sent_link).unwrap().is_none(), "the expired link went");
    assert!(read.session(admin_session).unwrap().is_none(), "the ended session went");
    drop(read);
    server.stop().await;
}

#[tokio::test]
async fn the_mailer_sends_what_waited_after_a_restart_and_old_mail_goes() {
    restarts_days_later(false).await;
}

#[tokio::test]
async fn a_database_from_before_the_indexes_gets_them_and_is_purged_the_same() {
    restarts_days_later(true).await;
}

#[test]
fn a_retention_of_zero_days_is_refused_with_the_key_named() {
    let file = centralita::config::ConfigFile {
        path: std::path::Path::new("/etc/c.toml"),
        text: "[retention]\nmail_days = 0\n",
    };
    let err = centralita::config::resolve(Some(file), &[], &[]).unwrap_err();
    assert!(err.to_string().contains("retention.mail_days"), "{err}");
}
