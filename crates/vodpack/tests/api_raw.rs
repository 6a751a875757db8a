//! What the SDKs never send: malformed bodies, wrong types, oversized requests, unknown routes,
//! bad signatures, CORS preflights. Requests are built by hand and signed with `aws-sigv4`
//! (an independent signer), or left unsigned.

mod common;

use std::time::{Duration, SystemTime};

use common::*;

fn assert_json_error(r: &Raw, status: u16, error_type: &str) {
    assert_eq!(r.status, status, "body: {}", r.body);
    assert_eq!(r.error_type(), Some(error_type), "body: {}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["__type"], error_type);
    assert!(
        v["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.body
    );
    assert!(
        r.header("x-amzn-requestid")
            .is_some_and(|id| id.len() >= 32)
    );
}

#[tokio::test]
async fn malformed_bodies_are_422_never_500() {
    let server = Server::start();
    let url = server.url("/packaging_groups");
    for body in [
        "{",
        "{\"id\": }",
        "not json",
        "[]",
        "\"a string\"",
        "null",
        "{\"id\":\"g\"} trailing",
        "{\"id\": 5}",
        "{\"id\": [\"g\"]}",
        "{\"id\":\"g\",\"tags\":[1,2]}",
        "{\"id\":\"g\",\"tags\":{\"k\":5}}",
        "{\"id\":\"g\",\"authorization\":\"yes\"}",
        "\u{0}\u{1}\u{2}",
    ] {
        let r = signed("POST", &url, body).await;
        assert_json_error(&r, 422, "UnprocessableEntityException");
    }
    // Invalid UTF-8.
    let r = raw(
        "POST",
        &url,
        &[("content-type", "application/json")],
        vec![b'{', 0xff, 0xfe, b'}'],
        Some(Signing::default()),
    )
    .await;
    assert_json_error(&r, 422, "UnprocessableEntityException");

    // Wrong member types deep inside a package name the member.
    let r = signed(
        "POST",
        &server.url("/packaging_configurations"),
        r#"{"id":"pc","packagingGroupId":"g","hlsPackage":{"segmentDurationSeconds":"6","hlsManifests":[{}]}}"#,
    )
    .await;
    assert_json_error(&r, 422, "UnprocessableEntityException");
    assert!(
        r.body.contains("hlsPackage.segmentDurationSeconds"),
        "{}",
        r.body
    );
    let r = signed(
        "POST",
        &server.url("/packaging_configurations"),
        r#"{"id":"pc","packagingGroupId":"g","dashPackage":{"dashManifests":[{"profile":"HBBTV_2"}]}}"#,
    )
    .await;
    assert_json_error(&r, 422, "UnprocessableEntityException");
    assert!(r.body.contains("HBBTV_2"), "{}", r.body);
    let r = signed(
        "POST",
        &server.url("/packaging_configurations"),
        r#"{"id":"pc","packagingGroupId":"g","hlsPackage":{"segmentDurationSeconds":99999999999,"hlsManifests":[{}]}}"#,
    )
    .await;
    assert_json_error(&r, 422, "UnprocessableEntityException");

    // Unknown members are ignored, nulls count as absent, an empty body counts as {}.
    let r = signed(
        "POST",
        &url,
        r#"{"id":"g","futureMember":{"x":1},"authorization":null,"tags":null}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["id"], "g");
    assert!(r.json().get("approximateAssetCount").is_none());
    let r = raw(
        "PUT",
        &server.url("/packaging_groups/g"),
        &[],
        vec![],
        Some(Signing::default()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["approximateAssetCount"], 0);
    let r = signed(
        "PUT",
        &server.url("/packaging_groups/g/configure_logs"),
        "{}",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json().get("approximateAssetCount").is_none());
    // The server keeps serving.
    let r = signed("GET", &url, "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["packagingGroups"][0]["id"], "g");
}

#[tokio::test]
async fn oversized_body_is_refused() {
    let server = Server::start_with(Options {
        extra_args: vec!["--max-body-bytes".into(), "4096".into()],
        ..Options::default()
    });
    let big = format!(r#"{{"id":"g","tags":{{"k":"{}"}}}}"#, "v".repeat(10_000));
    let r = signed("POST", &server.url("/packaging_groups"), &big).await;
    assert_json_error(&r, 413, "PayloadTooLargeException");
    // Also when the client does not announce the length (chunked), over a plain socket.
    let addr = server.endpoint.trim_start_matches("http://").to_string();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut req = format!(
        "POST /packaging_groups HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..8 {
        req.extend_from_slice(b"1000\r\n");
        req.extend_from_slice(&[b'x'; 0x1000]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = sock.write_all(&req).await;
    let mut answer = Vec::new();
    let _ = sock.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let r = signed(
        "POST",
        &server.url("/packaging_groups"),
        r#"{"id":"small"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let server = Server::start();
    for path in [
        "/nope",
        "/packaging_groups/g/extra/deep",
        "/assets/a/b",
        "/",
    ] {
        let r = signed("GET", &server.url(path), "").await;
        assert_json_error(&r, 404, "NotFoundException");
    }
    let r = signed("PATCH", &server.url("/assets"), "").await;
    assert_json_error(&r, 405, "MethodNotAllowedException");
    let r = signed("POST", &server.url("/packaging_groups/g"), "{}").await;
    assert_json_error(&r, 405, "MethodNotAllowedException");
    // Path tricks in ids: refused or not found, never a 500.
    for path in [
        "/assets/..%2F..%2Fetc%2Fpasswd",
        "/assets/%00",
        "/packaging_groups/%ff%fe",
        "/packaging_configurations/a%2Fb",
    ] {
        let r = signed("GET", &server.url(path), "").await;
        assert!(
            r.status == 404 || r.status == 422,
            "{path}: {} {}",
            r.status,
            r.body
        );
        assert!(r.error_type().is_some(), "{path}");
    }
}

#[tokio::test]
async fn cors_preflight_on_every_resource_path() {
    let server = Server::start();
    for (path, methods) in [
        ("/packaging_groups", "GET, POST, OPTIONS"),
        ("/packaging_groups/g", "GET, PUT, DELETE, OPTIONS"),
        ("/packaging_groups/g/configure_logs", "PUT, OPTIONS"),
        ("/packaging_configurations", "GET, POST, OPTIONS"),
        ("/packaging_configurations/c", "GET, DELETE, OPTIONS"),
        ("/assets", "GET, POST, OPTIONS"),
        ("/assets/a", "GET, DELETE, OPTIONS"),
        (
            "/tags/arn%3Aaws%3Amediapackage-vod%3Aus-east-1%3A111122223333%3Aassets%2Fa",
            "GET, POST, DELETE, OPTIONS",
        ),
    ] {
        // Browsers send preflights unsigned.
        let r = raw(
            "OPTIONS",
            &server.url(path),
            &[
                ("origin", "https://console.example.com"),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization,x-amz-date,content-type",
                ),
            ],
            vec![],
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{path}");
        assert_eq!(
            r.header("access-control-allow-methods"),
            Some(methods),
            "{path}"
        );
        let allowed = r
            .header("access-control-allow-headers")
            .unwrap_or("")
            .to_ascii_lowercase();
        for h in [
            "authorization",
            "x-amz-date",
            "content-type",
            "x-amz-security-token",
        ] {
            assert!(allowed.contains(h), "{path}: {h} not in {allowed}");
        }
    }
    // Actual responses carry the CORS headers too.
    let r = signed("GET", &server.url("/assets"), "").await;
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(
        r.header("access-control-expose-headers")
            .unwrap()
            .contains("x-amzn-RequestId")
    );
}

#[tokio::test]
async fn signatures_are_checked() {
    let server = Server::start();
    let url = server.url("/packaging_groups");

    let ok = signed("GET", &url, "").await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.header("x-amzn-requestid").is_some());
    assert_eq!(ok.header("content-type"), Some("application/json"));

    let unsigned = raw("GET", &url, &[], vec![], None).await;
    assert_json_error(&unsigned, 403, "ForbiddenException");
    let unsigned_post = raw("POST", &url, &[], br#"{"id":"x"}"#.to_vec(), None).await;
    assert_json_error(&unsigned_post, 403, "ForbiddenException");

    let cases: Vec<(&str, Signing)> = vec![
        (
            "wrong secret",
            Signing {
                secret: "not-the-secret",
                ..Signing::default()
            },
        ),
        (
            "unknown key",
            Signing {
                key: "AKIDSOMEONEELSE00000",
                ..Signing::default()
            },
        ),
        (
            "other region",
            Signing {
                region: "eu-west-1",
                ..Signing::default()
            },
        ),
        (
            "other service",
            Signing {
                service: "mediapackage",
                ..Signing::default()
            },
        ),
        (
            "16 minutes old",
            Signing {
                time: SystemTime::now() - Duration::from_secs(16 * 60),
                ..Signing::default()
            },
        ),
        (
            "16 minutes ahead",
            Signing {
                time: SystemTime::now() + Duration::from_secs(16 * 60),
                ..Signing::default()
            },
        ),
    ];
    for (what, signing) in cases {
        let r = raw(
            "POST",
            &url,
            &[("content-type", "application/json")],
            br#"{"id":"nope"}"#.to_vec(),
            Some(signing),
        )
        .await;
        assert_json_error(&r, 403, "ForbiddenException");
        assert!(!r.body.is_empty(), "{what}");
    }
    // 14 minutes of skew is tolerated.
    let r = raw(
        "GET",
        &url,
        &[],
        vec![],
        Some(Signing {
            time: SystemTime::now() - Duration::from_secs(14 * 60),
            ..Signing::default()
        }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // A body changed after signing is refused.
    let client = reqwest::Client::new();
    let host = server.endpoint.trim_start_matches("http://").to_string();
    let sig = {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let identity =
            aws_credential_types::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "t").into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name("mediapackage-vod")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let req = SignableRequest::new(
            "POST",
            url.clone(),
            [
                ("host", host.as_str()),
                ("content-type", "application/json"),
            ]
            .into_iter(),
            SignableBody::Bytes(br#"{"id":"signed"}"#),
        )
        .unwrap();
        sign(req, &params).unwrap().into_parts().0
    };
    let mut rb = client
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"id":"tampered"}"#);
    for (k, v) in sig.headers() {
        rb = rb.header(k, v);
    }
    let resp = rb.send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);

    // The SDK with a wrong secret gets a typed ForbiddenException.
    let bad = sdk_client(&server.endpoint, ACCESS_KEY, "wrong", REGION);
    let err = bad
        .list_packaging_groups()
        .send()
        .await
        .expect_err("refused");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    assert!(err.into_service_error().is_forbidden_exception());
    let bad_region = sdk_client(&server.endpoint, ACCESS_KEY, SECRET_KEY, "ap-south-1");
    assert!(bad_region.list_assets().send().await.is_err());
    // Nothing was created by refused requests.
    let r = signed("GET", &url, "").await;
    assert_eq!(r.json()["packagingGroups"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn tag_routes_accept_hand_written_forms() {
    let server = Server::start();
    let r = signed("POST", &server.url("/packaging_groups"), r#"{"id":"g"}"#).await;
    assert_eq!(r.status, 200);
    let arn = "arn:aws:mediapackage-vod:us-east-1:111122223333:packaging-groups/g";
    // Unencoded ARN with its slash.
    let r = signed(
        "POST",
        &server.url(&format!("/tags/{arn}")),
        r#"{"tags":{"a":"1","b":"2","c":"3"}}"#,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(r.body.is_empty());
    // Non-ASCII letters are allowed in tags (and must not trip byte/char boundaries).
    let r = signed(
        "POST",
        &server.url(&format!("/tags/{arn}")),
        r#"{"tags":{"日本語":"値","çé":"ü"}}"#,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = signed(
        "POST",
        &server.url(&format!("/tags/{arn}")),
        r#"{"tags":{"awsé":"x","é":"a#b"}}"#,
    )
    .await;
    assert_json_error(&r, 422, "UnprocessableEntityException");
    let r = signed(
        "DELETE",
        &server.url(&format!(
            "/tags/{arn}?tagKeys=%E6%97%A5%E6%9C%AC%E8%AA%9E&tagKeys=%C3%A7%C3%A9"
        )),
        "",
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    // Comma-separated tagKeys.
    let r = signed(
        "DELETE",
        &server.url(&format!("/tags/{arn}?tagKeys=a,b")),
        "",
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = signed("GET", &server.url(&format!("/tags/{arn}")), "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["tags"], serde_json::json!({"c":"3"}));
    // UntagResource without tagKeys.
    let r = signed("DELETE", &server.url(&format!("/tags/{arn}")), "").await;
    assert_json_error(&r, 422, "UnprocessableEntityException");
    // TagResource with a body that is not an object of strings.
    let r = signed(
        "POST",
        &server.url(&format!("/tags/{arn}")),
        r#"{"tags":"a=b"}"#,
    )
    .await;
    assert_json_error(&r, 422, "UnprocessableEntityException");
    // Delete answers 202 with an empty JSON object.
    let r = signed("DELETE", &server.url("/packaging_groups/g"), "").await;
    assert_eq!(r.status, 202);
    assert_eq!(r.json(), serde_json::json!({}));
}
