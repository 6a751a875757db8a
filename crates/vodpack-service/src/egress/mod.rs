//! Egress: just-in-time packaging on `/out/v1/<asset>/<configuration>/<manifest>/<file…>`.
//!
//! A request is resolved from the three egress ids (asset, configuration, manifest; resolutions
//! of playable assets are cached for a few seconds and dropped on every change through this
//! node's API), then a [`job::Job`] is built: the decoded index from the [`IndexCache`], the
//! segment plan (cached per asset × duration), the source location and the configuration. The
//! format module (`hls` for HLS-TS and CMAF, `dash`, `mss`) renders the file from it; the
//! HTTP behaviour a CDN expects (validators, ranges, caching, gzip for manifests) is added here.
//! Egress is public (no SigV4), like MediaPackage's; `vodpack package` drives the same format
//! modules offline ([`package`]).

pub mod cdn_auth;
mod dash;
mod hls;
pub mod job;
mod mss;
pub mod package;
mod read;
mod segments;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use vodpack_media::index::MediaIndex;
use vodpack_media::package::PackageSpec;
use vodpack_media::package::spec::Format;
use vodpack_media::plan::Segmentation;

use crate::api::AppState;
use crate::ingest::cache::{CacheError, IndexCache};
use crate::repo::{AssetRecord, AssetStatus, GroupRecord};
use crate::resources::manifest_id;
use job::{Caching, Job, Rendered};

/// How long a resolution (asset, configuration, group) is reused. Changes made through this
/// node's API drop them at once; this bounds how long other nodes of a fleet serve a deleted
/// asset or an old CDN secret name.
const RESOLUTION_TTL: Duration = Duration::from_secs(5);

/// What an egress URL's asset and configuration ids resolve to, with what follows from them
/// alone (worked out once per resolution, not per request).
struct Resolved {
    asset: AssetRecord,
    group: Option<GroupRecord>,
    /// The configuration's package, validated (defaults applied): the stored wire form is not
    /// kept, nothing below resolution reads it.
    spec: Arc<PackageSpec>,
    /// (egress id, name) of each manifest of the configuration, in order.
    manifests: Vec<(String, String)>,
    /// `Last-Modified` of every output: outputs change only when the asset or the
    /// configuration is re-created.
    modified: String,
}

type Resolution = Arc<Resolved>;

/// What egress handlers need beyond the API state.
pub struct Egress {
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
    ts_lengths: segments::TsLengths,
}

