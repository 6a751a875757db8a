//! A full disk under the data folder: the data folder runs on a small tmpfs of its own, which
//! the test fills. Creates must answer 503 ServiceUnavailableException (not 500) while reads
//! (API and egress) keep working; once space is freed every write works again without a
//! restart, and after a restart everything that was acknowledged is still there.
//!
//! Mounting needs root (CI runs as root); a test that cannot mount fails rather than skips.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use aws_sdk_mediapackagevod as mpv;
use common::*;
use mpv::error::ProvideErrorMetadata;
use mpv::types::*;

/// A tmpfs mounted on a fresh folder; unmounted (lazily) and removed when dropped.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(&path)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs at {} (this test needs root; it does not skip): {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { path, _dir: dir }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Writes `path` until the file system refuses (ENOSPC); returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).unwrap();
    let mut written = 0u64;
    for chunk in [1 << 20, 4096, 512, 1] {
        let buf = vec![0x55u8; chunk];
        loop {
            match f.write(&buf) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
    }
    f.sync_all().ok();
    written
}

/// The SDK error of a create that must be refused for lack of space.
fn assert_unavailable<E, R>(what: &str, r: Result<R, mpv::error::SdkError<E>>)
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    let err = r.expect_err(&format!("{what} succeeded on a full disk"));
    let status = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(
        (status, err.code()),
        (Some(503), Some("ServiceUnavailableException")),
        "{what}: {err:?}"
    );
    let msg = err.message().unwrap_or_default();
    assert!(
        !msg.is_empty() && !msg.contains("/tmp/"),
        "{what}: the 503 gives a reason and no path: {msg:?}"
    );
}

async fn get(url: &str) -> (u16, Vec<u8>) {
    let r = reqwest::get(url).await.expect("egress request");
    let status = r.status().as_u16();
    (status, r.bytes().await.unwrap_or_default().to_vec())
}

