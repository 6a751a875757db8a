//! Tests that guard claims across the whole surface rather than one example of it: CDN
//! authorization on every file of every format (and when it is added to a group whose answers
//! are already cached), `vodpack package` byte-equal to the server for every format, the
//! signature required on every operation of the AWS service model, and every accepted source
//! kind decoded by ffmpeg in every format (Smooth one QualityLevel at a time).
//!
//! The file lists come from `vodpack package` (what the server would answer); each format's
//! expected file kinds are checked to be among them, so a list that shrank fails here too.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use aws_sdk_mediapackagevod as mpv;
use common::*;
use mpv::types::*;

const CDN_SECRET: &str = "arn:aws:secretsmanager:us-east-1:111122223333:secret:cdn-AbCdEf";
const CDN_VALUE: &str = "cdn-value-current";

/// One packaging configuration per format, as the API body's package member; every optional
/// output kind on (audio rendition group, I-frame streams) so every kind of file is served.
fn formats() -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::json;
    vec![
        (
            "hls",
            json!({"hlsPackage": {"segmentDurationSeconds": 4, "useAudioRenditionGroup": true,
                "hlsManifests": [{"manifestName": "main", "includeIframeOnlyStream": true}]}}),
        ),
        (
            "cmaf",
            json!({"cmafPackage": {"segmentDurationSeconds": 4,
                "hlsManifests": [{"manifestName": "main", "includeIframeOnlyStream": true}]}}),
        ),
        (
            "dash",
            json!({"dashPackage": {"segmentDurationSeconds": 4, "includeIframeOnlyStream": true,
                "dashManifests": [{"manifestName": "main"}]}}),
        ),
        (
            "mss",
            json!({"mssPackage": {"segmentDurationSeconds": 4,
                "mssManifests": [{"manifestName": "main"}]}}),
        ),
    ]
}

/// The kind of a served file, from its name (the naming the README documents per format).
fn kind(format: &str, file: &str) -> &'static str {
    let name = file.rsplit('/').next().unwrap_or(file);
    match format {
        "hls" | "cmaf" if name == "main.m3u8" => "multivariant playlist",
        "hls" | "cmaf" if name.ends_with("_iframes.m3u8") => "I-frame playlist",
        "hls" | "cmaf" if name.ends_with(".m3u8") => "media playlist",
        "hls" if name.ends_with(".ts") => "TS segment",
        "hls" | "cmaf" if name.ends_with(".vtt") => "WebVTT segment",
        "cmaf" if name.ends_with("_init.mp4") => "init section",
        "cmaf" if name.contains("_i") && name.ends_with(".mp4") => "I-frame segment",
        "cmaf" if name.ends_with(".mp4") => "fMP4 segment",
        "dash" if name.ends_with(".mpd") => "MPD",
        "dash" if name.starts_with("main_i") && name.ends_with("_init.mp4") => "I-frame init",
        "dash" if name.starts_with("main_i") => "I-frame segment",
        "dash" if name.ends_with("_init.mp4") => "init section",
        "dash" if name.ends_with(".mp4") => "segment",
        "mss" if name == "Manifest" => "client manifest",
        "mss" if name.starts_with("Fragments(video=") => "video fragment",
        "mss" if name.starts_with("Fragments(audio=") => "audio fragment",
        _ => "unknown",
    }
}

/// The file kinds each format must serve for the ladder (3 H.264 renditions, AAC, WebVTT).
fn expected_kinds(format: &str) -> BTreeSet<&'static str> {
    let k: &[&str] = match format {
        "hls" => &[
            "multivariant playlist",
            "media playlist",
            "I-frame playlist",
            "TS segment",
            "WebVTT segment",
        ],
        "cmaf" => &[
            "multivariant playlist",
            "media playlist",
            "I-frame playlist",
            "init section",
            "fMP4 segment",
            "I-frame segment",
            "WebVTT segment",
        ],
        "dash" => &[
            "MPD",
            "init section",
            "segment",
            "I-frame init",
            "I-frame segment",
        ],
        "mss" => &["client manifest", "video fragment", "audio fragment"],
        _ => unreachable!(),
    };
    k.iter().copied().collect()
}

