//! Test harness: a real server started in-process on 127.0.0.1, port 0, with its own data dir, and
//! HTTPS clients that trust exactly the certificate it serves.

#![allow(dead_code)] // Each test binary uses its own part of the harness.

pub mod contract;
mod desk;
mod process;
pub mod raw_ws;
mod smtp;
#[allow(unused_imports)] // Not every test binary has a desk or a child process.
pub use desk::Desk;
#[allow(unused_imports)]
pub use process::{BIN, Process};
#[allow(unused_imports)]
pub use smtp::{Received, fake_smtp};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use centralita::clock::Clock;
use centralita::config::Settings;
use centralita::server::{self, RunningServer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpStream;

pub struct TestServer {
    pub running: RunningServer,
    pub dir: Arc<TempDir>,
    pub client: reqwest::Client,
}

/// Settings for a test: loopback, port 0, the given data dir, short timeouts.
pub fn test_settings(data_dir: &Path) -> Settings {
    let mut settings = Settings::defaults();
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.data_dir = data_dir.to_path_buf();
    settings.http.shutdown_grace = Duration::from_secs(2);
    // No rules unless a test writes some here.
    settings.rules.dir = data_dir.join("rules");
    settings
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(Arc::new(tempfile::tempdir().unwrap()), |_| {}).await
    }

    /// Starts on `dir` (kept across restarts by sharing it) after `tweak` adjusts the settings.
    pub async fn start_with(dir: Arc<TempDir>, tweak: impl FnOnce(&mut Settings)) -> TestServer {
        TestServer::start_with_clock(dir, Clock::default(), tweak).await
    }

    /// As `start_with`, on a clock the test moves (one already moved, to restart "days later").
    pub async fn start_with_clock(dir: Arc<TempDir>, clock: Clock, tweak: impl FnOnce(&mut Settings)) -> TestServer {
        let mut settings = test_settings(dir.path());
        tweak(&mut settings);
        let cert_path = match &settings.tls.files {
            Some(files) => files.cert.clone(),
            None => self_signed_cert_path(dir.path()),
        };
        let running = server::start_with_clock(settings, clock).await.expect("server starts");
        let client = client_trusting(&load_cert(&cert_path));
        TestServer { running, dir, client }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://{}{}", self.running.addr, path)
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        let response = self.client.get(self.url(path)).send().await.expect("request reaches the server");
        contract::checked(&reqwest::Method::GET, response).await
    }

    /// Stops the server cleanly and hands back its data dir.
    pub async fn stop(self) -> Arc<TempDir> {
        self.running.shutdown().await.expect("clean stop");
        self.dir
    }
}

pub fn self_signed_cert_path(dir: &Path) -> PathBuf {
    dir.join("tls").join("self-signed.crt")
}

/// The leaf certificate the server presents, fetched by a handshake that trusts anything.
pub async fn served_certificate(running: &RunningServer) -> CertificateDer<'static> {
    let (tls, _) = handshake(running.addr, &[]).await.expect("handshake");
    tls.get_ref().1.peer_certificates().expect("server sent a certificate")[0].clone().into_owned()
}

/// An HTTPS client whose only trust anchor is `cert`.
pub fn client_trusting(cert: &CertificateDer<'static>) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).expect("certificate is a valid trust anchor");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .tls_info(true)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub fn load_cert(path: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(path).expect("a PEM certificate")
}

pub type ClientTls = tokio_rustls::client::TlsStream<TcpStream>;

/// A raw TLS connection that accepts any certificate (for tests of the transport itself).
pub async fn handshake(addr: SocketAddr, alpn: &[&[u8]]) -> std::io::Result<(ClientTls, rustls::ProtocolVersion)> {
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = TcpStream::connect(addr).await?;
    let tls = connector.connect(ServerName::try_from("localhost").unwrap(), stream).await?;
    let version = tls.get_ref().1.protocol_version().expect("negotiated");
    Ok((tls, version))
}

/// Trusts any certificate; only for looking at what the server presents.
#[derive(Debug)]
struct AcceptAny;

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        algorithms().supported_schemes()
    }
}

fn algorithms() -> rustls::crypto::WebPkiSupportedAlgorithms {
    rustls::crypto::ring::default_provider().signature_verification_algorithms
}

/// The body of a JSON error answer, checked for shape.
pub async fn error_code(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.expect("error body is JSON");
    assert!(body["error"]["message"].is_string(), "error without a message: {body}");
    body["error"]["code"].as_str().expect("error has a code").to_owned()
}

/// The token in a link like `https://host/invite#token=in_…`.
pub fn token_of(link: &str) -> String {
    link.split("#token=").nth(1).expect("a link with a token").trim().to_owned()
}

/// A signed-in browser: the session cookie and its CSRF token, sent on every request.
pub struct Staff {
    pub client: reqwest::Client,
    pub base: String,
    pub cookie: String,
    pub csrf: String,
    pub me: Value,
}

