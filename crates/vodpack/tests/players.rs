//! Real players in a real browser: headless Debian Chromium, driven by playwright-core through
//! tests/players/play.mjs, plays vodpack's egress (HLS-TS, CMAF, DASH, Smooth) with hls.js, Shaka
//! Player (5, and 4.16 for Smooth, which Shaka 5 dropped) and dash.js (with its Smooth module)
//! for several seconds, then seek and play to the end; every case must do so with no player
//! error (fatal or recovered), media error, console error or HTTP error (play.mjs decides).
//!
//! Needs `scripts/install-players` (the Debian `chromium` package and the pinned npm packages,
//! installed outside the clone; their folder is $VODPACK_PLAYERS_DIR or what
//! `scripts/install-players --print-dir` names). Missing pieces fail the test;
//! `VODPACK_SKIP_PLAYERS=1` skips it, except in CI (`VODPACK_CI`, which `.ci/run` sets, or `CI`
//! set): there skipping is refused and fails the test.
//!
//! Negative controls (`harness_fails_broken_streams`): the same harness must fail a stream whose
//! manifest is missing, one with a corrupt (zeroed) segment, and one where a segment answers
//! 503 once, served through a small tampering proxy in front of the real server.
//!
//! Cases are a table of (player, packaging configuration, source, play.mjs options). Before a
//! player runs, the case's manifest must answer 200 and show the configuration's option took
//! effect (e.g. a trick-play AdaptationSet); anything else fails the case.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use aws_sdk_mediapackagevod as mpv;
use common::players::*;
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

/// Runs play.mjs with this file's playback length and time limit.
fn play(player: &str, url: &str, extra: &[&str], players: &Path) -> Outcome {
    play_for(player, url, SECONDS, TIMEOUT, extra, players)
}

