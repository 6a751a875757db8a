//! Packaging configurations: Create, Describe, List and Delete (they cannot be edited).

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::pagination::{self, ListKind};
use super::{AppState, PathParam, json, now_rfc3339, parse_body, validate};
use crate::error::{ApiError, ApiResult};
use crate::model::*;
use crate::repo::{ConfigRecord, ResourceKind};
use crate::resources::{arn, new_egress_id};

fn render(state: &AppState, c: ConfigRecord) -> PackagingConfigurationOut {
    let mut out = PackagingConfigurationOut {
        arn: arn(
            &state.config.region,
            &state.config.account_id,
            ResourceKind::PackagingConfiguration,
            &c.id,
        ),
        cmaf_package: None,
        created_at: c.created_at,
        dash_package: None,
        hls_package: None,
        id: c.id,
        mss_package: None,
        packaging_group_id: c.packaging_group_id,
        tags: c.tags,
    };
    match c.package {
        Package::HlsPackage(p) => out.hls_package = Some(p),
        Package::CmafPackage(p) => out.cmaf_package = Some(p),
        Package::DashPackage(p) => out.dash_package = Some(p),
        Package::MssPackage(p) => out.mss_package = Some(p),
    }
    out
}

pub async fn create(State(state): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let req: CreatePackagingConfigurationRequest = parse_body(&body)?;
    let id = validate::resource_id(&req.id, "id")?;
    let group = validate::resource_id(&req.packaging_group_id, "packagingGroupId")?;
    let package = validate::package_with(&req, &state.config.speke_url_policy)?;
    let tags = req.tags.unwrap_or_default();
    validate::tags(&tags)?;
    let record = ConfigRecord {
        id,
        packaging_group_id: group,
        created_at: now_rfc3339(),
        package,
        egress_id: new_egress_id(),
        tags,
    };
    state
        .repo
        .create_config(&record, state.config.quotas)
        .await?;
    tracing::info!(id = %record.id, group = %record.packaging_group_id, "packaging configuration created");
    Ok(json(StatusCode::OK, &render(&state, record)))
}

pub async fn describe(
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> ApiResult<Response> {
    let c = state.repo.get_config(&id).await?.ok_or_else(|| {
        ApiError::not_found(format!("PackagingConfiguration '{id}' does not exist"))
    })?;
    Ok(json(StatusCode::OK, &render(&state, c)))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
    packaging_configurations: Vec<PackagingConfigurationOut>,
}

pub async fn list(State(state): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let p = pagination::parse(q.as_deref(), ListKind::PackagingConfigurations, true)?;
    let page = state
        .repo
        .list_configs(p.packaging_group_id.as_deref(), p.after_seq, p.max_results)
        .await?;
    let next_token = pagination::next_token(ListKind::PackagingConfigurations, &page);
    let packaging_configurations = page
        .items
        .into_iter()
        .map(|(_, c)| render(&state, c))
        .collect();
    Ok(json(
        StatusCode::OK,
        &ListOut {
            next_token,
            packaging_configurations,
        },
    ))
}

/// Deleting a configuration removes its egress endpoint from every asset of the group.
pub async fn delete(
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> ApiResult<Response> {
    state.repo.delete_config(&id).await?;
    state.egress.forget_resolutions();
    tracing::info!(id = %id, "packaging configuration deleted");
    Ok(json(StatusCode::ACCEPTED, &serde_json::json!({})))
}
