//! Presence over the real server: an agent's offline period is timed from her last disconnect, not
//! from some earlier blink that a reconnect had already ended (issue #12, point 2).

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// When the admin's socket heard `agent` go offline, as a channel of instants.
fn offline_times(mut socket: Socket, agent: u64) -> tokio::sync::mpsc::UnboundedReceiver<Instant> {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(frame)) = socket.next().await {
            let Message::Text(text) = frame else { continue };
            let event: Value = serde_json::from_str(&text).unwrap();
            if event["type"] == "agent.status" && event["agent"]["id"] == agent && event["agent"]["online"] == false {
                let _ = sender.send(Instant::now());
            }
        }
    });
    receiver
}

#[tokio::test]
async fn a_blink_then_a_later_close_waits_the_full_periods_of_the_last_close() {
    let desk = Desk::open_with(|settings| {
        settings.routing.presence_grace = Duration::from_secs(2);
        settings.routing.offline_return = Duration::from_secs(5);
    })
    .await;
    let (ana, socket) = desk.agent("ana@example.com", 2, &[]).await;
    let mut offline = offline_times(desk.admin.socket(&desk.server).await, ana.id());
    let body: Value = desk.customer("c1", "hola").await.json().await.unwrap();
    let id = body["conversation"]["id"].clone();
    assert_eq!(desk.conversation(&id).await["assignee"]["id"], ana.id());

    // A blink: the tab reloads at once.
    drop(socket);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let socket = ana.socket(&desk.server).await;
    // Later she closes the tab for good, before the blink's timers would have ended.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    drop(socket);
    let closed = Instant::now();

    // Offline only after the full grace period of this close (the blink's timer would say 0.5 s).
    let went_offline = tokio::time::timeout(Duration::from_secs(6), offline.recv()).await.unwrap().unwrap();
    let after = went_offline - closed;
    assert!(after >= Duration::from_millis(1900), "offline {after:?} after the close; the grace is 2 s");

    // Her conversation stays hers until 5 s after this close (the blink's timer would free it at 3.5 s).
    tokio::time::sleep_until((closed + Duration::from_millis(4300)).into()).await;
    assert_eq!(desk.conversation(&id).await["assignee"]["id"], ana.id(), "returned too early");
    let deadline = closed + Duration::from_secs(9);
    loop {
        let conversation = desk.conversation(&id).await;
        if conversation["status"] == "queued" {
            break;
        }
        assert!(Instant::now() < deadline, "never returned: {conversation}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(closed.elapsed() >= Duration::from_millis(4900), "returned after {:?}", closed.elapsed());
    assert!(offline.try_recv().is_err(), "offline once");
    desk.server.stop().await;
}
