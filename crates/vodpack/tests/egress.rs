//! Egress end to end (first slice: HLS with MPEG-TS): a PLAYABLE asset's egress URL serves a
//! multivariant playlist whose every rendition ffmpeg decodes over HTTP without an error, with
//! the source's duration; URLs of unknown or not-yet-playable assets answer 404.

mod common;

use aws_sdk_mediapackagevod as mpv;
use common::*;
use mpv::types::*;

/// The asset's egress URL for its group's only configuration.
async fn first_url(c: &mpv::Client, id: &str, source: &str) -> String {
    create_asset(c, id, source)
        .await
        .into_values()
        .next()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_ts_plays_from_every_source_kind() {
    let server = Server::start();
    copy_tree(&media_dir(), &server.data_dir.join("buckets/media"));
    let c = server.client();
    c.create_packaging_group().id("g").send().await.unwrap();
    c.create_packaging_configuration()
        .id("hls")
        .packaging_group_id("g")
        .hls_package(
            HlsPackage::builder()
                .segment_duration_seconds(4)
                .hls_manifests(
                    HlsManifest::builder()
                        .manifest_name("main")
                        .program_date_time_interval_seconds(8)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let ladder = first_url(&c, "ladder", "arn:aws:s3:::media/ladder/ladder.smil").await;
    let created = c
        .describe_asset()
        .id("ladder")
        .send()
        .await
        .unwrap()
        .created_at()
        .unwrap()
        .to_string();
    // Before ingest finishes (or if it never does) the URL is a clear 404.
    let early = reqwest::get(&ladder).await.unwrap();
    if early.status() != 200 {
        assert_eq!(early.status(), 404);
    }
    let hls = first_url(&c, "hls", "arn:aws:s3:::media/hls/master.m3u8").await;
    let hevc = first_url(&c, "hevc", "arn:aws:s3:::media/hevc.mp4").await;
    let ac3 = first_url(&c, "ac3", "arn:aws:s3:::media/hls_ac3/index.m3u8").await;
    for id in ["ladder", "hls", "hevc", "ac3"] {
        assert_eq!(wait_ingest(&c, id).await, ["PLAYABLE"], "{id}");
    }
    let master = reqwest::get(&ladder).await.unwrap();
    assert_eq!(master.status(), 200);
    assert_eq!(
        master.headers()["content-type"],
        "application/vnd.apple.mpegurl"
    );
    let text = master.text().await.unwrap();
    let Ok(m3u8_rs::Playlist::MasterPlaylist(p)) = m3u8_rs::parse_playlist_res(text.as_bytes())
    else {
        panic!("{text}")
    };
    assert_eq!(p.variants.len(), 3, "one variant per rendition");
    assert!(
        p.variants[2]
            .codecs
            .as_deref()
            .unwrap()
            .starts_with("avc1.64001f,mp4a.40.2")
    );
    // 4 s requested over 2 s GOPs: 4 s segments, the 12 s asset in 3.
    let base = ladder.rsplit_once('/').unwrap().0;
    let media = reqwest::get(format!("{base}/main_0.m3u8"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let Ok(m3u8_rs::Playlist::MediaPlaylist(mp)) = m3u8_rs::parse_playlist_res(media.as_bytes())
    else {
        panic!("{media}")
    };
    assert_eq!(mp.segments.len(), 3);
    assert!(mp.end_list);
    // programDateTimeIntervalSeconds 8 over 4 s segments: a date on segments 0 and 2, starting
    // at the asset's ingest time.
    let dates: Vec<Option<String>> = mp
        .segments
        .iter()
        .map(|s| s.program_date_time.map(|d| d.to_rfc3339()))
        .collect();
    let start = chrono::DateTime::parse_from_rfc3339(&created).unwrap();
    assert_eq!(
        dates[0]
            .as_deref()
            .map(|d| chrono::DateTime::parse_from_rfc3339(d).unwrap()),
        Some(start)
    );
    assert!(dates[1].is_none() && dates[2].is_some(), "{dates:?}");
    for (what, url) in [
        ("ladder", &ladder),
        ("hls", &hls),
        ("hevc", &hevc),
        ("ac3", &ac3),
    ] {
        let d = decode(url);
        assert!((d - 12.0).abs() < 0.1, "{what}: duration {d}");
    }
    for v in 0..3 {
        let d = decode(&format!("{base}/main_{v}.m3u8"));
        assert!((d - 12.0).abs() < 0.1, "variant {v}: {d}");
    }
    // BANDWIDTH bounds every segment's bit rate (RFC 8216 §4.3.4.2), AVERAGE-BANDWIDTH is the
    // rendition's real average (within 10%, Apple's validator's tolerance).
    for (v, variant) in p.variants.iter().enumerate() {
        let text = reqwest::get(format!("{base}/main_{v}.m3u8"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let Ok(m3u8_rs::Playlist::MediaPlaylist(mp)) = m3u8_rs::parse_playlist_res(text.as_bytes())
        else {
            panic!("{text}")
        };
        let (mut bytes, mut seconds) = (0usize, 0f64);
        assert!(!mp.segments.is_empty(), "variant {v}: no segments");
        for s in &mp.segments {
            let r = reqwest::get(format!("{base}/{}", s.uri)).await.unwrap();
            assert_eq!(r.status(), 200, "variant {v} {}", s.uri);
            let len = r.bytes().await.unwrap().len();
            let rate = len as f64 * 8.0 / f64::from(s.duration);
            assert!(
                rate <= variant.bandwidth as f64,
                "variant {v} {}: {rate} b/s over BANDWIDTH {}",
                s.uri,
                variant.bandwidth
            );
            bytes += len;
            seconds += f64::from(s.duration);
        }
        let average = bytes as f64 * 8.0 / seconds;
        let stated = variant.average_bandwidth.unwrap() as f64;
        assert!(
            average <= stated * 1.1 && average >= stated * 0.8,
            "variant {v}: average {average} b/s, AVERAGE-BANDWIDTH {stated}"
        );
    }
    // HTTP behaviour a CDN relies on: validators, conditional GET, byte ranges, HEAD.
    let seg_url = format!("{base}/main_0_0.ts");
    let client = reqwest::Client::new();
    let full = client.get(&seg_url).send().await.unwrap();
    assert_eq!(full.status(), 200);
    assert_eq!(full.headers()["content-type"], "video/MP2T");
    assert!(
        full.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=31536000")
    );
    assert_eq!(full.headers()["accept-ranges"], "bytes");
    assert_eq!(full.headers()["access-control-allow-origin"], "*");
    let etag = full.headers()["etag"].to_str().unwrap().to_string();
    let body = full.bytes().await.unwrap();
    assert_eq!(body.len() % 188, 0);
    let again = client
        .get(&seg_url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body, again, "segments are deterministic");
    let nm = client
        .get(&seg_url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(nm.status(), 304);
    let part = client
        .get(&seg_url)
        .header("range", "bytes=188-375")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 188-375/{}", body.len())
    );
    assert_eq!(part.bytes().await.unwrap(), body.slice(188..376));
    let tail = client
        .get(&seg_url)
        .header("range", "bytes=-188")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.bytes().await.unwrap(), body.slice(body.len() - 188..));
    let bad = client
        .get(&seg_url)
        .header("range", format!("bytes={}-", body.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 416);
    let head = client.head(&seg_url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(
        head.headers()["content-length"].to_str().unwrap(),
        body.len().to_string()
    );
    // A weak validator (what a gzipping proxy turns ours into) still matches If-None-Match;
    // the 304 carries the headers a cache updates.
    let nm = client
        .get(&seg_url)
        .header("if-none-match", format!("W/{etag}"))
        .send()
        .await
        .unwrap();
    assert_eq!(nm.status(), 304);
    for h in ["etag", "cache-control", "last-modified"] {
        assert!(nm.headers().get(h).is_some(), "304 without {h}");
    }
    // Other range units and multiple ranges get the whole body; so does a Range whose
    // If-Range names another version.
    for (range, if_range) in [
        ("items=0-1", None),
        ("bytes=0-1,5-6", None),
        ("bytes=0-187", Some("\"other\"")),
    ] {
        let mut rb = client.get(&seg_url).header("range", range);
        if let Some(v) = if_range {
            rb = rb.header("if-range", v);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), 200, "{range}");
        assert_eq!(r.bytes().await.unwrap(), body, "{range}");
    }
    let r = client
        .get(&seg_url)
        .header("range", "bytes=0-187")
        .header("if-range", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    // Unknown files and assets are 404s.
    for bad in ["main_9.m3u8", "main_0_99.ts", "other.m3u8", "main_x.ts"] {
        assert_eq!(
            reqwest::get(format!("{base}/{bad}"))
                .await
                .unwrap()
                .status(),
            404,
            "{bad}"
        );
    }
    let unknown = ladder.replacen("/out/v1/", "/out/v1/0", 1);
    assert_eq!(reqwest::get(unknown).await.unwrap().status(), 404);
    // Deleting the asset stops delivery.
    c.delete_asset().id("ladder").send().await.unwrap();
    assert_eq!(reqwest::get(&ladder).await.unwrap().status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_stream_selection_and_audio_groups() {
    let server = Server::start();
    copy_tree(&media_dir(), &server.data_dir.join("buckets/media"));
    let c = server.client();
    c.create_packaging_group().id("g").send().await.unwrap();
    c.create_packaging_configuration()
        .id("grouped")
        .packaging_group_id("g")
        .hls_package(
            HlsPackage::builder()
                .use_audio_rendition_group(true)
                .hls_manifests(
                    HlsManifest::builder()
                        .manifest_name("sel")
                        .stream_selection(
                            StreamSelection::builder()
                                .max_video_bits_per_second(1_000_000)
                                .stream_order(StreamOrder::VideoBitrateDescending)
                                .build(),
                        )
                        .build(),
                )
                .hls_manifests(HlsManifest::builder().manifest_name("all").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let ladder = first_url(&c, "ladder", "arn:aws:s3:::media/ladder/ladder.smil").await;
    let two = first_url(&c, "two", "arn:aws:s3:::media/two_audio.smil").await;
    assert_eq!(wait_ingest(&c, "ladder").await, ["PLAYABLE"]);
    assert_eq!(wait_ingest(&c, "two").await, ["PLAYABLE"]);

    // Selection: the 1.5 Mb/s 720p rendition is dropped, the rest are listed highest first.
    let text = reqwest::get(&ladder).await.unwrap().text().await.unwrap();
    let Ok(m3u8_rs::Playlist::MasterPlaylist(p)) = m3u8_rs::parse_playlist_res(text.as_bytes())
    else {
        panic!("{text}")
    };
    let heights: Vec<u64> = p
        .variants
        .iter()
        .map(|v| v.resolution.unwrap().height)
        .collect();
    assert_eq!(heights, [540, 360], "{text}");
    assert!(
        p.variants
            .iter()
            .all(|v| v.audio.as_deref() == Some("audio"))
    );
    // The audio rendition and the SMIL's SRT as a WebVTT subtitle rendition.
    assert_eq!(p.alternatives.len(), 2, "{text}");
    let d = decode(&ladder);
    assert!((d - 12.0).abs() < 0.1, "{d}");
    // The second manifest of the same configuration has its own URL and lists every rendition.
    let all = ladder.replace("/sel.m3u8", "/all.m3u8");
    assert_eq!(
        reqwest::get(&all).await.unwrap().status(),
        404,
        "each manifest has its own folder"
    );
    // Every audio language is its own rendition, decodable on its own.
    let text = reqwest::get(&two).await.unwrap().text().await.unwrap();
    let Ok(m3u8_rs::Playlist::MasterPlaylist(p)) = m3u8_rs::parse_playlist_res(text.as_bytes())
    else {
        panic!("{text}")
    };
    let langs: Vec<_> = p
        .alternatives
        .iter()
        .map(|a| (a.language.clone().unwrap(), a.name.clone()))
        .collect();
    assert_eq!(
        langs,
        [
            ("eng".to_string(), "English".to_string()),
            ("fra".to_string(), "French".to_string())
        ]
    );
    let base = two.rsplit_once('/').unwrap().0;
    for k in 0..2 {
        let d = decode(&format!("{base}/sel_a{k}.m3u8"));
        assert!((d - 12.0).abs() < 0.1, "audio {k}: {d}");
    }
    let d = decode(&two);
    assert!((d - 12.0).abs() < 0.1, "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdn_authorization_with_rotation() {
    let server = Server::start();
    copy_tree(
        &media_dir().join("ladder"),
        &server.data_dir.join("buckets/media/ladder"),
    );
    let secret = "arn:aws:secretsmanager:us-east-1:111122223333:secret:cdn-AbCdEf";
    let secrets = server.data_dir.join("cdn-secrets.json");
    std::fs::write(
        &secrets,
        format!(r#"{{"{secret}": ["current-value-1", "previous-value-0"]}}"#),
    )
    .unwrap();
    let c = server.client();
    c.create_packaging_group()
        .id("g")
        .authorization(
            Authorization::builder()
                .cdn_identifier_secret(secret)
                .secrets_role_arn("arn:aws:iam::111122223333:role/CdnSecrets")
                .build(),
        )
        .send()
        .await
        .unwrap();
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
    let url = first_url(&c, "a", "arn:aws:s3:::media/ladder/ladder_360p.mp4").await;
    assert_eq!(wait_ingest(&c, "a").await, ["PLAYABLE"]);
    let client = reqwest::Client::new();
    let get = |value: Option<&'static str>| {
        let mut rb = client.get(&url);
        if let Some(v) = value {
            rb = rb.header("X-MediaPackage-CDNIdentifier", v);
        }
        async move { rb.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get(None).await, 403);
    assert_eq!(get(Some("wrong")).await, 403);
    assert_eq!(get(Some("current-value-1")).await, 200);
    assert_eq!(get(Some("previous-value-0")).await, 200);
    // Rotation: a new current value; the old current becomes previous; the oldest is refused.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(
        &secrets,
        format!(r#"{{"{secret}": ["current-value-2", "current-value-1"]}}"#),
    )
    .unwrap();
    assert_eq!(get(Some("current-value-2")).await, 200);
    assert_eq!(get(Some("current-value-1")).await, 200);
    assert_eq!(get(Some("previous-value-0")).await, 403);
    // Clearing the group's authorization opens egress again.
    c.update_packaging_group().id("g").send().await.unwrap();
    assert_eq!(get(None).await, 200);
}
