//! Every list's query is a typed set of filters (`http::query`): a value of the wrong kind, or a
//! parameter the list does not have, is a 400 `invalid_input` whose `field` names the parameter;
//! a typo is never silently ignored.

mod common;

use common::TestServer;
use reqwest::StatusCode;
use serde_json::Value;

async fn refusal(response: reqwest::Response) -> (StatusCode, String, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    let text = |key: &str| body["error"][key].as_str().unwrap_or_default().to_owned();
    (status, text("code"), text("field"))
}

#[tokio::test]
async fn each_list_names_the_parameter_it_refuses() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let bad = |field: &str| (StatusCode::BAD_REQUEST, "invalid_input".to_owned(), field.to_owned());
    let cases = [
        ("/api/v1/conversations?stauts=queued", "stauts"),
        ("/api/v1/conversations?status=waiting", "status"),
        ("/api/v1/conversations?group=sales", "group"),
        ("/api/v1/conversations?assignee=nobody", "assignee"),
        ("/api/v1/conversations/1/messages?befor=3", "befor"),
        ("/api/v1/users?role=agent", "role"),
        ("/api/v1/groups?page=2", "page"),
        ("/api/v1/agents?group=1", "group"),
        ("/api/v1/channels?kind=api", "kind"),
        ("/api/v1/me/tokens?all=1", "all"),
        ("/api/v1/outbox?limit=many", "limit"),
        ("/api/v1/audit?limit=201", "limit"),
        ("/api/v1/audit?before=-1", "before"),
        ("/api/v1/stats/panel?groups=1", "groups"),
        ("/api/v1/stats/panel?group=x", "group"),
    ];
    for (path, field) in cases {
        assert_eq!(refusal(admin.get(path).await).await, bad(field), "{path}");
    }
    let unknown: Value = admin.get("/api/v1/conversations?stauts=queued").await.json().await.unwrap();
    let message = unknown["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("stauts: is not a parameter") && message.contains("status"), "{message}");
    server.stop().await;
}

#[tokio::test]
async fn the_lists_still_take_their_filters() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    for path in [
        "/api/v1/conversations?status=all&assignee=me&limit=500",
        "/api/v1/conversations?status=queued&assignee=unassigned&group=1",
        "/api/v1/conversations?assignee=1&status=finalized&before=10",
        "/api/v1/users",
        "/api/v1/groups",
        "/api/v1/agents",
        "/api/v1/me/tokens",
        "/api/v1/outbox?limit=100",
        "/api/v1/audit?limit=50&before=9",
        "/api/v1/stats/panel?group=1",
        "/api/v1/stats/panel",
    ] {
        let response = admin.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}: {}", response.text().await.unwrap());
    }
    server.stop().await;
}
