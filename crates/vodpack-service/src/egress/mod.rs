//! Egress: just-in-time packaging on `/out/v1/<asset>/<configuration>/<manifest>/<file>`.
//!
//! A request is resolved from the three egress ids (asset, configuration, manifest), then the
//! decoded index comes from the [`IndexCache`], the segment plan from vodpack-media, the sample
//! bytes from [`Storage`] (one ranged read per object per segment), and the output from the
//! media crate's filters and writers. Egress is public (no SigV4), like MediaPackage's.
//!
//! This version serves `hlsPackage` configurations (HLS with MPEG-TS segments); other package
//! types answer 404 with a body saying so.

pub mod cdn_auth;
mod hls;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use vodpack_media::index::MediaIndex;
use vodpack_media::plan::Segmentation;

use crate::api::AppState;
use crate::ingest::cache::IndexCache;
use crate::model::Package;
use crate::repo::{AssetRecord, ConfigRecord};
use crate::resources::manifest_id;

/// What egress handlers need beyond the API state.
pub struct Egress {
    pub cache: IndexCache,
    pub cdn_secrets: cdn_auth::CdnSecrets,
    /// Segment plans per asset incarnation × segment duration: computing one walks every
    /// sample of the reference track, which is too much per request for long assets.
    plans: moka::future::Cache<(String, u32), Arc<Segmentation>>,
}

impl Egress {
    pub fn new(cache: IndexCache, cdn_secrets: cdn_auth::CdnSecrets) -> Egress {
        Egress {
            cache,
            cdn_secrets,
            plans: moka::future::Cache::builder().max_capacity(10_000).build(),
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
}

/// An egress failure: status and a plain-text reason.
#[derive(Debug)]
pub struct EgressError(pub StatusCode, pub String);

impl IntoResponse for EgressError {
    fn into_response(self) -> Response {
        let mut r = (self.0, self.1).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

fn not_found(msg: impl Into<String>) -> EgressError {
    EgressError(StatusCode::NOT_FOUND, msg.into())
}

/// The resolved target of an egress URL.
pub struct Target {
    pub asset: AssetRecord,
    pub config: ConfigRecord,
    /// Position of the manifest in the configuration's list.
    pub manifest: usize,
    pub manifest_name: String,
}

async fn resolve(
    state: &AppState,
    asset: &str,
    config: &str,
    manifest: &str,
) -> Result<Target, EgressError> {
    let internal = |e: crate::repo::RepoError| {
        EgressError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("storage error: {e}"),
        )
    };
    let asset = state
        .repo
        .get_asset_by_egress_id(asset)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found("no such asset"))?;
    let config = state
        .repo
        .get_config_by_egress_id(config)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found("no such packaging configuration"))?;
    if config.packaging_group_id != asset.packaging_group_id {
        return Err(not_found("no such packaging configuration for this asset"));
    }
    let names = config.package.manifest_names();
    let index = (0..names.len())
        .find(|i| manifest_id(&config.egress_id, *i) == manifest)
        .ok_or_else(|| not_found("no such manifest"))?;
    Ok(Target {
        manifest_name: names[index].clone(),
        asset,
        config,
        manifest: index,
    })
}

/// `GET /out/v1/{asset}/{config}/{manifest}/{file}` (HEAD too: axum answers HEAD from GET).
pub async fn serve(
    State(state): State<AppState>,
    Path((asset, config, manifest, file)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    match serve_inner(&state, &asset, &config, &manifest, &file, &headers).await {
        Ok(r) => conditional(r, &headers, &asset, &config, &file).await,
        Err(e) => e.into_response(),
    }
}

/// Validators and byte ranges on a complete response. Outputs are deterministic for an asset
/// incarnation × configuration × file, so the strong ETag is derived from those names (and the
/// build, so a new muxer version does not reuse old validators).
async fn conditional(
    mut r: Response,
    req: &HeaderMap,
    asset: &str,
    config: &str,
    file: &str,
) -> Response {
    let tag = {
        use sha2::{Digest, Sha256};
        let d = Sha256::digest(
            format!("{}|{asset}|{config}|{file}", env!("CARGO_PKG_VERSION")).as_bytes(),
        );
        format!("\"{}\"", hex::encode(&d[..12]))
    };
    if let Ok(v) = HeaderValue::from_str(&tag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r.headers_mut()
        .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let matches = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    if matches {
        let mut nm = StatusCode::NOT_MODIFIED.into_response();
        for h in [header::ETAG, header::CACHE_CONTROL] {
            if let Some(v) = r.headers().get(&h) {
                nm.headers_mut().insert(h, v.clone());
            }
        }
        return nm;
    }
    let Some(range) = req.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return r;
    };
    // Ranges apply to the body we just built; buffer it (segments are a few MB at most).
    let (parts, body) = r.into_parts();
    let bytes = match http_body_util::BodyExt::collect(body).await {
        Ok(c) => c.to_bytes(),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let len = bytes.len() as u64;
    match parse_range(range, len) {
        Some((start, end)) => {
            let mut resp = Response::from_parts(
                parts,
                Body::from(bytes.slice(start as usize..=end as usize)),
            );
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            resp
        }
        None => {
            let mut resp = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            resp
        }
    }
}

/// One `bytes=` range (`a-b`, `a-`, `-n`) within `len` bytes, inclusive; `None` if unsatisfiable
/// or not a single byte range.
fn parse_range(v: &str, len: u64) -> Option<(u64, u64)> {
    let spec = v.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || len == 0 {
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

async fn serve_inner(
    state: &AppState,
    asset: &str,
    config: &str,
    manifest: &str,
    file: &str,
    headers: &HeaderMap,
) -> Result<Response, EgressError> {
    let target = resolve(state, asset, config, manifest).await?;
    let group = state
        .repo
        .get_group(&target.asset.packaging_group_id)
        .await
        .map_err(|e| {
            EgressError(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("storage error: {e}"),
            )
        })?;
    if let Some(secret) = group
        .as_ref()
        .and_then(|g| g.authorization.as_ref())
        .and_then(|a| a.cdn_identifier_secret.as_deref())
    {
        let presented = headers.get(cdn_auth::HEADER).and_then(|v| v.to_str().ok());
        if !state.egress.cdn_secrets.allows(secret, presented) {
            return Err(EgressError(
                StatusCode::FORBIDDEN,
                "CDN authorization failed: missing or wrong X-MediaPackage-CDNIdentifier".into(),
            ));
        }
    }
    if target.asset.status != "PLAYABLE" {
        return Err(not_found(format!(
            "asset '{}' is not playable yet (status {})",
            target.asset.id, target.asset.status
        )));
    }
    let index = state
        .egress
        .cache
        .get(&target.asset)
        .await
        .map_err(|e| EgressError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?
        .ok_or_else(|| not_found("asset index not found"))?;
    match &target.config.package {
        Package::HlsPackage(p) => hls::serve(state, &target, p, &index, file).await,
        _ => Err(not_found(
            "this packaging configuration type is not served by this version yet (HLS is)",
        )),
    }
}

/// A successful egress response.
pub fn ok(content_type: &'static str, cache: &'static str, body: impl Into<Body>) -> Response {
    let mut r = (StatusCode::OK, body.into()).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

/// Shared handle type stored in the API state.
pub type EgressHandle = Arc<Egress>;
