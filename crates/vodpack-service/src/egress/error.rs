//! Egress failures and the status each answers. A client (player, CDN) acts on the status, so
//! each kind of failure has its own:
//!
//! - 404: no such asset, configuration, manifest or file; an asset not playable yet; and a
//!   **missing source object** of a playable asset (deleted from the store after ingest): the
//!   file cannot be made until an operator restores the object or re-creates the asset, and
//!   retrying does not help, so it is "not found" rather than "unavailable" (the reason says
//!   which object kind is missing; `Cache-Control: no-store` keeps CDNs from holding it);
//! - 403: CDN authorization failed; 501: encryption asked for, not built;
//! - 502: a **damaged source**: the store handed over the version the index describes (or
//!   refused it: denied, invalid, too large), but its bytes do not make the media the index
//!   promises (corrupt NAL lengths, a TS sample running past its segment). Egress is a gateway
//!   to the store here, and what came from upstream is invalid; retrying does not help;
//! - 503 with `Retry-After`: a **changed source** (a re-ingest is started), a source truncated
//!   while it was read, a **store timeout** or failure, the database unreadable: waiting helps;
//! - 500: a **bug**: our own data disagrees with itself (an index naming no such object, a
//!   sample outside the bytes we read for it). Logged as an error.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An egress failure: status and a plain-text reason (never an internal endpoint or path:
/// storage details go to the log).
#[derive(Debug)]
pub struct EgressError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds after which trying again may succeed (`Retry-After`).
    pub retry_after: Option<u32>,
    /// The asset's source is not what its index describes: the asset must be ingested again.
    pub source_changed: Option<String>,
}

impl EgressError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> EgressError {
        EgressError {
            status,
            message: message.into(),
            retry_after: None,
            source_changed: None,
        }
    }

    /// 502: the source's bytes do not make the media its index describes (see the module
    /// comment).
    pub fn damaged(e: impl std::fmt::Display) -> EgressError {
        tracing::warn!(error = %e, "egress cannot make a file: the source is damaged");
        EgressError::new(
            StatusCode::BAD_GATEWAY,
            format!("cannot make this file: the source media is damaged ({e})"),
        )
    }

    /// 500: our own data disagrees with itself.
    pub fn bug(e: impl std::fmt::Display) -> EgressError {
        tracing::error!(error = %e, "egress bug");
        EgressError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("an internal error occurred: {e}"),
        )
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(message: impl Into<String>, retry_after: u32) -> EgressError {
        EgressError {
            retry_after: Some(retry_after),
            ..EgressError::new(StatusCode::SERVICE_UNAVAILABLE, message)
        }
    }
}

impl IntoResponse for EgressError {
    fn into_response(self) -> Response {
        let mut r = (self.status, self.message).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

pub(crate) fn not_found(msg: impl Into<String>) -> EgressError {
    EgressError::new(StatusCode::NOT_FOUND, msg)
}

/// Seconds a client is asked to wait while an asset is (re-)ingested or the store recovers.
pub(crate) const RETRY_AFTER: u32 = 5;
