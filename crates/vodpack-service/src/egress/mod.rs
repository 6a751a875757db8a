//! Egress: just-in-time packaging on `/out/v1/<asset>/<configuration>/<manifest>/<file…>`.
//!
//! Egress owns the I/O around the media crate's packaging chain
//! (`vodpack_media::package`): a request is resolved from the three egress ids (asset,
//! configuration, manifest; resolutions of playable assets are cached for a few seconds and
//! dropped on every change through this node's API), the file name is parsed into the chain's
//! typed `OutputFile`, and a `Presentation` is built: the decoded index from the
//! [`IndexCache`] (owned here: egress is its only reader), the segment plan (cached per asset ×
//! duration) and the validated configuration. The chain plans the file; `render` reads the
//! source bytes the plan needs (`read`) and has the chain make it; `respond` adds the HTTP
//! behaviour a CDN expects (validators, ranges, caching, gzip for manifests). Egress is public
//! (no SigV4), like MediaPackage's; `vodpack package` renders through the same `render`
//! ([`package`]). Egress has its own state, [`Egress`]: the database, the store, the ingest
//! queue (to start a re-ingest) and its caches, none of the API's.
//!
//! Module map, in the order a request meets them: [`routes`] (the `/out/` route, its preflight
//! and 405), this module (state, caches, the handler), `resolve` (egress ids → asset,
//! configuration, group), [`index_cache`] (decoded indexes), `render` (plan → read → make),
//! `read` (source bytes, versions checked), `rendered` (a file as made), `respond` (the HTTP
//! answer: validators, ranges, gzip, the body), [`error`] (typed failures and their statuses).

pub mod cdn_auth;
pub mod error;
pub mod index_cache;
pub mod package;
mod read;
mod render;
mod rendered;
mod resolve;
mod respond;
pub mod routes;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use vodpack_media::index::MediaIndex;
use vodpack_media::package::{OutputFile, Presentation};
use vodpack_media::plan::Segmentation;

use crate::ingest::Ingest;
use crate::keys::{KeyError, Keys};
use crate::repo::{AssetRecord, AssetStatus, Repository};
use crate::storage::Storage;
pub use error::EgressError;
use error::{Failure, not_found};
use index_cache::{CacheError, IndexCache};
use read::Sources;
use render::{Renderer, TsLengths};
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
    /// Content keys of encrypted configurations (fetched once per asset × configuration).
    keys: Arc<Keys>,
    /// Encrypted-output requests answered 503 for want of keys, since start (logged with each;
    /// the metrics endpoint will expose it).
    pub key_failures: std::sync::atomic::AtomicU64,
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
    /// Lengths of MPEG-TS segments (see [`TsLengths`]).
    ts_lengths: TsLengths,
}

impl Egress {
    /// `index_cache_samples`: samples of decoded indexes kept in memory (about 30 bytes each).
    pub fn new(
        repo: Arc<dyn Repository>,
        storage: Arc<dyn Storage>,
        ingest: Arc<Ingest>,
        keys: Arc<Keys>,
        index_cache_samples: u64,
        cdn_secrets: cdn_auth::CdnSecrets,
    ) -> Egress {
        Egress {
            keys,
            key_failures: std::sync::atomic::AtomicU64::new(0),
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
    let manifest_name = &r.manifests[position].1;
    let out_file = OutputFile::parse(&r.spec.format, manifest_name, file)
        .ok_or_else(|| not_found("no such file"))?;
    // Only manifests are cached (segments are the bulk of requests: no key, no lookup).
    let incarnation = r.incarnation.clone();
    let cache_key = out_file
        .is_manifest()
        .then(|| format!("{incarnation}/{config}/{manifest}/{file}"));
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
    // Protected content needs its keys first; without them nothing is made (never clear).
    let keys = if r.spec.encrypted() {
        match state.keys.get(asset_rec, &r.config).await {
            Ok(keys) => Some(keys),
            Err(KeyError::Gone) => return Err(not_found("no such asset or configuration")),
            Err(e) => {
                let failures = 1 + state
                    .key_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(asset = %asset_rec.id, configuration = %r.config.id, error = %e, failures, "egress has no content keys");
                return Err(EgressError::new(
                    Failure::KeysUnavailable,
                    format!(
                        "the content keys of this encrypted output cannot be had: {e}; try again"
                    ),
                ));
            }
        }
    } else {
        None
    };
    let presentation = Presentation {
        index,
        seg,
        spec: r.spec.clone(),
        manifest: position,
        manifest_name: manifest_name.clone(),
        created_at_ms: r.created_at_ms,
        keys,
    };
    let sources = Sources {
        storage: state.storage.clone(),
        bucket: source.bucket,
    };
    // TS lengths differ per configuration (clear, AES-128, SAMPLE-AES) of one incarnation.
    let lengths_key = format!("{incarnation}/{config}");
    let renderer = Renderer {
        sources: &sources,
        presentation: &presentation,
        ts_lengths: Some((&state.ts_lengths, &lengths_key)),
    };
    let out = match renderer.render(&out_file).await {
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

/// An RFC 3339 time in milliseconds since the epoch (asset creation times).
pub(crate) fn created_at_ms(rfc3339: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp_millis())
}
