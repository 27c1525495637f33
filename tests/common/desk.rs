//! A help desk to test conversations against: the server, its administrator and an API channel.

use std::sync::Arc;

use centralita::config::Settings;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Socket, Staff, TestServer};

/// A server with an administrator and an API channel, where customers write and agents work.
pub struct Desk {
    pub server: TestServer,
    pub admin: Staff,
    pub channel: Value,
}

impl Desk {
    pub async fn open() -> Desk {
        Desk::open_with(|_| {}).await
    }

    /// As `open`, after `tweak` adjusts the settings.
    pub async fn open_with(tweak: impl FnOnce(&mut Settings)) -> Desk {
        Desk::open_in(Arc::new(tempfile::tempdir().unwrap()), tweak).await
    }

    /// As `open_with`, on the data dir `dir`.
    pub async fn open_in(dir: Arc<tempfile::TempDir>, tweak: impl FnOnce(&mut Settings)) -> Desk {
        let server = TestServer::start_with(dir, tweak).await;
        let admin = server.admin().await;
        let channel: Value =
            admin.post("/api/v1/channels", json!({ "kind": "api", "name": "Tienda" })).await.json().await.unwrap();
        Desk { server, admin, channel }
    }

    /// An available, present agent with a cap.
    pub async fn agent(&self, email: &str, capacity: u32, permissions: &[&str]) -> (Staff, Socket) {
        let agent = self.server.user(&self.admin, email, &["agent"], permissions).await;
        let patched =
            self.admin.patch(&format!("/api/v1/agents/{}", agent.id()), json!({ "capacity": capacity })).await;
        assert_eq!(patched.status(), StatusCode::OK);
        let socket = agent.socket(&self.server).await;
        let available = agent
            .request(reqwest::Method::PUT, "/api/v1/me/availability")
            .json(&json!({ "available": true }))
            .send()
            .await
            .unwrap();
        assert_eq!(available.status(), StatusCode::OK);
        (agent, socket)
    }

    /// A customer writes through the API channel; returns the answer.
    pub async fn customer(&self, who: &str, text: &str) -> reqwest::Response {
        let url = self.server.url(&format!("/api/v1/channels/{}/messages", self.channel["id"]));
        let body = json!({ "contact": { "identifier": who, "name": who }, "text": text });
        self.server
            .client
            .post(url)
            .bearer_auth(self.channel["token"].as_str().unwrap())
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn conversation(&self, id: &Value) -> Value {
        self.admin.get(&format!("/api/v1/conversations/{id}")).await.json().await.unwrap()
    }
}
