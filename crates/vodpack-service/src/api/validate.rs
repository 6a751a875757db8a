//! Validation of request members beyond what the JSON types enforce.
//!
//! The model carries almost no constraints (only `maxResults` has bounds); the rules here come
//! from the AWS user guide and CloudFormation schemas cited in `API-CONTRACT.md` §6. Every
//! failure is a 422 whose message names the member by its wire path.
//!
//! A validated package is used below the API as the media crate's `PackageSpec`, every default
//! applied ([`Package::spec`]): the packagers read that, never the wire `Option`s.

use crate::error::{ApiError, ApiResult};
use crate::model::*;
use crate::resources::{is_account, is_partition};

/// Largest number of tags on one resource.
pub const MAX_TAGS: usize = 50;
const MAX_TAG_KEY_CHARS: usize = 128;
const MAX_TAG_VALUE_CHARS: usize = 256;
/// Longest segment duration we accept, in seconds.
pub const MAX_SEGMENT_DURATION_SECONDS: i32 = 60;

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::unprocessable(msg)
}

/// Returns the value of a required member or a 422 naming it.
pub fn required<'a, T>(value: &'a Option<T>, path: &str) -> ApiResult<&'a T> {
    value
        .as_ref()
        .ok_or_else(|| bad(format!("{path} is required")))
}

/// Resource ids: letters, digits, `-` and `_`, 1 to 256 characters.
pub fn resource_id(value: &Option<String>, path: &str) -> ApiResult<String> {
    let id = required(value, path)?;
    check_id(id, path)?;
    Ok(id.clone())
}

pub fn check_id(id: &str, path: &str) -> ApiResult<()> {
    if id.is_empty() || id.len() > 256 {
        return Err(bad(format!("{path} must be 1 to 256 characters long")));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(bad(format!(
            "{path} '{id}' may contain only letters, digits, '-' and '_'"
        )));
    }
    Ok(())
}

fn tag_chars_ok(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_alphanumeric()
            || c.is_whitespace()
            || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
    })
}

/// Checks one tag key (also used for the keys of UntagResource).
pub fn tag_key(key: &str) -> ApiResult<()> {
    let n = key.chars().count();
    if n == 0 || n > MAX_TAG_KEY_CHARS {
        return Err(bad(format!(
            "tag key '{key}' must be 1 to {MAX_TAG_KEY_CHARS} characters long"
        )));
    }
    if !tag_chars_ok(key) {
        return Err(bad(format!(
            "tag key '{key}' may contain only letters, digits, spaces and _ . : / = + - @"
        )));
    }
    if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
        return Err(bad(format!(
            "tag key '{key}': the 'aws:' prefix is reserved"
        )));
    }
    Ok(())
}

/// Checks a tag map as given on create or TagResource (the count is checked again after merge).
pub fn tags(tags: &Tags) -> ApiResult<()> {
    if tags.len() > MAX_TAGS {
        return Err(bad(format!(
            "a resource can have at most {MAX_TAGS} tags; {} were given",
            tags.len()
        )));
    }
    for (k, v) in tags {
        tag_key(k)?;
        if v.chars().count() > MAX_TAG_VALUE_CHARS {
            return Err(bad(format!(
                "the value of tag '{k}' must be at most {MAX_TAG_VALUE_CHARS} characters long"
            )));
        }
        if !tag_chars_ok(v) {
            return Err(bad(format!(
                "the value of tag '{k}' may contain only letters, digits, spaces and _ . : / = + - @"
            )));
        }
    }
    Ok(())
}

/// `arn:aws:iam::123456789012:role/NAME` (paths allowed in the name).
pub fn iam_role_arn(value: &str, path: &str) -> ApiResult<()> {
    let ok = (|| {
        let rest = value.strip_prefix("arn:")?;
        let (partition, rest) = rest.split_once(':')?;
        let rest = rest.strip_prefix("iam::")?;
        let (account, resource) = rest.split_once(':')?;
        let name = resource.strip_prefix("role/")?;
        (is_partition(partition) && is_account(account) && !name.is_empty() && name.len() <= 512)
            .then_some(())
    })();
    ok.ok_or_else(|| {
        bad(format!(
            "{path} '{value}' is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
        ))
    })
}

/// `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME`.
pub fn secret_arn(value: &str, path: &str) -> ApiResult<()> {
    let ok = (|| {
        let rest = value.strip_prefix("arn:")?;
        let (partition, rest) = rest.split_once(':')?;
        let rest = rest.strip_prefix("secretsmanager:")?;
        let (region, rest) = rest.split_once(':')?;
        let (account, rest) = rest.split_once(':')?;
        let name = rest.strip_prefix("secret:")?;
        (is_partition(partition) && !region.is_empty() && is_account(account) && !name.is_empty())
            .then_some(())
    })();
    ok.ok_or_else(|| {
        bad(format!(
            "{path} '{value}' is not a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)"
        ))
    })
}

