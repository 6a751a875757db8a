//! Real players in a real browser: headless Debian Chromium, driven by playwright-core through
//! tests/players/play.mjs, plays vodpack's egress (HLS-TS, CMAF, DASH, Smooth) with hls.js, Shaka
//! Player (5, and 4.16 for Smooth, which Shaka 5 dropped) and dash.js (with its Smooth module)
//! for several seconds; every case must advance the playhead with no player or media error.
//!
//! Needs `scripts/install-players` (the Debian `chromium` package and the pinned npm packages,
//! installed outside the clone; their folder is $VODPACK_PLAYERS_DIR or what
//! `scripts/install-players --print-dir` names). Missing pieces fail the test;
//! `VODPACK_SKIP_PLAYERS=1` skips it.
//!
//! Cases are a table of (player, packaging configuration, source, play.mjs options). Before a
//! player runs, the case's manifest must answer 200 and show the configuration's option took
//! effect (e.g. a trick-play AdaptationSet); anything else fails the case.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use aws_sdk_mediapackagevod as mpv;
use common::*;
use mpv::types::*;

const ROLE: &str = "arn:aws:iam::111122223333:role/MediaPackageSource";
/// Media seconds the playhead must advance in each case.
const SECONDS: &str = "6";
/// Per-case limit play.mjs applies (it reports and exits when reached).
const TIMEOUT: &str = "40";
/// Players run at once (each is a Chromium decoding video in software; the machine has 2 cores).
const DEFAULT_JOBS: usize = 2;

/// A packaging configuration the test creates.
struct Config {
    id: &'static str,
    package: Package,
    /// Substrings the asset's first manifest must contain, and must not: evidence that the
    /// configuration's options took effect, checked before a player runs.
    has: &'static [&'static str],
    lacks: &'static [&'static str],
}

enum Package {
    Hls(HlsPackage),
    Cmaf(CmafPackage),
    Dash(DashPackage),
    Mss(MssPackage),
}

/// Every configuration cuts 2 s segments over the media's 2 s GOPs, so the playback of each case
/// crosses several segment boundaries.
fn configs() -> Vec<Config> {
    let hls_manifest = || HlsManifest::builder().manifest_name("main").build();
    let dash_manifest = || DashManifest::builder().manifest_name("main");
    let hls = || {
        HlsPackage::builder()
            .segment_duration_seconds(2)
            .hls_manifests(hls_manifest())
    };
    let cmaf = || {
        CmafPackage::builder()
            .segment_duration_seconds(2)
            .hls_manifests(hls_manifest())
    };
    let dash = || DashPackage::builder().segment_duration_seconds(2);
    vec![
        Config {
            id: "hls",
            package: Package::Hls(hls().build()),
            has: &["#EXT-X-STREAM-INF"],
            lacks: &[],
        },
        Config {
            id: "hls_audio_group",
            package: Package::Hls(hls().use_audio_rendition_group(true).build()),
            has: &["TYPE=AUDIO"],
            lacks: &[],
        },
        Config {
            id: "cmaf",
            package: Package::Cmaf(cmaf().build()),
            has: &["avc1."],
            lacks: &[],
        },
        Config {
            id: "cmaf_avc3",
            package: Package::Cmaf(
                cmaf()
                    .include_encoder_configuration_in_segments(true)
                    .build(),
            ),
            has: &["avc3."],
            lacks: &["avc1."],
        },
        Config {
            id: "dash",
            package: Package::Dash(dash().dash_manifests(dash_manifest().build()).build()),
            has: &["$Number$", "<SegmentTimeline"],
            lacks: &[],
        },
        Config {
            id: "dash_time_compact",
            package: Package::Dash(
                dash()
                    .segment_template_format(SegmentTemplateFormat::TimeWithTimeline)
                    .dash_manifests(
                        dash_manifest()
                            .manifest_layout(ManifestLayout::Compact)
                            .build(),
                    )
                    .build(),
            ),
            // COMPACT: one SegmentTemplate per AdaptationSet, naming files by $RepresentationID$.
            has: &["$Time$", "<SegmentTimeline", "$RepresentationID$"],
            lacks: &["$Number$"],
        },
        Config {
            id: "dash_number_duration",
            package: Package::Dash(
                dash()
                    .segment_template_format(SegmentTemplateFormat::NumberWithDuration)
                    .dash_manifests(dash_manifest().build())
                    .build(),
            ),
            has: &["$Number$"],
            lacks: &["<SegmentTimeline"],
        },
        Config {
            id: "dash_iframes",
            package: Package::Dash(
                dash()
                    .include_iframe_only_stream(true)
                    .dash_manifests(dash_manifest().build())
                    .build(),
            ),
            has: &["http://dashif.org/guidelines/trickmode"],
            lacks: &[],
        },
        Config {
            id: "mss",
            package: Package::Mss(
                MssPackage::builder()
                    .segment_duration_seconds(2)
                    .mss_manifests(MssManifest::builder().manifest_name("main").build())
                    .build(),
            ),
            has: &["<SmoothStreamingMedia"],
            lacks: &[],
        },
    ]
}

