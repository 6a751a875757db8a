//! Names the service hands out: ARNs, egress URLs and the ids inside them.
//!
//! Egress URLs have the shape AWS returns,
//! `<public base>/out/v1/<asset egress id>/<configuration egress id>/<manifest id>/<name><suffix>`.
//! The asset and configuration egress ids are random 32-hex values fixed when the resource is
//! created (so a re-created asset with an old id never reuses old URLs, which CDNs may still
//! cache); the manifest id is derived from the configuration's egress id and the manifest's
//! position, so it needs no storage and never changes.

use sha2::{Digest, Sha256};

use crate::model::PackageKind;
use crate::repo::{ConfigRecord, ResourceKind};

fn arn_type(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::PackagingGroup => "packaging-groups",
        ResourceKind::PackagingConfiguration => "packaging-configurations",
        ResourceKind::Asset => "assets",
    }
}

/// `arn:aws:mediapackage-vod:{region}:{account}:{type}/{id}`.
pub fn arn(region: &str, account: &str, kind: ResourceKind, id: &str) -> String {
    format!(
        "arn:aws:mediapackage-vod:{region}:{account}:{}/{id}",
        arn_type(kind)
    )
}

/// Why an ARN given to the tag operations names nothing here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArnProblem {
    /// Not a MediaPackage VOD resource ARN at all.
    Malformed,
    /// Well formed, but for another region or account: no such resource on this server.
    Elsewhere,
}

/// Parses a resource ARN of this service, region and account.
pub fn parse_arn(
    value: &str,
    region: &str,
    account: &str,
) -> Result<(ResourceKind, String), ArnProblem> {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let [
        "arn",
        partition,
        "mediapackage-vod",
        arn_region,
        arn_account,
        resource,
    ] = parts.as_slice()
    else {
        return Err(ArnProblem::Malformed);
    };
    if !partition.starts_with("aws") {
        return Err(ArnProblem::Malformed);
    }
    let (ty, id) = resource.split_once('/').ok_or(ArnProblem::Malformed)?;
    let kind = match ty {
        "packaging-groups" => ResourceKind::PackagingGroup,
        "packaging-configurations" => ResourceKind::PackagingConfiguration,
        "assets" => ResourceKind::Asset,
        _ => return Err(ArnProblem::Malformed),
    };
    if id.is_empty() {
        return Err(ArnProblem::Malformed);
    }
    if *arn_region != region || *arn_account != account {
        return Err(ArnProblem::Elsewhere);
    }
    Ok((kind, id.to_string()))
}

/// A fresh random egress id (32 lowercase hex characters).
pub fn new_egress_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The id of the `index`-th manifest of a configuration in egress URLs.
pub fn manifest_id(config_egress_id: &str, index: usize) -> String {
    let digest = Sha256::digest(format!("vodpack-manifest/{config_egress_id}/{index}").as_bytes());
    hex::encode(&digest[..16])
}

/// URL of the `index`-th manifest of `config` for an asset.
pub fn manifest_url(
    public_url: &str,
    asset_egress_id: &str,
    config: &ConfigRecord,
    index: usize,
    name: &str,
) -> String {
    let suffix = PackageKind::manifest_suffix(config.package.kind());
    format!(
        "{public_url}/out/v1/{asset_egress_id}/{}/{}/{name}{suffix}",
        config.egress_id,
        manifest_id(&config.egress_id, index)
    )
}

/// The URL MediaPackage reports as an asset's egress endpoint for a configuration: its first
/// manifest.
pub fn egress_endpoint_url(
    public_url: &str,
    asset_egress_id: &str,
    config: &ConfigRecord,
) -> String {
    let names = config.package.manifest_names();
    let name = names
        .first()
        .map(String::as_str)
        .unwrap_or(crate::model::DEFAULT_MANIFEST_NAME);
    manifest_url(public_url, asset_egress_id, config, 0, name)
}

/// A 12-digit AWS account id.
pub fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// An AWS partition name (`aws`, `aws-cn`, …).
pub fn is_partition(s: &str) -> bool {
    s == "aws"
        || s.starts_with("aws-") && s[4..].bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_round_trip() {
        let a = arn("us-east-1", "000000000000", ResourceKind::Asset, "a_1");
        assert_eq!(
            a,
            "arn:aws:mediapackage-vod:us-east-1:000000000000:assets/a_1"
        );
        assert_eq!(
            parse_arn(&a, "us-east-1", "000000000000"),
            Ok((ResourceKind::Asset, "a_1".to_string()))
        );
        assert_eq!(
            parse_arn(&a, "eu-west-1", "000000000000"),
            Err(ArnProblem::Elsewhere)
        );
        assert_eq!(
            parse_arn("arn:aws:s3:::b/k", "us-east-1", "000000000000"),
            Err(ArnProblem::Malformed)
        );
        assert_eq!(
            parse_arn(
                "arn:aws:mediapackage-vod:us-east-1:000000000000:channels/x",
                "us-east-1",
                "000000000000"
            ),
            Err(ArnProblem::Malformed)
        );
    }

    #[test]
    fn manifest_ids_are_stable_and_distinct() {
        let a = manifest_id("0123456789abcdef0123456789abcdef", 0);
        assert_eq!(a, manifest_id("0123456789abcdef0123456789abcdef", 0));
        assert_ne!(a, manifest_id("0123456789abcdef0123456789abcdef", 1));
        assert_eq!(a.len(), 32);
    }
}