pub fn authorization(auth: &Authorization) -> ApiResult<()> {
    let secret = required(
        &auth.cdn_identifier_secret,
        "authorization.cdnIdentifierSecret",
    )?;
    secret_arn(secret, "authorization.cdnIdentifierSecret")?;
    let role = required(&auth.secrets_role_arn, "authorization.secretsRoleArn")?;
    iam_role_arn(role, "authorization.secretsRoleArn")
}

/// CloudFormation pattern `\A\/aws\/MediaPackage\/[0-9a-zA-Z-_\/\.#]+\Z`, 1 to 512 characters.
pub fn egress_access_logs(logs: &EgressAccessLogs) -> ApiResult<()> {
    if let Some(name) = &logs.log_group_name {
        let tail = name.strip_prefix("/aws/MediaPackage/").unwrap_or("");
        let ok = name.len() <= 512
            && !tail.is_empty()
            && tail.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/' | b'.' | b'#')
            });
        if !ok {
            return Err(bad(format!(
                "egressAccessLogs.logGroupName '{name}' must match /aws/MediaPackage/[0-9a-zA-Z-_/.#]+ and be at most 512 characters"
            )));
        }
    }
    Ok(())
}

/// Which package family, for the rules that differ between them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Hls,
    Cmaf,
    Dash,
    Mss,
}

fn speke(
    p: &SpekeKeyProvider,
    path: &str,
    family: Family,
    policy: &crate::keys::UrlPolicy,
) -> ApiResult<()> {
    let url = required(&p.url, &format!("{path}.url"))?;
    // https, or http to an allow-listed host; never a link-local/metadata address: the API
    // must not make the server call arbitrary internal addresses.
    policy
        .check(url)
        .map_err(|why| bad(format!("{path}.url: {why}")))?;
    let role = required(&p.role_arn, &format!("{path}.roleArn"))?;
    iam_role_arn(role, &format!("{path}.roleArn"))?;
    let ids = required(&p.system_ids, &format!("{path}.systemIds"))?;
    let (max, label) = match family {
        Family::Hls => (1, "HLS"),
        Family::Mss => (1, "MSS"),
        Family::Dash => (2, "DASH"),
        Family::Cmaf => (3, "CMAF"),
    };
    if ids.is_empty() || ids.len() > max {
        return Err(bad(format!(
            "{path}.systemIds: {label} takes {} system id{}; {} given",
            if max == 1 {
                "exactly 1".to_string()
            } else {
                format!("1 to {max}")
            },
            if max == 1 { "" } else { "s" },
            ids.len()
        )));
    }
    let mut seen = Vec::new();
    for id in ids {
        let hex: String = id.chars().filter(|c| *c != '-').collect();
        let dashes_ok = id.len() == 32
            || (id.len() == 36 && [8, 13, 18, 23].iter().all(|&i| id.as_bytes()[i] == b'-'));
        if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) || !dashes_ok {
            return Err(bad(format!(
                "{path}.systemIds: '{id}' is not a DRM system id (a UUID)"
            )));
        }
        let norm = hex.to_ascii_lowercase();
        if seen.contains(&norm) {
            return Err(bad(format!("{path}.systemIds: '{id}' is listed twice")));
        }
        seen.push(norm);
    }
    if let Some(ecc) = &p.encryption_contract_configuration {
        let epath = format!("{path}.encryptionContractConfiguration");
        if !matches!(family, Family::Cmaf | Family::Dash) {
            return Err(bad(format!(
                "{epath}: SPEKE 2.0 is available only for CMAF and DASH packages"
            )));
        }
        let audio = *required(
            &ecc.preset_speke20_audio,
            &format!("{epath}.presetSpeke20Audio"),
        )?;
        let video = *required(
            &ecc.preset_speke20_video,
            &format!("{epath}.presetSpeke20Video"),
        )?;
        let a_un = audio == PresetSpeke20Audio::Unencrypted;
        let v_un = video == PresetSpeke20Video::Unencrypted;
        let a_sh = audio == PresetSpeke20Audio::Shared;
        let v_sh = video == PresetSpeke20Video::Shared;
        if a_un && v_un {
            return Err(bad(format!(
                "{epath}: audio and video cannot both be UNENCRYPTED"
            )));
        }
        if a_sh != v_sh {
            return Err(bad(format!(
                "{epath}: SHARED must be used for both audio and video or for neither"
            )));
        }
        if (a_un && v_sh) || (v_un && a_sh) {
            return Err(bad(format!(
                "{epath}: UNENCRYPTED cannot be combined with SHARED"
            )));
        }
    }
    Ok(())
}

