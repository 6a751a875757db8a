//! The connection layer over raw TCP: egress requests answered by vodpack's own HTTP/1.1 path
//! (`GET`/`HEAD` under `/out/`, HTTP/1.1) must be byte-for-byte what hyper answers for the
//! same request (HTTP/1.0 requests are always handed to hyper), for every kind of segment
//! (fMP4 from the source mapping, streamed MPEG-TS, init sections, manifests); pipelined
//! requests on one connection come back in order; a connection switches to hyper at its first
//! request of another kind and goes on working; conditional, range and HEAD requests keep
//! their semantics; malformed requests get hyper's 400 and the server goes on serving; a
//! source truncated in place is a clear error, not a dead server.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

/// One parsed response.
#[derive(Debug, Clone, PartialEq)]
struct Resp {
    version: String,
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// Reads one response from `s` (a body of `content-length` bytes unless `head`).
fn read_response(s: &mut TcpStream, pending: &mut Vec<u8>, head: bool) -> Resp {
    let end = loop {
        if let Some(p) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let mut buf = [0u8; 65536];
        let n = s.read(&mut buf).expect("read head");
        assert!(n > 0, "connection closed inside a response head");
        pending.extend_from_slice(&buf[..n]);
    };
    let text = String::from_utf8(pending[..end].to_vec()).expect("ASCII head");
    pending.drain(..end);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap().to_string();
    let status: u16 = parts.next().unwrap().parse().unwrap();
    let mut headers = BTreeMap::new();
    for l in lines.filter(|l| !l.is_empty()) {
        let (k, v) = l.split_once(':').expect("header line");
        let prev = headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        assert!(prev.is_none(), "header {k} twice");
    }
    let len: usize = if head || status == 304 || status == 204 {
        0
    } else {
        headers
            .get("content-length")
            .expect("content-length on every response")
            .parse()
            .unwrap()
    };
    while pending.len() < len {
        let mut buf = [0u8; 65536];
        let n = s.read(&mut buf).expect("read body");
        assert!(n > 0, "connection closed inside a body");
        pending.extend_from_slice(&buf[..n]);
    }
    let body = pending.drain(..len).collect();
    Resp {
        version,
        status,
        headers,
        body,
    }
}

fn connect(server: &Server) -> TcpStream {
    let addr = server.endpoint.trim_start_matches("http://");
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// One request on a new connection.
fn request(server: &Server, method: &str, path: &str, version: &str, extra: &str) -> Resp {
    let mut s = connect(server);
    write!(s, "{method} {path} {version}\r\nHost: x\r\n{extra}\r\n").unwrap();
    read_response(&mut s, &mut Vec::new(), method == "HEAD")
}

fn path_of(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    rest[rest.find('/').unwrap()..].to_string()
}

/// The folder path of an egress URL, with a trailing slash.
fn folder(url: &str) -> String {
    let p = path_of(url);
    p[..=p.rfind('/').unwrap()].to_string()
}

/// Headers whose values differ between two answers by design.
fn comparable(mut r: Resp) -> Resp {
    for h in ["date", "x-amzn-requestid", "connection", "keep-alive"] {
        r.headers.remove(h);
    }
    r.version = String::new();
    r
}

struct Fixture {
    server: Server,
    /// Egress folder per configuration id, for the ladder (SMIL + MP4) asset.
    ladder: BTreeMap<String, String>,
    /// The same for the HLS-TS source.
    ts: BTreeMap<String, String>,
}

async fn fixture() -> Fixture {
    use aws_sdk_mediapackagevod::types::*;
    let server = Server::start();
    copy_tree(&media_dir(), &server.data_dir.join("buckets/media"));
    let c = server.client();
    c.create_packaging_group().id("g").send().await.unwrap();
    create_config(&c, "hls", |b| {
        b.hls_package(
            HlsPackage::builder()
                .segment_duration_seconds(4)
                .hls_manifests(HlsManifest::builder().manifest_name("m").build())
                .build(),
        )
    })
    .await;
    create_config(&c, "dash", |b| {
        b.dash_package(
            DashPackage::builder()
                .segment_duration_seconds(4)
                .dash_manifests(DashManifest::builder().manifest_name("m").build())
                .build(),
        )
    })
    .await;
    create_config(&c, "mss", |b| {
        b.mss_package(
            MssPackage::builder()
                .segment_duration_seconds(4)
                .mss_manifests(MssManifest::builder().manifest_name("m").build())
                .build(),
        )
    })
    .await;
    let ladder = create_asset(&c, "ladder", "arn:aws:s3:::media/ladder/ladder.smil").await;
    let ts = create_asset(&c, "ts", "arn:aws:s3:::media/hls/master.m3u8").await;
    for id in ["ladder", "ts"] {
        assert_eq!(
            wait_ingest(&c, id).await,
            ["PLAYABLE", "PLAYABLE", "PLAYABLE"],
            "{id}"
        );
    }
    let folders =
        |m: BTreeMap<String, String>| m.into_iter().map(|(k, v)| (k, folder(&v))).collect();
    Fixture {
        server,
        ladder: folders(ladder),
        ts: folders(ts),
    }
}

/// Files of both assets: manifests, DASH init sections and fragments of every
/// Representation, HLS-TS segments of every variant, Smooth fragments via the manifest.
fn files(f: &Fixture) -> Vec<String> {
    let mut out = Vec::new();
    for assets in [&f.ladder, &f.ts] {
        let dash = &assets["dash"];
        let hls = &assets["hls"];
        out.push(format!("{dash}m.mpd"));
        out.push(format!("{hls}m.m3u8"));
        for rep in ["v0", "v1", "a0"] {
            out.push(format!("{dash}m_{rep}_init.mp4"));
            for n in 1..=3 {
                out.push(format!("{dash}m_{rep}_{n}.mp4"));
            }
        }
        for v in 0..2 {
            out.push(format!("{hls}m_{v}.m3u8"));
            for n in 0..3 {
                out.push(format!("{hls}m_{v}_{n}.ts"));
            }
        }
        out.push(format!("{}Manifest", assets["mss"]));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_path_answers_what_hyper_answers() {
    let f = fixture().await;
    let mut media = 0;
    for path in files(&f) {
        let ours = request(&f.server, "GET", &path, "HTTP/1.1", "");
        let hypers = request(&f.server, "GET", &path, "HTTP/1.0", "");
        assert_eq!(
            ours.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&ours.body)
        );
        assert!(ours.headers.contains_key("date") && hypers.headers.contains_key("date"));
        assert!(ours.headers.contains_key("x-amzn-requestid"));
        assert_eq!(comparable(ours.clone()), comparable(hypers), "{path}");
        if path.ends_with(".ts") || (path.ends_with(".mp4") && !path.ends_with("_init.mp4")) {
            media += 1;
            assert!(ours.body.len() > 1000, "{path}");
        }
        // HEAD: the same headers, no body.
        let head = request(&f.server, "HEAD", &path, "HTTP/1.1", "");
        assert_eq!(head.status, 200);
        assert_eq!(head.headers["content-length"], ours.body.len().to_string());
        assert_eq!(head.headers.get("etag"), ours.headers.get("etag"));
        assert!(head.body.is_empty());
    }
    assert_eq!(media, 2 * (3 * 3 + 2 * 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_then_a_switch_to_hyper_on_one_connection() {
    let f = fixture().await;
    let seg = |n: usize| format!("{}m_1_{n}.ts", f.ladder["hls"]);
    let frag = format!("{}m_v0_2.mp4", f.ladder["dash"]);
    let whole_seg = request(&f.server, "GET", &seg(1), "HTTP/1.0", "");
    let whole_frag = request(&f.server, "GET", &frag, "HTTP/1.0", "");
    let etag = whole_frag.headers["etag"].clone();

    let mut s = connect(&f.server);
    let mut pending = Vec::new();
    // Four requests in one write: a TS segment, a ranged TS segment (streamed bodies are
    // gathered for ranges), a conditional fMP4 fragment, and a HEAD.
    let mut burst = String::new();
    burst += &format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", seg(1));
    burst += &format!(
        "GET {} HTTP/1.1\r\nHost: x\r\nRange: bytes=1000-200999\r\n\r\n",
        seg(1)
    );
    burst += &format!("GET {frag} HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n");
    burst += &format!("HEAD {frag} HTTP/1.1\r\nHost: x\r\n\r\n");
    s.write_all(burst.as_bytes()).unwrap();
    let r1 = read_response(&mut s, &mut pending, false);
    assert_eq!((r1.status, &r1.body), (200, &whole_seg.body));
    assert_eq!(r1.headers["content-type"], "video/MP2T");
    let r2 = read_response(&mut s, &mut pending, false);
    assert_eq!(r2.status, 206);
    assert_eq!(r2.body, whole_seg.body[1000..=200_999]);
    assert_eq!(
        r2.headers["content-range"],
        format!("bytes 1000-200999/{}", whole_seg.body.len())
    );
    let r3 = read_response(&mut s, &mut pending, false);
    assert_eq!(r3.status, 304);
    assert_eq!(r3.headers["etag"], etag);
    assert!(
        !r3.headers.contains_key("content-length"),
        "{:?}",
        r3.headers
    );
    let r4 = read_response(&mut s, &mut pending, true);
    assert_eq!(r4.status, 200);
    assert_eq!(
        r4.headers["content-length"],
        whole_frag.body.len().to_string()
    );

    // An API request (unsigned: a JSON 403 from the API) hands the connection to hyper...
    write!(s, "GET /packaging_groups HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let api = read_response(&mut s, &mut pending, false);
    assert_eq!(api.status, 403, "{}", String::from_utf8_lossy(&api.body));
    assert!(api.headers["content-type"].contains("json"));
    // ...which goes on serving egress on it, the same bytes.
    write!(s, "GET {frag} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let again = read_response(&mut s, &mut pending, false);
    assert_eq!((again.status, &again.body), (200, &whole_frag.body));

    // Connection: close is honoured on our path.
    let mut s = connect(&f.server);
    write!(
        s,
        "GET {frag} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let head_end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let text = String::from_utf8_lossy(&all[..head_end]).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
    assert_eq!(all.len() - head_end, whole_frag.body.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_hypers_answer_and_serving_goes_on() {
    let f = fixture().await;
    let frag = format!("{}m_a0_1.mp4", f.ladder["dash"]);
    for bad in [
        format!("GET {frag} HTTP/1.1\r\nBad Header Line\r\n\r\n"),
        format!("GET {frag} HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n"),
        "GET /out/v1/\u{1}x HTTP/1.1\r\n\r\n".to_string(),
        format!(
            "GET {frag} HTTP/1.1\r\nHost: x\r\n{}\r\n\r\n",
            "X-Big: y\r\n".repeat(200)
        ),
    ] {
        let mut s = connect(&f.server);
        s.write_all(bad.as_bytes()).unwrap();
        let mut all = Vec::new();
        let _ = s.read_to_end(&mut all);
        let text = String::from_utf8_lossy(&all);
        assert!(
            text.starts_with("HTTP/1.1 4"),
            "{}: {text}",
            bad.escape_debug()
        );
    }
    // A GET with a body goes to hyper, which serves it.
    let mut s = connect(&f.server);
    write!(
        s,
        "GET {frag} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
    )
    .unwrap();
    let r = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!(r.status, 200);
    // Half a request head, then the peer goes away: nothing else is disturbed.
    let mut s = connect(&f.server);
    s.write_all(b"GET /out/v1/a/b/c/d HTTP/1.1\r\nHo").unwrap();
    drop(s);
    let r = request(&f.server, "GET", &frag, "HTTP/1.1", "");
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_truncated_in_place_is_an_error_not_a_crash() {
    use aws_sdk_mediapackagevod::types::*;
    let server = Server::start();
    let bucket = server.data_dir.join("buckets/media");
    copy_tree(&media_dir(), &bucket);
    let c = server.client();
    c.create_packaging_group().id("g").send().await.unwrap();
    create_config(&c, "dash", |b| {
        b.dash_package(
            DashPackage::builder()
                .dash_manifests(DashManifest::builder().manifest_name("m").build())
                .build(),
        )
    })
    .await;
    create_config(&c, "hls", |b| {
        b.hls_package(
            HlsPackage::builder()
                .hls_manifests(HlsManifest::builder().manifest_name("m").build())
                .build(),
        )
    })
    .await;
    let cut = create_asset(&c, "cut", "arn:aws:s3:::media/ladder/ladder_360p.mp4").await;
    let other = create_asset(&c, "other", "arn:aws:s3:::media/ladder/ladder_540p.mp4").await;
    for id in ["cut", "other"] {
        assert_eq!(wait_ingest(&c, id).await, ["PLAYABLE", "PLAYABLE"], "{id}");
    }
    let dash = folder(&cut["dash"]);
    let hls = folder(&cut["hls"]);
    // Warm: the source is mapped and in the page cache.
    for p in [format!("{dash}m_v0_2.mp4"), format!("{hls}m_0_0.ts")] {
        assert_eq!(
            request(&server, "GET", &p, "HTTP/1.1", "").status,
            200,
            "{p}"
        );
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(bucket.join("ladder/ladder_360p.mp4"))
        .unwrap()
        .set_len(64 * 1024)
        .unwrap();
    for p in [
        format!("{dash}m_v0_2.mp4"),
        format!("{dash}m_a0_2.mp4"),
        format!("{hls}m_0_0.ts"),
        format!("{hls}m_0_1.ts"),
    ] {
        let r = request(&server, "GET", &p, "HTTP/1.1", "");
        assert_eq!(r.status, 503, "{p}: {}", String::from_utf8_lossy(&r.body));
        assert!(String::from_utf8_lossy(&r.body).contains("source"), "{p}");
    }
    // Everything else is served as before.
    let p = format!("{}m_v0_2.mp4", folder(&other["dash"]));
    assert_eq!(request(&server, "GET", &p, "HTTP/1.1", "").status, 200);
    assert!(!c.list_assets().send().await.unwrap().assets().is_empty());
}
