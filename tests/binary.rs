//! The real `centralita` binary: starting, stopping, crashing, and refusing bad configurations with
//! one clear line.

mod common;

use std::path::PathBuf;
use std::process::Stdio;

use common::{BIN, Process, client_trusting, load_cert, self_signed_cert_path};
use tokio::process::Command;

/// Runs the binary to its end and returns its exit code and standard error.
async fn run(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(BIN).args(args).env("RUST_LOG", "info").output().await.unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Exit code 2 and exactly one line, with no panic or backtrace in it.
fn assert_one_line_failure(code: Option<i32>, stderr: &str, must_name: &str) {
    assert_eq!(code, Some(2), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|line| !line.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {stderr}");
    assert!(lines[0].contains(must_name), "{must_name:?} not named in: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
}

#[tokio::test]
async fn the_binary_serves_healthz_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let process = Process::serve(dir.path(), &[]).await;
    assert!(process.log_contains("new database created"));
    let (code, log) = process.terminate().await;
    assert_eq!(code, Some(0), "{log:?}");
    assert!(log.iter().any(|line| line.contains("centralita stopped")), "{log:?}");
}

#[tokio::test]
async fn after_sigkill_the_database_opens_cleanly_with_the_same_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Process::serve(dir.path(), &[]).await;
    let fingerprint = first.fingerprint();
    first.child.kill().await.unwrap(); // SIGKILL
    let second = Process::serve(dir.path(), &[]).await;
    assert_eq!(second.fingerprint(), fingerprint);
    assert!(second.log_contains("did not stop cleanly"), "the crash is reported");
    let (code, _) = second.terminate().await;
    assert_eq!(code, Some(0));
    let third = Process::serve(dir.path(), &[]).await;
    assert!(!third.log_contains("did not stop cleanly"), "a clean stop is not reported as a crash");
    third.terminate().await;
}

#[tokio::test]
async fn the_example_config_fed_back_starts_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN).args(["config", "example"]).output().await.unwrap();
    assert!(output.status.success());
    let example = String::from_utf8(output.stdout).unwrap();
    assert!(example.contains("listen = \"0.0.0.0:8443\""), "{example}");
    let file = dir.path().join("centralita.toml");
    std::fs::write(&file, example).unwrap();
    let data = dir.path().join("data");
    let process = Process::serve(&data, &["--config", file.to_str().unwrap()]).await;
    process.terminate().await;
}

#[tokio::test]
async fn json_logs_are_one_json_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let process = Process::serve(dir.path(), &["--log-format", "json"]).await;
    let (code, log) = process.terminate().await;
    assert_eq!(code, Some(0));
    assert!(log.len() >= 3, "{log:?}");
    for line in &log {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(entry["level"].is_string() && entry["fields"].is_object(), "{line}");
    }
    let request = log.iter().find(|line| line.contains("centralita::access")).expect("the health check is logged");
    let entry: serde_json::Value = serde_json::from_str(request).unwrap();
    assert_eq!(entry["span"]["route"], "/healthz", "{request}");
    assert_eq!(entry["span"]["method"], "GET", "{request}");
}

#[tokio::test]
async fn a_misspelled_key_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[http]\nidle_timout_secs = 30\n").unwrap();
    let (code, stderr) = run(&["serve", "--config", file.to_str().unwrap()]).await;
    assert_one_line_failure(code, &stderr, "http.idle_timout_secs");
    assert!(stderr.contains("bad.toml") && stderr.contains("did you mean"), "{stderr}");
}

#[tokio::test]
async fn a_wrong_type_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "listen = 8443\n").unwrap();
    let (code, stderr) = run(&["serve", "--config", file.to_str().unwrap()]).await;
    assert_one_line_failure(code, &stderr, "\"listen\"");
    let (code, stderr) = run(&["serve", "--config", "/nonexistent/centralita.toml"]).await;
    assert_one_line_failure(code, &stderr, "/nonexistent/centralita.toml");
}

#[tokio::test]
async fn a_port_in_use_exits_2_with_one_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = run(&["serve", "--listen", &addr, "--data-dir", dir.path().to_str().unwrap()]).await;
    assert_one_line_failure(code, &stderr, "already in use");
}

#[tokio::test]
async fn an_unusable_data_dir_exits_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let data = file.join("data");
    let (code, stderr) = run(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()]).await;
    assert_one_line_failure(code, &stderr, "data dir");
}

