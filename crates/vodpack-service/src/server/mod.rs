//! Start-up and shutdown of `vodpack serve`: open the data directory and the database, resolve
//! credentials, bind the listener, serve until told to stop. What is answered is
//! [`crate::http`]'s: its router, and [`crate::http::conn`] for each accepted connection.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

use crate::auth::sigv4::Verifier;
use crate::auth::{self, Credentials, CredentialsSource, SignatureCheck};
use crate::config::ServiceConfig;
use crate::egress::Egress;
use crate::http::conn;
use crate::ingest::{Ingest, IngestSettings};
use crate::repo::sqlite::SqliteRepository;
use crate::repo::{Quotas, Repository};
use crate::state::AppState;
use crate::storage::local::LocalStorage;
use crate::storage::s3::{S3Settings, S3Storage};
use crate::storage::{Bounded, Storage, Timeouts};

/// Where source objects are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageChoice {
    /// `<data dir>/buckets/<bucket>/<key>`.
    Local,
    S3(S3Settings),
}

/// Everything `serve` can be told.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Base of egress URLs; defaults to `http://<listen address>`.
    pub public_url: Option<String>,
    pub region: String,
    pub account_id: String,
    /// Configured key pair; when `None` the data directory's credentials file is used.
    pub credentials: Option<Credentials>,
    /// Session token clients must send (signed) in `X-Amz-Security-Token`; when `None`,
    /// requests carrying one are refused.
    pub security_token: Option<String>,
    /// Signature checking. Turning it off is refused unless the listener is on loopback.
    pub auth_enabled: bool,
    pub quotas: Quotas,
    pub max_body_bytes: usize,
    pub storage: StorageChoice,
    pub ingest: IngestSettings,
    /// Samples of decoded indexes kept in memory for egress (about 30 bytes each).
    pub index_cache_samples: u64,
    /// Where CDN authorization secrets are (default `<data dir>/cdn-secrets.json`).
    pub cdn_secrets_file: Option<PathBuf>,
    /// Connect and read timeouts of the store, and the egress read deadline.
    pub timeouts: Timeouts,
    /// How key servers are reached (timeouts, CA file, signing, http allow-list); its
    /// `region` is replaced by the server's.
    pub speke: crate::keys::SpekeSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database: {0}")]
    Database(#[from] crate::repo::RepoError),
    #[error(transparent)]
    Credentials(#[from] auth::CredentialsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "authentication can be turned off only on a loopback address; {0} is reachable from other hosts"
    )]
    UnauthenticatedRemote(SocketAddr),
    #[error("invalid setting: {0}")]
    Invalid(String),
    #[error("server failed: {0}")]
    Serve(std::io::Error),
}

/// What a started server tells its operator.
#[derive(Debug, Clone)]
pub struct StartInfo {
    pub local_addr: SocketAddr,
    pub endpoint_url: String,
    pub public_url: String,
    pub region: String,
    pub account_id: String,
    pub data_dir: PathBuf,
    /// Where sources are read from.
    pub storage: String,
    /// `None` when authentication is off.
    pub credentials: Option<(Credentials, CredentialsSource)>,
}

/// A bound, ready server.
pub struct Server {
    listener: TcpListener,
    app: Router,
    info: StartInfo,
}

fn check_account(id: &str) -> Result<(), StartError> {
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(StartError::Invalid(format!(
            "the account id '{id}' must be 12 digits"
        )))
    }
}

fn check_region(r: &str) -> Result<(), StartError> {
    let ok = !r.is_empty()
        && r.len() <= 64
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(StartError::Invalid(format!(
            "the region '{r}' must be lowercase letters, digits and '-'"
        )))
    }
}

