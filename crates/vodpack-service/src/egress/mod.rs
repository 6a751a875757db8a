//! Egress: just-in-time packaging on `/out/v1/<asset>/<configuration>/<manifest>/<file…>`.
//!
//! A request is resolved from the three egress ids (asset, configuration, manifest; resolutions
//! of playable assets are cached for a few seconds and dropped on every change through this
//! node's API), then a [`job::Job`] is built: the decoded index from the [`IndexCache`] (owned
//! here: egress is its only reader), the segment plan (cached per asset × duration), the source
//! location and the configuration. The format module (`hls` for HLS-TS and CMAF, `dash`,
//! `mss`) renders the file from it; `respond` adds the HTTP behaviour a CDN expects
//! (validators, ranges, caching, gzip for manifests). Egress is public (no SigV4), like
//! MediaPackage's; `vodpack package` drives the same format modules offline ([`package`]).
//! Egress has its own state, [`Egress`]: the database, the store, the ingest queue (to start a
//! re-ingest) and its caches, none of the API's.
//!
//! Module map, in the order a request meets them: [`routes`] (the `/out/` route, its preflight
//! and 405), this module (state, caches, the handler), `resolve` (egress ids → asset,
//! configuration, group), [`index_cache`] (decoded indexes), [`job`] (what one output needs),
//! `hls`/`dash`/`mss` (one per output family: file name → file), `segments` (media files),
//! `read` (source bytes), `rendered` (a file as made), `respond` (the HTTP answer: validators,
//! ranges, gzip, the body), [`error`] (typed failures and their statuses).

pub mod cdn_auth;
mod dash;
pub mod error;
mod hls;
pub mod index_cache;
pub mod job;
mod mss;
pub mod package;
mod read;
mod rendered;
mod resolve;
mod respond;
pub mod routes;
mod segments;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use vodpack_media::index::MediaIndex;
use vodpack_media::package::spec::Format;
use vodpack_media::plan::Segmentation;

use crate::ingest::Ingest;
use crate::repo::{AssetRecord, AssetStatus, Repository};
use crate::storage::Storage;
pub use error::EgressError;
use error::{Failure, not_found};
use index_cache::{CacheError, IndexCache};
use job::Job;
use rendered::{Body as RenderedBody, Caching, Rendered};
use resolve::{RESOLUTION_TTL, Resolution, resolve};
use respond::respond;
pub use routes::routes;

/// Egress's state: what its handlers need, and its caches.
pub struct Egress {
    repo: Arc<dyn Repository>,
    /// Source objects (every read under the egress deadline).
    storage: Arc<dyn Storage>,
    /// Told when a source changed under a playable asset (re-ingest).
    ingest: Arc<Ingest>,
    pub cache: IndexCache,
    pub cdn_secrets: cdn_auth::CdnSecrets,
    /// Segment plans per asset incarnation × segment duration: computing one walks every
    /// sample of the reference track, which is too much per request for long assets.
    plans: moka::future::Cache<(String, u32), Arc<Segmentation>>,
    resolutions: moka::future::Cache<(String, String), Resolution>,
    /// Bumped by every API change: a resolution read from the database before a change is not
    /// cached after it.
    generation: std::sync::atomic::AtomicU64,
    /// Rendered manifests by asset × configuration × manifest × file: deterministic for an
    /// asset incarnation, and some (I-frame playlists) read media to be written.
    manifests: moka::future::Cache<String, (&'static str, Bytes)>,
    /// Lengths of MPEG-TS segments (see [`segments::TsLengths`]).
    ts_lengths: job::TsLengths,
}

impl Egress {
    /// `index_cache_samples`: samples of decoded indexes kept in memory (about 30 bytes each).
    pub fn new(
        repo: Arc<dyn Repository>,
        storage: Arc<dyn Storage>,
        ingest: Arc<Ingest>,
        index_cache_samples: u64,
        cdn_secrets: cdn_auth::CdnSecrets,
    ) -> Egress {
        Egress {
            cache: IndexCache::new(repo.clone(), index_cache_samples),
            repo,
            storage,
            ingest,
            cdn_secrets,
            plans: moka::future::Cache::builder().max_capacity(10_000).build(),
            generation: std::sync::atomic::AtomicU64::new(0),
            resolutions: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(RESOLUTION_TTL)
                .build(),
            ts_lengths: moka::future::Cache::builder().max_capacity(200_000).build(),
            manifests: moka::future::Cache::builder()
                .max_capacity(64 << 20)
                .weigher(|k: &String, v: &(&'static str, Bytes)| {
                    u32::try_from(k.len() + v.1.len()).unwrap_or(u32::MAX)
                })
                .build(),
        }
    }

