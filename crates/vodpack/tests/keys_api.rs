//! Content keys: key server URLs checked at configuration create (through the real binary),
//! and the service's `Keys` against the SPEKE v1/v2 test key server (`tests/speke/server.py`)
//! with a real SQLite repository: the keys are the server's, fetched once for many concurrent
//! requests, persisted across a restart, deleted with the asset, and every fault is a typed
//! error.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::speke::Speke;
use common::*;
use serde_json::json;
use vodpack_media::package::keys::{KeySet, uuid_text};
use vodpack_service::Quotas;
use vodpack_service::keys::cpix::CpixError;
use vodpack_service::keys::{KeyError, Keys, SpekeClient, SpekeSettings, UrlPolicy};
use vodpack_service::repo::sqlite::SqliteRepository;
use vodpack_service::repo::{AssetRecord, AssetStatus, ConfigRecord, GroupRecord, Repository};

const WIDEVINE: &str = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed";
const PLAYREADY: &str = "9a04f079-9840-4286-ab92-e65be0885f95";
const AES128: &str = "81376844-f976-481e-a84e-cc25d39b0b33";

fn dash_body(id: &str, url: &str) -> String {
    json!({
        "id": id,
        "packagingGroupId": "g",
        "dashPackage": {
            "dashManifests": [{}],
            "encryption": {"spekeKeyProvider": {
                "url": url,
                "roleArn": "arn:aws:iam::111122223333:role/speke",
                "systemIds": [WIDEVINE],
            }}
        }
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_server_urls_are_checked_when_a_configuration_is_created() {
    let server = Server::start_with(Options {
        env: vec![(
            "VODPACK_SPEKE_ALLOW_HTTP_HOSTS".into(),
            "127.0.0.1,localhost".into(),
        )],
        ..Options::default()
    });
    let r = signed("POST", &server.url("/packaging_groups"), r#"{"id":"g"}"#).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let url = server.url("/packaging_configurations");
    let refused = [
        ("http://keys.example.com/speke", "must be an https:// URL"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://169.254.169.254/", "link-local"),
        ("https://[fd00:ec2::254]/speke", "link-local"),
        ("ftp://keys.example.com/speke", "https"),
        ("not a url", "whitespace"),
    ];
    for (i, (bad, why)) in refused.iter().enumerate() {
        let r = signed("POST", &url, &dash_body(&format!("bad{i}"), bad)).await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
        let msg = r.json()["message"].as_str().unwrap_or("").to_string();
        assert!(
            msg.contains("dashPackage.encryption.spekeKeyProvider.url") && msg.contains(why),
            "{bad}: {msg}"
        );
    }
    for (i, good) in [
        "https://keys.example.com/speke/v2.0/copyProtection",
        "http://127.0.0.1:9999/speke",
        "http://localhost/speke",
    ]
    .iter()
    .enumerate()
    {
        let r = signed("POST", &url, &dash_body(&format!("good{i}"), good)).await;
        assert_eq!(r.status, 200, "{good}: {}", r.body);
    }

    // Without the allow-list, plain http is refused everywhere, loopback included.
    let strict = Server::start();
    let r = signed("POST", &strict.url("/packaging_groups"), r#"{"id":"g"}"#).await;
    assert_eq!(r.status, 200);
    let r = signed(
        "POST",
        &strict.url("/packaging_configurations"),
        &dash_body("c", "http://127.0.0.1:9999/speke"),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
}

/// A repository in a temporary directory with group `g`.
struct Env {
    _tmp: tempfile::TempDir,
    db: std::path::PathBuf,
    repo: Arc<dyn Repository>,
}

async fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("vodpack.sqlite3");
    let repo: Arc<dyn Repository> = Arc::new(SqliteRepository::open(&db).await.unwrap());
    repo.create_group(
        &GroupRecord {
            id: "g".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            authorization: None,
            egress_access_logs: None,
            tags: Default::default(),
        },
        Quotas::default(),
    )
    .await
    .unwrap();
    Env {
        _tmp: tmp,
        db,
        repo,
    }
}

fn egress_id(tag: &str) -> String {
    let h: String = tag.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{h:0<32}")[..32].to_string()
}

async fn add_config(repo: &dyn Repository, id: &str, package: serde_json::Value) -> ConfigRecord {
    let mut req = package;
    req["id"] = json!(id);
    req["packagingGroupId"] = json!("g");
    let req = serde_json::from_value(req).unwrap();
    let package =
        vodpack_service::api::validate::package_with(&req, &UrlPolicy::from_list("127.0.0.1"))
            .unwrap();
    let c = ConfigRecord {
        id: id.into(),
        packaging_group_id: "g".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        package,
        egress_id: egress_id(&format!("c{id}")),
        tags: Default::default(),
    };
    repo.create_config(&c, Quotas::default()).await.unwrap();
    c
}

async fn add_asset(repo: &dyn Repository, id: &str, resource_id: Option<&str>) -> AssetRecord {
    let a = AssetRecord {
        id: id.into(),
        packaging_group_id: "g".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        source_arn: format!("arn:aws:s3:::media/{id}.mp4"),
        source_role_arn: ROLE.into(),
        resource_id: resource_id.map(str::to_string),
        egress_id: egress_id(&format!("a{id}")),
        status: AssetStatus::Playable,
        ingest_error: None,
        tags: Default::default(),
        incarnation: 1,
        incarnated_at: None,
        ingest_attempts: 0,
    };
    repo.create_asset(&a, Quotas::default()).await.unwrap();
    a
}

fn speke_json(url: &str, ids: &[&str], presets: Option<(&str, &str)>) -> serde_json::Value {
    let mut v = json!({
        "url": url,
        "roleArn": "arn:aws:iam::111122223333:role/speke",
        "systemIds": ids,
    });
    if let Some((video, audio)) = presets {
        v["encryptionContractConfiguration"] =
            json!({"presetSpeke20Video": video, "presetSpeke20Audio": audio});
    }
    v
}

fn settings() -> SpekeSettings {
    SpekeSettings {
        allow_http_hosts: vec!["127.0.0.1".into()],
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(3),
        backoff: Duration::from_millis(50),
        ..SpekeSettings::default()
    }
}

fn keys_for(repo: &Arc<dyn Repository>, s: SpekeSettings) -> Arc<Keys> {
    Keys::with_failure_ttl(
        repo.clone(),
        Arc::new(SpekeClient::new(s).unwrap()),
        Duration::from_millis(200),
    )
}

/// Every key of `ks` is the one the key server derives for `content_id`.
async fn assert_server_keys(speke: &Speke, content_id: &str, ks: &KeySet) {
    assert!(!ks.keys.is_empty());
    for (_, k) in &ks.keys {
        assert_eq!(
            k.key,
            speke.key(content_id, &uuid_text(&k.kid)).await,
            "key of {}",
            uuid_text(&k.kid)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_come_from_the_key_server_once_and_persist() {
    let speke = Speke::start();
    let e = env().await;
    let url = speke.endpoint();
    let hls = add_config(
        &*e.repo,
        "hls",
        json!({"hlsPackage": {"hlsManifests": [{}], "encryption": {
            "spekeKeyProvider": speke_json(&url, &[AES128], None)}}}),
    )
    .await;
    let dash = add_config(
        &*e.repo,
        "dash",
        json!({"dashPackage": {"dashManifests": [{}], "encryption": {
            "spekeKeyProvider": speke_json(&url, &[WIDEVINE, PLAYREADY],
                Some(("PRESET-VIDEO-2", "PRESET-AUDIO-1")))}}}),
    )
    .await;
    let asset = add_asset(&*e.repo, "a", Some("title-42")).await;
    let keys = keys_for(&e.repo, settings());

    // SPEKE v1 (HLS AES-128): one key, the key URL of the server.
    let v1 = keys.get(&asset, &hls).await.unwrap();
    assert_eq!(v1.keys.len(), 1);
    assert_server_keys(&speke, "title-42", &v1).await;
    let kid = uuid_text(&v1.keys[0].1.kid);
    assert_eq!(
        v1.systems[0].uri_ext_x_key.as_deref(),
        Some(format!("{}/key/title-42/{kid}", speke.url).as_str())
    );
    assert_eq!(v1.systems[0].key_format.as_deref(), Some("identity"));
    let reqs = speke.requests().await;
    assert_eq!(reqs.len(), 1);
    assert!(
        reqs[0]["headers"].get("x-speke-version").is_none(),
        "v1 has no version header"
    );
    assert_eq!(reqs[0]["headers"]["content-type"], "application/xml");
    assert!(
        reqs[0]["body"]
            .as_str()
            .unwrap()
            .contains("id=\"title-42\"")
    );

    // SPEKE v2 (DASH, SD/HD + audio), asked by many at once: one key-server call.
    let all = futures_join(
        (0..24)
            .map(|_| {
                let (keys, a, c) = (keys.clone(), asset.clone(), dash.clone());
                tokio::spawn(async move { keys.get(&a, &c).await })
            })
            .collect(),
    )
    .await;
    let reqs = speke.requests().await;
    assert_eq!(
        reqs.len(),
        2,
        "one key-server call for 24 concurrent requests"
    );
    assert_eq!(reqs[1]["headers"]["x-speke-version"], "2.0");
    let body = reqs[1]["body"].as_str().unwrap();
    assert!(
        body.contains("contentId=\"title-42\"") && body.contains("version=\"2.3\""),
        "{body}"
    );
    assert!(body.contains("commonEncryptionScheme=\"cenc\""), "{body}");
    let v2 = all[0].clone();
    assert!(all.iter().all(|k| *k == v2));
    assert_eq!(
        v2.keys
            .iter()
            .map(|(u, _)| u.track_type.as_str())
            .collect::<Vec<_>>(),
        ["SD", "HD", "AUDIO"]
    );
    assert_server_keys(&speke, "title-42", &v2).await;
    assert_eq!(v2.systems.len(), 6, "2 systems × 3 keys");
    for s in &v2.systems {
        let pssh = s.pssh.as_ref().unwrap();
        assert_eq!(&pssh[4..8], b"pssh");
        assert_eq!(&pssh[12..28], &s.system_id);
        assert!(
            s.content_protection_data
                .as_ref()
                .unwrap()
                .contains("urn:mpeg:cenc:2013")
        );
    }

    // A restart (a new repository handle and key store on the same database): no call.
    drop(keys);
    let repo2: Arc<dyn Repository> = Arc::new(SqliteRepository::open(&e.db).await.unwrap());
    let keys2 = keys_for(&repo2, settings());
    assert_eq!(*keys2.get(&asset, &dash).await.unwrap(), *v2);
    assert_eq!(*keys2.get(&asset, &hls).await.unwrap(), *v1);
    assert_eq!(speke.requests().await.len(), 2, "persisted keys are reused");

    // Deleting the asset deletes its keys; a new asset of the same id gets fresh ones.
    repo2.delete_asset("a").await.unwrap();
    assert!(repo2.get_keys("a", "dash").await.unwrap().is_none());
    assert!(repo2.get_keys("a", "hls").await.unwrap().is_none());
    let mut again = add_asset(&*repo2, "a", None).await;
    again.egress_id = egress_id("again");
    repo2.delete_asset("a").await.unwrap();
    repo2.create_asset(&again, Quotas::default()).await.unwrap();
    let fresh = keys2.get(&again, &hls).await.unwrap();
    assert_eq!(speke.requests().await.len(), 3);
    // No resourceId: the asset id is the content id.
    assert_server_keys(&speke, "a", &fresh).await;
    // Deleting the configuration deletes its keys too.
    repo2.delete_config("hls").await.unwrap();
    assert!(repo2.get_keys("a", "hls").await.unwrap().is_none());
}

async fn futures_join(
    handles: Vec<tokio::task::JoinHandle<Result<Arc<KeySet>, KeyError>>>,
) -> Vec<Arc<KeySet>> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap().unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_server_fault_is_a_typed_error() {
    let speke = Speke::start_with(&["--explicit-iv"]);
    let e = env().await;
    let cmaf = add_config(
        &*e.repo,
        "cmaf",
        json!({"cmafPackage": {"hlsManifests": [{}], "encryption": {
            "spekeKeyProvider": speke_json(&speke.endpoint(), &[WIDEVINE], Some(("SHARED", "SHARED")))}}}),
    )
    .await;
    let keys = keys_for(
        &e.repo,
        SpekeSettings {
            timeout: Duration::from_secs(1),
            ..settings()
        },
    );
    let mut n = 0;
    let mut fresh_asset = || {
        n += 1;
        format!("f{n}")
    };
    type Case = (&'static str, usize, fn(&KeyError) -> bool);
    let cases: Vec<Case> = vec![
        ("500", 3, |e| {
            matches!(e, KeyError::Status { status: 500, .. })
        }),
        ("422", 1, |e| {
            matches!(e, KeyError::Status { status: 422, .. })
        }),
        ("wrong_kid", 1, |e| {
            matches!(e, KeyError::Cpix(CpixError::UnexpectedKid(_)))
        }),
        ("missing_key", 1, |e| {
            matches!(e, KeyError::Cpix(CpixError::MissingKey(_)))
        }),
        ("bad_base64", 1, |e| {
            matches!(
                e,
                KeyError::Cpix(CpixError::BadBase64 {
                    field: "PlainValue",
                    ..
                })
            )
        }),
        ("slow", 3, |e| matches!(e, KeyError::Timeout { .. })),
    ];
    speke.control(json!({"delay": 2})).await;
    for (fault, calls, want) in cases {
        speke.fault(Some(fault)).await;
        let id = fresh_asset();
        let asset = add_asset(&*e.repo, &id, None).await;
        let before = speke.requests().await.len();
        let err = keys.get(&asset, &cmaf).await.unwrap_err();
        assert!(want(&err), "{fault}: {err:?}");
        assert_eq!(
            speke.requests().await.len() - before,
            calls,
            "{fault}: key-server calls"
        );
        // Remembered for a moment: no new call.
        assert_eq!(keys.get(&asset, &cmaf).await.unwrap_err(), err);
        assert_eq!(speke.requests().await.len() - before, calls, "{fault}");
        // The error names no key material.
        let text = format!("{err} {err:?}");
        let key = speke
            .key(
                &id,
                &uuid_text(&vodpack_service::keys::cpix::derive_kid(&id, "cmaf", "ALL")),
            )
            .await;
        assert!(!text.contains(&hex(&key)), "{fault}: {text}");
        assert!(
            e.repo.get_keys(&id, "cmaf").await.unwrap().is_none(),
            "{fault}: nothing stored"
        );
    }
    // A failure is not kept: once the server is healthy and the moment passed, keys come.
    speke.fault(None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asset = e.repo.get_asset("f1").await.unwrap().unwrap();
    let ks = keys.get(&asset, &cmaf).await.unwrap();
    assert_server_keys(&speke, "f1", &ks).await;
    assert!(ks.keys[0].1.explicit_iv.is_some(), "explicitIV read");
    let s = &ks.systems[0];
    assert!(
        s.hls_media
            .as_deref()
            .unwrap()
            .starts_with("#EXT-X-KEY:METHOD=SAMPLE-AES,")
    );
    assert!(
        s.hls_master
            .as_deref()
            .unwrap()
            .starts_with("#EXT-X-SESSION-KEY:")
    );

    // A consistent KID override is followed: the key and its systems under the new KID.
    speke.fault(Some("kid_override")).await;
    let asset = add_asset(&*e.repo, "ovr", None).await;
    let ks = keys.get(&asset, &cmaf).await.unwrap();
    let asked = vodpack_service::keys::cpix::derive_kid("ovr", "cmaf", "ALL");
    assert_ne!(ks.keys[0].1.kid, asked);
    assert!(ks.systems.iter().all(|s| s.kid == ks.keys[0].1.kid));
    assert_server_keys(&speke, "ovr", &ks).await;
    speke.fault(None).await;

    // Nobody listening: a connect error, tried three times.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = add_config(
        &*e.repo,
        "down",
        json!({"dashPackage": {"dashManifests": [{}], "encryption": {
            "spekeKeyProvider": speke_json(&format!("http://127.0.0.1:{port}/speke"), &[WIDEVINE], None)}}}),
    )
    .await;
    let err = keys.get(&asset, &down).await.unwrap_err();
    assert!(matches!(err, KeyError::Connect { .. }), "{err:?}");
    // A URL the policy refuses is not called at all.
    let refused = SpekeClient::new(SpekeSettings {
        allow_http_hosts: vec![],
        ..settings()
    })
    .unwrap();
    let k = Keys::new(e.repo.clone(), Arc::new(refused));
    let before = speke.requests().await.len();
    let fresh = add_asset(&*e.repo, "refused", None).await;
    let err = k.get(&fresh, &cmaf).await.unwrap_err();
    assert!(matches!(err, KeyError::Url(_)), "{err:?}");
    assert_eq!(speke.requests().await.len(), before);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_requests_use_the_extra_ca_sigv4_and_the_header_file() {
    let tls = tempfile::tempdir().unwrap();
    let (speke, ca) = Speke::start_tls(tls.path());
    assert!(speke.url.starts_with("https://127.0.0.1:"), "{}", speke.url);
    let e = env().await;
    let dash = add_config(
        &*e.repo,
        "dash",
        json!({"dashPackage": {"dashManifests": [{}], "encryption": {
            "spekeKeyProvider": speke_json(&speke.endpoint(), &[WIDEVINE], None)}}}),
    )
    .await;
    let asset = add_asset(&*e.repo, "a", None).await;

    // The test CA is not among the system roots: refused, and nothing reached the server.
    let err = keys_for(&e.repo, settings())
        .get(&asset, &dash)
        .await
        .unwrap_err();
    assert!(matches!(err, KeyError::Connect { .. }), "{err:?}");
    assert!(speke.requests().await.is_empty());

    // With the CA file, SigV4 credentials and a header file.
    let header_file = tls.path().join("speke-headers");
    std::fs::write(&header_file, "# a comment\nX-Api-Key: s3cr3t-value\n\n").unwrap();
    let ks = keys_for(
        &e.repo,
        SpekeSettings {
            ca_file: Some(ca.clone()),
            access_key_id: Some("AKIDSPEKETEST".into()),
            secret_access_key: Some("speke/secret".into()),
            region: "eu-west-1".into(),
            header_file: Some(header_file.clone()),
            ..settings()
        },
    )
    .get(&asset, &dash)
    .await
    .unwrap();
    assert_server_keys(&speke, "a", &ks).await;
    let reqs = speke.requests().await;
    assert_eq!(reqs.len(), 1);
    let h = &reqs[0]["headers"];
    assert_eq!(h["x-api-key"], "s3cr3t-value");
    let auth = h["authorization"].as_str().unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDSPEKETEST/")
            && auth.contains("/eu-west-1/execute-api/aws4_request")
            && auth.contains("SignedHeaders=")
            && auth.contains("content-type")
            && auth.contains("host"),
        "{auth}"
    );
    // The signature checks out under the service's own (hand-written) SigV4 verifier.
    use vodpack_service::auth::sigv4::{SignedRequest, Verifier, sha256_hex};
    let body = reqs[0]["body"].as_str().unwrap();
    let headers: Vec<(&str, &str)> = h
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
        .collect();
    let verifier = |secret: &str| Verifier {
        access_key_id: "AKIDSPEKETEST".into(),
        secret_access_key: secret.into(),
        region: "eu-west-1".into(),
        service: "execute-api".into(),
        security_token: None,
    };
    let signed = SignedRequest {
        method: "POST",
        raw_path: reqs[0]["path"].as_str().unwrap(),
        raw_query: None,
        headers: headers.clone(),
        body_sha256: sha256_hex(body.as_bytes()),
    };
    verifier("speke/secret")
        .verify(&signed, chrono::Utc::now())
        .unwrap();
    assert!(
        verifier("wrong")
            .verify(&signed, chrono::Utc::now())
            .is_err()
    );

    // A broken header file is a settings error, not a call.
    std::fs::write(&header_file, "no colon here\n").unwrap();
    let other = add_asset(&*e.repo, "b", None).await;
    let err = keys_for(
        &e.repo,
        SpekeSettings {
            ca_file: Some(ca),
            header_file: Some(header_file),
            ..settings()
        },
    )
    .get(&other, &dash)
    .await
    .unwrap_err();
    assert!(matches!(err, KeyError::Config(_)), "{err:?}");
    assert_eq!(speke.requests().await.len(), 1);
}

/// Through the binary: an asset that becomes playable has its keys fetched (and stored) for
/// its encrypted configurations, once, before any egress request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_fetched_when_ingest_completes() {
    let speke = Speke::start();
    let mut server = Server::start_with(Options {
        env: vec![("VODPACK_SPEKE_ALLOW_HTTP_HOSTS".into(), "127.0.0.1".into())],
        ..Options::default()
    });
    let bucket = server.data_dir.join("buckets/media");
    std::fs::create_dir_all(&bucket).unwrap();
    std::fs::copy(
        media_dir().join("ladder/ladder_360p.mp4"),
        bucket.join("title.mp4"),
    )
    .unwrap();
    let r = signed("POST", &server.url("/packaging_groups"), r#"{"id":"g"}"#).await;
    assert_eq!(r.status, 200);
    let body = json!({
        "id": "dash", "packagingGroupId": "g",
        "dashPackage": {"dashManifests": [{}], "encryption": {
            "spekeKeyProvider": speke_json(&speke.endpoint(), &[WIDEVINE, PLAYREADY],
                Some(("PRESET-VIDEO-1", "PRESET-AUDIO-1")))}}
    });
    let r = signed(
        "POST",
        &server.url("/packaging_configurations"),
        &body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let clear = r#"{"id":"clear","packagingGroupId":"g","hlsPackage":{"hlsManifests":[{}]}}"#;
    let r = signed("POST", &server.url("/packaging_configurations"), clear).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let c = server.client();
    c.create_asset()
        .id("a")
        .packaging_group_id("g")
        .source_arn("arn:aws:s3:::media/title.mp4")
        .source_role_arn(ROLE)
        .resource_id("res-1")
        .send()
        .await
        .unwrap();
    assert_eq!(wait_ingest(&c, "a").await, ["PLAYABLE"; 2]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while speke.requests().await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no key request after ingest"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reqs = speke.requests().await;
    assert_eq!(
        reqs.len(),
        1,
        "one key request, for the encrypted configuration only"
    );
    assert_eq!(reqs[0]["headers"]["x-speke-version"], "2.0");
    assert!(
        reqs[0]["body"]
            .as_str()
            .unwrap()
            .contains("contentId=\"res-1\"")
    );
    // Stored in the server's database: read it back after the server stopped.
    server.terminate();
    let repo = SqliteRepository::open(&server.data_dir.join("vodpack.sqlite3"))
        .await
        .unwrap();
    let stored = repo
        .get_keys("a", "dash")
        .await
        .unwrap()
        .expect("keys stored");
    let ks = stored.to_key_set().unwrap();
    assert_eq!(ks.keys.len(), 2);
    assert_server_keys(&speke, "res-1", &ks).await;
    assert!(repo.get_keys("a", "clear").await.unwrap().is_none());
}

/// The test key server itself answers SPEKE v2 errors as MediaPackage documents them (other
/// tests rely on it to judge the packager's requests).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_key_server_answers_speke_v2_errors() {
    let speke = Speke::start();
    let doc = |root_attrs: &str, keys: &str| {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><cpix:CPIX {root_attrs} xmlns:cpix="urn:dashif:org:cpix"><cpix:ContentKeyList>{keys}</cpix:ContentKeyList></cpix:CPIX>"#
        )
    };
    let k = |n: u8, scheme: Option<&str>| {
        format!(
            r#"<cpix:ContentKey kid="a1b2c3d4-0000-4000-8000-00000000000{n}"{}/>"#,
            scheme
                .map(|s| format!(r#" commonEncryptionScheme="{s}""#))
                .unwrap_or_default()
        )
    };
    let post = |version: &'static str, body: String| {
        let url = speke.endpoint();
        async move {
            let r = raw(
                "POST",
                &url,
                &[("x-speke-version", version)],
                body.into_bytes(),
                None,
            )
            .await;
            (r.status, r.body)
        }
    };
    let cases = [
        (
            "2.0",
            doc(r#"version="2.3""#, &k(1, Some("cenc"))),
            "Missing CPIX@contentId",
        ),
        (
            "2.0",
            doc(r#"contentId="c""#, &k(1, Some("cenc"))),
            "Missing CPIX@version",
        ),
        (
            "2.0",
            doc(r#"contentId="c" version="2.2""#, &k(1, Some("cenc"))),
            "Unsupported CPIX@version",
        ),
        (
            "2.0",
            doc(r#"contentId="c" version="2.3""#, &k(1, None)),
            "Missing ContentKey@commonEncryptionScheme for KID a1b2c3d4-0000-4000-8000-000000000001",
        ),
        (
            "2.0",
            doc(
                r#"contentId="c" version="2.3""#,
                &format!("{}{}", k(1, Some("cenc")), k(2, Some("cbcs"))),
            ),
            "Non compliant ContentKey@commonEncryptionScheme combination",
        ),
        (
            "3.0",
            doc(r#"contentId="c" version="2.3""#, &k(1, Some("cenc"))),
            "Unsupported SPEKE version",
        ),
    ];
    for (version, body, want) in cases {
        let (status, text) = post(version, body).await;
        assert_eq!((status, text.as_str()), (422, want));
    }
    let (status, text) = post(
        "2.0",
        doc(r#"contentId="c" version="2.3""#, &k(1, Some("cenc"))),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("PlainValue"), "{text}");
}

/// SPEKE v1 for Smooth (PlayReady header + PSSH) and CMAF (Widevine PSSH + HLS key tag data)
/// against the test key server: what each output asks for comes back, decoded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_smooth_and_cmaf_signals_come_back() {
    use base64::Engine;
    let speke = Speke::start();
    let e = env().await;
    let url = speke.endpoint();
    let mss = add_config(
        &*e.repo,
        "mss",
        json!({"mssPackage": {"mssManifests": [{}], "encryption": {
            "spekeKeyProvider": speke_json(&url, &[PLAYREADY], None)}}}),
    )
    .await;
    let cmaf = add_config(
        &*e.repo,
        "cmaf",
        json!({"cmafPackage": {"hlsManifests": [{}], "encryption": {
            "spekeKeyProvider": speke_json(&url, &[WIDEVINE], None)}}}),
    )
    .await;
    let asset = add_asset(&*e.repo, "a", Some("movie")).await;
    let keys = keys_for(&e.repo, settings());

    let ks = keys.get(&asset, &mss).await.unwrap();
    assert_server_keys(&speke, "movie", &ks).await;
    let pr = &ks.systems[0];
    let pro = base64::engine::general_purpose::STANDARD
        .decode(pr.protection_header.as_ref().unwrap())
        .unwrap();
    // The PSSH of the same system carries exactly that PlayReady Object.
    let pssh = pr.pssh.as_ref().unwrap();
    assert_eq!(&pssh[32..], &pro[..]);
    let body = reqs_body(&speke, 0).await;
    assert!(
        body.contains("ProtectionHeader") && !body.contains("version=\"2.3\""),
        "{body}"
    );

    let ks = keys.get(&asset, &cmaf).await.unwrap();
    assert_server_keys(&speke, "movie", &ks).await;
    let wv = &ks.systems[0];
    assert!(wv.pssh.is_some());
    let uri = wv.uri_ext_x_key.as_deref().unwrap();
    assert!(uri.starts_with("data:text/plain;base64,"), "{uri}");
    assert_eq!(
        wv.key_format.as_deref(),
        Some("urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed")
    );
    assert_eq!(wv.key_format_versions.as_deref(), Some("1"));
}

async fn reqs_body(speke: &Speke, i: usize) -> String {
    speke.requests().await[i]["body"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `vodpack package` takes a loopback key server URL when `--speke-allow-http-hosts` names its
/// host (as `serve` does: it once validated the configuration with no host allowed, so a
/// package run against the test key server was refused before any key request), and without
/// it refuses the URL before any key request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn package_calls_an_allowed_http_key_server() {
    let speke = Speke::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        json!({"id": "dash", "dashPackage": {"dashManifests": [{}], "encryption": {
            "spekeKeyProvider": speke_json(&speke.endpoint(), &[WIDEVINE], None)}}})
        .to_string(),
    )
    .unwrap();
    let run = |allow: bool| {
        let mut cmd = std::process::Command::new(bin());
        cmd.arg("package")
            .arg(media_dir().join("two_audio.mp4"))
            .arg("--config")
            .arg(&config)
            .arg("--out")
            .arg(dir.path().join(if allow { "allowed" } else { "refused" }))
            .args(["--content-id", "title-7"])
            .env_remove("VODPACK_SPEKE_ALLOW_HTTP_HOSTS");
        if allow {
            cmd.args(["--speke-allow-http-hosts", "127.0.0.1"]);
        }
        cmd.output().unwrap()
    };
    let refused = run(false);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("must be an https:// URL"), "{stderr}");
    assert!(speke.requests().await.is_empty());

    let allowed = run(true);
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    let reqs = speke.requests().await;
    assert_eq!(reqs.len(), 1, "one key request");
    assert!(
        reqs[0]["body"].as_str().unwrap_or("").contains("title-7"),
        "{:?}",
        reqs[0]
    );
    assert!(dir.path().join("allowed/index/index.mpd").exists());
}
