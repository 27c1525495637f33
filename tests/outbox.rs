//! Invite and reset links at rest (issue 13, finding 2): a sent mail keeps no live token, in the
//! outbox or anywhere in the database file; a mail waiting in the outbox shows its link only while
//! the link works; an administrator reading someone else's reset link there is in the audit log.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use centralita::domain::mail::Removal;
use common::*;
use serde_json::{Value, json};

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// The tokens of the links in what the SMTP server received (quoted-printable undone).
fn tokens_received(received: &Received) -> Vec<String> {
    let mut tokens = Vec::new();
    for (_, data) in received.lock().unwrap().iter() {
        let decoded = data.replace("=\n", "").replace("=3D", "=");
        for part in decoded.split("#token=").skip(1) {
            let token: String =
                part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect();
            tokens.push(token);
        }
    }
    tokens
}

async fn outbox(admin: &Staff) -> Vec<Value> {
    let response = admin.get("/api/v1/outbox?limit=100").await;
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap().as_array().unwrap().clone()
}

/// Waits until `count` mails are in the outbox and every one of them is sent.
async fn all_sent(admin: &Staff, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mails = outbox(admin).await;
        if mails.len() >= count && mails.iter().all(|mail| mail["status"] == "sent") {
            return mails;
        }
        assert!(Instant::now() < deadline, "not all sent: {mails:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle.as_bytes())
}

/// The acceptance: after 10 invites and 10 resets, all sent, no live token is anywhere in
/// the bytes of the database file (what `strings` would find), while every link still works.
#[tokio::test]
async fn no_live_invite_or_reset_token_is_left_in_the_database_file_once_mail_is_sent() {
    let (port, received) = fake_smtp().await;
    let server = TestServer::start_with(Arc::new(tempfile::tempdir().unwrap()), |settings| {
        settings.smtp.url = Some(format!("smtp://127.0.0.1:{port}"));
        // Each reset from its own address, so the forgot-password throttle stays out of the way.
        settings.http.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let admin = server.admin().await;
    for i in 0..10 {
        let body = json!({ "first_name": "Ana", "last_name": "Gil", "email": format!("u{i}@example.com"), "roles": ["agent"] });
        assert_eq!(admin.post("/api/v1/users", body).await.status(), 201);
    }
    for i in 0..10 {
        let forgot = server
            .client
            .post(server.url("/api/v1/auth/password/forgot"))
            .header("x-forwarded-for", format!("203.0.113.{}", i + 1))
            .json(&json!({ "email": format!("u{i}@example.com") }))
            .send()
            .await
            .unwrap();
        assert_eq!(forgot.status(), 202);
    }
    let mails = all_sent(&admin, 20).await;
    let tokens = tokens_received(&received);
    let unique: HashSet<&String> = tokens.iter().collect();
    assert_eq!(unique.len(), 20, "20 links went out: {tokens:?}");
    assert_eq!(tokens.iter().filter(|t| t.starts_with("in_") && t.len() == 46).count(), 10);
    assert_eq!(tokens.iter().filter(|t| t.starts_with("rs_") && t.len() == 46).count(), 10);
    // Every link still works: removing it from the stored mail did not spend it.
    for token in &tokens {
        let check = server.post("/api/v1/links/check", json!({ "token": token })).await;
        assert_eq!(check.status(), 200, "{token} works");
    }
    // The outbox keeps the mails, with the link removed.
    for mail in &mails {
        let body = mail["body"].as_str().unwrap();
        assert!(!body.contains("#token="), "a sent mail shows a link: {body}");
        assert!(tokens.iter().all(|token| !body.contains(token.as_str())));
        assert_eq!(mail["link"]["status"], "sent", "{mail}");
    }
    let dir = server.stop().await;
    let bytes = std::fs::read(dir.path().join("centralita.redb")).unwrap();
    let found: Vec<&String> = tokens.iter().filter(|token| contains(&bytes, token)).collect();
    assert!(found.is_empty(), "{} of 20 live tokens are in the database file: {found:?}", found.len());
    assert!(!contains(&bytes, "#token=in_") && !contains(&bytes, "#token=rs_"), "no link at all in the file");
}

/// The mails to `email`, newest first.
async fn mails_to(admin: &Staff, email: &str) -> Vec<Value> {
    outbox(admin).await.into_iter().filter(|mail| mail["to"] == email).collect()
}

fn link_status(mail: &Value) -> &str {
    mail["link"]["status"].as_str().unwrap_or("no link")
}

/// What the database holds of a mail's link: (its address, why it was removed).
fn stored_link(server: &TestServer, id: u64) -> (Option<String>, Option<Removal>) {
    let mails = server.running.store.read().unwrap().mails(None, 100).unwrap();
    let link = mails.into_iter().find(|mail| mail.id == id).and_then(|mail| mail.link).expect("a mail with a link");
    (link.url, link.removed)
}

/// Without SMTP a waiting mail is how the link reaches its user, so administrators read it there:
/// only while it works. Replacing or using the link takes it out of the stored mail at once;
/// expiry is judged when the outbox is read.
#[tokio::test]
async fn a_waiting_mail_shows_its_link_only_while_the_link_works() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let body = json!({ "first_name": "Luis", "last_name": "Gómez", "email": "luis@example.com", "roles": ["agent"] });
    let luis: Value = admin.post("/api/v1/users", body).await.json().await.unwrap();
    let first = mails_to(&admin, "luis@example.com").await.remove(0);
    assert_eq!((first["status"].as_str(), link_status(&first)), (Some("waiting"), "live"));
    assert_eq!((first["link"]["kind"].as_str(), &first["link"]["user_id"]), (Some("invite"), &luis["id"]));
    let first_token = token_of(&server.mailed_link(&admin, "luis@example.com").await);
    assert!(first_token.starts_with("in_"));
    let first_id = first["id"].as_u64().unwrap();
    assert_eq!(
        stored_link(&server, first_id).0.map(|url| token_of(&url)),
        Some(first_token.clone()),
        "kept to be read"
    );

    // A new invitation replaces the link: the old mail no longer shows it, in the database either.
    let resent = admin.post(&format!("/api/v1/users/{}/invite", luis["id"]), json!({})).await;
    assert_eq!(resent.status(), 202);
    let mails = mails_to(&admin, "luis@example.com").await;
    assert_eq!((link_status(&mails[0]), link_status(&mails[1])), ("live", "replaced"));
    let old_body = mails[1]["body"].as_str().unwrap();
    assert!(!old_body.contains("#token=") && old_body.contains("[enlace retirado: lo sustituyó otro más reciente]"));
    assert_eq!(stored_link(&server, first_id), (None, Some(Removal::Replaced)));

    // Used: gone from its mail in the same write.
    let second = token_of(&server.mailed_link(&admin, "luis@example.com").await);
    let accepted = server.post("/api/v1/invites/accept", json!({ "token": second, "password": PASSWORD })).await;
    assert_eq!(accepted.status(), 200);
    let used = mails_to(&admin, "luis@example.com").await.remove(0);
    assert_eq!(link_status(&used), "used");
    assert!(used["body"].as_str().unwrap().contains("[enlace retirado: ya se usó]"), "{used}");
    assert_eq!(stored_link(&server, used["id"].as_u64().unwrap()), (None, Some(Removal::Used)));

    // A password change revokes a waiting reset link: gone from its mail in the same write.
    forgot(&server, "luis@example.com").await;
    assert_eq!(link_status(&mails_to(&admin, "luis@example.com").await[0]), "live");
    let luis = Staff::from_response(&server, server.login("luis@example.com", PASSWORD).await).await;
    let change = json!({ "current_password": PASSWORD, "new_password": "another long password" });
    assert_eq!(luis.post("/api/v1/me/password", change).await.status(), 200);
    let revoked = mails_to(&admin, "luis@example.com").await.remove(0);
    assert_eq!(link_status(&revoked), "revoked");
    assert!(revoked["body"].as_str().unwrap().contains("[enlace retirado: la contraseña cambió]"), "{revoked}");
    assert_eq!(stored_link(&server, revoked["id"].as_u64().unwrap()), (None, Some(Removal::Revoked)));

    // A reset link shows until it expires, then no more (nothing had to be written for that).
    let forgot = server.post("/api/v1/auth/password/forgot", json!({ "email": "luis@example.com" })).await;
    assert_eq!(forgot.status(), 202);
    let reset = mails_to(&admin, "luis@example.com").await.remove(0);
    assert_eq!((reset["link"]["kind"].as_str(), link_status(&reset)), (Some("reset"), "live"));
    server.running.clock.advance(7 * DAY_MS - 1000);
    let admin = Staff::from_response(&server, server.login("admin@localhost", PASSWORD).await).await;
    assert_eq!(link_status(&mails_to(&admin, "luis@example.com").await[0]), "live", "at 7 days - 1 s");
    server.running.clock.advance(2000);
    let expired = mails_to(&admin, "luis@example.com").await.remove(0);
    assert_eq!(link_status(&expired), "expired", "at 7 days + 1 s");
    let body = expired["body"].as_str().unwrap();
    assert!(!body.contains("#token=") && body.contains("[enlace retirado: venció]"), "{body}");
    // Mail that never carried a link has none to judge.
    assert!(outbox(&admin).await.iter().all(|mail| mail["link"].is_null() || mail["to"] == "luis@example.com"));
    server.stop().await;
}

async fn reset_link_reads(admin: &Staff) -> Vec<Value> {
    let audit: Value = admin.get("/api/v1/audit?limit=200").await.json().await.unwrap();
    audit.as_array().unwrap().iter().filter(|entry| entry["action"] == "mail.reset_link_read").cloned().collect()
}

async fn forgot(server: &TestServer, email: &str) {
    assert_eq!(server.post("/api/v1/auth/password/forgot", json!({ "email": email })).await.status(), 202);
}

/// Someone else's live reset link opens their account: whoever is shown one in the outbox is
/// written to the audit log (who, whose, when). One's own link, invite links, and links that no
/// longer work are not.
#[tokio::test]
async fn an_administrator_shown_someone_elses_reset_link_is_in_the_audit_log() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let eva = server.user(&admin, "eva@example.com", &["admin"], &[]).await;
    assert!(reset_link_reads(&admin).await.is_empty(), "reading Eva's invite is not recorded");
    forgot(&server, "admin@localhost").await;
    let before = server.running.clock.now();
    let mails = outbox(&admin).await;
    assert!(reset_link_reads(&admin).await.is_empty(), "her own reset link: {mails:?}");

    forgot(&server, "eva@example.com").await;
    let eva_mail = mails_to(&admin, "eva@example.com").await.remove(0);
    assert_eq!((eva_mail["link"]["kind"].as_str(), link_status(&eva_mail)), (Some("reset"), "live"));
    let reads = reset_link_reads(&admin).await;
    assert_eq!(reads.len(), 1, "{reads:?}");
    let read = &reads[0];
    assert_eq!(
        (read["actor"]["email"].as_str(), read["actor"]["user"].as_u64()),
        (Some("admin@localhost"), Some(admin.id()))
    );
    assert_eq!(read["target"], format!("user:{}", eva.id()));
    let detail = read["detail"].as_str().unwrap();
    assert!(detail.contains("eva@example.com") && detail.contains(&format!("mail {}", eva_mail["id"])), "{detail}");
    assert!(read["at"].as_u64().unwrap() >= before);

    // Eva reads the outbox: the administrator's link is someone else's to her.
    outbox(&eva).await;
    let reads = reset_link_reads(&admin).await;
    let by_eva: Vec<&Value> = reads.iter().filter(|entry| entry["actor"]["email"] == "eva@example.com").collect();
    assert_eq!(by_eva.len(), 1, "{reads:?}");
    assert_eq!(by_eva[0]["target"], format!("user:{}", admin.id()));

    // Once Eva used hers, reading it shows nothing and records nothing.
    let link = token_of(&server.mailed_link(&eva, "eva@example.com").await);
    let reset = server.post("/api/v1/auth/password/reset", json!({ "token": link, "password": PASSWORD })).await;
    assert_eq!(reset.status(), 200);
    let count = reset_link_reads(&admin).await.len();
    let eva_mail = mails_to(&admin, "eva@example.com").await.remove(0);
    assert_eq!(link_status(&eva_mail), "used");
    // (This read still shows the administrator her own link, which is not recorded either.)
    assert_eq!(reset_link_reads(&admin).await.len(), count, "nothing new recorded");
    server.stop().await;
}

/// With SMTP a link is held in memory only, never written to the database, even while delivery
/// fails; it is readable in the outbox meanwhile. After a restart the mailer replaces the lost
/// link with a new one that lasts as long, and sends that.
#[tokio::test]
async fn a_link_waiting_for_smtp_is_never_on_disk_and_a_restart_renews_it() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = closed.local_addr().unwrap().port();
    drop(closed);
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let server = TestServer::start_with(Arc::clone(&dir), |settings| {
        settings.smtp.url = Some(format!("smtp://127.0.0.1:{dead_port}"));
    })
    .await;
    let admin = server.admin().await;
    let body = json!({ "first_name": "Sol", "last_name": "Ríos", "email": "sol@example.com", "roles": ["agent"] });
    assert_eq!(admin.post("/api/v1/users", body).await.status(), 201);
    let deadline = Instant::now() + Duration::from_secs(10);
    while mails_to(&admin, "sol@example.com").await[0]["status"] != "failed" {
        assert!(Instant::now() < deadline, "no failed attempt");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first = token_of(&server.mailed_link(&admin, "sol@example.com").await);
    let bytes = std::fs::read(dir.path().join("centralita.redb")).unwrap();
    assert!(!contains(&bytes, &first), "a link waiting for SMTP is not in the database file");
    server.stop().await;

    let (port, received) = fake_smtp().await;
    let server = TestServer::start_with(dir, |settings| {
        settings.smtp.url = Some(format!("smtp://127.0.0.1:{port}"));
    })
    .await;
    let admin = Staff::from_response(&server, server.login("admin@localhost", PASSWORD).await).await;
    // The failed attempt's pause (two minutes) passes; any queued mail wakes the mailer.
    server.running.clock.advance(121_000);
    forgot(&server, "nobody@example.com").await;
    let mail = all_sent(&admin, 1).await.into_iter().find(|mail| mail["to"] == "sol@example.com").unwrap();
    assert_eq!(link_status(&mail), "sent");
    let tokens = tokens_received(&received);
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_ne!(tokens[0], first, "a new link");
    let old = server.post("/api/v1/links/check", json!({ "token": first })).await;
    assert_eq!(error_code(old).await, "link_replaced");
    let accepted = server.post("/api/v1/invites/accept", json!({ "token": tokens[0], "password": PASSWORD })).await;
    assert_eq!(accepted.status(), 200, "the new link works");
    let dir = server.stop().await;
    let bytes = std::fs::read(dir.path().join("centralita.redb")).unwrap();
    assert!(!contains(&bytes, &tokens[0]) && !contains(&bytes, &first));
}
