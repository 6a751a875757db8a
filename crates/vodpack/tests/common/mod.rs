//! Test harness: starts the real `vodpack` binary on a free port with a temporary data
//! directory, and builds the clients the tests talk to it with (the AWS SDK, and raw HTTP
//! requests signed by `aws-sigv4`).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use aws_sdk_mediapackagevod as mpv;

pub mod moto;
pub mod players;
pub mod speke;
pub mod xml;
// Not every test binary reads XML.
#[allow(unused_imports)]
pub use moto::{Moto, venv};
#[allow(unused_imports)]
pub use xml::{El, xs_seconds};

pub const ACCESS_KEY: &str = "AKIDVODPACKTEST00001";
pub const SECRET_KEY: &str = "vodpack/test/secret+key/0123456789abcdefgh";
pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "111122223333";

/// A running `vodpack serve`; killed when dropped.
pub struct Server {
    child: Option<Child>,
    pub endpoint: String,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub stdout_lines: Vec<String>,
    /// Every stdout and stderr line after start-up, when [`Options::capture_output`] is set.
    pub output: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

pub struct Options {
    pub extra_args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Pass the test key pair through the environment (otherwise the data dir's file is used).
    pub configured_credentials: bool,
    /// Keep stdout and stderr lines in [`Server::output`] (stderr is inherited otherwise).
    pub capture_output: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            extra_args: Vec::new(),
            env: Vec::new(),
            configured_credentials: true,
            capture_output: false,
        }
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_vodpack")
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(Options::default())
    }

    pub fn start_with(opts: Options) -> Server {
        let tmp = tempfile::tempdir().expect("temp dir");
        let data_dir = tmp.path().join("data");
        let mut s = Self::spawn(&data_dir, &opts);
        s._tmp = Some(tmp);
        s
    }

    /// Starts on an existing data directory (restart tests).
    pub fn spawn(data_dir: &Path, opts: &Options) -> Server {
        let mut cmd = Command::new(bin());
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir)
            .args(&opts.extra_args)
            .env_remove("VODPACK_ACCESS_KEY_ID")
            .env_remove("VODPACK_SECRET_ACCESS_KEY")
            .env("VODPACK_REGION", REGION)
            .env("VODPACK_ACCOUNT_ID", ACCOUNT)
            .env("VODPACK_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(if opts.capture_output {
                Stdio::piped()
            } else {
                Stdio::inherit()
            });
        if opts.configured_credentials {
            cmd.env("VODPACK_ACCESS_KEY_ID", ACCESS_KEY)
                .env("VODPACK_SECRET_ACCESS_KEY", SECRET_KEY);
        }
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn vodpack");
        let stdout = child.stdout.take().expect("stdout");
        let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        if let Some(stderr) = child.stderr.take() {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    output.lock().unwrap().push(line);
                }
            });
        }
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = Vec::new();
        let endpoint = loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("listening on ") {
                        lines.push(line.clone());
                        break url.trim().to_string();
                    }
                    lines.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("vodpack did not report its address; stdout so far: {lines:?}");
                }
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        let capture = opts.capture_output.then(|| output.clone());
        std::thread::spawn(move || {
            while let Ok(line) = rx.recv() {
                if let Some(out) = &capture {
                    out.lock().unwrap().push(line);
                }
            }
        });
        Server {
            child: Some(child),
            endpoint,
            data_dir: data_dir.to_path_buf(),
            _tmp: None,
            stdout_lines: lines,
            output,
        }
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns the exit status code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        let pid = c.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..100 {
            if let Ok(Some(status)) = c.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    pub fn client(&self) -> mpv::Client {
        sdk_client(&self.endpoint, ACCESS_KEY, SECRET_KEY, REGION)
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.endpoint, path_and_query)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The official SDK pointed at our endpoint (plain HTTP client, no TLS).
pub fn sdk_client(endpoint: &str, key: &str, secret: &str, region: &str) -> mpv::Client {
    let conf = mpv::Config::builder()
        .behavior_version(mpv::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(mpv::config::Region::new(region.to_string()))
        .credentials_provider(mpv::config::Credentials::new(
            key,
            secret,
            None,
            None,
            "vodpack-tests",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    mpv::Client::from_conf(conf)
}

/// A raw HTTP answer.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Raw {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn error_type(&self) -> Option<&str> {
        self.header("x-amzn-errortype")
    }
}

/// Signing inputs for [`raw`].
pub struct Signing<'a> {
    pub key: &'a str,
    pub secret: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub time: SystemTime,
}

impl Default for Signing<'_> {
    fn default() -> Self {
        Signing {
            key: ACCESS_KEY,
            secret: SECRET_KEY,
            region: REGION,
            service: "mediapackage-vod",
            time: SystemTime::now(),
        }
    }
}

/// Sends a request, signed with `aws-sigv4` when `signing` is given.
pub async fn raw(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    signing: Option<Signing<'_>>,
) -> Raw {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let client = reqwest::Client::new();
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut rb = client.request(m, url).body(body.clone());
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    if let Some(s) = signing {
        let host = url
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .expect("host")
            .to_string();
        let mut all: Vec<(String, String)> = vec![("host".into(), host)];
        all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let creds = aws_credential_types::Credentials::new(s.key, s.secret, None, None, "raw");
        let identity = creds.into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(s.region)
            .name(s.service)
            .time(s.time)
            .settings(SigningSettings::default())
            .build()
            .expect("signing params")
            .into();
        let signable = SignableRequest::new(
            method,
            url,
            all.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(&body),
        )
        .expect("signable");
        let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
        for (k, v) in instructions.headers() {
            rb = rb.header(k, v);
        }
    }
    let resp = rb.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().await.unwrap_or_default();
    Raw {
        status,
        headers,
        body,
    }
}

