//! The server in-process over real TLS on 127.0.0.1: transport, errors, headers, assets, metrics,
//! restarts and certificate reloads.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use centralita::config::TlsFiles;
use centralita::core::{ApplyError, Command, CoreError, Event, Read, Runtime, WriteError};
use common::*;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn healthz_answers_over_tls_1_3_with_the_version() {
    let server = TestServer::start().await;
    let response = server.get("/healthz").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    let (_, version) = handshake(server.addr(), &[b"http/1.1"]).await.unwrap();
    assert_eq!(version, rustls::ProtocolVersion::TLSv1_3);
    server.stop().await;
}

#[tokio::test]
async fn plain_http_on_the_port_gets_no_page() {
    let server = TestServer::start().await;
    let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server closes a plain-HTTP connection");
    assert!(!String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"), "got a page over plain HTTP");
    assert!(!String::from_utf8_lossy(&answer).contains("\"status\""));
    server.stop().await;
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let server = TestServer::start().await;
    for path in ["/healthz", "/api/v1/nothing-here", "/", "/missing.css"] {
        let response = server.get(path).await;
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        for directive in ["object-src 'none'", "base-uri 'none'", "frame-ancestors 'self'"] {
            assert!(csp.contains(directive), "{path}: CSP lacks {directive}");
        }
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert!(headers.contains_key("referrer-policy"), "{path}");
        assert!(!headers.contains_key("strict-transport-security"), "{path}: no HSTS on a self-signed certificate");
    }
    server.stop().await;
}

#[tokio::test]
async fn errors_are_json_with_a_stable_code() {
    let server = TestServer::start().await;
    let response = server.get("/api/v1/no-such-route").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(response).await, "route_not_found");
    let response = server.client.post(server.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(response).await, "method_not_allowed");
    let response = server.get("/no-such-file.js").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(response).await, "not_found");
    server.stop().await;
}

#[tokio::test]
async fn the_web_ui_is_served_with_etags_and_page_routes_fall_back_to_it() {
    let server = TestServer::start().await;
    let index = server.get("/").await;
    assert_eq!(index.status(), StatusCode::OK);
    assert_eq!(index.headers()["content-type"], "text/html; charset=utf-8");
    let etag = index.headers()["etag"].clone();
    assert!(index.text().await.unwrap().contains("<title>centralita</title>"));
    let again = server.client.get(server.url("/")).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let page = server.get("/conversations").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("<title>centralita</title>"));
    let script = server.get("/js/app.js").await;
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    let strings: serde_json::Value = server.get("/i18n/es.json").await.json().await.unwrap();
    assert_eq!(strings["nav.conversations"], "Conversaciones");
    server.stop().await;
}

