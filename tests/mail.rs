//! Mail leaves by SMTP when `smtp.url` is set (to a fake SMTP server on 127.0.0.1 that records
//! what it receives), stays in the outbox when it is not, and a failed delivery is recorded.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A minimal SMTP server: accepts every message and keeps (recipients, data).
async fn fake_smtp() -> (u16, Arc<Mutex<Vec<(Vec<String>, String)>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&received);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sink = Arc::clone(&sink);
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 fake ESMTP\r\n").await.unwrap();
                let (mut recipients, mut data, mut in_data) = (Vec::new(), String::new(), false);
                while let Ok(Some(line)) = lines.next_line().await {
                    if in_data {
                        if line == "." {
                            in_data = false;
                            sink.lock().unwrap().push((std::mem::take(&mut recipients), std::mem::take(&mut data)));
                            write.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            data.push_str(&line);
                            data.push('\n');
                        }
                        continue;
                    }
                    let upper = line.to_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250-fake\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        recipients.push(line[8..].trim().trim_matches(['<', '>']).to_owned());
                        b"250 ok\r\n"
                    } else if upper.starts_with("DATA") {
                        in_data = true;
                        b"354 go ahead\r\n"
                    } else if upper.starts_with("QUIT") {
                        write.write_all(b"221 bye\r\n").await.unwrap();
                        break;
                    } else {
                        b"250 ok\r\n"
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, received)
}

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