fn constant_iv(iv: &Option<String>, path: &str) -> ApiResult<()> {
    if let Some(iv) = iv
        && (iv.len() != 32 || !iv.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(bad(format!(
            "{path}.constantInitializationVector must be 32 hexadecimal characters (16 bytes)"
        )));
    }
    Ok(())
}

fn segment_duration(v: Option<i32>, path: &str) -> ApiResult<()> {
    if let Some(d) = v
        && !(1..=MAX_SEGMENT_DURATION_SECONDS).contains(&d)
    {
        return Err(bad(format!(
            "{path}.segmentDurationSeconds must be between 1 and {MAX_SEGMENT_DURATION_SECONDS}; got {d}"
        )));
    }
    Ok(())
}

fn non_negative(v: Option<i32>, path: &str) -> ApiResult<()> {
    if let Some(n) = v
        && n < 0
    {
        return Err(bad(format!("{path} must not be negative; got {n}")));
    }
    Ok(())
}

fn stream_selection(s: &Option<StreamSelection>, path: &str) -> ApiResult<()> {
    if let Some(s) = s {
        non_negative(
            s.min_video_bits_per_second,
            &format!("{path}.streamSelection.minVideoBitsPerSecond"),
        )?;
        non_negative(
            s.max_video_bits_per_second,
            &format!("{path}.streamSelection.maxVideoBitsPerSecond"),
        )?;
        if let (Some(min), Some(max)) = (s.min_video_bits_per_second, s.max_video_bits_per_second)
            && min > max
        {
            return Err(bad(format!(
                "{path}.streamSelection: minVideoBitsPerSecond ({min}) is above maxVideoBitsPerSecond ({max})"
            )));
        }
    }
    Ok(())
}

fn manifest_name(name: &Option<String>, path: &str) -> ApiResult<()> {
    if let Some(n) = name {
        let ok = !n.is_empty()
            && n.len() <= 256
            && !n.starts_with('.')
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !ok {
            return Err(bad(format!(
                "{path}.manifestName '{n}' must be 1 to 256 letters, digits, '-', '_' or '.', not starting with '.'"
            )));
        }
    }
    Ok(())
}

fn manifests_present<T>(list: &Option<Vec<T>>, path: &str) -> ApiResult<()> {
    let list = required(list, path)?;
    if list.is_empty() {
        return Err(bad(format!("{path} must contain at least one manifest")));
    }
    Ok(())
}

fn hls_manifests(list: &[HlsManifest], path: &str) -> ApiResult<()> {
    for (i, m) in list.iter().enumerate() {
        let p = format!("{path}[{i}]");
        manifest_name(&m.manifest_name, &p)?;
        non_negative(
            m.program_date_time_interval_seconds,
            &format!("{p}.programDateTimeIntervalSeconds"),
        )?;
        stream_selection(&m.stream_selection, &p)?;
    }
    Ok(())
}

/// Validates the package members of CreatePackagingConfiguration and returns the one package,
/// with key server URLs held to https only.
pub fn package(req: &CreatePackagingConfigurationRequest) -> ApiResult<Package> {
    package_with(req, &crate::keys::UrlPolicy::default())
}

