//! The SPEKE client: POSTs the CPIX request of `cpix.rs` to the configuration's key server and
//! reads its answer. v1 without `encryptionContractConfiguration`, v2.0 (`X-Speke-Version:
//! 2.0`) with one.
//!
//! Transport rules: connect and total timeouts; up to `attempts` tries with backoff on connect
//! errors, timeouts and 5xx, never on 4xx (the request is wrong, asking again will not help);
//! HTTPS with the system roots plus an optional extra CA file; the URL policy of
//! [`super::UrlPolicy`] checked again before each call; optional SigV4 (`execute-api`) or a
//! static header from a secrets file. Logs name the host, the status and the timing, never
//! keys, IVs or the response body.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use vodpack_media::package::keys::KeySet;

use super::cpix::{self, Version};
use super::{KeyError, KeyProvider, KeyRequest, UrlPolicy};

/// How the service talks to key servers.
#[derive(Clone)]
pub struct SpekeSettings {
    pub connect_timeout: Duration,
    /// Longest one attempt may take, the body read included.
    pub timeout: Duration,
    /// Tries per key request (at least 1).
    pub attempts: u32,
    /// Wait before the second try; doubled for each later one.
    pub backoff: Duration,
    /// PEM file of CAs trusted in addition to the system roots.
    pub ca_file: Option<PathBuf>,
    /// SigV4 signing of key requests (service `execute-api`, `region`).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub region: String,
    /// File of `Name: value` lines sent as headers with every key request.
    pub header_file: Option<PathBuf>,
    /// Hosts that may be reached over plain http.
    pub allow_http_hosts: Vec<String>,
}

impl Default for SpekeSettings {
    fn default() -> Self {
        SpekeSettings {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            attempts: 3,
            backoff: Duration::from_millis(200),
            ca_file: None,
            access_key_id: None,
            secret_access_key: None,
            region: "us-east-1".into(),
            header_file: None,
            allow_http_hosts: Vec::new(),
        }
    }
}

impl std::fmt::Debug for SpekeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpekeSettings")
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("attempts", &self.attempts)
            .field("ca_file", &self.ca_file)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("region", &self.region)
            .field("header_file", &self.header_file)
            .field("allow_http_hosts", &self.allow_http_hosts)
            .finish()
    }
}

/// A SPEKE key provider.
pub struct SpekeClient {
    http: reqwest::Client,
    settings: SpekeSettings,
    policy: UrlPolicy,
}

enum Attempt {
    Done(Result<Vec<u8>, KeyError>),
    Retry(KeyError),
}

impl SpekeClient {
    pub fn new(settings: SpekeSettings) -> Result<SpekeClient, KeyError> {
        let mut b = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            // A key server that redirects elsewhere would escape the URL policy.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(NoLinkLocal));
        if let Some(path) = &settings.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                KeyError::Config(format!("cannot read the CA file {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| {
                KeyError::Config(format!("{} holds no PEM certificate", path.display()))
            })?;
            if certs.is_empty() {
                return Err(KeyError::Config(format!(
                    "{} holds no PEM certificate",
                    path.display()
                )));
            }
            b = b.tls_certs_merge(certs);
        }
        let http = b
            .build()
            .map_err(|e| KeyError::Config(format!("cannot set up the HTTP client: {e}")))?;
        let policy = UrlPolicy::new(settings.allow_http_hosts.clone());
        Ok(SpekeClient {
            http,
            settings,
            policy,
        })
    }

    /// Headers from the secrets file, read on each call so a rotated secret is used at once.
    fn static_headers(&self) -> Result<Vec<(String, String)>, KeyError> {
        let Some(path) = &self.settings.header_file else {
            return Ok(Vec::new());
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            KeyError::Config(format!(
                "cannot read the SPEKE header file {}: {e}",
                path.display()
            ))
        })?;
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(KeyError::Config(format!(
                    "{} line {}: expected 'Name: value'",
                    path.display(),
                    i + 1
                )));
            };
            let (name, value) = (name.trim(), value.trim());
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(value).is_err()
            {
                return Err(KeyError::Config(format!(
                    "{} line {}: not a valid header",
                    path.display(),
                    i + 1
                )));
            }
            out.push((name.to_string(), value.to_string()));
        }
        Ok(out)
    }

    fn sign(
        &self,
        url: &str,
        host: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>, KeyError> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let (Some(id), Some(secret)) = (
            &self.settings.access_key_id,
            &self.settings.secret_access_key,
        ) else {
            return Ok(Vec::new());
        };
        let creds = aws_credential_types::Credentials::new(id, secret, None, None, "vodpack-speke");
        let identity = creds.into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.settings.region)
            .name("execute-api")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| KeyError::Config(format!("SigV4: {e}")))?
            .into();
        let mut all: Vec<(&str, &str)> = vec![("host", host)];
        all.extend(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let signable =
            SignableRequest::new("POST", url, all.into_iter(), SignableBody::Bytes(body))
                .map_err(|e| KeyError::Config(format!("SigV4: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| KeyError::Config(format!("SigV4: {e}")))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }

    async fn attempt(
        &self,
        url: &str,
        host: &str,
        headers: &[(String, String)],
        body: &str,
    ) -> Attempt {
        let mut rb = self.http.post(url).body(body.to_string());
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        let started = Instant::now();
        let timeout = || KeyError::Timeout {
            host: host.to_string(),
            secs: self.settings.timeout.as_secs_f64(),
        };
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Attempt::Retry(timeout()),
            Err(e) if e.is_connect() => {
                return Attempt::Retry(KeyError::Connect {
                    host: host.to_string(),
                    reason: connect_reason(&e),
                });
            }
            Err(e) => {
                return Attempt::Retry(KeyError::Connect {
                    host: host.to_string(),
                    reason: if e.is_request() {
                        "the request failed".into()
                    } else {
                        "the connection failed".into()
                    },
                });
            }
        };
        let status = resp.status().as_u16();
        tracing::info!(
            host,
            status,
            millis = started.elapsed().as_millis() as u64,
            "key server answered"
        );
        if status >= 500 {
            return Attempt::Retry(KeyError::Status {
                host: host.to_string(),
                status,
            });
        }
        if !(200..300).contains(&status) {
            return Attempt::Done(Err(KeyError::Status {
                host: host.to_string(),
                status,
            }));
        }
        let mut resp = resp;
        let mut out = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    if out.len() + c.len() > cpix::MAX_RESPONSE_BYTES {
                        return Attempt::Done(Err(KeyError::Cpix(cpix::CpixError::TooLarge(
                            out.len() + c.len(),
                        ))));
                    }
                    out.extend_from_slice(&c);
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Attempt::Retry(timeout()),
                Err(_) => {
                    return Attempt::Retry(KeyError::Connect {
                        host: host.to_string(),
                        reason: "the answer was cut off".into(),
                    });
                }
            }
        }
        Attempt::Done(Ok(out))
    }
}

