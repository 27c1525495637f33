//! The permission matrix (R-ROLE-4): every route of the router × {anonymous, each role, each role
//! with each of its optional permissions}, checked against the real server. The expected rule of
//! each route is written here, apart from the code's own table, so a change to either shows.

mod common;

use std::collections::BTreeSet;

use centralita::domain::access::Role;
use centralita::http::routes;
use common::*;
use reqwest::Method;
use serde_json::Value;

/// Who may use a route, in the words of the spec.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rule {
    Public,
    SignedIn,
    /// Conversation-area staff: every role but a pure orders administrator.
    Staff,
    /// Works conversations: agents, supervisors, administrators.
    Converse,
    /// Supervisors and administrators, or agents with the named optional permission.
    OverseeOrAgentWith(&'static str),
    /// Supervisors and administrators.
    Oversee,
    /// Holders of the agent role.
    Agent,
    Admin,
}

const EXPECTED: &[(&str, &str, Rule)] = &[
    ("GET", "/healthz", Rule::Public),
    ("GET", "/metrics", Rule::Public),
    ("GET", "/api/v1/openapi.json", Rule::Public),
    ("POST", "/api/v1/auth/login", Rule::Public),
    ("POST", "/api/v1/auth/logout", Rule::SignedIn),
    ("POST", "/api/v1/auth/password/forgot", Rule::Public),
    ("POST", "/api/v1/auth/password/reset", Rule::Public),
    ("POST", "/api/v1/invites/accept", Rule::Public),
    ("POST", "/api/v1/links/check", Rule::Public),
    ("GET", "/api/v1/me", Rule::SignedIn),
    ("PATCH", "/api/v1/me", Rule::SignedIn),
    ("POST", "/api/v1/me/password", Rule::SignedIn),
    ("GET", "/api/v1/me/tokens", Rule::SignedIn),
    ("POST", "/api/v1/me/tokens", Rule::SignedIn),
    ("DELETE", "/api/v1/me/tokens/{id}", Rule::SignedIn),
    ("POST", "/api/v1/me/totp/setup", Rule::SignedIn),
    ("POST", "/api/v1/me/totp/enable", Rule::SignedIn),
    ("POST", "/api/v1/me/totp/disable", Rule::SignedIn),
    ("GET", "/api/v1/roles", Rule::SignedIn),
    ("PUT", "/api/v1/me/availability", Rule::Agent),
    ("GET", "/api/v1/ws", Rule::SignedIn),
    ("GET", "/api/v1/conversations", Rule::Staff),
    ("POST", "/api/v1/conversations/next", Rule::OverseeOrAgentWith("dispenser")),
    ("GET", "/api/v1/conversations/{id}", Rule::Staff),
    ("GET", "/api/v1/conversations/{id}/messages", Rule::Staff),
    ("POST", "/api/v1/conversations/{id}/messages", Rule::Converse),
    ("POST", "/api/v1/conversations/{id}/transfer", Rule::OverseeOrAgentWith("transfer")),
    ("POST", "/api/v1/conversations/{id}/assign", Rule::Oversee),
    ("POST", "/api/v1/conversations/{id}/take", Rule::OverseeOrAgentWith("dispenser")),
    ("POST", "/api/v1/conversations/{id}/finalize", Rule::Converse),
    ("POST", "/api/v1/conversations/{id}/read", Rule::Converse),
    ("POST", "/api/v1/conversations/{id}/labels", Rule::Converse),
    ("DELETE", "/api/v1/conversations/{id}/labels", Rule::Converse),
    ("GET", "/api/v1/agents", Rule::Staff),
    ("PATCH", "/api/v1/agents/{id}", Rule::Admin),
    ("GET", "/api/v1/stats/panel", Rule::Staff),
    ("GET", "/api/v1/contacts/{id}", Rule::Staff),
    ("PATCH", "/api/v1/contacts/{id}", Rule::Oversee),
    ("GET", "/api/v1/contacts/{id}/conversations", Rule::Staff),
    ("GET", "/api/v1/channels", Rule::Admin),
    ("POST", "/api/v1/channels", Rule::Admin),
    ("PATCH", "/api/v1/channels/{id}", Rule::Admin),
    ("DELETE", "/api/v1/channels/{id}", Rule::Admin),
    ("POST", "/api/v1/channels/{id}/rotate", Rule::Admin),
    ("POST", "/api/v1/channels/{id}/messages", Rule::Public),
    ("POST", "/widget/v1/visitors", Rule::Public),
    ("GET", "/widget/v1/conversation", Rule::Public),
    ("POST", "/widget/v1/messages", Rule::Public),
    ("GET", "/widget/v1/ws", Rule::Public),
    ("GET", "/api/v1/users", Rule::Admin),
    ("POST", "/api/v1/users", Rule::Admin),
    ("GET", "/api/v1/users/{id}", Rule::Admin),
    ("PATCH", "/api/v1/users/{id}", Rule::Admin),
    ("DELETE", "/api/v1/users/{id}", Rule::Admin),
    ("POST", "/api/v1/users/{id}/invite", Rule::Admin),
    ("GET", "/api/v1/groups", Rule::Staff),
    ("POST", "/api/v1/groups", Rule::Admin),
    ("PATCH", "/api/v1/groups/{id}", Rule::Admin),
    ("DELETE", "/api/v1/groups/{id}", Rule::Admin),
    ("GET", "/api/v1/outbox", Rule::Admin),
    ("GET", "/api/v1/audit", Rule::Admin),
    ("GET", "/api/v1/rules", Rule::Admin),
    ("POST", "/api/v1/rules/dry-run", Rule::Admin),
];

