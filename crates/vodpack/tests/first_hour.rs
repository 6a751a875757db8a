//! The first hour of a new user, run as written: the "Try it" line `vodpack serve` prints and the
//! README's commands with the AWS CLI v1 and boto3 (which ignore `AWS_REGION`), the first-asset
//! walkthrough from an empty folder to a decoded stream, the per-user default data folder,
//! `vodpack package --config` fed the CLI's `describe-packaging-configuration` output, asset ARNs
//! in `inspect`/`package` resolved like the server does, source S3 credentials kept apart from
//! the clients' `AWS_*` variables (against moto with signature checks on), and new assets picked
//! up at once.
//!
//! Every child process here starts from an empty environment (`env_clear`) plus what the test
//! sets, so nothing from the developer's shell (an exported `AWS_REGION`, `XDG_DATA_HOME`, ...)
//! can make a test pass.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aws_sdk_mediapackagevod as mpv;
use common::*;
use mpv::types::*;

/// PATH with the venv's `aws`, `python3` (boto3) and `moto_server` first.
fn path_with_venv() -> String {
    format!(
        "{}:{}",
        venv().join("bin").display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
    )
}

/// A command with an empty environment but PATH and HOME.
fn clean(program: impl AsRef<std::ffi::OsStr>, home: &Path) -> Command {
    let mut c = Command::new(program);
    c.env_clear()
        .env("PATH", path_with_venv())
        .env("HOME", home);
    c
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `vodpack serve` started like a user would: no `--data-dir`, generated credentials, an
/// environment of only PATH, HOME and `env`.
struct Serve {
    child: Child,
    endpoint: String,
    banner: Vec<String>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn start(home: &Path, cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> Serve {
        let mut cmd = clean(bin(), home);
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .current_dir(cwd)
            .env("VODPACK_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn vodpack");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut banner = Vec::new();
        let endpoint = loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    let url = line
                        .strip_prefix("listening on ")
                        .map(|u| u.trim().to_string());
                    banner.push(line);
                    if let Some(url) = url {
                        break url;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("vodpack did not report its address; stdout so far: {banner:?}");
                }
            }
        };
        std::thread::spawn(move || while rx.recv().is_ok() {});
        Serve {
            child,
            endpoint,
            banner,
        }
    }

    /// The command printed under "Try it:".
    fn try_it(&self) -> String {
        let at = self
            .banner
            .iter()
            .position(|l| l == "Try it:")
            .unwrap_or_else(|| panic!("no 'Try it:' in {:#?}", self.banner));
        self.banner[at + 1].trim().to_string()
    }

    /// The value of the banner's `  data dir:` line.
    fn data_dir(&self) -> PathBuf {
        self.banner
            .iter()
            .find_map(|l| l.trim().strip_prefix("data dir:"))
            .map(|d| PathBuf::from(d.trim()))
            .unwrap_or_else(|| panic!("no data dir in {:#?}", self.banner))
    }
}

/// The README, and the text of its fenced code block that contains `needle`.
fn readme_block(needle: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .expect("README.md");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        if line.starts_with("```") {
            match current.take() {
                Some(b) => blocks.push(b),
                None => current = Some(String::new()),
            }
        } else if let Some(b) = current.as_mut() {
            b.push_str(line);
            b.push('\n');
        }
    }
    let found: Vec<_> = blocks.into_iter().filter(|b| b.contains(needle)).collect();
    assert_eq!(
        found.len(),
        1,
        "one README code block with {needle:?}: {found:#?}"
    );
    found.into_iter().next().unwrap()
}

