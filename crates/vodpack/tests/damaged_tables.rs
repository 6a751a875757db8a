//! Ingest refuses what egress cannot serve, and every URL a manifest lists answers.
//!
//! Two damaged copies of generated test media, patched here (by a box walker of this test's
//! own) and never committed, reproduce what was reported: an audio `stts` delta of 0 (DASH and
//! Smooth then listed segments that answered 404) and an audio `stsc` run of 0xFFFFFFFF
//! samples per chunk (HLS-TS answered 503 while CMAF/DASH/Smooth served the wrong bytes). Both
//! must end FAILED with a reason naming the file, track and damage. For the healthy source,
//! every URL listed by every manifest of HLS-TS, CMAF, DASH (all three segment template
//! formats) and Smooth is fetched and must answer 200, for the damaged variants that are still
//! accepted and for every accepted source kind.

mod common;

use aws_sdk_mediapackagevod as mpv;
use common::*;
use mpv::types::*;

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// Children of the payload `start..end`: (type, box start, box end).
fn children(b: &[u8], start: usize, end: usize) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    let mut p = start;
    while p + 8 <= end {
        let size = be32(b, p) as usize;
        assert!(size >= 8, "32-bit box sizes only in the test media");
        out.push((
            String::from_utf8_lossy(&b[p + 4..p + 8]).into(),
            p,
            p + size,
        ));
        p += size;
    }
    out
}

/// Offset of the entry count of `stbl/<name>` in trak `trak` (after version/flags).
fn table(b: &[u8], trak: usize, name: &str) -> usize {
    let top = children(b, 0, b.len());
    let moov = top.iter().find(|c| c.0 == "moov").expect("moov");
    let traks: Vec<_> = children(b, moov.1 + 8, moov.2)
        .into_iter()
        .filter(|c| c.0 == "trak")
        .collect();
    let mut cur = traks[trak].clone();
    for level in ["mdia", "minf", "stbl", name] {
        cur = children(b, cur.1 + 8, cur.2)
            .into_iter()
            .find(|c| c.0 == level)
            .unwrap_or_else(|| panic!("no {level}"));
    }
    cur.1 + 12
}

/// A copy of `good` with the u32 at `stbl/<name>` entry field `field` of trak 1 (audio) set.
fn patched(good: &[u8], name: &str, field: usize, value: u32) -> Vec<u8> {
    assert!(be32(good, table(good, 1, name)) >= 1, "{name} has entries");
    patched_in(good, 1, name, field, value)
}

fn patched_in(good: &[u8], trak: usize, name: &str, field: usize, value: u32) -> Vec<u8> {
    let mut b = good.to_vec();
    let at = table(&b, trak, name);
    let f = at + 4 + 4 * field;
    b[f..f + 4].copy_from_slice(&value.to_be_bytes());
    b
}

async fn text(url: &str) -> String {
    let r = reqwest::get(url).await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.text().await.unwrap()
}

/// `base` + relative `uri` (egress URLs are all relative to their manifest's folder).
fn join(base: &str, uri: &str) -> String {
    if uri.starts_with("http") {
        return uri.to_string();
    }
    format!("{}/{}", base.rsplit_once('/').unwrap().0, uri)
}

/// Every URL an HLS playlist tree lists: URI lines and URI="…" attributes (renditions,
/// I-frame playlists, init sections), followed into every playlist.
async fn hls_urls(url: &str, out: &mut Vec<String>) {
    let body = text(url).await;
    for line in body.lines() {
        let mut uris = Vec::new();
        if line.starts_with('#') {
            if let Some(rest) = line.split_once("URI=\"") {
                uris.push(rest.1.split('"').next().unwrap().to_string());
            }
        } else if !line.trim().is_empty() {
            uris.push(line.trim().to_string());
        }
        for u in uris {
            let full = join(url, &u);
            if full.split('?').next().unwrap().ends_with(".m3u8") {
                Box::pin(hls_urls(&full, out)).await;
            }
            out.push(full);
        }
    }
}

