//! Trust under faults: a source replaced under the same key is never served as garbage (local
//! and S3), and a store that goes silent costs a request or an ingest seconds, not minutes,
//! and recovers without a restart.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_mediapackagevod as mpv;
use common::*;
use mpv::types::*;

/// The segment URLs a test follows: per configuration, (init section if any, first media
/// segment), found in the manifests the server answers.
async fn first_files(urls: &std::collections::BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (config, url) in urls {
        let text = get_ok(url).await;
        match config.as_str() {
            "hls" | "cmaf" => {
                let base = url.rsplit_once('/').unwrap().0;
                let media = text
                    .lines()
                    .find(|l| !l.starts_with('#') && l.ends_with(".m3u8"))
                    .unwrap_or_else(|| panic!("no media playlist in {text}"));
                let playlist = get_ok(&format!("{base}/{media}")).await;
                if let Some(map) = playlist
                    .lines()
                    .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
                {
                    out.push(format!("{base}/{}", map.trim_end_matches('"')));
                }
                let first = playlist
                    .lines()
                    .find(|l| !l.starts_with('#') && !l.is_empty())
                    .unwrap();
                out.push(format!("{base}/{first}"));
            }
            "dash" => {
                let base = url.rsplit_once('/').unwrap().0;
                let attr = |name: &str| {
                    let at = text.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
                    text[at..at + text[at..].find('"').unwrap()].to_string()
                };
                let rep = {
                    let at = text.find("<Representation id=\"").unwrap() + 20;
                    text[at..at + text[at..].find('"').unwrap()].to_string()
                };
                let number = attr("startNumber");
                out.push(format!(
                    "{base}/{}",
                    attr("initialization").replace("$RepresentationID$", &rep)
                ));
                out.push(format!(
                    "{base}/{}",
                    attr("media")
                        .replace("$RepresentationID$", &rep)
                        .replace("$Number$", &number)
                ));
            }
            other => panic!("unexpected configuration {other}"),
        }
    }
    assert_eq!(
        out.len(),
        5,
        "init + segment for CMAF and DASH, a TS segment: {out:?}"
    );
    out
}

async fn get_ok(url: &str) -> String {
    let r = reqwest::get(url).await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.text().await.unwrap()
}

async fn setup(c: &mpv::Client) {
    c.create_packaging_group().id("g").send().await.unwrap();
    create_config(c, "hls", |b| {
        b.hls_package(
            HlsPackage::builder()
                .hls_manifests(HlsManifest::builder().build())
                .build(),
        )
    })
    .await;
    create_config(c, "cmaf", |b| {
        b.cmaf_package(
            CmafPackage::builder()
                .hls_manifests(HlsManifest::builder().build())
                .build(),
        )
    })
    .await;
    create_config(c, "dash", |b| {
        b.dash_package(
            DashPackage::builder()
                .dash_manifests(DashManifest::builder().build())
                .build(),
        )
    })
    .await;
}

/// Status of the asset's endpoints (all the same here).
async fn status(c: &mpv::Client, id: &str) -> String {
    let d = c.describe_asset().id(id).send().await.unwrap();
    d.egress_endpoints()[0].status().unwrap_or("").to_string()
}

