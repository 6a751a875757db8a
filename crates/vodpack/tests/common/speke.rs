//! The SPEKE v1/v2 test key server (`tests/speke/server.py`) run with the venv's Python:
//! deterministic keys, PSSH/PRO computed from the KID, fault switches and a request log.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::venv;

/// A running key server; killed when dropped.
pub struct Speke {
    child: Child,
    /// `http://127.0.0.1:PORT` (`https://` with TLS)
    pub url: String,
    /// Talks to it (trusting its CA when it serves TLS).
    client: reqwest::Client,
}

impl Drop for Speke {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/speke/server.py")
}

impl Speke {
    pub fn start() -> Speke {
        Self::start_with(&[])
    }

    /// Starts it with extra arguments (`--explicit-iv`, `--secret S`).
    pub fn start_with(args: &[&str]) -> Speke {
        let python = venv().join("bin/python");
        assert!(
            python.exists(),
            "{} is missing: run scripts/install-deps",
            python.display()
        );
        let mut child = Command::new(python)
            .arg(script())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SPEKE test server");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        let n = BufReader::new(stdout).read_line(&mut line).unwrap_or(0);
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            panic!("the SPEKE test server did not start ({n} bytes: {line:?})");
        };
        Speke {
            url: url.to_string(),
            child,
            client: reqwest::Client::new(),
        }
    }

    /// Serves HTTPS with a certificate from a fresh test CA; returns the CA file's path too.
    pub fn start_tls(dir: &std::path::Path) -> (Speke, PathBuf) {
        let mut s = Self::start_with(&["--tls-dir", dir.to_str().expect("UTF-8 path")]);
        let ca = dir.join("ca.pem");
        let pem = std::fs::read(&ca).expect("ca.pem");
        s.client = reqwest::Client::builder()
            .tls_certs_merge(reqwest::Certificate::from_pem_bundle(&pem).expect("PEM"))
            .build()
            .expect("client");
        (s, ca)
    }

    /// The key server URL a configuration names.
    pub fn endpoint(&self) -> String {
        format!("{}/speke/v2.0/copyProtection", self.url)
    }

    /// The key the server gives `content_id` × `kid` (UUID text), from its key URL.
    pub async fn key(&self, content_id: &str, kid: &str) -> [u8; 16] {
        let b = self
            .client
            .get(format!("{}/key/{content_id}/{kid}", self.url))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        b.as_ref().try_into().expect("16-byte key")
    }

    /// Sets a fault (`"500"`, `"422"`, `"wrong_kid"`, `"kid_override"`, `"missing_key"`,
    /// `"bad_base64"`, `"slow"`, `"wrong_key_url"`: the key URL, and so [`Speke::key`], answers
    /// every bit of the key flipped) or clears it (`None`).
    pub async fn fault(&self, fault: Option<&str>) {
        self.control(serde_json::json!({ "fault": fault })).await;
    }

    pub async fn control(&self, body: serde_json::Value) {
        let r = self
            .client
            .post(format!("{}/control", self.url))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }

    /// Every CPIX request received: `{path, headers, body}`.
    pub async fn requests(&self) -> Vec<serde_json::Value> {
        let t = self
            .client
            .get(format!("{}/requests", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str(&t).unwrap()
    }
}