/// A database made by a first start and stopped cleanly; returns its folder.
async fn stopped_database() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (code, _) = Process::serve(dir.path(), &[]).await.terminate().await;
    assert_eq!(code, Some(0));
    dir
}

async fn serve_in(dir: &std::path::Path) -> (Option<i32>, String) {
    run(&["serve", "--listen", "127.0.0.1:0", "--data-dir", dir.to_str().unwrap(), "--rules-dir", "/nonexistent"]).await
}

/// A database file truncated to 0 bytes is refused (issue 13, finding 7): redb took it for a new
/// database, and the server silently became a fresh install with a new administrator.
#[tokio::test]
async fn an_empty_database_file_is_refused_with_one_line() {
    let dir = stopped_database().await;
    std::fs::write(dir.path().join("centralita.redb"), b"").unwrap();
    let (code, stderr) = serve_in(dir.path()).await;
    assert_one_line_failure(code, &stderr, "empty file (0 bytes)");
    assert_eq!(std::fs::metadata(dir.path().join("centralita.redb")).unwrap().len(), 0, "left as it was");
    let data = dir.path().to_str().unwrap();
    let reset = ["reset-password", "--data-dir", data, "--email", "admin@localhost", "--password-stdin"];
    let (code, _, stderr) = user_command(&reset, "a long enough password").await;
    assert_eq!(code, Some(2), "the command line refuses it the same way: {stderr}");
    assert!(stderr.contains("empty file (0 bytes)"), "{stderr}");
}

/// Damaged pages made redb panic at start (exit 101 and a panic report): now one line naming the
/// file and the way out, exit 2.
#[tokio::test]
async fn a_damaged_database_exits_2_with_one_line_pointing_to_a_backup() {
    let dir = stopped_database().await;
    let path = dir.path().join("centralita.redb");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[4096..].fill(0x41); // every page after the header
    std::fs::write(&path, &bytes).unwrap();
    let (code, stderr) = serve_in(dir.path()).await;
    assert_one_line_failure(code, &stderr, "is damaged");
    assert!(stderr.contains("restore it from a backup"), "{stderr}");
    // Not a database at all: one line too.
    std::fs::write(&path, b"hello, I am not a database").unwrap();
    let (code, stderr) = serve_in(dir.path()).await;
    assert_one_line_failure(code, &stderr, "cannot open the database");
    // Unreadable (here a folder in its place): the file may be fine, so no advice to move it away.
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    let (code, stderr) = serve_in(dir.path()).await;
    assert_one_line_failure(code, &stderr, "cannot read or write the database");
    assert!(!stderr.contains("move it away"), "{stderr}");
}

#[tokio::test]
async fn missing_configured_certificate_files_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("CENTRALITA_TLS_CERT", "/nonexistent/cert.pem")
        .env("CENTRALITA_TLS_KEY", "/nonexistent/key.pem")
        .output()
        .await
        .map(|out| (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned()))
        .unwrap();
    assert_one_line_failure(code, &stderr, "/nonexistent/cert.pem");
}

/// Runs `centralita user …` with `password` on standard input.
async fn user_command(args: &[&str], password: &str) -> (Option<i32>, String, String) {
    use tokio::io::AsyncWriteExt;
    let mut child = Command::new(BIN)
        .arg("user")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{password}\n").as_bytes()).await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    (output.status.code(), text(output.stdout), text(output.stderr))
}

#[tokio::test]
async fn user_add_and_reset_password_work_on_a_stopped_server_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let add = ["add", "--data-dir", data, "--email", "boss@example.com", "--role", "admin", "--password-stdin"];
    let (code, stdout, stderr) = user_command(&add, "first long password").await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("boss@example.com created"), "{stdout}");
    let process = Process::serve(dir.path(), &[]).await;
    assert!(!process.log_contains("first start: administrator created"), "a database with users gets no setup link");
    let client = client_trusting(&load_cert(&self_signed_cert_path(dir.path())));
    let url = format!("https://{}/api/v1/auth/login", process.addr);
    let login = |password: &'static str| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let body = serde_json::json!({ "email": "boss@example.com", "password": password });
            client.post(url).json(&body).send().await.unwrap().status()
        }
    };
    assert_eq!(login("first long password").await, 200);
    let reset = ["reset-password", "--data-dir", data, "--email", "boss@example.com", "--password-stdin"];
    let (code, _, stderr) = user_command(&reset, "second long password").await;
    assert_eq!(code, Some(1));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("the server is running"), "{stderr}");
    process.terminate().await;
    let (code, stdout, stderr) = user_command(&reset, "second long password").await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("password of boss@example.com set"), "{stdout}");
    let process = Process::serve(dir.path(), &[]).await;
    let client = client_trusting(&load_cert(&self_signed_cert_path(dir.path())));
    let body = serde_json::json!({ "email": "boss@example.com", "password": "second long password" });
    let status =
        client.post(format!("https://{}/api/v1/auth/login", process.addr)).json(&body).send().await.unwrap().status();
    assert_eq!(status, 200);
    process.terminate().await;
}

