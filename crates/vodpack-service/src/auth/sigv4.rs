//! AWS Signature Version 4 verification of `Authorization`-header signed requests.
//!
//! Written here rather than taken from a crate: `aws-sigv4` only signs, and the verifiers we
//! looked at (rustack-auth, s3s) canonicalise the path the S3 way (encoded once), while every
//! non-S3 service, this one included, signs the path *encoded twice*: the SDK encodes
//! `arn:aws:…/x` to `arn%3Aaws%3A…%2Fx` in the URI and the signer encodes that again
//! (`%253A`). They also leave out the clock-skew check. The algorithm is small and fixed
//! (docs: "Create a signed AWS API request"), and it is tested against requests signed by the
//! real SDK, the AWS CLI and `aws-sigv4`.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Requests older or newer than this are refused (AWS: 15 minutes).
pub const MAX_CLOCK_SKEW: TimeDelta = TimeDelta::minutes(15);

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Why a request was refused. The texts follow AWS's own where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    #[error(
        "Missing Authentication Token: the request must be signed with AWS Signature Version 4"
    )]
    Missing,
    #[error("Authorization header is malformed: {0}")]
    Malformed(String),
    #[error("The security token included in the request is invalid (unknown access key id '{0}')")]
    UnknownAccessKey(String),
    #[error(
        "Credential should be scoped to a valid region, not '{got}'; this endpoint serves '{want}'"
    )]
    WrongRegion { got: String, want: String },
    #[error("Credential should be scoped to correct service: 'mediapackage-vod', not '{0}'")]
    WrongService(String),
    #[error("Signature expired: {0}")]
    Expired(String),
    #[error("The signed header '{0}' is missing from the request")]
    MissingSignedHeader(String),
    #[error("The request's x-amz-content-sha256 does not match its body")]
    PayloadHashMismatch,
    #[error(
        "The security token included in the request is invalid: this endpoint is not configured for session tokens, so X-Amz-Security-Token must not be sent (unset AWS_SESSION_TOKEN)"
    )]
    SecurityTokenNotAccepted,
    #[error("The security token included in the request is invalid")]
    SecurityTokenInvalid,
    #[error("Missing security token: this endpoint requires X-Amz-Security-Token")]
    SecurityTokenMissing,
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
    )]
    SignatureMismatch,
}

/// The parts of a request the signature covers.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path exactly as received, still percent-encoded.
    pub raw_path: &'a str,
    /// The query exactly as received (without `?`), if any.
    pub raw_query: Option<&'a str>,
    /// Header (lowercase name, value) pairs in arrival order.
    pub headers: Vec<(&'a str, &'a str)>,
    /// Lowercase hex SHA-256 of the body.
    pub body_sha256: String,
}

/// A parsed `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuth<'a> {
    pub access_key_id: &'a str,
    /// `YYYYMMDD` of the credential scope.
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    /// Lowercase header names, strictly ascending.
    pub signed_headers: Vec<&'a str>,
    /// 64 lowercase hex digits.
    pub signature: &'a str,
}

fn malformed(what: impl Into<String>) -> SigV4Error {
    SigV4Error::Malformed(what.into())
}

/// A scope part (access key id, region, service): printable ASCII without separators.
fn scope_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b',' | b'=' | b';'))
}

