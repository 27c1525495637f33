//! Conversations over the real API: customers write through an API channel, agents are present
//! through their WebSocket, and routing, finalize, transfer and the error answers behave as the
//! spec says.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn two_agents_of_two_take_four_of_seven_and_a_freed_slot_takes_the_oldest_waiter() {
    let desk = Desk::open().await;
    let (ana, mut ana_socket) = desk.agent("ana@example.com", 2, &[]).await;
    let (luis, _luis_socket) = desk.agent("luis@example.com", 2, &[]).await;
    let mut ids = Vec::new();
    for n in 1..=7 {
        let response = desk.customer(&format!("cliente{n}"), "Hola, necesito ayuda").await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        ids.push(body["conversation"]["id"].clone());
    }
    let assigned: Value = desk.admin.get("/api/v1/conversations?status=assigned").await.json().await.unwrap();
    assert_eq!(assigned.as_array().unwrap().len(), 4);
    let per_agent = |id: u64| assigned.as_array().unwrap().iter().filter(|c| c["assignee"]["id"] == id).count();
    assert_eq!((per_agent(ana.id()), per_agent(luis.id())), (2, 2));
    let queued: Value = desk.admin.get("/api/v1/conversations?status=queued").await.json().await.unwrap();
    let mut waiting: Vec<u64> = queued.as_array().unwrap().iter().map(|c| c["id"].as_u64().unwrap()).collect();
    waiting.sort();
    assert_eq!(waiting, vec![ids[4].as_u64().unwrap(), ids[5].as_u64().unwrap(), ids[6].as_u64().unwrap()]);

    // Ana finalizes one: the oldest waiter is hers, at once.
    let mine: Value = ana.get("/api/v1/conversations?assignee=me").await.json().await.unwrap();
    let first = mine[0]["id"].clone();
    let started = Instant::now();
    let done = ana.post(&format!("/api/v1/conversations/{first}/finalize"), json!({ "reason": "resuelto" })).await;
    assert_eq!(done.status(), StatusCode::OK);
    // Earlier assignments are on the socket too; wait for this one.
    loop {
        let event = next_event(&mut ana_socket, "conversation.assigned", 5).await;
        if event["conversation"]["id"] == ids[4] {
            assert_eq!(event["conversation"]["assignee_id"], ana.id());
            break;
        }
    }
    assert!(started.elapsed() < Duration::from_millis(100), "took {:?}", started.elapsed());
    assert_eq!(desk.conversation(&ids[4]).await["assignee"]["id"], ana.id());

    // Luis stops accepting: his freed slot stays free and the queue waits.
    luis.request(reqwest::Method::PUT, "/api/v1/me/availability")
        .json(&json!({ "available": false }))
        .send()
        .await
        .unwrap();
    let his: Value = luis.get("/api/v1/conversations?assignee=me").await.json().await.unwrap();
    luis.post(&format!("/api/v1/conversations/{}/finalize", his[0]["id"]), json!({})).await;
    assert_eq!(desk.conversation(&ids[5]).await["status"], "queued", "nothing new for an unavailable agent");
    desk.server.stop().await;
}

#[tokio::test]
async fn transfer_to_a_full_agent_is_refused_unless_a_supervisor_forces_it() {
    let desk = Desk::open().await;
    let (ana, _a) = desk.agent("ana@example.com", 1, &["transfer"]).await;
    let (luis, _l) = desk.agent("luis@example.com", 1, &[]).await;
    desk.customer("c1", "hola").await;
    desk.customer("c2", "hola").await;
    let mine: Value = ana.get("/api/v1/conversations?assignee=me").await.json().await.unwrap();
    let id = mine[0]["id"].clone();
    let refused = ana
        .post(&format!("/api/v1/conversations/{id}/transfer"), json!({ "agent_id": luis.id(), "note": "es de ventas" }))
        .await;
    assert_eq!(error_code(refused).await, "agent_unavailable");
    let forced_by_agent = ana
        .post(&format!("/api/v1/conversations/{id}/transfer"), json!({ "agent_id": luis.id(), "force": true }))
        .await;
    assert_eq!(error_code(forced_by_agent).await, "agent_unavailable", "agents cannot force");
    let supervisor = desk.server.user(&desk.admin, "sup@example.com", &["supervisor"], &[]).await;
    let forced = supervisor
        .post(&format!("/api/v1/conversations/{id}/assign"), json!({ "agent_id": luis.id(), "force": true }))
        .await;
    assert_eq!(forced.status(), StatusCode::OK);
    assert_eq!(desk.conversation(&id).await["assignee"]["id"], luis.id());
    // Luis without the transfer permission cannot transfer.
    let denied = luis.post(&format!("/api/v1/conversations/{id}/transfer"), json!({ "agent_id": ana.id() })).await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    desk.server.stop().await;
}

