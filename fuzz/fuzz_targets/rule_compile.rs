//! A rule file's text: compiled by the server's sandboxed engine as the rules folder is, and when
//! it defines `on_message`, that hook run under the server's limits and deadline on a fixture
//! conversation, its answer read as actions. No panic, no hang.

#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use centralita::rules::{self, actions, data};
use libfuzzer_sys::fuzz_target;
use rhai::{Dynamic, Engine};

static ENGINE: LazyLock<Engine> = LazyLock::new(rules::engine);

/// The conversation and message of `rules/examples/fixtures/message.json`, as hooks receive them.
static ARGS: LazyLock<Vec<Dynamic>> = LazyLock::new(|| {
    let fixture: serde_json::Value = serde_json::from_str(include_str!("../../rules/examples/fixtures/message.json"))
        .unwrap_or_else(|err| panic!("rules/examples/fixtures/message.json: {err}"));
    ["conversation", "message"]
        .iter()
        .map(|key| data::from_json(&fixture[key]).unwrap_or_else(|err| panic!("fixture {key}: {err}")))
        .collect()
});

fuzz_target!(|source: &[u8]| {
    let Ok(source) = std::str::from_utf8(source) else { return };
    let Ok(rule) = rules::compile_source(&ENGINE, Path::new("rules/fuzz.rhai"), source) else { return };
    if rule.hooks.contains(&"on_message")
        && let Ok(answer) = rules::call(&ENGINE, &rule, "on_message", ARGS.clone(), rules::CALL_DEADLINE)
    {
        let _ = actions::parse_actions(answer);
    }
});
