//! API errors in the restJson1 shape the AWS SDKs parse.
//!
//! Every error carries the type in the `x-amzn-ErrorType` header *and* as `__type` in the body,
//! and the text as `message`: botocore, the Rust SDK and the other restJson1 parsers read one or
//! the other (see `API-CONTRACT.md` §4). The request id header is added by the router's
//! outermost layer, so it is on errors too.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The modelled error shapes, plus the few HTTP-level failures the model does not cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    UnprocessableEntity,
    Forbidden,
    NotFound,
    TooManyRequests,
    InternalServerError,
    ServiceUnavailable,
    /// 413: the body is larger than the configured limit.
    PayloadTooLarge,
    /// 405: a known resource path with a method it does not have.
    MethodNotAllowed,
    /// 400: a request head that is not HTTP/1.1 (answered for the HTTP layer).
    BadRequest,
    /// 414: a request target longer than the HTTP layer takes.
    UriTooLong,
    /// 431: too many header lines, or a head too large.
    RequestHeaderFieldsTooLarge,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::UnprocessableEntity => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::UriTooLong => StatusCode::URI_TOO_LONG,
            ErrorKind::RequestHeaderFieldsTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        }
    }

    pub fn type_name(self) -> &'static str {
        match self {
            ErrorKind::UnprocessableEntity => "UnprocessableEntityException",
            ErrorKind::Forbidden => "ForbiddenException",
            ErrorKind::NotFound => "NotFoundException",
            ErrorKind::TooManyRequests => "TooManyRequestsException",
            ErrorKind::InternalServerError => "InternalServerErrorException",
            ErrorKind::ServiceUnavailable => "ServiceUnavailableException",
            ErrorKind::PayloadTooLarge => "PayloadTooLargeException",
            ErrorKind::MethodNotAllowed => "MethodNotAllowedException",
            ErrorKind::BadRequest => "BadRequestException",
            ErrorKind::UriTooLong => "UriTooLongException",
            ErrorKind::RequestHeaderFieldsTooLarge => "RequestHeaderFieldsTooLargeException",
        }
    }
}

/// An error answer of the control plane.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {message}", kind.type_name())]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::UnprocessableEntity, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }
    pub fn too_many(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::TooManyRequests, message)
    }
    /// An unexpected failure: the detail goes to the log, the client gets a generic text.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            ErrorKind::InternalServerError,
            "An unexpected error occurred; see the server log for this request id",
        )
    }
}

impl ApiError {
    /// The JSON body: `{"message", "__type"}`.
    pub fn body(&self) -> String {
        serde_json::json!({
            "message": self.message,
            "__type": self.kind.type_name(),
        })
        .to_string()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.kind.status(), self.body()).into_response();
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            "x-amzn-ErrorType",
            HeaderValue::from_static(self.kind.type_name()),
        );
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
