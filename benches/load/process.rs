//! The real binary as a separate process, so that its memory and start time are its own: idle
//! RSS, start time on a big database, and the server of the delivery phase.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use centralita::core::{CustomerMessage, CustomerProfile};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::net::{Connection, client_config};

pub struct Server {
    pub addr: SocketAddr,
    child: Child,
}

impl Server {
    /// Starts `centralita serve` on 127.0.0.1, port 0, and waits until `/healthz` answers.
    pub async fn spawn(data_dir: &Path, rules_dir: &Path) -> Server {
        Server::spawn_timed(data_dir, rules_dir).await.0
    }

    /// As `spawn`, with the time from starting the process to the first healthy answer.
    pub async fn spawn_timed(data_dir: &Path, rules_dir: &Path) -> (Server, Duration) {
        Server::spawn_timed_with(data_dir, rules_dir, &[]).await
    }

    /// As `spawn`, with more command-line arguments (e.g. `--config FILE`).
    pub async fn spawn_with(data_dir: &Path, rules_dir: &Path, extra: &[&str]) -> Server {
        Server::spawn_timed_with(data_dir, rules_dir, extra).await.0
    }

    async fn spawn_timed_with(data_dir: &Path, rules_dir: &Path, extra: &[&str]) -> (Server, Duration) {
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_centralita"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .arg("--rules-dir")
            .arg(rules_dir)
            .args(extra)
            .env("RUST_LOG", "warn,centralita=info")
            .env("NO_COLOR", "1")
            // Every client of the bench is on 127.0.0.1: the delivery phase's 1,000 agent sockets
            // would pass the per-address limit meant for one office.
            .env("CENTRALITA_HTTP_MAX_SOCKETS_PER_ADDRESS", "1000000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the centralita binary starts");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let addr = loop {
            let line = lines.next_line().await.expect("the server's log").expect("the server printed where it listens");
            if let Some(rest) = line.split("listening on https://").nth(1) {
                break rest.split_whitespace().next().and_then(|a| a.parse().ok()).expect("an address");
            }
        };
        // Keep reading the log so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let config = client_config(b"http/1.1");
        loop {
            if let Ok(mut connection) = Connection::open(addr, &config).await
                && let Ok((200, _)) = connection.send("GET", "/healthz", None, None).await
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let took = started.elapsed();
        (Server { addr, child }, took)
    }

    fn status_kb(&self, field: &str) -> f64 {
        let Some(pid) = self.child.id() else { return f64::NAN };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    }

    /// CPU time (user + system) the server process has used so far, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let Some(pid) = self.child.id() else { return f64::NAN };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // After the command name (in parentheses, which may hold spaces): utime and stime are the
        // 12th and 13th fields, in clock ticks (100 a second on Linux).
        let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(f64::NAN);
        (ticks(11) + ticks(12)) / 100.0
    }

    pub fn rss_mb(&self) -> f64 {
        self.status_kb("VmRSS:") / 1024.0
    }

    pub fn peak_rss_mb(&self) -> f64 {
        self.status_kb("VmHWM:") / 1024.0
    }

    /// SIGTERM, then wait for the clean stop.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
        }
        if tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// RSS of a fresh server with an empty database, a second after it became healthy.
pub async fn idle_rss_mb() -> f64 {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = Server::spawn(&dir.path().join("data"), &dir.path().join("no-rules")).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss = server.rss_mb();
    server.stop().await;
    rss
}

pub struct Start {
    pub ms: f64,
    pub db_mb: f64,
}

/// Time from process start to a healthy `/healthz` on a database of `messages` messages (made once
/// and kept under target/bench).
pub async fn start_ms(messages: usize) -> Start {
    let dir = crate::output_dir().join(format!("start-{messages}"));
    if !dir.join("complete").exists() {
        eprintln!("  generating the database (once; kept in {})", dir.display());
        let _ = std::fs::remove_dir_all(&dir);
        generate(&dir, messages).await;
        std::fs::write(dir.join("complete"), messages.to_string()).expect("marker");
    }
    let data = dir.join("data");
    let db_mb = std::fs::read_dir(&data)
        .map(|entries| entries.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum::<u64>())
        .unwrap_or(0) as f64
        / 1_048_576.0;
    // The page cache is warm after the first start; take the best of three warm starts.
    let mut best = f64::MAX;
    for _ in 0..3 {
        let (server, took) = Server::spawn_timed(&data, &dir.join("no-rules")).await;
        best = best.min(took.as_secs_f64() * 1000.0);
        server.stop().await;
    }
    Start { ms: best, db_mb }
}

/// `messages` customer messages from `messages / 100` customers, written through the library
/// with many commands in flight (group commit).
async fn generate(dir: &Path, messages: usize) {
    let running = crate::phases::library_server(dir).await;
    let (channel, _) = crate::phases::api_channel(&running).await;
    let customers = (messages / 100).max(1);
    let mut inflight: tokio::task::JoinSet<Result<(), centralita::core::CoreError>> = tokio::task::JoinSet::new();
    for n in 0..messages {
        if inflight.len() >= 2048
            && let Some(done) = inflight.join_next().await
        {
            done.expect("a message task").expect("a message");
        }
        let core = running.core.clone();
        let at = running.clock.now();
        inflight.spawn(async move {
            let command = CustomerMessage {
                channel,
                identifier: format!("cliente{}", n % customers),
                profile: CustomerProfile::default(),
                text: format!("Hola, quisiera saber el precio del producto número {n}, gracias."),
                at,
            };
            core.call(command).await.map(|_| ())
        });
        if n % 100_000 == 0 && n > 0 {
            eprintln!("    {n} messages");
        }
    }
    while let Some(done) = inflight.join_next().await {
        done.expect("a message task").expect("a message");
    }
    running.shutdown().await.expect("a clean stop");
}
