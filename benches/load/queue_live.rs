//! `queue_live` (issue 14): 1,000 widget visitors wait on real widget WebSockets and 50 agents sit
//! on staff sockets; agents finalize conversations, and each freed slot takes the head of the
//! queue. Measured: from each change (the finalize sent) to every waiting visitor's new position
//! arriving, and the server's CPU time per change with 1,000 and with 10,000 waiting (the other
//! 9,000 written at the back of the queue through the API channel, without sockets).

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use centralita::core::{CreateChannel, CreateVisitor, CustomerMessage, CustomerProfile};
use centralita::domain::audit::Actor;
use centralita::domain::conversation::{ChannelKind, Visitor};
use centralita::domain::routing::AssignMode;
use centralita::domain::secret;
use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;

use crate::drive::percentile;
use crate::net::{Connection, client_config};

const AGENTS: usize = 50;
/// Slots the agents fill when they come online (6 each), then this many wait on sockets.
const SERVED: usize = AGENTS * 6;
const WAITING: usize = 1_000;
const CHANGES: usize = 150;

pub struct QueueLive {
    pub p99_ms: f64,
    pub p50_ms: f64,
    pub cpu_us_per_change: f64,
    pub samples: usize,
    pub lost: usize,
    pub resyncs: usize,
}

/// One visitor's socket as the driver sees it.
#[derive(Default)]
struct Slot {
    conversation: u64,
    /// Last position told (`None`: not waiting, or not told yet).
    position: Option<u64>,
    assigned: bool,
    /// What the driver waits for after a change: `Some(0)` = assigned.
    expected: Option<u64>,
    arrived: Option<Instant>,
    /// Its conversation was handed to the agent whose change served it.
    counted: bool,
}

#[derive(Default)]
struct Board {
    slots: Vec<Mutex<Slot>>,
    remaining: AtomicUsize,
    done: Notify,
    /// When a visitor last heard anything, for waiting until the queue is quiet.
    last_heard: Mutex<Option<Instant>>,
    /// Sockets told to read again (they fell behind).
    resyncs: AtomicUsize,
}

impl Board {
    /// Waits until no visitor has heard anything for half a second.
    async fn quiet(&self) {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let last = *self.last_heard.lock().expect("last heard");
            if last.is_none_or(|at| at.elapsed() > Duration::from_millis(500)) {
                return;
            }
        }
    }
}

/// One run with `extra` more customers waiting behind the visitors.
pub async fn run(extra: usize) -> QueueLive {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (agent_tokens, visitor_tokens) = prepare(dir.path(), extra).await;
    let server = crate::process::Server::spawn(&dir.path().join("data"), &dir.path().join("no-rules")).await;
    let board =
        Arc::new(Board { slots: (0..visitor_tokens.len()).map(|_| Mutex::default()).collect(), ..Board::default() });
    let mut readers = Vec::new();
    for (n, token) in visitor_tokens.iter().enumerate() {
        let socket = visitor_socket(server.addr, token, n).await;
        readers.push(tokio::spawn(read_visitor(socket, n, Arc::clone(&board))));
    }
    for token in &agent_tokens {
        let mut socket = crate::net::staff_socket(server.addr, token).await.expect("an agent's WebSocket");
        readers.push(tokio::spawn(async move { while let Some(Ok(_)) = socket.next().await {} }));
    }
    // The agents take their six each; every visitor hears their new place.
    tokio::time::sleep(Duration::from_secs(1)).await;
    board.quiet().await;
    let config = client_config(b"http/1.1");
    let mut connection = Connection::open(server.addr, &config).await.expect("a connection");
    let mut held: Vec<VecDeque<u64>> = Vec::new();
    for token in &agent_tokens {
        let (_, body) = connection.send("GET", "/api/v1/conversations?assignee=me", Some(token), None).await.unwrap();
        let mine: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        held.push(mine.as_array().expect("a list").iter().filter_map(|c| c["id"].as_u64()).collect());
    }
    let cpu_before = server.cpu_seconds();
    let (mut latencies, mut lost) = (Vec::new(), 0);
    for change in 0..CHANGES {
        let agent = change % AGENTS;
        let Some(finished) = held[agent].pop_front() else { continue };
        let waiting = expect_move(&board);
        let sent = Instant::now();
        let path = format!("/api/v1/conversations/{finished}/finalize");
        let token = &agent_tokens[agent];
        let (status, _) = connection.send("POST", &path, Some(token), Some("{}".into())).await.expect("finalized");
        assert_eq!(status, 200, "a finalize was refused");
        let all_told = board.done.notified();
        if board.remaining.load(Ordering::Acquire) > 0 {
            let _ = tokio::time::timeout(Duration::from_secs(5), all_told).await;
        }
        for n in &waiting {
            let mut slot = board.slots[*n].lock().expect("a slot");
            match slot.arrived.take() {
                Some(at) => latencies.push(at.duration_since(sent).as_micros() as u64),
                None => lost += 1,
            }
            slot.expected = None;
            if slot.assigned && slot.position.is_none() && !slot.counted {
                slot.counted = true;
                held[agent].push_back(slot.conversation);
            }
        }
    }
    let cpu = server.cpu_seconds() - cpu_before;
    server.stop().await;
    readers.iter().for_each(|reader| reader.abort());
    latencies.sort_unstable();
    QueueLive {
        p50_ms: percentile(&latencies, 0.5) as f64 / 1000.0,
        p99_ms: percentile(&latencies, 0.99) as f64 / 1000.0,
        cpu_us_per_change: cpu * 1e6 / CHANGES as f64,
        samples: latencies.len(),
        lost,
        resyncs: board.resyncs.load(Ordering::Relaxed),
    }
}