/// A signed JSON request with the test key pair.
pub async fn signed(method: &str, url: &str, body: &str) -> Raw {
    let headers: &[(&str, &str)] = if body.is_empty() {
        &[]
    } else {
        &[("content-type", "application/json")]
    };
    raw(
        method,
        url,
        headers,
        body.as_bytes().to_vec(),
        Some(Signing::default()),
    )
    .await
}

/// The generated test media (made by scripts/make-test-media.sh, cached between runs).
pub fn media_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(root.join("scripts/make-test-media.sh"))
        .output()
        .expect("run scripts/make-test-media.sh");
    assert!(
        out.status.success(),
        "make-test-media failed (is ffmpeg installed? run scripts/install-deps): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(stdout.trim().lines().last().expect("media dir"))
}

/// Copies a file or folder tree.
pub fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            copy_tree(&e.path(), &to.join(e.file_name()));
        }
    } else {
        if let Some(p) = to.parent() {
            std::fs::create_dir_all(p).unwrap();
        }
        std::fs::copy(from, to).unwrap();
    }
}

/// Polls DescribeAsset until every endpoint leaves QUEUED/PROCESSING; returns the statuses.
pub async fn wait_ingest(c: &mpv::Client, asset: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let d = c
            .describe_asset()
            .id(asset)
            .send()
            .await
            .expect("describe asset");
        let statuses: Vec<String> = d
            .egress_endpoints()
            .iter()
            .map(|e| e.status().unwrap_or("").to_string())
            .collect();
        if !statuses.is_empty() && statuses.iter().all(|s| s == "PLAYABLE" || s == "FAILED") {
            return statuses;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "asset {asset} still {statuses:?} after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An HTTP endpoint that records the JSON bodies POSTed to it (the event webhook receiver).
pub struct Webhook {
    pub url: String,
    pub events: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

impl Webhook {
    pub async fn start() -> Webhook {
        Self::start_failing(0).await
    }

    /// A receiver that answers 500 to its first `failures` requests (to exercise retries).
    pub async fn start_failing(failures: usize) -> Webhook {
        let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let store = events.clone();
        let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let app = axum::Router::new().route(
            "/events",
            axum::routing::post(move |body: axum::body::Bytes| {
                let store = store.clone();
                let refused = refused.clone();
                async move {
                    use std::sync::atomic::Ordering;
                    if refused.fetch_add(1, Ordering::SeqCst) < failures {
                        return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "try again");
                    }
                    if let Ok(v) = serde_json::from_slice(&body) {
                        store.lock().unwrap().push(v);
                    }
                    (axum::http::StatusCode::OK, "ok")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Webhook {
            url: format!("http://{addr}/events"),
            events,
        }
    }

    /// Events so far whose detail.event is `kind` and whose first resource ends with `/asset`.
    pub fn of(&self, kind: &str, asset: &str) -> Vec<serde_json::Value> {
        let suffix = format!("assets/{asset}");
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e["detail"]["event"] == kind)
            .filter(|e| {
                e["resources"][0]
                    .as_str()
                    .is_some_and(|r| r.ends_with(&suffix))
            })
            .cloned()
            .collect()
    }

    /// Waits until at least `n` events of `kind` for `asset` arrived.
    pub async fn wait_for(&self, kind: &str, asset: &str, n: usize) -> Vec<serde_json::Value> {
        for _ in 0..200 {
            let found = self.of(kind, asset);
            if found.len() >= n {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no {kind} event for {asset}; got {:?}",
            self.events.lock().unwrap()
        );
    }
}

/// The source role ARN tests pass to CreateAsset (vodpack checks its shape only).
pub const ROLE: &str = "arn:aws:iam::111122223333:role/MediaPackageSource";

/// Creates asset `id` in group `g` from `source`; its egress URLs by configuration id.
pub async fn create_asset(
    c: &mpv::Client,
    id: &str,
    source: &str,
) -> std::collections::BTreeMap<String, String> {
    let a = c
        .create_asset()
        .id(id)
        .packaging_group_id("g")
        .source_arn(source)
        .source_role_arn(ROLE)
        .send()
        .await
        .unwrap();
    a.egress_endpoints()
        .iter()
        .map(|e| {
            (
                e.packaging_configuration_id().unwrap().to_string(),
                e.url().unwrap().to_string(),
            )
        })
        .collect()
}

/// ffmpeg decodes every stream of `url` (a URL or a file) without a message; returns
/// ffprobe's duration.
pub fn decode(url: &str) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i", url, "-map", "0", "-f", "null", "-"])
        .output()
        .unwrap();
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && errors.trim().is_empty(),
        "{url}: {errors}"
    );
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
            url,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0.0)
}

/// Creates packaging configuration `id` in group `g`; `package` sets its package.
pub async fn create_config(
    c: &mpv::Client,
    id: &str,
    package: impl FnOnce(
        mpv::operation::create_packaging_configuration::builders::CreatePackagingConfigurationFluentBuilder,
    ) -> mpv::operation::create_packaging_configuration::builders::CreatePackagingConfigurationFluentBuilder,
) {
    package(
        c.create_packaging_configuration()
            .id(id)
            .packaging_group_id("g"),
    )
    .send()
    .await
    .unwrap();
}