/// Every URL an MPD lists, read as a DASH client does: SegmentTemplate of the Representation
/// or its AdaptationSet, `$RepresentationID$`/`$Number$`/`$Time$`/`$Bandwidth$` substituted,
/// SegmentTimeline (with `r`) or `@duration` over the presentation duration.
fn dash_urls(url: &str, mpd: &str) -> Vec<String> {
    let mpd = El::parse(mpd);
    let total = xs_seconds(mpd.attr("mediaPresentationDuration").unwrap());
    let mut out = Vec::new();
    for period in mpd.all("Period") {
        for set in period.all("AdaptationSet") {
            for rep in set.all("Representation") {
                let tpl = rep
                    .one("SegmentTemplate")
                    .or_else(|| set.one("SegmentTemplate"))
                    .expect("SegmentTemplate");
                let id = rep.attr("id").unwrap();
                let fill = |number: u64, time: u64, t: &str| {
                    join(
                        url,
                        &t.replace("$RepresentationID$", id)
                            .replace("$Number$", &number.to_string())
                            .replace("$Time$", &time.to_string())
                            .replace("$Bandwidth$", rep.attr("bandwidth").unwrap()),
                    )
                };
                let media = tpl.attr("media").unwrap();
                let start = tpl.num("startNumber").unwrap_or(1);
                if let Some(init) = tpl.attr("initialization") {
                    out.push(fill(0, 0, init));
                }
                if let Some(tl) = tpl.one("SegmentTimeline") {
                    let (mut t, mut n) = (0u64, start);
                    for s in tl.all("S") {
                        if let Some(st) = s.num("t") {
                            t = st;
                        }
                        let d = s.num("d").unwrap();
                        for _ in 0..=s.num("r").unwrap_or(0) {
                            out.push(fill(n, t, media));
                            t += d;
                            n += 1;
                        }
                    }
                } else {
                    let ts = tpl.num("timescale").unwrap_or(1) as f64;
                    let d = tpl.num("duration").unwrap() as f64 / ts;
                    let count = (total / d - 1e-6).ceil() as u64;
                    for k in 0..count {
                        out.push(fill(start + k, 0, media));
                    }
                }
            }
        }
    }
    out
}

/// Every fragment a Smooth client manifest lists: each QualityLevel × each chunk start time.
fn smooth_urls(url: &str, manifest: &str) -> Vec<String> {
    let m = El::parse(manifest);
    let base = url.strip_suffix("/Manifest").unwrap();
    let mut out = Vec::new();
    for s in m.all("StreamIndex") {
        let template = s.attr("Url").unwrap();
        let mut times = Vec::new();
        let mut t = 0u64;
        for c in s.all("c") {
            if let Some(ct) = c.num("t") {
                t = ct;
            }
            let d = c.num("d").unwrap();
            for _ in 0..c.num("r").unwrap_or(1).max(1) {
                times.push(t);
                t += d;
            }
        }
        for q in s.all("QualityLevel") {
            for t in &times {
                out.push(format!(
                    "{base}/{}",
                    template
                        .replace("{bitrate}", q.attr("Bitrate").unwrap())
                        .replace("{start time}", &t.to_string())
                ));
            }
        }
    }
    out
}

/// Fetches every URL every manifest of the asset lists (HLS and CMAF playlists followed into
/// media and I-frame playlists; DASH; Smooth) and asserts each answers 200 with a body;
/// returns how many were fetched.
async fn every_listed_url_answers(c: &mpv::Client, asset: &str) -> usize {
    let d = c.describe_asset().id(asset).send().await.unwrap();
    let mut fetched = 0;
    for ep in d.egress_endpoints() {
        let config = ep.packaging_configuration_id().unwrap();
        let url = ep.url().unwrap();
        let urls = if url.ends_with(".m3u8") {
            let mut v = Vec::new();
            hls_urls(url, &mut v).await;
            v
        } else if url.ends_with(".mpd") {
            dash_urls(url, &text(url).await)
        } else if url.ends_with("/Manifest") {
            smooth_urls(url, &text(url).await)
        } else {
            panic!("{config}: unknown manifest {url}");
        };
        assert!(urls.len() > 3, "{config}: only {urls:?}");
        for u in &urls {
            let r = reqwest::get(u).await.unwrap();
            let status = r.status().as_u16();
            let body = r.bytes().await.unwrap();
            assert!(
                status == 200 && !body.is_empty(),
                "{config}: {u} answered {status} ({} bytes)",
                body.len()
            );
            fetched += 1;
        }
    }
    fetched
}

