//! The harness's check of responses against the OpenAPI document (`common::contract`) finds what
//! breaks it: a test that could not fail would prove nothing about the document.

mod common;

use common::contract::check;

#[test]
fn the_check_finds_what_breaks_the_document() {
    let json = Some("application/json");
    let user = br#"{"error":{"code":"not_signed_in","message":"Sign in first."}}"#;
    assert_eq!(check("GET", "/api/v1/users", 401, json, user), Ok(()));
    let wrong = check("GET", "/api/v1/users", 401, json, br#"{"error":{"code":"no_such_code","message":"x"}}"#);
    assert!(wrong.as_ref().is_err_and(|problem| problem.contains("/error/code")), "{wrong:?}");
    let undocumented = check("GET", "/api/v1/users", 418, json, b"{}");
    assert!(undocumented.as_ref().is_err_and(|problem| problem.contains("not documented")), "{undocumented:?}");
    let method = check("PUT", "/api/v1/users", 200, json, b"{}");
    assert!(method.as_ref().is_err_and(|problem| problem.contains("no such method")), "{method:?}");
    assert_eq!(check("GET", "/assets/app.js", 200, None, b""), Ok(()), "the web UI is not in the document");
}