/// [`package`] with the service's key server URL policy (`VODPACK_SPEKE_ALLOW_HTTP_HOSTS`).
pub fn package_with(
    req: &CreatePackagingConfigurationRequest,
    policy: &crate::keys::UrlPolicy,
) -> ApiResult<Package> {
    let given = [
        req.hls_package.is_some(),
        req.cmaf_package.is_some(),
        req.dash_package.is_some(),
        req.mss_package.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if given != 1 {
        return Err(bad(format!(
            "exactly one of hlsPackage, cmafPackage, dashPackage or mssPackage must be given; {given} were"
        )));
    }
    let package = if let Some(p) = &req.hls_package {
        manifests_present(&p.hls_manifests, "hlsPackage.hlsManifests")?;
        hls_manifests(
            p.hls_manifests.as_deref().unwrap_or_default(),
            "hlsPackage.hlsManifests",
        )?;
        segment_duration(p.segment_duration_seconds, "hlsPackage")?;
        if let Some(e) = &p.encryption {
            let sp = required(
                &e.speke_key_provider,
                "hlsPackage.encryption.spekeKeyProvider",
            )?;
            speke(
                sp,
                "hlsPackage.encryption.spekeKeyProvider",
                Family::Hls,
                policy,
            )?;
            constant_iv(&e.constant_initialization_vector, "hlsPackage.encryption")?;
        }
        Package::HlsPackage(p.clone())
    } else if let Some(p) = &req.cmaf_package {
        manifests_present(&p.hls_manifests, "cmafPackage.hlsManifests")?;
        hls_manifests(
            p.hls_manifests.as_deref().unwrap_or_default(),
            "cmafPackage.hlsManifests",
        )?;
        segment_duration(p.segment_duration_seconds, "cmafPackage")?;
        if let Some(e) = &p.encryption {
            let sp = required(
                &e.speke_key_provider,
                "cmafPackage.encryption.spekeKeyProvider",
            )?;
            speke(
                sp,
                "cmafPackage.encryption.spekeKeyProvider",
                Family::Cmaf,
                policy,
            )?;
            constant_iv(&e.constant_initialization_vector, "cmafPackage.encryption")?;
        }
        Package::CmafPackage(p.clone())
    } else if let Some(p) = &req.dash_package {
        manifests_present(&p.dash_manifests, "dashPackage.dashManifests")?;
        for (i, m) in p.dash_manifests.iter().flatten().enumerate() {
            let mp = format!("dashPackage.dashManifests[{i}]");
            manifest_name(&m.manifest_name, &mp)?;
            non_negative(
                m.min_buffer_time_seconds,
                &format!("{mp}.minBufferTimeSeconds"),
            )?;
            stream_selection(&m.stream_selection, &mp)?;
        }
        segment_duration(p.segment_duration_seconds, "dashPackage")?;
        let ads = p
            .period_triggers
            .iter()
            .flatten()
            .any(|t| *t == PeriodTrigger::Ads);
        if ads && p.segment_template_format == Some(SegmentTemplateFormat::NumberWithDuration) {
            return Err(bad(
                "dashPackage: segmentTemplateFormat NUMBER_WITH_DURATION cannot be combined with periodTriggers [\"ADS\"] (multi-period)",
            ));
        }
        if let Some(e) = &p.encryption {
            let sp = required(
                &e.speke_key_provider,
                "dashPackage.encryption.spekeKeyProvider",
            )?;
            speke(
                sp,
                "dashPackage.encryption.spekeKeyProvider",
                Family::Dash,
                policy,
            )?;
        }
        Package::DashPackage(p.clone())
    } else if let Some(p) = &req.mss_package {
        manifests_present(&p.mss_manifests, "mssPackage.mssManifests")?;
        for (i, m) in p.mss_manifests.iter().flatten().enumerate() {
            let mp = format!("mssPackage.mssManifests[{i}]");
            manifest_name(&m.manifest_name, &mp)?;
            stream_selection(&m.stream_selection, &mp)?;
        }
        segment_duration(p.segment_duration_seconds, "mssPackage")?;
        if let Some(e) = &p.encryption {
            let sp = required(
                &e.speke_key_provider,
                "mssPackage.encryption.spekeKeyProvider",
            )?;
            speke(
                sp,
                "mssPackage.encryption.spekeKeyProvider",
                Family::Mss,
                policy,
            )?;
        }
        Package::MssPackage(p.clone())
    } else {
        // `given == 1` above makes this unreachable; answer as a client error all the same.
        return Err(bad("a package is required"));
    };
    let names = package.spec().manifest_names();
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(bad(format!(
                "manifest name '{n}' is used twice in this configuration; manifest names must be unique"
            )));
        }
    }
    Ok(package)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(check_id("a-B_9", "id").is_ok());
        assert!(check_id("", "id").is_err());
        assert!(check_id("has space", "id").is_err());
        assert!(check_id("dot.ted", "id").is_err());
        assert!(check_id(&"x".repeat(256), "id").is_ok());
        assert!(check_id(&"x".repeat(257), "id").is_err());
    }

    #[test]
    fn tag_rules() {
        assert!(tag_key("env").is_ok());
        assert!(tag_key("AWS:thing").is_err());
        assert!(tag_key("a#b").is_err());
        assert!(tag_key(&"k".repeat(128)).is_ok());
        assert!(tag_key(&"k".repeat(129)).is_err());
        assert!(tag_key("café résumé").is_ok());
    }

    #[test]
    fn role_arns() {
        assert!(iam_role_arn("arn:aws:iam::111122223333:role/MediaPackage", "r").is_ok());
        assert!(iam_role_arn("arn:aws:iam::1111:role/x", "r").is_err());
        assert!(iam_role_arn("arn:aws:iam::111122223333:user/x", "r").is_err());
    }
}
