//! The MediaPackage VOD control-plane REST API (restJson1), wire-compatible with the AWS SDKs.
//!
//! One file per resource (`packaging_groups`, `packaging_configurations`, `assets`, `tags`),
//! their routes ([`routes`]: each behind the SigV4 check with the body-size limit,
//! [`crate::auth::require_signature`], with its CORS preflight and JSON 405), [`validate`] for
//! member rules and [`pagination`] for list tokens. The layers every route shares (request id,
//! CORS, access log, panic guard) are added where the routes are composed (the `http` module).

pub mod assets;
pub mod packaging_configurations;
pub mod packaging_groups;
pub mod pagination;
pub mod tags;
pub mod validate;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post, put};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::repo::RepoError;
pub use crate::state::AppState;

/// Headers a browser client may send (CORS preflight answer).
const CORS_ALLOW_HEADERS: &str = "Authorization, Content-Type, X-Amz-Date, X-Amz-Security-Token, X-Amz-Content-Sha256, X-Amz-User-Agent, X-Api-Key, Amz-Sdk-Invocation-Id, Amz-Sdk-Request";
/// The control-plane routes, each behind the signature check (the shared layers are added by
/// the `http` module).
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route(
            "/packaging_groups",
            resource(
                get(packaging_groups::list).post(packaging_groups::create),
                "GET, POST, OPTIONS",
            ),
        )
        .route(
            "/packaging_groups/{id}",
            resource(
                get(packaging_groups::describe)
                    .put(packaging_groups::update)
                    .delete(packaging_groups::delete),
                "GET, PUT, DELETE, OPTIONS",
            ),
        )
        .route(
            "/packaging_groups/{id}/configure_logs",
            resource(put(packaging_groups::configure_logs), "PUT, OPTIONS"),
        )
        .route(
            "/packaging_configurations",
            resource(
                get(packaging_configurations::list).post(packaging_configurations::create),
                "GET, POST, OPTIONS",
            ),
        )
        .route(
            "/packaging_configurations/{id}",
            resource(
                get(packaging_configurations::describe).delete(packaging_configurations::delete),
                "GET, DELETE, OPTIONS",
            ),
        )
        .route(
            "/assets",
            resource(get(assets::list).post(assets::create), "GET, POST, OPTIONS"),
        )
        .route(
            "/assets/{id}",
            resource(
                get(assets::describe).delete(assets::delete),
                "GET, DELETE, OPTIONS",
            ),
        )
        .route(
            "/tags/{*arn}",
            resource(
                get(tags::list).merge(post(tags::tag)).delete(tags::untag),
                "GET, POST, DELETE, OPTIONS",
            ),
        )
        // Only these routes are signed; egress is public, as MediaPackage's is.
        .route_layer(middleware::from_fn_with_state(
            state.signature.clone(),
            crate::auth::require_signature,
        ))
        .with_state(state)
}

/// Adds the CORS preflight answer and the JSON 405 to a resource's method router.
fn resource(methods: MethodRouter<AppState>, allow: &'static str) -> MethodRouter<AppState> {
    methods
        .options(move || async move { preflight(allow) })
        .fallback(move || async move {
            let mut resp = ApiError::new(
                ErrorKind::MethodNotAllowed,
                format!("this resource accepts {allow}"),
            )
            .into_response();
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            resp
        })
}

fn preflight(allow: &'static str) -> Response {
    let mut resp = StatusCode::OK.into_response();
    let h = resp.headers_mut();
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static(allow),
    );
    h.insert(
        "access-control-allow-headers",
        HeaderValue::from_static(CORS_ALLOW_HEADERS),
    );
    h.insert("access-control-max-age", HeaderValue::from_static("86400"));
    resp
}

/// Parses a JSON body; an empty body counts as `{}`. Errors name the offending member.
pub fn parse_body<T: DeserializeOwned + Default>(body: &Bytes) -> ApiResult<T> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(T::default());
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::unprocessable(format!("the request body is not valid JSON: {inner}"))
        } else if path == "." {
            ApiError::unprocessable(format!("the request body must be a JSON object: {inner}"))
        } else {
            ApiError::unprocessable(format!("{path}: {inner}"))
        }
    })?;
    // Trailing data after the object ("{}x") is malformed too.
    de.end()
        .map_err(|e| ApiError::unprocessable(format!("the request body is not valid JSON: {e}")))?;
    Ok(value)
}

/// A JSON success response.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// The decoded value of the route's one path parameter (`{id}` or `{*arn}`).
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found("no such resource"))?;
        let (_, value) = raw
            .iter()
            .next()
            .ok_or_else(|| ApiError::not_found("no such resource"))?;
        let decoded = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .map_err(|_| ApiError::unprocessable("the path is not valid UTF-8 once decoded"))?;
        Ok(PathParam(decoded.into_owned()))
    }
}

/// Maps storage outcomes to API errors.
impl From<RepoError> for ApiError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::AlreadyExists { kind, id } => {
                ApiError::unprocessable(format!("{} '{id}' already exists", kind.label()))
            }
            RepoError::NotFound { kind, id } => {
                ApiError::not_found(format!("{} '{id}' does not exist", kind.label()))
            }
            RepoError::GroupNotFound(id) => {
                ApiError::unprocessable(format!("PackagingGroup '{id}' does not exist"))
            }
            RepoError::QuotaExceeded { what, limit } => ApiError::too_many(format!(
                "Too many requests, please try again. Resource limit exceeded: at most {limit} {what}"
            )),
            RepoError::GroupNotEmpty {
                id,
                configurations,
                assets,
            } => ApiError::unprocessable(format!(
                "PackagingGroup '{id}' cannot be deleted: it still has {configurations} packaging configuration(s) and {assets} asset(s); delete them first"
            )),
            RepoError::TooManyTags { limit, would_have } => ApiError::unprocessable(format!(
                "a resource can have at most {limit} tags; this request would give it {would_have}"
            )),
            RepoError::Unavailable(reason) => ApiError::new(
                ErrorKind::ServiceUnavailable,
                format!("Service unavailable: {reason}; try again later"),
            ),
            RepoError::Backend(detail) => ApiError::internal(detail),
        }
    }
}

/// RFC 3339 UTC timestamp with second precision, as `createdAt` carries it.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
