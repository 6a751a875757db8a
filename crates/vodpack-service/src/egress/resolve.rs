//! Resolution: what an egress URL's asset and configuration ids name (asset, configuration,
//! group, the configuration's manifests), read from the database and cached a few seconds for
//! playable assets (dropped on every change through this node's API).

use std::sync::Arc;
use std::time::Duration;

use super::error::not_found;
use super::{Egress, EgressError};
use vodpack_media::package::PackageSpec;

use crate::repo::{AssetRecord, AssetStatus, ConfigRecord, GroupRecord};
use crate::resources::manifest_id;

/// How long a resolution (asset, configuration, group) is reused. Changes made through this
/// node's API drop them at once; this bounds how long other nodes of a fleet serve a deleted
/// asset or an old CDN secret name.
pub(super) const RESOLUTION_TTL: Duration = Duration::from_secs(5);

/// What an egress URL's asset and configuration ids resolve to, with what follows from them
/// alone (worked out once per resolution, not per request).
pub(super) struct Resolved {
    pub(super) asset: AssetRecord,
    /// The packaging configuration (its keys are fetched by asset × configuration).
    pub(super) config: ConfigRecord,
    /// The asset's creation time in ms (the origin of program date-times), parsed once here
    /// rather than per request.
    pub(super) created_at_ms: Option<i64>,
    /// The asset's incarnation key (egress caches, ETags), made once per resolution.
    pub(super) incarnation: String,
    pub(super) group: Option<GroupRecord>,
    /// The configuration's package, validated (defaults applied): the stored wire form is not
    /// kept, nothing below resolution reads it.
    pub(super) spec: Arc<PackageSpec>,
    /// (egress id, name) of each manifest of the configuration, in order.
    pub(super) manifests: Vec<(String, String)>,
    /// `Last-Modified` of every output: outputs change only when the asset or the
    /// configuration is re-created.
    pub(super) modified: String,
}

pub(super) type Resolution = Arc<Resolved>;

fn storage_error(e: crate::repo::RepoError) -> EgressError {
    tracing::warn!(error = %e, "egress cannot read the database");
    EgressError::unavailable("the service cannot read its database; try again")
}

/// Asset, configuration and group of an egress URL (cached for playable assets).
pub(super) async fn resolve(
    state: &Egress,
    asset: &str,
    config: &str,
) -> Result<Resolution, EgressError> {
    let key = (asset.to_string(), config.to_string());
    if let Some(hit) = state.resolutions.get(&key).await {
        return Ok(hit);
    }
    let generation = state.generation.load(std::sync::atomic::Ordering::SeqCst);
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
    let modified = super::respond::http_date(asset.outputs_since().max(config.created_at.as_str()));
    let r = Arc::new(Resolved {
        incarnation: asset.incarnation_key(),
        created_at_ms: super::created_at_ms(&asset.created_at),
        asset,
        config,
        group,
        spec,
        manifests,
        modified,
    });
    let unchanged = state.generation.load(std::sync::atomic::Ordering::SeqCst) == generation;
    if playable && unchanged {
        state.resolutions.insert(key, r.clone()).await;
    }
    Ok(r)
}