#[tokio::test]
async fn bad_requests_get_clear_answers() {
    let desk = Desk::open().await;
    let (ana, _a) = desk.agent("ana@example.com", 2, &[]).await;
    let (luis, _l) = desk.agent("luis@example.com", 1, &[]).await;
    let body: Value = desk.customer("c1", "hola").await.json().await.unwrap();
    let id = body["conversation"]["id"].clone();
    assert_eq!(desk.conversation(&id).await["assignee"]["id"], ana.id());
    let unknown = ana.get("/api/v1/conversations/999999").await;
    assert_eq!(
        (unknown.status(), error_code(unknown).await.as_str()),
        (StatusCode::NOT_FOUND, "conversation_not_found")
    );
    let not_theirs = luis.post(&format!("/api/v1/conversations/{id}/messages"), json!({ "text": "hola" })).await;
    assert_eq!(not_theirs.status(), StatusCode::FORBIDDEN);
    let huge = ana.post(&format!("/api/v1/conversations/{id}/messages"), json!({ "text": "x".repeat(10_001) })).await;
    assert_eq!((huge.status(), error_code(huge).await.as_str()), (StatusCode::PAYLOAD_TOO_LARGE, "text_too_long"));
    let malformed = ana
        .request(reqwest::Method::POST, &format!("/api/v1/conversations/{id}/messages"))
        .header("content-type", "application/json")
        .body("{\"txt\": 1}")
        .send()
        .await
        .unwrap();
    let error: Value = malformed.json().await.unwrap();
    assert_eq!(
        (error["error"]["code"].as_str(), error["error"]["field"].as_str()),
        (Some("invalid_input"), Some("txt"))
    );
    let reply = ana.post(&format!("/api/v1/conversations/{id}/messages"), json!({ "text": "¿En qué te ayudo?" })).await;
    assert_eq!(reply.status(), StatusCode::CREATED);
    let note = ana
        .post(&format!("/api/v1/conversations/{id}/messages"), json!({ "text": "cliente frecuente", "private": true }))
        .await;
    assert_eq!(note.status(), StatusCode::CREATED);
    let all: Vec<Value> = ana.get(&format!("/api/v1/conversations/{id}/messages")).await.json().await.unwrap();
    // Activity lines ("Assigned to …", tests/activity.rs) aside.
    let messages: Vec<&Value> = all.iter().filter(|m| m["activity"].is_null()).collect();
    let texts: Vec<&str> = messages.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, vec!["hola", "¿En qué te ayudo?", "cliente frecuente"]);
    assert_eq!(messages[2]["private"], true);
    ana.post(&format!("/api/v1/conversations/{id}/finalize"), json!({})).await;
    let late = ana.post(&format!("/api/v1/conversations/{id}/messages"), json!({ "text": "¿sigues ahí?" })).await;
    assert_eq!((late.status(), error_code(late).await.as_str()), (StatusCode::CONFLICT, "conversation_finalized"));
    // The customer writing again opens a new conversation linked to the old one.
    let again: Value = desk.customer("c1", "otra consulta").await.json().await.unwrap();
    assert_ne!(again["conversation"]["id"], id);
    assert_eq!(again["conversation"]["previous"], id);
    let wrong_token = desk
        .server
        .client
        .post(desk.server.url(&format!("/api/v1/channels/{}/messages", desk.channel["id"])))
        .bearer_auth("ch_wrong")
        .json(&json!({ "contact": { "identifier": "x" }, "text": "hola" }))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_token.status(), StatusCode::UNAUTHORIZED);
    desk.server.stop().await;
}