impl Server {
    /// Prepares the data directory and database, then binds the listener.
    pub async fn bind(opts: ServeOptions) -> Result<Server, StartError> {
        check_account(&opts.account_id)?;
        check_region(&opts.region)?;
        if !opts.auth_enabled && !opts.listen.ip().is_loopback() {
            return Err(StartError::UnauthenticatedRemote(opts.listen));
        }
        std::fs::create_dir_all(&opts.data_dir).map_err(|source| StartError::DataDir {
            path: opts.data_dir.clone(),
            source,
        })?;
        let repo: Arc<dyn Repository> =
            Arc::new(SqliteRepository::open(&opts.data_dir.join("vodpack.sqlite3")).await?);
        let storage: Arc<dyn Storage> = match &opts.storage {
            StorageChoice::Local => {
                let root = opts.data_dir.join("buckets");
                Arc::new(
                    LocalStorage::new(&root).map_err(|source| StartError::DataDir {
                        path: root.clone(),
                        source,
                    })?,
                )
            }
            StorageChoice::S3(s) => Arc::new(S3Storage::new(s.clone(), opts.timeouts)),
        };
        let credentials = if !opts.auth_enabled {
            None
        } else if let Some(c) = opts.credentials.clone() {
            Some((c, CredentialsSource::Configured))
        } else {
            Some(auth::load_or_generate(&opts.data_dir)?)
        };
        let listener = TcpListener::bind(opts.listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: opts.listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: opts.listen,
            source,
        })?;
        let endpoint_url = format!("http://{local_addr}");
        let public_url = opts
            .public_url
            .clone()
            .unwrap_or_else(|| endpoint_url.clone())
            .trim_end_matches('/')
            .to_string();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(StartError::Invalid(format!(
                "the public URL '{public_url}' must start with http:// or https://"
            )));
        }
        let config = ServiceConfig {
            public_url: public_url.clone(),
            region: opts.region.clone(),
            account_id: opts.account_id.clone(),
            quotas: opts.quotas,
            max_body_bytes: opts.max_body_bytes,
            speke_url_policy: crate::keys::UrlPolicy::new(opts.speke.allow_http_hosts.clone()),
        };
        let verifier = credentials.as_ref().map(|(c, _)| {
            Arc::new(Verifier {
                access_key_id: c.access_key_id.clone(),
                secret_access_key: c.secret_access_key.clone(),
                region: opts.region.clone(),
                service: "mediapackage-vod".to_string(),
                security_token: opts.security_token.clone(),
            })
        });
        let config = Arc::new(config);
        let ingest = Ingest::new(
            repo.clone(),
            storage.clone(),
            config.clone(),
            opts.ingest.clone(),
        );
        let speke = crate::keys::SpekeClient::new(crate::keys::SpekeSettings {
            region: opts.region.clone(),
            ..opts.speke.clone()
        })
        .map_err(|e| StartError::Invalid(e.to_string()))?;
        // Content keys, once per asset × configuration; fetched at ingest completion here,
        // and by egress on first use.
        let keys = crate::keys::Keys::new(repo.clone(), Arc::new(speke));
        ingest.set_keys(keys.clone());
        ingest.start().await?;
        let cdn_file = opts
            .cdn_secrets_file
            .clone()
            .unwrap_or_else(|| opts.data_dir.join("cdn-secrets.json"));
        let egress = Arc::new(Egress::new(
            repo.clone(),
            // Every egress read runs under the deadline: a silent store costs a request
            // seconds (503 + Retry-After), not minutes.
            Arc::new(Bounded::new(storage.clone(), opts.timeouts.egress)),
            ingest.clone(),
            keys.clone(),
            opts.index_cache_samples,
            crate::egress::cdn_auth::CdnSecrets::new(cdn_file),
        ));
        let state = AppState {
            repo,
            signature: SignatureCheck {
                verifier,
                max_body_bytes: config.max_body_bytes,
            },
            config,
            ingest,
            egress,
        };
        let app = crate::http::router(state);
        Ok(Server {
            listener,
            app,
            info: StartInfo {
                local_addr,
                endpoint_url,
                public_url,
                region: opts.region,
                account_id: opts.account_id,
                data_dir: opts.data_dir,
                storage: storage.describe(),
                credentials,
            },
        })
    }

    pub fn info(&self) -> &StartInfo {
        &self.info
    }

    /// Serves until `shutdown` resolves, then lets requests in flight finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        // Resolves once every connection task has dropped its clone.
        let (done_tx, done_rx) = tokio::sync::watch::channel(());
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                _ = &mut shutdown => break,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of descriptors and the like: wait rather than spin.
                    tracing::error!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
            };
            // No Nagle: a response goes out as a header and then file or buffer pieces, and
            // delaying a small write behind the peer's delayed ACK costs tens of milliseconds.
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
            let (app, stop, done) = (self.app.clone(), stop_rx.clone(), done_rx.clone());
            tokio::spawn(async move {
                conn::serve(stream, app, stop).await;
                drop(done);
            });
        }
        drop(self.listener);
        let _ = stop_tx.send(true);
        drop(done_rx);
        done_tx.closed().await;
        Ok(())
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
