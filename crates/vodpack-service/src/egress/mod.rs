//! Egress: just-in-time packaging on `/out/v1/<asset>/<configuration>/<manifest>/<file>`.
//!
//! A request is resolved from the three egress ids (asset, configuration, manifest), then the
//! decoded index comes from the [`IndexCache`], the segment plan from vodpack-media, the sample
//! bytes from [`Storage`] (one ranged read per object per segment), and the output from the
//! media crate's filters and writers. Egress is public (no SigV4), like MediaPackage's.
//!
//! This version serves `hlsPackage` configurations (HLS with MPEG-TS segments); other package
//! types answer 404 with a body saying so.

mod hls;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::api::AppState;
use crate::ingest::cache::IndexCache;
use crate::model::Package;
use crate::repo::{AssetRecord, ConfigRecord};
use crate::resources::manifest_id;

/// What egress handlers need beyond the API state.
pub struct Egress {
    pub cache: IndexCache,
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

/// `GET /out/v1/{asset}/{config}/{manifest}/{file}`.
pub async fn serve(
    State(state): State<AppState>,
    Path((asset, config, manifest, file)): Path<(String, String, String, String)>,
) -> Response {
    match serve_inner(&state, &asset, &config, &manifest, &file).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn serve_inner(
    state: &AppState,
    asset: &str,
    config: &str,
    manifest: &str,
    file: &str,
) -> Result<Response, EgressError> {
    let target = resolve(state, asset, config, manifest).await?;
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
