//! The `vodpack` command: configuration, logging and the subcommands. Everything it does is in
//! the library crates; this file turns flags and environment variables into their options.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use vodpack_service::ingest::IngestSettings;
use vodpack_service::storage::s3::{S3Credentials, S3Settings};
use vodpack_service::{
    Credentials, CredentialsSource, Quotas, ServeOptions, Server, StorageChoice,
};

mod inspect;
mod package;

#[derive(Parser)]
#[command(
    name = "vodpack",
    version,
    about = "Self-hosted video-on-demand packaging, speaking the AWS Elemental MediaPackage VOD API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
// Parsed once at start-up; boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Run the service: the MediaPackage VOD API and egress on one listener.
    Serve(ServeArgs),
    /// Show what ingest would make of a source: tracks, codecs, GOPs, segment boundaries, warnings.
    Inspect(inspect::InspectArgs),
    /// Write every manifest and segment of a source × packaging configuration to a folder.
    Package(package::PackageArgs),
}

/// Where sources are read from (shared by `serve`, `inspect` and `package`, so the same
/// `arn:aws:s3:::BUCKET/KEY` names the same object everywhere).
#[derive(Args, Clone)]
pub struct StorageArgs {
    /// Directory for the database, credentials and local buckets (`buckets/BUCKET/KEY`); `serve`
    /// creates it if missing [default: $XDG_DATA_HOME/vodpack, else ~/.local/share/vodpack].
    #[arg(long, env = "VODPACK_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// `local` (folders under <data dir>/buckets) or `s3` (AWS S3, or the server of --s3-endpoint).
    #[arg(long, env = "VODPACK_STORAGE", value_parser = ["local", "s3"])]
    storage: Option<String>,
    /// S3-compatible server, e.g. http://127.0.0.1:9000 (implies --storage s3).
    #[arg(long, env = "VODPACK_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    /// Path-style S3 addressing (endpoint/bucket/key), as most S3-compatible servers want.
    #[arg(long, env = "VODPACK_S3_PATH_STYLE", default_value_t = false)]
    s3_path_style: bool,
    /// Region of the source buckets [default: --region].
    #[arg(long, env = "VODPACK_S3_REGION")]
    s3_region: Option<String>,
    /// Access key id sources are read with (not AWS_ACCESS_KEY_ID: that one is the clients').
    #[arg(
        long,
        env = "VODPACK_S3_ACCESS_KEY_ID",
        requires = "s3_secret_access_key",
        conflicts_with = "s3_profile"
    )]
    s3_access_key_id: Option<String>,
    /// Secret access key sources are read with.
    #[arg(
        long,
        env = "VODPACK_S3_SECRET_ACCESS_KEY",
        requires = "s3_access_key_id",
        hide_env_values = true
    )]
    s3_secret_access_key: Option<String>,
    /// Session token of temporary source credentials.
    #[arg(
        long,
        env = "VODPACK_S3_SESSION_TOKEN",
        requires = "s3_access_key_id",
        hide_env_values = true
    )]
    s3_session_token: Option<String>,
    /// Profile of ~/.aws/credentials to read sources with, instead of a key pair.
    #[arg(long, env = "VODPACK_S3_PROFILE")]
    s3_profile: Option<String>,
}

impl StorageArgs {
    /// The data directory: as configured, else the per-user default.
    pub fn data_dir(&self) -> anyhow::Result<PathBuf> {
        match &self.data_dir {
            Some(d) => Ok(d.clone()),
            None => default_data_dir(),
        }
    }

    pub fn choice(&self, region: &str) -> anyhow::Result<StorageChoice> {
        let s3 = self.storage.as_deref() == Some("s3")
            || (self.storage.is_none() && self.s3_endpoint.is_some());
        if s3 {
            Ok(StorageChoice::S3(self.s3_settings(region)?))
        } else {
            Ok(StorageChoice::Local)
        }
    }

    /// How S3 is reached (whether or not it is the configured storage).
    pub fn s3_settings(&self, region: &str) -> anyhow::Result<S3Settings> {
        let credentials = match (&self.s3_access_key_id, &self.s3_secret_access_key) {
            (Some(id), Some(secret)) => Some(S3Credentials {
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
                session_token: self.s3_session_token.clone(),
            }),
            _ => match &self.s3_profile {
                Some(profile) => Some(profile_credentials(profile)?),
                None => None,
            },
        };
        Ok(S3Settings {
            endpoint: self.s3_endpoint.clone(),
            path_style: self.s3_path_style,
            default_region: self.s3_region.clone().unwrap_or_else(|| region.to_string()),
            credentials,
        })
    }
}

