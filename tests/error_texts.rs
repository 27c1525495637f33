//! Every error code the server can send has a Spanish and an English text in the web UI, which
//! translates errors by code (`errorText` in `web/js/views/common.js` looks up `error.<code>`).
//! API codes come from the one enum, `ErrorCode`; the OpenAPI document lists exactly them.
//! Socket close reasons are not API errors; they are collected from the source.

use std::collections::BTreeSet;
use std::path::Path;

use centralita::domain::error_code::ErrorCode;
use serde_json::Value;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

fn texts(language: &str) -> Value {
    serde_json::from_str(&read(&format!("web/i18n/{language}.json"))).unwrap()
}

/// The reasons a socket is closed with, written `reason: "…"` or `(CLOSE_…, "…")` before the tests.
fn close_reasons() -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for file in ["src/http/ws_access.rs", "src/http/live_socket.rs", "src/http/sockets.rs"] {
        let text = read(file);
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        for start in ["reason: \"", "CLOSE_"] {
            for (at, _) in text.match_indices(start) {
                let rest = &text[at + start.len()..];
                let rest = if start == "CLOSE_" {
                    match rest.split_once(", \"") {
                        Some((name, rest)) if name.chars().all(|c| c.is_ascii_uppercase() || c == '_') => rest,
                        _ => continue,
                    }
                } else {
                    rest
                };
                if let Some((reason, _)) = rest.split_once('"') {
                    found.insert(reason.to_owned());
                }
            }
        }
    }
    found
}

#[test]
fn every_error_code_has_a_spanish_and_an_english_text() {
    for language in ["es", "en"] {
        let texts = texts(language);
        let missing: Vec<&str> = ErrorCode::ALL
            .iter()
            .filter(|code| texts[code.message_key()].as_str().is_none_or(str::is_empty))
            .map(|code| code.as_str())
            .collect();
        assert!(missing.is_empty(), "web/i18n/{language}.json has no \"error.<code>\" text for {missing:?}");
    }
}

#[test]
fn every_socket_close_reason_has_a_spanish_and_an_english_text() {
    let reasons = close_reasons();
    for known in ["session_ended", "idle_timeout", "too_many_sockets"] {
        assert!(reasons.contains(known), "the scan missed {known}: {reasons:?}");
    }
    for language in ["es", "en"] {
        let texts = texts(language);
        let missing: Vec<&String> =
            reasons.iter().filter(|code| texts[format!("error.{code}")].as_str().is_none_or(str::is_empty)).collect();
        assert!(missing.is_empty(), "web/i18n/{language}.json has no \"error.<reason>\" text for {missing:?}");
    }
}

#[test]
fn the_openapi_document_lists_exactly_the_error_codes() {
    let doc: Value = serde_json::from_str(&read("src/http/openapi.json")).unwrap();
    let listed: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("components.schemas.ErrorCode.enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let declared: Vec<&str> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
    assert_eq!(listed, declared, "the OpenAPI ErrorCode enum must equal domain::error_code::ErrorCode, in order");
    assert_eq!(
        doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["$ref"],
        "#/components/schemas/ErrorCode"
    );
}
