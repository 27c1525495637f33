//! Crash safety of the real binary: a write storm (customer messages through an API channel and the
//! web widget, staff replies, transfers) is cut by SIGKILL at random moments, again and again;
//! after each restart every message whose 2xx reached a client must be there, the database must
//! open cleanly, and the router's queues and loads, rebuilt from disk, must match the stored
//! conversations (an agent coming online takes exactly the oldest waiting ones).
//! `CRASH_ROUNDS` sets the number of kills (default 20); `bash .ci/crash-long` runs 100.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{BIN, PASSWORD, Process, Staff, client_trusting, load_cert, self_signed_cert_path};
use serde_json::{Value, json};

/// A small deterministic generator, seeded from the clock (the seed is printed to replay a run).
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

async fn sign_in(client: &reqwest::Client, base: &str, email: &str) -> Staff {
    let body = json!({ "email": email, "password": PASSWORD });
    let response = client.post(format!("{base}/api/v1/auth/login")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200, "{email} signs in");
    let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let me: Value = response.json().await.unwrap();
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    Staff { client: client.clone(), base: base.to_owned(), cookie, csrf, me }
}

/// What the clients were told was done.
#[derive(Default)]
struct Acknowledged {
    texts: Mutex<HashSet<String>>,
    conversations: Mutex<Vec<u64>>,
}

/// Customers writing, staff replying and moving conversations, until the process dies.
async fn storm(
    base: String,
    client: reqwest::Client,
    admin: Staff,
    (token, visitors): (String, &[String]),
    group: u64,
    round: u32,
) -> Arc<Acknowledged> {
    let acked = Arc::new(Acknowledged::default());
    let mut tasks = Vec::new();
    for customer in 0..6 {
        let (base, client, token, acked) = (base.clone(), client.clone(), token.clone(), Arc::clone(&acked));
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                let text = format!("r{round} c{customer} m{n}");
                let body = json!({ "contact": { "identifier": format!("cliente{customer}") }, "text": text });
                let sent =
                    client.post(format!("{base}/api/v1/channels/1/messages")).bearer_auth(&token).json(&body).send();
                let Ok(response) = sent.await else { return };
                if response.status() == 201 {
                    let answer: Value = response.json().await.unwrap_or_default();
                    acked.texts.lock().unwrap().insert(text);
                    if let Some(id) = answer["conversation"]["id"].as_u64() {
                        acked.conversations.lock().unwrap().push(id);
                    }
                }
            }
        }));
    }
    // Web visitors, from a new address each round (the test trusts 127.0.0.1 as a proxy), so the
    // widget's rate limit per address does not silence them.
    for (visitor, token) in visitors.iter().enumerate() {
        let (base, client, token, acked) = (base.clone(), client.clone(), token.clone(), Arc::clone(&acked));
        let address = format!("10.0.{round}.{visitor}");
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                let text = format!("r{round} v{visitor} m{n}");
                let sent = client
                    .post(format!("{base}/widget/v1/messages"))
                    .header("x-forwarded-for", &address)
                    .bearer_auth(&token)
                    .json(&json!({ "text": text }))
                    .send();
                let Ok(response) = sent.await else { return };
                if response.status() == 201 {
                    acked.texts.lock().unwrap().insert(text);
                }
            }
        }));
    }
    let staff = Arc::clone(&acked);
    tasks.push(tokio::spawn(async move {
        for n in 0.. {
            let id = staff.conversations.lock().unwrap().last().copied();
            let Some(id) = id else {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            };
            let text = format!("r{round} staff m{n}");
            let sent = admin
                .request(reqwest::Method::POST, &format!("/api/v1/conversations/{id}/messages"))
                .json(&json!({ "text": text }))
                .send();
            let Ok(response) = sent.await else { return };
            if response.status() == 201 {
                staff.texts.lock().unwrap().insert(text);
            }
            if n % 5 == 0 {
                let moved = admin
                    .request(reqwest::Method::POST, &format!("/api/v1/conversations/{id}/transfer"))
                    .json(&json!({ "group_id": group }));
                if moved.send().await.is_err() {
                    return;
                }
            }
        }
    }));
    // The tasks end on their own when the connection dies with the process.
    drop(tasks);
    acked
}