/// The README's walkthrough block (between the `walkthrough:start`/`end` markers).
fn readme_walkthrough() -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .expect("README.md");
    let (_, rest) = readme
        .split_once("<!-- walkthrough:start -->")
        .expect("walkthrough start marker in README.md");
    let (block, _) = rest
        .split_once("<!-- walkthrough:end -->")
        .expect("walkthrough end marker in README.md");
    let block = block.trim();
    let block = block.strip_prefix("```sh").expect("an sh block");
    block
        .strip_suffix("```")
        .expect("a closed block")
        .to_string()
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn try_it_line_and_readme_boto3_work_with_cli_v1_and_boto3() {
    let home = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let server = Serve::start(home.path(), cwd.path(), &[], &[]);
    let line = server.try_it();
    assert!(line.contains(" aws mediapackage-vod "), "{line}");
    // The venv's CLI is v1, which ignores AWS_REGION: the line must name the region its way.
    let v = clean(venv().join("bin/aws"), home.path())
        .arg("--version")
        .output()
        .unwrap();
    let version =
        String::from_utf8_lossy(&v.stdout).to_string() + &String::from_utf8_lossy(&v.stderr);
    assert!(version.contains("aws-cli/1."), "{version}");
    let out = clean("sh", home.path())
        .args(["-c", &line])
        .current_dir(cwd.path())
        .output()
        .unwrap();
    let listed: serde_json::Value = serde_json::from_str(&ok(&out, &line)).unwrap();
    assert_eq!(listed["PackagingGroups"], serde_json::json!([]), "{listed}");

    // The README's boto3 command, with the example endpoint replaced by this server's.
    let py = readme_block("import boto3").replace("http://127.0.0.1:8080", &server.endpoint);
    let out = clean("sh", home.path())
        .args(["-c", &py])
        .current_dir(cwd.path())
        .output()
        .unwrap();
    assert_eq!(ok(&out, &py).trim(), "[]");
}

#[test]
fn data_dir_defaults_to_the_per_user_folder_and_is_printed() {
    // Without XDG_DATA_HOME: ~/.local/share/vodpack, whatever the current folder.
    let home = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let server = Serve::start(home.path(), cwd.path(), &[], &[]);
    let expected = home.path().join(".local/share/vodpack");
    assert!(
        expected.join("vodpack.sqlite3").is_file(),
        "no database in {}",
        expected.display()
    );
    assert!(expected.join("credentials").is_file());
    assert_eq!(
        server.data_dir(),
        canonical(&expected),
        "{:#?}",
        server.banner
    );
    assert!(
        server
            .try_it()
            .contains(&format!("{}/credentials", canonical(&expected).display())),
        "{}",
        server.try_it()
    );
    assert_eq!(
        std::fs::read_dir(cwd.path()).unwrap().count(),
        0,
        "nothing written to the current folder"
    );
    drop(server);

    // With XDG_DATA_HOME: $XDG_DATA_HOME/vodpack.
    let xdg = home.path().join("xdg-data");
    let server = Serve::start(
        home.path(),
        cwd.path(),
        &[("XDG_DATA_HOME", xdg.to_str().unwrap())],
        &[],
    );
    assert!(xdg.join("vodpack/vodpack.sqlite3").is_file());
    assert_eq!(server.data_dir(), canonical(&xdg.join("vodpack")));
    drop(server);

    // A data dir of earlier versions (./vodpack-data) in the current folder is pointed out.
    std::fs::create_dir(cwd.path().join("vodpack-data")).unwrap();
    std::fs::write(cwd.path().join("vodpack-data/vodpack.sqlite3"), b"").unwrap();
    let server = Serve::start(home.path(), cwd.path(), &[], &[]);
    let old = canonical(&cwd.path().join("vodpack-data"));
    assert!(
        server
            .banner
            .iter()
            .any(|l| l.contains("note:") && l.contains(&format!("--data-dir {}", old.display()))),
        "{:#?}",
        server.banner
    );
    assert_eq!(server.data_dir(), canonical(&expected));
    drop(server);
    std::fs::remove_dir_all(cwd.path().join("vodpack-data")).unwrap();

    // --data-dir and VODPACK_DATA_DIR still win.
    let flag = home.path().join("flag");
    let server = Serve::start(
        home.path(),
        cwd.path(),
        &[],
        &["--data-dir", flag.to_str().unwrap()],
    );
    assert!(flag.join("vodpack.sqlite3").is_file());
    assert_eq!(server.data_dir(), canonical(&flag));
    drop(server);
    let var = home.path().join("var");
    let server = Serve::start(
        home.path(),
        cwd.path(),
        &[("VODPACK_DATA_DIR", var.to_str().unwrap())],
        &[],
    );
    assert!(var.join("vodpack.sqlite3").is_file());
    assert_eq!(server.data_dir(), canonical(&var));
    assert_eq!(std::fs::read_dir(cwd.path()).unwrap().count(), 0);
}

