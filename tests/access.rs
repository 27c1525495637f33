//! Object-level access and the realtime channel: staff reach only the conversations (and contacts)
//! that are theirs to see, every realtime event kind reaches exactly the recipients it should, a
//! visitor token reaches only its own conversation, and a channel token only its own channel.
//! (`permissions.rs` checks every route × role; this file checks the objects behind the routes.)

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Every frame a socket received, as JSON, in order.
#[derive(Clone, Default)]
struct Heard(Arc<Mutex<Vec<Value>>>);

impl Heard {
    fn listen(mut socket: Socket) -> Heard {
        let heard = Heard::default();
        let log = heard.clone();
        tokio::spawn(async move {
            while let Some(Ok(frame)) = socket.next().await {
                if let Message::Text(text) = frame {
                    log.0.lock().unwrap().push(serde_json::from_str(&text).unwrap());
                }
            }
        });
        heard
    }

    /// (kind, conversation id or 0) of every event heard.
    fn kinds(&self) -> BTreeSet<(String, u64)> {
        let log = self.0.lock().unwrap();
        log.iter()
            .map(|event| {
                (event["type"].as_str().unwrap().to_owned(), event["conversation"]["id"].as_u64().unwrap_or(0))
            })
            .collect()
    }

    fn has(&self, check: impl Fn(&Value) -> bool) -> bool {
        self.0.lock().unwrap().iter().any(check)
    }

    fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

/// Waits until every listener heard `marker` (sockets deliver in commit order, so everything
/// before it has arrived too).
async fn until_all_heard(listeners: &BTreeMap<&str, Heard>, marker: impl Fn(&Value) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for (name, heard) in listeners {
        while !heard.has(&marker) {
            assert!(tokio::time::Instant::now() < deadline, "{name} never heard the marker");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn set_available(staff: &Staff, available: bool) {
    let response =
        staff.request(Method::PUT, "/api/v1/me/availability").json(&json!({ "available": available })).send().await;
    assert_eq!(response.unwrap().status(), StatusCode::OK);
}

async fn write(desk: &Desk, channel: &Value, who: &str, text: &str) -> Value {
    let url = desk.server.url(&format!("/api/v1/channels/{}/messages", channel["id"]));
    let body = json!({ "contact": { "identifier": who, "name": who }, "text": text });
    let token = channel["token"].as_str().unwrap();
    let response = desk.server.client.post(url).bearer_auth(token).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<Value>().await.unwrap()["conversation"].clone()
}

/// The staff of the scenario: two agents, one in the sales group, and one of each other role.
struct Team {
    ana: Staff,
    beto: Staff,
    supervisor: Staff,
    marker: Staff,
    listeners: BTreeMap<&'static str, Heard>,
    /// The orders administrator, whose socket must stay silent.
    orders: Heard,
}

async fn team(desk: &Desk) -> Team {
    let server = &desk.server;
    let (ana, ana_socket) = desk.agent("ana@example.com", 2, &[]).await;
    let beto = server.user(&desk.admin, "beto@example.com", &["agent"], &[]).await;
    let capped = desk.admin.patch(&format!("/api/v1/agents/{}", beto.id()), json!({ "capacity": 1 })).await;
    assert_eq!(capped.status(), StatusCode::OK);
    let beto_socket = beto.socket(server).await;
    let supervisor = server.user(&desk.admin, "sara@example.com", &["supervisor"], &[]).await;
    let stakeholder = server.user(&desk.admin, "kike@example.com", &["stakeholder"], &[]).await;
    let orders = server.user(&desk.admin, "olga@example.com", &["orders_admin"], &[]).await;
    // An agent with no socket (offline: takes no work) whose availability marks points in time.
    let marker = server.user(&desk.admin, "marca@example.com", &["agent"], &[]).await;
    let listeners = BTreeMap::from([
        ("ana", Heard::listen(ana_socket)),
        ("beto", Heard::listen(beto_socket)),
        ("supervisor", Heard::listen(supervisor.socket(server).await)),
        ("stakeholder", Heard::listen(stakeholder.socket(server).await)),
        ("admin", Heard::listen(desk.admin.socket(server).await)),
    ]);
    let orders = Heard::listen(orders.socket(server).await);
    Team { ana, beto, supervisor, marker, listeners, orders }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_reach_only_their_conversations_and_events_reach_only_who_may_see_them() {
    let desk = Desk::open().await;
    let team = team(&desk).await;
    let (ana, beto) = (&team.ana, &team.beto);
    let group: Value = desk
        .admin
        .post("/api/v1/groups", json!({ "name": "Ventas", "members": [beto.id()] }))
        .await
        .json()
        .await
        .unwrap();
    let sales: Value = desk
        .admin
        .post("/api/v1/channels", json!({ "kind": "api", "name": "Ventas web", "group": group["id"] }))
        .await
        .json()
        .await
        .unwrap();

    // Ana alone is available: the first customer is hers; then Beto takes the sales customer.
    let c1 = write(&desk, &desk.channel, "uno", "hola, soy uno").await;
    assert_eq!(c1["assignee"]["id"], ana.id());
    set_available(beto, true).await;
    let c2 = write(&desk, &sales, "dos", "quiero comprar").await;
    assert_eq!(c2["assignee"]["id"], beto.id());
    let (c1, c2) = (c1["id"].as_u64().unwrap(), c2["id"].as_u64().unwrap());

    // Beto on Ana's conversation, by id: every read and write is refused and nothing changes.
    let before: Value = ana.get(&format!("/api/v1/conversations/{c1}/messages")).await.json().await.unwrap();
    let on_c1 = |path: &str| format!("/api/v1/conversations/{c1}{path}");
    let attempts = [
        (Method::GET, on_c1(""), Value::Null),
        (Method::GET, on_c1("/messages"), Value::Null),
        (Method::POST, on_c1("/messages"), json!({ "text": "me meto" })),
        (Method::POST, on_c1("/messages"), json!({ "text": "nota ajena", "private": true })),
        (Method::POST, on_c1("/finalize"), json!({})),
        (Method::POST, on_c1("/read"), json!({})),
        (Method::POST, on_c1("/labels"), json!({ "label": "mio" })),
        (Method::DELETE, on_c1("/labels"), json!({ "label": "mio" })),
    ];
    for (method, path, body) in attempts {
        let mut request = beto.request(method.clone(), &path);
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(error_code(response).await, "forbidden");
    }
    let listed: Value = beto.get("/api/v1/conversations?status=all").await.json().await.unwrap();
    let ids: Vec<u64> = listed.as_array().unwrap().iter().map(|c| c["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, vec![c2], "Beto's list holds his conversation only");
    let after: Value = ana.get(&format!("/api/v1/conversations/{c1}/messages")).await.json().await.unwrap();
    assert_eq!(before, after, "the refused writes changed nothing");
    let shown: Value = desk.conversation(&json!(c1)).await;
    assert_eq!((shown["status"].as_str(), shown["labels"].as_array().map(Vec::len)), (Some("assigned"), Some(0)));
    // The contact of a conversation: Ana and the overseers may read it, Beto may not.
    let contact = format!("/api/v1/contacts/{}", shown["contact"]["id"]);
    assert_eq!(ana.get(&contact).await.status(), StatusCode::OK);
    assert_eq!(team.supervisor.get(&contact).await.status(), StatusCode::OK);
    assert_eq!(error_code(beto.get(&contact).await).await, "forbidden");

    // From here on, each event is checked against who heard it.
    let marker_id = team.marker.id();
    let marked = |available: bool| {
        move |event: &Value| {
            event["type"] == "agent.status"
                && event["agent"]["id"] == marker_id
                && event["agent"]["available"] == available
        }
    };
    set_available(&team.marker, true).await;
    until_all_heard(&team.listeners, marked(true)).await;
    team.listeners.values().for_each(Heard::clear);

    write(&desk, &desk.channel, "uno", "¿siguen ahí?").await;
    let note = json!({ "text": "cliente frecuente", "private": true });
    assert_eq!(ana.post(&format!("/api/v1/conversations/{c1}/messages"), note).await.status(), StatusCode::CREATED);
    let c3 = write(&desk, &sales, "tres", "¿precio?").await;
    assert_eq!(c3["status"], "queued", "Beto is full: the sales customer waits in the sales queue");
    let c3 = c3["id"].as_u64().unwrap();
    assert_eq!(
        beto.post(&format!("/api/v1/conversations/{c2}/labels"), json!({ "label": "venta" })).await.status(),
        StatusCode::OK
    );
    assert_eq!(beto.post(&format!("/api/v1/conversations/{c2}/finalize"), json!({})).await.status(), StatusCode::OK);
    let forced = json!({ "agent_id": beto.id(), "force": true });
    let moved = team.supervisor.post(&format!("/api/v1/conversations/{c1}/transfer"), forced).await;
    assert_eq!(moved.status(), StatusCode::OK);
    set_available(&team.marker, false).await;
    until_all_heard(&team.listeners, marked(false)).await;

    let everyone = ["ana", "beto", "supervisor", "stakeholder", "admin"];
    let overseers = ["supervisor", "stakeholder", "admin"];
    let with = |names: &[&'static str], extra: &[&'static str]| names.iter().chain(extra).copied().collect::<Vec<_>>();
    let expected: Vec<((&str, u64), Vec<&str>)> = vec![
        (("message.created", c1), with(&overseers, &["ana"])),
        (("conversation.created", c3), with(&overseers, &["beto"])),
        (("conversation.updated", c2), with(&overseers, &["beto"])),
        (("conversation.finalized", c2), with(&overseers, &["beto"])),
        (("conversation.assigned", c3), with(&overseers, &["beto"])),
        // The agent a conversation leaves hears of it, as does the one it goes to.
        (("conversation.transferred", c1), everyone.to_vec()),
        (("agent.status", 0), everyone.to_vec()),
        (("queue.changed", 0), everyone.to_vec()),
    ];
    for ((kind, id), recipients) in &expected {
        for (name, heard) in &team.listeners {
            let got = heard.kinds().contains(&(kind.to_string(), *id));
            assert_eq!(got, recipients.contains(name), "{kind} of conversation {id}: heard by {name}? {got}");
        }
    }
    // Ana heard no message of the sales conversations at all, before or after.
    let ana_heard = team.listeners["ana"].kinds();
    assert!(ana_heard.iter().all(|(_, id)| *id != c2 && *id != c3), "Ana heard of sales conversations: {ana_heard:?}");
    // The internal note reached the staff who see the conversation; the panel figures all staff.
    for (name, heard) in team.listeners.iter().filter(|(name, _)| **name != "beto") {
        assert!(
            heard.has(|e| e["type"] == "message.created" && e["message"]["private"] == true),
            "{name} saw the note"
        );
    }
    // The panel figures and the agents' loads reach all staff (as `GET /agents` does).
    for (name, heard) in &team.listeners {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        for kind in ["stats.panel", "agents.changed"] {
            while !heard.has(|e| e["type"] == kind) {
                assert!(tokio::time::Instant::now() < deadline, "{name} never got {kind}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    // queue.left (to those who saw a conversation wait and no longer see it) has its own test in
    // tests/conversation_paging.rs.
    let kinds_sent: BTreeSet<&str> =
        expected.iter().map(|((kind, _), _)| *kind).chain(["stats.panel", "agents.changed", "queue.left"]).collect();
    let kinds_known: BTreeSet<&str> = centralita::http::ws::EVENT_KINDS.iter().map(|(kind, _)| *kind).collect();
    assert_eq!(kinds_sent, kinds_known, "every event kind the server can send is checked here");
    // An orders administrator works outside the conversations area: their socket hears nothing.
    assert!(team.orders.0.lock().unwrap().is_empty(), "orders admin heard {:?}", team.orders.kinds());
    desk.server.stop().await;
}

async fn visitor(server: &TestServer, key: &str, name: &str) -> String {
    let start = server.post("/widget/v1/visitors", json!({ "channel": key, "name": name })).await;
    assert_eq!(start.status(), StatusCode::CREATED);
    start.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
}

async fn visitor_socket(server: &TestServer, token: &str) -> Heard {
    let (tls, _) = handshake(server.addr(), &[b"http/1.1"]).await.unwrap();
    let url = format!("wss://localhost:{}/widget/v1/ws?token={token}", server.addr().port());
    Heard::listen(tokio_tungstenite::client_async(url, tls).await.expect("visitor socket opens").0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitors_and_channels_reach_only_their_own() {
    let desk = Desk::open().await;
    let server = &desk.server;
    let (ana, _socket) = desk.agent("ana@example.com", 6, &[]).await;
    let widget: Value =
        desk.admin.post("/api/v1/channels", json!({ "kind": "widget", "name": "Sitio" })).await.json().await.unwrap();
    let key = widget["public_key"].as_str().unwrap();
    let (first, second) = (visitor(server, key, "Carla").await, visitor(server, key, "Diego").await);
    let (first_live, second_live) = (visitor_socket(server, &first).await, visitor_socket(server, &second).await);
    let say = |token: &str, text: &str| {
        let request = server.client.post(server.url("/widget/v1/messages")).bearer_auth(token);
        request.json(&json!({ "text": text })).send()
    };
    let sent: Value = say(&first, "soy Carla").await.unwrap().json().await.unwrap();
    let carla = sent["conversation"]["id"].clone();
    assert_eq!(say(&second, "soy Diego").await.unwrap().status(), StatusCode::CREATED);
    ana.post(
        &format!("/api/v1/conversations/{carla}/messages"),
        json!({ "text": "nota sobre Carla", "private": true }),
    )
    .await;
    ana.post(&format!("/api/v1/conversations/{carla}/messages"), json!({ "text": "Hola Carla" })).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !first_live.has(|e| e["message"]["text"] == "Hola Carla") {
        assert!(tokio::time::Instant::now() < deadline, "Carla never got the reply live");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let texts_of = |heard: &Heard| -> Vec<String> {
        heard.0.lock().unwrap().iter().filter_map(|e| e["message"]["text"].as_str().map(str::to_owned)).collect()
    };
    assert!(
        !texts_of(&first_live).iter().any(|t| t.contains("nota") || t.contains("Diego")),
        "{:?}",
        texts_of(&first_live)
    );
    assert!(!texts_of(&second_live).iter().any(|t| t.contains("Carla")), "{:?}", texts_of(&second_live));
    let polled = |token: String| async move {
        let response = server.client.get(server.url("/widget/v1/conversation")).bearer_auth(token).send().await;
        let body: Value = response.unwrap().json().await.unwrap();
        body["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(polled(first.clone()).await, vec!["soy Carla", "Hola Carla"]);
    assert_eq!(polled(second.clone()).await, vec!["soy Diego"]);

    // A visitor token is nothing to the staff API or to an API channel; a channel token is nothing
    // to another channel, nor to the staff API.
    let other: Value =
        desk.admin.post("/api/v1/channels", json!({ "kind": "api", "name": "Otra" })).await.json().await.unwrap();
    let body = json!({ "contact": { "identifier": "x" }, "text": "colado" });
    let post_into = |channel: &Value, token: &str| {
        let url = server.url(&format!("/api/v1/channels/{}/messages", channel["id"]));
        server.client.post(url).bearer_auth(token.to_owned()).json(&body).send()
    };
    let own_token = desk.channel["token"].as_str().unwrap();
    let other_token = other["token"].as_str().unwrap();
    assert_eq!(error_code(post_into(&other, own_token).await.unwrap()).await, "invalid_token");
    assert_eq!(error_code(post_into(&desk.channel, other_token).await.unwrap()).await, "invalid_token");
    // A widget channel takes no messages by token at all.
    assert_eq!(error_code(post_into(&widget, own_token).await.unwrap()).await, "channel_not_found");
    assert_eq!(error_code(post_into(&desk.channel, &first).await.unwrap()).await, "invalid_token");
    for token in [own_token, first.as_str()] {
        let staff_api = server.client.get(server.url(&format!("/api/v1/conversations/{carla}"))).bearer_auth(token);
        assert_eq!(staff_api.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let stored: Value = desk.admin.get("/api/v1/conversations?status=all").await.json().await.unwrap();
    assert_eq!(stored.as_array().unwrap().len(), 2, "no refused message made a conversation");
    desk.server.stop().await;
}

#[tokio::test]
async fn the_staff_socket_refuses_other_origins() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let addr = server.addr();
    let open = |origin: Option<String>| {
        let (port, cookie) = (addr.port(), admin.cookie.clone());
        async move {
            let (tls, _) = handshake(addr, &[b"http/1.1"]).await.unwrap();
            let mut request = format!("wss://localhost:{port}/api/v1/ws").into_client_request().unwrap();
            request.headers_mut().insert("cookie", cookie.parse().unwrap());
            if let Some(origin) = origin {
                request.headers_mut().insert("origin", origin.parse().unwrap());
            }
            match tokio_tungstenite::client_async(request, tls).await {
                Ok(_) => 101,
                Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
                Err(other) => panic!("{other}"),
            }
        }
    };
    let port = server.addr().port();
    assert_eq!(open(Some("https://evil.example".into())).await, 403);
    assert_eq!(open(Some(format!("http://localhost:{port}"))).await, 403, "the same host over plain HTTP");
    assert_eq!(open(Some(format!("https://localhost:{port}"))).await, 101);
    assert_eq!(open(None).await, 101, "a program (no Origin) with the cookie");
    server.stop().await;
}
