//! The phases that run against the library in this process: the rules and routing micro
//! measurements, the baseline, ingest, and delivery (whose server is the real binary).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use centralita::core::{CreateApiToken, CreateChannel, CreateUser, CustomerMessage, CustomerProfile, SetAvailability};
use centralita::domain::access::Role;
use centralita::domain::account::NewUser;
use centralita::domain::audit::Actor;
use centralita::domain::conversation::ChannelKind;
use centralita::domain::ids::{ChannelId, ContactId, ConversationId, UserId};
use centralita::domain::routing::{AgentSettings, AssignMode, Routing, Ticket};
use centralita::domain::secret;
use centralita::server::RunningServer;
use futures_util::StreamExt;
use tokio::sync::Notify;

use crate::Sizes;
use crate::drive::{Load, Request, drive, percentile};
use crate::net::Connection;

/// Median µs of one `on_message` call of the shipped auto-reply rule, maps built included.
pub fn rules_on_message_us() -> f64 {
    let dir = tempfile::tempdir().expect("a temp dir");
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/examples/auto_reply.rhai");
    std::fs::copy(source, dir.path().join("auto_reply.rhai")).expect("the example rule");
    let rules = centralita::rules::Rules::load(Some(dir.path().to_path_buf()));
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/examples/fixtures/message.json"),
        )
        .expect("the fixture"),
    )
    .expect("JSON");
    let conversation = centralita::rules::data::from_json(&fixture["conversation"]).expect("a map");
    let message = centralita::rules::data::from_json(&fixture["message"]).expect("a map");
    let mut samples: Vec<u64> = (0..5_000)
        .map(|_| {
            let started = Instant::now();
            let answers = rules.on_message(conversation.clone(), message.clone());
            assert_eq!(answers.len(), 1);
            started.elapsed().as_nanos() as u64
        })
        .collect();
    samples.sort_unstable();
    percentile(&samples, 0.5) as f64 / 1000.0
}

/// Median and p99 µs of an enqueue→assign decision with `agents` agents, all full, and `waiting`
/// conversations in line: an agent finalizes one and the router gives them the head of the queue,
/// then a new customer joins the back.
pub fn routing(agents: usize, waiting: usize) -> (f64, f64) {
    let capacity = 6;
    let mut routing = Routing::new(capacity);
    for id in 1..=agents as u64 {
        let settings = AgentSettings { capacity: None, groups: Default::default(), mode: AssignMode::Automatic };
        routing.upsert_agent(UserId(id), settings, 0);
        routing.set_online(UserId(id), true, 0).expect("an agent");
        routing.set_available(UserId(id), true, 0).expect("an agent");
    }
    let ticket = |n: u64| Ticket { queue: None, enqueued_at: n, contact: ContactId(n), mode: AssignMode::Automatic };
    let mut next = 1u64;
    let total = agents as u64 * u64::from(capacity) + waiting as u64;
    while next <= total {
        routing.enqueue(ConversationId(next), ticket(next), next).expect("enqueued");
        next += 1;
    }
    let mut open: Vec<ConversationId> = (1..=agents as u64 * u64::from(capacity)).map(ConversationId).collect();
    let mut samples = Vec::with_capacity(20_000);
    for round in 0..20_000usize {
        let finished = open[round % open.len()];
        let started = Instant::now();
        let made = routing.release(finished, next).expect("released");
        routing.enqueue(ConversationId(next), ticket(next), next).expect("enqueued");
        samples.push(started.elapsed().as_nanos() as u64);
        assert_eq!(made.len(), 1, "the freed slot takes the head of the queue");
        let slot = round % open.len();
        open[slot] = made[0].conversation;
        next += 1;
    }
    samples.sort_unstable();
    (percentile(&samples, 0.5) as f64 / 1000.0, percentile(&samples, 0.99) as f64 / 1000.0)
}

fn message_body(contact: &str, n: u64) -> String {
    serde_json::json!({ "contact": { "identifier": contact }, "text": format!("mensaje {n} de prueba") }).to_string()
}

pub async fn baseline(sizes: Sizes) -> Load {
    let addr = crate::baseline::start().await;
    let next = Arc::new(|connection: usize, n: u64| Request {
        method: "POST",
        path: "/api/v1/channels/1/messages".into(),
        bearer: Some("ch_baseline".into()),
        body: Some(message_body(&format!("c{connection}"), n)),
    });
    drive(addr, sizes.connections, Duration::from_secs(sizes.load_secs), next).await
}