/// Configurations of every format in group `g`: HLS-TS and CMAF (with I-frame playlists),
/// DASH in each segment template format (with trick play), Smooth; returns how many.
async fn every_format(c: &mpv::Client) -> usize {
    create_config(c, "hls", |b| {
        b.hls_package(
            HlsPackage::builder()
                .segment_duration_seconds(4)
                .hls_manifests(
                    HlsManifest::builder()
                        .include_iframe_only_stream(true)
                        .build(),
                )
                .build(),
        )
    })
    .await;
    create_config(c, "cmaf", |b| {
        b.cmaf_package(
            CmafPackage::builder()
                .segment_duration_seconds(4)
                .hls_manifests(
                    HlsManifest::builder()
                        .include_iframe_only_stream(true)
                        .build(),
                )
                .build(),
        )
    })
    .await;
    for (id, format) in [
        ("dash_ntl", SegmentTemplateFormat::NumberWithTimeline),
        ("dash_twt", SegmentTemplateFormat::TimeWithTimeline),
        ("dash_nwd", SegmentTemplateFormat::NumberWithDuration),
    ] {
        create_config(c, id, |b| {
            b.dash_package(
                DashPackage::builder()
                    .segment_duration_seconds(4)
                    .segment_template_format(format)
                    .include_iframe_only_stream(true)
                    .dash_manifests(DashManifest::builder().build())
                    .build(),
            )
        })
        .await;
    }
    create_config(c, "mss", |b| {
        b.mss_package(
            MssPackage::builder()
                .segment_duration_seconds(4)
                .mss_manifests(MssManifest::builder().build())
                .build(),
        )
    })
    .await;
    6
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_tables_fail_ingest_and_every_listed_url_answers() {
    let hook = Webhook::start().await;
    let server = Server::start_with(Options {
        extra_args: vec!["--events-webhook".into(), hook.url.clone()],
        ..Options::default()
    });
    let bucket = server.data_dir.join("buckets/media");
    std::fs::create_dir_all(&bucket).unwrap();
    let good = std::fs::read(media_dir().join("ladder/ladder_360p.mp4")).unwrap();
    std::fs::write(bucket.join("good.mp4"), &good).unwrap();
    // Audio stts: the first run's delta (entry 0: count, delta) becomes 0.
    std::fs::write(bucket.join("stts0.mp4"), patched(&good, "stts", 1, 0)).unwrap();
    // Audio stsc: the first run's samples per chunk (first_chunk, count, description).
    std::fs::write(
        bucket.join("stsc_ff.mp4"),
        patched(&good, "stsc", 1, 0xFFFF_FFFF),
    )
    .unwrap();

    let c = server.client();
    c.create_packaging_group().id("g").send().await.unwrap();
    let configs = every_format(&c).await;

    let cases = [
        ("stts0", "stts0.mp4", ["track 2 (soun)", "stts delta 0"]),
        ("stsc_ff", "stsc_ff.mp4", ["track 2 (soun)", "stsc"]),
    ];
    for (id, key, _) in &cases {
        create_asset(&c, id, &format!("arn:aws:s3:::media/{key}")).await;
    }
    create_asset(&c, "good", "arn:aws:s3:::media/good.mp4").await;
    for (id, key, reasons) in &cases {
        assert_eq!(wait_ingest(&c, id).await, vec!["FAILED"; configs], "{id}");
        let err = hook.wait_for("IngestError", id, 1).await;
        let msg = err[0]["detail"]["message"].as_str().unwrap();
        for want in std::iter::once(*key).chain(reasons.iter().copied()) {
            assert!(msg.contains(want), "{id}: {msg:?} should name {want:?}");
        }
    }
    assert_eq!(wait_ingest(&c, "good").await, vec!["PLAYABLE"; configs]);
    let n = every_listed_url_answers(&c, "good").await;
    assert!(n > 50, "only {n} URLs fetched");
}

/// Asset id, patched file, and the words of the reason when ingest must fail.
type Variant = (&'static str, Vec<u8>, Option<[&'static str; 2]>);

