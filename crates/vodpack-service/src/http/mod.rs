//! The HTTP front: [`router`] composes every route the service answers (the control-plane API,
//! egress, and the room for the coming metrics and console routes) under the layers they all
//! share; [`conn`] carries each accepted connection (egress on our own HTTP/1.1 writer, the rest
//! by hyper); [`observe`] gives every response its request id and CORS headers and writes the
//! access-log line once the body has been sent (or cut off).
//!
//! Layers, from the outside in: observation (request id, CORS, access log), panic guard (a bug
//! is a 500 in the AWS error shape), then the routes: API routes behind the SigV4 check
//! ([`crate::api::routes`]), egress routes public ([`crate::egress::routes`]), anything else a
//! JSON 404.

/// Public for the fuzz target of the request-head parser ([`conn::parse`]).
pub mod conn;
pub mod observe;

use axum::Router;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;

use crate::error::{ApiError, ErrorKind};
use crate::state::AppState;

/// Every route of the service with its shared layers.
pub fn router(state: AppState) -> Router {
    let egress = crate::egress::routes(state.egress.clone());
    Router::new()
        .merge(crate::api::routes(state))
        .merge(egress)
        // Metrics and console routes go here, each with its own state.
        .fallback(unknown_route)
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a handler panicked");
            ApiError::new(
                ErrorKind::InternalServerError,
                "An unexpected error occurred",
            )
            .into_response()
        }))
        .layer(middleware::from_fn(observe::observe))
}

async fn unknown_route() -> Response {
    ApiError::not_found("no such resource path in the MediaPackage VOD API").into_response()
}
