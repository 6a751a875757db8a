//! One accepted HTTP/1.1 connection: egress requests answered by our own writer, everything
//! else by hyper.
//!
//! Why this exists: hyper hands a body to the socket at most 16 buffers per `writev` and needs
//! each piece as a frame of its own; a DASH fragment is a header and a hundred or more runs of
//! samples (sources interleave audio and video sample by sample), which egress keeps as slices
//! of the source's mapping so the kernel copies them straight from the page cache. Written here
//! they go out in one or two `sendmsg` calls (up to 256 buffers each, `MSG_MORE` while more
//! follows), and a TS segment leaves 256 KiB at a time while it is still in the CPU's cache.
//! Measured on the egress benchmark: 15% more DASH requests per second than through hyper.
//!
//! Each request head is parsed with `httparse`. A plain `GET`/`HEAD`/`OPTIONS` under `/out/`
//! (HTTP/1.1, no body, no `Expect` or `Upgrade`) goes through the same axum router as everything else and
//! its response is written here. The first request that is anything else (API calls,
//! HTTP/1.0, a head `httparse` refuses, a head over [`MAX_HEAD`]) hands the connection, with
//! the bytes already read, to hyper, which serves it to the end. What to answer is decided by
//! the router in both cases (tests check both answers are identical); this module only parses
//! heads it fully understands and carries bytes.
//!
//! One answer is not the router's: a head hyper cannot parse (400), a target longer than it
//! takes (414), too many or too large header lines (431) are answered by hyper itself, with an
//! empty body, without calling any service. The API promises the AWS error shape on every
//! error, so [`Rewind`] recognises that automatic answer on its way out and sends
//! [`http_error_answer`] in its place.

use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Version, header,
};
use axum::response::Response;
use bytes::{Buf, Bytes, BytesMut};
use http_body::Body as _;
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower::ServiceExt;

/// Largest request head read here; a larger one goes to hyper (which refuses it properly).
const MAX_HEAD: usize = 64 << 10;
/// Most header lines parsed here (hyper's default is 100).
const MAX_HEADERS: usize = 100;
/// How long a started request head may take to arrive (slow-loris guard).
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `stream` until the peer closes it, an error, or `shutdown` changes (then requests in
/// flight finish and idle connections close).
pub async fn serve(stream: TcpStream, app: Router, mut shutdown: watch::Receiver<bool>) {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        let (req, used, close) = match parse(&buf) {
            Head::Complete { req, used, close } => (req, used, close),
            Head::HandOver => return hand_over(stream, buf, app, shutdown).await,
            Head::Partial => {
                if buf.len() > MAX_HEAD {
                    return hand_over(stream, buf, app, shutdown).await;
                }
                // Wait for more of the head: forever between requests (as hyper does), at most
                // HEAD_TIMEOUT once one has started.
                let idle = buf.is_empty();
                let read = async {
                    if idle {
                        Ok(stream_read(&stream, &mut buf).await)
                    } else {
                        tokio::time::timeout(HEAD_TIMEOUT, stream_read(&stream, &mut buf)).await
                    }
                };
                tokio::select! {
                    r = read => match r {
                        Ok(Ok(n)) if n > 0 => continue,
                        _ => return,
                    },
                    _ = shutdown.changed(), if idle => return,
                }
            }
        };
        buf.advance(used);
        let head = req.method() == Method::HEAD;
        let resp = match app.clone().oneshot(*req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        match write_response(&stream, resp, head, close).await {
            Ok(true) if !*shutdown.borrow() => {}
            Ok(_) => return,
            Err(e) => {
                tracing::debug!(error = %e, "egress connection ended while writing");
                return;
            }
        }
    }
}

async fn stream_read(stream: &TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    // `read_buf` needs `&mut`; a shared stream reads through `readable` + `try_read_buf`.
    loop {
        stream.readable().await?;
        match stream.try_read_buf(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            r => return r,
        }
    }
}

/// What the bytes at the start of a connection's buffer are.
#[derive(Debug)]
pub enum Head {
    /// A request for this path, its head `used` bytes long; `close` if it asked for
    /// `Connection: close`.
    Complete {
        req: Box<Request<Body>>,
        used: usize,
        close: bool,
    },
    /// The head is not complete yet.
    Partial,
    /// Anything else: hyper takes the connection.
    HandOver,
}

/// Classifies the request at the start of `buf`: a complete head this module serves (with
/// the request the router gets), an incomplete one, or one for hyper. Pure and total (no
/// panics on any input): fuzzed by `fuzz/fuzz_targets/http_head.rs`.
pub fn parse(buf: &[u8]) -> Head {
    match parse_head(buf) {
        Ok(Some((req, used, close))) => Head::Complete {
            req: Box::new(req),
            used,
            close,
        },
        Ok(None) => Head::Partial,
        Err(()) => Head::HandOver,
    }
}

fn parse_head(buf: &[u8]) -> Result<Option<(Request<Body>, usize, bool)>, ()> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let used = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    let method = match parsed.method {
        Some("GET") => Method::GET,
        Some("HEAD") => Method::HEAD,
        Some("OPTIONS") => Method::OPTIONS,
        _ => return Err(()),
    };
    let path = parsed.path.ok_or(())?;
    if parsed.version != Some(1) || !path.starts_with("/out/") {
        return Err(());
    }
    let mut map = HeaderMap::with_capacity(parsed.headers.len());
    let mut close = false;
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| ())?;
        let value = HeaderValue::from_bytes(h.value).map_err(|_| ())?;
        if name == header::CONTENT_LENGTH {
            if value.as_bytes() != b"0" {
                return Err(());
            }
        } else if name == header::TRANSFER_ENCODING
            || name == header::EXPECT
            || name == header::UPGRADE
        {
            return Err(());
        } else if name == header::CONNECTION {
            for token in value.to_str().map_err(|_| ())?.split(',') {
                let token = token.trim();
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("upgrade") {
                    return Err(());
                }
            }
        }
        map.append(name, value);
    }
    let mut req = Request::new(Body::empty());
    *req.method_mut() = method;
    *req.uri_mut() = path.parse().map_err(|_| ())?;
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = map;
    Ok(Some((req, used, close)))
}