/// The first URI line of an HLS playlist, resolved against the playlist's URL.
fn first_uri(base: &str, playlist: &[u8]) -> String {
    let text = String::from_utf8_lossy(playlist);
    let line = text
        .lines()
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or_else(|| panic!("no URI in {text}"));
    format!("{}/{}", base.rsplit_once('/').unwrap().0, line)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_answers_503_and_writes_recover_when_space_returns() {
    let fs = Tmpfs::mount("24m");
    let data = fs.path.join("data");
    let bucket = data.join("buckets/media");
    std::fs::create_dir_all(&bucket).unwrap();
    std::fs::copy(
        media_dir().join("ladder/ladder_360p.mp4"),
        bucket.join("a.mp4"),
    )
    .unwrap();
    let mut server = Server::spawn(&data, &Options::default());
    // No SDK retries: every refused write is one request, answered at once.
    let c = mpv::Client::from_conf(
        server
            .client()
            .config()
            .to_builder()
            .retry_config(mpv::config::retry::RetryConfig::disabled())
            .build(),
    );
    c.create_packaging_group().id("g").send().await.unwrap();
    create_config(&c, "hls", |b| {
        b.hls_package(
            HlsPackage::builder()
                .hls_manifests(HlsManifest::builder().build())
                .build(),
        )
    })
    .await;
    let urls = create_asset(&c, "a1", "arn:aws:s3:::media/a.mp4").await;
    assert_eq!(wait_ingest(&c, "a1").await, ["PLAYABLE"]);
    let manifest = urls["hls"].clone();

    // Fill the file system.
    let filler = fs.path.join("filler");
    let n = fill(&filler);
    assert!(n > 0, "nothing could be written to the tmpfs");

    // Every kind of write is refused with 503, repeatedly (each may take another connection).
    for i in 0..4 {
        assert_unavailable(
            "CreatePackagingGroup",
            c.create_packaging_group()
                .id(format!("full{i}"))
                .send()
                .await,
        );
        assert_unavailable(
            "CreateAsset",
            c.create_asset()
                .id(format!("full{i}"))
                .packaging_group_id("g")
                .source_arn("arn:aws:s3:::media/a.mp4")
                .source_role_arn(ROLE)
                .send()
                .await,
        );
        assert_unavailable(
            "TagResource",
            c.tag_resource()
                .resource_arn(format!(
                    "arn:aws:mediapackage-vod:{REGION}:{ACCOUNT}:packaging-groups/g"
                ))
                .tags("k", format!("v{i}"))
                .send()
                .await,
        );
    }
    // Reads keep working: the API, and egress (manifest, media playlist, segment).
    let d = c.describe_asset().id("a1").send().await.unwrap();
    assert_eq!(d.egress_endpoints()[0].status(), Some("PLAYABLE"));
    assert_eq!(
        c.list_packaging_groups()
            .send()
            .await
            .unwrap()
            .packaging_groups()
            .len(),
        1
    );
    assert!(c.describe_asset().id("full0").send().await.is_err());
    let (status, body) = get(&manifest).await;
    assert_eq!(status, 200, "multivariant playlist on a full disk");
    let media = first_uri(&manifest, &body);
    let (status, body) = get(&media).await;
    assert_eq!(status, 200, "{media} on a full disk");
    let segment = first_uri(&media, &body);
    let (status, body) = get(&segment).await;
    assert!(
        status == 200 && !body.is_empty(),
        "{segment} on a full disk: {status}"
    );

    // Space comes back: every write works again, on every pooled connection, without restart.
    std::fs::remove_file(&filler).unwrap();
    for i in 0..9 {
        c.create_packaging_group()
            .id(format!("after{i}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreatePackagingGroup after{i} once space is back: {e:?}"));
        c.tag_resource()
            .resource_arn(format!(
                "arn:aws:mediapackage-vod:{REGION}:{ACCOUNT}:packaging-groups/g"
            ))
            .tags(format!("k{i}"), "v")
            .send()
            .await
            .unwrap_or_else(|e| panic!("TagResource {i} once space is back: {e:?}"));
    }
    let urls2 = create_asset(&c, "a2", "arn:aws:s3:::media/a.mp4").await;
    assert_eq!(wait_ingest(&c, "a2").await, ["PLAYABLE"]);

    // Nothing acknowledged is lost across a hard restart.
    server.kill9();
    let server = Server::spawn(&data, &Options::default());
    let c = server.client();
    let groups: Vec<String> = c
        .list_packaging_groups()
        .max_results(50)
        .send()
        .await
        .unwrap()
        .packaging_groups()
        .iter()
        .map(|g| g.id().unwrap().to_string())
        .collect();
    let mut want = vec!["g".to_string()];
    want.extend((0..9).map(|i| format!("after{i}")));
    let mut got = groups.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    let g = c.describe_packaging_group().id("g").send().await.unwrap();
    let tags = g.tags().cloned().unwrap_or_default();
    for i in 0..9 {
        assert_eq!(tags.get(&format!("k{i}")).map(String::as_str), Some("v"));
    }
    assert!(
        !tags.contains_key("k"),
        "a refused tag write must not appear"
    );
    for (id, before) in [("a1", &manifest), ("a2", &urls2["hls"])] {
        let d = c.describe_asset().id(id).send().await.unwrap();
        let ep = &d.egress_endpoints()[0];
        assert_eq!(ep.status(), Some("PLAYABLE"), "{id}");
        let url = ep.url().unwrap();
        // Same egress path as before the restart (only the port changed).
        assert_eq!(
            url.split_once("/out/").unwrap().1,
            before.split_once("/out/").unwrap().1
        );
        assert_eq!(get(url).await.0, 200, "{id} after restart");
    }
    drop(server);
    drop(fs);
}

/// An asset queued before the disk filled is ingested once space is back, without a restart:
/// the server (re)starts on the full disk, its ingest workers cannot claim work, and pick it
/// up as soon as the filler is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_ingest_waits_for_space() {
    let fs = Tmpfs::mount("24m");
    let data = fs.path.join("data");
    let bucket = data.join("buckets/media");
    std::fs::create_dir_all(&bucket).unwrap();
    std::fs::copy(
        media_dir().join("ladder/ladder_360p.mp4"),
        bucket.join("a.mp4"),
    )
    .unwrap();
    // A node that does not ingest queues the asset.
    let mut api_only = Server::spawn(
        &data,
        &Options {
            extra_args: vec!["--ingest-concurrency".into(), "0".into()],
            ..Options::default()
        },
    );
    let c = api_only.client();
    c.create_packaging_group().id("g").send().await.unwrap();
    create_config(&c, "hls", |b| {
        b.hls_package(
            HlsPackage::builder()
                .hls_manifests(HlsManifest::builder().build())
                .build(),
        )
    })
    .await;
    create_asset(&c, "q", "arn:aws:s3:::media/a.mp4").await;
    api_only.kill9();

    let filler = fs.path.join("filler");
    assert!(fill(&filler) > 0);
    let server = Server::spawn(&data, &Options::default());
    let c = server.client();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let d = c.describe_asset().id("q").send().await.unwrap();
    let status = d.egress_endpoints()[0]
        .status()
        .unwrap_or_default()
        .to_string();
    assert!(
        status == "QUEUED" || status == "PROCESSING",
        "an ingest cannot finish on a full disk: {status}"
    );
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(wait_ingest(&c, "q").await, ["PLAYABLE"]);
    let url = d.egress_endpoints()[0].url().unwrap().to_string();
    assert_eq!(get(&url).await.0, 200);
    drop(server);
    drop(fs);
}