fn table() -> BTreeSet<(String, String)> {
    routes::table().iter().map(|route| (route.method.to_string(), route.path.to_owned())).collect()
}

#[test]
fn every_route_of_the_router_has_an_expected_rule_and_no_more() {
    let expected: BTreeSet<(String, String)> =
        EXPECTED.iter().map(|(method, path, _)| ((*method).to_owned(), (*path).to_owned())).collect();
    assert_eq!(table(), expected, "the route table and this test disagree");
}

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_routes() {
    let server = TestServer::start().await;
    let doc: Value = server.get("/api/v1/openapi.json").await.json().await.unwrap();
    let mut documented = BTreeSet::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    assert_eq!(documented, table());
    server.stop().await;
}

/// A principal of the matrix: its name, roles and optional permissions (`None`: anonymous).
struct Principal {
    name: String,
    grants: Option<(Vec<Role>, Vec<String>)>,
}

fn principals() -> Vec<Principal> {
    let mut all = vec![Principal { name: "anonymous".into(), grants: None }];
    for role in Role::ALL {
        all.push(Principal { name: role.as_str().into(), grants: Some((vec![role], vec![])) });
        for permission in role.optional_permissions() {
            all.push(Principal {
                name: format!("{}+{}", role.as_str(), permission.as_str()),
                grants: Some((vec![role], vec![permission.as_str().to_owned()])),
            });
        }
    }
    all
}

fn allowed(rule: Rule, grants: Option<&(Vec<Role>, Vec<String>)>) -> bool {
    match (rule, grants) {
        (Rule::Public, _) => true,
        (_, None) => false,
        (Rule::SignedIn, Some(_)) => true,
        (Rule::Staff, Some((roles, _))) => roles.iter().any(|role| *role != Role::OrdersAdmin),
        (Rule::Converse, Some((roles, _))) => {
            roles.iter().any(|role| matches!(role, Role::Admin | Role::Supervisor | Role::Agent))
        }
        (Rule::OverseeOrAgentWith(permission), Some((roles, permissions))) => {
            roles.iter().any(|role| matches!(role, Role::Admin | Role::Supervisor))
                || (roles.contains(&Role::Agent) && permissions.iter().any(|p| p == permission))
        }
        (Rule::Oversee, Some((roles, _))) => roles.iter().any(|role| matches!(role, Role::Admin | Role::Supervisor)),
        (Rule::Agent, Some((roles, _))) => roles.contains(&Role::Agent),
        (Rule::Admin, Some((roles, _))) => roles.contains(&Role::Admin),
    }
}

/// Sends the route as the principal (no body, ids that do not exist) and returns the error code.
async fn probe(server: &TestServer, staff: Option<&Staff>, method: &str, path: &str) -> (u16, String) {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let path = path.replace("{id}", "999999");
    let request = match staff {
        Some(staff) => staff.request(method, &path),
        None => server.client.request(method, server.url(&path)),
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["error"]["code"].as_str().unwrap_or("").to_owned())
}

#[tokio::test]
async fn every_route_answers_every_principal_as_the_matrix_says() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let mut cells = 0;
    let mut wrong = Vec::new();
    for (index, principal) in principals().into_iter().enumerate() {
        let staff = match &principal.grants {
            None => None,
            Some((roles, permissions)) => {
                let roles: Vec<&str> = roles.iter().map(|role| role.as_str()).collect();
                let permissions: Vec<&str> = permissions.iter().map(String::as_str).collect();
                Some(server.user(&admin, &format!("p{index}@example.com"), &roles, &permissions).await)
            }
        };
        // Signing out last, so the session serves every other route first.
        let mut order: Vec<&(&str, &str, Rule)> = EXPECTED.iter().collect();
        order.sort_by_key(|(_, path, _)| *path == "/api/v1/auth/logout");
        for (method, path, rule) in order {
            let (status, code) = probe(&server, staff.as_ref(), method, path).await;
            let denied = code == "not_signed_in" || code == "forbidden";
            let expected_allowed = allowed(*rule, principal.grants.as_ref());
            let expected_code = if principal.grants.is_none() { "not_signed_in" } else { "forbidden" };
            let right = if expected_allowed { !denied } else { denied && code == expected_code };
            if !right {
                wrong.push(format!("{} {method} {path}: got {status} {code}", principal.name));
            }
            assert_ne!(code, "route_not_found", "{method} {path} is not routed");
            cells += 1;
        }
    }
    println!("permission matrix: {cells} cells, {} differ", wrong.len());
    assert!(wrong.is_empty(), "cells that differ from the matrix:\n{}", wrong.join("\n"));
    assert_eq!(cells, principals().len() * routes::table().len(), "every route for every principal");
    server.stop().await;
}

#[tokio::test]
async fn an_api_token_gets_the_same_decisions_as_its_user() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let agent = server.user(&admin, "tok@example.com", &["agent"], &[]).await;
    let created: Value =
        agent.post("/api/v1/me/tokens", serde_json::json!({ "name": "matrix" })).await.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    for (method, path, rule) in EXPECTED.iter().filter(|(_, path, _)| *path != "/api/v1/auth/logout") {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let response = server
            .client
            .request(method.clone(), server.url(&path.replace("{id}", "999999")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let denied = body["error"]["code"] == "forbidden";
        let expected = allowed(*rule, Some(&(vec![Role::Agent], vec![])));
        assert_eq!(!denied, expected, "{method} {path}: {body}");
    }
    server.stop().await;
}