/// Writes one response; `Ok(true)` when the connection stays open for the next request.
async fn write_response(
    stream: &TcpStream,
    resp: Response,
    head_request: bool,
    close_requested: bool,
) -> io::Result<bool> {
    let (parts, mut body) = resp.into_parts();
    let status = parts.status;
    let bodiless = head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let mut headers = parts.headers;
    let keep_alive = !close_requested
        && !headers
            .get_all(header::CONNECTION)
            .iter()
            .any(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    if !keep_alive && !headers.contains_key(header::CONNECTION) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // A body of unannounced length (none of egress's) is gathered first to announce it.
    let mut gathered: Vec<Bytes> = Vec::new();
    if status == StatusCode::NOT_MODIFIED || status == StatusCode::NO_CONTENT {
        // No representation length to announce (hyper drops it as well).
        headers.remove(header::CONTENT_LENGTH);
    } else if declared.is_none() {
        if !bodiless {
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.map_err(io::Error::other)?.into_data() {
                    gathered.push(data);
                }
            }
        }
        let len: u64 = gathered.iter().map(|p| p.len() as u64).sum();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    let mut head = Vec::with_capacity(256 + headers.len() * 48);
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    head.extend_from_slice(b"\r\n");
    for (name, value) in &headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if !headers.contains_key(header::DATE) {
        head.extend_from_slice(b"date: ");
        head.extend_from_slice(http_date().as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    let mut batch = vec![Bytes::from(head)];
    if bodiless {
        send(stream, &batch, false).await?;
        return Ok(keep_alive);
    }
    if declared.is_none() {
        batch.extend(gathered);
        send(stream, &batch, false).await?;
        return Ok(keep_alive);
    }
    // Stream the body: pieces that are ready are sent together (a fragment's header and its
    // sample runs in one call); a muxed TS chunk goes out as soon as it is made, while its
    // packets are still in the cache.
    let mut sent = 0u64;
    let mut pending = 0usize;
    loop {
        let frame = body.frame().await;
        let done = frame.is_none();
        if let Some(frame) = frame
            && let Ok(data) = frame.map_err(io::Error::other)?.into_data()
            && !data.is_empty()
        {
            sent += data.len() as u64;
            pending += data.len();
            batch.push(data);
        }
        let last = done || body.is_end_stream();
        if last || pending >= SEND_BATCH || batch.len() >= MAX_IOV {
            send(stream, &batch, !last).await?;
            batch.clear();
            pending = 0;
        }
        if last {
            break;
        }
    }
    if Some(sent) != declared {
        return Err(io::Error::other(
            "response body length differs from Content-Length",
        ));
    }
    Ok(keep_alive)
}

/// Bytes of ready body pieces gathered before a send (fewer, larger sends cost less CPU).
const SEND_BATCH: usize = 256 << 10;

/// `date` header value, formatted once per second.
fn http_date() -> String {
    thread_local! {
        static CACHED: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((0, String::new())) };
    }
    let now = std::time::SystemTime::now();
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    CACHED.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs || c.1.is_empty() {
            *c = (secs, httpdate::fmt_http_date(now));
        }
        c.1.clone()
    })
}