#[tokio::test]
async fn the_first_start_prints_the_setup_link_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = Process::serve(dir.path(), &[]).await;
    assert!(first.log_contains("first start: administrator created"));
    assert!(first.log_contains("/invite#token=in_"));
    first.terminate().await;
    let second = Process::serve(dir.path(), &[]).await;
    assert!(!second.log_contains("/invite#token="), "the link is printed once");
    second.terminate().await;
}

#[tokio::test]
async fn rules_check_reports_a_broken_file_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.rhai"), "fn on_message(c, m) { [] }\n").unwrap();
    std::fs::write(dir.path().join("broken.rhai"), "fn permit(u, a, r, d) {\n    let x = ;\n}\n").unwrap();
    let output = Command::new(BIN).args(["rules", "check"]).arg(dir.path()).output().await.unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(report.contains("good.rhai (on_message)"), "{report}");
    assert!(report.contains("broken.rhai:2:"), "{report}");
    std::fs::remove_file(dir.path().join("broken.rhai")).unwrap();
    let output = Command::new(BIN).args(["rules", "check"]).arg(dir.path()).output().await.unwrap();
    assert_eq!(output.status.code(), Some(0));
}

#[tokio::test]
async fn the_shipped_rules_compile_and_answer_their_fixtures() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(BIN).args(["rules", "check"]).arg(root.join("rules/examples")).output().await.unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stdout));
    let cases = [
        ("auto_reply.rhai", "on_message", "message.json"),
        ("close_idle.rhai", "should_close", "idle_night.json"),
        ("vip.rhai", "assign", "vip.json"),
        ("ventas_orders.rhai", "permit", "void_order.json"),
    ];
    let mut answers = Vec::new();
    for (file, hook, fixture) in cases {
        let output = Command::new(BIN)
            .args(["rules", "test"])
            .arg(root.join("rules/examples").join(file))
            .args(["--hook", hook, "--fixture"])
            .arg(root.join("rules/examples/fixtures").join(fixture))
            .output()
            .await
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{file}: {}", String::from_utf8_lossy(&output.stderr));
        answers.push(serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap());
    }
    assert_eq!(answers[0][1], serde_json::json!({ "label": "horario" }));
    assert_eq!(answers[0].as_array().unwrap().len(), 4, "both topics answered and labelled");
    assert_eq!(answers[1]["close"], true, "Tuesday 00:00 in UTC-3 is outside business hours");
    assert_eq!(answers[2], serde_json::json!({ "agent": 5 }), "the VIP goes to Ana, not the freer Bruno");
    assert_eq!(answers[3], serde_json::json!(true), "an agent of ventas may void her own order");
}

#[tokio::test]
async fn rules_test_explains_a_wrong_hook_fixture_or_rule() {
    let dir = tempfile::tempdir().unwrap();
    let rule = dir.path().join("r.rhai");
    std::fs::write(&rule, "fn on_message(c, m) { #{reply: m.text, oops: 1} }").unwrap();
    let fixture = dir.path().join("f.json");
    std::fs::write(&fixture, r#"{"conversation": {}, "message": {"text": "hola"}}"#).unwrap();
    let run = |hook: &'static str, fixture: PathBuf| {
        let rule = rule.clone();
        async move {
            let output = Command::new(BIN)
                .args(["rules", "test"])
                .arg(&rule)
                .args(["--hook", hook, "--fixture"])
                .arg(fixture)
                .output()
                .await
                .unwrap();
            (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
        }
    };
    let (code, message) = run("on_message", fixture.clone()).await;
    assert_eq!(code, Some(1));
    assert!(message.contains("unknown action `oops`"), "{message}");
    let (code, message) = run("permit", fixture.clone()).await;
    assert_eq!(code, Some(1));
    assert!(message.contains("does not define `permit`"), "{message}");
    let (code, message) = run("on_message", dir.path().join("missing.json")).await;
    assert_eq!(code, Some(2));
    assert!(message.contains("cannot read the fixture"), "{message}");
}
