//! The real binary as a child process, for tests of starting, stopping and crashing it.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{client_trusting, load_cert, self_signed_cert_path};

pub const BIN: &str = env!("CARGO_BIN_EXE_centralita");

/// A running binary and the log lines it has written so far.
pub struct Process {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Process {
    /// Starts `centralita serve` on a free loopback port and waits until `/healthz` answers.
    pub async fn serve(data_dir: &Path, extra: &[&str]) -> Process {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            // Not the checkout's example rules: this server's behaviour is the built-in one.
            .arg("--rules-dir")
            .arg(data_dir.join("rules"))
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the binary runs");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (found, mut listening) = tokio::sync::mpsc::channel(1);
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = Arc::clone(&log);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.split("listening on https://").nth(1) {
                    let addr: String =
                        rest.chars().take_while(|c| c.is_ascii_alphanumeric() || ".:[]".contains(*c)).collect();
                    let _ = found.send(addr).await;
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr: SocketAddr = tokio::time::timeout(Duration::from_secs(30), listening.recv())
            .await
            .unwrap_or_else(|_| panic!("no 'listening' line; log: {:?}", log.lock().unwrap()))
            .expect("the server printed where it listens")
            .parse()
            .unwrap();
        let process = Process { child, addr, log };
        let client = client_trusting(&load_cert(&self_signed_cert_path(data_dir)));
        let health = client.get(format!("https://{addr}/healthz")).send().await.expect("healthz answers");
        assert_eq!(health.status(), 200);
        process
    }

    pub fn log_contains(&self, text: &str) -> bool {
        self.log.lock().unwrap().iter().any(|line| line.contains(text))
    }

    pub fn fingerprint(&self) -> String {
        let log = self.log.lock().unwrap();
        let line = log.iter().find(|line| line.contains("fingerprint=")).expect("fingerprint logged");
        line.split("fingerprint=").nth(1).unwrap().split_whitespace().next().unwrap().to_owned()
    }

    /// SIGTERM, as systemd stops it; returns the exit code.
    pub async fn terminate(mut self) -> (Option<i32>, Vec<String>) {
        let pid = self.child.id().expect("still running").to_string();
        let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let log = self.log.lock().unwrap().clone();
        (status.code(), log)
    }
}
