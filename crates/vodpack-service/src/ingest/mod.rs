//! Background ingest: the queue, its workers, cancellation and events.
//!
//! The queue is persisted (the assets table: QUEUED → PROCESSING → PLAYABLE | FAILED), so
//! nothing acknowledged is lost: at start-up assets left PROCESSING by a killed server go back
//! to QUEUED and are ingested again. A fixed number of workers claim assets in creation order.
//! Each ingest runs in its own task, so a failure or even a bug in one asset's parsing never
//! touches another. Deleting an asset aborts its ingest, and the final write is conditional on
//! the asset (this incarnation of it) still being there.
//!
//! Storage is read under deadlines ([`crate::storage::Bounded`] per read, and one for the
//! whole ingest): a store that goes silent ends the ingest FAILED with the reason, and such
//! transient failures are queued again later (a few times, backing off). An asset whose source
//! changed after it was ingested is ingested again as a new incarnation
//! ([`Ingest::source_changed`]).

pub mod events;
pub mod source;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use vodpack_media::index::{self, MediaIndex};
use vodpack_media::source::mp4::Limits;

use crate::config::ServiceConfig;
use crate::repo::{AssetRecord, IngestOutcome, Repository, ResourceKind};
use crate::resources::{arn, egress_endpoint_url};
use crate::storage::{Bounded, Storage};
use events::{Detail, EventSink};
use source::IngestError;

/// How ingest runs.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// Assets ingested at the same time.
    pub concurrency: usize,
    pub limits: Limits,
    /// URL that receives every event as a JSON POST.
    pub webhook: Option<String>,
    /// Longest one ingest may take, all reads included.
    pub deadline: Duration,
    /// Longest one read of the store may take.
    pub read_timeout: Duration,
    /// Times an ingest that failed for a transient reason (the store timed out or failed) is
    /// tried again.
    pub retries: u32,
    /// Wait before the first retry; doubled for each later one.
    pub retry_delay: Duration,
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            concurrency: 2,
            limits: Limits::default(),
            webhook: None,
            deadline: Duration::from_secs(3600),
            read_timeout: Duration::from_secs(30),
            retries: 5,
            retry_delay: Duration::from_secs(30),
        }
    }
}

pub struct Ingest {
    repo: Arc<dyn Repository>,
    storage: Arc<dyn Storage>,
    service: Arc<ServiceConfig>,
    settings: IngestSettings,
    events: EventSink,
    wake: Notify,
    /// Asset id → the abort handle of its running ingest.
    running: Mutex<HashMap<String, tokio::task::AbortHandle>>,
    /// Content keys, fetched when an asset becomes playable for its encrypted configurations.
    keys: std::sync::OnceLock<Arc<crate::keys::Keys>>,
}

/// Kept under its old name for callers outside the crate; parsed in [`crate::source_arn`].
pub use crate::source_arn::source_object;

impl Ingest {
    pub fn new(
        repo: Arc<dyn Repository>,
        storage: Arc<dyn Storage>,
        service: Arc<ServiceConfig>,
        settings: IngestSettings,
    ) -> Arc<Ingest> {
        let events = EventSink::new(
            &service.region,
            &service.account_id,
            settings.webhook.clone(),
        );
        Arc::new(Ingest {
            repo,
            storage,
            service,
            settings,
            events,
            wake: Notify::new(),
            running: Mutex::new(HashMap::new()),
            keys: std::sync::OnceLock::new(),
        })
    }

    /// Requeues interrupted work and starts the workers.
    /// Gives ingest the content-key store (set once, before [`Ingest::start`]).
    pub fn set_keys(&self, keys: Arc<crate::keys::Keys>) {
        let _ = self.keys.set(keys);
    }

    pub async fn start(self: &Arc<Self>) -> Result<(), crate::repo::RepoError> {
        let resumed = self.repo.requeue_interrupted().await?;
        if resumed > 0 {
            tracing::info!(
                resumed,
                "resuming ingests interrupted by the previous shutdown"
            );
        }
        // Concurrency 0: this node serves the API and egress only; other nodes ingest.
        for _ in 0..self.settings.concurrency {
            let me = self.clone();
            tokio::spawn(async move { me.work().await });
        }
        Ok(())
    }

    /// A new asset was queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// An asset was deleted: stop its ingest if one is running.
    pub fn cancel(&self, asset_id: &str) {
        if let Ok(running) = self.running.lock()
            && let Some(handle) = running.get(asset_id)
        {
            handle.abort();
            tracing::info!(asset = asset_id, "ingest cancelled: the asset was deleted");
        }
    }