/// Most buffers per `sendmsg`.
const MAX_IOV: usize = 256;

/// Sends the pieces in order with `sendmsg`, up to [`MAX_IOV`] at a time (`MSG_MORE` while
/// more follows, here or in a later call when `then_more`, so a header and the data after it
/// share packets). Pieces that are slices of a source mapping are copied by the kernel from
/// the page cache straight into the socket: one copy instead of a read into a buffer and a
/// write from it.
///
/// (Sending them by reference, with `sendfile` or `vmsplice` + `splice`, was measured and is
/// slower for real sources: muxers interleave audio and video sample by sample, so a segment
/// is a hundred or more ranges of a few KB, each a `sendfile` call or a partial-page socket
/// fragment; the per-range and per-packet costs outweighed the copy.)
async fn send(stream: &TcpStream, pieces: &[Bytes], then_more: bool) -> io::Result<()> {
    let fd = stream.as_raw_fd();
    let mut i = 0;
    let mut off = 0u64; // into pieces[i]
    while i < pieces.len() {
        let run = &pieces[i..pieces.len().min(i + MAX_IOV)];
        let more = then_more || i + run.len() < pieces.len();
        let sent = stream
            .async_io(Interest::WRITABLE, || sendmsg(fd, run, off, more))
            .await?;
        if sent == 0 {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "the socket took no bytes",
            ));
        }
        advance(pieces, &mut i, &mut off, sent as u64);
    }
    Ok(())
}

/// Moves the position (piece `i`, byte `off` in it) over `n` bytes.
fn advance(pieces: &[Bytes], i: &mut usize, off: &mut u64, mut n: u64) {
    while *i < pieces.len() {
        let rest = pieces[*i].len() as u64 - *off;
        if n < rest {
            *off += n;
            return;
        }
        n -= rest;
        *i += 1;
        *off = 0;
    }
}

/// Sends pieces (the first from byte `skip`) with one `sendmsg`.
fn sendmsg(fd: i32, run: &[Bytes], skip: u64, more: bool) -> io::Result<usize> {
    let mut iov = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; MAX_IOV];
    let mut n = 0;
    for (k, b) in run.iter().take(MAX_IOV).enumerate() {
        let b = if k == 0 { &b[skip as usize..] } else { &b[..] };
        iov[n] = libc::iovec {
            iov_base: b.as_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        };
        n += 1;
    }
    // SAFETY: a zeroed msghdr is valid; it points at the first `n` entries of `iov`, which
    // point into Bytes borrowed for the duration of the call, or into source mappings kept
    // alive by the pieces' Arcs. Only the kernel reads the mappings: a page past the end of a
    // file truncated since fails the call with EFAULT instead of raising SIGBUS here.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = n as _;
    let flags = libc::MSG_NOSIGNAL | if more { libc::MSG_MORE } else { 0 };
    // SAFETY: `msg` is initialised above; the kernel only reads the buffers.
    let sent = unsafe { libc::sendmsg(fd, &msg, flags) };
    if sent < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(sent as usize)
    }
}

/// Gives the connection to hyper, which reads `buffered` first.
async fn hand_over(
    stream: TcpStream,
    buffered: BytesMut,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let io = hyper_util::rt::TokioIo::new(Rewind {
        buffered: buffered.freeze(),
        inner: stream,
        replacing: None,
    });
    let service = hyper_util::service::TowerToHyperService::new(
        app.map_request(|req: Request<hyper::body::Incoming>| req.map(Body::new)),
    );
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut draining = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended");
                }
                return;
            }
            _ = shutdown.changed(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// The socket, with bytes already read from it put back in front, and hyper's automatic error
/// answers replaced by the AWS error shape on the way out.
struct Rewind {
    buffered: Bytes,
    inner: TcpStream,
    /// Our answer in place of one of hyper's: the bytes still to send, and the length of
    /// hyper's buffer, reported written once ours has gone.
    replacing: Option<(Bytes, usize)>,
}

impl Rewind {
    fn poll_out(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            if let Some((ours, theirs)) = &mut self.replacing {
                while !ours.is_empty() {
                    let n = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, ours))?;
                    if n == 0 {
                        return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                    }
                    ours.advance(n);
                }
                let theirs = *theirs;
                self.replacing = None;
                return Poll::Ready(Ok(theirs));
            }
            let Some(first) = bufs.iter().position(|b| !b.is_empty()) else {
                return Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
            };
            if let Some(status) = automatic_error_status(&bufs[first]) {
                self.replacing = Some((http_error_answer(status), bufs[first].len()));
                continue;
            }
            // An automatic answer queued behind other bytes goes in a call of its own.
            let end = bufs[first + 1..]
                .iter()
                .position(|b| automatic_error_status(b).is_some())
                .map_or(bufs.len(), |k| first + 1 + k);
            return Pin::new(&mut self.inner).poll_write_vectored(cx, &bufs[..end]);
        }
    }
}

