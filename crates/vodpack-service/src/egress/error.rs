//! Egress failures and the status each answers. A client (player, CDN) acts on the status, so
//! each kind of failure has its own:
//!
//! - 404: no such asset, configuration, manifest or file; an asset not playable yet; and a
//!   **missing source object** of a playable asset (deleted from the store after ingest): the
//!   file cannot be made until an operator restores the object or re-creates the asset, and
//!   retrying does not help, so it is "not found" rather than "unavailable" (the reason says
//!   which object kind is missing; `Cache-Control: no-store` keeps CDNs from holding it);
//! - 403: CDN authorization failed;
//! - 502: a **damaged source**: the store handed over the version the index describes (or
//!   refused it: denied, invalid, too large), but its bytes do not make the media the index
//!   promises (corrupt NAL lengths, a TS sample running past its segment). Egress is a gateway
//!   to the store here, and what came from upstream is invalid; retrying does not help;
//! - 503 with `Retry-After`: a **changed source** (a re-ingest is started), a source truncated
//!   while it was read, a **store timeout** or failure, the database unreadable: waiting helps;
//!   also the **keys of an encrypted output cannot be had** (key server down, slow, refusing,
//!   answering nonsense): that answer's body is JSON (`{"message", "reason"}`), and nothing
//!   is ever served in the clear instead;
//! - 500: a **bug**: our own data disagrees with itself (an index naming no such object, a
//!   sample outside the bytes we read for it). Logged as an error.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// What kind of failure an egress request met; the status follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No such asset, configuration, manifest or file; an asset not playable yet.
    NotFound,
    /// A source object of a playable asset is gone from the store.
    SourceMissing,
    /// CDN authorization failed.
    Forbidden,
    /// The source's bytes do not make the media its index describes, or the store refuses
    /// the object (denied, invalid name, too large).
    DamagedSource,
    /// The source changed since it was indexed (a re-ingest starts) or while it was read.
    SourceChanged,
    /// The store or the database did not answer in time, or failed.
    Unavailable,
    /// The content keys of an encrypted output cannot be had.
    KeysUnavailable,
    /// Our own data disagrees with itself.
    Bug,
}

impl Failure {
    pub fn status(self) -> StatusCode {
        match self {
            Failure::NotFound | Failure::SourceMissing => StatusCode::NOT_FOUND,
            Failure::Forbidden => StatusCode::FORBIDDEN,
            Failure::DamagedSource => StatusCode::BAD_GATEWAY,
            Failure::SourceChanged | Failure::Unavailable | Failure::KeysUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Failure::Bug => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An egress failure: its kind and a plain-text reason (never an internal endpoint or path:
/// storage details go to the log).
#[derive(Debug)]
pub struct EgressError {
    pub failure: Failure,
    pub message: String,
    /// Seconds after which trying again may succeed (`Retry-After`): set for
    /// [`Failure::SourceChanged`] and [`Failure::Unavailable`], never for the others.
    pub retry_after: Option<u32>,
    /// The asset's source is not what its index describes: the asset must be ingested again.
    pub source_changed: Option<String>,
}

impl EgressError {
    pub fn new(failure: Failure, message: impl Into<String>) -> EgressError {
        let retry_after = matches!(
            failure,
            Failure::SourceChanged | Failure::Unavailable | Failure::KeysUnavailable
        )
        .then_some(RETRY_AFTER);
        EgressError {
            failure,
            message: message.into(),
            retry_after,
            source_changed: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.failure.status()
    }

    /// 502: the source's bytes do not make the media its index describes (see the module
    /// comment).
    pub fn damaged(e: impl std::fmt::Display) -> EgressError {
        tracing::warn!(error = %e, "egress cannot make a file: the source is damaged");
        EgressError::new(
            Failure::DamagedSource,
            format!("cannot make this file: the source media is damaged ({e})"),
        )
    }

    /// 500: our own data disagrees with itself.
    pub fn bug(e: impl std::fmt::Display) -> EgressError {
        tracing::error!(error = %e, "egress bug");
        EgressError::new(Failure::Bug, format!("an internal error occurred: {e}"))
    }

    /// 503 with `Retry-After`: the store or the database is slow or failing.
    pub fn unavailable(message: impl Into<String>) -> EgressError {
        EgressError::new(Failure::Unavailable, message)
    }

    /// 503 with `Retry-After`: the source changed; with `reingest`, the detail for the log and
    /// the event, which starts a new incarnation of the asset.
    pub fn source_changed(message: impl Into<String>, reingest: Option<String>) -> EgressError {
        EgressError {
            source_changed: reingest,
            ..EgressError::new(Failure::SourceChanged, message)
        }
    }
}

impl IntoResponse for EgressError {
    fn into_response(self) -> Response {
        let json = self.failure == Failure::KeysUnavailable;
        let status = self.status();
        let body = if json {
            serde_json::json!({"message": self.message, "reason": "KeysUnavailable"}).to_string()
        } else {
            self.message
        };
        let mut r = (status, body).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(if json {
                "application/json"
            } else {
                "text/plain; charset=utf-8"
            }),
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
    EgressError::new(Failure::NotFound, msg)
}

/// Seconds a client is asked to wait while an asset is (re-)ingested or the store recovers.
pub(crate) const RETRY_AFTER: u32 = 5;

/// The packaging chain's failures, each with its status: a file the layout does not have is
/// 404, a source that is not what its index says 502, our own data disagreeing with itself 500.
impl From<vodpack_media::package::PackageError> for EgressError {
    fn from(e: vodpack_media::package::PackageError) -> EgressError {
        use vodpack_media::package::PackageError as P;
        match e {
            P::NotFound(reason) => not_found(reason),
            P::Damaged(reason) => EgressError::damaged(reason),
            P::Bug(reason) => EgressError::bug(reason),
        }
    }
}
