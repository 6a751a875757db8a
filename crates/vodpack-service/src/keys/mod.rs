//! Content keys: where they come from and how they are kept.
//!
//! - [`KeyProvider`]: the one interface of key sources — the SPEKE client ([`speke`], CPIX in
//!   [`cpix`]) and a fixed list ([`static_keys`], for `vodpack package --keys`).
//! - [`Keys`]: what the rest of the service calls. Keys are fetched once per asset ×
//!   packaging configuration: memory, then the repository (so restarts and every node use the
//!   keys the key server gave first), then the provider, whose answer is stored (first writer
//!   wins). Concurrent requests for one pair make one key-server call; a failure is remembered
//!   briefly so a down key server is not hammered.
//! - [`UrlPolicy`]: which key server URLs the service may call (API validation and the client).
//!
//! Keys and IVs never appear in logs, errors or `Debug` output.

pub mod cpix;
pub mod speke;
pub mod static_keys;
pub mod stored;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use vodpack_media::package::keys::KeySet;
use vodpack_media::package::spec::PackageSpec;

use crate::repo::{AssetRecord, ConfigRecord, RepoError, Repository};

pub use speke::{SpekeClient, SpekeSettings};
pub use static_keys::StaticKeys;
pub use stored::StoredKeySet;

/// What a key provider is asked for: the keys of one asset × packaging configuration.
#[derive(Debug, Clone, Copy)]
pub struct KeyRequest<'a> {
    /// The asset's `resourceId`, its id when it has none: SPEKE's content id.
    pub content_id: &'a str,
    /// The packaging configuration's id (part of the stable KIDs).
    pub config_id: &'a str,
    pub spec: &'a PackageSpec,
}

/// A source of content keys.
#[async_trait]
pub trait KeyProvider: Send + Sync + 'static {
    async fn keys(&self, req: &KeyRequest<'_>) -> Result<KeySet, KeyError>;
}

/// Why keys could not be had. Texts name hosts, KIDs and fields, never key material.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Cpix(#[from] cpix::CpixError),
    #[error("key server URL refused: {0}")]
    Url(String),
    #[error("cannot reach the key server at {host}: {reason}")]
    Connect { host: String, reason: String },
    #[error("the key server at {host} did not answer within {secs} s")]
    Timeout { host: String, secs: f64 },
    #[error("the key server at {host} answered HTTP {status}")]
    Status { host: String, status: u16 },
    #[error("key settings: {0}")]
    Config(String),
    #[error("cannot store or read keys: {0}")]
    Repo(String),
    #[error(transparent)]
    Stored(#[from] stored::StoredError),
    #[error("the asset or packaging configuration no longer exists")]
    Gone,
}

impl From<RepoError> for KeyError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::NotFound { .. } => KeyError::Gone,
            e => KeyError::Repo(e.to_string()),
        }
    }
}

/// Which key server URLs may be called: https always, http only to allow-listed hosts, and
/// never the link-local / cloud metadata addresses (169.254.0.0/16, fd00:ec2::254), so the API
/// cannot be used to make the server call them.
#[derive(Debug, Clone, Default)]
pub struct UrlPolicy {
    allow_http_hosts: Vec<String>,
}

fn norm_host(h: &str) -> String {
    h.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Link-local and cloud metadata addresses, never called.
pub(crate) fn forbidden_ip(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4.is_link_local();
            }
            v6 == std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
                // fe80::/10, link-local like 169.254/16
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

impl UrlPolicy {
    pub fn new(allow_http_hosts: Vec<String>) -> UrlPolicy {
        UrlPolicy {
            allow_http_hosts: allow_http_hosts
                .iter()
                .map(|h| norm_host(h))
                .filter(|h| !h.is_empty())
                .collect(),
        }
    }

    /// Parses a comma list (`VODPACK_SPEKE_ALLOW_HTTP_HOSTS`).
    pub fn from_list(list: &str) -> UrlPolicy {
        UrlPolicy::new(list.split(',').map(str::to_string).collect())
    }

    /// Checks `url`; returns its host (with port) for logs, or why it is refused.
    pub fn check(&self, url: &str) -> Result<String, String> {
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("'{url}' contains whitespace"));
        }
        let u = reqwest::Url::parse(url).map_err(|_| format!("'{url}' is not a URL"))?;
        let host = match u.host_str() {
            Some(h) if !h.is_empty() => h.to_string(),
            _ => return Err(format!("'{url}' has no host")),
        };
        let host_text = norm_host(&host);
        if host_text
            .parse::<std::net::IpAddr>()
            .is_ok_and(forbidden_ip)
        {
            return Err(format!(
                "'{url}' names a link-local (cloud metadata) address, which key servers may not use"
            ));
        }
        match u.scheme() {
            "https" => {}
            "http" if self.allow_http_hosts.contains(&host_text) => {}
            "http" => {
                return Err(format!(
                    "'{url}' must be an https:// URL (http:// is allowed only to hosts in VODPACK_SPEKE_ALLOW_HTTP_HOSTS)"
                ));
            }
            _ => return Err(format!("'{url}' must be an https:// URL")),
        }
        if !u.username().is_empty() || u.password().is_some() {
            return Err(format!(
                "'{}' must not carry credentials in the URL",
                u.host_str().unwrap_or("")
            ));
        }
        Ok(match u.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        })
    }
}

