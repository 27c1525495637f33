//! Delivers the API channel's webhooks from the stored queue: signs each body, posts it, records
//! the outcome. Wakes on new messages and every few seconds for retries.

use std::time::Duration;

use tokio::sync::watch;

use crate::clock::Clock;
use crate::core::{Core, DeliveryAttempted};
use crate::domain::webhook::{Delivery, signature};
use crate::store::Store;

const SWEEP: Duration = Duration::from_secs(5);

pub struct Webhooks {
    pub store: Store,
    pub core: Core,
    pub clock: Clock,
}

impl Webhooks {
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let client = match reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .user_agent("centralita-webhooks")
            .build()
        {
            Ok(client) => client,
            Err(err) => return tracing::error!(error = %err, "cannot build the webhook client; webhooks are not sent"),
        };
        let mut events = self.core.subscribe();
        loop {
            self.sweep(&client).await;
            let sleep = tokio::time::sleep(SWEEP);
            tokio::pin!(sleep);
            // Wake for what can queue a delivery (not for every customer message), or to retry.
            loop {
                tokio::select! {
                    event = events.recv() => match event {
                        Ok(event) if !may_queue_delivery(&event) => continue,
                        _ => break,
                    },
                    _ = &mut sleep => break,
                    _ = stop.wait_for(|stop| *stop) => return,
                }
            }
            // Several messages often come together: let the batch land first.
            while events.try_recv().is_ok() {}
        }
    }

    async fn sweep(&self, client: &reqwest::Client) {
        let (store, now) = (self.store.clone(), self.clock.now());
        let due = tokio::task::spawn_blocking(move || {
            let read = store.read()?;
            let due = read.due_deliveries(now, 50)?;
            let secrets = due
                .iter()
                .map(|d| read.channel(d.channel).map(|c| c.map(|c| c.webhook_secret)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, crate::store::StoreError>(due.into_iter().zip(secrets).collect::<Vec<_>>())
        })
        .await;
        let due = match due {
            Ok(Ok(due)) => due,
            Ok(Err(err)) => return tracing::error!(error = %err, "cannot read webhook deliveries"),
            Err(err) => return tracing::error!(error = %err, "cannot read webhook deliveries"),
        };
        for (delivery, secret) in due {
            let error = self.post(client, &delivery, secret.unwrap_or_default()).await.err();
            if let Some(error) = &error {
                tracing::warn!(delivery = delivery.id, url = %delivery.url, error = %error, "webhook not delivered; will retry");
            }
            let attempted = DeliveryAttempted { id: delivery.id, error, at: self.clock.now() };
            if let Err(err) = self.core.call(attempted).await {
                tracing::error!(error = %err, "cannot record a webhook attempt");
            }
        }
    }

    async fn post(&self, client: &reqwest::Client, delivery: &Delivery, secret: String) -> Result<(), String> {
        let timestamp = self.clock.now() / 1000;
        let response = client
            .post(&delivery.url)
            .header("content-type", "application/json")
            .header("x-centralita-delivery", delivery.id.to_string())
            .header("x-centralita-timestamp", timestamp.to_string())
            .header("x-centralita-signature", signature(&secret, timestamp, &delivery.body))
            .body(delivery.body.clone())
            .send()
            .await
            .map_err(|err| err.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered {}", response.status()))
        }
    }
}

/// Replies from staff or rules, and finalizations, are what webhooks carry.
fn may_queue_delivery(event: &crate::core::Event) -> bool {
    use crate::core::Event;
    match event {
        Event::MessageCreated { message, .. } => message.author != crate::domain::conversation::Author::Customer,
        Event::ConversationFinalized { .. } => true,
        _ => false,
    }
}
