//! A full disk: the data dir is a small tmpfs (the test mounts one; without the right to mount, it
//! says so and passes). When it fills, writes answer 503 `disk_full`, reads keep working, writes
//! work again as soon as space is freed, and nothing acknowledged is lost, also across a restart.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::{Desk, Staff, TestServer, error_code};
use serde_json::Value;

/// A tmpfs mounted on a temporary dir, unmounted when dropped.
struct Tmpfs {
    dir: Arc<tempfile::TempDir>,
}

impl Tmpfs {
    fn mount(megabytes: u32) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let size = format!("size={megabytes}m");
        let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", &size, "tmpfs"]).arg(dir.path()).output();
        match mounted {
            Ok(output) if output.status.success() => Some(Tmpfs { dir: Arc::new(dir) }),
            Ok(output) => {
                eprintln!("SKIPPED: cannot mount a tmpfs here: {}", String::from_utf8_lossy(&output.stderr).trim());
                None
            }
            Err(err) => {
                eprintln!("SKIPPED: cannot run mount: {err}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Writes zeros into `path` until the file system says it is full.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 64 * 1024];
    let mut written = 0;
    loop {
        match file.write(&block) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(err) if err.raw_os_error() == Some(28) => break,
            Err(err) => panic!("filling the disk: {err}"),
        }
    }
    let _ = file.sync_all();
    written
}

/// Customer `who` writes `text` (3 KB of padding makes each commit grow the file).
async fn write(desk: &Desk, who: &str, text: &str) -> reqwest::Response {
    desk.customer(who, &format!("{text} {}", "x".repeat(3000))).await
}

async fn stored_texts(server: &TestServer, desk: &Desk) -> BTreeSet<String> {
    let list: Value = desk.admin.get("/api/v1/conversations?status=all").await.json().await.unwrap();
    let mut texts = BTreeSet::new();
    for conversation in list.as_array().unwrap() {
        let path = format!("/api/v1/conversations/{}/messages", conversation["id"]);
        let response = desk.admin.get(&path).await;
        assert_eq!(response.status(), 200, "reads work on {}", server.url(&path));
        let messages: Value = response.json().await.unwrap();
        for message in messages.as_array().unwrap() {
            let text = message["text"].as_str().unwrap_or("");
            texts.insert(text.split(' ').next().unwrap_or("").to_owned());
        }
    }
    texts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_clearly_keeps_reads_and_recovers() {
    let Some(tmpfs) = Tmpfs::mount(8) else { return };
    let desk = Desk::open_in(Arc::clone(&tmpfs.dir), |_| {}).await;
    let mut acked = BTreeSet::new();
    for n in 0..3 {
        let text = format!("before{n}");
        assert_eq!(write(&desk, &format!("c{n}"), &text).await.status(), 201);
        acked.insert(text);
    }

    let filler: PathBuf = tmpfs.dir.path().join("filler");
    let filled = fill(&filler);
    let (mut refused, mut accepted_while_full) = (0, 0);
    for n in 0..20 {
        let text = format!("full{n}");
        let response = write(&desk, &format!("c{}", n % 4), &text).await;
        match response.status().as_u16() {
            // A commit that fit in space the file already had.
            201 => {
                accepted_while_full += 1;
                acked.insert(text);
            }
            503 => {
                refused += 1;
                assert_eq!(error_code(response).await, "disk_full");
            }
            other => panic!("a write on a full disk answered {other}"),
        }
    }
    eprintln!("disk filled with {filled} bytes: {refused} writes refused, {accepted_while_full} fitted");
    assert!(refused >= 15, "a full disk refuses writes ({refused} of 20 refused)");
    assert_eq!(desk.server.get("/healthz").await.status(), 200);
    assert!(
        acked.is_subset(&stored_texts(&desk.server, &desk).await),
        "reads work and show every acknowledged message"
    );

    std::fs::remove_file(&filler).unwrap();
    for n in 0..5 {
        let text = format!("after{n}");
        let response = write(&desk, &format!("c{n}"), &text).await;
        assert_eq!(response.status(), 201, "writes work again once space is freed");
        acked.insert(text);
    }
    assert!(acked.is_subset(&stored_texts(&desk.server, &desk).await));

    let Desk { server, admin, channel } = desk;
    let server = TestServer::start_with(server.stop().await, |_| {}).await;
    // The session is stored too: the same cookie works on the restarted server.
    let admin = Staff { client: server.client.clone(), base: server.url(""), ..admin };
    let desk = Desk { server, admin, channel };
    assert!(acked.is_subset(&stored_texts(&desk.server, &desk).await), "nothing acknowledged is lost across a restart");
    desk.server.stop().await;
    drop(tmpfs);
}