/// The content id SPEKE is asked for: the asset's `resourceId`, its id when absent.
pub fn content_id(asset: &AssetRecord) -> &str {
    asset
        .resource_id
        .as_deref()
        .filter(|r| !r.is_empty())
        .unwrap_or(&asset.id)
}

type Pair = (String, String);

/// Keys of asset × configuration pairs, fetched once (see the module doc).
pub struct Keys {
    repo: Arc<dyn Repository>,
    provider: Arc<dyn KeyProvider>,
    /// Keyed by the asset's and the configuration's egress ids: fixed at creation and never
    /// reused, so a deleted and re-created resource never sees old keys.
    cache: moka::future::Cache<Pair, Arc<KeySet>>,
    failures: moka::future::Cache<Pair, KeyError>,
}

/// How long a failure is answered from memory before the key server is asked again.
pub const DEFAULT_FAILURE_TTL: Duration = Duration::from_secs(5);

impl Keys {
    pub fn new(repo: Arc<dyn Repository>, provider: Arc<dyn KeyProvider>) -> Arc<Keys> {
        Self::with_failure_ttl(repo, provider, DEFAULT_FAILURE_TTL)
    }

    pub fn with_failure_ttl(
        repo: Arc<dyn Repository>,
        provider: Arc<dyn KeyProvider>,
        failure_ttl: Duration,
    ) -> Arc<Keys> {
        Arc::new(Keys {
            repo,
            provider,
            // Idle entries go (a deleted asset's keys do not stay in memory for long; the
            // repository row went with the asset).
            cache: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
            failures: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(failure_ttl)
                .build(),
        })
    }

    /// The keys of `asset` × `config`.
    pub async fn get(
        self: &Arc<Self>,
        asset: &AssetRecord,
        config: &ConfigRecord,
    ) -> Result<Arc<KeySet>, KeyError> {
        let pair = (asset.egress_id.clone(), config.egress_id.clone());
        if let Some(k) = self.cache.get(&pair).await {
            return Ok(k);
        }
        if let Some(e) = self.failures.get(&pair).await {
            return Err(e);
        }
        let this = self.clone();
        let (a, c) = (asset.clone(), config.clone());
        // One load per pair at a time: concurrent callers wait for it and share its result.
        match self
            .cache
            .try_get_with(pair.clone(), async move { this.load(&a, &c).await })
            .await
        {
            Ok(k) => Ok(k),
            Err(e) => {
                let e = (*e).clone();
                self.failures.insert(pair, e.clone()).await;
                Err(e)
            }
        }
    }

    /// Fetches the keys in the background (ingest completion); a failure is logged only.
    pub fn prefetch(self: &Arc<Self>, asset: AssetRecord, config: ConfigRecord) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.get(&asset, &config).await {
                tracing::warn!(
                    asset = %asset.id,
                    configuration = %config.id,
                    error = %e,
                    "cannot fetch content keys at ingest; egress will try again"
                );
            }
        });
    }

    async fn load(
        &self,
        asset: &AssetRecord,
        config: &ConfigRecord,
    ) -> Result<Arc<KeySet>, KeyError> {
        if let Some(stored) = self.repo.get_keys(&asset.id, &config.id).await? {
            match stored.to_key_set() {
                Ok(k) => return Ok(Arc::new(k)),
                Err(e) => {
                    // Not readable (another version): the set is fetched again, the
                    // stored row stays (first writer wins) and this node answers an error.
                    return Err(e.into());
                }
            }
        }
        let spec = config.package.spec();
        let req = KeyRequest {
            content_id: content_id(asset),
            config_id: &config.id,
            spec: &spec,
        };
        let fetched = self.provider.keys(&req).await?;
        let stored = self
            .repo
            .put_keys(&asset.id, &config.id, &StoredKeySet::from_key_set(&fetched))
            .await?;
        Ok(Arc::new(stored.to_key_set()?))
    }
}

#[cfg(test)]
mod tests;