#[tokio::test]
async fn every_operation_in_the_openapi_document_exists() {
    let server = TestServer::start().await;
    let doc: serde_json::Value = server.get("/api/v1/openapi.json").await.json().await.unwrap();
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.contains_key("/healthz") && paths.contains_key("/metrics"));
    for (path, operations) in paths {
        for method in operations.as_object().unwrap().keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = server.client.request(method.clone(), server.url(path)).send().await.unwrap();
            let status = response.status();
            if status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED {
                let code = error_code(response).await;
                assert!(
                    code != "route_not_found" && code != "method_not_allowed",
                    "{method} {path} is documented but not routed"
                );
            }
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_show_core_commits() {
    let server = TestServer::start().await;
    server.get("/healthz").await;
    server.get("/api/v1/nope").await;
    let text = server.get("/metrics").await.text().await.unwrap();
    assert!(text.contains(r#"centralita_http_requests_total{method="GET",route="/healthz",status="200"} 1"#), "{text}");
    assert!(text.contains(r#"route="/api/{*rest}",status="404""#), "{text}");
    // The start was recorded through the core: at least one batch.
    let batches: u64 = text
        .lines()
        .find_map(|line| line.strip_prefix("centralita_core_batch_size_count "))
        .and_then(|count| count.trim().parse().ok())
        .expect("batch count");
    assert!(batches >= 1, "{text}");
    assert!(text.contains("centralita_core_commit_seconds_bucket"), "{text}");
    server.stop().await;
}

/// Behind a trusted proxy on the same box every request comes from loopback (issue 13, finding 7):
/// `/metrics` judges the client the proxy names, not the proxy.
#[tokio::test]
async fn metrics_judge_the_client_behind_a_trusted_proxy() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let server =
        TestServer::start_with(dir, |settings| settings.http.trusted_proxies = vec!["127.0.0.1".parse().unwrap()])
            .await;
    let through_proxy =
        |client: &str| server.client.get(server.url("/metrics")).header("x-forwarded-for", client.to_owned()).send();
    assert_eq!(through_proxy("203.0.113.5").await.unwrap().status(), StatusCode::FORBIDDEN, "an outside client");
    assert_eq!(through_proxy("::1").await.unwrap().status(), StatusCode::OK, "a local client via the proxy");
    let unnamed = server.get("/metrics").await.status();
    assert_eq!(unnamed, StatusCode::FORBIDDEN, "from the proxy with no header: someone unknown, not the box");
    server.stop().await;
}

/// Test-only commands sent straight to the real server's writer (issue 14, point 5).
struct Panics;

impl Command<Runtime, Event> for Panics {
    type Output = ();
    type Plan = ();
    fn check(self, _: &Runtime, _: &Read<'_>) -> Result<(), ApplyError> {
        Ok(())
    }
    fn write(_: (), _: &mut Runtime, _: &redb::WriteTransaction, _: &mut Vec<Event>) -> Result<(), WriteError> {
        panic!("injected by the test");
    }
}

struct Stalls(Duration);

impl Command<Runtime, Event> for Stalls {
    type Output = ();
    type Plan = Duration;
    fn check(self, _: &Runtime, _: &Read<'_>) -> Result<Duration, ApplyError> {
        Ok(self.0)
    }
    fn write(
        pause: Duration,
        _: &mut Runtime,
        _: &redb::WriteTransaction,
        _: &mut Vec<Event>,
    ) -> Result<(), WriteError> {
        std::thread::sleep(pause);
        Ok(())
    }
}

/// `/healthz` tells the truth about the writer: a panicking command no longer kills it (writes go
/// on), and a writer that does not take a no-op within 1 s is reported with 503.
#[tokio::test]
async fn healthz_is_truthful_about_the_writer() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let core = server.running.core.clone();
    assert!(matches!(core.call(Panics).await, Err(CoreError::Panicked(_))));
    let health: serde_json::Value = server.get("/healthz").await.json().await.unwrap();
    assert_eq!(health["writer"], "ok", "{health}");
    let group = admin.post("/api/v1/groups", serde_json::json!({ "name": "Después" })).await;
    assert_eq!(group.status(), StatusCode::CREATED, "writes go on after the panic");
    let stalled = tokio::spawn(async move { core.call(Stalls(Duration::from_millis(2500))).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let asked = Instant::now();
    let stuck = server.get("/healthz").await;
    assert_eq!(stuck.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(asked.elapsed() < Duration::from_millis(1500), "answered after {:?}", asked.elapsed());
    assert_eq!(error_code(stuck).await, "writer_unavailable");
    stalled.await.unwrap().unwrap();
    assert_eq!(server.get("/healthz").await.status(), StatusCode::OK, "fine again once it answers");
    server.stop().await;
}

#[tokio::test]
async fn a_restart_keeps_the_data_and_the_certificate() {
    let first = TestServer::start().await;
    let fingerprint = first.running.fingerprint();
    assert_eq!(first.running.boot.seq, 1);
    let dir = first.stop().await;
    let second = TestServer::start_with(Arc::clone(&dir), |_| {}).await;
    assert_eq!(second.running.fingerprint(), fingerprint);
    assert_eq!(second.running.boot.seq, 2);
    let previous = second.running.boot.previous.clone().expect("the first start is remembered");
    assert!(previous.stopped_at.is_some(), "the first run stopped cleanly");
    assert_eq!(second.get("/healthz").await.status(), StatusCode::OK);
    let boots = second.running.store.read().unwrap().boots().unwrap();
    assert_eq!(boots.len(), 2);
    second.stop().await;
}

#[tokio::test]
async fn a_trickled_body_is_cut_at_ten_seconds_while_others_are_served() {
    let server = TestServer::start().await;
    let (tls, _) = handshake(server.addr(), &[b"http/1.1"]).await.unwrap();
    let (mut reader, mut writer) = tokio::io::split(tls);
    let head = "POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{";
    writer.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let trickle = tokio::spawn(async move {
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if writer.write_all(b" ").await.is_err() {
                break;
            }
        }
    });
    for _ in 0..3 {
        let asked = Instant::now();
        assert_eq!(server.get("/healthz").await.status(), StatusCode::OK);
        assert!(asked.elapsed() < Duration::from_secs(1), "a normal request waited {:?}", asked.elapsed());
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), reader.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection was still open after 15 s");
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("body_timeout"), "{text}");
    assert!(took >= Duration::from_secs(9) && took < Duration::from_secs(12), "cut after {took:?}");
    trickle.abort();
    server.stop().await;
}

#[tokio::test]
async fn a_silent_client_is_disconnected_after_the_header_timeout() {
    let server = TestServer::start_with(Arc::new(tempfile::tempdir().unwrap()), |settings| {
        settings.http.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    let (mut tls, _) = handshake(server.addr(), &[b"http/1.1"]).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(10), tls.read(&mut buf)).await;
    assert!(read.is_ok(), "still open after 10 s");
    assert!(started.elapsed() < Duration::from_secs(5), "closed too late: {:?}", started.elapsed());
    // A normal request still works meanwhile.
    assert_eq!(server.get("/healthz").await.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_and_the_rest_served() {
    let server = TestServer::start_with(Arc::new(tempfile::tempdir().unwrap()), |settings| {
        settings.http.max_connections = 2;
    })
    .await;
    let first = handshake(server.addr(), &[b"http/1.1"]).await.unwrap();
    let second = handshake(server.addr(), &[b"http/1.1"]).await.unwrap();
    assert!(handshake(server.addr(), &[b"http/1.1"]).await.is_err(), "a third connection is refused");
    drop((first, second));
    let mut served = false;
    for _ in 0..50 {
        if let Ok(response) = server.client.get(server.url("/healthz")).send().await {
            served = response.status() == StatusCode::OK;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "slots come back when connections close");
    let metrics = server.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("centralita_http_connections_refused_total 1"), "{metrics}");
    server.stop().await;
}

/// Writes a fresh certificate and key for `localhost`/127.0.0.1 to the given files.
fn write_cert(files: &TlsFiles) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    std::fs::write(&files.cert, cert.pem()).unwrap();
    centralita::tls::fingerprint(cert.der())
}

#[tokio::test]
async fn a_configured_certificate_is_reloaded_without_dropping_connections() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let files = TlsFiles { cert: dir.path().join("cert.pem"), key: dir.path().join("key.pem") };
    let old = write_cert(&files);
    let tls_files = files.clone();
    let server = TestServer::start_with(Arc::clone(&dir), |settings| settings.tls.files = Some(tls_files)).await;
    assert_eq!(server.running.fingerprint(), old);
    let (mut open, _) = handshake(server.addr(), &[b"http/1.1"]).await.unwrap();
    let new = write_cert(&files);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    while Instant::now() < deadline {
        let (tls, _) = handshake(server.addr(), &[b"http/1.1"]).await.unwrap();
        seen = centralita::tls::fingerprint(&tls.get_ref().1.peer_certificates().unwrap()[0]);
        if seen == new {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(seen, new, "new connections get the new certificate");
    // The connection opened before the reload still serves requests.
    open.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    open.read_to_end(&mut answer).await.unwrap();
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
    let headers = client_trusting(&load_cert(&files.cert)).get(server.url("/healthz")).send().await.unwrap();
    assert!(headers.headers().contains_key("strict-transport-security"), "HSTS with a configured certificate");
    server.stop().await;
}