/// The system resolver without link-local answers: a key server name that passed the URL
/// policy at create time may resolve to the metadata address later (or on purpose); such
/// addresses are dropped here, so the connection is never made.
struct NoLinkLocal;

impl reqwest::dns::Resolve for NoLinkLocal {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| !super::forbidden_ip(a.ip()))
                .collect();
            if allowed.is_empty() && !all.is_empty() {
                return Err("the key server's name resolves only to link-local addresses".into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Why a connection failed, in words that hold no URL or payload.
fn connect_reason(e: &reqwest::Error) -> String {
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut last = String::from("connection failed");
    while let Some(s) = src {
        last = s.to_string();
        src = s.source();
    }
    last.chars().take(200).collect()
}

#[async_trait]
impl KeyProvider for SpekeClient {
    async fn keys(&self, req: &KeyRequest<'_>) -> Result<KeySet, KeyError> {
        let enc = req
            .spec
            .encryption
            .as_ref()
            .ok_or(KeyError::Cpix(cpix::CpixError::NotEncrypted))?;
        let url = enc.speke.url.as_str();
        let host = self.policy.check(url).map_err(KeyError::Url)?;
        let plan = cpix::plan(req.content_id, req.config_id, req.spec)?;
        let body = plan.to_xml();
        let mut headers = vec![("content-type".to_string(), "application/xml".to_string())];
        if plan.version == Version::V2 {
            headers.push(("x-speke-version".into(), "2.0".into()));
        }
        headers.extend(self.static_headers()?);
        let attempts = self.settings.attempts.max(1);
        let mut wait = self.settings.backoff;
        let mut last = None;
        for n in 1..=attempts {
            let mut all = headers.clone();
            all.extend(self.sign(url, &host, &headers, body.as_bytes())?);
            match self.attempt(url, &host, &all, &body).await {
                Attempt::Done(Ok(bytes)) => {
                    let keys = cpix::parse_response(&plan, &bytes)?;
                    tracing::info!(
                        host = %host,
                        keys = keys.keys.len(),
                        systems = keys.systems.len(),
                        attempt = n,
                        "keys fetched"
                    );
                    return Ok(keys);
                }
                Attempt::Done(Err(e)) => return Err(e),
                Attempt::Retry(e) => {
                    tracing::warn!(host = %host, attempt = n, error = %e, "key request failed");
                    last = Some(e);
                    if n < attempts {
                        tokio::time::sleep(wait).await;
                        wait *= 2;
                    }
                }
            }
        }
        Err(last.unwrap_or_else(|| KeyError::Config("no attempt made".into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::dns::Resolve;

    #[tokio::test]
    async fn the_resolver_answers_ordinary_names() {
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let addrs: Vec<SocketAddr> = NoLinkLocal.resolve(name).await.unwrap().collect();
        assert!(addrs.iter().any(|a| a.ip().is_loopback()), "{addrs:?}");
        assert!(addrs.iter().all(|a| !super::super::forbidden_ip(a.ip())));
    }

    #[test]
    fn settings_debug_hides_the_secret() {
        let s = SpekeSettings {
            secret_access_key: Some("very-secret-value".into()),
            ..SpekeSettings::default()
        };
        let d = format!("{s:?}");
        assert!(
            !d.contains("very-secret-value") && d.contains("<redacted>"),
            "{d}"
        );
    }
}