/// Runs `vodpack package` on `source` with `package` (the API body's package member) into
/// `out`; returns every file written, relative to `out/main`, manifest first.
fn package(source: &Path, package: &serde_json::Value, out: &Path) -> Vec<(String, PathBuf)> {
    let cfg = out.with_extension("json");
    std::fs::write(&cfg, package.to_string()).unwrap();
    let run = Command::new(bin())
        .arg("package")
        .arg(source)
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(out)
        .arg("--verbose")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // --verbose prints each file as written, in the server's order (manifest first).
    let files: Vec<(String, PathBuf)> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("main/"))
        .map(|rel| (rel.to_string(), out.join("main").join(rel)))
        .collect();
    assert!(files.len() > 3, "package wrote {files:?}");
    for (_, path) in &files {
        assert!(path.is_file(), "{} not written", path.display());
    }
    files
}

/// GET with an optional CDN identifier: (status, body).
async fn get(http: &reqwest::Client, url: &str, cdn: Option<&str>) -> (u16, bytes::Bytes) {
    let mut rb = http.get(url);
    if let Some(v) = cdn {
        rb = rb.header("X-MediaPackage-CDNIdentifier", v);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.bytes().await.unwrap())
}

/// Creates packaging configuration `id` in `group` from an API body's package member.
async fn create_config_json(server: &Server, id: &str, group: &str, pkg: &serde_json::Value) {
    let mut body = pkg.clone();
    body["id"] = id.into();
    body["packagingGroupId"] = group.into();
    let r = signed(
        "POST",
        &server.url("/packaging_configurations"),
        &body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// The authorization every locked group gets.
fn cdn_authorization() -> Authorization {
    Authorization::builder()
        .cdn_identifier_secret(CDN_SECRET)
        .secrets_role_arn("arn:aws:iam::111122223333:role/CdnSecrets")
        .build()
}

/// Every file of every format — manifests, playlists, init sections, segments, I-frame
/// streams, Smooth fragments — refuses a request without the CDN identifier or with a wrong
/// one (403) and answers the current value with exactly the bytes `vodpack package` writes for
/// the same source and configuration. A second group serves every file once without
/// authorization (so resolutions and manifests sit in the egress caches), then gets
/// authorization through UpdatePackagingGroup: every file is refused from the next request on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdn_authorization_guards_every_file_and_package_matches_the_server() {
    let server = Server::start();
    copy_tree(
        &media_dir().join("ladder"),
        &server.data_dir.join("buckets/media/ladder"),
    );
    std::fs::write(
        server.data_dir.join("cdn-secrets.json"),
        format!(r#"{{"{CDN_SECRET}": ["{CDN_VALUE}", "cdn-value-previous"]}}"#),
    )
    .unwrap();
    let c = server.client();
    c.create_packaging_group()
        .id("locked")
        .authorization(cdn_authorization())
        .send()
        .await
        .unwrap();
    c.create_packaging_group().id("open").send().await.unwrap();
    for (format, pkg) in formats() {
        create_config_json(&server, format, "locked", &pkg).await;
        create_config_json(&server, &format!("{format}_o"), "open", &pkg).await;
    }
    let mut endpoints = BTreeMap::new();
    for (asset, group) in [("a", "locked"), ("b", "open")] {
        let a = c
            .create_asset()
            .id(asset)
            .packaging_group_id(group)
            .source_arn("arn:aws:s3:::media/ladder/ladder.smil")
            .source_role_arn(ROLE)
            .send()
            .await
            .unwrap();
        for e in a.egress_endpoints() {
            let config = e.packaging_configuration_id().unwrap();
            endpoints.insert(
                config.trim_end_matches("_o").to_string() + "/" + asset,
                e.url().unwrap().to_string(),
            );
        }
        assert_eq!(wait_ingest(&c, asset).await, ["PLAYABLE"; 4], "{asset}");
    }

    let tmp = tempfile::tempdir().unwrap();
    let source = server.data_dir.join("buckets/media/ladder/ladder.smil");
    let http = reqwest::Client::new();
    // (format, file, served URL of asset b, packaged path) of every file, for the second pass.
    let mut open_files = Vec::new();
    for (format, pkg) in formats() {
        let files = package(&source, &pkg, &tmp.path().join(format));
        let kinds: BTreeSet<&str> = files.iter().map(|(f, _)| kind(format, f)).collect();
        assert_eq!(kinds, expected_kinds(format), "{format}: {files:?}");
        let manifest = &files[0].0;
        for asset in ["a", "b"] {
            let url = &endpoints[&format!("{format}/{asset}")];
            let base = url
                .strip_suffix(&format!("/{manifest}"))
                .unwrap_or_else(|| panic!("{url} does not end with the manifest {manifest}"));
            for (file, path) in &files {
                let url = format!("{base}/{file}");
                let what = format!("{format} {} {file}", kind(format, file));
                if asset == "a" {
                    assert_eq!(get(&http, &url, None).await.0, 403, "{what}");
                    assert_eq!(get(&http, &url, Some("wrong")).await.0, 403, "{what}");
                    assert_eq!(get(&http, &url, Some("")).await.0, 403, "{what}");
                    let (status, body) = get(&http, &url, Some(CDN_VALUE)).await;
                    assert_eq!(status, 200, "{what}");
                    assert!(
                        body == std::fs::read(path).unwrap(),
                        "{what}: the server's answer differs from vodpack package's file"
                    );
                } else {
                    // Served (and cached) while the group is open.
                    let (status, body) = get(&http, &url, None).await;
                    assert_eq!(status, 200, "{what}");
                    assert!(body == std::fs::read(path).unwrap(), "{what}");
                    open_files.push((what, url));
                }
            }
        }
    }
    assert!(open_files.len() > 60, "{} files", open_files.len());

    // Authorization added to the open group: nothing cached outlives it.
    c.update_packaging_group()
        .id("open")
        .authorization(cdn_authorization())
        .send()
        .await
        .unwrap();
    for (what, url) in &open_files {
        assert_eq!(
            get(&http, url, None).await.0,
            403,
            "{what} after UpdatePackagingGroup"
        );
        assert_eq!(get(&http, url, Some("wrong")).await.0, 403, "{what}");
        assert_eq!(get(&http, url, Some(CDN_VALUE)).await.0, 200, "{what}");
    }
}

/// The service model's operations, in an order where each one's resources exist when it runs
/// (creates first, deletes last).
const WALK: &[&str] = &[
    "CreatePackagingGroup",
    "CreatePackagingConfiguration",
    "CreateAsset",
    "DescribePackagingGroup",
    "DescribePackagingConfiguration",
    "DescribeAsset",
    "ListPackagingGroups",
    "ListPackagingConfigurations",
    "ListAssets",
    "ConfigureLogs",
    "UpdatePackagingGroup",
    "TagResource",
    "ListTagsForResource",
    "UntagResource",
    "DeleteAsset",
    "DeletePackagingConfiguration",
    "DeletePackagingGroup",
];

/// Every operation of the AWS service model (method + requestUri, path parameters filled with
/// resources that exist) refuses an unsigned request, one signed with a wrong secret and one
/// signed with an unknown key: 403 ForbiddenException in the AWS error shape. The same request
/// signed correctly then answers the model's success code, which shows the route is real (not
/// a 404 that happens to be refused) and that the refused requests changed nothing (a create
/// would conflict, a delete would not find its resource).
#[tokio::test]
async fn every_operation_of_the_service_model_requires_a_signature() {
    let server = Server::start();
    copy_tree(
        &media_dir().join("ladder"),
        &server.data_dir.join("buckets/media/ladder"),
    );
    let model: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/schemas/mediapackage-vod-2018-11-07.service-2.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let ops = model["operations"].as_object().unwrap();
    let names: BTreeSet<&str> = ops.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        WALK.iter().copied().collect(),
        "the walk must cover every operation of the model"
    );
    let group_arn = format!("arn:aws:mediapackage-vod:{REGION}:{ACCOUNT}:packaging-groups/walk-g");
    let encoded_arn = group_arn.replace(':', "%3A").replace('/', "%2F");
    let mut walked = 0;
    for name in WALK {
        let op = &ops[*name];
        let method = op["http"]["method"].as_str().unwrap();
        let uri = op["http"]["requestUri"].as_str().unwrap();
        let code = op["http"]["responseCode"].as_u64().unwrap_or(200) as u16;
        let id = if uri.starts_with("/assets") {
            "walk-a"
        } else if uri.starts_with("/packaging_configurations") {
            "walk-c"
        } else {
            "walk-g"
        };
        let mut path = uri
            .replace("{id}", id)
            .replace("{resource-arn}", &encoded_arn);
        assert!(!path.contains('{'), "{name}: unfilled parameter in {path}");
        if *name == "UntagResource" {
            path.push_str("?tagKeys=k");
        }
        let body = match *name {
            "CreatePackagingGroup" => r#"{"id":"walk-g"}"#.to_string(),
            "CreatePackagingConfiguration" => {
                r#"{"id":"walk-c","packagingGroupId":"walk-g","hlsPackage":{"hlsManifests":[{}]}}"#
                    .to_string()
            }
            "CreateAsset" => serde_json::json!({
                "id": "walk-a",
                "packagingGroupId": "walk-g",
                "sourceArn": "arn:aws:s3:::media/ladder/ladder.smil",
                "sourceRoleArn": ROLE,
            })
            .to_string(),
            "ConfigureLogs" => r#"{"egressAccessLogs":{}}"#.to_string(),
            "UpdatePackagingGroup" => "{}".to_string(),
            "TagResource" => r#"{"tags":{"k":"v"}}"#.to_string(),
            _ => String::new(),
        };
        let url = server.url(&path);
        let headers: &[(&str, &str)] = if body.is_empty() {
            &[]
        } else {
            &[("content-type", "application/json")]
        };
        let wrong_secret = Signing {
            secret: "not-the-secret",
            ..Signing::default()
        };
        let unknown_key = Signing {
            key: "AKIDSOMEONEELSE00000",
            ..Signing::default()
        };
        for (what, signing) in [
            ("unsigned", None),
            ("wrong secret", Some(wrong_secret)),
            ("unknown key", Some(unknown_key)),
        ] {
            let r = raw(method, &url, headers, body.clone().into_bytes(), signing).await;
            let context = format!("{name} ({method} {path}) {what}: {}", r.body);
            assert_eq!(r.status, 403, "{context}");
            assert_eq!(r.error_type(), Some("ForbiddenException"), "{context}");
            assert_eq!(r.json()["__type"], "ForbiddenException", "{context}");
            assert!(
                r.json()["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{context}"
            );
            assert!(
                r.header("x-amzn-requestid")
                    .is_some_and(|id| !id.is_empty()),
                "{context}"
            );
        }
        let r = signed(method, &url, &body).await;
        assert_eq!(
            r.status, code,
            "{name} ({method} {path}) signed: {}",
            r.body
        );
        walked += 1;
    }
    assert_eq!(walked, 17, "operations walked");
}

/// ffprobe's view of a file or URL: the (codec_type, codec_name) of its audio and video
/// streams, sorted and deduplicated, and its duration in seconds.
fn probe(input: &str) -> (Vec<(String, String)>, f64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .args([
            "stream=codec_type,codec_name:format=duration",
            "-of",
            "json",
        ])
        .arg(input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe {input}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut codecs: Vec<(String, String)> = v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["codec_type"] == "video" || s["codec_type"] == "audio")
        .map(|s| {
            (
                s["codec_type"].as_str().unwrap().to_string(),
                s["codec_name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    codecs.sort();
    codecs.dedup();
    let duration = v["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0);
    (codecs, duration)
}

/// ffmpeg decodes every audio and video stream of `input` without a message; returns how
/// many packets ffprobe counts in it.
fn decode_all(input: &str, what: &str) -> usize {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i", input, "-map", "0:v?", "-map", "0:a?"])
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && errors.trim().is_empty(),
        "{what}: ffmpeg: {errors}"
    );
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-show_entries"])
        .args(["stream=nb_read_packets", "-of", "csv=p=0", input])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse::<usize>().ok())
        .sum()
}

/// Top-level box types of an MP4 file, in order, and whether a `co64` box is anywhere in it.
fn top_level_boxes(path: &Path) -> (Vec<String>, bool) {
    let b = std::fs::read(path).unwrap();
    let mut at = 0;
    let mut types = Vec::new();
    while at + 8 <= b.len() {
        let mut size = u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
        if size == 1 {
            size = u64::from_be_bytes(b[at + 8..at + 16].try_into().unwrap()) as usize;
        } else if size == 0 {
            size = b.len() - at;
        }
        types.push(String::from_utf8_lossy(&b[at + 4..at + 8]).to_string());
        assert!(size >= 8, "{}: bad box size at {at}", path.display());
        at += size;
    }
    (types, b.windows(4).any(|w| w == b"co64"))
}

/// An fMP4 init section with its media timescale (`mdhd`) set to `timescale`.
fn with_timescale(init: &[u8], timescale: u32) -> Vec<u8> {
    let mut out = init.to_vec();
    let at = out
        .windows(4)
        .position(|w| w == b"mdhd")
        .expect("mdhd in the init section");
    // mdhd: version, flags, then creation and modification times (4 or 8 bytes each).
    let ts = at + 4 + 4 + if out[at + 4] == 1 { 16 } else { 8 };
    out[ts..ts + 4].copy_from_slice(&timescale.to_be_bytes());
    out
}

/// The accepted source kinds, by asset id: (key under the media bucket, the file ffprobe reads
/// for the source's codecs and duration).
const SOURCE_KINDS: &[(&str, &str, &str)] = &[
    ("smil", "ladder/ladder.smil", "ladder/ladder_720p.mp4"),
    ("moov_first", "ladder_faststart.mp4", "ladder_faststart.mp4"),
    (
        "moov_last",
        "ladder/ladder_360p.mp4",
        "ladder/ladder_360p.mp4",
    ),
    ("co64", "co64.mp4", "co64.mp4"),
    ("ac3_mp4", "ac3.mp4", "ac3.mp4"),
    ("eac3_mp4", "eac3.mp4", "eac3.mp4"),
    ("hevc_mp4", "hevc.mp4", "hevc.mp4"),
    ("two_audio", "two_audio.smil", "two_audio.mp4"),
    ("audio_only", "audio_only.mp4", "audio_only.mp4"),
    ("hls_ts", "hls/master.m3u8", "hls/master.m3u8"),
    ("hls_hevc", "hls_hevc/index.m3u8", "hls_hevc/index.m3u8"),
    ("hls_ac3", "hls_ac3/index.m3u8", "hls_ac3/index.m3u8"),
    ("hls_eac3", "hls_eac3/index.m3u8", "hls_eac3/index.m3u8"),
    (
        "hls_alt_audio",
        "hls_alt/master.m3u8",
        "hls_alt/master.m3u8",
    ),
    ("hls_webvtt", "hls_subs/master.m3u8", "hls_subs/master.m3u8"),
];

/// Every accepted source kind — SMIL ladder, moov-first, moov-last and 64-bit-offset MP4, AC-3,
/// E-AC-3 and HEVC in MP4 and in HLS, two audio tracks, audio only, HLS-TS with separate audio
/// and with WebVTT — is decoded by ffmpeg in every format, not only checked PLAYABLE: HLS-TS,
/// CMAF and DASH through ffmpeg's own demuxers (every stream of every rendition), Smooth one
/// QualityLevel at a time (its fragments after the init section of the DASH Representation of
/// the same track, set to Smooth's 10 MHz timescale: ffmpeg has no Smooth demuxer). Each keeps
/// the source's audio and video codecs and its duration. A file with eleven tracks is refused
/// with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_source_kind_decodes_in_every_format() {
    let hook = Webhook::start().await;
    let server = Server::start_with(Options {
        extra_args: vec!["--events-webhook".into(), hook.url.clone()],
        ..Options::default()
    });
    let media = server.data_dir.join("buckets/media");
    copy_tree(&media_dir(), &media);
    // The media are what their names say.
    let (boxes, co64) = top_level_boxes(&media.join("ladder_faststart.mp4"));
    let pos = |t: &str| boxes.iter().position(|b| b == t);
    assert!(pos("moov") < pos("mdat") && !co64, "{boxes:?}");
    let (boxes, _) = top_level_boxes(&media.join("ladder/ladder_360p.mp4"));
    assert!(
        boxes.iter().position(|b| b == "moov") > boxes.iter().position(|b| b == "mdat"),
        "{boxes:?}"
    );
    assert!(
        top_level_boxes(&media.join("co64.mp4")).1,
        "co64.mp4 has a co64 box"
    );

    let c = server.client();
    c.create_packaging_group().id("g").send().await.unwrap();
    let plain = [
        (
            "hls",
            serde_json::json!({"hlsPackage": {"segmentDurationSeconds": 4,
                "hlsManifests": [{"manifestName": "main"}]}}),
        ),
        (
            "cmaf",
            serde_json::json!({"cmafPackage": {"segmentDurationSeconds": 4,
                "hlsManifests": [{"manifestName": "main"}]}}),
        ),
        (
            "dash",
            serde_json::json!({"dashPackage": {"segmentDurationSeconds": 4,
                "dashManifests": [{"manifestName": "main"}]}}),
        ),
        (
            "mss",
            serde_json::json!({"mssPackage": {"segmentDurationSeconds": 4,
                "mssManifests": [{"manifestName": "main"}]}}),
        ),
    ];
    for (id, pkg) in &plain {
        create_config_json(&server, id, "g", pkg).await;
    }
    let mut urls = BTreeMap::new();
    for (id, key, _) in SOURCE_KINDS {
        urls.insert(
            *id,
            create_asset(&c, id, &format!("arn:aws:s3:::media/{key}")).await,
        );
    }
    create_asset(&c, "eleven", "arn:aws:s3:::media/broken/eleven_tracks.mp4").await;
    assert_eq!(wait_ingest(&c, "eleven").await, ["FAILED"; 4]);
    let err = hook.wait_for("IngestError", "eleven", 1).await;
    let msg = err[0]["detail"]["message"].as_str().unwrap();
    assert!(
        msg.contains("11 tracks, more than 10"),
        "eleven tracks: {msg:?}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let mut decoded = 0;
    for (id, _, probe_file) in SOURCE_KINDS {
        assert_eq!(wait_ingest(&c, id).await, ["PLAYABLE"; 4], "{id}");
        let (codecs, duration) = probe(media.join(probe_file).to_str().unwrap());
        assert!(!codecs.is_empty() && duration > 1.0, "{id}: {codecs:?}");
        for format in ["hls", "cmaf", "dash"] {
            let url = &urls[id][format];
            let what = format!("{id} {format}");
            let packets = decode_all(url, &what);
            assert!(packets > 0, "{what}: no packets");
            let (out_codecs, out_duration) = probe(url);
            assert_eq!(out_codecs, codecs, "{what}: codecs");
            assert!(
                (out_duration - duration).abs() < 0.15,
                "{what}: {out_duration} s, the source {duration} s"
            );
            decoded += 1;
        }
        // Smooth, one QualityLevel at a time.
        let url = &urls[id]["mss"];
        let base = url.strip_suffix("/Manifest").unwrap();
        let dash_base = urls[id]["dash"].rsplit_once('/').unwrap().0.to_string();
        let manifest = El::parse(&http.get(url).send().await.unwrap().text().await.unwrap());
        let timescale = manifest.num("TimeScale").unwrap_or(10_000_000);
        let mut smooth_codecs = Vec::new();
        let (mut videos, mut audios) = (0, 0);
        for s in manifest.all("StreamIndex") {
            let kind = s.attr("Type").unwrap();
            let template = s.attr("Url").unwrap();
            let mut starts = Vec::new();
            let mut t = 0u64;
            for chunk in s.all("c") {
                if let Some(ct) = chunk.num("t") {
                    t = ct;
                }
                starts.push(t);
                t += chunk.num("d").unwrap();
            }
            assert!(!starts.is_empty(), "{id} mss {kind}: no chunks");
            let levels = s.all("QualityLevel");
            assert!(!levels.is_empty(), "{id} mss {kind}: no quality levels");
            for q in levels {
                // The DASH Representation of the same track: video v<k> in QualityLevel order,
                // each audio StreamIndex a<k> in order; checked below by codec and size.
                let rep = if kind == "video" {
                    videos += 1;
                    format!("v{}", videos - 1)
                } else {
                    audios += 1;
                    format!("a{}", audios - 1)
                };
                let init_url = format!("{dash_base}/main_{rep}_init.mp4");
                let r = http.get(&init_url).send().await.unwrap();
                assert_eq!(r.status(), 200, "{init_url}");
                let init = r.bytes().await.unwrap();
                let mut whole = with_timescale(&init, timescale as u32);
                for start in &starts {
                    let path = template
                        .replace("{bitrate}", q.attr("Bitrate").unwrap())
                        .replace("{start time}", &start.to_string());
                    let r = http.get(format!("{base}/{path}")).send().await.unwrap();
                    assert_eq!(r.status(), 200, "{id} {path}");
                    whole.extend_from_slice(&r.bytes().await.unwrap());
                }
                let what = format!("{id} mss {kind} {}", q.attr("Bitrate").unwrap());
                let f = tmp.path().join(format!("{id}-{rep}.mp4"));
                std::fs::write(&f, &whole).unwrap();
                let f = f.to_str().unwrap();
                let packets = decode_all(f, &what);
                assert!(packets > 0, "{what}: no packets");
                let (level_codecs, level_duration) = probe(f);
                assert_eq!(level_codecs.len(), 1, "{what}: {level_codecs:?}");
                assert_eq!(level_codecs[0].0, kind, "{what}: {level_codecs:?}");
                if let Some(h) = q.attr("MaxHeight") {
                    let out = Command::new("ffprobe")
                        .args(["-v", "error", "-show_entries", "stream=height"])
                        .args(["-of", "csv=p=0", f])
                        .output()
                        .unwrap();
                    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), h, "{what}");
                }
                assert!(
                    (level_duration - duration).abs() < 0.15,
                    "{what}: {level_duration} s, the source {duration} s"
                );
                smooth_codecs.extend(level_codecs);
            }
        }
        smooth_codecs.sort();
        smooth_codecs.dedup();
        assert_eq!(smooth_codecs, codecs, "{id} mss: codecs");
        decoded += 1;
    }
    assert_eq!(decoded, SOURCE_KINDS.len() * 4, "source × format decoded");
}

/// Earliest presentation time (seconds) of the packets of stream type `sel` (`v`, `a`) in a
/// media file, as ffprobe reads it.
fn first_pts(path: &Path, sel: &str) -> f64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", sel, "-show_entries"])
        .args(["packet=pts_time", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let pts: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    assert!(!pts.is_empty(), "{}: no {sel} packets", path.display());
    pts.into_iter().fold(f64::MAX, f64::min)
}

/// Segment cuts are the same on the served bytes of every rendition and every format: for the
/// ladder (three video renditions and one audio track), the earliest presentation time of
/// each segment N, read by ffprobe from the HLS-TS segment, the CMAF segment after its init
/// section and the DASH segment after its init section, is the same for the three video
/// renditions, and — each track's timeline shifted by its own first cut (MPEG-TS carries an
/// offset) — the same across formats; the audio track's cuts agree across formats too, and
/// Smooth's fragment times (`tfxd` in each served fragment) match the same cuts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_times_agree_across_renditions_and_formats() {
    let server = Server::start();
    copy_tree(
        &media_dir().join("ladder"),
        &server.data_dir.join("buckets/media/ladder"),
    );
    let c = server.client();
    c.create_packaging_group().id("g").send().await.unwrap();
    let configs = [
        (
            "hls",
            serde_json::json!({"hlsPackage": {"segmentDurationSeconds": 4,
                "useAudioRenditionGroup": true, "hlsManifests": [{"manifestName": "main"}]}}),
        ),
        (
            "cmaf",
            serde_json::json!({"cmafPackage": {"segmentDurationSeconds": 4,
                "hlsManifests": [{"manifestName": "main"}]}}),
        ),
        (
            "dash",
            serde_json::json!({"dashPackage": {"segmentDurationSeconds": 4,
                "dashManifests": [{"manifestName": "main"}]}}),
        ),
        (
            "mss",
            serde_json::json!({"mssPackage": {"segmentDurationSeconds": 4,
                "mssManifests": [{"manifestName": "main"}]}}),
        ),
    ];
    for (id, pkg) in &configs {
        create_config_json(&server, id, "g", pkg).await;
    }
    let urls = create_asset(&c, "ladder", "arn:aws:s3:::media/ladder/ladder.smil").await;
    assert_eq!(wait_ingest(&c, "ladder").await, ["PLAYABLE"; 4]);
    let tmp = tempfile::tempdir().unwrap();
    let source = server.data_dir.join("buckets/media/ladder/ladder.smil");
    let http = reqwest::Client::new();
    let fetch = |url: String| {
        let http = http.clone();
        async move {
            let r = http.get(&url).send().await.unwrap();
            assert_eq!(r.status(), 200, "{url}");
            r.bytes().await.unwrap().to_vec()
        }
    };

    // cuts[format][rendition] = earliest presentation time of segment 0, 1, …
    let mut cuts: BTreeMap<&str, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    for (format, pkg) in configs.iter().take(3) {
        let files = package(&source, pkg, &tmp.path().join(format));
        let manifest = &files[0].0;
        let base = urls[*format]
            .strip_suffix(&format!("/{manifest}"))
            .unwrap()
            .to_string();
        let ext = if *format == "hls" { ".ts" } else { ".mp4" };
        // main_<rendition>_<n><ext>, n from 0 (HLS) or 1 (DASH $Number$).
        let mut segments: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
        for (file, _) in &files {
            let Some(stem) = file.strip_prefix("main_").and_then(|f| f.strip_suffix(ext)) else {
                continue;
            };
            let Some((rendition, n)) = stem.rsplit_once('_') else {
                continue;
            };
            let Ok(n) = n.parse::<usize>() else { continue };
            segments
                .entry(rendition.trim_start_matches('v').to_string())
                .or_default()
                .push((n, file.clone()));
        }
        assert_eq!(
            segments.keys().cloned().collect::<Vec<_>>(),
            ["0", "1", "2", "a0"],
            "{format}: renditions"
        );
        for (rendition, mut list) in segments {
            list.sort();
            assert_eq!(list.len(), 3, "{format} {rendition}: 12 s in 4 s segments");
            let sel = if rendition.starts_with('a') { "a" } else { "v" };
            let init = if *format == "hls" {
                Vec::new()
            } else {
                let dash_name = if rendition.starts_with('a') {
                    rendition.clone()
                } else {
                    format!("v{rendition}")
                };
                let name = if *format == "dash" {
                    dash_name
                } else {
                    rendition.clone()
                };
                fetch(format!("{base}/main_{name}_init.mp4")).await
            };
            let mut times = Vec::new();
            for (_, file) in list {
                let mut bytes = init.clone();
                bytes.extend(fetch(format!("{base}/{file}")).await);
                let f = tmp.path().join(format!("cut{ext}"));
                std::fs::write(&f, &bytes).unwrap();
                times.push(first_pts(&f, sel));
            }
            cuts.entry(format).or_default().insert(rendition, times);
        }
    }

    // Smooth: the video StreamIndex's fragment times, from each served fragment's tfxd box.
    let url = &urls["mss"];
    let base = url.strip_suffix("/Manifest").unwrap();
    let manifest = El::parse(&String::from_utf8(fetch(url.clone()).await).unwrap());
    let timescale = manifest.num("TimeScale").unwrap_or(10_000_000) as f64;
    let mut smooth = BTreeMap::new();
    for s in manifest.all("StreamIndex") {
        let kind = s.attr("Type").unwrap().to_string();
        let template = s.attr("Url").unwrap();
        let mut t = 0u64;
        let mut starts = Vec::new();
        for chunk in s.all("c") {
            if let Some(ct) = chunk.num("t") {
                t = ct;
            }
            starts.push(t);
            t += chunk.num("d").unwrap();
        }
        for (k, q) in s.all("QualityLevel").iter().enumerate() {
            let mut times = Vec::new();
            for start in &starts {
                let path = template
                    .replace("{bitrate}", q.attr("Bitrate").unwrap())
                    .replace("{start time}", &start.to_string());
                let frag = fetch(format!("{base}/{path}")).await;
                let uuid = [
                    0x6d, 0x1d, 0x9b, 0x05, 0x42, 0xd5, 0x44, 0xe6, 0x80, 0xe2, 0x14, 0x1d, 0xaf,
                    0xf7, 0x57, 0xb2,
                ];
                let at = frag.windows(16).position(|w| w == uuid).expect("tfxd box");
                let body = &frag[at + 16..];
                let time = if body[0] == 1 {
                    u64::from_be_bytes(body[4..12].try_into().unwrap())
                } else {
                    u64::from(u32::from_be_bytes(body[4..8].try_into().unwrap()))
                };
                times.push(time as f64 / timescale);
            }
            let rendition = if kind == "video" {
                k.to_string()
            } else {
                "a0".to_string()
            };
            smooth.insert(rendition, times);
        }
    }
    cuts.insert("mss", smooth);

    // Within a format: the video renditions cut at the same times.
    let close = |a: f64, b: f64| (a - b).abs() < 0.0015;
    for (format, by_rendition) in &cuts {
        let v0 = &by_rendition["0"];
        for r in ["1", "2"] {
            let v = &by_rendition[r];
            assert!(
                v.len() == v0.len() && v.iter().zip(v0).all(|(a, b)| close(*a, *b)),
                "{format}: rendition {r} cuts {v:?}, rendition 0 {v0:?}"
            );
        }
    }
    // Across formats: the same cuts once each track's timeline starts where its first cut is.
    // Per track, not per format: ffmpeg reads fMP4 video with negative composition offsets
    // (trun version 1) one frame later than their presentation times (it shifts them by the
    // largest negative offset so that no frame is presented before it is decoded), which
    // MPEG-TS and Smooth's tfxd do not show.
    let reference = "cmaf";
    for (format, by_rendition) in &cuts {
        for (rendition, times) in by_rendition {
            let want = &cuts[reference][rendition];
            let shifted: Vec<f64> = times.iter().map(|t| t - times[0] + want[0]).collect();
            assert!(
                shifted.len() == want.len() && shifted.iter().zip(want).all(|(a, b)| close(*a, *b)),
                "{format} {rendition}: cuts {times:?} ({shifted:?} shifted), {reference} {want:?}"
            );
        }
    }
    // Segment cuts fall on the 4 s grid of the source's 2 s GOPs.
    let video = &cuts[reference]["0"];
    for (k, t) in video.iter().enumerate() {
        let want = video[0] + 4.0 * k as f64;
        assert!(close(*t, want), "cut {k} at {t}, want {want}");
    }
}