/// Browser runs, one test at a time (each case is a Chromium decoding video; the tests in this
/// file share the machine's cores).
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A server with every configuration of [`configs`] and every asset of [`SOURCES`] ingested;
/// egress URLs by (asset id, configuration id).
async fn serve_all() -> (Server, std::collections::HashMap<(String, String), String>) {
    let server = Server::start();
    copy_tree(&media_dir(), &server.data_dir.join("buckets/media"));
    let c = server.client();
    c.create_packaging_group().id("g").send().await.unwrap();
    for config in &configs() {
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
    (server, urls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_players_in_headless_chromium() {
    let Some(players) = players_or_skip() else {
        return;
    };
    let _browser = BROWSER.lock().await;
    let started = Instant::now();
    let (server, urls) = serve_all().await;
    let configs = configs();

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
            // A run that only ran out of time (the playhead stopped short of the end, every
            // request answered, no player or console error) is tried once more on its own: two
            // players share two cores with the server, and a starved player stalls. Any error
            // fails at once.
            Outcome::Failed(why) if why.contains("not ended in") => {
                println!("players: retry   {name} (first run: {why})");
                match play(
                    player,
                    &urls[&(asset.to_string(), config.to_string())],
                    extra,
                    &players,
                ) {
                    Outcome::Played(v) => {
                        played += 1;
                        println!("players: ok      {name} (second run): {v}");
                    }
                    Outcome::Failed(again) => {
                        println!("players: FAILED  {name}: {again}");
                        failed.push(format!("{name}: {again} (first run: {why})"));
                    }
                }
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
    // The server lives until every player finished.
    drop(server);
    assert!(failed.is_empty(), "player failures:\n{}", failed.join("\n"));
    assert_eq!(played, CASES.len(), "cases played");
}

/// What the tampering proxy does to a request whose path matches.
#[derive(Clone, Copy)]
enum Tamper {
    /// Answer the upstream's status and headers with a body of zeros of the same length.
    Zero,
    /// Answer this status with an empty body, the first time the path is requested only (a
    /// transient error: the player retries, gets the file and may well play on).
    StatusOnce(u16),
}

/// An HTTP proxy on 127.0.0.1 in front of `upstream` (scheme://host:port) that passes every
/// request through except those whose path `rule` picks; returns its base URL and how many
/// requests it tampered with.
async fn tamper_proxy(
    upstream: &str,
    rule: fn(&str) -> Option<Tamper>,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use axum::http::{HeaderName, Response, StatusCode};
    let tampered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = tampered.clone();
    let refused = std::sync::Arc::new(Mutex::new(std::collections::HashSet::new()));
    let upstream = upstream.trim_end_matches('/').to_string();
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (upstream, client, count) = (upstream.clone(), client.clone(), count.clone());
        let refused = refused.clone();
        async move {
            let path_q = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default();
            let tamper = rule(req.uri().path());
            if let Some(Tamper::StatusOnce(code)) = tamper
                && refused.lock().unwrap().insert(path_q.clone())
            {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                return Response::builder()
                    .status(code)
                    .header("access-control-allow-origin", "*")
                    .body(axum::body::Body::empty())
                    .unwrap();
            }
            let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
            let mut rb = client.request(method, format!("{upstream}{path_q}"));
            for (k, v) in req.headers() {
                if k != "host" {
                    rb = rb.header(k.as_str(), v.as_bytes());
                }
            }
            let Ok(up) = rb.send().await else {
                return Response::builder()
                    .status(StatusCode::BAD_GATEWAY)
                    .body(axum::body::Body::empty())
                    .unwrap();
            };
            let mut out = Response::builder().status(up.status().as_u16());
            for (k, v) in up.headers() {
                if !matches!(
                    k.as_str(),
                    "content-length" | "transfer-encoding" | "connection"
                ) {
                    out = out.header(
                        HeaderName::from_bytes(k.as_str().as_bytes()).unwrap(),
                        v.as_bytes(),
                    );
                }
            }
            let mut body = up.bytes().await.unwrap_or_default().to_vec();
            if let Some(Tamper::Zero) = tamper {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                body.iter_mut().for_each(|b| *b = 0);
            }
            out.body(axum::body::Body::from(body)).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), tampered)
}

/// The third segment of every TS rendition (`main_<k>_2.ts`: 4–6 s).
fn third_ts_segment(path: &str) -> Option<Tamper> {
    path.ends_with("_2.ts").then_some(Tamper::Zero)
}

/// The third segment of every CMAF rendition (`main_<k>_2.mp4`).
fn third_cmaf_segment(path: &str) -> Option<Tamper> {
    path.ends_with("_2.mp4").then_some(Tamper::Zero)
}

/// The third video segment of every DASH Representation (`main_v<k>_3.mp4`, numbers from 1).
fn third_dash_video_segment(path: &str) -> Option<Tamper> {
    let name = path.rsplit('/').next().unwrap_or(path);
    (name.starts_with("main_v") && name.ends_with("_3.mp4")).then_some(Tamper::Zero)
}

/// The same DASH segments answering 503 once.
fn flaky_dash_video_segment(path: &str) -> Option<Tamper> {
    third_dash_video_segment(path).map(|_| Tamper::StatusOnce(503))
}

/// The harness must fail broken streams, or a passing player run would prove nothing: a
/// missing manifest, a corrupt (zeroed) segment in TS, CMAF and DASH, and a segment answering
/// 503 once (which players retry and recover from without a fatal error: only the HTTP-error
/// rule catches it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_fails_broken_streams() {
    let Some(players) = players_or_skip() else {
        return;
    };
    let _browser = BROWSER.lock().await;
    let (server, urls) = serve_all().await;
    let url = |asset: &str, config: &str| urls[&(asset.to_string(), config.to_string())].clone();

    let hls = url("ladder", "hls");
    let missing = format!("{}/missing.m3u8", hls.rsplit_once('/').unwrap().0);
    match play("hlsjs", &missing, &[], &players) {
        Outcome::Failed(v) => println!("players: a missing manifest failed as it must: {v}"),
        Outcome::Played(v) => panic!("a missing manifest played: {v}"),
    }

    type Rule = fn(&str) -> Option<Tamper>;
    let cases: &[(&str, &str, &str, Rule, &str)] = &[
        (
            "hlsjs",
            "hls",
            "ladder",
            third_ts_segment,
            "zeroed TS segment",
        ),
        (
            "shaka",
            "cmaf",
            "ladder",
            third_cmaf_segment,
            "zeroed CMAF segment",
        ),
        (
            "dashjs",
            "dash",
            "ladder",
            third_dash_video_segment,
            "zeroed DASH segment",
        ),
        (
            "shaka",
            "dash",
            "ladder",
            flaky_dash_video_segment,
            "DASH segment 503 once",
        ),
    ];
    let mut played = Vec::new();
    for &(player, config, asset, rule, what) in cases {
        let (proxy, tampered) = tamper_proxy(&server.endpoint, rule).await;
        let proxied = url(asset, config).replacen(&server.endpoint, &proxy, 1);
        assert_ne!(
            proxied,
            url(asset, config),
            "the URL goes through the proxy"
        );
        let outcome = play(player, &proxied, &[], &players);
        let n = tampered.load(std::sync::atomic::Ordering::SeqCst);
        match outcome {
            Outcome::Failed(v) => {
                assert!(
                    n > 0,
                    "{player} {what}: failed, but nothing was tampered with: {v}"
                );
                println!("players: {player} {what} failed as it must: {v}");
            }
            Outcome::Played(v) => played.push(format!("{player} {what} ({n} tampered): {v}")),
        }
    }
    drop(server);
    assert!(
        played.is_empty(),
        "broken streams the harness let pass:\n{}",
        played.join("\n")
    );
}

/// `VODPACK_SKIP_PLAYERS=1` skips the browser tests on a developer's machine and fails them in
/// CI. Runs this test binary's own player test in a child process with each environment.
#[test]
fn skipping_players_is_refused_in_ci() {
    let exe = std::env::current_exe().unwrap();
    let run = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(&exe);
        cmd.args([
            "--exact",
            "real_players_in_headless_chromium",
            "--nocapture",
        ])
        .env("VODPACK_SKIP_PLAYERS", "1")
        .env_remove("VODPACK_CI")
        .env_remove("CI");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, text) = run(&[]);
    assert!(ok && text.contains("players: skipped"), "{text}");
    for ci in [("VODPACK_CI", "1"), ("CI", "true")] {
        let (ok, text) = run(&[ci]);
        assert!(!ok, "{ci:?}: skipping was allowed: {text}");
        assert!(text.contains("cannot be skipped in CI"), "{ci:?}: {text}");
    }
    // Not asking to skip, in CI, with no Chromium or no player packages: a failure, not a skip.
    for (k, v, says) in [
        ("VODPACK_CHROMIUM", "/nonexistent/chromium", "no Chromium"),
        (
            "VODPACK_PLAYERS_DIR",
            "/nonexistent/players",
            "no player packages",
        ),
    ] {
        let (ok, text) = run(&[("VODPACK_SKIP_PLAYERS", "0"), ("VODPACK_CI", "1"), (k, v)]);
        assert!(!ok && text.contains(says), "{k}={v}: {text}");
        assert!(!text.contains("players: skipped"), "{k}={v}: {text}");
    }
}