    /// The source of `asset` no longer is what its index describes (`detail` says how), or its
    /// stored index is unreadable: starts a new incarnation and queues it. Returns the asset
    /// as re-queued, `None` when another request already did (or it is being ingested).
    pub async fn source_changed(&self, asset: &AssetRecord, detail: &str) -> Option<AssetRecord> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let restarted = match self
            .repo
            .restart_ingest(&asset.id, asset.incarnation, &now)
            .await
        {
            Ok(r) => r?,
            Err(e) => {
                tracing::error!(asset = %asset.id, error = %e, "cannot queue the asset for re-ingest");
                return None;
            }
        };
        tracing::warn!(
            asset = %asset.id,
            incarnation = restarted.incarnation,
            %detail,
            "source changed since ingest: ingesting the asset again"
        );
        self.events.emit(
            vec![self.asset_arn(&asset.id)],
            Detail {
                event: "SourceChanged",
                message: format!(
                    "The source of asset '{}' changed since it was ingested ({detail}); it is being ingested again",
                    asset.id
                ),
                packaging_configuration_id: None,
                manifest_urls: None,
            },
        );
        self.wake();
        Some(restarted)
    }

    async fn work(self: Arc<Self>) {
        loop {
            let now = chrono::Utc::now().timestamp();
            match self.repo.requeue_due(now).await {
                Ok(n) if n > 0 => tracing::info!(
                    assets = n,
                    "retrying ingests that failed for a transient reason"
                ),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "cannot requeue ingests due for a retry"),
            }
            match self.repo.claim_next_queued().await {
                Ok(Some(asset)) => self.run(asset).await,
                Ok(None) => {
                    // Woken by CreateAsset; the timeout is a safety net, not the mechanism.
                    let _ =
                        tokio::time::timeout(Duration::from_secs(5), self.wake.notified()).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the ingest queue");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn asset_arn(&self, id: &str) -> String {
        arn(
            &self.service.region,
            &self.service.account_id,
            ResourceKind::Asset,
            id,
        )
    }

    async fn run(&self, asset: AssetRecord) {
        let started = Instant::now();
        let asset_arn = self.asset_arn(&asset.id);
        self.events.emit(
            vec![asset_arn.clone()],
            Detail {
                event: "IngestStart",
                message: format!(
                    "Ingest started for asset '{}' from {}",
                    asset.id, asset.source_arn
                ),
                packaging_configuration_id: None,
                manifest_urls: None,
            },
        );
        let storage: Arc<dyn Storage> = Arc::new(Bounded::new(
            self.storage.clone(),
            self.settings.read_timeout,
        ));
        let limits = self.settings.limits;
        let source = asset.source_arn.clone();
        let mut task = tokio::spawn(async move {
            let obj = source_object(&source).map_err(IngestError::Source)?;
            source::index_source(storage.as_ref(), &obj, &limits).await
        });
        if let Ok(mut running) = self.running.lock() {
            running.insert(asset.id.clone(), task.abort_handle());
        }
        let deadline = self.settings.deadline;
        let result = match tokio::time::timeout(deadline, &mut task).await {
            Ok(r) => r,
            Err(_) => {
                task.abort();
                Ok(Err(IngestError::Deadline {
                    seconds: deadline.as_secs(),
                }))
            }
        };
        if let Ok(mut running) = self.running.lock() {
            running.remove(&asset.id);
        }
        let outcome: Result<MediaIndex, IngestError> = match result {
            Ok(r) => r,
            Err(e) if e.is_cancelled() => return,
            Err(e) => {
                tracing::error!(asset = %asset.id, error = %e, "ingest task failed unexpectedly");
                Err(IngestError::Source(
                    "internal error while reading the source; see the server log".to_string(),
                ))
            }
        };
        match outcome {
            Ok(index) => {
                let bytes = index::encode(&index);
                let recorded = self
                    .record(
                        &asset,
                        IngestOutcome::Playable {
                            index: &bytes,
                            format_version: index::FORMAT_VERSION,
                        },
                    )
                    .await;
                match recorded {
                    Ok(true) => {
                        self.announce_playable(&asset, &index, bytes.len(), started)
                            .await
                    }
                    Ok(false) => {
                        tracing::info!(asset = %asset.id, "ingest finished for a deleted asset; discarded")
                    }
                    Err(e) => {
                        tracing::error!(asset = %asset.id, error = %e, "cannot record the ingest result")
                    }
                }
            }
            Err(error) => {
                let transient = error.is_transient();
                let attempt = asset.ingest_attempts + 1;
                let (reason, outcome_retry_at) = if transient && attempt <= self.settings.retries {
                    let wait = self
                        .settings
                        .retry_delay
                        .saturating_mul(1u32 << (attempt - 1).min(16));
                    (
                        format!(
                            "{error} (attempt {attempt} of {}; retrying in {} s)",
                            self.settings.retries + 1,
                            wait.as_secs()
                        ),
                        Some(chrono::Utc::now().timestamp() + wait.as_secs().max(1) as i64),
                    )
                } else if transient {
                    (format!("{error} (gave up after {attempt} attempts)"), None)
                } else {
                    (error.to_string(), None)
                };
                let outcome = match outcome_retry_at {
                    Some(retry_at) => IngestOutcome::Retry {
                        reason: &reason,
                        retry_at,
                    },
                    None => IngestOutcome::Failed { reason: &reason },
                };
                let recorded = self.record(&asset, outcome).await;
                if let Err(e) = recorded {
                    tracing::error!(asset = %asset.id, error = %e, "cannot record the ingest failure");
                }
                tracing::warn!(asset = %asset.id, %reason, "ingest failed");
                self.events.emit(
                    vec![asset_arn],
                    Detail {
                        event: "IngestError",
                        message: format!("Ingest failed for asset '{}': {reason}", asset.id),
                        packaging_configuration_id: None,
                        manifest_urls: None,
                    },
                );
            }
        }
    }

    /// Records how an ingest ended. While the database cannot take writes (disk full, busy)
    /// it keeps trying, so an ingest that ends during such an outage lands once it is over
    /// instead of leaving the asset PROCESSING until a restart.
    async fn record(
        &self,
        asset: &AssetRecord,
        outcome: IngestOutcome<'_>,
    ) -> Result<bool, crate::repo::RepoError> {
        let mut wait = Duration::from_millis(250);
        loop {
            match self
                .repo
                .finish_ingest(&asset.id, &asset.egress_id, outcome)
                .await
            {
                Err(crate::repo::RepoError::Unavailable(reason)) => {
                    tracing::warn!(asset = %asset.id, %reason, "cannot record the ingest result yet; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                other => return other,
            }
        }
    }

    async fn announce_playable(
        &self,
        asset: &AssetRecord,
        index: &MediaIndex,
        bytes: usize,
        started: Instant,
    ) {
        let asset_arn = self.asset_arn(&asset.id);
        tracing::info!(
            asset = %asset.id,
            tracks = index.tracks.len(),
            samples = index.sample_count(),
            duration_s = format!("{:.3}", index.duration_seconds()),
            index_bytes = bytes,
            millis = started.elapsed().as_millis() as u64,
            "ingest complete"
        );
        for w in &index.warnings {
            tracing::warn!(asset = %asset.id, warning = %w, "ingest warning");
        }
        self.events.emit(
            vec![asset_arn.clone()],
            Detail {
                event: "IngestComplete",
                message: format!("Ingest completed for asset '{}'", asset.id),
                packaging_configuration_id: None,
                manifest_urls: None,
            },
        );
        let configs = match self.repo.configs_of_group(&asset.packaging_group_id).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot list configurations for playable events");
                return;
            }
        };
        for c in configs {
            // Keys are fetched now for encrypted configurations (best effort, in the
            // background: a failure is logged and egress tries again).
            if let Some(keys) = self.keys.get()
                && c.package.spec().encrypted()
            {
                keys.prefetch(asset.clone(), c.clone());
            }
            let config_arn = arn(
                &self.service.region,
                &self.service.account_id,
                ResourceKind::PackagingConfiguration,
                &c.id,
            );
            self.events.emit(
                vec![asset_arn.clone(), config_arn],
                Detail {
                    event: "VodAssetPlayable",
                    message: format!(
                        "Asset '{}' is now playable for PackagingConfiguration '{}'",
                        asset.id, c.id
                    ),
                    packaging_configuration_id: Some(c.id.clone()),
                    manifest_urls: Some(vec![egress_endpoint_url(
                        &self.service.public_url,
                        &asset.egress_id,
                        &c,
                    )]),
                },
            );
        }
    }
}