/// The per-user data directory: `$XDG_DATA_HOME/vodpack`, else `~/.local/share/vodpack` (a
/// fixed place, so `serve`, `inspect` and `package` find the same buckets from any folder).
fn default_data_dir() -> anyhow::Result<PathBuf> {
    // The XDG base directory spec says relative values are to be ignored.
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|x| Path::new(x).is_absolute()) {
        return Ok(PathBuf::from(xdg).join("vodpack"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("no data directory: neither XDG_DATA_HOME nor HOME is set; use --data-dir or VODPACK_DATA_DIR")?;
    Ok(PathBuf::from(home).join(".local/share/vodpack"))
}

/// The key pair of `profile` in the shared credentials file (`~/.aws/credentials`).
fn profile_credentials(profile: &str) -> anyhow::Result<S3Credentials> {
    let home = std::env::var_os("HOME").context("VODPACK_S3_PROFILE: HOME is not set")?;
    let path = PathBuf::from(home).join(".aws/credentials");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("VODPACK_S3_PROFILE: cannot read {}", path.display()))?;
    parse_profile(&text, profile).with_context(|| {
        format!(
            "VODPACK_S3_PROFILE: no aws_access_key_id and aws_secret_access_key for profile [{profile}] in {}",
            path.display()
        )
    })
}

/// Reads one profile of an INI credentials file (`[name]`, `key = value`, `#`/`;` comments).
fn parse_profile(text: &str, profile: &str) -> Option<S3Credentials> {
    let mut inside = false;
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == profile;
            continue;
        }
        if !inside {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = Some(v.trim().to_string());
            match k.trim().to_ascii_lowercase().as_str() {
                "aws_access_key_id" => id = v,
                "aws_secret_access_key" => secret = v,
                "aws_session_token" => token = v,
                _ => {}
            }
        }
    }
    Some(S3Credentials {
        access_key_id: id?,
        secret_access_key: secret?,
        session_token: token,
    })
}

/// `s` as one shell word (printed commands are meant to be pasted).
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=,@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Ingest caps (shared by `serve` and `inspect`).
#[derive(Args, Clone)]
pub struct LimitArgs {
    /// Largest MP4 `moov` box read, in bytes.
    #[arg(long, env = "VODPACK_MAX_MOOV_BYTES", default_value_t = vodpack_media::source::mp4::Limits::default().max_moov_bytes)]
    max_moov_bytes: u64,
    /// Most samples in one track.
    #[arg(long, env = "VODPACK_MAX_SAMPLES_PER_TRACK", default_value_t = vodpack_media::source::mp4::Limits::default().max_samples_per_track)]
    max_samples_per_track: u64,
}

impl LimitArgs {
    pub fn limits(&self) -> vodpack_media::source::mp4::Limits {
        vodpack_media::source::mp4::Limits {
            max_moov_bytes: self.max_moov_bytes,
            max_samples_per_track: self.max_samples_per_track,
            ..Default::default()
        }
    }
}

/// A positive number of seconds (fractions allowed).
fn seconds(s: &str) -> Result<std::time::Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(v.is_finite() && v > 0.0 && v <= 86_400.0 * 7.0) {
        return Err(format!(
            "'{s}' must be more than 0 and at most a week of seconds"
        ));
    }
    Ok(std::time::Duration::from_secs_f64(v))
}

/// How long storage may take, on the egress path and in ingest.
#[derive(Args, Clone)]
pub struct DeadlineArgs {
    /// Seconds to connect to the S3 store, per attempt.
    #[arg(long, env = "VODPACK_STORAGE_CONNECT_TIMEOUT", default_value = "2", value_parser = seconds)]
    storage_connect_timeout: std::time::Duration,
    /// Longest silence, in seconds, while waiting for or reading an S3 response, per attempt.
    #[arg(long, env = "VODPACK_STORAGE_READ_TIMEOUT", default_value = "3", value_parser = seconds)]
    storage_read_timeout: std::time::Duration,
    /// Retries of a failed S3 request (within the deadlines).
    #[arg(long, env = "VODPACK_STORAGE_RETRIES", default_value_t = 2)]
    storage_retries: usize,
    /// Seconds an egress request may spend reading the store before it answers 503 with
    /// Retry-After.
    #[arg(long, env = "VODPACK_EGRESS_READ_DEADLINE", default_value = "5", value_parser = seconds)]
    egress_read_deadline: std::time::Duration,
    /// Seconds one read of an ingest may take.
    #[arg(long, env = "VODPACK_INGEST_READ_TIMEOUT", default_value = "30", value_parser = seconds)]
    ingest_read_timeout: std::time::Duration,
    /// Seconds one whole ingest may take.
    #[arg(long, env = "VODPACK_INGEST_DEADLINE", default_value = "3600", value_parser = seconds)]
    ingest_deadline: std::time::Duration,
    /// Times an ingest that failed because the store timed out or failed is tried again.
    #[arg(long, env = "VODPACK_INGEST_RETRIES", default_value_t = 5)]
    ingest_retries: u32,
    /// Seconds before the first retry of such an ingest (doubled for each later one).
    #[arg(long, env = "VODPACK_INGEST_RETRY_DELAY", default_value = "30", value_parser = seconds)]
    ingest_retry_delay: std::time::Duration,
}

