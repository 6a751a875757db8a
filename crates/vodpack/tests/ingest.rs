//! Ingest end to end through the API: assets from the local folder and from an S3-compatible
//! server (moto) become PLAYABLE, broken sources become FAILED with the right reason (read from
//! the IngestError events on a webhook), a restart resumes interrupted work, and sources cannot
//! reach outside their bucket.

mod common;

use std::process::Command;
use std::time::Duration;

use aws_sdk_mediapackagevod as mpv;
use common::*;
use mpv::types::*;

const ROLE: &str = "arn:aws:iam::111122223333:role/MediaPackageSource";

async fn setup_group(c: &mpv::Client) {
    c.create_packaging_group().id("g").send().await.unwrap();
    c.create_packaging_configuration()
        .id("hls")
        .packaging_group_id("g")
        .hls_package(
            HlsPackage::builder()
                .hls_manifests(HlsManifest::builder().build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    c.create_packaging_configuration()
        .id("dash")
        .packaging_group_id("g")
        .dash_package(
            DashPackage::builder()
                .dash_manifests(DashManifest::builder().build())
                .build(),
        )
        .send()
        .await
        .unwrap();
}

async fn create(c: &mpv::Client, id: &str, source: &str) {
    c.create_asset()
        .id(id)
        .packaging_group_id("g")
        .source_arn(source)
        .source_role_arn(ROLE)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create {id}: {e:?}"));
}

/// Copies the test media into `<data dir>/buckets/media/`.
fn stage_local(server_data: &std::path::Path) -> std::path::PathBuf {
    let bucket = server_data.join("buckets/media");
    copy_tree(&media_dir(), &bucket);
    bucket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_sources_become_playable_with_events() {
    let hook = Webhook::start().await;
    let server = Server::start_with(Options {
        extra_args: vec!["--events-webhook".into(), hook.url.clone()],
        ..Options::default()
    });
    stage_local(&server.data_dir);
    let c = server.client();
    setup_group(&c).await;
    let sources = [
        ("ladder", "arn:aws:s3:::media/ladder/ladder.smil"),
        ("single", "arn:aws:s3:::media/ladder_faststart.mp4"),
        (
            "moov_last",
            "arn:aws:s3::111122223333:media/ladder/ladder_360p.mp4",
        ),
        ("two_audio", "arn:aws:s3:::media/two_audio.smil"),
        ("hevc", "arn:aws:s3:::media/hevc.mp4"),
        ("ac3", "arn:aws:s3:::media/ac3.mp4"),
        ("eac3", "arn:aws:s3:::media/eac3.mp4"),
        ("hls", "arn:aws:s3:::media/hls/master.m3u8"),
        ("hls_media_only", "arn:aws:s3:::media/hls/540p.m3u8"),
        ("hls_alt_audio", "arn:aws:s3:::media/hls_alt/master.m3u8"),
        ("hls_hevc", "arn:aws:s3:::media/hls_hevc/index.m3u8"),
        ("hls_ac3", "arn:aws:s3:::media/hls_ac3/index.m3u8"),
        ("hls_eac3", "arn:aws:s3:::media/hls_eac3/index.m3u8"),
        ("hls_subs", "arn:aws:s3:::media/hls_subs/master.m3u8"),
    ];
    for (id, src) in sources {
        create(&c, id, src).await;
    }
    for (id, _) in sources {
        let statuses = wait_ingest(&c, id).await;
        assert_eq!(statuses, ["PLAYABLE", "PLAYABLE"], "{id}");
    }
    // Events: IngestStart, IngestComplete, and one VodAssetPlayable per configuration.
    for (id, _) in sources {
        hook.wait_for("IngestStart", id, 1).await;
        let done = hook.wait_for("IngestComplete", id, 1).await;
        assert_eq!(done[0]["source"], "aws.mediapackage");
        assert_eq!(done[0]["detail-type"], "MediaPackage Input Notification");
        assert_eq!(done[0]["region"], REGION);
        assert_eq!(done[0]["account"], ACCOUNT);
        let playable = hook.wait_for("VodAssetPlayable", id, 2).await;
        let d = c.describe_asset().id(id).send().await.unwrap();
        assert_eq!(d.egress_endpoints().len(), 2, "{id}: endpoints");
        for ep in d.egress_endpoints() {
            let pc = ep.packaging_configuration_id().unwrap();
            let ev = playable
                .iter()
                .find(|e| e["detail"]["packaging_configuration_id"] == pc)
                .unwrap_or_else(|| panic!("no VodAssetPlayable for {id} × {pc}"));
            assert_eq!(ev["detail"]["manifest_urls"][0], ep.url().unwrap());
            assert!(
                ev["resources"][1]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("packaging-configurations/{pc}"))
            );
        }
        assert!(hook.of("IngestError", id).is_empty(), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_sources_fail_with_the_reason() {
    let hook = Webhook::start().await;
    let server = Server::start_with(Options {
        extra_args: vec!["--events-webhook".into(), hook.url.clone()],
        ..Options::default()
    });
    let bucket = stage_local(&server.data_dir);
    // A SMIL that points outside the bucket, and a symlink that leads outside it.
    std::fs::write(
        bucket.join("escape.smil"),
        r#"<smil><body><switch><video src="../../../../../../etc/passwd"/></switch></body></smil>"#,
    )
    .unwrap();
    let outside = server.data_dir.join("outside.mp4");
    std::fs::copy(bucket.join("ladder/ladder_360p.mp4"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, bucket.join("link.mp4")).unwrap();
    std::fs::write(
        bucket.join("too_many.smil"),
        format!(
            "<smil><body><switch>{}</switch></body></smil>",
            r#"<video src="ladder/ladder_360p.mp4"/>"#.repeat(21)
        ),
    )
    .unwrap();
    std::fs::write(bucket.join("bad.smil"), "<smil><body><switch><video").unwrap();
    // Broken HLS: live playlist, encrypted, a missing segment, a segment that is not TS.
    let hls = bucket.join("hls");
    std::fs::write(
        hls.join("live.m3u8"),
        "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.0,\n360p_000.ts\n",
    )
    .unwrap();
    std::fs::write(
        hls.join("encrypted.m3u8"),
        "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-KEY:METHOD=AES-128,URI=\"k.key\"\n#EXTINF:6.0,\n360p_000.ts\n#EXT-X-ENDLIST\n",
    )
    .unwrap();
    std::fs::write(hls.join("gap.m3u8"), "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.0,\n360p_000.ts\n#EXTINF:6.0,\nnope.ts\n#EXT-X-ENDLIST\n").unwrap();
    std::fs::write(hls.join("junk.ts"), vec![0x47u8; 188 * 3 + 5]).unwrap();
    std::fs::write(
        hls.join("junk.m3u8"),
        "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.0,\njunk.ts\n#EXT-X-ENDLIST\n",
    )
    .unwrap();
    let c = server.client();
    setup_group(&c).await;
    let cases = [
        (
            "truncated",
            "media/broken/truncated.mp4",
            "truncated source",
        ),
        ("corrupt", "media/broken/corrupt_box.mp4", "corrupt source"),
        (
            "misaligned",
            "media/broken/misaligned.smil",
            "misaligned_gop37.mp4 has a key frame at 1.480s",
        ),
        (
            "unsupported",
            "media/broken/unsupported_codec.mp4",
            "unsupported source",
        ),
        (
            "not_media",
            "media/broken/not_media.mp4",
            "not a supported container",
        ),
        ("empty", "media/broken/empty.mp4", "the file is empty"),
        (
            "encrypted",
            "media/broken/encrypted.mp4",
            "encrypted source",
        ),
        ("missing", "media/no/such/file.mp4", "does not exist"),
        ("no_bucket", "nobucket/file.mp4", "does not exist"),
        ("escape", "media/escape.smil", "would leave the bucket"),
        ("symlink", "media/link.mp4", "denied"),
        (
            "too_many",
            "media/too_many.smil",
            "21 streams, more than 20",
        ),
        ("bad_smil", "media/bad.smil", "invalid SMIL"),
        ("hls_live", "media/hls/live.m3u8", "EXT-X-ENDLIST"),
        (
            "hls_encrypted",
            "media/hls/encrypted.m3u8",
            "encrypted source",
        ),
        (
            "hls_gap",
            "media/hls/gap.m3u8",
            "hls/nope.ts does not exist",
        ),
        ("hls_junk", "media/hls/junk.m3u8", "188-byte TS packets"),
    ];
    for (id, key, _) in cases {
        create(&c, id, &format!("arn:aws:s3:::{key}")).await;
    }
    create(&c, "good", "arn:aws:s3:::media/ladder/ladder.smil").await;
    for (id, _, reason) in cases {
        assert_eq!(wait_ingest(&c, id).await, ["FAILED", "FAILED"], "{id}");
        let err = hook.wait_for("IngestError", id, 1).await;
        let msg = err[0]["detail"]["message"].as_str().unwrap();
        assert!(
            msg.contains(reason),
            "{id}: {msg:?} should contain {reason:?}"
        );
    }
    // Other assets are not affected by the failures.
    assert_eq!(wait_ingest(&c, "good").await, ["PLAYABLE", "PLAYABLE"]);

    // Keys that leave the bucket are refused at CreateAsset already.
    for bad in [
        "arn:aws:s3:::media/../secret.mp4",
        "arn:aws:s3:::media//etc/passwd",
        "arn:aws:s3:::media/a/../../b.mp4",
    ] {
        let err = c
            .create_asset()
            .id("bad")
            .packaging_group_id("g")
            .source_arn(bad)
            .source_role_arn(ROLE)
            .send()
            .await
            .expect_err(bad);
        assert!(
            err.into_service_error().is_unprocessable_entity_exception(),
            "{bad}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_ingest_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // An API-only node (no ingest workers) accepts the asset and keeps it QUEUED.
    let paused = Options {
        extra_args: vec!["--ingest-concurrency".into(), "0".into()],
        ..Options::default()
    };
    let mut server = Server::spawn(&data, &paused);
    copy_tree(
        &media_dir().join("ladder"),
        &data.join("buckets/media/ladder"),
    );
    let c = server.client();
    setup_group(&c).await;
    create(&c, "a1", "arn:aws:s3:::media/ladder/ladder.smil").await;
    create(&c, "a2", "arn:aws:s3:::media/ladder/ladder_540p.mp4").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let d = c.describe_asset().id("a1").send().await.unwrap();
    assert_eq!(d.egress_endpoints()[0].status(), Some("QUEUED"));
    server.kill9();
    // Simulate a crash in the middle of ingesting a1: the row says PROCESSING.
    let db = data.join("vodpack.sqlite3");
    let out = Command::new("python3")
        .arg("-c")
        .arg("import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE assets SET status='PROCESSING' WHERE id='a1'\"); c.commit()")
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = Server::spawn(&data, &Options::default());
    let c = server.client();
    assert_eq!(wait_ingest(&c, "a1").await, ["PLAYABLE", "PLAYABLE"]);
    assert_eq!(wait_ingest(&c, "a2").await, ["PLAYABLE", "PLAYABLE"]);
    // Deleting and re-creating is clean: the new asset is ingested afresh.
    c.delete_asset().id("a1").send().await.unwrap();
    create(&c, "a1", "arn:aws:s3:::media/ladder/missing.smil").await;
    assert_eq!(wait_ingest(&c, "a1").await, ["FAILED", "FAILED"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_sources_become_playable() {
    let moto = Moto::start().await;
    let media = media_dir();
    moto.aws(&["s3", "mb", "s3://vod-src"]);
    let hls_dir = media.join("hls");
    moto.aws(&[
        "s3",
        "cp",
        "--recursive",
        "--quiet",
        hls_dir.to_str().unwrap(),
        "s3://vod-src/titles/hls/",
    ]);
    moto.aws(&[
        "s3",
        "cp",
        "--recursive",
        "--quiet",
        media.join("ladder").to_str().unwrap(),
        "s3://vod-src/titles/ladder/",
    ]);
    moto.aws(&[
        "s3",
        "cp",
        "--quiet",
        media.join("broken/truncated.mp4").to_str().unwrap(),
        "s3://vod-src/broken/truncated.mp4",
    ]);
    // A long playlist (the same segment 1500 times): slow enough to delete mid-ingest.
    let long = std::env::temp_dir().join(format!("vodpack-long-{}.m3u8", std::process::id()));
    let mut text = String::from("#EXTM3U\n#EXT-X-TARGETDURATION:6\n");
    for _ in 0..1500 {
        text.push_str("#EXTINF:6.0,\n360p_000.ts\n");
    }
    text.push_str("#EXT-X-ENDLIST\n");
    std::fs::write(&long, text).unwrap();
    moto.aws(&[
        "s3",
        "cp",
        "--quiet",
        long.to_str().unwrap(),
        "s3://vod-src/titles/hls/long.m3u8",
    ]);
    std::fs::remove_file(&long).ok();
    let hook = Webhook::start().await;
    let server = Server::start_with(Options {
        extra_args: vec!["--events-webhook".into(), hook.url.clone()],
        env: vec![
            ("VODPACK_S3_ENDPOINT".into(), moto.endpoint.clone()),
            ("VODPACK_S3_PATH_STYLE".into(), "true".into()),
            ("VODPACK_S3_ACCESS_KEY_ID".into(), "testing".into()),
            ("VODPACK_S3_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("VODPACK_S3_REGION".into(), "us-east-1".into()),
        ],
        ..Options::default()
    });
    assert!(
        server
            .stdout_lines
            .iter()
            .any(|l| l.contains("S3-compatible server")),
        "{:?}",
        server.stdout_lines
    );
    let c = server.client();
    setup_group(&c).await;
    create(&c, "smil", "arn:aws:s3:::vod-src/titles/ladder/ladder.smil").await;
    create(
        &c,
        "mp4",
        "arn:aws:s3:::vod-src/titles/ladder/ladder_720p.mp4",
    )
    .await;
    create(&c, "hls", "arn:aws:s3:::vod-src/titles/hls/master.m3u8").await;
    create(&c, "missing", "arn:aws:s3:::vod-src/titles/none.mp4").await;
    create(&c, "no_bucket", "arn:aws:s3:::other-bucket/x.mp4").await;
    create(&c, "truncated", "arn:aws:s3:::vod-src/broken/truncated.mp4").await;
    assert_eq!(wait_ingest(&c, "smil").await, ["PLAYABLE", "PLAYABLE"]);
    assert_eq!(wait_ingest(&c, "mp4").await, ["PLAYABLE", "PLAYABLE"]);
    assert_eq!(wait_ingest(&c, "hls").await, ["PLAYABLE", "PLAYABLE"]);
    assert_eq!(wait_ingest(&c, "missing").await, ["FAILED", "FAILED"]);
    assert_eq!(wait_ingest(&c, "no_bucket").await, ["FAILED", "FAILED"]);
    assert_eq!(wait_ingest(&c, "truncated").await, ["FAILED", "FAILED"]);

    // Deleting an asset mid-ingest cancels it cleanly: no result lands, nothing else is hurt.
    create(&c, "slow", "arn:aws:s3:::vod-src/titles/hls/long.m3u8").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let d = c.describe_asset().id("slow").send().await.unwrap();
        if d.egress_endpoints()[0].status() == Some("PROCESSING") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never saw PROCESSING");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.delete_asset().id("slow").send().await.unwrap();
    let gone = c.describe_asset().id("slow").send().await.unwrap_err();
    assert!(gone.into_service_error().is_not_found_exception());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(hook.of("IngestComplete", "slow").is_empty());
    assert!(
        hook.of("IngestError", "slow").is_empty(),
        "a cancelled ingest is not an error"
    );
    create(
        &c,
        "after",
        "arn:aws:s3:::vod-src/titles/ladder/ladder_360p.mp4",
    )
    .await;
    assert_eq!(wait_ingest(&c, "after").await, ["PLAYABLE", "PLAYABLE"]);
}

fn inspect(args: &[&str]) -> (bool, serde_json::Value, String) {
    let out = Command::new(bin())
        .arg("inspect")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.success(),
        json,
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn inspect_reports_tracks_segments_and_errors() {
    let media = media_dir();
    let (ok, j, err) = inspect(&[
        media.join("ladder/ladder.smil").to_str().unwrap(),
        "--segment-duration",
        "5",
    ]);
    assert!(ok, "{err}");
    assert_eq!(j["source"], "Smil");
    let tracks = j["tracks"].as_array().unwrap();
    let kinds: Vec<&str> = tracks.iter().map(|t| t["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["video", "audio", "video", "video", "subtitle"]);
    assert_eq!(tracks[3]["codecString"], "avc1.64001f");
    assert_eq!(tracks[3]["width"], 1280);
    assert_eq!(tracks[1]["name"], "English");
    assert_eq!(tracks[0]["gop"]["medianSeconds"], 2.0);
    // 5 s rounds to the nearest multiple of the 2 s GOP: 6 s, so 12 s makes two segments.
    assert_eq!(j["segments"]["segmentSeconds"], 6.0);
    assert_eq!(j["segments"]["count"], 2);
    assert!(j["indexBytes"].as_u64().unwrap() > 0);

    let (ok, j, err) = inspect(&[media.join("hls_alt/master.m3u8").to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(j["source"], "HlsTs");
    let audio = &j["tracks"][1];
    assert_eq!(audio["kind"], "audio");
    assert_eq!(audio["language"], "fra");
    assert_eq!(audio["name"], "Français");

    // WebVTT subtitles of an HLS source: placed on the video's clock by X-TIMESTAMP-MAP (local
    // 0 = the first video PTS), the cue repeated across the segment boundary kept once.
    let (ok, j, err) = inspect(&[media.join("hls_subs/master.m3u8").to_str().unwrap()]);
    assert!(ok, "{err}");
    let subs = &j["tracks"][2];
    assert_eq!(subs["kind"], "subtitle");
    assert_eq!(subs["codec"], "webvtt");
    assert_eq!(
        (subs["language"].as_str(), subs["name"].as_str()),
        (Some("eng"), Some("English"))
    );
    assert_eq!(subs["samples"], 8, "4 cues, each with its end marker");
    let video_start = j["tracks"][0]["startSeconds"].as_f64().unwrap();
    let subs_start = subs["startSeconds"].as_f64().unwrap();
    assert!(
        (subs_start - (video_start + 0.5)).abs() < 0.002,
        "{subs_start} vs {video_start} + 0.5"
    );

    // The size caps are settings, and refuse with a clear reason.
    let ladder = media.join("ladder/ladder_360p.mp4");
    let (ok, _, err) = inspect(&[ladder.to_str().unwrap(), "--max-moov-bytes", "1000"]);
    assert!(!ok && err.contains("more than the limit of 1000"), "{err}");
    let (ok, _, err) = inspect(&[ladder.to_str().unwrap(), "--max-samples-per-track", "100"]);
    assert!(!ok && err.contains("more than the limit of 100"), "{err}");

    let (ok, j, err) = inspect(&[media.join("broken/misaligned.smil").to_str().unwrap()]);
    assert!(!ok);
    assert!(j["error"].as_str().unwrap().contains("not aligned"), "{j}");
    assert!(
        err.contains("misaligned_gop37.mp4 has a key frame at 1.480s"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_deliveries_are_retried() {
    let hook = Webhook::start_failing(3).await;
    let server = Server::start_with(Options {
        extra_args: vec!["--events-webhook".into(), hook.url.clone()],
        ..Options::default()
    });
    copy_tree(
        &media_dir().join("ladder"),
        &server.data_dir.join("buckets/media/ladder"),
    );
    let c = server.client();
    setup_group(&c).await;
    create(&c, "a", "arn:aws:s3:::media/ladder/ladder_360p.mp4").await;
    assert_eq!(wait_ingest(&c, "a").await, ["PLAYABLE", "PLAYABLE"]);
    // The first three POSTs were refused; every event still arrives, once.
    assert_eq!(hook.wait_for("IngestStart", "a", 1).await.len(), 1);
    assert_eq!(hook.wait_for("IngestComplete", "a", 1).await.len(), 1);
    assert_eq!(hook.wait_for("VodAssetPlayable", "a", 2).await.len(), 2);
}
