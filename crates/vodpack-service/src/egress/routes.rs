//! The egress route, `/out/v1/{asset}/{config}/{manifest}/{*file}`: public (no SigV4), GET and
//! HEAD answered by [`super::serve`], its CORS preflight, and a 405 in the AWS error shape for
//! other methods. Composed with the API's routes by the `http` module's router.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::Egress;
use crate::error::{ApiError, ErrorKind};

/// Request headers egress always allows in a preflight: ranges, revalidation and the CDN
/// identifier (MediaPackage's CDN authorization header).
const EGRESS_ALLOW_HEADERS: &str =
    "Range, If-Range, If-None-Match, If-Modified-Since, X-MediaPackage-CDNIdentifier";
/// Methods of egress URLs.
const EGRESS_METHODS: &str = "GET, HEAD, OPTIONS";

/// The egress routes with their state.
pub fn routes(egress: Arc<Egress>) -> Router {
    Router::new()
        .route(
            "/out/v1/{asset}/{config}/{manifest}/{*file}",
            get(super::serve)
                .options(egress_preflight)
                .fallback(|| async {
                    let mut resp = ApiError::new(
                        ErrorKind::MethodNotAllowed,
                        format!("egress URLs accept {EGRESS_METHODS}"),
                    )
                    .into_response();
                    resp.headers_mut()
                        .insert(header::ALLOW, HeaderValue::from_static(EGRESS_METHODS));
                    resp
                }),
        )
        .with_state(egress)
}

/// The CORS preflight of an egress URL (public, like every egress request: no CDN identifier,
/// no lookup, so it answers the same for every `/out/` file). The allowed request headers are
/// [`EGRESS_ALLOW_HEADERS`] plus every well-formed name the browser asks for in
/// `Access-Control-Request-Headers`: egress is read-only and answers `*` origins without
/// credentials, so a header a player adds (a token for its own CDN, say) gains it nothing a
/// non-browser client could not do, while refusing it would stop the player. The answer
/// varies with that request header, and says so for caches.
async fn egress_preflight(headers: axum::http::HeaderMap) -> Response {
    let mut allow = EGRESS_ALLOW_HEADERS.to_string();
    let fixed = EGRESS_ALLOW_HEADERS.to_ascii_lowercase();
    let fixed: Vec<&str> = fixed.split(", ").collect();
    let asked = headers
        .get_all("access-control-request-headers")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| {
            !n.is_empty()
                && n.len() <= 64
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        })
        .take(32);
    let mut added: Vec<String> = Vec::new();
    for name in asked {
        if !fixed.contains(&name.as_str()) && !added.contains(&name) {
            allow.push_str(", ");
            allow.push_str(&name);
            added.push(name);
        }
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static(EGRESS_METHODS),
    );
    if let Ok(v) = HeaderValue::from_str(&allow) {
        h.insert("access-control-allow-headers", v);
    }
    h.insert("access-control-max-age", HeaderValue::from_static("86400"));
    h.insert(
        header::VARY,
        HeaderValue::from_static("Access-Control-Request-Headers"),
    );
    resp
}