impl DeadlineArgs {
    pub fn timeouts(&self) -> vodpack_service::storage::Timeouts {
        vodpack_service::storage::Timeouts {
            connect: self.storage_connect_timeout,
            read: self.storage_read_timeout,
            retries: self.storage_retries,
            egress: self.egress_read_deadline,
        }
    }
}

#[derive(Args)]
struct ServeArgs {
    /// Address and port to listen on (port 0 picks a free one).
    #[arg(long, env = "VODPACK_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Base URL of egress endpoints as clients reach it [default: http://<listen address>].
    #[arg(long, env = "VODPACK_PUBLIC_URL")]
    public_url: Option<String>,
    /// Region this endpoint serves; requests must be signed for it.
    #[arg(long, env = "VODPACK_REGION", default_value = "us-east-1")]
    region: String,
    /// 12-digit account id used in ARNs.
    #[arg(long, env = "VODPACK_ACCOUNT_ID", default_value = "000000000000")]
    account_id: String,
    /// Access key id clients sign with [default: from <data dir>/credentials, generated on first start].
    #[arg(long, env = "VODPACK_ACCESS_KEY_ID", requires = "secret_access_key")]
    access_key_id: Option<String>,
    /// Secret access key clients sign with.
    #[arg(
        long,
        env = "VODPACK_SECRET_ACCESS_KEY",
        requires = "access_key_id",
        hide_env_values = true
    )]
    secret_access_key: Option<String>,
    /// Session token clients must send (signed) as X-Amz-Security-Token [default: none; a
    /// request carrying a token is refused].
    #[arg(long, env = "VODPACK_SECURITY_TOKEN", hide_env_values = true)]
    security_token: Option<String>,
    /// Accept unsigned API requests. Refused unless listening on a loopback address.
    #[arg(long, env = "VODPACK_INSECURE_NO_AUTH", default_value_t = false)]
    insecure_no_auth: bool,
    /// Most packaging groups (AWS default 10).
    #[arg(long, env = "VODPACK_MAX_PACKAGING_GROUPS", default_value_t = Quotas::default().packaging_groups)]
    max_packaging_groups: u32,
    /// Most packaging configurations per group (AWS default 10).
    #[arg(long, env = "VODPACK_MAX_CONFIGURATIONS_PER_GROUP", default_value_t = Quotas::default().configurations_per_group)]
    max_configurations_per_group: u32,
    /// Most assets per group (AWS default 10000).
    #[arg(long, env = "VODPACK_MAX_ASSETS_PER_GROUP", default_value_t = Quotas::default().assets_per_group)]
    max_assets_per_group: u32,
    /// Largest accepted API request body, in bytes.
    #[arg(long, env = "VODPACK_MAX_BODY_BYTES", default_value_t = vodpack_service::config::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Log format.
    #[arg(long, env = "VODPACK_LOG_FORMAT", value_parser = ["text", "json"], default_value = "text")]
    log_format: String,
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    limits: LimitArgs,
    /// Assets ingested at the same time; 0 leaves ingest to other nodes.
    #[arg(long, env = "VODPACK_INGEST_CONCURRENCY", default_value_t = 2)]
    ingest_concurrency: usize,
    /// JSON file mapping CDN authorization secret ARNs to accepted values, current first
    /// [default: <data dir>/cdn-secrets.json].
    #[arg(long, env = "VODPACK_CDN_SECRETS_FILE")]
    cdn_secrets_file: Option<PathBuf>,
    /// Samples of decoded asset indexes kept in memory for egress (about 30 bytes each).
    #[arg(
        long,
        env = "VODPACK_INDEX_CACHE_SAMPLES",
        default_value_t = 10_000_000
    )]
    index_cache_samples: u64,
    /// URL that receives every ingest event (IngestStart, IngestComplete, IngestError,
    /// VodAssetPlayable, SourceChanged) as a JSON POST, with retries.
    #[arg(long, env = "VODPACK_EVENTS_WEBHOOK")]
    events_webhook: Option<String>,
    #[command(flatten)]
    deadlines: DeadlineArgs,
    #[command(flatten)]
    speke: SpekeArgs,
}