/// A webhook receiver on 127.0.0.1 that fails its first call, then records signed bodies.
async fn receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String)>>>) {
    use std::sync::{Arc, Mutex};
    let got: Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sink = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let (sink, calls) = (Arc::clone(&sink), Arc::clone(&calls));
            async move {
                if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                sink.lock().unwrap().push((headers, body));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

#[tokio::test]
async fn agent_replies_reach_the_api_channel_webhook_signed_and_retried() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (url, got) = receiver().await;
    let channel: Value = admin
        .post("/api/v1/channels", json!({ "kind": "api", "name": "Bot", "webhook_url": url }))
        .await
        .json()
        .await
        .unwrap();
    let secret = channel["webhook_secret"].as_str().unwrap().to_owned();
    let agent = server.user(&admin, "ana@example.com", &["agent"], &[]).await;
    let _presence = agent.socket(&server).await;
    agent
        .request(reqwest::Method::PUT, "/api/v1/me/availability")
        .json(&json!({ "available": true }))
        .send()
        .await
        .unwrap();
    let inbound = server
        .client
        .post(server.url(&format!("/api/v1/channels/{}/messages", channel["id"])))
        .bearer_auth(channel["token"].as_str().unwrap())
        .json(&json!({ "contact": { "identifier": "+56911111111" }, "text": "hola" }))
        .send()
        .await
        .unwrap();
    let id = inbound.json::<Value>().await.unwrap()["conversation"]["id"].clone();
    agent.post(&format!("/api/v1/conversations/{id}/messages"), json!({ "text": "una nota", "private": true })).await;
    agent.post(&format!("/api/v1/conversations/{id}/messages"), json!({ "text": "¡Hola! Soy Ana." })).await;
    // The first try fails (503); the delivery waits 30 s, which the clock skips.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(got.lock().unwrap().is_empty());
    server.running.clock.advance(31_000);
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the retry never came");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (headers, body) = got.lock().unwrap()[0].clone();
    let payload: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(payload["message"]["text"], "¡Hola! Soy Ana.", "only the reply, never the note");
    assert_eq!(payload["contact"]["identifier"], "+56911111111");
    let timestamp: u64 = headers["x-centralita-timestamp"].to_str().unwrap().parse().unwrap();
    let expected = centralita::domain::webhook::signature(&secret, timestamp, &body);
    assert_eq!(headers["x-centralita-signature"].to_str().unwrap(), expected);
    assert!(headers.contains_key("x-centralita-delivery"));
    assert_eq!(got.lock().unwrap().len(), 1, "the note made no delivery");
    // Finalizing tells the program too.
    agent.post(&format!("/api/v1/conversations/{id}/finalize"), json!({ "reason": "resuelto" })).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "no finalize webhook");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let finalized: Value = serde_json::from_str(&got.lock().unwrap()[1].1).unwrap();
    assert_eq!(
        (finalized["event"].as_str(), finalized["reason"].as_str()),
        (Some("conversation.finalized"), Some("resuelto"))
    );
    server.stop().await;
}

#[tokio::test]
async fn routing_is_rebuilt_from_disk_after_a_restart() {
    let desk = Desk::open().await;
    let (_ana, socket) = desk.agent("ana@example.com", 1, &[]).await;
    let first: Value = desk.customer("c1", "hola").await.json().await.unwrap();
    let second: Value = desk.customer("c2", "hola").await.json().await.unwrap();
    assert_eq!(first["conversation"]["status"], "assigned");
    assert_eq!(second["conversation"]["status"], "queued");
    drop(socket);
    let Desk { server, channel, .. } = desk;
    let dir = server.stop().await;
    let server = TestServer::start_with(dir, |_| {}).await;
    let admin = Staff::from_response(&server, server.login("admin@localhost", PASSWORD).await).await;
    let ana = Staff::from_response(&server, server.login("ana@example.com", PASSWORD).await).await;
    let desk = Desk { server, admin, channel };
    // Still Ana's (she is offline after the restart), and the second still waits, first in line.
    assert_eq!(desk.conversation(&first["conversation"]["id"]).await["assignee"]["id"], ana.id());
    assert_eq!(desk.conversation(&second["conversation"]["id"]).await["status"], "queued");
    // When Ana comes back and finalizes, the waiting one is hers: the queue survived the restart.
    let _socket = ana.socket(&desk.server).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    ana.post(&format!("/api/v1/conversations/{}/finalize", first["conversation"]["id"]), json!({})).await;
    assert_eq!(desk.conversation(&second["conversation"]["id"]).await["assignee"]["id"], ana.id());
    desk.server.stop().await;
}

