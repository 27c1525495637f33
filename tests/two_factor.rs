//! Two-factor login holds against its side doors (issue 13, finding 1): a password-reset link does
//! not sign in an account with TOTP until its code (or a recovery code) is given, and turning
//! two-factor login on, off or over to a new app needs the password and a current code, from a
//! person signed in to the web UI, never from an API token.

mod common;

use centralita::domain::totp;
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const NEW_PASSWORD: &str = "a brand new password";

async fn code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    (status, error_code(response).await)
}

/// The code an authenticator app shows half a minute later (each code works once).
fn fresh_code(server: &TestServer, secret: &[u8]) -> String {
    server.running.clock.advance(totp::STEP_SECS * 1000);
    let step = server.running.clock.now() / 1000 / totp::STEP_SECS;
    format!("{:06}", totp::code_at(secret, step))
}

/// Six digits that are not the code of this step or either next to it.
fn wrong_code(server: &TestServer, secret: &[u8]) -> String {
    let step = server.running.clock.now() / 1000 / totp::STEP_SECS;
    let near: Vec<u32> = (step - 1..=step + 1).map(|step| totp::code_at(secret, step)).collect();
    let wrong = (0..).find(|candidate| !near.contains(candidate)).unwrap();
    format!("{wrong:06}")
}