pub struct Ingest {
    pub load: Load,
    pub commits: u64,
    pub mean_batch: f64,
}

/// A library server on a temp dir with no rules.
pub async fn library_server(dir: &std::path::Path) -> RunningServer {
    let mut settings = centralita::config::Settings::defaults();
    settings.listen = "127.0.0.1:0".parse().expect("an address");
    settings.data_dir = dir.join("data");
    settings.rules.dir = dir.join("no-rules");
    centralita::server::start(settings).await.expect("the server starts")
}

/// An API channel; returns its id and token.
pub async fn api_channel(running: &RunningServer) -> (ChannelId, String) {
    let token = secret::new_token("ch_");
    let channel = running
        .core
        .call(CreateChannel {
            kind: ChannelKind::Api,
            mode: AssignMode::Automatic,
            name: "Bench".into(),
            group: None,
            public_key: String::new(),
            token_hash: Some(secret::hash(&token)),
            webhook_url: None,
            webhook_secret: String::new(),
            actor: Actor::system("bench"),
            at: running.clock.now(),
        })
        .await
        .expect("a channel");
    (channel.id, token)
}

/// Customer messages through the API channel, each sender writing again and again into her open
/// conversation (`new_contacts` false), or every message from a contact never seen before: a new
/// contact, a new conversation queued, routed and announced (`ingest_new`).
pub async fn ingest(sizes: Sizes, new_contacts: bool) -> Ingest {
    let dir = tempfile::tempdir().expect("a temp dir");
    let running = library_server(dir.path()).await;
    let (channel, token) = api_channel(&running).await;
    let (commits, commands) = (running.metrics.core.commits.get(), running.metrics.core.commands.get());
    let path = format!("/api/v1/channels/{}/messages", channel.0);
    let next = Arc::new(move |connection: usize, n: u64| Request {
        method: "POST",
        path: path.clone(),
        bearer: Some(token.clone()),
        body: Some(if new_contacts {
            message_body(&format!("c{connection}-{n}"), n)
        } else {
            message_body(&format!("c{connection}"), n)
        }),
    });
    let load = drive(running.addr, sizes.connections, Duration::from_secs(sizes.load_secs), next).await;
    let commits = running.metrics.core.commits.get() - commits;
    let commands = running.metrics.core.commands.get() - commands;
    running.shutdown().await.expect("a clean stop");
    Ingest { load, commits, mean_batch: commands as f64 / commits.max(1) as f64 }
}

pub struct Delivery {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub samples: usize,
    pub lost: usize,
    pub peak_rss_mb: f64,
}

/// What the delivery phase's server holds: agents with API tokens, a channel, open conversations.
pub struct Prepared {
    pub agent_tokens: Vec<String>,
    pub channel: ChannelId,
    pub channel_token: String,
    /// Customer identifiers, in the order their conversations were queued.
    pub customers: Vec<String>,
}

/// Fills a data dir through the library: `agents` available agents, `conversations` customers who
/// each wrote once (all queued: no agent is online yet).
pub async fn prepare(dir: &std::path::Path, agents: usize, conversations: usize) -> Prepared {
    let running = library_server(dir).await;
    let mut made = tokio::task::JoinSet::new();
    for n in 0..agents {
        let (core, at) = (running.core.clone(), running.clock.now());
        made.spawn(async move {
            let new = NewUser {
                first_name: format!("Agente{n}"),
                last_name: "Bench".into(),
                email: format!("agent{n}@bench.example"),
                roles: vec![Role::Agent],
                permissions: vec![],
                language: None,
                totp_required: false,
            };
            let command = CreateUser { new, invite: None, password_hash: None, actor: Actor::system("bench"), at };
            let user = core.call(command).await.expect("an agent");
            let token = secret::new_token("ct_");
            let hash = secret::hash(&token);
            let command =
                CreateApiToken { user: user.id, name: "bench".into(), hash, actor: Actor::system("bench"), at };
            core.call(command).await.expect("a token");
            core.call(SetAvailability { agent: user.id, available: true, at }).await.expect("available");
            token
        });
    }
    let agent_tokens = made.join_all().await;
    let (channel, channel_token) = api_channel(&running).await;
    let customers: Vec<String> = (0..conversations).map(|n| format!("cliente{n}")).collect();
    // In waves of 100, so that the first k×100 customers are the first k×100 in line.
    for wave in customers.chunks(100) {
        let mut queued = tokio::task::JoinSet::new();
        for customer in wave {
            let (core, at, identifier) = (running.core.clone(), running.clock.now(), customer.clone());
            queued.spawn(async move {
                let profile = CustomerProfile::default();
                let command = CustomerMessage { channel, identifier, profile, text: "hola".into(), at };
                core.call(command).await.expect("a conversation");
            });
        }
        queued.join_all().await;
    }
    running.shutdown().await.expect("a clean stop");
    Prepared { agent_tokens, channel, channel_token, customers }
}