#[tokio::test]
async fn panel_figures_follow_the_definitions_on_a_scripted_scenario() {
    let desk = Desk::open().await;
    let (ana, _socket) = desk.agent("ana@example.com", 1, &[]).await;
    let clock = desk.server.running.clock.clone();
    // c1 is served at once (wait 0); c2 and c3 wait.
    let c1: Value = desk.customer("c1", "hola").await.json().await.unwrap();
    desk.customer("c2", "hola").await;
    clock.advance(60_000);
    desk.customer("c3", "hola").await;
    let panel: Value = ana.get("/api/v1/stats/panel").await.json().await.unwrap();
    assert_eq!((panel["in_queue"].as_u64(), panel["agents_online"].as_u64()), (Some(2), Some(1)));
    assert_eq!((panel["unattended"].as_u64(), panel["total_today"].as_u64()), (Some(1), Some(3)));
    // Ana replies to c1 (no longer unattended), then finalizes it: c2 is hers after 120 s of waiting.
    ana.post(&format!("/api/v1/conversations/{}/messages", c1["conversation"]["id"]), json!({ "text": "hola" })).await;
    clock.advance(60_000);
    ana.post(&format!("/api/v1/conversations/{}/finalize", c1["conversation"]["id"]), json!({})).await;
    let panel: Value = ana.get("/api/v1/stats/panel").await.json().await.unwrap();
    assert_eq!(panel["in_queue"], 1);
    // Real time passes too (milliseconds): allow a second of slack.
    let max = panel["max_wait_ms"].as_u64().unwrap();
    assert!((120_000..121_000).contains(&max), "c2 waited two minutes: {max}");
    let average = panel["average_wait_ms"].as_u64().unwrap();
    assert!(
        (60_000..61_000).contains(&average),
        "(0 + 120 s) / 2 served; c3 still waits and does not count: {average}"
    );
    assert_eq!(panel["unattended"], 1, "c2 has no agent reply yet");
    desk.server.stop().await;
}

#[tokio::test]
async fn a_group_queue_has_its_own_cap_policy_and_limit() {
    let desk = Desk::open().await;
    let (ana, _a) = desk.agent("ana@example.com", 5, &[]).await;
    let group: Value = desk
        .admin
        .post(
            "/api/v1/groups",
            json!({ "name": "Ventas", "members": [ana.id()], "rules": { "policy": "round_robin", "max_queue": 1 } }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(group["rules"]["policy"], "round_robin");
    let bad = desk.admin.patch(&format!("/api/v1/groups/{}", group["id"]), json!({ "rules": { "capacity": 0 } })).await;
    let error: Value = bad.json().await.unwrap();
    assert_eq!(error["error"]["field"], "rules.capacity");
    // Ana goes unavailable; a channel routed to the group fills its queue of one.
    ana.request(reqwest::Method::PUT, "/api/v1/me/availability")
        .json(&json!({ "available": false }))
        .send()
        .await
        .unwrap();
    let channel: Value = desk
        .admin
        .post("/api/v1/channels", json!({ "kind": "api", "name": "Ventas web", "group": group["id"] }))
        .await
        .json()
        .await
        .unwrap();
    let send = |who: &'static str| {
        let (client, url, token) = (
            desk.server.client.clone(),
            desk.server.url(&format!("/api/v1/channels/{}/messages", channel["id"])),
            channel["token"].as_str().unwrap().to_owned(),
        );
        async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "contact": { "identifier": who }, "text": "hola" }))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(send("v1").await.status(), StatusCode::CREATED);
    // Past the limit the customer waits in overflow (tests/overflow.rs): kept, not refused.
    let full = send("v2").await;
    assert_eq!(full.status(), StatusCode::CREATED);
    assert_eq!(full.json::<Value>().await.unwrap()["overflow"], true);
    desk.server.stop().await;
}

