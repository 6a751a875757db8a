//! Ingest events shaped like MediaPackage's EventBridge events (`source: aws.mediapackage`,
//! `detail-type: MediaPackage Input Notification`, `detail.event` one of IngestStart,
//! IngestComplete, IngestError, VodAssetPlayable). Every event is logged; when a webhook URL is
//! configured it is also POSTed there as JSON from a background task, retried with backoff, so
//! a slow or dead receiver never holds up ingest.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;

/// Attempts per event before it is dropped (with an error in the log).
pub const WEBHOOK_ATTEMPTS: u32 = 6;
/// Events waiting for the webhook beyond this are dropped (with a warning).
const QUEUE: usize = 10_000;

#[derive(Debug, Clone, Serialize)]
pub struct Detail {
    pub event: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packaging_configuration_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_urls: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub version: &'static str,
    pub id: String,
    #[serde(rename = "detail-type")]
    pub detail_type: &'static str,
    pub source: &'static str,
    pub account: String,
    pub time: String,
    pub region: String,
    pub resources: Vec<String>,
    pub detail: Detail,
}

/// Where events go.
#[derive(Clone)]
pub struct EventSink {
    region: String,
    account: String,
    tx: Option<mpsc::Sender<Event>>,
}

impl EventSink {
    /// A sink that logs, and POSTs to `webhook` when given.
    pub fn new(region: &str, account: &str, webhook: Option<String>) -> EventSink {
        let tx = webhook.map(|url| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(deliver(url, rx));
            tx
        });
        EventSink {
            region: region.to_string(),
            account: account.to_string(),
            tx,
        }
    }

    pub fn emit(&self, resources: Vec<String>, detail: Detail) {
        let event = Event {
            version: "0",
            id: uuid::Uuid::new_v4().to_string(),
            detail_type: "MediaPackage Input Notification",
            source: "aws.mediapackage",
            account: self.account.clone(),
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            region: self.region.clone(),
            resources,
            detail,
        };
        let json = serde_json::to_string(&event).unwrap_or_default();
        tracing::info!(target: "vodpack::events", event = event.detail.event, body = %json, "{}", event.detail.message);
        if let Some(tx) = &self.tx
            && tx.try_send(event).is_err()
        {
            tracing::warn!("event webhook queue is full; event dropped");
        }
    }
}

async fn deliver(url: String, mut rx: mpsc::Receiver<Event>) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook HTTP client; events are only logged");
            return;
        }
    };
    while let Some(event) = rx.recv().await {
        let mut delay = Duration::from_millis(250);
        for attempt in 1..=WEBHOOK_ATTEMPTS {
            match client.post(&url).json(&event).send().await {
                Ok(r) if r.status().is_success() => break,
                outcome => {
                    let why = match outcome {
                        Ok(r) => format!("HTTP {}", r.status()),
                        Err(e) => e.to_string(),
                    };
                    if attempt == WEBHOOK_ATTEMPTS {
                        tracing::error!(%url, id = %event.id, %why, "event webhook failed; event dropped");
                    } else {
                        tracing::warn!(%url, attempt, %why, "event webhook failed; retrying");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(8));
                    }
                }
            }
        }
    }
}
