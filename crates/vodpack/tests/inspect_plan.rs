//! `vodpack inspect` prints the segments egress serves. For several sources, the segment plan
//! of `inspect --json` (for the default duration and for `--segment-duration`) is compared with
//! what the real server serves for a configuration of that `segmentDurationSeconds`: the
//! EXTINF durations of every HLS media playlist, and the SegmentTimeline start times of the
//! DASH Representations (`$Time$` addressing), read with m3u8-rs and quick-xml.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use aws_sdk_mediapackagevod as mpv;
use common::*;
use mpv::types::*;

/// The segment plan `vodpack inspect --json` prints.
#[derive(Debug)]
struct Printed {
    starts: Vec<f64>,
    durations: Vec<f64>,
    timescale: u64,
    start_ticks: Vec<i64>,
}

fn inspect(file: &Path, seconds: Option<u32>) -> Printed {
    let mut cmd = Command::new(bin());
    cmd.arg("inspect").arg("--json").arg(file);
    if let Some(s) = seconds {
        cmd.arg("--segment-duration").arg(s.to_string());
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "inspect {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let seg = &j["segments"];
    let floats = |k: &str| -> Vec<f64> {
        seg[k]
            .as_array()
            .unwrap_or_else(|| panic!("segments.{k} in {j}"))
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let p = Printed {
        starts: floats("starts"),
        durations: floats("durations"),
        timescale: seg["timescale"].as_u64().unwrap_or(0),
        start_ticks: seg["startTicks"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_i64().unwrap()).collect())
            .unwrap_or_default(),
    };
    assert_eq!(seg["count"].as_u64(), Some(p.starts.len() as u64), "{j}");
    assert_eq!(p.starts.len(), p.durations.len(), "{j}");
    p
}

async fn get_text(url: &str) -> String {
    let r = reqwest::get(url).await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.text().await.unwrap()
}

fn base_of(url: &str) -> &str {
    &url[..url.rfind('/').unwrap() + 1]
}

/// EXTINF durations of every media playlist of an HLS multivariant playlist, by URI.
async fn hls_durations(master_url: &str) -> BTreeMap<String, Vec<f64>> {
    let text = get_text(master_url).await;
    let master = match m3u8_rs::parse_playlist_res(text.as_bytes()) {
        Ok(m3u8_rs::Playlist::MasterPlaylist(p)) => p,
        _ => panic!("not a multivariant playlist: {text}"),
    };
    let mut uris: Vec<String> = master.variants.iter().map(|v| v.uri.clone()).collect();
    uris.extend(master.alternatives.iter().filter_map(|a| a.uri.clone()));
    uris.sort();
    uris.dedup();
    assert!(!uris.is_empty(), "{text}");
    let mut out = BTreeMap::new();
    for uri in uris {
        let text = get_text(&format!("{}{uri}", base_of(master_url))).await;
        let media = match m3u8_rs::parse_playlist_res(text.as_bytes()) {
            Ok(m3u8_rs::Playlist::MediaPlaylist(p)) => p,
            _ => panic!("not a media playlist: {text}"),
        };
        let d = media
            .segments
            .iter()
            .map(|s| f64::from(s.duration))
            .collect();
        out.insert(uri, d);
    }
    out
}

/// Each DASH Representation's kind (contentType of its AdaptationSet) and segment start times,
/// in seconds of presentation time: (`S@t` - `@presentationTimeOffset`) / `@timescale`.
async fn dash_starts(mpd_url: &str) -> Vec<(String, String, u64, Vec<i64>)> {
    use quick_xml::events::Event;
    let xml = get_text(mpd_url).await;
    let mut r = quick_xml::Reader::from_str(&xml);
    let attr = |e: &quick_xml::events::BytesStart, k: &str| -> Option<String> {
        e.attributes()
            .map(|a| a.unwrap())
            .find(|a| a.key.local_name().as_ref() == k)
            .map(|a| a.value.into_owned())
    };
    let mut out = Vec::new();
    let (mut kind, mut rep) = (String::new(), String::new());
    let (mut pto, mut t) = (0i64, 0i64);
    loop {
        match r.read_event().unwrap() {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                "AdaptationSet" => kind = attr(&e, "contentType").unwrap_or_default(),
                "Representation" => rep = attr(&e, "id").unwrap(),
                "SegmentTemplate" => {
                    assert!(
                        attr(&e, "media").unwrap().contains("$Time$"),
                        "{mpd_url}: {xml}"
                    );
                    let timescale = attr(&e, "timescale").map_or(1, |v| v.parse().unwrap());
                    pto = attr(&e, "presentationTimeOffset").map_or(0, |v| v.parse().unwrap());
                    out.push((kind.clone(), rep.clone(), timescale, Vec::new()));
                }
                "S" => {
                    if let Some(st) = attr(&e, "t") {
                        t = st.parse().unwrap();
                    }
                    let d: i64 = attr(&e, "d").unwrap().parse().unwrap();
                    let repeat: i64 = attr(&e, "r").map_or(0, |v| v.parse().unwrap());
                    for _ in 0..=repeat {
                        out.last_mut().unwrap().3.push(t - pto);
                        t += d;
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(!out.is_empty(), "{xml}");
    out
}

/// Compares what inspect printed with what the server serves for one asset.
async fn compare(name: &str, printed: &Printed, hls_url: &str, dash_url: &str) {
    let n = printed.starts.len();
    assert!(n >= 2, "{name}: {printed:?}");
    // HLS: every media playlist has the printed segments, EXTINF (5 decimals) = the printed
    // duration, so the running sum of EXTINF = the printed starts.
    for (uri, durations) in hls_durations(hls_url).await {
        assert_eq!(
            durations.len(),
            n,
            "{name} {uri}: served {durations:?}, inspect printed {printed:?}"
        );
        let mut at = printed.starts[0];
        for (i, d) in durations.iter().enumerate() {
            assert!(
                (d - printed.durations[i]).abs() <= 6e-6,
                "{name} {uri} segment {i}: EXTINF {d}, inspect printed {}",
                printed.durations[i]
            );
            assert!(
                (at - printed.starts[i]).abs() <= 1e-5 * (i as f64 + 1.0),
                "{name} {uri} segment {i}: served from {at}, inspect printed {}",
                printed.starts[i]
            );
            at += d;
        }
    }
    // DASH: video Representations start their segments exactly at the printed times (the
    // reference track's ticks when the timescale is the same); an audio-only asset's audio at
    // most one audio frame from them (audio is cut on its own samples).
    let reps = dash_starts(dash_url).await;
    let video = reps.iter().any(|(kind, ..)| kind == "video");
    let mut checked = 0;
    for (kind, rep, timescale, starts) in &reps {
        if kind != if video { "video" } else { "audio" } {
            continue;
        }
        checked += 1;
        assert_eq!(
            starts.len(),
            n,
            "{name} DASH {rep}: served {starts:?} /{timescale}, inspect printed {printed:?}"
        );
        if video && *timescale == printed.timescale {
            assert_eq!(starts, &printed.start_ticks, "{name} DASH {rep}");
        }
        let tolerance = if video { 1e-6 } else { 0.022 };
        for (i, t) in starts.iter().enumerate() {
            let served = *t as f64 / *timescale as f64;
            assert!(
                (served - printed.starts[i]).abs() <= tolerance,
                "{name} DASH {rep} segment {i}: served from {served}, inspect printed {}",
                printed.starts[i]
            );
        }
    }
    assert!(checked > 0, "{name}: no {} Representation", video);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_prints_the_segments_egress_serves() {
    let server = Server::start();
    let media = media_dir();
    let bucket = server.data_dir.join("buckets/media");
    for part in ["ladder", "hls", "audio_only.mp4", "negative_cts.mp4"] {
        copy_tree(&media.join(part), &bucket.join(part));
    }
    // Audio only, two tracks, the first (the one segments are cut on) shorter than the second.
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:duration=9"])
        .args(["-f", "lavfi", "-i", "sine=frequency=660:duration=14"])
        .args([
            "-map", "0", "-map", "1", "-c:a", "aac", "-b:a", "64k", "-ar", "48000",
        ])
        .arg(bucket.join("two_lengths.mp4"))
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let c = server.client();
    c.create_packaging_group().id("g").send().await.unwrap();
    // One HLS and one DASH configuration per duration; `None` leaves the default.
    let durations = [None, Some(4), Some(5)];
    for d in durations {
        let tag = d.map_or("default".to_string(), |d| d.to_string());
        let hls = HlsPackage::builder()
            .set_segment_duration_seconds(d)
            .hls_manifests(HlsManifest::builder().build())
            .build();
        create_config(&c, &format!("hls-{tag}"), |b| b.hls_package(hls)).await;
        let dash = DashPackage::builder()
            .set_segment_duration_seconds(d)
            .segment_template_format(SegmentTemplateFormat::TimeWithTimeline)
            .dash_manifests(DashManifest::builder().build())
            .build();
        create_config(&c, &format!("dash-{tag}"), |b| b.dash_package(dash)).await;
    }
    let sources = [
        ("ladder", "ladder/ladder.smil", Some(4)),
        ("ts", "hls/master.m3u8", None),
        ("cts", "negative_cts.mp4", Some(5)),
        ("audio", "audio_only.mp4", Some(4)),
        ("lengths", "two_lengths.mp4", None),
    ];
    let mut urls = BTreeMap::new();
    for (id, key, _) in sources {
        urls.insert(
            id,
            create_asset(&c, id, &format!("arn:aws:s3:::media/{key}")).await,
        );
    }
    for (id, key, seconds) in sources {
        assert_eq!(
            wait_ingest(&c, id).await,
            vec!["PLAYABLE"; 2 * durations.len()],
            "{id}"
        );
        let printed = inspect(&bucket.join(key), seconds);
        let tag = seconds.map_or("default".to_string(), |d| d.to_string());
        compare(
            &format!("{key} ({tag})"),
            &printed,
            &urls[id][&format!("hls-{tag}")],
            &urls[id][&format!("dash-{tag}")],
        )
        .await;
    }
}