#[tokio::test]
async fn acknowledged_messages_survive_sigkill_at_random_moments() {
    let rounds: u32 = std::env::var("CRASH_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(20);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    println!("crash test: {rounds} rounds, seed {seed}");
    let mut dice = Dice(seed);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    add_user(&data, "boss@example.com", "admin").await;
    add_user(&data, "agente@example.com", "agent").await;
    let config = dir.path().join("crash.toml");
    std::fs::write(&config, "[http]\ntrusted_proxies = \"127.0.0.1\"\n").unwrap();
    let config = ["--config", config.to_str().unwrap()];

    let first = Process::serve(dir.path(), &config).await;
    let client = client_trusting(&load_cert(&self_signed_cert_path(dir.path())));
    let base = format!("https://{}", first.addr);
    let admin = sign_in(&client, &base, "boss@example.com").await;
    let channel: Value =
        admin.post("/api/v1/channels", json!({ "kind": "api", "name": "Tienda" })).await.json().await.unwrap();
    assert_eq!(channel["id"], 1);
    let token = channel["token"].as_str().unwrap().to_owned();
    let widget: Value =
        admin.post("/api/v1/channels", json!({ "kind": "widget", "name": "Sitio" })).await.json().await.unwrap();
    let mut visitors = Vec::new();
    for _ in 0..2 {
        let start = json!({ "channel": widget["public_key"] });
        let visitor: Value =
            client.post(format!("{base}/widget/v1/visitors")).json(&start).send().await.unwrap().json().await.unwrap();
        visitors.push(visitor["token"].as_str().unwrap().to_owned());
    }
    let group: Value = admin.post("/api/v1/groups", json!({ "name": "Ventas" })).await.json().await.unwrap();
    let group = group["id"].as_u64().unwrap();
    let mut process = first;

    let mut acknowledged = HashSet::new();
    let mut restarts = Vec::new();
    for round in 0..rounds {
        let base = format!("https://{}", process.addr);
        let admin = Staff {
            client: client.clone(),
            base: base.clone(),
            cookie: admin.cookie.clone(),
            csrf: admin.csrf.clone(),
            me: admin.me.clone(),
        };
        let acked = storm(base, client.clone(), admin, (token.clone(), &visitors), group, round).await;
        tokio::time::sleep(Duration::from_millis(100 + dice.below(500))).await;
        process.child.kill().await.expect("SIGKILL");
        acknowledged.extend(acked.texts.lock().unwrap().drain());
        let started = Instant::now();
        process = Process::serve(dir.path(), &config).await;
        restarts.push(started.elapsed());
    }
    routing_matches_the_stored_conversations(&client, &process, &admin).await;
    process.terminate().await;

    let stored = stored_texts(dir.path());
    let lost: Vec<&String> = acknowledged.iter().filter(|text| !stored.contains(*text)).collect();
    restarts.sort();
    println!(
        "crash test: {} acknowledged, {} lost, restart to healthy median {:?} max {:?}",
        acknowledged.len(),
        lost.len(),
        restarts[restarts.len() / 2],
        restarts.last().unwrap()
    );
    assert!(acknowledged.len() > rounds as usize * 10, "the storm wrote too little to prove anything");
    let from_widget = acknowledged.iter().filter(|text| text.contains(" v")).count();
    println!("crash test: {from_widget} of the acknowledged came through the web widget");
    assert!(from_widget > 0, "the widget wrote nothing");
    assert!(lost.is_empty(), "acknowledged but lost after a crash: {lost:?}");
}

/// After the last restart: an agent who was never online comes online with room for half of the
/// general queue; the router (rebuilt from disk) must give them exactly the oldest waiting ones, and
/// leave the sales group's queue alone.
async fn routing_matches_the_stored_conversations(client: &reqwest::Client, process: &Process, admin: &Staff) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let base = format!("https://{}", process.addr);
    let (cookie, csrf, me) = (admin.cookie.clone(), admin.csrf.clone(), admin.me.clone());
    let admin = Staff { client: client.clone(), base: base.clone(), cookie, csrf, me };
    let listed = |status: &'static str| {
        let admin = &admin;
        async move {
            let path = format!("/api/v1/conversations?status={status}&limit=200");
            let list: Vec<Value> = admin.get(&path).await.json().await.unwrap();
            assert!(list.len() < 200, "the list must be whole for this check");
            list
        }
    };
    let mut waiting: Vec<Value> = listed("queued").await.into_iter().filter(|c| c["group"].is_null()).collect();
    waiting.sort_by_key(|c| (c["enqueued_at"].as_u64(), c["id"].as_u64()));
    // Room for half of them, so which ones it takes tells whether the queue kept its order.
    let room = (waiting.len() / 2).max(1);
    let expected: HashSet<u64> = waiting.iter().take(room).map(|c| c["id"].as_u64().unwrap()).collect();
    let in_groups: HashSet<u64> =
        listed("queued").await.iter().filter(|c| !c["group"].is_null()).map(|c| c["id"].as_u64().unwrap()).collect();

    let agent = sign_in(client, &base, "agente@example.com").await;
    let capped = admin.patch(&format!("/api/v1/agents/{}", agent.id()), json!({ "capacity": room })).await;
    assert_eq!(capped.status(), 200);
    let (tls, _) = common::handshake(process.addr, &[b"http/1.1"]).await.unwrap();
    let mut request = format!("wss://localhost:{}/api/v1/ws", process.addr.port()).into_client_request().unwrap();
    request.headers_mut().insert("cookie", agent.cookie.parse().unwrap());
    let _presence = tokio_tungstenite::client_async(request, tls).await.expect("the agent's socket opens");
    let available = agent.request(reqwest::Method::PUT, "/api/v1/me/availability").json(&json!({ "available": true }));
    assert_eq!(available.send().await.unwrap().status(), 200);

    let deadline = Instant::now() + Duration::from_secs(5);
    let taken = loop {
        let taken: HashSet<u64> = listed("assigned")
            .await
            .iter()
            .filter(|c| c["assignee"]["id"] == agent.id())
            .map(|c| c["id"].as_u64().unwrap())
            .collect();
        if taken.len() >= expected.len() || Instant::now() > deadline {
            break taken;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!(
        "crash test: {} waiting in the general queue, the agent with room for {room} took {}",
        waiting.len(),
        taken.len()
    );
    assert_eq!(taken, expected, "the agent took the oldest waiting conversations, no more, no fewer");
    let still: HashSet<u64> =
        listed("queued").await.iter().filter(|c| !c["group"].is_null()).map(|c| c["id"].as_u64().unwrap()).collect();
    assert_eq!(still, in_groups, "the sales queue is untouched");
}

async fn add_user(data: &str, email: &str, role: &str) {
    use tokio::io::AsyncWriteExt;
    let args = ["user", "add", "--data-dir", data, "--email", email, "--role", role, "--password-stdin"];
    let mut child = tokio::process::Command::new(BIN)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).await.unwrap();
    assert!(child.wait().await.unwrap().success(), "user add {email}");
}

/// Every message text in the database, read with the library once the server has stopped: the
/// file must open cleanly.
fn stored_texts(data: &Path) -> HashSet<String> {
    let (store, _) = centralita::store::Store::open(data).expect("the database opens cleanly");
    let read = store.read().unwrap();
    let conversations = read.conversations_since(0).unwrap();
    let open: HashSet<u64> = read.open_conversations().unwrap().iter().map(|c| c.id.0).collect();
    let mut texts = HashSet::new();
    for conversation in &conversations {
        let finalized = conversation.finalized_at.is_some();
        assert_eq!(
            open.contains(&conversation.id.0),
            !finalized,
            "the open index matches conversation {}",
            conversation.id.0
        );
        for message in read.messages(conversation.id, None, 1_000_000).unwrap() {
            texts.insert(message.text);
        }
    }
    texts
}
