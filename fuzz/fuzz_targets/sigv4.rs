//! The SigV4 `Authorization` parser and verifier (vodpack-service `auth::sigv4`). The input is
//! lines: the Authorization value, X-Amz-Date, the raw path, the raw query, then more headers
//! as `name: value`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vodpack_service::auth::sigv4::{SignedRequest, Verifier, parse_authorization, sha256_hex};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let auth = lines.next().unwrap_or("");
    if let Ok(p) = parse_authorization(auth) {
        // What was accepted is the canonical form, and writing it back parses the same.
        assert_eq!(p.signature.len(), 64);
        assert_eq!(p.date.len(), 8);
        assert!(p.signed_headers.windows(2).all(|w| w[0] < w[1]));
        let written = format!(
            "AWS4-HMAC-SHA256 Credential={}/{}/{}/{}/aws4_request, SignedHeaders={}, Signature={}",
            p.access_key_id,
            p.date,
            p.region,
            p.service,
            p.signed_headers.join(";"),
            p.signature
        );
        assert_eq!(parse_authorization(&written).as_ref(), Ok(&p));
    }
    let date = lines.next().unwrap_or("");
    let path = lines.next().unwrap_or("/");
    let query = lines.next();
    let mut headers = vec![("authorization", auth), ("x-amz-date", date), ("host", "h")];
    headers.extend(lines.filter_map(|l| l.split_once(": ")));
    let req = SignedRequest {
        method: "GET",
        raw_path: path,
        raw_query: query,
        headers,
        body_sha256: sha256_hex(b""),
    };
    let v = Verifier {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "secret".into(),
        region: "us-east-1".into(),
        service: "mediapackage-vod".into(),
        security_token: None,
    };
    let now = chrono::DateTime::from_timestamp(1_440_938_160, 0).unwrap_or_default();
    // Any answer but a panic; a forged request never passes.
    assert!(v.verify(&req, now).is_err());
});
