//! WebSockets count against `http.max_connections` for as long as they are open, and a user or a
//! visitor holds a bounded number of them (issue #12, point 4); one too many is closed at once
//! with 4008 `too_many_sockets`, which a browser can read.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{Mutex, Semaphore};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// A socket one too many opens, and is closed at once with 4008 `too_many_sockets` (what a
/// browser can read; an HTTP refusal would reach it only as 1006).
async fn refused(socket: Result<Socket, WsError>) -> (u16, String) {
    let mut socket = socket.expect("the upgrade is accepted, to say why it closes");
    let (code, reason, _) = closing(&mut socket, 3).await;
    (code, reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_upgrades_never_hold_more_than_max_connections() {
    const MAX: usize = 1000;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let server = TestServer::start_with(dir, |settings| {
        settings.http.max_connections = MAX;
        settings.http.max_sockets_per_user = 100_000;
        settings.http.max_sockets_per_address = 100_000;
    })
    .await;
    let admin = server.admin().await;
    let server = Arc::new(server);
    let cookie = admin.cookie.clone();

    // The server's own count of open connections, sampled all along.
    let peak = Arc::new(AtomicI64::new(0));
    let sampling = {
        let (server, peak) = (Arc::clone(&server), Arc::clone(&peak));
        tokio::spawn(async move {
            loop {
                peak.fetch_max(server.running.metrics.http.connections_open.get(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let started = Instant::now();
    let held = Arc::new(Mutex::new(Vec::new()));
    let (opened, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let in_flight = Arc::new(Semaphore::new(64));
    let mut attempts = Vec::new();
    for _ in 0..5000 {
        let permit = Arc::clone(&in_flight).acquire_owned().await.unwrap();
        let (server, cookie, held) = (Arc::clone(&server), cookie.clone(), Arc::clone(&held));
        let (opened, refused) = (Arc::clone(&opened), Arc::clone(&refused));
        attempts.push(tokio::spawn(async move {
            let _permit = permit;
            let headers = [("cookie", cookie.as_str())];
            let attempt = tokio::time::timeout(Duration::from_secs(10), open_socket(&server, &headers));
            match attempt.await {
                // Every socket that opened stays open to the end: all of them are open at once.
                Ok(Ok(socket)) => {
                    opened.fetch_add(1, Ordering::Relaxed);
                    held.lock().await.push(socket);
                }
                _ => {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for attempt in attempts {
        attempt.await.unwrap();
    }
    let (opened, refused) = (opened.load(Ordering::Relaxed), refused.load(Ordering::Relaxed));
    sampling.abort();
    let _ = sampling.await;
    let peak = peak.load(Ordering::Relaxed);
    assert_eq!(opened + refused, 5000);
    assert!(opened <= MAX, "{opened} sockets open at once with max_connections = {MAX}");
    assert!(peak <= MAX as i64, "the server counted {peak} connections open at once");
    // The limit was reached (the administrator's own HTTP connection holds a slot or two).
    assert!(opened >= MAX - 10, "only {opened} opened: the test did not reach the limit");
    let open_now = server.running.metrics.http.connections_open.get();
    assert!(open_now >= opened as i64, "the server counts {open_now} open while {opened} sockets are");

    // Closing them frees their slots: a new socket opens again.
    held.lock().await.clear();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.running.metrics.http.connections_open.get() > 10 {
        assert!(Instant::now() < deadline, "slots not freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    open_socket(&server, &[("cookie", &cookie)]).await.expect("a socket opens once others closed");
    eprintln!("5000 upgrades in {:?}: {opened} opened, {refused} refused", started.elapsed());
    Arc::into_inner(server).expect("no other handle").stop().await;
}

/// True when a new socket was refused (or failed): the caller tries again.
async fn refused_or_open(socket: Result<Socket, WsError>) -> bool {
    let Ok(mut socket) = socket else { return true };
    // A refused one closes at once; an accepted one stays open.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
    while let Ok(next) = tokio::time::timeout_at(deadline, socket.next()).await {
        if matches!(next, Some(Ok(Message::Close(_))) | None | Some(Err(_))) {
            return true;
        }
    }
    false
}

#[tokio::test]
async fn a_user_holds_at_most_max_sockets_per_user() {
    let server = TestServer::start_with(Arc::new(tempfile::tempdir().unwrap()), |settings| {
        settings.http.max_sockets_per_user = 2;
    })
    .await;
    let admin = server.admin().await;
    let cookie = [("cookie", admin.cookie.as_str())];
    let first = open_socket(&server, &cookie).await.unwrap();
    let _second = open_socket(&server, &cookie).await.unwrap();
    assert_eq!(refused(open_socket(&server, &cookie).await).await, (4008, "too_many_sockets".to_owned()));
    // Another user is not affected.
    let ana = server.user(&admin, "ana@example.com", &["supervisor"], &[]).await;
    let _hers = ana.socket(&server).await;
    // A closed socket frees its place.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    while refused_or_open(open_socket(&server, &cookie).await).await {
        assert!(Instant::now() < deadline, "the closed socket's place was not freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn a_visitor_holds_at_most_max_sockets_per_visitor() {
    let desk = Desk::open_with(|settings| settings.http.max_sockets_per_visitor = 2).await;
    let server = &desk.server;
    let widget: Value =
        desk.admin.post("/api/v1/channels", json!({ "kind": "widget", "name": "Sitio" })).await.json().await.unwrap();
    let start = server.post("/widget/v1/visitors", json!({ "channel": widget["public_key"] })).await;
    let token = start.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    let url = format!("wss://localhost:{}/widget/v1/ws?token={token}", server.addr().port());
    let open = || async {
        let (tls, _) = handshake(server.addr(), &[b"http/1.1"]).await.unwrap();
        tokio_tungstenite::client_async(url.clone(), tls).await.map(|(socket, _)| socket)
    };
    let _first = open().await.unwrap();
    let _second = open().await.unwrap();
    assert_eq!(refused(open().await).await, (4008, "too_many_sockets".to_owned()));
    // The refused socket's connection is let go once closed: only the two count.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.running.metrics.http.connections_open.get() > 3 {
        assert!(Instant::now() < deadline, "the refused socket's connection was kept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    desk.server.stop().await;
}

/// A new visitor's token, asked for from `address` (behind the trusted proxy).
async fn new_visitor(server: &TestServer, key: &Value, address: &str) -> String {
    let start = server
        .client
        .post(server.url("/widget/v1/visitors"))
        .header("x-forwarded-for", address)
        .json(&json!({ "channel": key }))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 201, "a visitor from {address}");
    start.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
}

/// The visitor socket of `token`, opened from `address` (behind the trusted proxy).
async fn visitor_socket(server: &TestServer, token: &str, address: &str) -> Result<Socket, WsError> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let (tls, _) = handshake(server.addr(), &[b"http/1.1"]).await.unwrap();
    let url = format!("wss://localhost:{}/widget/v1/ws?token={token}", server.addr().port());
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("x-forwarded-for", address.parse().unwrap());
    tokio_tungstenite::client_async(request, tls).await.map(|(socket, _)| socket)
}

/// Still open after a moment (a refused socket is closed at once).
async fn stays_open(socket: &mut Socket) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
    while let Ok(next) = tokio::time::timeout_at(deadline, socket.next()).await {
        if matches!(next, Some(Ok(Message::Close(_))) | None | Some(Err(_))) {
            return false;
        }
    }
    true
}

/// One address (as the trusted proxy says) holds at most `http.max_sockets_per_address` sockets,
/// staff and visitors together: a visitor who makes a new token for each socket gets no more.
#[tokio::test]
async fn an_address_holds_at_most_max_sockets_per_address_whatever_its_tokens() {
    let desk = Desk::open_with(|settings| {
        settings.http.max_sockets_per_address = 5;
        settings.http.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let server = &desk.server;
    let widget: Value =
        desk.admin.post("/api/v1/channels", json!({ "kind": "widget", "name": "Sitio" })).await.json().await.unwrap();
    let key = &widget["public_key"];
    let (office, home) = ("203.0.113.7", "198.51.100.20");
    let cookie = desk.admin.cookie.clone();
    let staff_from = |address: &'static str| {
        let cookie = cookie.clone();
        async move { open_socket(server, &[("cookie", cookie.as_str()), ("x-forwarded-for", address)]).await }
    };
    // A staff tab and four visitors, each with a token of their own, fill the office's five.
    let mut held = vec![staff_from(office).await.unwrap()];
    for _ in 0..4 {
        let token = new_visitor(server, key, office).await;
        held.push(visitor_socket(server, &token, office).await.unwrap());
    }
    for socket in &mut held {
        assert!(stays_open(socket).await, "a socket within the limit was closed");
    }
    // One more from the office is refused, whoever asks: a fresh visitor token, or staff.
    let fresh = new_visitor(server, key, office).await;
    assert_eq!(refused(visitor_socket(server, &fresh, office).await).await, (4008, "too_many_sockets".to_owned()));
    assert_eq!(refused(staff_from(office).await).await, (4008, "too_many_sockets".to_owned()));
    // Another address is not affected; the proxy's own address is not the one counted.
    let theirs = new_visitor(server, key, home).await;
    let mut from_home = visitor_socket(server, &theirs, home).await.unwrap();
    assert!(stays_open(&mut from_home).await);
    // A closed socket frees its place at the office.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = visitor_socket(server, &fresh, office).await.unwrap();
        if stays_open(&mut again).await {
            break;
        }
        assert!(Instant::now() < deadline, "the closed socket's place was not freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    desk.server.stop().await;
}
