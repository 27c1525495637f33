//! Rules through the real server: the shipped examples at work, hot reload, the Rules screen's API
//! and dry run, and hostile scripts that must not hurt the server.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use centralita::domain::ids::ConversationId;
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn example(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/examples").join(name)).unwrap()
}

fn rules_dir(desk: &Desk) -> PathBuf {
    let dir = desk.server.dir.path().join("rules");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Polls `check` every 50 ms until it gives a value, for at most `limit`.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(limit: Duration, mut check: impl FnMut() -> F) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < limit, "not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the server has loaded `count` rule files; returns the Rules status.
async fn loaded(desk: &Desk, count: usize) -> Value {
    eventually(Duration::from_secs(3), || async {
        let status: Value = desk.admin.get("/api/v1/rules").await.json().await.unwrap();
        Some(status).filter(|s| s["files"].as_array().unwrap().len() == count)
    })
    .await
}

/// Who the conversation a customer's message answered with goes to, once the `assign` hook has
/// answered (it runs away from the writer, so the message's own answer may say "queued").
async fn assignee(desk: &Desk, answer: &Value) -> Value {
    let id = answer["conversation"]["id"].clone();
    eventually(Duration::from_secs(3), || async {
        Some(desk.conversation(&id).await["assignee"]["id"].clone()).filter(|agent| !agent.is_null())
    })
    .await
}

async fn messages(desk: &Desk, id: &Value) -> Vec<Value> {
    desk.admin.get(&format!("/api/v1/conversations/{id}/messages")).await.json().await.unwrap()
}

/// The system's public messages in a conversation (rule replies).
async fn replies(desk: &Desk, id: &Value) -> Vec<String> {
    let all = messages(desk, id).await;
    let system = all.iter().filter(|m| m["author"]["kind"] == "system" && m["private"] == false);
    system.map(|m| m["text"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_server_run_from_the_checkout_applies_no_example_rule() {
    let repo_rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    assert!(repo_rules.join("examples/auto_reply.rhai").is_file(), "the examples ship in rules/examples/");
    let on_disk: Vec<_> = std::fs::read_dir(&repo_rules)
        .unwrap()
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "rhai"))
        .collect();
    assert!(on_disk.is_empty(), "rules/ of the checkout must hold no rule (copied examples are local): {on_disk:?}");
    let desk = Desk::open_with(|settings| {
        settings.rules.dir = repo_rules.clone();
        settings.rules.sweep = Duration::from_millis(200);
    })
    .await;
    let status: Value = desk.admin.get("/api/v1/rules").await.json().await.unwrap();
    assert_eq!(status["dir"], repo_rules.display().to_string());
    assert_eq!(status["files"], json!([]), "nothing of rules/examples/ is loaded");
    // The auto-reply example would answer these words at once, at any hour.
    let written: Value = desk.customer("lucia", "¿Cuál es su horario? ¿Y el precio?").await.json().await.unwrap();
    let id = written["conversation"]["id"].clone();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(replies(&desk, &id).await, Vec::<String>::new());
    let conversation = desk.conversation(&id).await;
    assert_eq!((conversation["labels"].clone(), conversation["status"].clone()), (json!([]), json!("queued")));
    desk.server.stop().await;
}

#[tokio::test]
async fn the_keyword_auto_reply_answers_and_labels_once_per_topic() {
    let desk = Desk::open().await;
    std::fs::write(rules_dir(&desk).join("auto_reply.rhai"), example("auto_reply.rhai")).unwrap();
    loaded(&desk, 1).await;
    let written: Value = desk.customer("lucia", "Hola, ¿qué PRECIO tiene?").await.json().await.unwrap();
    let id = written["conversation"]["id"].clone();
    let first =
        eventually(Duration::from_secs(5), || async { Some(replies(&desk, &id).await).filter(|r| !r.is_empty()) })
            .await;
    assert_eq!(first.len(), 1);
    assert!(first[0].contains("precios"), "{first:?}");
    assert_eq!(desk.conversation(&id).await["labels"], json!(["precio"]));
    // The same topic again: the label says it was answered. A new topic gets its own answer.
    desk.customer("lucia", "¿y el precio del envío?").await;
    desk.customer("lucia", "¿Cuál es su horario?").await;
    let both =
        eventually(Duration::from_secs(5), || async { Some(replies(&desk, &id).await).filter(|r| r.len() >= 2) }).await;
    assert!(both[1].contains("lunes a viernes"), "{both:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(replies(&desk, &id).await.len(), 2, "no second answer on prices");
    desk.server.stop().await;
}

#[tokio::test]
async fn on_message_actions_move_note_and_finalize_and_a_bad_answer_changes_nothing() {
    let desk = Desk::open().await;
    let ventas: Value = desk.admin.post("/api/v1/groups", json!({ "name": "Ventas" })).await.json().await.unwrap();
    let rule = r#"
        fn on_message(c, m) {
            if m.text == "comprar" { return [#{group: "ventas", note: "cliente quiere comprar"}]; }
            if m.text == "adiós" { return #{reply: "¡Hasta pronto!", finalize: "despedida"}; }
            if m.text == "roto" { return [#{label: "x"}, #{group: "No existe"}]; }
            ()
        }"#;
    std::fs::write(rules_dir(&desk).join("triage.rhai"), rule).unwrap();
    loaded(&desk, 1).await;
    let written: Value = desk.customer("c1", "comprar").await.json().await.unwrap();
    let id = written["conversation"]["id"].clone();
    let moved = eventually(Duration::from_secs(5), || async {
        Some(desk.conversation(&id).await).filter(|c| c["group"]["id"] == ventas["id"])
    })
    .await;
    assert_eq!(moved["status"], "queued");
    let notes = messages(&desk, &id).await;
    assert!(notes.iter().any(|m| m["private"] == true && m["text"] == "cliente quiere comprar"));

    desk.customer("c1", "roto").await;
    let status = eventually(Duration::from_secs(5), || async {
        let status: Value = desk.admin.get("/api/v1/rules").await.json().await.unwrap();
        Some(status).filter(|s| s["files"][0]["hooks"][0]["errors"] == 1)
    })
    .await;
    let error = status["files"][0]["hooks"][0]["last_error"].as_str().unwrap();
    assert!(error.contains("No existe"), "{error}");
    assert_eq!(desk.conversation(&id).await["labels"], json!([]), "a refused answer applies nothing");

    desk.customer("c1", "adiós").await;
    let closed = eventually(Duration::from_secs(5), || async {
        Some(desk.conversation(&id).await).filter(|c| c["status"] == "finalized")
    })
    .await;
    assert_eq!(closed["finalize_reason"], "despedida");
    assert_eq!(replies(&desk, &id).await, vec!["¡Hasta pronto!"], "the reply went out before closing");
    // The rule is the author of its reply and note, and the end is a staff line naming it.
    let all = messages(&desk, &id).await;
    let by = |text: &str| all.iter().find(|m| m["text"] == text).map(|m| m["author"]["name"].clone());
    assert_eq!((by("¡Hasta pronto!"), by("cliente quiere comprar")), (Some(json!("triage")), Some(json!("triage"))));
    let moved = all.iter().find(|m| m["activity"]["kind"] == "transferred").expect("a transferred line");
    assert_eq!(moved["text"], "triage transferred to Ventas");
    let end = all.iter().find(|m| m["activity"]["kind"] == "finalized").expect("a finalized line");
    assert_eq!((end["activity"]["actor"]["kind"].as_str(), end["private"].as_bool()), (Some("rule"), Some(true)));
    assert_eq!(end["text"], "Finalized by rule triage");
    desk.server.stop().await;
}

/// Milliseconds from `now` to the next Saturday at noon in UTC−3: outside business hours for the
/// shipped closing rule, whatever the day the test runs.
fn to_next_saturday_noon(now: u64) -> u64 {
    let day = 86_400_000;
    let local = now as i64 - 3 * 3_600_000;
    let days_since_thursday = local.div_euclid(day) % 7; // 1970-01-01 was a Thursday.
    let days_to_saturday = (2 - days_since_thursday).rem_euclid(7) + 7;
    let target = (local.div_euclid(day) + days_to_saturday) * day + 12 * 3_600_000;
    (target - local) as u64
}

#[tokio::test]
async fn the_closing_rule_ends_silent_conversations_outside_business_hours() {
    let desk = Desk::open_with(|settings| settings.rules.sweep = Duration::from_secs(1)).await;
    std::fs::write(rules_dir(&desk).join("close_idle.rhai"), example("close_idle.rhai")).unwrap();
    let silent: Value = desk.customer("silent", "hola").await.json().await.unwrap();
    let id = silent["conversation"]["id"].as_u64().unwrap();
    let clock = desk.server.running.clock.clone();
    clock.advance(to_next_saturday_noon(clock.now()));
    let store = desk.server.running.store.clone();
    let closed = eventually(Duration::from_secs(10), || async {
        let conversation = store.read().unwrap().conversation(ConversationId(id)).unwrap().unwrap();
        Some(conversation).filter(|c| c.finalized_at.is_some())
    })
    .await;
    assert_eq!(closed.finalize_reason.as_deref(), Some("closed by rule close_idle"));
    let messages = store.read().unwrap().messages(ConversationId(id), None, 10).unwrap();
    assert!(messages.iter().any(|m| m.text.starts_with("Cerramos esta conversación")), "{messages:?}");
    // One the customer just wrote in is idle for less than a minute: left alone.
    let fresh: Value = desk.customer("fresh", "hola").await.json().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let fresh = ConversationId(fresh["conversation"]["id"].as_u64().unwrap());
    assert!(store.read().unwrap().conversation(fresh).unwrap().unwrap().finalized_at.is_none());
    desk.server.stop().await;
}

#[tokio::test]
async fn a_vip_contact_goes_to_their_named_agent_even_when_another_is_freer() {
    let desk = Desk::open().await;
    std::fs::write(rules_dir(&desk).join("vip.rhai"), example("vip.rhai")).unwrap();
    loaded(&desk, 1).await;
    let (ana, _ana_socket) = desk.agent("ana@example.com", 6, &[]).await;
    let busy: Value = desk.customer("otro", "hola").await.json().await.unwrap();
    assert_eq!(assignee(&desk, &busy).await, ana.id(), "Ana now has one open");
    let (bruno, _bruno_socket) = desk.agent("bruno@example.com", 6, &[]).await;
    let before: Value = desk.customer("marta", "hola").await.json().await.unwrap();
    assert_eq!(assignee(&desk, &before).await, bruno.id(), "not VIP yet: the freer agent");
    let contact = before["conversation"]["contact"]["id"].clone();
    let marked = desk.admin.patch(&format!("/api/v1/contacts/{contact}"), json!({ "custom": { "vip": "si" } })).await;
    assert_eq!(marked.status(), StatusCode::OK);
    let first = before["conversation"]["id"].clone();
    bruno.post(&format!("/api/v1/conversations/{first}/finalize"), json!({})).await;
    let after: Value = desk.customer("marta", "hola de nuevo").await.json().await.unwrap();
    assert_eq!(assignee(&desk, &after).await, ana.id(), "VIP: Ana, although Bruno has none");
    let status: Value = desk.admin.get("/api/v1/rules").await.json().await.unwrap();
    assert_eq!(status["files"][0]["hooks"][0]["errors"], 0);
    desk.server.stop().await;
}

#[tokio::test]
async fn an_assign_rule_that_names_a_stranger_or_runs_away_falls_back_to_the_built_in_policy() {
    let desk = Desk::open().await;
    std::fs::write(
        rules_dir(&desk).join("bad.rhai"),
        "fn assign(c, list) { if c.contact.name == \"loop\" { loop {} } 999 }",
    )
    .unwrap();
    loaded(&desk, 1).await;
    let (ana, _socket) = desk.agent("ana@example.com", 6, &[]).await;
    let stranger: Value = desk.customer("stranger", "hola").await.json().await.unwrap();
    assert_eq!(assignee(&desk, &stranger).await, ana.id());
    let started = Instant::now();
    let runaway: Value = desk.customer("loop", "hola").await.json().await.unwrap();
    assert_eq!(assignee(&desk, &runaway).await, ana.id());
    assert!(started.elapsed() < Duration::from_secs(2), "the assignment took {:?}", started.elapsed());
    let status: Value = desk.admin.get("/api/v1/rules").await.json().await.unwrap();
    let hook = &status["files"][0]["hooks"][0];
    assert_eq!(hook["errors"], 2);
    let error = hook["last_error"].as_str().unwrap();
    assert!(error.contains("time limit") || error.contains("operations"), "{hook}");
    desk.server.stop().await;
}

#[tokio::test]
async fn permit_can_open_or_close_a_route_for_someone() {
    let desk = Desk::open().await;
    let rule = r#"
        fn permit(user, action, resource, decision) {
            if user.email == "sup@example.com" && action == "GET /api/v1/audit" { return true; }
            if user.email == "sup@example.com" && action == "GET /api/v1/conversations/{id}" && resource.id == 999 {
                return false;
            }
            decision
        }"#;
    std::fs::write(rules_dir(&desk).join("tweaks.rhai"), rule).unwrap();
    loaded(&desk, 1).await;
    let supervisor = desk.server.user(&desk.admin, "sup@example.com", &["supervisor"], &[]).await;
    let other = desk.server.user(&desk.admin, "other@example.com", &["supervisor"], &[]).await;
    assert_eq!(supervisor.get("/api/v1/audit").await.status(), StatusCode::OK, "opened for her");
    assert_eq!(other.get("/api/v1/audit").await.status(), StatusCode::FORBIDDEN, "not for others");
    let closed = supervisor.get("/api/v1/conversations/999").await;
    assert_eq!(closed.status(), StatusCode::FORBIDDEN);
    assert_eq!(other.get("/api/v1/conversations/999").await.status(), StatusCode::NOT_FOUND);
    desk.server.stop().await;
}

#[tokio::test]
async fn edits_take_effect_within_two_seconds_and_a_broken_edit_keeps_the_old_rule() {
    let desk = Desk::open().await;
    let file = rules_dir(&desk).join("reply.rhai");
    std::fs::write(&file, r#"fn on_message(c, m) { #{reply: "uno"} }"#).unwrap();
    loaded(&desk, 1).await;
    let written: Value = desk.customer("c", "hola").await.json().await.unwrap();
    let id = written["conversation"]["id"].clone();
    let first =
        eventually(Duration::from_secs(3), || async { Some(replies(&desk, &id).await).filter(|r| r.len() == 1) }).await;
    assert_eq!(first, vec!["uno"]);

    std::fs::write(&file, r#"fn on_message(c, m) { #{reply: "dos"} }"#).unwrap();
    let edited = Instant::now();
    let took = eventually(Duration::from_secs(3), || async {
        let status: Value = desk.admin.get("/api/v1/rules").await.json().await.unwrap();
        let changed = status["files"][0]["hooks"][0]["calls"] == 0;
        changed.then(|| edited.elapsed())
    })
    .await;
    assert!(took <= Duration::from_secs(2), "reloaded after {took:?}");
    desk.customer("c", "otra vez").await;
    let second =
        eventually(Duration::from_secs(3), || async { Some(replies(&desk, &id).await).filter(|r| r.len() == 2) }).await;
    assert_eq!(second[1], "dos");

    std::fs::write(&file, "fn on_message(c, m) {\n    #{reply: }\n}\n").unwrap();
    let status = eventually(Duration::from_secs(3), || async {
        let status: Value = desk.admin.get("/api/v1/rules").await.json().await.unwrap();
        Some(status).filter(|s| s["files"][0]["status"] == "error")
    })
    .await;
    assert_eq!(status["files"][0]["error"]["line"], 2);
    assert!(status["files"][0]["error"]["column"].is_u64());
    assert_eq!(status["files"][0]["in_force"], true);
    desk.customer("c", "y otra").await;
    let third =
        eventually(Duration::from_secs(3), || async { Some(replies(&desk, &id).await).filter(|r| r.len() == 3) }).await;
    assert_eq!(third[2], "dos", "the last good version still answers");
    desk.server.stop().await;
}

#[tokio::test]
async fn the_dry_run_shows_what_would_happen_and_changes_nothing() {
    let desk = Desk::open().await;
    // Written before there were rules: nothing answered it.
    let written: Value = desk.customer("c", "¿horario?").await.json().await.unwrap();
    let id = written["conversation"]["id"].clone();
    std::fs::write(rules_dir(&desk).join("auto_reply.rhai"), example("auto_reply.rhai")).unwrap();
    std::fs::write(
        rules_dir(&desk).join("close.rhai"),
        "fn should_close(c, now) { #{close: true, message: \"chau\"} }",
    )
    .unwrap();
    std::fs::write(rules_dir(&desk).join("broken.rhai"), "fn on_message(c, m) { m.nope.x }").unwrap();
    loaded(&desk, 3).await;
    let before = messages(&desk, &id).await.len();
    let run = desk.admin.post("/api/v1/rules/dry-run", json!({ "conversation_id": id })).await;
    assert_eq!(run.status(), StatusCode::OK);
    let run: Value = run.json().await.unwrap();
    assert_eq!(run["message"]["text"], "¿horario?");
    let files: Vec<&str> = run["on_message"].as_array().unwrap().iter().map(|o| o["file"].as_str().unwrap()).collect();
    assert_eq!(files, vec!["auto_reply.rhai", "broken.rhai"]);
    assert_eq!(run["on_message"][0]["answer"][1], json!({ "label": "horario" }));
    assert!(run["on_message"][1]["error"].is_string());
    assert_eq!(run["should_close"][0]["answer"], json!({ "close": true, "message": "chau" }));
    assert_eq!(desk.conversation(&id).await["status"], written["conversation"]["status"], "nothing changed");
    assert_eq!(messages(&desk, &id).await.len(), before);
    let missing = desk.admin.post("/api/v1/rules/dry-run", json!({ "conversation_id": 424242 })).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let wrong = desk.admin.post("/api/v1/rules/dry-run", json!({ "conversation": 1 })).await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    desk.server.stop().await;
}

#[tokio::test]
async fn hostile_rules_are_stopped_counted_and_the_server_keeps_answering() {
    let desk = Desk::open().await;
    let dir = rules_dir(&desk);
    let deep = format!("fn on_message(c, m) {{ {}1{} }}", "(".repeat(10_000), ")".repeat(10_000));
    let hostile = [
        ("loop.rhai", "fn on_message(c, m) { loop { } }".to_owned()),
        ("recursion.rhai", "fn f(x) { f(x + 1) } fn on_message(c, m) { f(0) }".to_owned()),
        ("doubling.rhai", "fn on_message(c, m) { let s = \"x\"; loop { s += s; } }".to_owned()),
        ("array.rhai", "fn on_message(c, m) { let a = []; loop { a.push(1); } }".to_owned()),
        ("sleep.rhai", "fn on_message(c, m) { sleep(3600) }".to_owned()),
        ("eval.rhai", "fn on_message(c, m) { eval(\"1\") }".to_owned()),
        ("import.rhai", "import \"/etc/passwd\" as p; fn on_message(c, m) { 1 }".to_owned()),
        ("nesting.rhai", deep),
    ];
    for (name, source) in &hostile {
        std::fs::write(dir.join(name), source).unwrap();
    }
    loaded(&desk, hostile.len()).await;
    let started = Instant::now();
    desk.customer("c", "hola").await;
    // Meanwhile the server answers others.
    for _ in 0..5 {
        let asked = Instant::now();
        assert_eq!(desk.server.get("/healthz").await.status(), StatusCode::OK);
        assert!(asked.elapsed() < Duration::from_millis(500), "healthz took {:?}", asked.elapsed());
    }
    // Each is refused at compile time (eval, deep nesting) or stopped when called.
    let stopped = |file: &Value| file["status"] == "error" || file["hooks"][0]["errors"] == 1;
    let status = eventually(Duration::from_secs(5), || async {
        let status: Value = desk.admin.get("/api/v1/rules").await.json().await.unwrap();
        Some(status.clone()).filter(|s| s["files"].as_array().unwrap().iter().all(stopped))
    })
    .await;
    assert_eq!(status["files"].as_array().unwrap().len(), hostile.len());
    for file in status["files"].as_array().unwrap() {
        let hooks = file["hooks"].as_array().unwrap();
        assert!(hooks.iter().all(|hook| hook["suspended"] == false), "one strike each: {file}");
    }
    assert!(started.elapsed() < Duration::from_secs(3), "all stopped in {:?}", started.elapsed());
    assert_eq!(desk.server.get("/healthz").await.status(), StatusCode::OK);
    desk.server.stop().await;
}

/// A rule that floods the log (issue 13, finding 7): the outside probe's rule printed 40 × 60 KB
/// per message, 46 MB of log over 20 messages, and was never suspended.
#[tokio::test]
async fn a_rule_that_floods_the_log_is_cut_and_suspended() {
    let desk = Desk::open().await;
    let loud =
        "fn on_message(c, m) { let s = \"x\"; while s.len() < 60000 { s += s; } for i in 0..40 { print(s); } [] }";
    std::fs::write(rules_dir(&desk).join("loud.rhai"), loud).unwrap();
    loaded(&desk, 1).await;
    for n in 0..20 {
        desk.customer(&format!("c{n}"), "hola").await;
    }
    let hook = eventually(Duration::from_secs(5), || async {
        let status: Value = desk.admin.get("/api/v1/rules").await.json().await.unwrap();
        Some(status["files"][0]["hooks"][0].clone()).filter(|hook| hook["suspended"] == true)
    })
    .await;
    assert_eq!(hook["calls"], 3, "suspended after three over-budget calls: {hook}");
    assert!(hook["last_error"].as_str().unwrap().contains("log limit"), "{hook}");
    desk.server.stop().await;
}

/// A full queue loses nothing (issue 12, point 9): a rule's move into a full group waits beyond
/// the limit like a new customer, and the rule's reply and label go with it.
#[tokio::test]
async fn a_rule_moving_a_conversation_to_a_full_group_keeps_its_reply_and_labels_and_waits_in_overflow() {
    let desk = Desk::open().await;
    let full = json!({ "name": "Lleno", "rules": { "max_queue": 1 } });
    let lleno: Value = desk.admin.post("/api/v1/groups", full).await.json().await.unwrap();
    let rule = r#"fn on_message(c, m) { #{reply: "Te pasamos a Lleno", label: "lleno", group: "Lleno"} }"#;
    std::fs::write(rules_dir(&desk).join("mover.rhai"), rule).unwrap();
    loaded(&desk, 1).await;
    let mut ids = Vec::new();
    for who in ["c1", "c2"] {
        let written: Value = desk.customer(who, "hola").await.json().await.unwrap();
        let id = written["conversation"]["id"].clone();
        // No agent: each waits in Lleno, the second beyond its limit of one.
        eventually(Duration::from_secs(5), || async {
            Some(desk.conversation(&id).await).filter(|c| c["group"]["id"] == lleno["id"])
        })
        .await;
        ids.push(id);
    }
    let second = desk.conversation(&ids[1]).await;
    assert_eq!((second["status"].as_str(), second["queue"]["overflow"].as_bool()), (Some("queued"), Some(true)));
    assert_eq!(second["labels"], json!(["lleno"]));
    assert_eq!(replies(&desk, &ids[1]).await, ["Te pasamos a Lleno"]);
    desk.server.stop().await;
}
