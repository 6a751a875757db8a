//! The HTTP answer for a rendered file: content type, caching headers, `Last-Modified`, gzip
//! for manifests when asked, strong validators and conditional GET, byte ranges, and the body
//! that carries the file with its exact length.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::render::TsStream;
use super::rendered::{Body as RenderedBody, Caching, Rendered};

const MANIFEST_CACHE: &str = "public, max-age=60";
const MEDIA_CACHE: &str = "public, max-age=31536000, immutable";

/// Whether the client accepts gzip (`Accept-Encoding`, q-values honoured; an explicit
/// `gzip;q=0` wins over `*`).
fn accepts_gzip(req: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut star = None;
    for item in req
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .filter_map(|q| q.trim().parse::<f32>().ok())
            .next()
            .unwrap_or(1.0);
        if coding.eq_ignore_ascii_case("gzip") {
            gzip = Some(q > 0.0);
        } else if coding == "*" {
            star = Some(q > 0.0);
        }
    }
    gzip.or(star).unwrap_or(false)
}

fn gzip(body: &[u8]) -> Option<Bytes> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(body).ok()?;
    e.finish().ok().map(Bytes::from)
}

/// A response body with its exact length known (so it goes out with `Content-Length`, not
/// chunked): an output's buffers in order, or an MPEG-TS segment muxed as it is sent. An error
/// mid-way (the source truncated under a streamed segment) ends the body early, and the
/// connection with it, since the length was promised.
struct Sending {
    source: Source,
    remaining: u64,
}

enum Source {
    Parts(std::vec::IntoIter<Bytes>),
    Stream(Box<TsStream>),
}

impl Sending {
    fn new(body: RenderedBody) -> Sending {
        let remaining = body.len();
        let source = match body {
            RenderedBody::Parts(parts) => Source::Parts(parts.into_iter()),
            RenderedBody::Stream(stream) => Source::Stream(stream),
        };
        Sending { source, remaining }
    }
}

impl http_body::Body for Sending {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let next = match &mut self.source {
            Source::Parts(parts) => parts.next().map(Ok),
            Source::Stream(stream) => stream.next_chunk(),
        };
        std::task::Poll::Ready(next.map(|piece| match piece {
            Ok(b) => {
                self.remaining = self.remaining.saturating_sub(b.len() as u64);
                Ok(http_body::Frame::data(b))
            }
            Err(e) => {
                tracing::warn!(error = %e.message, "segment cut off");
                Err(std::io::Error::other(e.message))
            }
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.remaining)
    }
}

/// Identifies this build's outputs in ETags: a hash of the running executable, so a new
/// muxer or manifest writer never answers 304 to a validator of the old one's bytes.
fn build_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        use sha2::{Digest, Sha256};
        let exe = std::env::current_exe().and_then(std::fs::read);
        match exe {
            Ok(bytes) => hex::encode(&Sha256::digest(&bytes)[..8]),
            Err(_) => env!("CARGO_PKG_VERSION").to_string(),
        }
    })
}

/// Compares entity tags weakly (RFC 9110 §8.8.3.2), as `If-None-Match` requires.
fn weak_eq(a: &str, b: &str) -> bool {
    a.trim().trim_start_matches("W/") == b.trim().trim_start_matches("W/")
}

/// The HTTP response for a rendered file: type, caching, `Last-Modified`, gzip for
/// manifests when asked, strong validators, conditional GET and byte ranges.
pub(super) async fn respond(
    out: Rendered,
    modified: &str,
    req: &HeaderMap,
    incarnation: &str,
    config: &str,
    manifest: &str,
    file: &str,
) -> Response {
    let compress = out.caching == Caching::Manifest && out.len() > 256 && accepts_gzip(req);
    let content_type = out.content_type;
    let caching = out.caching;
    let body = if compress {
        match out.into_bytes() {
            Ok(whole) => RenderedBody::Parts(vec![gzip(&whole).unwrap_or(whole)]),
            Err(e) => return e.into_response(),
        }
    } else {
        out.body
    };
    let len = body.len();
    // Outputs are deterministic for an asset incarnation × configuration × file × build, so
    // the strong ETag is derived from those names, not from the bytes.
    let tag = {
        use sha2::{Digest, Sha256};
        let d = Sha256::digest(
            format!(
                "{}|{incarnation}|{config}|{manifest}/{file}|{}",
                build_id(),
                if compress { "gzip" } else { "identity" }
            )
            .as_bytes(),
        );
        format!("\"{}\"", hex::encode(&d[..12]))
    };
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(match caching {
            Caching::Manifest => MANIFEST_CACHE,
            Caching::Media => MEDIA_CACHE,
        }),
    );
    if caching == Caching::Manifest {
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if compress {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if let Ok(v) = HeaderValue::from_str(modified) {
        h.insert(header::LAST_MODIFIED, v);
    }
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));

    let not_modified = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == "*" || weak_eq(t, &tag)));
    if not_modified {
        let mut nm = StatusCode::NOT_MODIFIED.into_response();
        for name in [
            header::ETAG,
            header::CACHE_CONTROL,
            header::VARY,
            header::LAST_MODIFIED,
        ] {
            if let Some(v) = h.get(&name) {
                nm.headers_mut().insert(name, v.clone());
            }
        }
        return nm;
    }
    // A Range applies only if If-Range (when sent) still names this representation; other
    // units and multiple ranges are answered with the whole body (RFC 9110 §14.2).
    let if_range_ok = req
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim() == tag || v.trim() == modified);
    let range = req
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| if_range_ok)
        .and_then(|v| v.trim().strip_prefix("bytes="))
        .filter(|spec| !spec.contains(','));
    let Some(spec) = range else {
        let mut r = Response::new(Body::new(Sending::new(body)));
        *r.headers_mut() = h;
        return r;
    };
    match parse_range(spec, len) {
        Some((start, end)) => {
            let whole = match body.into_bytes() {
                Ok(whole) => whole,
                Err(e) => return e.into_response(),
            };
            let mut r = Response::new(Body::from(whole.slice(start as usize..=end as usize)));
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            *r.headers_mut() = h;
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            r
        }
        None => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            r
        }
    }
}

/// An RFC 3339 time as an HTTP date (`Last-Modified`).
pub(super) fn http_date(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|_| chrono::Utc::now())
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// One byte range spec (`a-b`, `a-`, `-n`, after `bytes=`) within `len` bytes, inclusive;
/// `None` if unsatisfiable.
fn parse_range(spec: &str, len: u64) -> Option<(u64, u64)> {
    if len == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 {
            return None;
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            len - 1
        } else {
            b.parse::<u64>().ok()?.min(len - 1)
        };
        (start, end)
    };
    (start <= end && start < len).then_some((start, end))
}
