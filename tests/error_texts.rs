//! Every error code the server can send has a Spanish and an English text in the web UI, which
//! translates errors by code (`errorText` in `web/js/views/common.js` looks up `error.<code>`).
//! The codes are collected from the source, so a code added anywhere without its texts fails here.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

/// The code literals in one file's text (up to its test module): the second argument of
/// `ApiError::new(status, code, …)` and `Rejection::new(kind, code, …)`, the first of the other
/// constructors (`not_found(code, …)`, `conflict(code, …)`, `too_many(code, …)`; those taking a
/// message instead never match, a message is not snake_case), and `code: "…"`.
fn codes_in(text: &str, found: &mut BTreeSet<String>) {
    let text = text.split("#[cfg(test)]").next().unwrap_or(text);
    for start in ["ApiError::", "Rejection::"] {
        for (at, _) in text.match_indices(start) {
            let rest = &text[at + start.len()..];
            let name_end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            let name = &rest[..name_end];
            let Some(args) = rest[name_end..].strip_prefix('(') else { continue };
            let (first, after) = argument(args);
            let code = match name {
                "new" => after.map(|after| argument(after).0),
                // These name an input field, not a code (theirs is invalid_input).
                "invalid_field" | "on_field" => None,
                _ => Some(first),
            };
            if let Some(code) = code.and_then(code_literal) {
                found.insert(code);
            }
        }
    }
    for (at, _) in text.match_indices("code: \"") {
        if let Some(code) = code_literal(&text[at + "code: ".len()..]) {
            found.insert(code);
        }
    }
}

/// One call argument (up to the next `,` or `)` at its own depth) and what follows its comma.
fn argument(args: &str) -> (&str, Option<&str>) {
    let mut depth = 0;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in args.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            _ if in_string => {}
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth == 0 => return (&args[..i], None),
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => return (&args[..i], Some(&args[i + 1..])),
            _ => {}
        }
    }
    (args, None)
}

/// `"some_code"` (the whole argument, a stable snake_case code), else `None`.
fn code_literal(arg: &str) -> Option<String> {
    let arg = arg.trim_start();
    let inner = arg.strip_prefix('"')?;
    let end = inner.find('"')?;
    let code = &inner[..end];
    let whole = arg[end + 2..].trim_start();
    let ends_here = whole.is_empty() || whole.starts_with(',') || whole.starts_with(')') || whole.starts_with('\n');
    let snake = !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit());
    (snake && ends_here).then(|| code.to_owned())
}

fn walk(dir: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") && !path.ends_with("tests.rs") {
            codes_in(&std::fs::read_to_string(&path).unwrap(), found);
        }
    }
}

fn server_codes() -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
    found
}

fn texts(language: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("web/i18n/{language}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_scan_finds_codes_the_way_they_are_written() {
    let mut found = BTreeSet::new();
    codes_in(
        r#"ApiError::not_found("user_not_found", "x") ApiError::new(
            StatusCode::GONE,
            "link_used", format!("a, b")) Rejection::new(RejectKind::Invalid, code, "Not a code")
            Rejection { code: "invalid_input", field } ApiError::forbidden("Your roles do not allow this.")"#,
        &mut found,
    );
    assert_eq!(found.into_iter().collect::<Vec<_>>(), ["invalid_input", "link_used", "user_not_found"]);
}

#[test]
fn every_error_code_the_server_sends_has_a_spanish_and_an_english_text() {
    let codes = server_codes();
    // The scan must see the codes everyone knows, or it has stopped working.
    for known in ["forbidden", "not_signed_in", "conversation_not_found", "invalid_input", "queue_full"] {
        assert!(codes.contains(known), "the scan missed {known}: {codes:?}");
    }
    for language in ["es", "en"] {
        let texts = texts(language);
        let missing: Vec<&String> =
            codes.iter().filter(|code| texts[format!("error.{code}")].as_str().is_none_or(str::is_empty)).collect();
        assert!(missing.is_empty(), "web/i18n/{language}.json has no \"error.<code>\" text for {missing:?}");
    }
}
