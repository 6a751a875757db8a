//! Request observation: a request id, CORS headers and one access-log line per request. The
//! line is written when the response body is done with (sent to the end, cut off by an error,
//! or abandoned by a client that went away), so it carries the bytes handed to the connection
//! and whether the body was complete: a segment cut off mid-way (its source truncated under
//! it, the client gone) shows as `complete=false` with the bytes that did go out.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Body as _, Frame, SizeHint};

/// Response headers a browser client may read from the API.
const CORS_EXPOSE_HEADERS: &str = "x-amzn-RequestId, x-amzn-ErrorType, x-amzn-ErrorMessage, Date";
/// Response headers a player may read from egress: range answers, validators, the request id.
const EGRESS_EXPOSE_HEADERS: &str =
    "Content-Length, Content-Range, Accept-Ranges, ETag, Last-Modified, Date, x-amzn-RequestId";

/// Request id, CORS headers, and the access-log line once the body is done with.
pub async fn observe(req: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let egress = path.starts_with("/out/");
    let started = Instant::now();
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    h.insert(
        "access-control-expose-headers",
        HeaderValue::from_static(if egress {
            EGRESS_EXPOSE_HEADERS
        } else {
            CORS_EXPOSE_HEADERS
        }),
    );
    let status = resp.status().as_u16();
    let (parts, body) = resp.into_parts();
    let observed = Observed {
        inner: body,
        line: AccessLine {
            request_id,
            // A HEAD answer has no body to send: it is complete as it is.
            bodiless: method == Method::HEAD,
            method,
            path,
            status,
            started,
        },
        sent: 0,
        ended: false,
        failed: false,
    };
    Response::from_parts(parts, Body::new(observed))
}

/// What the access-log line says besides the body's fate.
struct AccessLine {
    request_id: String,
    method: Method,
    path: String,
    status: u16,
    started: Instant,
    bodiless: bool,
}

/// A response body that counts what it gives out and logs the request when dropped.
struct Observed {
    inner: Body,
    line: AccessLine,
    /// Body bytes handed to the connection.
    sent: u64,
    /// The body ended (no more frames).
    ended: bool,
    /// The body failed mid-way (the connection is then closed: the length was promised).
    failed: bool,
}

impl http_body::Body for Observed {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.sent += data.len() as u64;
                }
                if this.inner.is_end_stream() {
                    this.ended = true;
                }
            }
            Poll::Ready(Some(Err(_))) => this.failed = true,
            Poll::Ready(None) => this.ended = true,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        let l = &self.line;
        let complete = !self.failed && (self.ended || l.bodiless || self.inner.is_end_stream());
        tracing::info!(
            target: "vodpack::access",
            request_id = %l.request_id,
            method = %l.method,
            path = %l.path,
            status = l.status,
            bytes = self.sent,
            complete,
            micros = l.started.elapsed().as_micros() as u64,
            "request"
        );
    }
}
