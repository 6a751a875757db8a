//! Assets: Create, Describe, List and Delete (they cannot be edited).
//!
//! An asset gets one egress endpoint per packaging configuration of its group, computed at read
//! time, so a configuration added later appears on existing assets and a deleted one vanishes.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::pagination::{self, ListKind};
use super::{AppState, PathParam, json, now_rfc3339, parse_body, validate};
use crate::error::{ApiError, ApiResult};
use crate::model::*;
use crate::repo::{AssetRecord, AssetStatus, ResourceKind};
use crate::resources::{arn, egress_endpoint_url, new_egress_id};

fn shallow(state: &AppState, a: AssetRecord) -> AssetOut {
    AssetOut {
        arn: arn(
            &state.config.region,
            &state.config.account_id,
            ResourceKind::Asset,
            &a.id,
        ),
        created_at: a.created_at,
        egress_endpoints: None,
        id: a.id,
        packaging_group_id: a.packaging_group_id,
        resource_id: a.resource_id,
        source_arn: a.source_arn,
        source_role_arn: a.source_role_arn,
        tags: a.tags,
    }
}

async fn full(state: &AppState, a: AssetRecord) -> ApiResult<AssetOut> {
    let configs = state.repo.configs_of_group(&a.packaging_group_id).await?;
    let endpoints = configs
        .iter()
        .map(|c| EgressEndpointOut {
            packaging_configuration_id: c.id.clone(),
            status: a.status.as_str().to_string(),
            url: egress_endpoint_url(&state.config.public_url, &a.egress_id, c),
        })
        .collect();
    let mut out = shallow(state, a);
    out.egress_endpoints = Some(endpoints);
    Ok(out)
}

pub async fn create(State(state): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let req: CreateAssetRequest = parse_body(&body)?;
    let id = validate::resource_id(&req.id, "id")?;
    let group = validate::resource_id(&req.packaging_group_id, "packagingGroupId")?;
    let source_arn = validate::required(&req.source_arn, "sourceArn")?;
    crate::source_arn::source_object(source_arn)
        .map_err(|m| ApiError::unprocessable(format!("sourceArn: {m}")))?;
    let role = validate::required(&req.source_role_arn, "sourceRoleArn")?;
    validate::iam_role_arn(role, "sourceRoleArn")?;
    if let Some(r) = &req.resource_id
        && (r.is_empty() || r.len() > 256 || r.chars().any(char::is_control))
    {
        return Err(ApiError::unprocessable(
            "resourceId must be 1 to 256 characters without control characters",
        ));
    }
    let tags = req.tags.clone().unwrap_or_default();
    validate::tags(&tags)?;
    let record = AssetRecord {
        id,
        packaging_group_id: group,
        created_at: now_rfc3339(),
        source_arn: source_arn.clone(),
        source_role_arn: role.clone(),
        resource_id: req.resource_id.clone(),
        egress_id: new_egress_id(),
        status: AssetStatus::Queued,
        ingest_error: None,
        incarnation: 1,
        incarnated_at: None,
        ingest_attempts: 0,
        tags,
    };
    state
        .repo
        .create_asset(&record, state.config.quotas)
        .await?;
    // An idle worker claims it now rather than at its next poll.
    state.ingest.wake();
    tracing::info!(id = %record.id, group = %record.packaging_group_id, source = %record.source_arn, "asset created");
    let out = full(&state, record).await?;
    Ok(json(StatusCode::OK, &out))
}

pub async fn describe(
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> ApiResult<Response> {
    let a = state
        .repo
        .get_asset(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Asset '{id}' does not exist")))?;
    let out = full(&state, a).await?;
    Ok(json(StatusCode::OK, &out))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListOut {
    assets: Vec<AssetOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// ListAssets returns `AssetShallow`s: no egress endpoints.
pub async fn list(State(state): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let p = pagination::parse(q.as_deref(), ListKind::Assets, true)?;
    let page = state
        .repo
        .list_assets(p.packaging_group_id.as_deref(), p.after_seq, p.max_results)
        .await?;
    let next_token = pagination::next_token(ListKind::Assets, &page);
    let assets = page
        .items
        .into_iter()
        .map(|(_, a)| shallow(&state, a))
        .collect();
    Ok(json(StatusCode::OK, &ListOut { assets, next_token }))
}

pub async fn delete(
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> ApiResult<Response> {
    let incarnation = state
        .repo
        .get_asset(&id)
        .await?
        .map(|a| a.incarnation_key());
    state.repo.delete_asset(&id).await?;
    state.ingest.cancel(&id);
    state.egress.forget_resolutions();
    if let Some(key) = incarnation {
        state.egress.cache.invalidate(&key).await;
    }
    tracing::info!(id = %id, "asset deleted");
    Ok(json(StatusCode::ACCEPTED, &serde_json::json!({})))
}
