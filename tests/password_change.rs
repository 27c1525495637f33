//! What a new password ends (issue 13, finding 6): a change, a reset or the command line always
//! kills the user's pending reset links and other sessions; a change revokes the user's API
//! tokens when asked (`revoke_tokens`), a reset unless told to keep them; revoked tokens close
//! their open sockets.

mod common;

use centralita::cli::{UserRequest, run_user};
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    (status, error_code(response).await)
}

/// A new API token of `staff`: its value.
async fn new_token(staff: &Staff, name: &str) -> String {
    let created: Value = staff.post("/api/v1/me/tokens", json!({ "name": name })).await.json().await.unwrap();
    created["token"].as_str().unwrap().to_owned()
}

async fn me_with(server: &TestServer, token: &str) -> reqwest::Response {
    server.client.get(server.url("/api/v1/me")).bearer_auth(token).send().await.unwrap()
}

/// Asks for a reset link for `email` and reads it from the outbox.
async fn reset_link(server: &TestServer, admin: &Staff, email: &str) -> String {
    let forgot = server.post("/api/v1/auth/password/forgot", json!({ "email": email })).await;
    assert_eq!(forgot.status(), StatusCode::ACCEPTED);
    token_of(&server.mailed_link(admin, email).await)
}

#[tokio::test]
async fn a_password_change_kills_reset_links_and_revokes_tokens_when_asked() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let ana = server.user(&admin, "ana@example.com", &["agent"], &[]).await;
    let kept = new_token(&ana, "kept").await;
    let link = reset_link(&server, &admin, "ana@example.com").await;

    // By default a change keeps the tokens, but the reset link sent before it dies.
    let change = json!({ "current_password": PASSWORD, "new_password": "a second long password" });
    let changed: Value = ana.post("/api/v1/me/password", change).await.json().await.unwrap();
    assert_eq!((changed["other_sessions_ended"].as_u64(), changed["tokens_revoked"].as_u64()), (Some(0), Some(0)));
    assert_eq!(me_with(&server, &kept).await.status(), StatusCode::OK);
    let check = server.post("/api/v1/links/check", json!({ "token": link })).await;
    assert_eq!(code(check).await, (StatusCode::GONE, "link_revoked".into()));
    let reset =
        server.post("/api/v1/auth/password/reset", json!({ "token": link, "password": "the thief's password" }));
    assert_eq!(code(reset.await).await, (StatusCode::GONE, "link_revoked".into()));
    assert_eq!(server.login("ana@example.com", "the thief's password").await.status(), StatusCode::UNAUTHORIZED);

    // Asked to, it revokes every token of the user, and their open sockets close.
    let other = new_token(&ana, "other").await;
    let bearer = format!("Bearer {kept}");
    let mut socket = open_socket(&server, &[("authorization", &bearer)]).await.unwrap();
    let change = json!({ "current_password": "a second long password", "new_password": "a third long password", "revoke_tokens": true });
    let changed: Value = ana.post("/api/v1/me/password", change).await.json().await.unwrap();
    assert_eq!(changed["tokens_revoked"], 2);
    let (close, reason, _) = closing(&mut socket, 1).await;
    assert_eq!((close, reason.as_str()), (4001, "token_revoked"));
    for token in [&kept, &other] {
        assert_eq!(code(me_with(&server, token).await).await, (StatusCode::UNAUTHORIZED, "invalid_token".into()));
    }
    assert_eq!(ana.get("/api/v1/me").await.status(), StatusCode::OK, "the session that changed it goes on");
    let tokens: Value = ana.get("/api/v1/me/tokens").await.json().await.unwrap();
    assert_eq!(tokens, json!([]));
    server.stop().await;
}

#[tokio::test]
async fn a_reset_revokes_tokens_unless_it_says_to_keep_them() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let ana = server.user(&admin, "ana@example.com", &["agent"], &[]).await;
    let first = new_token(&ana, "first").await;
    let bearer = format!("Bearer {first}");
    let mut socket = open_socket(&server, &[("authorization", &bearer)]).await.unwrap();

    let link = reset_link(&server, &admin, "ana@example.com").await;
    let reset =
        server.post("/api/v1/auth/password/reset", json!({ "token": link, "password": "a second long password" }));
    let ana = Staff::from_response(&server, reset.await).await;
    let (close, reason, _) = closing(&mut socket, 1).await;
    assert_eq!((close, reason.as_str()), (4001, "token_revoked"));
    assert_eq!(code(me_with(&server, &first).await).await, (StatusCode::UNAUTHORIZED, "invalid_token".into()));

    // `revoke_tokens: false` keeps them, and their sockets stay open.
    let second = new_token(&ana, "second").await;
    let bearer = format!("Bearer {second}");
    let mut socket = open_socket(&server, &[("authorization", &bearer)]).await.unwrap();
    let link = reset_link(&server, &admin, "ana@example.com").await;
    let body = json!({ "token": link, "password": "a third long password", "revoke_tokens": false });
    let reset = server.post("/api/v1/auth/password/reset", body).await;
    assert_eq!(reset.status(), StatusCode::OK);
    heard_within(&mut socket, 500).await;
    assert_eq!(me_with(&server, &second).await.status(), StatusCode::OK);
    assert_eq!(ana.get("/api/v1/me").await.status(), StatusCode::UNAUTHORIZED, "other sessions end all the same");
    server.stop().await;
}

#[tokio::test]
async fn a_password_set_from_the_command_line_kills_open_links_too() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let link = reset_link(&server, &admin, "admin@localhost").await;
    let token: Value = admin.post("/api/v1/me/tokens", json!({ "name": "script" })).await.json().await.unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let dir = server.stop().await;
    let request = UserRequest::ResetPassword {
        data_dir: dir.path().to_path_buf(),
        email: "admin@localhost".into(),
        password: "set from the shell".into(),
        keep_tokens: false,
    };
    let said = tokio::task::spawn_blocking(move || run_user(Ok(request))).await.unwrap();
    assert!(said.as_ref().is_ok_and(|said| said.contains("1 API token(s) revoked")), "{said:?}");
    let server = TestServer::start_with(dir, |_| {}).await;
    let check = server.post("/api/v1/links/check", json!({ "token": link })).await;
    assert_eq!(code(check).await, (StatusCode::GONE, "link_revoked".into()));
    let bearer = server.client.get(server.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(bearer.status(), StatusCode::UNAUTHORIZED, "revoked, as a reset by link does");
    server.stop().await;
}

/// A link mailed to an address the account no longer has, or to someone switched off, must not
/// open the account later (issue 13, review): an e-mail change and a deactivation revoke it.
#[tokio::test]
async fn an_email_change_or_a_deactivation_kills_open_links() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let ana = server.user(&admin, "ana@example.com", &["agent"], &[]).await;
    let link = reset_link(&server, &admin, "ana@example.com").await;
    let moved = admin.patch(&format!("/api/v1/users/{}", ana.id()), json!({ "email": "ana@new.example.com" })).await;
    assert_eq!(moved.status(), StatusCode::OK);
    let check = server.post("/api/v1/links/check", json!({ "token": link })).await;
    assert_eq!(code(check).await, (StatusCode::GONE, "link_revoked".into()));
    let link = reset_link(&server, &admin, "ana@new.example.com").await;
    assert_eq!(admin.delete(&format!("/api/v1/users/{}", ana.id())).await.status(), StatusCode::OK);
    let check = server.post("/api/v1/links/check", json!({ "token": link })).await;
    assert_eq!(code(check).await, (StatusCode::GONE, "link_revoked".into()));
    server.stop().await;
}