#[test]
fn readme_walkthrough_runs_as_written_to_a_decodable_stream() {
    let home = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let server = Serve::start(home.path(), empty.path(), &[], &[]);
    let script = readme_walkthrough();
    assert!(
        script.contains("create-asset") && script.contains("ffplay"),
        "{script}"
    );
    // No display here: "playing" is ffmpeg decoding every stream of the URL to the end, with
    // ffprobe's duration noted for the test.
    let player = "ffplay() { for u; do :; done; \
                  ffprobe -v error -show_entries format=duration -of csv=p=0 \"$u\" > played.txt; \
                  ffmpeg -v error -i \"$u\" -map 0 -f null - 2> decode_errors.txt \
                  || echo \"ffmpeg exited with $?\" >> decode_errors.txt; }\n";
    let script = format!(
        "{player}{}",
        script.replace("http://127.0.0.1:8080", &server.endpoint)
    );
    let out = clean("timeout", home.path())
        .args(["300", "sh", "-e", "-c", &script])
        .current_dir(empty.path())
        .output()
        .unwrap();
    let stdout = ok(&out, "the README walkthrough");
    assert!(
        stdout.contains(&format!("{}/out/v1/", server.endpoint)),
        "{stdout}"
    );
    let errors =
        std::fs::read_to_string(empty.path().join("decode_errors.txt")).expect("ffplay ran");
    assert!(errors.trim().is_empty(), "{errors}");
    let duration: f64 = std::fs::read_to_string(empty.path().join("played.txt"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        (duration - 12.0).abs() < 0.5,
        "played {duration} s of a 12 s source"
    );
}

/// The AWS CLI v1 of the venv, signing with the test key pair of `common::Server`.
fn cli(endpoint: &str, args: &[&str]) -> String {
    let home = std::env::temp_dir();
    let out = clean(venv().join("bin/aws"), &home)
        .args(["--endpoint-url", endpoint, "--output", "json"])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    ok(&out, &format!("aws {args:?}"))
}

fn package(source: &str, config: &Path, out: &Path, home: &Path, env: &[(&str, &str)]) -> Output {
    let mut c = clean(bin(), home);
    c.arg("package")
        .arg(source)
        .arg("--config")
        .arg(config)
        .arg("--out")
        .arg(out);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// Every file below `dir`, relative path → bytes.
fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = Default::default();
    walk(dir, dir, &mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn package_accepts_describe_packaging_configuration_output() {
    let server = Server::start();
    let c = server.client();
    c.create_packaging_group().id("g").send().await.unwrap();
    // Non-default values everywhere, so a configuration read as empty cannot pass.
    c.create_packaging_configuration()
        .id("hls")
        .packaging_group_id("g")
        .tags("Team", "Video")
        .hls_package(
            HlsPackage::builder()
                .segment_duration_seconds(2)
                .hls_manifests(
                    HlsManifest::builder()
                        .manifest_name("twosec")
                        .include_iframe_only_stream(true)
                        .build(),
                )
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
                .segment_duration_seconds(4)
                .dash_manifests(
                    DashManifest::builder()
                        .manifest_name("fours")
                        .min_buffer_time_seconds(7)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let source = media_dir().join("ladder/ladder_360p.mp4");
    let work = tempfile::tempdir().unwrap();

    // HLS: the CLI's output as printed, PascalCase keys plus Arn, Id, PackagingGroupId, Tags.
    let described = cli(
        &server.endpoint,
        &[
            "mediapackage-vod",
            "describe-packaging-configuration",
            "--id",
            "hls",
        ],
    );
    assert!(
        described.contains("\"HlsPackage\"") && described.contains("\"Arn\""),
        "{described}"
    );
    let cli_json = work.path().join("hls-cli.json");
    std::fs::write(&cli_json, &described).unwrap();
    let from_cli = work.path().join("hls-from-cli");
    let out = package(
        source.to_str().unwrap(),
        &cli_json,
        &from_cli,
        work.path(),
        &[],
    );
    ok(
        &out,
        "package --config <describe-packaging-configuration output>",
    );
    // The settings were read: the manifest's name is the folder; 2 s segments of the 12 s
    // source are 6 (the default 6 s would make 2), and the I-frame playlist is there.
    let media = std::fs::read_to_string(from_cli.join("twosec/twosec_0.m3u8")).unwrap();
    let segments = media.lines().filter(|l| l.starts_with("#EXTINF")).count();
    assert_eq!(segments, 6, "{media}");
    let files = tree(&from_cli);
    assert!(
        files
            .values()
            .any(|b| String::from_utf8_lossy(b).contains("#EXT-X-I-FRAMES-ONLY")),
        "no I-frame playlist in {:?}",
        files.keys().collect::<Vec<_>>()
    );
    let master = files
        .iter()
        .find(|(_, b)| String::from_utf8_lossy(b).contains("#EXT-X-STREAM-INF"))
        .map(|(k, _)| from_cli.join(k))
        .expect("a multivariant playlist");
    decode(master.to_str().unwrap());

    // The same configuration as an API body (camelCase) gives the same files.
    let api_json = work.path().join("hls-api.json");
    std::fs::write(
        &api_json,
        r#"{"hlsPackage": {"segmentDurationSeconds": 2,
            "hlsManifests": [{"manifestName": "twosec", "includeIframeOnlyStream": true}]}}"#,
    )
    .unwrap();
    let from_api = work.path().join("hls-from-api");
    ok(
        &package(
            source.to_str().unwrap(),
            &api_json,
            &from_api,
            work.path(),
            &[],
        ),
        "package --config <API body>",
    );
    assert_eq!(
        tree(&from_api),
        files,
        "camelCase and PascalCase configurations differ"
    );

    // DASH, read from standard input.
    let described = cli(
        &server.endpoint,
        &[
            "mediapackage-vod",
            "describe-packaging-configuration",
            "--id",
            "dash",
        ],
    );
    let from_stdin = work.path().join("dash");
    let mut child = clean(bin(), work.path())
        .args([
            "package",
            source.to_str().unwrap(),
            "--config",
            "-",
            "--out",
        ])
        .arg(&from_stdin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(described.as_bytes())
        .unwrap();
    ok(
        &child.wait_with_output().unwrap(),
        "package --config - (DASH)",
    );
    let mpd_path = std::fs::read_dir(from_stdin.join("fours"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "mpd"))
        .expect("an MPD");
    let mpd = std::fs::read_to_string(&mpd_path).unwrap();
    assert!(mpd.contains("minBufferTime=\"PT7S\""), "{mpd}");
    decode(mpd_path.to_str().unwrap());
}

/// `vodpack inspect SOURCE --json` with a clean environment plus `env`.
fn inspect(source: &str, home: &Path, args: &[&str], env: &[(&str, &str)]) -> (Output, Duration) {
    let mut c = clean(bin(), home);
    c.arg("inspect").arg(source).arg("--json").args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let started = Instant::now();
    let out = c.output().unwrap();
    (out, started.elapsed())
}

fn tracks(out: &Output) -> usize {
    let j: serde_json::Value = serde_json::from_str(&ok(out, "inspect")).unwrap();
    j["tracks"].as_array().map_or(0, Vec::len)
}

#[test]
fn inspect_and_package_resolve_asset_arns_through_the_local_buckets() {
    let home = tempfile::tempdir().unwrap();
    let media = media_dir();
    let default_bucket = home.path().join(".local/share/vodpack/buckets/media");
    copy_tree(
        &media.join("ladder/ladder_360p.mp4"),
        &default_bucket.join("t/a.mp4"),
    );
    // The default data dir, as serve's: the bucket folder under ~/.local/share/vodpack.
    let (out, _) = inspect("arn:aws:s3:::media/t/a.mp4", home.path(), &[], &[]);
    assert_eq!(tracks(&out), 2);
    let (out, _) = inspect(
        "arn:aws:s3::111122223333:media/t/a.mp4",
        home.path(),
        &[],
        &[],
    );
    assert_eq!(tracks(&out), 2);

    // --data-dir and VODPACK_DATA_DIR.
    let other = home.path().join("other");
    copy_tree(
        &media.join("two_audio.mp4"),
        &other.join("buckets/src/two.mp4"),
    );
    let (out, _) = inspect(
        "arn:aws:s3:::src/two.mp4",
        home.path(),
        &["--data-dir", other.to_str().unwrap()],
        &[],
    );
    assert_eq!(tracks(&out), 3, "video and two audio tracks");
    let (out, _) = inspect(
        "arn:aws:s3:::src/two.mp4",
        home.path(),
        &[],
        &[("VODPACK_DATA_DIR", other.to_str().unwrap())],
    );
    assert_eq!(tracks(&out), 3);

    // A missing object: a quick, clear error naming the file (no EC2 metadata lookup).
    let (out, took) = inspect("arn:aws:s3:::media/t/none.mp4", home.path(), &[], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&default_bucket.join("t/none.mp4").display().to_string()),
        "{err}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");

    // package, same resolution; its output plays.
    let config = home.path().join("c.json");
    std::fs::write(
        &config,
        r#"{"dashPackage": {"dashManifests": [{"manifestName": "m"}]}}"#,
    )
    .unwrap();
    let out_dir = home.path().join("out");
    ok(
        &package(
            "arn:aws:s3:::media/t/a.mp4",
            &config,
            &out_dir,
            home.path(),
            &[],
        ),
        "package <arn>",
    );
    let mpd = std::fs::read_dir(out_dir.join("m"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "mpd"))
        .expect("an MPD");
    let d = decode(mpd.to_str().unwrap());
    assert!((d - 12.0).abs() < 0.5, "{d}");
}

// ---- S3 credentials ------------------------------------------------------------------------

/// moto's S3 server with signature checks on: only a key it issued, with the right secret (and
/// session token for temporary ones), is accepted. `INITIAL_NO_AUTH_ACTION_COUNT` lets the
/// first five requests, which create that key and a role for temporary credentials, through.
struct Moto {
    child: Child,
    endpoint: String,
    key: String,
    secret: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_cli(endpoint: &str, key: &str, secret: &str, args: &[&str]) -> String {
    let out = clean(venv().join("bin/aws"), &std::env::temp_dir())
        .args(["--endpoint-url", endpoint, "--output", "json"])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    ok(&out, &format!("aws {args:?}"))
}

async fn start_moto_with_auth() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin = venv().join("bin/moto_server");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/install-deps",
        bin.display()
    );
    let child = clean(&bin, &std::env::temp_dir())
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("INITIAL_NO_AUTH_ACTION_COUNT", "5")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
        key: String::new(),
        secret: String::new(),
    };
    let mut up = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "moto_server did not start");
    let e = moto.endpoint.clone();
    moto_cli(
        &e,
        "setup",
        "setup",
        &["iam", "create-user", "--user-name", "vodpack"],
    );
    let key: serde_json::Value = serde_json::from_str(&moto_cli(
        &e,
        "setup",
        "setup",
        &["iam", "create-access-key", "--user-name", "vodpack"],
    ))
    .unwrap();
    moto_cli(
        &e,
        "setup",
        "setup",
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            "vodpack",
            "--policy-name",
            "s3",
            "--policy-document",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","sts:*"],"Resource":"*"}]}"#,
        ],
    );
    moto_cli(
        &e,
        "setup",
        "setup",
        &[
            "iam",
            "create-role",
            "--role-name",
            "reader",
            "--assume-role-policy-document",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#,
        ],
    );
    moto_cli(
        &e,
        "setup",
        "setup",
        &[
            "iam",
            "put-role-policy",
            "--role-name",
            "reader",
            "--policy-name",
            "s3",
            "--policy-document",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
        ],
    );
    moto.key = key["AccessKey"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    moto.secret = key["AccessKey"]["SecretAccessKey"]
        .as_str()
        .unwrap()
        .to_string();
    moto
}

