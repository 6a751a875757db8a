//! Tests that guard claims across the whole surface rather than one example of it: CDN
//! authorization on every file of every format (and when it is added to a group whose answers
//! are already cached), `vodpack package` byte-equal to the server for every format, and the
//! signature required on every operation of the AWS service model.
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
