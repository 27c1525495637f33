//! Crash safety of the real binary: a write storm (customer messages through an API channel, staff
//! replies, transfers) is cut by SIGKILL at random moments, again and again; after each restart
//! every message whose 2xx reached a client must be there, and the database must open cleanly.
//! `CENTRALITA_CRASH_ROUNDS` sets the number of kills (default 20; 100 for a long run).

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

async fn sign_in(client: &reqwest::Client, base: &str) -> Staff {
    let body = json!({ "email": "boss@example.com", "password": PASSWORD });
    let response = client.post(format!("{base}/api/v1/auth/login")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200, "the administrator signs in");
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
    token: String,
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
    let rounds: u32 = std::env::var("CENTRALITA_CRASH_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(20);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    println!("crash test: {rounds} rounds, seed {seed}");
    let mut dice = Dice(seed);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    add_administrator(&data).await;

    let first = Process::serve(dir.path(), &[]).await;
    let client = client_trusting(&load_cert(&self_signed_cert_path(dir.path())));
    let base = format!("https://{}", first.addr);
    let admin = sign_in(&client, &base).await;
    let channel: Value =
        admin.post("/api/v1/channels", json!({ "kind": "api", "name": "Tienda" })).await.json().await.unwrap();
    assert_eq!(channel["id"], 1);
    let token = channel["token"].as_str().unwrap().to_owned();
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
        let acked = storm(base, client.clone(), admin, token.clone(), group, round).await;
        tokio::time::sleep(Duration::from_millis(100 + dice.below(500))).await;
        process.child.kill().await.expect("SIGKILL");
        acknowledged.extend(acked.texts.lock().unwrap().drain());
        let started = Instant::now();
        process = Process::serve(dir.path(), &[]).await;
        restarts.push(started.elapsed());
    }
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
    assert!(lost.is_empty(), "acknowledged but lost after a crash: {lost:?}");
}

async fn add_administrator(data: &str) {
    use tokio::io::AsyncWriteExt;
    let args =
        ["user", "add", "--data-dir", data, "--email", "boss@example.com", "--role", "admin", "--password-stdin"];
    let mut child = tokio::process::Command::new(BIN)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).await.unwrap();
    assert!(child.wait().await.unwrap().success(), "user add");
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