/// More damage, found by patching one entry at a time: each variant either fails ingest with
/// a reason naming the track and damage, or is served whole (every listed URL answers 200).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_damage_fails_or_is_served_whole() {
    let hook = Webhook::start().await;
    let server = Server::start_with(Options {
        extra_args: vec!["--events-webhook".into(), hook.url.clone()],
        ..Options::default()
    });
    let bucket = server.data_dir.join("buckets/media");
    std::fs::create_dir_all(&bucket).unwrap();
    let good = std::fs::read(media_dir().join("ladder/ladder_360p.mp4")).unwrap();
    // (asset, patched file, the reason's words when ingest must fail, or None when the damage
    // is harmless and the asset must be served whole). Fields count from the first entry.
    let variants: Vec<Variant> = vec![
        // First sync sample moved to sample 2: segments start at the next key frame.
        ("stss_first_2", patched_in(&good, 0, "stss", 0, 2), None),
        // An empty sample (stsz entry 2 = 0) in each track.
        ("stsz_zero_audio", patched_in(&good, 1, "stsz", 2, 0), None),
        ("stsz_zero_video", patched_in(&good, 0, "stsz", 2, 0), None),
        // Composition offsets of ±2^31 ticks (Smooth answered 503).
        (
            "ctts_huge",
            patched_in(&good, 0, "ctts", 1, 0x7fff_ffff),
            Some(["track 1 (vide)", "composition offset"]),
        ),
        (
            "ctts_neg",
            patched_in(&good, 0, "ctts", 1, 0x8000_0000),
            Some(["track 1 (vide)", "composition offset"]),
        ),
        // Samples lasting 2^31 ticks (DASH listed segments that answered 404).
        (
            "stts_audio_huge",
            patched_in(&good, 1, "stts", 1, 0x7fff_ffff),
            Some(["track 2 (soun)", "lasts more than"]),
        ),
        (
            "stts_video_huge",
            patched_in(&good, 0, "stts", 1, 0x7fff_ffff),
            Some(["track 1 (vide)", "lasts more than"]),
        ),
        // Video frames 1 tick apart (DASH listed no media segment at all).
        (
            "stts_video_1",
            patched_in(&good, 0, "stts", 1, 1),
            Some(["track 1 (vide)", "frames per second"]),
        ),
    ];
    for (k, b, _) in &variants {
        std::fs::write(bucket.join(format!("{k}.mp4")), b).unwrap();
    }
    let c = server.client();
    c.create_packaging_group().id("g").send().await.unwrap();
    let configs = every_format(&c).await;
    for (k, _, _) in &variants {
        create_asset(&c, k, &format!("arn:aws:s3:::media/{k}.mp4")).await;
    }
    for (k, _, fails) in &variants {
        let statuses = wait_ingest(&c, k).await;
        match fails {
            Some(words) => {
                assert_eq!(statuses, vec!["FAILED"; configs], "{k}");
                let err = hook.wait_for("IngestError", k, 1).await;
                let msg = err[0]["detail"]["message"].as_str().unwrap();
                for w in std::iter::once(format!("{k}.mp4").as_str()).chain(words.iter().copied()) {
                    assert!(msg.contains(w), "{k}: {msg:?} should name {w:?}");
                }
            }
            None => {
                assert_eq!(statuses, vec!["PLAYABLE"; configs], "{k}");
                assert!(every_listed_url_answers(&c, k).await > 50, "{k}");
            }
        }
    }
}

/// Ingests `sources` (keys under the test media) into group `g` with every format and checks
/// every URL each manifest lists.
async fn every_source_serves_every_listed_url(sources: &[(&str, &str)]) {
    let server = Server::start();
    copy_tree(&media_dir(), &server.data_dir.join("buckets/media"));
    let c = server.client();
    c.create_packaging_group().id("g").send().await.unwrap();
    let configs = every_format(&c).await;
    for (id, key) in sources {
        create_asset(&c, id, &format!("arn:aws:s3:::media/{key}")).await;
    }
    for (id, _) in sources {
        assert_eq!(wait_ingest(&c, id).await, vec!["PLAYABLE"; configs], "{id}");
        assert!(every_listed_url_answers(&c, id).await > 25, "{id}");
    }
}

/// Every accepted source kind: each URL each manifest of each format lists answers 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_source_kind_serves_every_listed_url() {
    every_source_serves_every_listed_url(&[
        ("ladder", "ladder/ladder.smil"),
        ("two_audio", "two_audio.smil"),
        ("negative_cts", "negative_cts.mp4"),
        ("co64", "co64.mp4"),
        ("hevc", "hevc.mp4"),
        ("ac3", "ac3.mp4"),
        ("audio_only", "audio_only.mp4"),
        ("hls", "hls/master.m3u8"),
        ("hls_alt", "hls_alt/master.m3u8"),
        ("hls_subs", "hls_subs/master.m3u8"),
    ])
    .await;
}

/// Tracks that start late or end early: with NUMBER_WITH_DURATION a DASH client requests
/// every segment number of the Period for every Representation, so such a track (it only has
/// segments where it has samples) is written with its `$Number$` timeline instead; before,
/// e.g. `index_a0_2.mp4` of short_audio.mp4 was listed and answered 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracks_that_start_late_or_end_early_serve_every_listed_url() {
    every_source_serves_every_listed_url(&[
        ("short_audio", "short_audio.mp4"),
        ("late_audio", "late_audio.mp4"),
    ])
    .await;
}