    /// The segment plan of an asset for a duration, computed once.
    pub async fn segmentation(
        &self,
        asset_egress_id: &str,
        seconds: u32,
        index: &MediaIndex,
    ) -> Option<Arc<Segmentation>> {
        let key = (asset_egress_id.to_string(), seconds);
        if let Some(hit) = self.plans.get(&key).await {
            return Some(hit);
        }
        let plan = Arc::new(Segmentation::new(index, seconds)?);
        self.plans.insert(key, plan.clone()).await;
        Some(plan)
    }

    /// Forgets cached resolutions: called after any change to groups, configurations or
    /// assets through the API.
    pub fn forget_resolutions(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.resolutions.invalidate_all();
    }
}

/// A non-negative decimal number without sign or leading zeros (one URL per file).
pub(crate) fn number(s: &str) -> Option<usize> {
    let ok =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    ok.then(|| s.parse().ok()).flatten()
}

/// `GET /out/v1/{asset}/{config}/{manifest}/{*file}` (HEAD too: axum answers HEAD from GET).
pub async fn serve(
    State(state): State<Arc<Egress>>,
    Path((asset, config, manifest, file)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    match serve_inner(&state, &asset, &config, &manifest, &file, &headers).await {
        Ok((r, modified, incarnation)) => {
            respond(
                r,
                &modified,
                &headers,
                &incarnation,
                &config,
                &manifest,
                &file,
            )
            .await
        }
        Err(e) => e.into_response(),
    }
}

async fn serve_inner(
    state: &Egress,
    asset: &str,
    config: &str,
    manifest: &str,
    file: &str,
    headers: &HeaderMap,
) -> Result<(Rendered, String, String), EgressError> {
    let r = resolve(state, asset, config).await?;
    let (asset_rec, group) = (&r.asset, &r.group);
    let position = r
        .manifests
        .iter()
        .position(|(id, _)| id == manifest)
        .ok_or_else(|| not_found("no such manifest"))?;
    if let Some(secret) = group
        .as_ref()
        .and_then(|g| g.authorization.as_ref())
        .and_then(|a| a.cdn_identifier_secret.as_deref())
    {
        let presented = headers.get(cdn_auth::HEADER).and_then(|v| v.to_str().ok());
        if !state.cdn_secrets.allows(secret, presented) {
            return Err(EgressError::new(
                Failure::Forbidden,
                "CDN authorization failed: missing or wrong X-MediaPackage-CDNIdentifier",
            ));
        }
    }
    if asset_rec.status != AssetStatus::Playable && asset_rec.incarnation > 1 {
        // It played before: its source changed, and it is being ingested again (or the new
        // version could not be).
        let message = if asset_rec.status == AssetStatus::Failed {
            format!(
                "the source of asset '{}' changed and the new version could not be ingested (see its IngestError event)",
                asset_rec.id
            )
        } else {
            format!(
                "the source of asset '{}' changed; it is being ingested again, try again shortly",
                asset_rec.id
            )
        };
        return Err(EgressError::source_changed(message, None));
    }
    if asset_rec.status != AssetStatus::Playable {
        return Err(not_found(format!(
            "asset '{}' is not playable yet (status {})",
            asset_rec.id, asset_rec.status
        )));
    }
    let modified = r.modified.clone();
    // Only manifests are cached (segments are the bulk of requests: no key, no lookup).
    let incarnation = r.incarnation.clone();
    let cache_key =
        is_manifest_name(file).then(|| format!("{incarnation}/{config}/{manifest}/{file}"));
    if let Some(key) = &cache_key
        && let Some((content_type, body)) = state.manifests.get(key).await
    {
        return Ok((
            Rendered::manifest(content_type, body),
            modified,
            incarnation,
        ));
    }
    let index = match state.cache.get(asset_rec, &incarnation).await {
        Ok(Some(index)) => index,
        Ok(None) => return Err(not_found("asset index not found")),
        // Written by another build (older format) or damaged: ingest again.
        Err(CacheError::Decode(detail)) => {
            return Err(reingest(state, asset_rec, &format!("stored index: {detail}")).await);
        }
        Err(e) => {
            tracing::warn!(asset = %asset_rec.id, error = %e, "egress cannot load an index");
            return Err(EgressError::unavailable(
                "the asset's index cannot be read; try again",
            ));
        }
    };
    let seconds = r.spec.segment_seconds;
    let seg = state
        .segmentation(&incarnation, seconds, &index)
        .await
        .ok_or_else(|| not_found("the asset has no segments"))?;
    let source = crate::source_arn::source_object(&asset_rec.source_arn)
        // Checked when the asset was created.
        .map_err(EgressError::bug)?;
    let job = Job {
        storage: state.storage.clone(),
        bucket: source.bucket,
        index,
        seg,
        created_at: asset_rec.created_at.clone(),
        spec: r.spec.clone(),
        ts_lengths: Some((state.ts_lengths.clone(), incarnation.clone())),
        manifest: position,
        manifest_name: r.manifests[position].1.clone(),
    };
    let out = match render(&job, file).await {
        Ok(out) => out,
        Err(EgressError {
            source_changed: Some(detail),
            ..
        }) => return Err(reingest(state, asset_rec, &detail).await),
        Err(e) => return Err(e),
    };
    if out.caching == Caching::Manifest
        && let Some(cache_key) = cache_key
        && let RenderedBody::Parts(parts) = &out.body
    {
        state
            .manifests
            .insert(cache_key, (out.content_type, rendered::concat(parts)))
            .await;
    }
    Ok((out, modified, incarnation))
}

/// The asset's index no longer describes its source: start a new incarnation (once, however
/// many requests notice together), drop what was cached of the old one, and answer 503 with
/// `Retry-After` until the new one is playable.
async fn reingest(state: &Egress, asset: &AssetRecord, detail: &str) -> EgressError {
    if state.ingest.source_changed(asset, detail).await.is_some() {
        state.forget_resolutions();
        state.cache.invalidate(&asset.incarnation_key()).await;
    }
    EgressError::source_changed(
        format!(
            "the source of asset '{}' changed since it was ingested; it is being ingested again, try again shortly",
            asset.id
        ),
        None,
    )
}

/// Whether a file name is one of a manifest (HLS playlist, MPD, Smooth client manifest).
fn is_manifest_name(file: &str) -> bool {
    file.ends_with(".m3u8") || file.ends_with(".mpd") || file.ends_with("/Manifest")
}

/// Why a configuration with `encryption` gets no output: encryption is not built yet, and
/// protected content must never be served in the clear.
pub const ENCRYPTION_REFUSED: &str = "this packaging configuration asks for encryption, which vodpack does not implement yet; its content is not served in the clear";

/// Renders one file of a job with its format module.
pub async fn render(job: &Job, file: &str) -> Result<Rendered, EgressError> {
    if job.spec.encrypted {
        tracing::warn!(file, "refused: {ENCRYPTION_REFUSED}");
        return Err(EgressError::new(
            Failure::NotImplemented,
            ENCRYPTION_REFUSED,
        ));
    }
    match &job.spec.format {
        Format::Hls(_) | Format::Cmaf(_) => hls::render(job, file).await,
        Format::Dash(_) => dash::render(job, file).await,
        Format::Mss(_) => mss::render(job, file).await,
    }
}

/// Every file of a job (for `vodpack package`).
pub fn files(job: &Job) -> Result<Vec<String>, EgressError> {
    match &job.spec.format {
        Format::Hls(_) | Format::Cmaf(_) => hls::files(job),
        Format::Dash(_) => dash::files(job),
        Format::Mss(_) => mss::files(job),
    }
}