impl Staff {
    /// Signs in from a sign-in answer (login, invite accept, reset).
    pub async fn from_response(server: &TestServer, response: reqwest::Response) -> Staff {
        assert_eq!(response.status(), 200, "sign-in failed");
        let set_cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        let me: Value = response.json().await.unwrap();
        let csrf = me["csrf_token"].as_str().expect("csrf token").to_owned();
        Staff { client: server.client.clone(), base: server.url(""), cookie, csrf, me }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.send(self.request(reqwest::Method::POST, path).json(&body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> reqwest::Response {
        self.send(self.request(reqwest::Method::PATCH, path).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.send(self.request(reqwest::Method::DELETE, path)).await
    }

    /// Sends a request built with `request` and checks the answer against the OpenAPI document.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Response {
        let request = request.build().unwrap();
        let method = request.method().clone();
        contract::checked(&method, self.client.execute(request).await.unwrap()).await
    }

    pub fn id(&self) -> u64 {
        self.me["id"].as_u64().unwrap()
    }
}

pub const PASSWORD: &str = "a long enough password";

impl TestServer {
    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        let response = self.client.post(self.url(path)).json(&body).send().await.unwrap();
        contract::checked(&reqwest::Method::POST, response).await
    }

    /// The first administrator, signed in through the setup link printed at first start.
    pub async fn admin(&self) -> Staff {
        let link = self.running.setup_link.clone().expect("a first start prints a setup link");
        let response =
            self.post("/api/v1/invites/accept", json!({ "token": token_of(&link), "password": PASSWORD })).await;
        Staff::from_response(self, response).await
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post("/api/v1/auth/login", json!({ "email": email, "password": password })).await
    }

    /// The newest link mailed to `email`, read from the outbox as an administrator would.
    pub async fn mailed_link(&self, admin: &Staff, email: &str) -> String {
        let outbox: Value = admin.get("/api/v1/outbox").await.json().await.unwrap();
        let mail = outbox.as_array().unwrap().iter().find(|mail| mail["to"] == email).expect("a mail to the user");
        let body = mail["body"].as_str().unwrap();
        body.split_whitespace().find(|word| word.contains("#token=")).expect("a link in the mail").to_owned()
    }

    /// Creates a user through the API and signs them in through their invite.
    pub async fn user(&self, admin: &Staff, email: &str, roles: &[&str], permissions: &[&str]) -> Staff {
        let body = json!({
            "first_name": "Test", "last_name": "User", "email": email,
            "roles": roles, "permissions": permissions,
        });
        let created = admin.post("/api/v1/users", body).await;
        assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
        let link = self.mailed_link(admin, email).await;
        let accepted =
            self.post("/api/v1/invites/accept", json!({ "token": token_of(&link), "password": PASSWORD })).await;
        Staff::from_response(self, accepted).await
    }
}

pub type Socket = tokio_tungstenite::WebSocketStream<ClientTls>;

impl Staff {
    /// Opens the staff WebSocket as this user (which makes an agent present).
    pub async fn socket(&self, server: &TestServer) -> Socket {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let (tls, _) = handshake(server.addr(), &[b"http/1.1"]).await.unwrap();
        let mut request = format!("wss://localhost:{}/api/v1/ws", server.addr().port()).into_client_request().unwrap();
        request.headers_mut().insert("cookie", self.cookie.parse().unwrap());
        let (socket, _) = tokio_tungstenite::client_async(request, tls).await.expect("websocket opens");
        socket
    }
}

/// The next event of `kind` on a socket, within `seconds`.
pub async fn next_event(socket: &mut Socket, kind: &str, seconds: u64) -> Value {
    use futures_util::StreamExt;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        let message =
            tokio::time::timeout_at(deadline, socket.next()).await.unwrap_or_else(|_| panic!("no {kind} event"));
        if let Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) = message {
            let event: Value = serde_json::from_str(&text).unwrap();
            if event["type"] == kind {
                return event;
            }
        }
    }
}

/// Opens `/api/v1/ws` with these headers; the handshake's error (a refused upgrade) as is.
pub async fn open_socket(
    server: &TestServer,
    headers: &[(&str, &str)],
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let (tls, _) = handshake(server.addr(), &[b"http/1.1"]).await.map_err(tokio_tungstenite::tungstenite::Error::Io)?;
    let mut request = format!("wss://localhost:{}/api/v1/ws", server.addr().port()).into_client_request()?;
    for (name, value) in headers {
        let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap();
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    Ok(tokio_tungstenite::client_async(request, tls).await?.0)
}

/// How a socket ended: the close frame's code and reason, and the events (text frames) that came
/// before it, within `seconds`.
pub async fn closing(socket: &mut Socket, seconds: u64) -> (u16, String, Vec<Value>) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let mut events = Vec::new();
    loop {
        let next = tokio::time::timeout_at(deadline, socket.next()).await;
        match next.unwrap_or_else(|_| panic!("the socket stayed open; it heard {events:?}")) {
            Some(Ok(Message::Text(text))) => events.push(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(Some(frame)))) => return (u16::from(frame.code), frame.reason.to_string(), events),
            Some(Ok(Message::Close(None))) | None | Some(Err(_)) => panic!("closed without a reason after {events:?}"),
            Some(Ok(_)) => {}
        }
    }
}

/// The events a socket hears within `millis`, while it stays open.
pub async fn heard_within(socket: &mut Socket, millis: u64) -> Vec<Value> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(millis);
    let mut events = Vec::new();
    while let Ok(next) = tokio::time::timeout_at(deadline, socket.next()).await {
        match next {
            Some(Ok(Message::Text(text))) => events.push(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(frame))) => panic!("closed: {frame:?}"),
            None | Some(Err(_)) => panic!("the socket ended"),
            Some(Ok(_)) => {}
        }
    }
    events
}

/// The bytes of a base32 secret, as an authenticator app reads the setup screen.
pub fn base32_decode(text: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.bytes() {
        buffer = (buffer << 5) | alphabet.iter().position(|a| *a == c).unwrap() as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}