/// Turns two-factor login on for `staff`; the secret and the recovery codes.
async fn enrol(server: &TestServer, staff: &Staff, password: &str) -> (Vec<u8>, Vec<String>) {
    let setup: Value = staff.post("/api/v1/me/totp/setup", json!({})).await.json().await.unwrap();
    let secret = base32_decode(setup["secret"].as_str().unwrap());
    let body = json!({ "code": fresh_code(server, &secret), "password": password });
    let enabled = staff.post("/api/v1/me/totp/enable", body).await;
    assert_eq!(enabled.status(), StatusCode::OK);
    let enabled: Value = enabled.json().await.unwrap();
    let recovery = enabled["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned());
    (secret, recovery.collect())
}

#[tokio::test]
async fn a_reset_link_does_not_get_past_two_factor_login() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let ana = server.user(&admin, "ana@example.com", &["agent"], &[]).await;
    let (secret, recovery) = enrol(&server, &ana, PASSWORD).await;
    let forgot = server.post("/api/v1/auth/password/forgot", json!({ "email": "ana@example.com" })).await;
    assert_eq!(forgot.status(), StatusCode::ACCEPTED);
    let token = token_of(&server.mailed_link(&admin, "ana@example.com").await);
    let reset = |body: Value| server.post("/api/v1/auth/password/reset", body);

    // The probe's request: the link and a new password, no second factor.
    let bare = reset(json!({ "token": token, "password": NEW_PASSWORD })).await;
    assert!(bare.headers().get("set-cookie").is_none(), "no session without the second factor");
    assert_eq!(code(bare).await, (StatusCode::UNAUTHORIZED, "totp_required".into()));
    let wrong = reset(json!({ "token": token, "password": NEW_PASSWORD, "totp": wrong_code(&server, &secret) })).await;
    assert!(wrong.headers().get("set-cookie").is_none());
    assert_eq!(code(wrong).await, (StatusCode::UNAUTHORIZED, "totp_invalid".into()));
    // Neither changed anything: the link still works, and so does the old password (with a code).
    assert_eq!(server.post("/api/v1/links/check", json!({ "token": token })).await.status(), StatusCode::OK);
    assert_eq!(server.login("ana@example.com", NEW_PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    let old = json!({ "email": "ana@example.com", "password": PASSWORD, "totp": fresh_code(&server, &secret) });
    assert_eq!(server.post("/api/v1/auth/login", old).await.status(), StatusCode::OK);

    // With a recovery code (as with a code from the app) the reset goes through and signs in.
    let done = reset(json!({ "token": token, "password": NEW_PASSWORD, "totp": recovery[0] })).await;
    let ana = Staff::from_response(&server, done).await;
    assert_eq!(ana.me["totp_enabled"], true, "two-factor login is still on");
    let spent = json!({ "email": "ana@example.com", "password": NEW_PASSWORD, "totp": recovery[0] });
    assert_eq!(
        code(server.post("/api/v1/auth/login", spent).await).await.1,
        "totp_invalid",
        "the recovery code is spent"
    );
    let without = server.login("ana@example.com", NEW_PASSWORD).await;
    assert_eq!(code(without).await, (StatusCode::UNAUTHORIZED, "totp_required".into()));

    // The probe's second step: the new password alone does not turn two-factor login off.
    let disable = ana.post("/api/v1/me/totp/disable", json!({ "password": NEW_PASSWORD })).await;
    assert_eq!(code(disable).await, (StatusCode::FORBIDDEN, "totp_required".into()));
    let me: Value = ana.get("/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["totp_enabled"], true);
    server.stop().await;
}

#[tokio::test]
async fn an_api_token_cannot_change_two_factor_login() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let ana = server.user(&admin, "ana@example.com", &["agent"], &[]).await;
    let created: Value = ana.post("/api/v1/me/tokens", json!({ "name": "script" })).await.json().await.unwrap();
    let bearer = created["token"].as_str().unwrap().to_owned();
    let as_token =
        |path: &str, body: Value| server.client.post(server.url(path)).bearer_auth(&bearer).json(&body).send();
    // Not on yet: a token can neither start it nor turn it on.
    let setup = as_token("/api/v1/me/totp/setup", json!({})).await.unwrap();
    assert_eq!(code(setup).await, (StatusCode::FORBIDDEN, "session_required".into()));
    let (secret, _) = enrol(&server, &ana, PASSWORD).await;
    // On: with the password and a good code, a token still can neither replace it nor turn it off.
    let setup = as_token("/api/v1/me/totp/setup", json!({})).await.unwrap();
    assert_eq!(code(setup).await, (StatusCode::FORBIDDEN, "session_required".into()));
    let body =
        json!({ "code": fresh_code(&server, &secret), "password": PASSWORD, "totp": fresh_code(&server, &secret) });
    let enable = as_token("/api/v1/me/totp/enable", body).await.unwrap();
    assert_eq!(code(enable).await, (StatusCode::FORBIDDEN, "session_required".into()));
    let body = json!({ "password": PASSWORD, "totp": fresh_code(&server, &secret) });
    let disable = as_token("/api/v1/me/totp/disable", body).await.unwrap();
    assert_eq!(code(disable).await, (StatusCode::FORBIDDEN, "session_required".into()));
    let me: Value = ana.get("/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["totp_enabled"], true);
    // The old secret is still the one in force.
    let login = json!({ "email": "ana@example.com", "password": PASSWORD, "totp": fresh_code(&server, &secret) });
    assert_eq!(server.post("/api/v1/auth/login", login).await.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn changing_two_factor_login_needs_the_password_and_a_current_code() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let ana = server.user(&admin, "ana@example.com", &["agent"], &[]).await;

    // Turning it on needs the password, as well as a code from the new app.
    let setup: Value = ana.post("/api/v1/me/totp/setup", json!({})).await.json().await.unwrap();
    let first = base32_decode(setup["secret"].as_str().unwrap());
    let body = json!({ "code": fresh_code(&server, &first), "password": "not my password" });
    let refused = ana.post("/api/v1/me/totp/enable", body).await;
    assert_eq!(code(refused).await, (StatusCode::FORBIDDEN, "wrong_password".into()));
    let body = json!({ "code": fresh_code(&server, &first), "password": PASSWORD });
    assert_eq!(ana.post("/api/v1/me/totp/enable", body).await.status(), StatusCode::OK);

    // Turning it off needs the password and a current code.
    let off = |body: Value| ana.post("/api/v1/me/totp/disable", body);
    assert_eq!(code(off(json!({ "password": PASSWORD })).await).await, (StatusCode::FORBIDDEN, "totp_required".into()));
    let body = json!({ "password": PASSWORD, "totp": wrong_code(&server, &first) });
    assert_eq!(code(off(body).await).await, (StatusCode::FORBIDDEN, "totp_invalid".into()));
    let body = json!({ "password": "not my password", "totp": fresh_code(&server, &first) });
    assert_eq!(code(off(body).await).await, (StatusCode::FORBIDDEN, "wrong_password".into()));

    // Moving to a new app needs them too: the new app's code alone replaces nothing.
    let setup: Value = ana.post("/api/v1/me/totp/setup", json!({})).await.json().await.unwrap();
    let second = base32_decode(setup["secret"].as_str().unwrap());
    let body = json!({ "code": fresh_code(&server, &second), "password": PASSWORD });
    let replaced = ana.post("/api/v1/me/totp/enable", body).await;
    assert_eq!(code(replaced).await, (StatusCode::FORBIDDEN, "totp_required".into()));
    let body =
        json!({ "code": fresh_code(&server, &second), "password": PASSWORD, "totp": wrong_code(&server, &first) });
    let replaced = ana.post("/api/v1/me/totp/enable", body).await;
    assert_eq!(code(replaced).await, (StatusCode::FORBIDDEN, "totp_invalid".into()));
    let login = |secret: &[u8]| json!({ "email": "ana@example.com", "password": PASSWORD, "totp": fresh_code(&server, secret) });
    assert_eq!(server.post("/api/v1/auth/login", login(&first)).await.status(), StatusCode::OK, "still the first app");
    let body =
        json!({ "code": fresh_code(&server, &second), "password": PASSWORD, "totp": fresh_code(&server, &first) });
    let replaced = ana.post("/api/v1/me/totp/enable", body).await;
    assert_eq!(replaced.status(), StatusCode::OK);
    let recovery: Value = replaced.json().await.unwrap();
    let old = server.post("/api/v1/auth/login", login(&first)).await;
    assert_eq!(code(old).await, (StatusCode::UNAUTHORIZED, "totp_invalid".into()), "the first app no longer works");
    assert_eq!(server.post("/api/v1/auth/login", login(&second)).await.status(), StatusCode::OK);

    // A recovery code of the new enrolment does as a code does.
    let body = json!({ "password": PASSWORD, "totp": recovery["recovery_codes"][0] });
    assert_eq!(off(body).await.status(), StatusCode::NO_CONTENT);
    let me: Value = ana.get("/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["totp_enabled"], false);
    assert_eq!(server.login("ana@example.com", PASSWORD).await.status(), StatusCode::OK, "no code asked any more");
    server.stop().await;
}

#[tokio::test]
async fn guessing_the_code_from_a_session_counts_like_guessing_at_sign_in() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let ana = server.user(&admin, "ana@example.com", &["agent"], &[]).await;
    let (secret, _) = enrol(&server, &ana, PASSWORD).await;
    // The password is right every time; only the code is guessed. Five guesses, then a wait.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let body = json!({ "password": PASSWORD, "totp": wrong_code(&server, &secret) });
        statuses.push(ana.post("/api/v1/me/totp/disable", body).await.status().as_u16());
    }
    assert_eq!(statuses, [403, 403, 403, 403, 403, 429]);
    let body = json!({ "password": PASSWORD, "totp": fresh_code(&server, &secret) });
    assert_eq!(code(ana.post("/api/v1/me/totp/disable", body).await).await.1, "too_many_attempts");
    server.stop().await;
}

/// Lost phone and recovery codes: the way back is the command line on the stopped server, where
/// only whoever runs the box can go (the reset link is no longer one).
#[tokio::test]
async fn the_command_line_removes_two_factor_login_on_a_stopped_server() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let ana = server.user(&admin, "ana@example.com", &["agent"], &[]).await;
    enrol(&server, &ana, PASSWORD).await;
    let dir = server.stop().await;
    let output = tokio::process::Command::new(BIN)
        .args(["user", "clear-two-factor", "--data-dir"])
        .arg(dir.path())
        .args(["--email", "ana@example.com"])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("two-factor login of ana@example.com removed"), "{stdout}");
    let server = TestServer::start_with(dir, |_| {}).await;
    assert_eq!(server.login("ana@example.com", PASSWORD).await.status(), StatusCode::OK, "no code asked");
    let admin = Staff::from_response(&server, server.login("admin@localhost", PASSWORD).await).await;
    let audit: Value = admin.get("/api/v1/audit").await.json().await.unwrap();
    assert!(audit.to_string().contains("user.totp_cleared"), "{audit}");
    server.stop().await;
}

/// A typo of the code from the app being set up guesses at nothing: five of them do not lock the
/// user's sign-in (review of issue 13).
#[tokio::test]
async fn typos_of_the_new_apps_code_during_setup_do_not_lock_sign_in() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let ana = server.user(&admin, "ana@example.com", &["agent"], &[]).await;
    let setup: Value = ana.post("/api/v1/me/totp/setup", json!({})).await.json().await.unwrap();
    let secret = base32_decode(setup["secret"].as_str().unwrap());
    for _ in 0..6 {
        let typo = json!({ "code": wrong_code(&server, &secret), "password": PASSWORD });
        assert_eq!(code(ana.post("/api/v1/me/totp/enable", typo).await).await.1, "totp_invalid");
    }
    assert_eq!(server.login("ana@example.com", PASSWORD).await.status(), StatusCode::OK, "not locked");
    server.stop().await;
}