async fn wait_status(c: &mpv::Client, id: &str, want: &str, within: Duration) {
    let until = Instant::now() + within;
    loop {
        let s = status(c, id).await;
        if s == want {
            return;
        }
        assert!(Instant::now() < until, "asset {id} is {s}, not {want}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Requests every file after the source changed: a media segment answers 503 with
/// `Retry-After` and a reason while a re-ingest is under way, or, once it is done, 200 under
/// another ETag than before. A file made from the index alone (an init section) may still be
/// served under its old ETag, but then byte for byte as before: nothing served under one ETag
/// is ever contradicted. Returns how many requests were refused.
async fn check_after_change(files: &[String], before: &[(String, bytes::Bytes)]) -> usize {
    let mut refused = 0;
    for (url, (old_tag, old_body)) in files.iter().zip(before) {
        let r = reqwest::get(url).await.unwrap();
        let code = r.status().as_u16();
        let etag = r
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_string());
        let retry = r.headers().get("retry-after").is_some();
        let body = r.bytes().await.unwrap();
        match code {
            503 => {
                let text = String::from_utf8_lossy(&body);
                assert!(retry, "{url}: 503 without Retry-After: {text}");
                assert!(
                    text.contains("changed") || text.contains("ingested again"),
                    "{url}: {text}"
                );
                assert!(!text.contains("/buckets/"), "{url}: names a path: {text}");
                refused += 1;
            }
            200 if etag.as_ref() == Some(old_tag) => {
                assert!(
                    url.ends_with("init.mp4"),
                    "{url}: a media segment under its old ETag after the change"
                );
                assert!(body == *old_body, "{url}: other bytes under the same ETag");
            }
            200 => {}
            other => panic!("{url}: {other} {}", String::from_utf8_lossy(&body)),
        }
    }
    refused
}

/// (ETag, body) of every file.
async fn etags(files: &[String]) -> Vec<(String, bytes::Bytes)> {
    let mut out = Vec::new();
    for url in files {
        let r = reqwest::get(url).await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        let tag = r.headers()["etag"].to_str().unwrap().to_string();
        out.push((tag, r.bytes().await.unwrap()));
    }
    out
}

/// ffmpeg decodes the HLS-TS, CMAF and DASH outputs; returns the HLS-TS duration.
fn decode_all(urls: &std::collections::BTreeMap<String, String>) -> f64 {
    let d = decode(&urls["hls"]);
    let c = decode(&urls["cmaf"]);
    let m = decode(&urls["dash"]);
    assert!((d - c).abs() < 0.2 && (d - m).abs() < 0.2, "{d} {c} {m}");
    d
}

/// Another title: the first 6 s of the 360p rendition (the originals are 12 s), made with
/// ffmpeg into `dir`.
fn shorter_title(dir: &std::path::Path) -> std::path::PathBuf {
    let out = dir.join("short-title.mp4");
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(media_dir().join("ladder/ladder_360p.mp4"))
        .args(["-t", "6", "-c", "copy", "-map", "0"])
        .arg(&out)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ffmpeg cut");
    out
}

fn duration_of(path: &std::path::Path) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_local_source_is_reingested_never_served_as_garbage() {
    let hook = Webhook::start().await;
    let opts = Options {
        extra_args: vec!["--events-webhook".into(), hook.url.clone()],
        ..Options::default()
    };
    let mut server = Server::start_with(opts);
    let media = media_dir();
    let bucket = server.data_dir.join("buckets/media");
    std::fs::create_dir_all(&bucket).unwrap();
    std::fs::copy(
        media.join("ladder/ladder_720p.mp4"),
        bucket.join("title.mp4"),
    )
    .unwrap();
    let c = server.client();
    setup(&c).await;
    let urls = create_asset(&c, "a", "arn:aws:s3:::media/title.mp4").await;
    assert_eq!(wait_ingest(&c, "a").await, ["PLAYABLE"; 3]);
    let before = decode_all(&urls);
    let files = first_files(&urls).await;
    let old_tags = etags(&files).await;

    // Replaced by rename with another title, then a restart (the reported case).
    let tmp = tempfile::tempdir().unwrap();
    let other = shorter_title(tmp.path());
    std::fs::copy(&other, bucket.join("title.mp4.new")).unwrap();
    std::fs::rename(bucket.join("title.mp4.new"), bucket.join("title.mp4")).unwrap();
    let expected = duration_of(&other);
    assert!(
        (expected - before).abs() > 1.0,
        "the replacement must differ"
    );
    server.kill9();
    let dir = server.data_dir.clone();
    let restarted = Server::spawn(
        &dir,
        &Options {
            extra_args: vec!["--events-webhook".into(), hook.url.clone()],
            ..Options::default()
        },
    );
    // The restarted server has another port: the same URLs on it.
    let moved = |u: &String| u.replace(&server.endpoint, &restarted.endpoint);
    let urls: std::collections::BTreeMap<String, String> =
        urls.iter().map(|(k, v)| (k.clone(), moved(v))).collect();
    let files: Vec<String> = files.iter().map(moved).collect();
    let refused = check_after_change(&files, &old_tags).await;
    assert!(refused > 0, "no request noticed the change");
    let ev = hook.wait_for("SourceChanged", "a", 1).await;
    assert!(
        ev[0]["detail"]["message"]
            .as_str()
            .unwrap()
            .contains("changed"),
        "{ev:?}"
    );
    let c = restarted.client();
    wait_status(&c, "a", "PLAYABLE", Duration::from_secs(30)).await;
    hook.wait_for("IngestComplete", "a", 2).await;
    // The new incarnation: new validators, and what it serves is the new title.
    check_after_change(&files, &old_tags).await;
    let after = decode_all(&urls);
    assert!((after - expected).abs() < 0.2, "{after} vs {expected}");
    assert_eq!(
        hook.of("SourceChanged", "a").len(),
        1,
        "one re-ingest per change"
    );

    // Rewritten in place (same size; here with the same bytes, so the new incarnation still
    // decodes): the open file's modification time gives it away at once, within the time a
    // checked path is reused.
    let files = first_files(&urls).await;
    let tags = etags(&files).await;
    let path = dir.join("buckets/media/title.mp4");
    {
        use std::io::{Read, Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let len = f.metadata().unwrap().len();
        let mut chunk = vec![0u8; 4096];
        f.seek(SeekFrom::Start(len / 2)).unwrap();
        f.read_exact(&mut chunk).unwrap();
        f.seek(SeekFrom::Start(len / 2)).unwrap();
        f.write_all(&chunk).unwrap();
        f.sync_all().unwrap();
    }
    let refused = check_after_change(&files, &tags).await;
    assert!(refused > 0, "no request noticed the rewrite");
    hook.wait_for("SourceChanged", "a", 2).await;
    wait_status(&c, "a", "PLAYABLE", Duration::from_secs(30)).await;
    check_after_change(&files, &tags).await;
    decode_all(&urls);
}

/// Uploads `file` as `s3://vod-src/KEY`.
fn put(moto: &Moto, file: &std::path::Path, key: &str) {
    moto.aws(&[
        "s3",
        "cp",
        "--quiet",
        file.to_str().unwrap(),
        &format!("s3://vod-src/{key}"),
    ]);
}

/// Server options reading sources from `moto` (vodpack's own S3 settings), with short deadlines.
fn s3_options(moto: &Moto, hook: &Webhook) -> Options {
    let mut env: Vec<(String, String)> = [
        ("VODPACK_S3_ENDPOINT", moto.endpoint.as_str()),
        ("VODPACK_S3_PATH_STYLE", "true"),
        ("VODPACK_S3_ACCESS_KEY_ID", "testing"),
        ("VODPACK_S3_SECRET_ACCESS_KEY", "testing"),
        ("VODPACK_S3_REGION", "us-east-1"),
        ("VODPACK_STORAGE_CONNECT_TIMEOUT", "1"),
        ("VODPACK_STORAGE_READ_TIMEOUT", "1"),
        ("VODPACK_EGRESS_READ_DEADLINE", "2"),
        ("VODPACK_INGEST_READ_TIMEOUT", "2"),
        ("VODPACK_INGEST_RETRY_DELAY", "1"),
        ("VODPACK_INGEST_RETRIES", "20"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.push(("VODPACK_EVENTS_WEBHOOK".into(), hook.url.clone()));
    Options {
        env,
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_s3_source_is_refused_by_etag_then_reingested() {
    let moto = Moto::start().await;
    moto.aws(&["s3", "mb", "s3://vod-src"]);
    let media = media_dir();
    put(&moto, &media.join("ladder/ladder_720p.mp4"), "title.mp4");
    let hook = Webhook::start().await;
    let server = Server::start_with(s3_options(&moto, &hook));
    let c = server.client();
    setup(&c).await;
    let urls = create_asset(&c, "s", "arn:aws:s3:::vod-src/title.mp4").await;
    assert_eq!(wait_ingest(&c, "s").await, ["PLAYABLE"; 3]);
    decode_all(&urls);
    let files = first_files(&urls).await;
    let old_tags = etags(&files).await;
    // Another title under the same key: another ETag.
    let tmp = tempfile::tempdir().unwrap();
    let other = shorter_title(tmp.path());
    put(&moto, &other, "title.mp4");
    let refused = check_after_change(&files, &old_tags).await;
    assert!(refused > 0, "no request noticed the change");
    hook.wait_for("SourceChanged", "s", 1).await;
    wait_status(&c, "s", "PLAYABLE", Duration::from_secs(30)).await;
    check_after_change(&files, &old_tags).await;
    let after = decode_all(&urls);
    assert!((after - duration_of(&other)).abs() < 0.2, "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_s3_fails_requests_and_ingests_fast_and_recovers() {
    let moto = Moto::start().await;
    moto.aws(&["s3", "mb", "s3://vod-src"]);
    let media = media_dir();
    put(&moto, &media.join("ladder/ladder_360p.mp4"), "title.mp4");
    put(&moto, &media.join("ladder/ladder_540p.mp4"), "later.mp4");
    let hook = Webhook::start().await;
    let server = Server::start_with(s3_options(&moto, &hook));
    let c = server.client();
    setup(&c).await;
    let urls = create_asset(&c, "s", "arn:aws:s3:::vod-src/title.mp4").await;
    assert_eq!(wait_ingest(&c, "s").await, ["PLAYABLE"; 3]);
    let files = first_files(&urls).await;
    etags(&files).await;

    // Stopped, not refusing: connections are accepted and nothing answers.
    moto.signal("-STOP");
    let mut refused = 0;
    for url in &files {
        let started = Instant::now();
        let r = reqwest::get(url).await.unwrap();
        let took = started.elapsed();
        if url.ends_with("init.mp4") {
            // Made from the index alone: the store is not needed.
            assert_eq!(r.status(), 200, "{url}");
            continue;
        }
        refused += 1;
        assert_eq!(r.status(), 503, "{url}");
        assert!(r.headers().get("retry-after").is_some(), "{url}");
        let body = r.text().await.unwrap();
        assert!(body.contains("did not answer"), "{url}: {body}");
        assert!(!body.contains("127.0.0.1"), "names the store: {body}");
        // The deadline is 2 s; allow for a slow machine, but not the minutes it took.
        assert!(took < Duration::from_secs(6), "{url} took {took:?}");
    }
    assert_eq!(refused, 3, "the three media segments");
    // An ingest against the silent store ends FAILED with the reason, and is retried.
    c.create_asset()
        .id("later")
        .packaging_group_id("g")
        .source_arn("arn:aws:s3:::vod-src/later.mp4")
        .source_role_arn(ROLE)
        .send()
        .await
        .unwrap();
    let failed = hook.wait_for("IngestError", "later", 1).await;
    let message = failed[0]["detail"]["message"].as_str().unwrap();
    assert!(
        message.contains("did not answer") && message.contains("retrying"),
        "{message}"
    );
    // Back: requests and the ingest recover without a restart.
    moto.signal("-CONT");
    for url in &files {
        let r = reqwest::get(url).await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
    }
    wait_status(&c, "later", "PLAYABLE", Duration::from_secs(30)).await;
}

/// An index stored by an older build (another format version) is not an error for ever: the
/// first request that needs it starts a re-ingest, and the asset plays again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_of_an_older_format_is_rebuilt_on_first_use() {
    let mut server = Server::start();
    let bucket = server.data_dir.join("buckets/media");
    std::fs::create_dir_all(&bucket).unwrap();
    std::fs::copy(
        media_dir().join("ladder/ladder_360p.mp4"),
        bucket.join("title.mp4"),
    )
    .unwrap();
    let c = server.client();
    setup(&c).await;
    let urls = create_asset(&c, "old", "arn:aws:s3:::media/title.mp4").await;
    assert_eq!(wait_ingest(&c, "old").await, ["PLAYABLE"; 3]);
    server.kill9();
    // What an upgrade finds: the index bytes of format version 2 (bytes 6..8, big-endian).
    let db = server.data_dir.join("vodpack.sqlite3");
    let script = format!(
        "import sqlite3; c = sqlite3.connect('{}'); \
         n = c.execute(\"UPDATE asset_indexes SET format_version = 2, bytes = substr(bytes, 1, 6) || x'0002' || substr(bytes, 9)\").rowcount; \
         c.commit(); assert n == 1, n",
        db.display()
    );
    let ok = Command::new("python3")
        .args(["-c", &script])
        .status()
        .unwrap()
        .success();
    assert!(ok, "rewrite the stored index");
    let restarted = Server::spawn(&server.data_dir, &Options::default());
    let url = urls["hls"].replace(&server.endpoint, &restarted.endpoint);
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status(), 503, "{url}");
    assert!(r.headers().get("retry-after").is_some());
    let c = restarted.client();
    wait_status(&c, "old", "PLAYABLE", Duration::from_secs(30)).await;
    decode(&url);
}