/// How key servers (SPEKE) are reached.
#[derive(Args, Clone)]
pub struct SpekeArgs {
    /// Seconds to connect to a key server, per attempt.
    #[arg(long, env = "VODPACK_SPEKE_CONNECT_TIMEOUT", default_value = "5", value_parser = seconds)]
    speke_connect_timeout: std::time::Duration,
    /// Seconds one key request may take, the answer included, per attempt.
    #[arg(long, env = "VODPACK_SPEKE_TIMEOUT", default_value = "10", value_parser = seconds)]
    speke_timeout: std::time::Duration,
    /// Tries per key request (connect errors, timeouts and 5xx are tried again; 4xx never).
    #[arg(long, env = "VODPACK_SPEKE_ATTEMPTS", default_value_t = 3)]
    speke_attempts: u32,
    /// PEM file of CA certificates trusted for key servers, besides the system roots.
    #[arg(long, env = "VODPACK_SPEKE_CA_FILE")]
    speke_ca_file: Option<PathBuf>,
    /// Access key id to sign key requests with (SigV4, service execute-api, our region).
    #[arg(
        long,
        env = "VODPACK_SPEKE_ACCESS_KEY_ID",
        requires = "speke_secret_access_key"
    )]
    speke_access_key_id: Option<String>,
    /// Secret access key to sign key requests with.
    #[arg(
        long,
        env = "VODPACK_SPEKE_SECRET_ACCESS_KEY",
        requires = "speke_access_key_id",
        hide_env_values = true
    )]
    speke_secret_access_key: Option<String>,
    /// File of `Name: value` lines sent as headers with every key request (a secret).
    #[arg(long, env = "VODPACK_SPEKE_HEADER_FILE")]
    speke_header_file: Option<PathBuf>,
    /// Comma list of hosts key server URLs may reach over plain http (e.g. 127.0.0.1,localhost);
    /// any other key server URL must be https.
    #[arg(long, env = "VODPACK_SPEKE_ALLOW_HTTP_HOSTS", value_delimiter = ',')]
    speke_allow_http_hosts: Vec<String>,
}

impl SpekeArgs {
    pub fn settings(&self, region: &str) -> vodpack_service::keys::SpekeSettings {
        vodpack_service::keys::SpekeSettings {
            connect_timeout: self.speke_connect_timeout,
            timeout: self.speke_timeout,
            attempts: self.speke_attempts.max(1),
            ca_file: self.speke_ca_file.clone(),
            access_key_id: self.speke_access_key_id.clone(),
            secret_access_key: self.speke_secret_access_key.clone(),
            region: region.to_string(),
            header_file: self.speke_header_file.clone(),
            allow_http_hosts: self.speke_allow_http_hosts.clone(),
            ..Default::default()
        }
    }
}