/// Arrival time of each message text seen on any agent's WebSocket.
#[derive(Default)]
struct Arrivals {
    seen: Mutex<HashMap<String, Instant>>,
    changed: Notify,
}

pub async fn delivery(sizes: Sizes) -> Delivery {
    let dir = tempfile::tempdir().expect("a temp dir");
    let prepared = prepare(dir.path(), sizes.agents, sizes.conversations).await;
    let server = crate::process::Server::spawn(&dir.path().join("data"), &dir.path().join("no-rules")).await;
    let arrivals = Arc::new(Arrivals::default());
    let mut readers = Vec::new();
    for chunk in prepared.agent_tokens.chunks(50) {
        let sockets: Vec<_> = chunk.iter().map(|token| crate::net::staff_socket(server.addr, token)).collect();
        for socket in sockets {
            let socket = socket.await.expect("an agent's WebSocket");
            readers.push(tokio::spawn(read_events(socket, Arc::clone(&arrivals))));
        }
    }
    // Let every agent take their share of the queue.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let served = sizes.agents * 6;
    let assigned: Vec<&String> = prepared.customers.iter().take(served).collect();
    let config = crate::net::client_config(b"http/1.1");
    let workers = 16;
    let path = format!("/api/v1/channels/{}/messages", prepared.channel.0);
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let mut connection = Connection::open(server.addr, &config).await.expect("a connection");
        let customers: Vec<String> =
            assigned.iter().skip(worker).step_by(workers).map(|c| (*c).clone()).collect::<Vec<_>>();
        let (arrivals, path, token) = (Arc::clone(&arrivals), path.clone(), prepared.channel_token.clone());
        let count = sizes.delivery_samples / workers;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut lost = 0;
            for n in 0..count {
                let customer = &customers[n % customers.len()];
                let text = format!("entrega {worker}-{n}");
                let body = serde_json::json!({ "contact": { "identifier": customer }, "text": text }).to_string();
                let sent = Instant::now();
                let (status, _) = connection.send("POST", &path, Some(&token), Some(body)).await.expect("posted");
                assert!((200..300).contains(&status), "a customer message was refused: {status}");
                match arrivals.wait(&text, Duration::from_secs(5)).await {
                    Some(at) => latencies.push(at.duration_since(sent).as_micros() as u64),
                    None => lost += 1,
                }
            }
            (latencies, lost)
        }));
    }
    let mut latencies = Vec::new();
    let mut lost = 0;
    for task in tasks {
        let (some, missing) = task.await.expect("a delivery worker");
        latencies.extend(some);
        lost += missing;
    }
    latencies.sort_unstable();
    let peak_rss_mb = server.peak_rss_mb();
    server.stop().await;
    for reader in readers {
        reader.abort();
    }
    Delivery {
        p50_ms: percentile(&latencies, 0.5) as f64 / 1000.0,
        p99_ms: percentile(&latencies, 0.99) as f64 / 1000.0,
        samples: latencies.len(),
        lost,
        peak_rss_mb,
    }
}

impl Arrivals {
    async fn wait(&self, text: &str, limit: Duration) -> Option<Instant> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.changed.notified();
            if let Some(at) = self.seen.lock().expect("arrivals").remove(text) {
                return Some(at);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }
}

async fn read_events(mut socket: crate::net::Socket, arrivals: Arc<Arrivals>) {
    while let Some(Ok(message)) = socket.next().await {
        let at = Instant::now();
        let tokio_tungstenite::tungstenite::Message::Text(text) = message else { continue };
        if !text.contains("\"message.created\"") {
            continue;
        }
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
        if let Some(body) = event["message"]["text"].as_str() {
            arrivals.seen.lock().expect("arrivals").insert(body.to_owned(), at);
            arrivals.changed.notify_waiters();
        }
    }
}
