//! Egress failures answer the status of what went wrong (see vodpack-service
//! `egress/error.rs`): a missing source object 404, a damaged source 502, a changed source or
//! a silent store 503 with `Retry-After` (tests/faults.rs), not all 503. And the access log:
//! one line per request, written once the body is done with, with the bytes sent and whether
//! the body was complete.
mod common;

use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_mediapackagevod as mpv;
use common::*;
use mpv::types::*;

/// `vodpack serve` with its log (JSON, info) in a file the test reads.
struct Logged {
    child: Child,
    endpoint: String,
    data_dir: PathBuf,
    log: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Logged {
    fn start() -> Logged {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        let log = tmp.path().join("server.log");
        let mut child = Command::new(bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .env("VODPACK_ACCESS_KEY_ID", ACCESS_KEY)
            .env("VODPACK_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("VODPACK_REGION", REGION)
            .env("VODPACK_ACCOUNT_ID", ACCOUNT)
            .env("VODPACK_LOG", "info")
            .env("VODPACK_LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let endpoint = loop {
            let line = lines.next().expect("vodpack exited").unwrap();
            if let Some(url) = line.strip_prefix("listening on ") {
                break url.trim().to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Logged {
            child,
            endpoint,
            data_dir,
            log,
            _tmp: tmp,
        }
    }

    fn client(&self) -> mpv::Client {
        sdk_client(&self.endpoint, ACCESS_KEY, SECRET_KEY, REGION)
    }

    /// The access-log lines of requests for `path`.
    fn access(&self, path: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["target"] == "vodpack::access" && v["fields"]["path"] == path)
            .collect()
    }

    /// Waits for the access line of the `n`th request for `path` (written after the body).
    async fn access_line(&self, path: &str, n: usize) -> serde_json::Value {
        for _ in 0..100 {
            let lines = self.access(path);
            if lines.len() >= n {
                return lines[n - 1]["fields"].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no access line {n} for {path}");
    }
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
}

/// The first media segment's URL of an HLS master playlist.
async fn first_segment(master: &str) -> String {
    let base = master.rsplit_once('/').unwrap().0;
    let text = reqwest::get(master).await.unwrap().text().await.unwrap();
    let media = text
        .lines()
        .find(|l| !l.starts_with('#') && l.ends_with(".m3u8"))
        .unwrap();
    let playlist = reqwest::get(format!("{base}/{media}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let first = playlist
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .unwrap();
    format!("{base}/{first}")
}

/// Overwrites the 4-byte NAL length of the first video sample with 0xFFFFFFFF, keeping the
/// file's identity (inode, size, modification time), as a bit flip on disk would: the index
/// still describes this version, but its bytes no longer make H.264 access units. The sample's
/// offset comes from ffprobe, not from vodpack.
fn damage_first_video_sample(file: &Path) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pos",
            "-read_intervals",
            "%+#1",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .unwrap();
    let pos: u64 = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let modified = std::fs::metadata(file).unwrap().modified().unwrap();
    let mut f = std::fs::OpenOptions::new().write(true).open(file).unwrap();
    f.seek(SeekFrom::Start(pos)).unwrap();
    f.write_all(&[0xff; 4]).unwrap();
    f.sync_all().unwrap();
    f.set_modified(modified).unwrap();
}

fn put_source(server: &Logged, name: &str) -> PathBuf {
    let bucket = server.data_dir.join("buckets/media");
    std::fs::create_dir_all(&bucket).unwrap();
    let to = bucket.join(name);
    std::fs::copy(media_dir().join("ladder/ladder_360p.mp4"), &to).unwrap();
    to
}

/// A missing source object is 404 with the reason (retrying does not bring it back), a
/// damaged source 502 with the reason, and neither carries `Retry-After`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_object_is_404_and_a_damaged_source_502() {
    let server = Logged::start();
    let c = server.client();
    setup(&c).await;
    let gone = put_source(&server, "gone.mp4");
    let bad = put_source(&server, "bad.mp4");
    let good = put_source(&server, "good.mp4");
    let gone_urls = create_asset(&c, "gone", "arn:aws:s3:::media/gone.mp4").await;
    let bad_urls = create_asset(&c, "bad", "arn:aws:s3:::media/bad.mp4").await;
    let good_urls = create_asset(&c, "good", "arn:aws:s3:::media/good.mp4").await;
    for id in ["gone", "bad", "good"] {
        assert_eq!(wait_ingest(&c, id).await, ["PLAYABLE"]);
    }
    // Segment names are the same for every asset of a configuration: learn them from the
    // healthy one, so nothing of the others is requested (nor cached) before the damage.
    let segment = first_segment(&good_urls["hls"]).await;
    let name = segment.rsplit_once('/').unwrap().1;
    let at = |urls: &std::collections::BTreeMap<String, String>| {
        format!("{}/{name}", urls["hls"].rsplit_once('/').unwrap().0)
    };

    std::fs::remove_file(&gone).unwrap();
    // A file opened in the last 2 s (here by ingest) is reused without a lookup
    // (storage/local.rs RESOLVED_TTL), and an unlinked open file still has the indexed bytes.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = reqwest::get(at(&gone_urls)).await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers().get("retry-after").is_none());
    let text = r.text().await.unwrap();
    assert!(
        text.contains("source object of this asset is missing"),
        "{text}"
    );
    assert!(!text.contains("/buckets/"), "names a path: {text}");

    damage_first_video_sample(&bad);
    let r = reqwest::get(at(&bad_urls)).await.unwrap();
    assert_eq!(r.status(), 502);
    assert!(r.headers().get("retry-after").is_none());
    let text = r.text().await.unwrap();
    assert!(text.contains("damaged"), "{text}");

    // The healthy asset is served; the others' damage is theirs alone.
    let r = reqwest::get(&segment).await.unwrap();
    assert_eq!(r.status(), 200);
    drop(good);
}

/// The access line is written after the body: a whole segment logs its length and
/// `complete: true`; a segment whose source is damaged after its length was worked out is
/// cut off on the wire (its status, 200, was decided before muxing) and logs
/// `complete: false` with fewer bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_has_bytes_sent_and_whether_the_body_completed() {
    let server = Logged::start();
    let c = server.client();
    setup(&c).await;
    let file = put_source(&server, "title.mp4");
    let urls = create_asset(&c, "a", "arn:aws:s3:::media/title.mp4").await;
    assert_eq!(wait_ingest(&c, "a").await, ["PLAYABLE"]);
    let segment = first_segment(&urls["hls"]).await;
    let path = format!("/{}", segment.splitn(4, '/').nth(3).unwrap());

    let r = reqwest::get(&segment).await.unwrap();
    assert_eq!(r.status(), 200);
    let len = r.bytes().await.unwrap().len() as u64;
    assert!(len > 0);
    let line = server.access_line(&path, 1).await;
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["bytes"], len, "{line}");
    assert_eq!(line["complete"], true, "{line}");
    assert_eq!(line["method"], "GET", "{line}");

    // The segment's length is known now: the next answer is 200 before a byte is muxed.
    damage_first_video_sample(&file);
    // The head goes out with the first body bytes, so the cut may come before it.
    if let Ok(r) = reqwest::get(&segment).await {
        assert_eq!(r.status(), 200);
        assert!(r.bytes().await.is_err(), "the body must be cut off");
    }
    let line = server.access_line(&path, 2).await;
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["complete"], false, "{line}");
    assert!(line["bytes"].as_u64().unwrap() < len, "{line}");
}
