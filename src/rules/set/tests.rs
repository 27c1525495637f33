//! Loading, reloading and counting, on a real folder.

use super::*;

fn write(dir: &Path, name: &str, source: &str) {
    std::fs::write(dir.join(name), source).unwrap();
}

fn conversation() -> Dynamic {
    data::from_json(&serde_json::json!({"id": 1, "labels": [], "contact": {"custom": {}}})).unwrap()
}

fn message(text: &str) -> Dynamic {
    data::from_json(&serde_json::json!({"id": 1, "text": text, "author": "customer"})).unwrap()
}

#[test]
fn a_broken_edit_keeps_the_last_good_version_and_a_fix_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "reply.rhai", r#"fn on_message(c, m) { #{reply: "v1"} }"#);
    let rules = Rules::load(Some(dir.path().to_path_buf()));
    let first = rules.on_message(conversation(), message("hola"));
    assert!(matches!(&first[0].result, Outcome::Answer(a) if a == &vec![Action::Reply("v1".into())]));

    write(dir.path(), "reply.rhai", "fn on_message(c, m) {\n  #{reply: }\n}");
    assert!(rules.reload());
    let status = rules.status();
    assert_eq!(status.files[0].status, "error");
    assert_eq!(status.files[0].error.as_ref().unwrap().line, Some(2));
    assert!(status.files[0].in_force, "the last good version stays");
    let kept = rules.on_message(conversation(), message("hola"));
    assert!(matches!(&kept[0].result, Outcome::Answer(a) if a == &vec![Action::Reply("v1".into())]));

    write(dir.path(), "reply.rhai", r#"fn on_message(c, m) { #{reply: "v2"} }"#);
    assert!(rules.reload());
    assert!(!rules.reload(), "nothing changed the second time");
    let fixed = rules.on_message(conversation(), message("hola"));
    assert!(matches!(&fixed[0].result, Outcome::Answer(a) if a == &vec![Action::Reply("v2".into())]));
    assert_eq!(rules.status().files[0].status, "ok");
}

#[test]
fn errors_are_counted_and_runaways_suspended_until_the_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad.rhai", r#"fn on_message(c, m) { if m.text == "loop" { loop {} } #{replay: "x"} }"#);
    let rules = Rules::load(Some(dir.path().to_path_buf()));
    let wrong = rules.on_message(conversation(), message("hola"));
    assert!(matches!(&wrong[0].result, Outcome::Error(e) if e.contains("unknown action")));
    for _ in 0..STRIKES {
        rules.on_message(conversation(), message("loop"));
    }
    let hook = &rules.status().files[0].hooks[0];
    assert_eq!((hook.calls, hook.errors, hook.suspended), (4, 4, true));
    assert!(rules.on_message(conversation(), message("loop")).is_empty(), "a suspended hook is skipped");
    write(dir.path(), "bad.rhai", r#"fn on_message(c, m) { () }"#);
    rules.reload();
    assert_eq!(rules.on_message(conversation(), message("loop")).len(), 1);
    assert!(!rules.status().files[0].hooks[0].suspended);
}

#[test]
fn permit_passes_the_decision_through_each_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.rhai", r#"fn permit(u, a, r, d) { if a == "x" { true } else { d } }"#);
    write(dir.path(), "b.rhai", r#"fn permit(u, a, r, d) { if u.email == "no@x" { false } else { d } }"#);
    write(dir.path(), "c.rhai", r#"fn permit(u, a, r, d) { 1 }"#);
    let rules = Rules::load(Some(dir.path().to_path_buf()));
    let user = |email: &str| data::from_json(&serde_json::json!({"id": 1, "email": email})).unwrap();
    assert!(rules.permit(user("a@x"), "x", Dynamic::UNIT, false));
    assert!(!rules.permit(user("no@x"), "x", Dynamic::UNIT, true));
    assert!(rules.permit(user("a@x"), "y", Dynamic::UNIT, true), "a failing file leaves the decision");
    assert_eq!(rules.status().files[2].hooks[0].errors, 3);
}

#[test]
fn a_missing_folder_means_no_rules_and_files_may_appear_later() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("rules");
    let rules = Rules::load(Some(folder.clone()));
    assert!(!rules.has("on_message"));
    std::fs::create_dir(&folder).unwrap();
    write(&folder, "r.rhai", "fn should_close(c, now) { now > 10 }");
    assert!(rules.reload());
    assert_eq!(rules.should_close(conversation(), 11), Some(("r.rhai".into(), None)));
    assert_eq!(rules.should_close(conversation(), 5), None);
}

#[test]
fn the_dry_run_of_a_file_reads_a_fixture() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.rhai", r#"fn assign(c, list) { list[1].id } fn on_message(c, m) { [#{label: m.text}] }"#);
    let path = dir.path().join("a.rhai");
    let fixture = serde_json::json!({
        "conversation": {"id": 1}, "message": {"text": "precio"},
        "candidates": [{"id": 4}, {"id": 9}],
    });
    assert_eq!(dry_run_file(&path, "on_message", &fixture).unwrap(), serde_json::json!([{"label": "precio"}]));
    assert_eq!(dry_run_file(&path, "assign", &fixture).unwrap(), serde_json::json!({"agent": 9}));
    assert!(dry_run_file(&path, "permit", &fixture).unwrap_err().contains("does not define"));
    assert!(dry_run_file(&path, "nope", &fixture).unwrap_err().contains("unknown hook"));
}

#[test]
fn a_dry_run_tells_where_a_hook_failed_and_the_counters_keep_the_full_text() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "failing.rhai", "fn on_message(c, m) {\n    m.nope.x\n}\n");
    write(dir.path(), "wrong.rhai", r#"fn on_message(c, m) { #{replay: "x"} }"#);
    let rules = Rules::load(Some(dir.path().to_path_buf()));
    let run = rules.dry_run(conversation(), Some(message("hola")), 0);
    let failing = &run.on_message[0];
    assert_eq!((failing.file.as_str(), failing.line), ("failing.rhai", Some(2)));
    assert!(failing.column.is_some());
    assert!(matches!(&failing.result, Outcome::Error(e) if !e.contains("failing.rhai")), "the file is named once");
    let wrong = &run.on_message[1];
    assert_eq!((wrong.line, wrong.column), (None, None), "a wrong answer has no place in the file");
    let json = serde_json::to_value(failing).unwrap();
    assert_eq!(json["line"], 2);
    rules.on_message(conversation(), message("hola"));
    let counted = rules.status().files[0].hooks[0].last_error.clone().unwrap();
    assert!(counted.contains("failing.rhai:2:"), "{counted}");
}