#[tokio::test]
async fn staff_get_the_panel_figures_live() {
    let desk = Desk::open().await;
    let mut watching = desk.admin.socket(&desk.server).await;
    desk.customer("c1", "hola").await;
    // The first figures come on connecting; the next ones after the customer joined the queue.
    let first = next_event(&mut watching, "stats.panel", 5).await;
    assert!(first["panel"]["in_queue"].is_u64());
    loop {
        let event = next_event(&mut watching, "stats.panel", 5).await;
        if event["panel"]["in_queue"] == 1 {
            break;
        }
    }
    desk.server.stop().await;
}

#[tokio::test]
async fn an_agent_offline_too_long_gives_back_their_conversations() {
    let server = TestServer::start_with(std::sync::Arc::new(tempfile::tempdir().unwrap()), |settings| {
        settings.routing.presence_grace = Duration::from_secs(1);
        settings.routing.offline_return = Duration::from_secs(2);
    })
    .await;
    let admin = server.admin().await;
    let channel: Value =
        admin.post("/api/v1/channels", json!({ "kind": "api", "name": "Tienda" })).await.json().await.unwrap();
    let desk = Desk { server, admin, channel };
    let (ana, ana_socket) = desk.agent("ana@example.com", 2, &[]).await;
    let body: Value = desk.customer("c1", "hola").await.json().await.unwrap();
    let id = body["conversation"]["id"].clone();
    assert_eq!(desk.conversation(&id).await["assignee"]["id"], ana.id());
    // Ana's panel closes and she does not come back: after 2 s the conversation waits again, and
    // Luis, online, takes it.
    drop(ana_socket);
    let (luis, _luis_socket) = desk.agent("luis@example.com", 2, &[]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let conversation = desk.conversation(&id).await;
        if conversation["assignee"]["id"] == luis.id() {
            break;
        }
        assert!(Instant::now() < deadline, "never returned: {conversation}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    desk.server.stop().await;
}

#[tokio::test]
async fn an_agent_coming_online_hears_of_the_conversation_given_to_them_at_once() {
    let desk = Desk::open().await;
    let (ana, socket) = desk.agent("ana@example.com", 1, &[]).await;
    drop(socket);
    // Offline after the grace period: a customer waits.
    desk.server
        .running
        .core
        .call(centralita::core::SetPresence {
            agent: centralita::domain::ids::UserId(ana.id()),
            online: false,
            at: desk.server.running.clock.now(),
        })
        .await
        .unwrap();
    let body: Value = desk.customer("c1", "hola").await.json().await.unwrap();
    assert_eq!(body["conversation"]["status"], "queued");
    // Her panel connects: the same socket gets the assignment its connection caused.
    let mut back = ana.socket(&desk.server).await;
    let event = next_event(&mut back, "conversation.assigned", 5).await;
    assert_eq!(event["conversation"]["id"], body["conversation"]["id"]);
    desk.server.stop().await;
}

/// The waiting list asks for the queue with a limit: the server orders it by place in line
/// (longest waiting first) before the limit, and says how many there are in all.
#[tokio::test]
async fn the_queued_list_is_in_queue_order_before_its_limit_and_counts_them_all() {
    let desk = Desk::open().await;
    let mut ids = Vec::new();
    for who in ["c1", "c2", "c3"] {
        let written: Value = desk.customer(who, "hola").await.json().await.unwrap();
        ids.push(written["conversation"]["id"].clone());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The later ones write again: newest message first would put c1, the head of the queue, last.
    for who in ["c2", "c3"] {
        desk.customer(who, "¿hay alguien?").await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let answer = desk.admin.get("/api/v1/conversations?status=queued&assignee=unassigned&limit=2").await;
    assert_eq!(answer.headers()["x-total-count"], "3");
    let listed: Vec<Value> = answer.json().await.unwrap();
    let listed: Vec<Value> = listed.iter().map(|c| c["id"].clone()).collect();
    assert_eq!(listed, ids[..2], "the two longest waiting, in line");
    // Other open lists stay newest message first.
    let open: Vec<Value> = desk.admin.get("/api/v1/conversations?limit=1").await.json().await.unwrap();
    assert_eq!(open[0]["id"], ids[2]);
    desk.server.stop().await;
}