/// Parses an `Authorization` header value strictly, the grammar the AWS SDKs and CLI write:
/// `AWS4-HMAC-SHA256`, one space, then exactly the three components `Credential=`,
/// `SignedHeaders=` and `Signature=` (in any order, each once) separated by `,` with optional
/// spaces after it. The credential is `KEY/YYYYMMDD/REGION/SERVICE/aws4_request`, the signed
/// headers are lowercase header names in ascending order without repeats, the signature is 64
/// lowercase hex digits. Anything else (another algorithm spelling, junk after the signature,
/// a repeated or unknown component, a trailing comma) is refused: a header that only *contains*
/// a valid signature is not one. Pure and total (no panics on any input): fuzzed by
/// `fuzz/fuzz_targets/sigv4.rs`.
pub fn parse_authorization(value: &str) -> Result<ParsedAuth<'_>, SigV4Error> {
    let rest = value
        .strip_prefix(ALGORITHM)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| malformed(format!("it must start with '{ALGORITHM} '")))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for (i, part) in rest.split(',').enumerate() {
        // The SDKs write ", " between components; a bare "," is accepted too.
        let part = if i == 0 {
            part
        } else {
            part.trim_start_matches(' ')
        };
        let (name, v) = part
            .split_once('=')
            .ok_or_else(|| malformed(format!("component '{part}' is not NAME=VALUE")))?;
        let slot = match name {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => return Err(malformed(format!("unknown component '{name}'"))),
        };
        if slot.replace(v).is_some() {
            return Err(malformed(format!("{name} is given more than once")));
        }
    }
    let credential = credential.ok_or_else(|| malformed("Credential is missing"))?;
    let signed = signed.ok_or_else(|| malformed("SignedHeaders is missing"))?;
    let signature = signature.ok_or_else(|| malformed("Signature is missing"))?;
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, "aws4_request"] = parts.as_slice() else {
        return Err(malformed(
            "Credential must be ACCESS_KEY/YYYYMMDD/REGION/SERVICE/aws4_request",
        ));
    };
    if !(scope_part(access_key_id) && scope_part(region) && scope_part(service)) {
        return Err(malformed(
            "Credential must be ACCESS_KEY/YYYYMMDD/REGION/SERVICE/aws4_request",
        ));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("the Credential date must be YYYYMMDD"));
    }
    let signed_headers: Vec<&str> = signed.split(';').collect();
    for name in &signed_headers {
        let token = !name.is_empty()
            && name.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
            });
        if !token {
            return Err(malformed(format!(
                "SignedHeaders must be lowercase header names separated by ';', not '{signed}'"
            )));
        }
    }
    if signed_headers.windows(2).any(|w| w[0] >= w[1]) {
        return Err(malformed(
            "SignedHeaders must be sorted and name each header once",
        ));
    }
    if signature.len() != 64
        || !signature
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(malformed(
            "Signature must be 64 lowercase hexadecimal digits and end the header",
        ));
    }
    Ok(ParsedAuth {
        access_key_id,
        date,
        region,
        service,
        signed_headers,
        signature,
    })
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters stay, everything else is `%XX`.
fn uri_encode(bytes: &[u8], keep_slash: bool, out: &mut String) {
    for &b in bytes {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Canonical URI of a non-S3 service: dot segments removed, then the (already encoded) path
/// encoded again.
fn canonical_uri(raw_path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in raw_path.split('/').skip(1) {
        match seg {
            "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let normalized = format!("/{}", segments.join("/"));
    let mut out = String::with_capacity(normalized.len() * 2);
    uri_encode(normalized.as_bytes(), true, &mut out);
    out
}

fn percent_decode(s: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(s).collect()
}

/// The query's `key=value` pairs, sorted. `normalize` decodes and re-encodes each part the
/// SigV4 way; without it the pairs are kept as they came (what botocore signs).
fn canonical_query(raw: &str, normalize: bool) -> String {
    let mut pairs: Vec<(String, String)> = raw
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            if normalize {
                let (mut ek, mut ev) = (String::new(), String::new());
                uri_encode(&percent_decode(k), false, &mut ek);
                uri_encode(&percent_decode(v), false, &mut ev);
                (ek, ev)
            } else {
                (k.to_string(), v.to_string())
            }
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here; an empty MAC
    // would only make the comparison fail, never pass.
    match HmacSha256::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// Hex SHA-256, as used for payload hashes.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Verifies requests against one key pair for one region and service.
pub struct Verifier {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
    pub service: String,
    /// The session token requests must carry (signed) in `X-Amz-Security-Token`; when `None`
    /// a request that carries one is refused rather than the token ignored.
    pub security_token: Option<String>,
}

impl Verifier {
    /// Checks the signature of `req` at time `now`.
    pub fn verify(&self, req: &SignedRequest<'_>, now: DateTime<Utc>) -> Result<(), SigV4Error> {
        let header = |name: &str| -> Vec<&str> {
            req.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
                .collect()
        };
        let auth_values = header("authorization");
        let auth_value = match auth_values.as_slice() {
            [] => return Err(SigV4Error::Missing),
            [one] => *one,
            _ => {
                return Err(SigV4Error::Malformed(
                    "more than one Authorization header".into(),
                ));
            }
        };
        let auth = parse_authorization(auth_value)?;
        let key_ok: bool = auth
            .access_key_id
            .as_bytes()
            .ct_eq(self.access_key_id.as_bytes())
            .into();
        if !key_ok {
            return Err(SigV4Error::UnknownAccessKey(auth.access_key_id.to_string()));
        }
        if auth.region != self.region {
            return Err(SigV4Error::WrongRegion {
                got: auth.region.to_string(),
                want: self.region.clone(),
            });
        }
        if auth.service != self.service {
            return Err(SigV4Error::WrongService(auth.service.to_string()));
        }
        if !auth.signed_headers.contains(&"host") {
            return Err(SigV4Error::Malformed(
                "SignedHeaders must include host".into(),
            ));
        }
        // Headers that steer the check are taken only when sent once.
        let single = |name: &'static str| -> Result<Option<&str>, SigV4Error> {
            match header(name).as_slice() {
                [] => Ok(None),
                [one] => Ok(Some(*one)),
                _ => Err(SigV4Error::Malformed(format!(
                    "more than one {name} header"
                ))),
            }
        };
        match (&self.security_token, single("x-amz-security-token")?) {
            (None, None) => {}
            (None, Some(_)) => return Err(SigV4Error::SecurityTokenNotAccepted),
            (Some(_), None) => return Err(SigV4Error::SecurityTokenMissing),
            (Some(want), Some(got)) => {
                if !bool::from(got.as_bytes().ct_eq(want.as_bytes())) {
                    return Err(SigV4Error::SecurityTokenInvalid);
                }
                if !auth.signed_headers.contains(&"x-amz-security-token") {
                    return Err(SigV4Error::Malformed(
                        "SignedHeaders must include x-amz-security-token".into(),
                    ));
                }
            }
        }
        let amz_date = single("x-amz-date")?
            .ok_or_else(|| SigV4Error::Malformed("the X-Amz-Date header is missing".into()))?;
        let signed_at = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
            .map_err(|_| {
                SigV4Error::Malformed(format!("X-Amz-Date '{amz_date}' is not YYYYMMDDTHHMMSSZ"))
            })?
            .and_utc();
        if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
            return Err(SigV4Error::Malformed(
                "the Credential date does not match X-Amz-Date".into(),
            ));
        }
        let skew = now - signed_at;
        if skew > MAX_CLOCK_SKEW || -skew > MAX_CLOCK_SKEW {
            return Err(SigV4Error::Expired(format!(
                "the request was signed at {} and the server time is {}, more than 15 minutes apart",
                signed_at.format("%Y%m%dT%H%M%SZ"),
                now.format("%Y%m%dT%H%M%SZ")
            )));
        }
        if let Some(declared) = single("x-amz-content-sha256")?
            && !declared.eq_ignore_ascii_case(&req.body_sha256)
        {
            return Err(SigV4Error::PayloadHashMismatch);
        }

        let mut canonical_headers = String::new();
        for name in &auth.signed_headers {
            let values = header(name);
            if values.is_empty() {
                return Err(SigV4Error::MissingSignedHeader((*name).to_string()));
            }
            let joined = values
                .iter()
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
                .join(",");
            canonical_headers.push_str(&name.to_ascii_lowercase());
            canonical_headers.push(':');
            canonical_headers.push_str(&joined);
            canonical_headers.push('\n');
        }
        let signed_headers = auth.signed_headers.join(";");
        let scope = format!(
            "{}/{}/{}/aws4_request",
            auth.date, auth.region, auth.service
        );
        let k_date = hmac(
            format!("AWS4{}", self.secret_access_key).as_bytes(),
            auth.date.as_bytes(),
        );
        let k_region = hmac(&k_date, auth.region.as_bytes());
        let k_service = hmac(&k_region, auth.service.as_bytes());
        let k_signing = hmac(&k_service, b"aws4_request");
        let uri = canonical_uri(req.raw_path);

        let raw_query = req.raw_query.unwrap_or("");
        let mut queries = vec![canonical_query(raw_query, false)];
        let normalized = canonical_query(raw_query, true);
        if normalized != queries[0] {
            queries.push(normalized);
        }
        for query in queries {
            let canonical_request = format!(
                "{}\n{}\n{}\n{}\n{}\n{}",
                req.method, uri, query, canonical_headers, signed_headers, req.body_sha256
            );
            let string_to_sign = format!(
                "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
                sha256_hex(canonical_request.as_bytes())
            );
            let expected = hex::encode(hmac(&k_signing, string_to_sign.as_bytes()));
            if bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
                return Ok(());
            }
        }
        Err(SigV4Error::SignatureMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `get-vanilla` case of the AWS SigV4 test suite (service "service", us-east-1,
    /// the documented example key pair); the expected signature is the suite's.
    #[test]
    fn aws_test_suite_get_vanilla() {
        let v = Verifier {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            region: "us-east-1".into(),
            service: "service".into(),
            security_token: None,
        };
        let auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        let req = SignedRequest {
            method: "GET",
            raw_path: "/",
            raw_query: None,
            headers: vec![
                ("host", "example.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
                ("authorization", auth),
            ],
            body_sha256: sha256_hex(b""),
        };
        let at = NaiveDateTime::parse_from_str("20150830T123600Z", "%Y%m%dT%H%M%SZ")
            .unwrap()
            .and_utc();
        assert_eq!(v.verify(&req, at), Ok(()));
        // Same request, 16 minutes later: expired.
        assert!(matches!(
            v.verify(&req, at + TimeDelta::minutes(16)),
            Err(SigV4Error::Expired(_))
        ));
        // Another secret: mismatch.
        let w = Verifier {
            secret_access_key: "other".into(),
            ..v
        };
        assert_eq!(w.verify(&req, at), Err(SigV4Error::SignatureMismatch));
    }

    #[test]
    fn canonical_uri_double_encodes() {
        assert_eq!(
            canonical_uri("/tags/arn%3Aaws%3Amediapackage-vod%2Fx"),
            "/tags/arn%253Aaws%253Amediapackage-vod%252Fx"
        );
        assert_eq!(canonical_uri("/a/./b/../c"), "/a/c");
        assert_eq!(canonical_uri("/"), "/");
    }

    #[test]
    fn canonical_query_sorts() {
        assert_eq!(canonical_query("b=2&a=1&a=0", false), "a=0&a=1&b=2");
        assert_eq!(canonical_query("k=a%3ab", true), "k=a%3Ab");
        assert_eq!(canonical_query("flag", false), "flag=");
    }

    const GOOD: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

    #[test]
    fn authorization_parsed_strictly() {
        let ok = parse_authorization(GOOD).unwrap();
        assert_eq!(ok.access_key_id, "AKIDEXAMPLE");
        assert_eq!(ok.signed_headers, ["host", "x-amz-date"]);
        // Bare commas and another order are still the same three components.
        let compact = GOOD.replace(", ", ",");
        assert_eq!(parse_authorization(&compact).unwrap(), ok);
        let sig = "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        let reordered = format!(
            "AWS4-HMAC-SHA256 {sig}, Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date"
        );
        assert_eq!(parse_authorization(&reordered).unwrap(), ok);
        for bad in [
            format!("{GOOD} junk"),
            format!("{GOOD}junk"),
            format!("{GOOD},"),
            format!("{GOOD}, "),
            format!("{GOOD}, Foo=bar"),
            format!("{GOOD}, {sig}"),
            format!("{GOOD}, SignedHeaders=host"),
            GOOD.replace("AWS4-HMAC-SHA256 ", "aws4-hmac-sha256 "),
            GOOD.replace("AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA256"),
            GOOD.replace("AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA256  "),
            GOOD.replace(", SignedHeaders=host;x-amz-date", ""),
            GOOD.replace(", ", "; "),
            GOOD.replace(", ", " "),
            GOOD.replace("host;x-amz-date", "x-amz-date;host"),
            GOOD.replace("host;x-amz-date", "host;host;x-amz-date"),
            GOOD.replace("host;x-amz-date", "Host;x-amz-date"),
            GOOD.replace("host;x-amz-date", "host;;x-amz-date"),
            GOOD.replace("host;x-amz-date", ""),
            GOOD.replace("fbf31", "fbf3"),
            GOOD.replace("fbf31", "fbf311"),
            GOOD.replace("5fa00", "5FA00"),
            GOOD.replace("5fa00", "5fa0g"),
            GOOD.replace("20150830", "2015083"),
            GOOD.replace("20150830", "2015O830"),
            GOOD.replace("/aws4_request", "/aws4_request/x"),
            GOOD.replace("/aws4_request", "/aws4_requesx"),
            GOOD.replace("AKIDEXAMPLE/", "/"),
            GOOD.replace("Credential=", "credential="),
            GOOD.replace("Credential=", "Credential ="),
            String::new(),
            "AWS4-HMAC-SHA256 ".into(),
        ] {
            assert!(
                matches!(parse_authorization(&bad), Err(SigV4Error::Malformed(_))),
                "accepted: {bad}"
            );
        }
    }

    #[test]
    fn security_token_only_when_configured_and_signed() {
        let at = NaiveDateTime::parse_from_str("20150830T123600Z", "%Y%m%dT%H%M%SZ")
            .unwrap()
            .and_utc();
        let v = |token: Option<&str>| Verifier {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            region: "us-east-1".into(),
            service: "service".into(),
            security_token: token.map(String::from),
        };
        let req = |extra: Vec<(&'static str, &'static str)>| {
            let mut headers = vec![
                ("host", "example.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
                ("authorization", GOOD),
            ];
            headers.extend(extra);
            SignedRequest {
                method: "GET",
                raw_path: "/",
                raw_query: None,
                headers,
                body_sha256: sha256_hex(b""),
            }
        };
        assert_eq!(v(None).verify(&req(vec![]), at), Ok(()));
        assert_eq!(
            v(None).verify(&req(vec![("x-amz-security-token", "t")]), at),
            Err(SigV4Error::SecurityTokenNotAccepted)
        );
        assert_eq!(
            v(Some("t")).verify(&req(vec![]), at),
            Err(SigV4Error::SecurityTokenMissing)
        );
        assert_eq!(
            v(Some("t")).verify(&req(vec![("x-amz-security-token", "u")]), at),
            Err(SigV4Error::SecurityTokenInvalid)
        );
        // The right token, but not covered by the signature.
        assert!(matches!(
            v(Some("t")).verify(&req(vec![("x-amz-security-token", "t")]), at),
            Err(SigV4Error::Malformed(_))
        ));
        assert!(matches!(
            v(None).verify(&req(vec![("x-amz-date", "20150830T123600Z")]), at),
            Err(SigV4Error::Malformed(_))
        ));
    }
}