async fn group_with_hls(c: &mpv::Client) {
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_sources_are_read_with_vodpack_s3_credentials_never_the_clients_aws_ones() {
    let moto = start_moto_with_auth().await;
    let (e, k, s) = (
        moto.endpoint.as_str(),
        moto.key.as_str(),
        moto.secret.as_str(),
    );
    // Anything but the issued key is refused: the checks below can fail.
    let junk = clean(venv().join("bin/aws"), &std::env::temp_dir())
        .args(["--endpoint-url", e, "s3", "ls"])
        .env("AWS_ACCESS_KEY_ID", "AKIAJUNKJUNKJUNKJUNK")
        .env("AWS_SECRET_ACCESS_KEY", "junk")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(
        !junk.status.success(),
        "moto accepted a junk key: signature checks are off"
    );
    moto_cli(e, k, s, &["s3", "mb", "s3://vod-src"]);
    let media = media_dir();
    moto_cli(
        e,
        k,
        s,
        &[
            "s3",
            "cp",
            "--quiet",
            media.join("ladder/ladder_360p.mp4").to_str().unwrap(),
            "s3://vod-src/t/a.mp4",
        ],
    );
    // What a user's shell may export for their clients: junk as far as the source store goes.
    let client_vars = [
        ("AWS_ACCESS_KEY_ID", "AKIAJUNKJUNKJUNKJUNK"),
        ("AWS_SECRET_ACCESS_KEY", "junk"),
        ("AWS_REGION", "eu-west-3"),
        ("AWS_DEFAULT_REGION", "eu-west-3"),
        ("AWS_PROFILE", "nonexistent"),
    ];
    let s3 = [
        ("VODPACK_S3_ENDPOINT", e),
        ("VODPACK_S3_PATH_STYLE", "true"),
    ];
    let key_pair = [
        ("VODPACK_S3_ACCESS_KEY_ID", k),
        ("VODPACK_S3_SECRET_ACCESS_KEY", s),
    ];
    let env = |extra: &[(&'static str, &str)]| -> Vec<(String, String)> {
        client_vars
            .iter()
            .chain(s3.iter())
            .chain(extra.iter())
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };

    // 1. A key pair in VODPACK_S3_*: the asset becomes PLAYABLE and its segments play.
    let server = Server::start_with(Options {
        env: env(&key_pair),
        ..Options::default()
    });
    let c = server.client();
    group_with_hls(&c).await;
    let urls = create_asset(&c, "a", "arn:aws:s3:::vod-src/t/a.mp4").await;
    assert_eq!(wait_ingest(&c, "a").await, ["PLAYABLE"]);
    let d = decode(&urls["hls"]);
    assert!((d - 12.0).abs() < 0.5, "{d}");
    drop(server);

    // 2. A profile of ~/.aws/credentials named by VODPACK_S3_PROFILE.
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".aws")).unwrap();
    std::fs::write(
        home.path().join(".aws/credentials"),
        format!(
            "[default]\naws_access_key_id = AKIAJUNKJUNKJUNKJUNK\naws_secret_access_key = junk\n\n\
             # the source store\n[sources]\naws_access_key_id = {k}\naws_secret_access_key = {s}\n"
        ),
    )
    .unwrap();
    let home_str = home.path().to_str().unwrap();
    let server = Server::start_with(Options {
        env: env(&[("VODPACK_S3_PROFILE", "sources"), ("HOME", home_str)]),
        ..Options::default()
    });
    let c = server.client();
    group_with_hls(&c).await;
    create_asset(&c, "p", "arn:aws:s3:::vod-src/t/a.mp4").await;
    assert_eq!(wait_ingest(&c, "p").await, ["PLAYABLE"]);
    drop(server);

    // 3. Control: with a wrong key pair in VODPACK_S3_* the same source fails (moto checks).
    let server = Server::start_with(Options {
        env: env(&[
            ("VODPACK_S3_ACCESS_KEY_ID", "AKIAJUNKJUNKJUNKJUNK"),
            ("VODPACK_S3_SECRET_ACCESS_KEY", "junk"),
        ]),
        ..Options::default()
    });
    let c = server.client();
    group_with_hls(&c).await;
    create_asset(&c, "w", "arn:aws:s3:::vod-src/t/a.mp4").await;
    assert_eq!(wait_ingest(&c, "w").await, ["FAILED"]);
    drop(server);

    // 4. inspect and package with an asset ARN: through the same S3 settings.
    let mut inspect_env: Vec<(&str, &str)> = client_vars.to_vec();
    inspect_env.extend(s3);
    inspect_env.extend(key_pair);
    let (out, _) = inspect(
        "arn:aws:s3:::vod-src/t/a.mp4",
        home.path(),
        &[],
        &inspect_env,
    );
    assert_eq!(tracks(&out), 2);
    let config = home.path().join("c.json");
    std::fs::write(
        &config,
        r#"{"hlsPackage": {"hlsManifests": [{"manifestName": "m"}]}}"#,
    )
    .unwrap();
    let out_dir = home.path().join("out");
    ok(
        &package(
            "arn:aws:s3:::vod-src/t/a.mp4",
            &config,
            &out_dir,
            home.path(),
            &inspect_env,
        ),
        "package <arn> from S3",
    );
    assert!(out_dir.join("m").is_dir());

    // 5. Temporary credentials: key, secret and VODPACK_S3_SESSION_TOKEN (moto refuses the
    //    pair without its token, so the token is what makes this work).
    let temp: serde_json::Value = serde_json::from_str(&moto_cli(
        e,
        k,
        s,
        &[
            "sts",
            "assume-role",
            "--role-arn",
            "arn:aws:iam::123456789012:role/reader",
            "--role-session-name",
            "vodpack-test",
        ],
    ))
    .unwrap();
    let field = |name: &str| temp["Credentials"][name].as_str().unwrap().to_string();
    let (tk, ts, tt) = (
        field("AccessKeyId"),
        field("SecretAccessKey"),
        field("SessionToken"),
    );
    let mut temp_env: Vec<(&str, &str)> = client_vars.to_vec();
    temp_env.extend(s3);
    temp_env.extend([
        ("VODPACK_S3_ACCESS_KEY_ID", tk.as_str()),
        ("VODPACK_S3_SECRET_ACCESS_KEY", ts.as_str()),
    ]);
    let (out, _) = inspect("arn:aws:s3:::vod-src/t/a.mp4", home.path(), &[], &temp_env);
    assert!(
        !out.status.success(),
        "moto accepted temporary credentials without their token"
    );
    temp_env.push(("VODPACK_S3_SESSION_TOKEN", tt.as_str()));
    let (out, _) = inspect("arn:aws:s3:::vod-src/t/a.mp4", home.path(), &[], &temp_env);
    assert_eq!(tracks(&out), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_assets_are_picked_up_at_once() {
    let server = Server::start();
    copy_tree(
        &media_dir().join("ladder/ladder_360p.mp4"),
        &server.data_dir.join("buckets/media/a.mp4"),
    );
    let c = server.client();
    group_with_hls(&c).await;
    // Back to back: the workers are idle (waiting for work) each time an asset is created.
    for i in 0..3 {
        let id = format!("a{i}");
        let created = Instant::now();
        create_asset(&c, &id, "arn:aws:s3:::media/a.mp4").await;
        loop {
            let d = c.describe_asset().id(&id).send().await.unwrap();
            let status = d.egress_endpoints()[0].status().unwrap_or("").to_string();
            if status == "PLAYABLE" {
                break;
            }
            assert_ne!(status, "FAILED");
            assert!(
                created.elapsed() < Duration::from_secs(2),
                "asset {id} still {status} {:?} after CreateAsset",
                created.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Let the workers go back to waiting before the next one.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