/// The status of hyper's automatic answer to a request it could not parse, when `buf` is
/// exactly one: `HTTP/1.1 400|414|431 <reason>`, then only `connection: close`,
/// `content-length: 0` and `date`, and the end of the head. Every answer of the router carries
/// `x-amzn-requestid` (and a response body never starts with a status line), so nothing the
/// router sends matches.
pub fn automatic_error_status(buf: &[u8]) -> Option<StatusCode> {
    let head = std::str::from_utf8(buf.strip_suffix(b"\r\n\r\n")?).ok()?;
    let mut lines = head.split("\r\n");
    let status = match lines.next()?.strip_prefix("HTTP/1.1 ")?.get(..4)? {
        "400 " => StatusCode::BAD_REQUEST,
        "414 " => StatusCode::URI_TOO_LONG,
        "431 " => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        _ => return None,
    };
    let mut seen = 0;
    for line in lines {
        if line == "connection: close" || line == "content-length: 0" {
            seen += 1;
        } else if !line.starts_with("date: ") || line.contains('\n') {
            return None;
        }
    }
    (seen == 2).then_some(status)
}

/// The full answer (head and JSON body, `Connection: close`) for an HTTP-layer refusal, in the
/// AWS error shape the router gives every other error.
pub fn http_error_answer(status: StatusCode) -> Bytes {
    use crate::error::{ApiError, ErrorKind};
    let e = match status {
        StatusCode::URI_TOO_LONG => ApiError::new(
            ErrorKind::UriTooLong,
            "the request target is longer than 65534 bytes",
        ),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ApiError::new(
            ErrorKind::RequestHeaderFieldsTooLarge,
            "the request head has more than 100 header lines or is too large",
        ),
        _ => ApiError::new(
            ErrorKind::BadRequest,
            "the request is not valid HTTP/1.1 (malformed request line or header)",
        ),
    };
    let body = e.body();
    let status = e.kind.status();
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\nx-amzn-errortype: {}\r\n\
         x-amzn-requestid: {}\r\naccess-control-allow-origin: *\r\nconnection: close\r\n\
         content-length: {}\r\ndate: {}\r\n\r\n{body}",
        status.as_str(),
        status.canonical_reason().unwrap_or(""),
        e.kind.type_name(),
        uuid::Uuid::new_v4(),
        body.len(),
        http_date(),
    )
    .into()
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.buffered.is_empty() {
            let n = self.buffered.len().min(buf.remaining());
            buf.put_slice(&self.buffered[..n]);
            self.buffered.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_out(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_out(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_of(buf: &[u8]) -> Result<Option<String>, ()> {
        match parse(buf) {
            Head::Complete { req, .. } => Ok(Some(req.uri().to_string())),
            Head::Partial => Ok(None),
            Head::HandOver => Err(()),
        }
    }

    #[test]
    fn plain_egress_gets_are_taken_everything_else_goes_to_hyper() {
        assert_eq!(
            path_of(b"GET /out/v1/a/b/c/x.mp4 HTTP/1.1\r\nHost: h\r\n\r\n"),
            Ok(Some("/out/v1/a/b/c/x.mp4".into()))
        );
        assert_eq!(
            path_of(b"GET /out/v1/a/b/c/x.mp4 HTTP/1.1\r\nHost: h\r\n"),
            Ok(None)
        );
        for refused in [
            &b"GET /assets HTTP/1.1\r\n\r\n"[..],
            b"POST /out/v1/a HTTP/1.1\r\n\r\n",
            b"GET /out/v1/a HTTP/1.0\r\n\r\n",
            b"GET /out/v1/a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            b"GET /out/v1/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET /out/v1/a HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            b"GET /out/v1/a HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
            b"GET /out/v1/a HTTP/1.1\r\nBad Header: x\r\n\r\n",
            b"GET /out/v1/\xff HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(
                path_of(refused),
                Err(()),
                "{}",
                String::from_utf8_lossy(refused)
            );
        }
    }

    #[test]
    fn connection_close_is_noticed_and_the_head_length_counted() {
        let raw = b"HEAD /out/v1/a HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\nGET /next";
        let Head::Complete { req, used, close } = parse(raw) else {
            panic!("a complete egress request")
        };
        assert_eq!(req.method(), Method::HEAD);
        assert!(close);
        assert_eq!(&raw[used..], b"GET /next");
    }

    #[test]
    fn options_on_egress_is_taken() {
        let Head::Complete { req, .. } =
            parse(b"OPTIONS /out/v1/a/b/c/x.mp4 HTTP/1.1\r\nHost: h\r\nOrigin: http://o\r\n\r\n")
        else {
            panic!("an egress preflight")
        };
        assert_eq!(req.method(), Method::OPTIONS);
        assert!(matches!(
            parse(b"OPTIONS /assets HTTP/1.1\r\n\r\n"),
            Head::HandOver
        ));
    }

    #[test]
    fn only_hypers_automatic_error_answers_are_replaced() {
        let date = "date: Thu, 03 Dec 2026 08:29:02 GMT";
        for (line, status) in [
            ("400 Bad Request", 400),
            ("414 URI Too Long", 414),
            ("431 Request Header Fields Too Large", 431),
        ] {
            let hyper = format!(
                "HTTP/1.1 {line}\r\nconnection: close\r\ncontent-length: 0\r\n{date}\r\n\r\n"
            );
            assert_eq!(
                automatic_error_status(hyper.as_bytes()).map(|s| s.as_u16()),
                Some(status)
            );
            let answer = http_error_answer(StatusCode::from_u16(status).unwrap());
            let text = std::str::from_utf8(&answer).unwrap();
            assert!(text.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
            assert!(text.contains("\r\nx-amzn-errortype: "), "{text}");
            let body = text.split_once("\r\n\r\n").unwrap().1;
            let json: serde_json::Value = serde_json::from_str(body).unwrap();
            assert!(json["__type"].as_str().unwrap().ends_with("Exception"));
            assert!(text.contains(&format!("content-length: {}\r\n", body.len())));
            // The replacement itself is never taken for one.
            assert_eq!(automatic_error_status(&answer), None);
        }
        for other in [
            format!(
                "HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n{date}\r\n\r\n"
            ),
            format!(
                "HTTP/1.1 400 Bad Request\r\nx-amzn-requestid: x\r\nconnection: close\r\ncontent-length: 0\r\n{date}\r\n\r\n"
            ),
            format!("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n{date}\r\n\r\n"),
            format!(
                "HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n{date}\r\n\r\nbody"
            ),
            "HTTP/1.1 400 Bad Request\r\n".to_string(),
            String::new(),
        ] {
            assert_eq!(automatic_error_status(other.as_bytes()), None, "{other:?}");
        }
    }

    /// What goes before hyper's automatic answer in one vectored write is sent first and
    /// untouched, then the replacement; hyper is told its own lengths were written.
    #[tokio::test]
    async fn the_replacement_keeps_the_order_of_the_bytes() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.unwrap();
            let mut all = Vec::new();
            c.read_to_end(&mut all).await.unwrap();
            all
        });
        let (inner, _) = listener.accept().await.unwrap();
        let mut w = Rewind {
            buffered: Bytes::new(),
            inner,
            replacing: None,
        };
        let before = b"earlier response bytes".to_vec();
        let hyper = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Thu, 03 Dec 2026 08:29:02 GMT\r\n\r\n".to_vec();
        let bufs = [io::IoSlice::new(&before), io::IoSlice::new(&hyper)];
        let n = w.write_vectored(&bufs).await.unwrap();
        assert_eq!(
            n,
            before.len(),
            "the automatic answer goes in a call of its own"
        );
        let n = w.write_vectored(&bufs[1..]).await.unwrap();
        assert_eq!(n, hyper.len());
        w.shutdown().await.unwrap();
        drop(w);
        let all = client.await.unwrap();
        let text = String::from_utf8(all).unwrap();
        let rest = text.strip_prefix("earlier response bytes").unwrap();
        assert!(rest.starts_with("HTTP/1.1 431 "), "{rest}");
        assert!(
            rest.contains("RequestHeaderFieldsTooLargeException"),
            "{rest}"
        );
        assert!(!rest.contains("content-length: 0\r\n"), "{rest}");
    }
}