/// Before a change: every waiting visitor is to move up one (the head to be assigned). Returns them.
fn expect_move(board: &Board) -> Vec<usize> {
    let mut waiting = Vec::new();
    for (n, slot) in board.slots.iter().enumerate() {
        let mut slot = slot.lock().expect("a slot");
        if let (false, Some(position)) = (slot.assigned, slot.position) {
            slot.expected = Some(position - 1);
            slot.arrived = None;
            waiting.push(n);
        }
    }
    board.remaining.store(waiting.len(), Ordering::Release);
    waiting
}

async fn read_visitor(mut socket: crate::net::Socket, n: usize, board: Arc<Board>) {
    while let Some(Ok(message)) = socket.next().await {
        let at = Instant::now();
        let Message::Text(text) = message else { continue };
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
        *board.last_heard.lock().expect("last heard") = Some(at);
        if event["type"] == "resync" {
            board.resyncs.fetch_add(1, Ordering::Relaxed);
        }
        if event["type"] != "status" {
            continue;
        }
        let conversation = &event["conversation"];
        let mut slot = board.slots[n].lock().expect("a slot");
        slot.conversation = conversation["id"].as_u64().unwrap_or(slot.conversation);
        slot.assigned = conversation["status"] != "queued";
        slot.position = conversation["position"].as_u64();
        let reached = if slot.assigned { Some(0) } else { slot.position };
        // At or past the place expected (a later move may come first if one was missed).
        let arrived = matches!((slot.expected, reached), (Some(expected), Some(now)) if now <= expected);
        if arrived && slot.arrived.is_none() {
            slot.arrived = Some(at);
            if board.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                board.done.notify_one();
            }
        }
    }
}

/// A widget socket from its own loopback address (127.0.1.x): the widget's per-address rate
/// limit is meant for one visitor's browser, not a thousand.
async fn visitor_socket(addr: SocketAddr, token: &str, n: usize) -> crate::net::Socket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    let from = Ipv4Addr::new(127, 0, 1 + (n / 250) as u8, 1 + (n % 250) as u8);
    socket.bind(SocketAddr::new(IpAddr::V4(from), 0)).expect("a loopback address");
    let stream = socket.connect(addr).await.expect("connected");
    stream.set_nodelay(true).expect("nodelay");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
    let tls = tokio_rustls::TlsConnector::from(client_config(b"http/1.1")).connect(name, stream).await.expect("TLS");
    let url = format!("wss://localhost:{}/widget/v1/ws?token={token}", addr.port());
    let request = url.into_client_request().expect("a request");
    tokio_tungstenite::client_async(request, tls).await.expect("a widget WebSocket").0
}

/// 50 available agents, a widget channel with `SERVED + WAITING` visitors who wrote (all queued:
/// no agent is online yet), then `extra` API customers behind them.
async fn prepare(dir: &std::path::Path, extra: usize) -> (Vec<String>, Vec<String>) {
    let prepared = crate::phases::prepare(dir, AGENTS, 0).await;
    let running = crate::phases::library_server(dir).await;
    let at = running.clock.now();
    let widget = running
        .core
        .call(CreateChannel {
            kind: ChannelKind::Widget,
            mode: AssignMode::Automatic,
            name: "Web".into(),
            group: None,
            public_key: "pk_bench".into(),
            token_hash: None,
            webhook_url: None,
            webhook_secret: String::new(),
            actor: Actor::system("bench"),
            at,
        })
        .await
        .expect("a widget channel")
        .id;
    let tokens: Vec<String> = (0..SERVED + WAITING).map(|_| secret::new_token("vt_")).collect();
    for wave in tokens.chunks(100).enumerate() {
        let mut made = tokio::task::JoinSet::new();
        for (i, token) in wave.1.iter().enumerate() {
            let (core, at) = (running.core.clone(), running.clock.now());
            let identifier = format!("visitor-{}-{i}", wave.0);
            let visitor =
                Visitor { channel: widget, identifier: identifier.clone(), name: None, email: None, created_at: at };
            let hash = secret::hash(token);
            made.spawn(async move {
                core.call(CreateVisitor { hash, visitor }).await.expect("a visitor");
                let profile = CustomerProfile::default();
                core.call(CustomerMessage { channel: widget, identifier, profile, text: "hola".into(), at })
                    .await
                    .expect("a conversation");
            });
        }
        made.join_all().await;
    }
    // Later than every visitor: behind them in line.
    tokio::time::sleep(Duration::from_millis(5)).await;
    for wave in (0..extra).collect::<Vec<_>>().chunks(500) {
        let mut made = tokio::task::JoinSet::new();
        for n in wave {
            let (core, at, channel) = (running.core.clone(), running.clock.now(), prepared.channel);
            let identifier = format!("cliente{n}");
            made.spawn(async move {
                let command = CustomerMessage {
                    channel,
                    identifier,
                    profile: CustomerProfile::default(),
                    text: "hola".into(),
                    at,
                };
                core.call(command).await.expect("a conversation");
            });
        }
        made.join_all().await;
    }
    running.shutdown().await.expect("a clean stop");
    (prepared.agent_tokens, tokens)
}
