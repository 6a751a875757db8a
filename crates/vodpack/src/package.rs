//! `vodpack package SOURCE --config CONFIG.json --out DIR`: the egress engine offline. Indexes
//! the source like ingest does, then writes every manifest, init section and segment of every
//! manifest of the packaging configuration below DIR (`DIR/<manifestName>/…`), byte for byte
//! what the server would answer, ready to host statically or to diff.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use vodpack_service::egress::package::write_all;
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
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    limits: LimitArgs,
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
    let package = vodpack_service::api::validate::package(&req)
        .map_err(|e| anyhow::anyhow!("invalid packaging configuration: {}", e.message))?;
    let spec = package.spec();

    let (storage, obj) = open_source(&args.source, &args.storage, &args.region)?;
    let storage: Arc<dyn vodpack_service::storage::Storage> = Arc::from(storage);
    let index = match index_source(storage.as_ref(), &obj, &args.limits.limits()).await {
        Ok(i) => Arc::new(i),
        Err(e) => bail!("cannot index {}: {e}", args.source),
    };
    let started = std::time::Instant::now();
    let created_at = vodpack_service::api::now_rfc3339();
    let verbose = args.verbose;
    let written = write_all(
        storage,
        &obj.bucket,
        index,
        &spec,
        &created_at,
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
