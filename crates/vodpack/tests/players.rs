//! Real players in a real browser: headless Debian Chromium, driven by playwright-core through
//! tests/players/play.mjs, plays vodpack's egress with hls.js, Shaka Player and dash.js for
//! several seconds; every case must advance the playhead with no player or media error.
//!
//! Needs `scripts/install-players` (the Debian `chromium` package and the pinned npm packages,
//! installed outside the clone; their folder is $VODPACK_PLAYERS_DIR or what
//! `scripts/install-players --print-dir` names). Missing pieces fail the test;
//! `VODPACK_SKIP_PLAYERS=1` skips it.
//!
//! Cases are a table of (player, package kind, source). A case whose configuration is accepted
//! but whose egress answers 404 "not served by this version yet" is reported as pending, not
//! failed, so CMAF and DASH cases turn on by themselves when their writers land.

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

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Hls,
    Cmaf,
    Dash,
}

impl Kind {
    /// The packaging configuration id the test creates for this kind.
    fn config(self) -> &'static str {
        match self {
            Kind::Hls => "hls",
            Kind::Cmaf => "cmaf",
            Kind::Dash => "dash",
        }
    }
}

/// Sources, by asset id: the SMIL ladder (3 MP4 renditions, H.264 + AAC) and its HLS-TS version.
const SOURCES: &[(&str, &str)] = &[
    ("ladder", "arn:aws:s3:::media/ladder/ladder.smil"),
    ("hls", "arn:aws:s3:::media/hls/master.m3u8"),
];

/// (player, package kind, asset id from [`SOURCES`]); a new case is one line.
const CASES: &[(&str, Kind, &str)] = &[
    ("hlsjs", Kind::Hls, "ladder"),
    ("hlsjs", Kind::Hls, "hls"),
    ("hlsjs", Kind::Cmaf, "ladder"),
    ("shaka", Kind::Cmaf, "hls"),
    ("dashjs", Kind::Dash, "ladder"),
    ("shaka", Kind::Dash, "hls"),
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

/// What one case came to (Played and Failed carry play.mjs's JSON line).
enum Outcome {
    Played(String),
    Failed(String),
    Pending(String),
}

/// Runs play.mjs; its last stdout line is the JSON result.
fn play(player: &str, url: &str, players: &Path) -> Outcome {
    let out = Command::new("node")
        .arg(repo_root().join("tests/players/play.mjs"))
        .args(["--player", player, "--url", url])
        .args(["--seconds", SECONDS, "--timeout", TIMEOUT])
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
    // 2 s segments over the media's 2 s GOPs: 6 s of playback crosses several segment boundaries.
    c.create_packaging_configuration()
        .id(Kind::Hls.config())
        .packaging_group_id("g")
        .hls_package(
            HlsPackage::builder()
                .segment_duration_seconds(2)
                .hls_manifests(HlsManifest::builder().manifest_name("main").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    c.create_packaging_configuration()
        .id(Kind::Cmaf.config())
        .packaging_group_id("g")
        .cmaf_package(
            CmafPackage::builder()
                .segment_duration_seconds(2)
                .hls_manifests(HlsManifest::builder().manifest_name("main").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    c.create_packaging_configuration()
        .id(Kind::Dash.config())
        .packaging_group_id("g")
        .dash_package(
            DashPackage::builder()
                .segment_duration_seconds(2)
                .dash_manifests(DashManifest::builder().manifest_name("main").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
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

    // A configuration kind the egress does not serve yet answers 404 with this reason.
    let http = reqwest::Client::new();
    let mut work = Vec::new();
    let mut outcomes: Vec<Option<Outcome>> = Vec::new();
    for (i, &(_, kind, asset)) in CASES.iter().enumerate() {
        let url = urls[&(asset.to_string(), kind.config().to_string())].clone();
        let r = http.get(&url).send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        if status == 404 && body.contains("not served by this version yet") {
            outcomes.push(Some(Outcome::Pending(body)));
        } else {
            outcomes.push(None);
            work.push((i, url));
        }
    }
    for (i, url) in &work {
        let (player, kind, asset) = CASES[*i];
        println!("players: {player} {kind:?} {asset} -> {url}");
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
                    let o = play(CASES[i].0, &url, &players);
                    results.lock().unwrap().push((i, o));
                }
            });
        }
    });
    for (i, o) in results.into_inner().unwrap() {
        outcomes[i] = Some(o);
    }

    let mut failed = Vec::new();
    let (mut played, mut pending) = (0, 0);
    for (&(player, kind, asset), o) in CASES.iter().zip(outcomes) {
        let name = format!("{player} {kind:?} {asset}");
        match o.expect("every case ran") {
            Outcome::Played(v) => {
                played += 1;
                println!("players: ok      {name}: {v}");
            }
            Outcome::Pending(why) => {
                pending += 1;
                println!("players: pending {name}: {}", why.trim());
            }
            Outcome::Failed(why) => {
                println!("players: FAILED  {name}: {why}");
                failed.push(format!("{name}: {why}"));
            }
        }
    }
    println!(
        "players: {played} played, {} failed, {pending} pending, in {:.1} s",
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(failed.is_empty(), "player failures:\n{}", failed.join("\n"));
    assert!(played > 0, "no case played");

    // Negative control: the harness does report a broken stream (here a manifest that 404s) as a
    // failure with this browser and these packages.
    let (_, url) = &work[0];
    let missing = format!("{}/missing.m3u8", url.rsplit_once('/').unwrap().0);
    match play("hlsjs", &missing, &players) {
        Outcome::Failed(v) => println!("players: negative control failed as it must: {v}"),
        Outcome::Played(v) => panic!("a missing manifest played: {v}"),
        Outcome::Pending(_) => unreachable!(),
    }
    // The server lives until every player finished.
    drop(server);
}
