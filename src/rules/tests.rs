//! The sandbox holds against hostile scripts: each is stopped quickly, with an error that says
//! where and why, and the engine keeps working for the next call.

use std::time::{Duration, Instant};

use super::*;

fn file(dir: &tempfile::TempDir, name: &str, source: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, source).unwrap();
    path
}

/// Compiles and runs `on_message` of a script; returns the error and how long it took.
fn run(engine: &Engine, source: &str) -> (Result<Dynamic, RuleError>, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "hostile.rhai", source);
    let started = Instant::now();
    let result = compile(engine, &path).and_then(|rule| call(engine, &rule, "on_message", ((), ()), CALL_DEADLINE));
    (result, started.elapsed())
}

#[test]
fn hostile_scripts_are_stopped_quickly_and_the_engine_keeps_working() {
    let engine = engine();
    let hostile = [
        ("infinite loop", "fn on_message(c, m) { loop { } }"),
        ("deep recursion", "fn f(x) { f(x + 1) } fn on_message(c, m) { f(0) }"),
        ("string doubling", "fn on_message(c, m) { let s = \"x\"; loop { s += s; } }"),
        ("huge array", "fn on_message(c, m) { let a = []; loop { a.push(1); } }"),
        ("huge map", "fn on_message(c, m) { let x = #{}; let i = 0; loop { x[`k${i}`] = i; i += 1; } }"),
        ("import", "import \"/etc/passwd\" as p; fn on_message(c, m) { 1 }"),
        ("eval", "fn on_message(c, m) { eval(\"1 + 1\") }"),
        ("sleep", "fn on_message(c, m) { sleep(3600) }"),
    ];
    for (name, source) in hostile {
        let (result, took) = run(&engine, source);
        assert!(result.is_err(), "{name} was not stopped");
        assert!(took < Duration::from_millis(100), "{name} took {took:?}");
    }
    let deep = format!("fn on_message(c, m) {{ {}1{} }}", "(".repeat(10_000), ")".repeat(10_000));
    let (result, took) = run(&engine, &deep);
    assert!(result.is_err() && took < Duration::from_millis(100), "10,000-deep nesting: {took:?}");
    let (fine, _) = run(&engine, "fn on_message(c, m) { 40 + 2 }");
    assert_eq!(fine.unwrap().as_int().unwrap(), 42, "the engine still works");
}

#[test]
fn errors_name_the_file_line_and_column() {
    let engine = engine();
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "broken.rhai", "fn on_message(c, m) {\n    let x = ;\n}\n");
    let err = compile(&engine, &path).unwrap_err();
    assert_eq!(err.line, Some(2));
    assert!(err.column.is_some());
    assert!(err.to_string().starts_with(&format!("{}:2:", path.display())), "{err}");
    let (timeout, _) = run(&engine, "fn on_message(c, m) { loop {} }");
    assert!(timeout.unwrap_err().message.contains("time limit"));
}

#[test]
fn hooks_are_found_by_name_and_folders_are_read_in_order() {
    let engine = engine();
    let dir = tempfile::tempdir().unwrap();
    file(&dir, "b.rhai", "fn permit(u, a, r, d) { d }\nfn helper() { 1 }");
    file(&dir, "a.rhai", "fn on_message(c, m) { [] }\nfn should_close(c, now) { false }");
    file(&dir, "notes.txt", "not a rule");
    file(&dir, "c.rhai", "fn oops( {");
    let rules = compile_dir(&engine, dir.path()).unwrap();
    assert_eq!(rules.len(), 3);
    assert_eq!(rules[0].as_ref().unwrap().hooks, vec!["on_message", "should_close"]);
    assert_eq!(rules[1].as_ref().unwrap().hooks, vec!["permit"]);
    assert!(rules[2].is_err());
}

#[test]
fn a_call_that_logs_too_much_is_stopped_as_a_runaway() {
    let engine = engine();
    // 40 lines of 60 KB, as the outside probe's rule printed per message.
    let loud =
        "fn on_message(c, m) { let s = \"x\"; while s.len() < 60000 { s += s; } for i in 0..40 { print(s); } 1 }";
    let (result, _) = run(&engine, loud);
    let err = result.unwrap_err();
    assert!(err.stopped && err.message.contains("log limit"), "{err:?}");
    let (last, _) =
        run(&engine, "fn on_message(c, m) { let s = \"x\"; while s.len() < 20000 { s += s; } log_info(s); }");
    assert!(last.unwrap_err().stopped, "a call ending on its over-budget line still counts");
    let (fine, _) = run(&engine, "fn on_message(c, m) { for i in 0..20 { print(`line ${i}`); } 7 }");
    assert_eq!(fine.unwrap().as_int().unwrap(), 7, "a few lines are fine");
}

#[test]
fn cut_keeps_whole_characters() {
    assert_eq!(cut("añb", 2), "a");
    assert_eq!(cut("añb", 3), "añ");
    assert_eq!(cut("ab", 10), "ab");
}