/// Sources, by asset id: the SMIL ladder (3 MP4 renditions, H.264 + AAC), its HLS-TS version,
/// and one MP4 with one video and two AAC tracks (English, French).
const SOURCES: &[(&str, &str)] = &[
    ("ladder", "arn:aws:s3:::media/ladder/ladder.smil"),
    ("hls", "arn:aws:s3:::media/hls/master.m3u8"),
    ("two_audio", "arn:aws:s3:::media/two_audio.smil"),
];

/// (player, configuration id from [`configs`], asset id from [`SOURCES`], further play.mjs
/// arguments); a new case is one line.
const CASES: &[(&str, &str, &str, &[&str])] = &[
    ("hlsjs", "hls", "ladder", &[]),
    ("hlsjs", "hls", "hls", &[]),
    ("hlsjs", "cmaf", "ladder", &[]),
    ("shaka", "cmaf", "hls", &[]),
    ("dashjs", "dash", "ladder", &[]),
    ("shaka", "dash", "hls", &[]),
    ("dashjs", "dash_time_compact", "ladder", &[]),
    ("shaka", "dash_time_compact", "hls", &[]),
    ("dashjs", "dash_number_duration", "hls", &[]),
    ("shaka", "dash_number_duration", "ladder", &[]),
    ("dashjs", "dash_iframes", "ladder", &[]),
    ("shaka", "dash_iframes", "hls", &[]),
    ("hlsjs", "cmaf_avc3", "ladder", &[]),
    ("shaka", "cmaf_avc3", "hls", &[]),
    ("dashjs", "mss", "ladder", &[]),
    ("shaka4", "mss", "hls", &[]),
    // After 6 s, switch to the French rendition; 2 s more must play.
    ("hlsjs", "hls_audio_group", "two_audio", &["--switch-audio"]),
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The folder holding the players' node_modules.
fn players_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("VODPACK_PLAYERS_DIR") {
        return PathBuf::from(d);
    }
    let out = Command::new(repo_root().join("scripts/install-players"))
        .arg("--print-dir")
        .output()
        .expect("run scripts/install-players --print-dir");
    assert!(
        out.status.success(),
        "scripts/install-players --print-dir failed"
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn chromium() -> PathBuf {
    std::env::var_os("VODPACK_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// What one case came to (play.mjs's JSON line, or why the case did not get that far).
enum Outcome {
    Played(String),
    Failed(String),
}

/// Runs play.mjs; its last stdout line is the JSON result.
fn play(player: &str, url: &str, extra: &[&str], players: &Path) -> Outcome {
    let out = Command::new("node")
        .arg(repo_root().join("tests/players/play.mjs"))
        .args(["--player", player, "--url", url])
        .args(["--seconds", SECONDS, "--timeout", TIMEOUT])
        .args(extra)
        .arg("--players-dir")
        .arg(players)
        .arg("--chromium")
        .arg(chromium())
        .output()
        .expect("run node (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| l.starts_with('{'));
    match line.map(|l| (l, serde_json::from_str::<serde_json::Value>(l))) {
        Some((l, Ok(v))) if out.status.success() && v["ok"] == true => Outcome::Played(l.into()),
        Some((l, Ok(_))) => Outcome::Failed(l.into()),
        _ => Outcome::Failed(format!(
            "play.mjs exited with {} and no result; stdout: {stdout}; stderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_players_in_headless_chromium() {
    if std::env::var("VODPACK_SKIP_PLAYERS").as_deref() == Ok("1") {
        println!("players: skipped (VODPACK_SKIP_PLAYERS=1)");
        return;
    }
    let players = players_dir();
    assert!(
        players.join("node_modules/playwright-core").is_dir()
            && players.join("node_modules/hls.js").is_dir(),
        "no player packages in {}: run scripts/install-players (or set VODPACK_SKIP_PLAYERS=1)",
        players.display()
    );
    assert!(
        chromium().exists(),
        "no Chromium at {}: run scripts/install-players (or set VODPACK_SKIP_PLAYERS=1)",
        chromium().display()
    );
    let started = Instant::now();

    let server = Server::start();
    copy_tree(&media_dir(), &server.data_dir.join("buckets/media"));
    let c = server.client();
    c.create_packaging_group().id("g").send().await.unwrap();
    let configs = configs();
    for config in &configs {
        let create = c
            .create_packaging_configuration()
            .id(config.id)
            .packaging_group_id("g");
        let create = match &config.package {
            Package::Hls(p) => create.hls_package(p.clone()),
            Package::Cmaf(p) => create.cmaf_package(p.clone()),
            Package::Dash(p) => create.dash_package(p.clone()),
            Package::Mss(p) => create.mss_package(p.clone()),
        };
        create.send().await.unwrap();
    }
    for (id, source) in SOURCES {
        c.create_asset()
            .id(*id)
            .packaging_group_id("g")
            .source_arn(*source)
            .source_role_arn(ROLE)
            .send()
            .await
            .unwrap();
    }
    // Each case's egress URL: the asset's endpoint for the case's configuration.
    let mut urls = std::collections::HashMap::new();
    for (id, _) in SOURCES {
        let statuses = wait_ingest(&c, id).await;
        assert!(
            statuses.iter().all(|s| s == "PLAYABLE"),
            "{id}: {statuses:?}"
        );
        let d = c.describe_asset().id(*id).send().await.unwrap();
        for e in d.egress_endpoints() {
            let config = e.packaging_configuration_id().unwrap().to_string();
            urls.insert((id.to_string(), config), e.url().unwrap().to_string());
        }
    }

    // Each case's manifest must answer 200 and show its configuration's options before a player
    // runs; a case that fails here is reported with the others.
    let http = reqwest::Client::new();
    let mut work = Vec::new();
    let mut outcomes: Vec<Option<Outcome>> = Vec::new();
    for (i, &(player, config, asset, _)) in CASES.iter().enumerate() {
        let cfg = configs
            .iter()
            .find(|c| c.id == config)
            .unwrap_or_else(|| panic!("case {i}: no configuration {config}"));
        let url = urls[&(asset.to_string(), config.to_string())].clone();
        println!("players: {player} {config} {asset} -> {url}");
        let r = http.get(&url).send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        let missing: Vec<_> = cfg.has.iter().filter(|s| !body.contains(*s)).collect();
        let present: Vec<_> = cfg.lacks.iter().filter(|s| body.contains(*s)).collect();
        if status != 200 || !missing.is_empty() || !present.is_empty() {
            outcomes.push(Some(Outcome::Failed(format!(
                "manifest: HTTP {status}, lacks {missing:?}, has {present:?}: {}",
                body.chars().take(2000).collect::<String>()
            ))));
        } else {
            outcomes.push(None);
            work.push((i, url));
        }
    }

    // Run the players, a few at a time.
    let jobs = std::env::var("VODPACK_PLAYERS_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or(DEFAULT_JOBS)
        .max(1);
    let queue = std::sync::Mutex::new(work.iter().rev().cloned().collect::<Vec<_>>());
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    let next = queue.lock().unwrap().pop();
                    let Some((i, url)) = next else { break };
                    let (player, _, _, extra) = CASES[i];
                    let o = play(player, &url, extra, &players);
                    results.lock().unwrap().push((i, o));
                }
            });
        }
    });
    for (i, o) in results.into_inner().unwrap() {
        outcomes[i] = Some(o);
    }

    let mut failed = Vec::new();
    let mut played = 0;
    for (&(player, config, asset, extra), o) in CASES.iter().zip(outcomes) {
        let name = format!("{player} {config} {asset} {}", extra.join(" "));
        let name = name.trim_end();
        match o.expect("every case ran") {
            Outcome::Played(v) => {
                played += 1;
                println!("players: ok      {name}: {v}");
            }
            Outcome::Failed(why) => {
                println!("players: FAILED  {name}: {why}");
                failed.push(format!("{name}: {why}"));
            }
        }
    }
    println!(
        "players: {played} played, {} failed, in {:.1} s",
        failed.len(),
        started.elapsed().as_secs_f64()
    );

    // Negative control: the harness does report a broken stream (here a manifest that 404s) as a
    // failure with this browser and these packages.
    let url = &urls[&("ladder".to_string(), "hls".to_string())];
    let missing = format!("{}/missing.m3u8", url.rsplit_once('/').unwrap().0);
    match play("hlsjs", &missing, &[], &players) {
        Outcome::Failed(v) => println!("players: negative control failed as it must: {v}"),
        Outcome::Played(v) => panic!("a missing manifest played: {v}"),
    }
    // The server lives until every player finished.
    drop(server);
    assert!(failed.is_empty(), "player failures:\n{}", failed.join("\n"));
}
