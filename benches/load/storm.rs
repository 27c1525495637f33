//! The sign-in storm: wrong passwords from many addresses against the real binary behind a trusted
//! proxy (127.0.0.1, so each attempt's address comes in X-Forwarded-For), spread over enough
//! accounts that the lockout lets every attempt reach the password check. Each check is an argon2
//! hash with a 19 MiB buffer; the server's memory must stay flat however many run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use centralita::core::CreateUser;
use centralita::domain::access::Role;
use centralita::domain::account::NewUser;
use centralita::domain::audit::Actor;

use crate::drive::percentile;
use crate::net::{Connection, client_config};

/// Sizes of the storm: `addresses` × `per_address` attempts over `accounts` accounts.
pub struct Storm {
    pub addresses: usize,
    pub per_address: usize,
    pub accounts: usize,
}

/// 500 attempts from 25 addresses, 20 each (the per-address budget), 4 per account (under the
/// per-account budget of 5): none is refused by the lockout.
pub const STORM: Storm = Storm { addresses: 25, per_address: 20, accounts: 125 };

/// Sequential wrong sign-ins on the quiet server before the storm, each at its own account.
const QUIET: usize = 10;

pub struct Figures {
    /// One wrong sign-in at a time on a quiet server, median ms.
    pub quiet_p50_ms: f64,
    /// A wrong sign-in during the storm, median ms.
    pub storm_p50_ms: f64,
    /// Sign-ins answered per second during the storm.
    pub storm_rps: f64,
    /// Answered 401: the password was checked (an argon2 hash ran).
    pub hashed: usize,
    /// Answered 429 by the lockout, before any hash.
    pub refused: usize,
    /// Answered 503 `busy`: too many were already waiting to be checked.
    pub busy: usize,
    pub idle_mb: f64,
    /// The highest RSS of the server's life (VmHWM), read after the storm.
    pub peak_mb: f64,
    /// RSS 12 s after the storm.
    pub after_mb: f64,
}

pub async fn run(storm: &Storm) -> Figures {
    let dir = tempfile::tempdir().expect("a temp dir");
    prepare(dir.path(), storm.accounts + QUIET).await;
    let config = dir.path().join("proxy.toml");
    std::fs::write(&config, "[http]\ntrusted_proxies = \"127.0.0.1\"\n").expect("a config file");
    let extra = ["--config", config.to_str().expect("a UTF-8 path")];
    let server =
        crate::process::Server::spawn_with(&dir.path().join("data"), &dir.path().join("no-rules"), &extra).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_mb = server.rss_mb();
    let quiet = quiet(&server).await;
    let started = Instant::now();
    let tasks: Vec<_> = (0..storm.addresses)
        .map(|address| {
            let (addr, accounts, per_address, addresses) =
                (server.addr, storm.accounts, storm.per_address, storm.addresses);
            tokio::spawn(async move {
                let config = client_config(b"http/1.1");
                let mut connection = Connection::open(addr, &config).await.expect("a connection");
                let from = format!("203.0.113.{}", address + 1);
                let mut answers = Vec::new();
                for attempt in 0..per_address {
                    let account = (address + addresses * attempt) % accounts;
                    answers.push(sign_in(&mut connection, &from, &format!("storm{account}@bench.example")).await);
                }
                answers
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.extend(task.await.expect("a storm task"));
    }
    let took = started.elapsed();
    // jemalloc's background thread gives freed memory back over ~10 s.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let (peak_mb, after_mb) = (server.peak_rss_mb(), server.rss_mb());
    server.stop().await;
    let count = |status: u16| answers.iter().filter(|(answer, _)| *answer == status).count();
    let mut times: Vec<u64> = answers.iter().map(|(_, took)| took.as_micros() as u64).collect();
    times.sort_unstable();
    Figures {
        quiet_p50_ms: quiet,
        storm_p50_ms: percentile(&times, 0.5) as f64 / 1000.0,
        storm_rps: answers.len() as f64 / took.as_secs_f64(),
        hashed: count(401),
        refused: count(429),
        busy: count(503),
        idle_mb,
        peak_mb,
        after_mb,
    }
}

/// Median ms of `QUIET` wrong sign-ins one after another from one address, each at its own account.
async fn quiet(server: &crate::process::Server) -> f64 {
    let mut connection = Connection::open(server.addr, &client_config(b"http/1.1")).await.expect("a connection");
    let mut times = Vec::new();
    for n in 0..QUIET {
        let (status, took) = sign_in(&mut connection, "198.51.100.1", &format!("quiet{n}@bench.example")).await;
        assert_eq!(status, 401, "a wrong password on a quiet server");
        times.push(took.as_micros() as u64);
    }
    times.sort_unstable();
    percentile(&times, 0.5) as f64 / 1000.0
}

async fn sign_in(connection: &mut Connection, from: &str, email: &str) -> (u16, Duration) {
    let body = serde_json::json!({ "email": email, "password": "not the password" }).to_string();
    let sent = Instant::now();
    let headers = [("x-forwarded-for", from)];
    let (status, _) =
        connection.send_with("POST", "/api/v1/auth/login", &headers, Some(body)).await.expect("a sign-in answer");
    (status, sent.elapsed())
}

/// A data dir with `quiet{n}` and `storm{n}` agents (`count` in all) who have a password, made
/// through the library; one hash serves them all (the bench measures checks, not set-ups).
async fn prepare(dir: &std::path::Path, count: usize) {
    let running = crate::phases::library_server(dir).await;
    let hash = Arc::new(centralita::auth::password::hash_now("the right password").expect("a hash"));
    for n in 0..count {
        let email =
            if n < QUIET { format!("quiet{n}@bench.example") } else { format!("storm{}@bench.example", n - QUIET) };
        let new = NewUser {
            first_name: format!("Agente{n}"),
            last_name: "Tormenta".into(),
            email,
            roles: vec![Role::Agent],
            permissions: vec![],
            language: None,
            totp_required: false,
        };
        let at = running.clock.now();
        let command =
            CreateUser { new, invite: None, password_hash: Some(hash.to_string()), actor: Actor::system("bench"), at };
        running.core.call(command).await.expect("an agent");
    }
    running.shutdown().await.expect("a clean stop");
}

/// Median ms of one argon2 hash in this process, with the server's parameters: what a check costs
/// before any server overhead.
pub fn argon2_hash_ms() -> f64 {
    let mut times: Vec<u64> = (0..10)
        .map(|_| {
            let started = Instant::now();
            centralita::auth::password::hash_now("not the password").expect("a hash");
            started.elapsed().as_micros() as u64
        })
        .collect();
    times.sort_unstable();
    percentile(&times, 0.5) as f64 / 1000.0
}
