//! Packaging groups: Create, Describe, List, Update, Delete and ConfigureLogs.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::pagination::{self, ListKind};
use super::{AppState, PathParam, json, now_rfc3339, parse_body, validate};
use crate::error::{ApiError, ApiResult};
use crate::model::*;
use crate::repo::{GroupRecord, RepoError, ResourceKind};
use crate::resources::arn;

/// The wire shape of a group. `approximateAssetCount` only where the model has it
/// (Describe, List, Update), so it is looked up only there.
async fn render(
    state: &AppState,
    g: GroupRecord,
    with_count: bool,
) -> ApiResult<PackagingGroupOut> {
    let approximate_asset_count = if with_count {
        let n = state.repo.count_assets(&g.id).await?;
        Some(i32::try_from(n).unwrap_or(i32::MAX))
    } else {
        None
    };
    Ok(PackagingGroupOut {
        approximate_asset_count,
        arn: arn(
            &state.config.region,
            &state.config.account_id,
            ResourceKind::PackagingGroup,
            &g.id,
        ),
        authorization: g.authorization,
        created_at: g.created_at,
        domain_name: state.config.domain_name(),
        egress_access_logs: g.egress_access_logs,
        id: g.id,
        tags: g.tags,
    })
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("PackagingGroup '{id}' does not exist"))
}

pub async fn create(State(state): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let req: CreatePackagingGroupRequest = parse_body(&body)?;
    let id = validate::resource_id(&req.id, "id")?;
    if let Some(a) = &req.authorization {
        validate::authorization(a)?;
    }
    if let Some(l) = &req.egress_access_logs {
        validate::egress_access_logs(l)?;
    }
    let tags = req.tags.unwrap_or_default();
    validate::tags(&tags)?;
    let record = GroupRecord {
        id,
        created_at: now_rfc3339(),
        authorization: req.authorization,
        egress_access_logs: req.egress_access_logs,
        tags,
    };
    state
        .repo
        .create_group(&record, state.config.quotas)
        .await?;
    tracing::info!(id = %record.id, "packaging group created");
    let out = render(&state, record, false).await?;
    Ok(json(StatusCode::OK, &out))
}

pub async fn describe(
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> ApiResult<Response> {
    let g = state
        .repo
        .get_group(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let out = render(&state, g, true).await?;
    Ok(json(StatusCode::OK, &out))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
    packaging_groups: Vec<PackagingGroupOut>,
}

pub async fn list(State(state): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let p = pagination::parse(q.as_deref(), ListKind::PackagingGroups, false)?;
    let page = state.repo.list_groups(p.after_seq, p.max_results).await?;
    let next_token = pagination::next_token(ListKind::PackagingGroups, &page);
    let mut packaging_groups = Vec::with_capacity(page.items.len());
    for (_, g) in page.items {
        packaging_groups.push(render(&state, g, true).await?);
    }
    Ok(json(
        StatusCode::OK,
        &ListOut {
            next_token,
            packaging_groups,
        },
    ))
}

/// UpdatePackagingGroup: only `authorization` can change; a body without it clears it.
pub async fn update(
    State(state): State<AppState>,
    PathParam(id): PathParam,
    body: Bytes,
) -> ApiResult<Response> {
    let req: UpdatePackagingGroupRequest = parse_body(&body)?;
    if let Some(a) = &req.authorization {
        validate::authorization(a)?;
    }
    let g = state
        .repo
        .set_group_authorization(&id, req.authorization)
        .await?;
    state.egress.forget_resolutions();
    tracing::info!(id = %id, authorized = g.authorization.is_some(), "packaging group updated");
    let out = render(&state, g, true).await?;
    Ok(json(StatusCode::OK, &out))
}

/// ConfigureLogs: sets `egressAccessLogs`; a body without it disables access logging.
pub async fn configure_logs(
    State(state): State<AppState>,
    PathParam(id): PathParam,
    body: Bytes,
) -> ApiResult<Response> {
    let req: ConfigureLogsRequest = parse_body(&body)?;
    if let Some(l) = &req.egress_access_logs {
        validate::egress_access_logs(l)?;
    }
    let g = state
        .repo
        .set_group_logs(&id, req.egress_access_logs)
        .await?;
    tracing::info!(id = %id, enabled = g.egress_access_logs.is_some(), "packaging group logs configured");
    let out = render(&state, g, false).await?;
    Ok(json(StatusCode::OK, &out))
}

pub async fn delete(
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> ApiResult<Response> {
    match state.repo.delete_group(&id).await {
        Ok(()) => {
            state.egress.forget_resolutions();
            tracing::info!(id = %id, "packaging group deleted");
            Ok(json(StatusCode::ACCEPTED, &serde_json::json!({})))
        }
        Err(RepoError::NotFound { .. }) => Err(not_found(&id)),
        Err(e) => Err(e.into()),
    }
}
