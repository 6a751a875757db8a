//! `vodpack package SOURCE --config CONFIG.json --out DIR`: the egress engine offline. Indexes
//! the source like ingest does, then writes every manifest, init section and segment of every
//! manifest of the packaging configuration below DIR (`DIR/<manifestName>/…`), byte for byte
//! what the server would answer, ready to host statically or to diff.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use vodpack_service::egress::package::{Packaging, write_all};
use vodpack_service::ingest::source::index_source;
use vodpack_service::model::CreatePackagingConfigurationRequest;

use crate::inspect::open_source;
use crate::{LimitArgs, StorageArgs};

#[derive(Args)]
pub struct PackageArgs {
    /// A local file (MP4, SMIL or HLS parent playlist), `s3://bucket/key`, or an asset's
    /// `arn:aws:s3:::bucket/key` (resolved like the server does: local buckets under the data
    /// directory, or S3 when configured).
    source: String,
    /// A packaging configuration as JSON: the CreatePackagingConfiguration body or the output
    /// of `aws mediapackage-vod describe-packaging-configuration` (one of hlsPackage,
    /// cmafPackage, dashPackage, mssPackage). `-` reads standard input.
    #[arg(long)]
    config: PathBuf,
    /// Output folder (created; existing files are overwritten).
    #[arg(long)]
    out: PathBuf,
    /// Region S3 requests are signed for, unless --s3-region is given.
    #[arg(long, env = "VODPACK_REGION", default_value = "us-east-1")]
    region: String,
    /// Print each file written.
    #[arg(long, short)]
    verbose: bool,
    /// Fixed content keys for an encrypted configuration, `KID=KEY,...` (32 hex digits each,
    /// KIDs with or without dashes), instead of asking the configuration's SPEKE key server.
    #[arg(long)]
    keys: Option<String>,
    /// The content id sent to the SPEKE key server (the asset's `resourceId`, or its id when it
    /// has none): the same id and configuration id give the keys, and so the bytes, the server
    /// serves. Default: the source's file name without its extension.
    #[arg(long)]
    content_id: Option<String>,
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    speke: crate::SpekeArgs,
}

/// The API's member names for a configuration written either way: the request body (camelCase,
/// `hlsPackage`) or what the CLI and SDKs print (PascalCase, `HlsPackage`). Every JSON name of
/// the MediaPackage VOD model is its member name with the first letter lowercased. Tag keys are
/// the user's own and stay as they are; members that are not part of a request (`Arn`,
/// `CreatedAt`, ...) are ignored when deserializing.
fn api_names(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| {
                let mut chars = k.chars();
                let k = match chars.next() {
                    Some(first) => first.to_lowercase().chain(chars).collect(),
                    None => k,
                };
                let v = if k == "tags" { v } else { api_names(v) };
                (k, v)
            })
            .collect(),
        serde_json::Value::Array(items) => items.into_iter().map(api_names).collect(),
        other => other,
    }
}

pub async fn run(args: PackageArgs) -> anyhow::Result<()> {
    crate::init_logging("text");
    let text = if args.config.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read the configuration")?
    } else {
        std::fs::read_to_string(&args.config)
            .with_context(|| format!("cannot read {}", args.config.display()))?
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).context("the configuration is not valid JSON")?;
    let req: CreatePackagingConfigurationRequest = serde_json::from_value(api_names(json))
        .context("the configuration is not a packaging configuration")?;
    // Key server URLs: the same policy as the server's (http to --speke-allow-http-hosts).
    let policy = vodpack_service::keys::UrlPolicy::new(args.speke.speke_allow_http_hosts.clone());
    let package = vodpack_service::api::validate::package_with(&req, &policy)
        .map_err(|e| anyhow::anyhow!("invalid packaging configuration: {}", e.message))?;
    let spec = package.spec();

    let (storage, obj) = open_source(&args.source, &args.storage, &args.region)?;
    let storage: Arc<dyn vodpack_service::storage::Storage> = Arc::from(storage);
    let index = match index_source(storage.as_ref(), &obj, &args.limits.limits()).await {
        Ok(i) => Arc::new(i),
        Err(e) => bail!("cannot index {}: {e}", args.source),
    };
    let keys = match (spec.encrypted(), &args.keys) {
        (false, Some(_)) => bail!("--keys given, but the configuration has no encryption"),
        (false, None) => None,
        (true, keys) => {
            use vodpack_service::keys::{KeyProvider, KeyRequest, SpekeClient, StaticKeys};
            let provider: Box<dyn KeyProvider> = match keys {
                Some(list) => {
                    Box::new(StaticKeys::parse(list).map_err(|e| anyhow::anyhow!("--keys: {e}"))?)
                }
                None => Box::new(
                    SpekeClient::new(args.speke.settings(&args.region))
                        .map_err(|e| anyhow::anyhow!("key server settings: {e}"))?,
                ),
            };
            let content_id = args.content_id.clone().unwrap_or_else(|| {
                let name = obj.key.rsplit('/').next().unwrap_or(&obj.key);
                name.rsplit_once('.')
                    .map_or(name, |(stem, _)| stem)
                    .to_string()
            });
            let config_id = req.id.clone().unwrap_or_default();
            let set = provider
                .keys(&KeyRequest {
                    content_id: &content_id,
                    config_id: &config_id,
                    spec: &spec,
                })
                .await
                .map_err(|e| anyhow::anyhow!("cannot get the content keys: {e}"))?;
            Some(Arc::new(set))
        }
    };
    let started = std::time::Instant::now();
    let created_at = vodpack_service::api::now_rfc3339();
    let verbose = args.verbose;
    let written = write_all(
        Packaging {
            storage,
            bucket: &obj.bucket,
            index,
            spec: &spec,
            keys,
            created_at: &created_at,
        },
        &args.out,
        |f| {
            if verbose {
                println!("{f}");
            }
        },
    )
    .await?;
    println!(
        "wrote {} files, {} bytes, to {} in {:.2} s",
        written.files,
        written.bytes,
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::api_names;
    use serde_json::json;

    #[test]
    fn cli_output_names_become_api_names_but_tag_keys_do_not() {
        let cli = json!({
            "Arn": "arn:aws:mediapackage-vod:us-east-1:000000000000:packaging-configurations/c",
            "HlsPackage": {"HlsManifests": [{"ManifestName": "x", "StreamSelection": {"StreamOrder": "ORIGINAL"}}],
                           "SegmentDurationSeconds": 4},
            "Tags": {"Team": "Video"},
        });
        assert_eq!(
            api_names(cli),
            json!({
                "arn": "arn:aws:mediapackage-vod:us-east-1:000000000000:packaging-configurations/c",
                "hlsPackage": {"hlsManifests": [{"manifestName": "x", "streamSelection": {"streamOrder": "ORIGINAL"}}],
                               "segmentDurationSeconds": 4},
                "tags": {"Team": "Video"},
            })
        );
        let api = json!({"dashPackage": {"dashManifests": [{}]}, "tags": {"Team": "Video"}});
        assert_eq!(api_names(api.clone()), api);
    }
}
