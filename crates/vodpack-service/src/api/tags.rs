//! TagResource, UntagResource and ListTagsForResource on the three resource ARNs.
//!
//! The ARN arrives percent-encoded as one path segment (`/tags/arn%3Aaws%3A…%2Fid`, what the
//! SDKs send) or unencoded with its `/` (hand-written clients); the `{*arn}` route takes both.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::{AppState, PathParam, json, parse_body, validate};
use crate::error::{ApiError, ApiResult};
use crate::model::{TagResourceRequest, Tags};
use crate::repo::{RepoError, ResourceKind};
use crate::resources::{ArnProblem, parse_arn};

fn resolve(state: &AppState, arn: &str) -> ApiResult<(ResourceKind, String)> {
    parse_arn(arn, &state.config.region, &state.config.account_id).map_err(|p| match p {
        ArnProblem::Malformed => ApiError::unprocessable(format!(
            "'{arn}' is not a MediaPackage VOD resource ARN (arn:aws:mediapackage-vod:REGION:ACCOUNT:assets|packaging-configurations|packaging-groups/ID)"
        )),
        ArnProblem::Elsewhere => ApiError::not_found(format!(
            "resource '{arn}' does not exist (this server is region {} and account {})",
            state.config.region, state.config.account_id
        )),
    })
}

fn missing(arn: &str) -> ApiError {
    ApiError::not_found(format!("resource '{arn}' does not exist"))
}

fn map_missing(arn: &str) -> impl FnOnce(RepoError) -> ApiError + '_ {
    move |e| match e {
        RepoError::NotFound { .. } => missing(arn),
        other => other.into(),
    }
}

#[derive(Serialize)]
struct ListOut {
    tags: Tags,
}

pub async fn list(State(state): State<AppState>, PathParam(arn): PathParam) -> ApiResult<Response> {
    let (kind, id) = resolve(&state, &arn)?;
    let tags = state
        .repo
        .get_tags(kind, &id)
        .await?
        .ok_or_else(|| missing(&arn))?;
    Ok(json(StatusCode::OK, &ListOut { tags }))
}

pub async fn tag(
    State(state): State<AppState>,
    PathParam(arn): PathParam,
    body: Bytes,
) -> ApiResult<Response> {
    let (kind, id) = resolve(&state, &arn)?;
    let req: TagResourceRequest = parse_body(&body)?;
    let tags = validate::required(&req.tags, "tags")?;
    validate::tags(tags)?;
    state
        .repo
        .add_tags(kind, &id, tags, validate::MAX_TAGS)
        .await
        .map_err(map_missing(&arn))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `tagKeys` comes as repeated keys (what the SDKs send) or comma-separated (the model's doc).
pub async fn untag(
    State(state): State<AppState>,
    PathParam(arn): PathParam,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let (kind, id) = resolve(&state, &arn)?;
    let mut keys = Vec::new();
    let mut given = false;
    for (k, v) in form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes()) {
        if k == "tagKeys" {
            given = true;
            keys.extend(v.split(',').filter(|s| !s.is_empty()).map(str::to_string));
        }
    }
    if !given || keys.is_empty() {
        return Err(ApiError::unprocessable("tagKeys is required"));
    }
    for k in &keys {
        validate::tag_key(k)?;
    }
    state
        .repo
        .remove_tags(kind, &id, &keys)
        .await
        .map_err(map_missing(&arn))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