impl Egress {
    pub fn new(cache: IndexCache, cdn_secrets: cdn_auth::CdnSecrets) -> Egress {
        Egress {
            cache,
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

/// An egress failure: status and a plain-text reason (never an internal endpoint or path:
/// storage details go to the log).
#[derive(Debug)]
pub struct EgressError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds after which trying again may succeed (`Retry-After`).
    pub retry_after: Option<u32>,
    /// The asset's source is not what its index describes: the asset must be ingested again.
    pub source_changed: Option<String>,
}

impl EgressError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> EgressError {
        EgressError {
            status,
            message: message.into(),
            retry_after: None,
            source_changed: None,
        }
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(message: impl Into<String>, retry_after: u32) -> EgressError {
        EgressError {
            retry_after: Some(retry_after),
            ..EgressError::new(StatusCode::SERVICE_UNAVAILABLE, message)
        }
    }
}

impl IntoResponse for EgressError {
    fn into_response(self) -> Response {
        let mut r = (self.status, self.message).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

fn not_found(msg: impl Into<String>) -> EgressError {
    EgressError::new(StatusCode::NOT_FOUND, msg)
}

/// Seconds a client is asked to wait while an asset is (re-)ingested or the store recovers.
const RETRY_AFTER: u32 = 5;

/// A non-negative decimal number without sign or leading zeros (one URL per file).
pub(crate) fn number(s: &str) -> Option<usize> {
    let ok =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    ok.then(|| s.parse().ok()).flatten()
}

fn storage_error(e: crate::repo::RepoError) -> EgressError {
    tracing::warn!(error = %e, "egress cannot read the database");
    EgressError::unavailable(
        "the service cannot read its database; try again",
        RETRY_AFTER,
    )
}

/// Asset, configuration and group of an egress URL (cached for playable assets).
async fn resolve(state: &AppState, asset: &str, config: &str) -> Result<Resolution, EgressError> {
    let key = (asset.to_string(), config.to_string());
    if let Some(hit) = state.egress.resolutions.get(&key).await {
        return Ok(hit);
    }
    let generation = state
        .egress
        .generation
        .load(std::sync::atomic::Ordering::SeqCst);
    let asset = state
        .repo
        .get_asset_by_egress_id(asset)
        .await
        .map_err(storage_error)?
        .ok_or_else(|| not_found("no such asset"))?;
    let config = state
        .repo
        .get_config_by_egress_id(config)
        .await
        .map_err(storage_error)?
        .ok_or_else(|| not_found("no such packaging configuration"))?;
    if config.packaging_group_id != asset.packaging_group_id {
        return Err(not_found("no such packaging configuration for this asset"));
    }
    let group = state
        .repo
        .get_group(&asset.packaging_group_id)
        .await
        .map_err(storage_error)?;
    let playable = asset.status == AssetStatus::Playable;
    let spec = Arc::new(config.package.spec());
    let manifests = spec
        .manifest_names()
        .into_iter()
        .enumerate()
        .map(|(i, name)| (manifest_id(&config.egress_id, i), name))
        .collect();
    let modified = http_date(asset.outputs_since().max(config.created_at.as_str()));
    let r = Arc::new(Resolved {
        asset,
        group,
        spec,
        manifests,
        modified,
    });
    let unchanged = state
        .egress
        .generation
        .load(std::sync::atomic::Ordering::SeqCst)
        == generation;
    if playable && unchanged {
        state.egress.resolutions.insert(key, r.clone()).await;
    }
    Ok(r)
}

/// `GET /out/v1/{asset}/{config}/{manifest}/{*file}` (HEAD too: axum answers HEAD from GET).
pub async fn serve(
    State(state): State<AppState>,
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
    state: &AppState,
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
        if !state.egress.cdn_secrets.allows(secret, presented) {
            return Err(EgressError::new(
                StatusCode::FORBIDDEN,
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
        return Err(EgressError::unavailable(message, RETRY_AFTER));
    }
    if asset_rec.status != AssetStatus::Playable {
        return Err(not_found(format!(
            "asset '{}' is not playable yet (status {})",
            asset_rec.id, asset_rec.status
        )));
    }
    let modified = r.modified.clone();
    // Only manifests are cached (segments are the bulk of requests: no key, no lookup).
    let incarnation = asset_rec.incarnation_key();
    let cache_key =
        is_manifest_name(file).then(|| format!("{incarnation}/{config}/{manifest}/{file}"));
    if let Some(key) = &cache_key
        && let Some((content_type, body)) = state.egress.manifests.get(key).await
    {
        return Ok((
            Rendered::manifest(content_type, body),
            modified,
            incarnation,
        ));
    }
    let index = match state.egress.cache.get(asset_rec).await {
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
                RETRY_AFTER,
            ));
        }
    };
    let seconds = r.spec.segment_seconds;
    let seg = state
        .egress
        .segmentation(&incarnation, seconds, &index)
        .await
        .ok_or_else(|| not_found("the asset has no segments"))?;
    let source = crate::ingest::source_object(&asset_rec.source_arn).map_err(read::unavailable)?;
    let job = Job {
        storage: state.storage.clone(),
        bucket: source.bucket,
        index,
        seg,
        created_at: asset_rec.created_at.clone(),
        spec: r.spec.clone(),
        ts_lengths: Some((state.egress.ts_lengths.clone(), incarnation.clone())),
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
        && let job::Body::Parts(parts) = &out.body
    {
        state
            .egress
            .manifests
            .insert(cache_key, (out.content_type, job::concat(parts)))
            .await;
    }
    Ok((out, modified, incarnation))
}

/// The asset's index no longer describes its source: start a new incarnation (once, however
/// many requests notice together), drop what was cached of the old one, and answer 503 with
/// `Retry-After` until the new one is playable.
async fn reingest(state: &AppState, asset: &AssetRecord, detail: &str) -> EgressError {
    if state.ingest.source_changed(asset, detail).await.is_some() {
        state.egress.forget_resolutions();
        state
            .egress
            .cache
            .invalidate(&asset.incarnation_key())
            .await;
    }
    EgressError::unavailable(
        format!(
            "the source of asset '{}' changed since it was ingested; it is being ingested again, try again shortly",
            asset.id
        ),
        RETRY_AFTER,
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
            StatusCode::NOT_IMPLEMENTED,
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

const MANIFEST_CACHE: &str = "public, max-age=60";
const MEDIA_CACHE: &str = "public, max-age=31536000, immutable";

/// Whether the client accepts gzip (`Accept-Encoding`, q-values honoured; an explicit
/// `gzip;q=0` wins over `*`).
fn accepts_gzip(req: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut star = None;
    for item in req
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .filter_map(|q| q.trim().parse::<f32>().ok())
            .next()
            .unwrap_or(1.0);
        if coding.eq_ignore_ascii_case("gzip") {
            gzip = Some(q > 0.0);
        } else if coding == "*" {
            star = Some(q > 0.0);
        }
    }
    gzip.or(star).unwrap_or(false)
}

fn gzip(body: &[u8]) -> Option<Bytes> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(body).ok()?;
    e.finish().ok().map(Bytes::from)
}

/// A response body with its exact length known (so it goes out with `Content-Length`, not
/// chunked): an output's buffers in order, or an MPEG-TS segment muxed as it is sent. An error
/// mid-way (the source truncated under a streamed segment) ends the body early, and the
/// connection with it, since the length was promised.
struct Sending {
    source: Source,
    remaining: u64,
}

enum Source {
    Parts(std::vec::IntoIter<Bytes>),
    Stream(Box<segments::TsSegment>),
}

impl Sending {
    fn new(body: job::Body) -> Sending {
        let remaining = body.len();
        let source = match body {
            job::Body::Parts(parts) => Source::Parts(parts.into_iter()),
            job::Body::Stream(stream) => Source::Stream(stream),
        };
        Sending { source, remaining }
    }
}

impl http_body::Body for Sending {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let next = match &mut self.source {
            Source::Parts(parts) => parts.next().map(Ok),
            Source::Stream(stream) => stream.next_chunk(),
        };
        std::task::Poll::Ready(next.map(|piece| match piece {
            Ok(b) => {
                self.remaining = self.remaining.saturating_sub(b.len() as u64);
                Ok(http_body::Frame::data(b))
            }
            Err(e) => {
                tracing::warn!(error = %e.message, "segment cut off");
                Err(std::io::Error::other(e.message))
            }
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.remaining)
    }
}

/// Identifies this build's outputs in ETags: a hash of the running executable, so a new
/// muxer or manifest writer never answers 304 to a validator of the old one's bytes.
fn build_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        use sha2::{Digest, Sha256};
        let exe = std::env::current_exe().and_then(std::fs::read);
        match exe {
            Ok(bytes) => hex::encode(&Sha256::digest(&bytes)[..8]),
            Err(_) => env!("CARGO_PKG_VERSION").to_string(),
        }
    })
}

/// Compares entity tags weakly (RFC 9110 §8.8.3.2), as `If-None-Match` requires.
fn weak_eq(a: &str, b: &str) -> bool {
    a.trim().trim_start_matches("W/") == b.trim().trim_start_matches("W/")
}

/// The HTTP response for a rendered file: type, caching, `Last-Modified`, gzip for
/// manifests when asked, strong validators, conditional GET and byte ranges.
async fn respond(
    out: Rendered,
    modified: &str,
    req: &HeaderMap,
    incarnation: &str,
    config: &str,
    manifest: &str,
    file: &str,
) -> Response {
    let compress = out.caching == Caching::Manifest && out.len() > 256 && accepts_gzip(req);
    let content_type = out.content_type;
    let caching = out.caching;
    let body = if compress {
        match out.into_bytes() {
            Ok(whole) => job::Body::Parts(vec![gzip(&whole).unwrap_or(whole)]),
            Err(e) => return e.into_response(),
        }
    } else {
        out.body
    };
    let len = body.len();
    // Outputs are deterministic for an asset incarnation × configuration × file × build, so
    // the strong ETag is derived from those names, not from the bytes.
    let tag = {
        use sha2::{Digest, Sha256};
        let d = Sha256::digest(
            format!(
                "{}|{incarnation}|{config}|{manifest}/{file}|{}",
                build_id(),
                if compress { "gzip" } else { "identity" }
            )
            .as_bytes(),
        );
        format!("\"{}\"", hex::encode(&d[..12]))
    };
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(match caching {
            Caching::Manifest => MANIFEST_CACHE,
            Caching::Media => MEDIA_CACHE,
        }),
    );
    if caching == Caching::Manifest {
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if compress {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if let Ok(v) = HeaderValue::from_str(modified) {
        h.insert(header::LAST_MODIFIED, v);
    }
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));

    let not_modified = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == "*" || weak_eq(t, &tag)));
    if not_modified {
        let mut nm = StatusCode::NOT_MODIFIED.into_response();
        for name in [
            header::ETAG,
            header::CACHE_CONTROL,
            header::VARY,
            header::LAST_MODIFIED,
        ] {
            if let Some(v) = h.get(&name) {
                nm.headers_mut().insert(name, v.clone());
            }
        }
        return nm;
    }
    // A Range applies only if If-Range (when sent) still names this representation; other
    // units and multiple ranges are answered with the whole body (RFC 9110 §14.2).
    let if_range_ok = req
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim() == tag || v.trim() == modified);
    let range = req
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| if_range_ok)
        .and_then(|v| v.trim().strip_prefix("bytes="))
        .filter(|spec| !spec.contains(','));
    let Some(spec) = range else {
        let mut r = Response::new(Body::new(Sending::new(body)));
        *r.headers_mut() = h;
        return r;
    };
    match parse_range(spec, len) {
        Some((start, end)) => {
            let whole = match body.into_bytes() {
                Ok(whole) => whole,
                Err(e) => return e.into_response(),
            };
            let mut r = Response::new(Body::from(whole.slice(start as usize..=end as usize)));
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            *r.headers_mut() = h;
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            r
        }
        None => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            r
        }
    }
}

/// An RFC 3339 time as an HTTP date (`Last-Modified`).
fn http_date(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|_| chrono::Utc::now())
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// One byte range spec (`a-b`, `a-`, `-n`, after `bytes=`) within `len` bytes, inclusive;
/// `None` if unsatisfiable.
fn parse_range(spec: &str, len: u64) -> Option<(u64, u64)> {
    if len == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 {
            return None;
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            len - 1
        } else {
            b.parse::<u64>().ok()?.min(len - 1)
        };
        (start, end)
    };
    (start <= end && start < len).then_some((start, end))
}

/// Shared handle type stored in the API state.
pub type EgressHandle = Arc<Egress>;