pub fn init_logging(format: &str) {
    // mp4-atom warns about every box it does not model (sdtp, …); those are not our warnings.
    let mut filter =
        EnvFilter::try_from_env("VODPACK_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    if let Ok(quiet) = "mp4_atom=error".parse() {
        filter = filter.add_directive(quiet);
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(&args.log_format);
    let credentials = match (args.access_key_id, args.secret_access_key) {
        (Some(id), Some(secret)) => Some(Credentials {
            access_key_id: id,
            secret_access_key: secret,
        }),
        _ => None,
    };
    if args.insecure_no_auth {
        tracing::warn!(
            "API authentication is OFF (--insecure-no-auth): any local process can change this server"
        );
    }
    let storage = args.storage.choice(&args.region)?;
    let data_dir = args.storage.data_dir()?;
    // Earlier versions defaulted to ./vodpack-data: say so rather than look empty.
    let old_default = (args.storage.data_dir.is_none()
        && Path::new("vodpack-data/vodpack.sqlite3").is_file())
    .then(|| std::fs::canonicalize("vodpack-data").unwrap_or_else(|_| "vodpack-data".into()));
    let speke = args.speke.settings(&args.region);
    let opts = ServeOptions {
        listen: args.listen,
        data_dir,
        public_url: args.public_url,
        region: args.region,
        account_id: args.account_id,
        credentials,
        security_token: args.security_token.filter(|t| !t.is_empty()),
        auth_enabled: !args.insecure_no_auth,
        quotas: Quotas {
            packaging_groups: args.max_packaging_groups,
            configurations_per_group: args.max_configurations_per_group,
            assets_per_group: args.max_assets_per_group,
        },
        max_body_bytes: args.max_body_bytes,
        storage,
        ingest: IngestSettings {
            concurrency: args.ingest_concurrency,
            limits: args.limits.limits(),
            webhook: args.events_webhook,
            deadline: args.deadlines.ingest_deadline,
            read_timeout: args.deadlines.ingest_read_timeout,
            retries: args.deadlines.ingest_retries,
            retry_delay: args.deadlines.ingest_retry_delay,
        },
        index_cache_samples: args.index_cache_samples,
        cdn_secrets_file: args.cdn_secrets_file,
        timeouts: args.deadlines.timeouts(),
        speke,
    };
    let server = Server::bind(opts)
        .await
        .context("vodpack could not start")?;
    let info = server.info();
    let data_dir = std::fs::canonicalize(&info.data_dir).unwrap_or_else(|_| info.data_dir.clone());
    println!(
        "vodpack {} is serving the MediaPackage VOD API",
        env!("CARGO_PKG_VERSION")
    );
    println!("  endpoint:   {}", info.endpoint_url);
    println!("  egress:     {}/out/v1/...", info.public_url);
    println!("  region:     {}", info.region);
    println!("  account:    {}", info.account_id);
    println!("  data dir:   {}", data_dir.display());
    if let Some(old) = old_default {
        println!(
            "  note:       {} (the default data dir of earlier versions) is not used; pass --data-dir {} to keep serving it",
            old.display(),
            shell_word(&old.display().to_string())
        );
    }
    println!("  sources:    {}", info.storage);
    match &info.credentials {
        None => println!("  auth:       OFF (unsigned requests accepted)"),
        Some((c, source)) => match source {
            CredentialsSource::Configured => {
                println!(
                    "  access key: {} (secret from VODPACK_SECRET_ACCESS_KEY / --secret-access-key)",
                    c.access_key_id
                )
            }
            CredentialsSource::File(p) | CredentialsSource::Generated(p) => {
                let p = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
                let state = if matches!(source, CredentialsSource::Generated(_)) {
                    "generated"
                } else {
                    "read"
                };
                println!(
                    "  access key: {} ({state}: {})",
                    c.access_key_id,
                    p.display()
                );
                println!("Try it:");
                println!(
                    "  AWS_SHARED_CREDENTIALS_FILE={} AWS_DEFAULT_REGION={} aws mediapackage-vod list-packaging-groups --endpoint-url {}",
                    shell_word(&p.display().to_string()),
                    info.region,
                    info.endpoint_url
                );
            }
        },
    }
    // Tests and scripts wait for this line; keep its shape.
    println!("listening on {}", info.endpoint_url);
    tracing::info!(addr = %info.local_addr, "listening");
    server
        .run(shutdown_signal())
        .await
        .context("vodpack stopped with an error")?;
    tracing::info!("stopped");
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| match cli.command {
            Command::Serve(args) => runtime.block_on(serve(args)),
            Command::Inspect(args) => runtime.block_on(inspect::run(args)),
            Command::Package(args) => runtime.block_on(package::run(args)),
        });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vodpack: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_profile, shell_word};

    #[test]
    fn profiles_are_read_from_their_own_section_only() {
        let file = "[default]\naws_access_key_id = DEF\naws_secret_access_key = defsecret\n\
                    # comment\n[ sources ]\n; another\naws_access_key_id=SRC\n\
                    aws_secret_access_key = src/secret=\naws_session_token = tok\n[half]\n\
                    aws_access_key_id = ONLY\n";
        let c = parse_profile(file, "sources").unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.secret_access_key.as_str()),
            ("SRC", "src/secret=")
        );
        assert_eq!(c.session_token.as_deref(), Some("tok"));
        assert_eq!(parse_profile(file, "default").unwrap().access_key_id, "DEF");
        assert!(parse_profile(file, "half").is_none(), "no secret");
        assert!(parse_profile(file, "missing").is_none());
    }

    #[test]
    fn printed_paths_are_one_shell_word() {
        assert_eq!(
            shell_word("/home/me/.local/share/vodpack/credentials"),
            "/home/me/.local/share/vodpack/credentials"
        );
        assert_eq!(shell_word("/home/my files/x"), "'/home/my files/x'");
        assert_eq!(shell_word("/it's"), "'/it'\\''s'");
    }
}
