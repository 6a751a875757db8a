//! Key providers against the reference CPIX documents (tests/fixtures/cpix, copied from the
//! research notes' `examples/`: their key values come from the notes' own derivation and their
//! PSSH bytes equal Shaka Packager's), and the `Keys` store with a counting provider.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use vodpack_media::package::keys::{Kid, parse_uuid};

use super::cpix::{self, CpixError, El, Request};
use super::*;
use crate::model::CreatePackagingConfigurationRequest;
use crate::repo::Quotas;

const V1_DASH_REQ: &str = include_str!("../../tests/fixtures/cpix/v1_dash_request.xml");
const V1_DASH_RESP: &str = include_str!("../../tests/fixtures/cpix/v1_dash_response.xml");
const V1_HLS_REQ: &str = include_str!("../../tests/fixtures/cpix/v1_hls_aes128_request.xml");
const V1_HLS_RESP: &str = include_str!("../../tests/fixtures/cpix/v1_hls_aes128_response.xml");
const V2_CMAF_REQ: &str = include_str!("../../tests/fixtures/cpix/v2_cmaf_fairplay_request.xml");
const V2_CMAF_RESP: &str = include_str!("../../tests/fixtures/cpix/v2_cmaf_fairplay_response.xml");
const V2_DASH_REQ: &str = include_str!("../../tests/fixtures/cpix/v2_dash_request.xml");
const V2_DASH_RESP: &str = include_str!("../../tests/fixtures/cpix/v2_dash_response.xml");

const WV: &str = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed";
const PR: &str = "9a04f079-9840-4286-ab92-e65be0885f95";
const FP: &str = "94ce86fb-07ff-4f43-adb8-93d2fa968ca2";
const AES: &str = "81376844-f976-481e-a84e-cc25d39b0b33";
/// The examples' keys (base64 `lisXT8pV…`, `XbprEZbK…`, decoded by Python) and explicit IV.
const KEY1: &str = "962b174fca555a60ffe7a356723f3d57";
const KEY2: &str = "5dba6b1196caa904a3e7f7402ff408cb";
const IV1: &str = "466b7215910ccd3dbffcb4321d68912e";

fn spec(v: serde_json::Value) -> PackageSpec {
    let req: CreatePackagingConfigurationRequest = serde_json::from_value(v).unwrap();
    crate::api::validate::package(&req).unwrap().spec()
}

fn speke(system_ids: &[&str], presets: Option<(&str, &str)>) -> serde_json::Value {
    let mut v = json!({
        "url": "https://keys.example.test/speke/v1.0/copyProtection",
        "roleArn": "arn:aws:iam::111122223333:role/speke",
        "systemIds": system_ids,
    });
    if let Some((video, audio)) = presets {
        v["encryptionContractConfiguration"] =
            json!({"presetSpeke20Video": video, "presetSpeke20Audio": audio});
    }
    v
}

fn dash(system_ids: &[&str], presets: Option<(&str, &str)>) -> PackageSpec {
    spec(json!({"dashPackage": {"dashManifests": [{}],
        "encryption": {"spekeKeyProvider": speke(system_ids, presets)}}}))
}

fn hls(system_id: &str) -> PackageSpec {
    spec(json!({"hlsPackage": {"hlsManifests": [{}],
        "encryption": {"spekeKeyProvider": speke(&[system_id], None)}}}))
}

fn cmaf(system_id: &str, presets: Option<(&str, &str)>) -> PackageSpec {
    spec(json!({"cmafPackage": {"hlsManifests": [{}],
        "encryption": {"spekeKeyProvider": speke(&[system_id], presets)}}}))
}

fn mss(system_id: &str) -> PackageSpec {
    spec(json!({"mssPackage": {"mssManifests": [{}],
        "encryption": {"spekeKeyProvider": speke(&[system_id], None)}}}))
}

/// The examples' KIDs: `a1b2c3d4-0000-4000-8000-00000000000<n>` in request order.
fn example_plan(spec: &PackageSpec) -> Request {
    let mut n = 0u8;
    cpix::plan_with("asset-123", spec, |_| {
        n += 1;
        let mut k = parse_uuid("a1b2c3d4-0000-4000-8000-000000000000").unwrap();
        k[15] = n;
        k
    })
    .unwrap()
}

fn kid(n: u8) -> Kid {
    let mut k = parse_uuid("a1b2c3d4-0000-4000-8000-000000000000").unwrap();
    k[15] = n;
    k
}

/// The element tree with whitespace-only text dropped and attributes sorted: what
/// "structurally equal" compares (namespaces by URI, not prefix).
fn shape(e: &El) -> El {
    let mut attrs = e.attrs.clone();
    attrs.sort();
    El {
        ns: e.ns.clone(),
        name: e.name.clone(),
        attrs,
        text: e.text.trim().to_string(),
        children: e.children.iter().map(shape).collect(),
    }
}

fn assert_same_structure(ours: &str, example: &str) {
    let a = shape(&cpix::parse_tree(ours).unwrap());
    let b = shape(&cpix::parse_tree(example).unwrap());
    assert_eq!(a, b, "our request:\n{ours}\nexample:\n{example}");
}

#[test]
fn requests_match_the_examples() {
    assert_same_structure(&example_plan(&dash(&[WV, PR], None)).to_xml(), V1_DASH_REQ);
    assert_same_structure(&example_plan(&hls(AES)).to_xml(), V1_HLS_REQ);
    assert_same_structure(
        &example_plan(&cmaf(FP, Some(("SHARED", "SHARED")))).to_xml(),
        V2_CMAF_REQ,
    );
    assert_same_structure(
        &example_plan(&dash(&[WV, PR], Some(("PRESET-VIDEO-1", "PRESET-AUDIO-1")))).to_xml(),
        V2_DASH_REQ,
    );
    // A different request does differ (the comparison can fail).
    let other = example_plan(&dash(&[WV], None)).to_xml();
    let a = shape(&cpix::parse_tree(&other).unwrap());
    let b = shape(&cpix::parse_tree(V1_DASH_REQ).unwrap());
    assert_ne!(a, b);
}

#[test]
fn request_details_per_output() {
    // Smooth v1: PlayReady ProtectionHeader + PSSH; CMAF v1 Widevine: PSSH + HLS children.
    let m = example_plan(&mss(PR)).to_xml();
    assert!(
        m.contains("<speke:ProtectionHeader/>") && m.contains("<cpix:PSSH/>"),
        "{m}"
    );
    assert!(
        m.contains("id=\"asset-123\"") && !m.contains("version=\"2.3\""),
        "{m}"
    );
    let c = example_plan(&cmaf(WV, Some(("PRESET-VIDEO-2", "PRESET-AUDIO-2"))));
    assert_eq!(c.scheme, Some("cbcs"));
    assert_eq!(c.keys.len(), 4);
    let x = c.to_xml();
    assert!(
        x.contains("maxPixels=\"589824\"") && x.contains("minChannels=\"3\""),
        "{x}"
    );
    assert!(
        x.contains("<cpix:PSSH/>") && x.contains("playlist=\"master\""),
        "{x}"
    );
    // Content ids are escaped.
    let r = cpix::plan_with("a&b\"<", &hls(AES), |_| [0; 16]).unwrap();
    let t = cpix::parse_tree(&r.to_xml()).unwrap();
    assert_eq!(t.attr("id"), Some("a&b\"<"));
}

#[test]
fn presets_give_the_documented_keys() {
    let names = |v, a| {
        cpix::preset_keys(v, a)
            .unwrap()
            .into_iter()
            .map(|u| (u.track_type, u.filters.len()))
            .collect::<Vec<_>>()
    };
    assert_eq!(names("SHARED", "SHARED"), vec![("ALL".to_string(), 2)]);
    assert_eq!(
        names("PRESET-VIDEO-7", "UNENCRYPTED"),
        vec![
            ("SD+HD1".to_string(), 2),
            ("HD2".to_string(), 1),
            ("UHD".to_string(), 1)
        ]
    );
    assert_eq!(
        names("UNENCRYPTED", "PRESET-AUDIO-3")
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        [
            "STEREO_AUDIO",
            "MULTICHANNEL_AUDIO_3_6",
            "MULTICHANNEL_AUDIO_7"
        ]
    );
    assert_eq!(
        cpix::preset_keys("PRESET-VIDEO-9", "PRESET-AUDIO-1"),
        Err(CpixError::UnknownPreset("PRESET-VIDEO-9".into()))
    );
    assert_eq!(
        cpix::preset_keys("UNENCRYPTED", "UNENCRYPTED"),
        Err(CpixError::NoKeys)
    );
}

#[test]
fn kids_are_stable_and_distinct() {
    let a = cpix::derive_kid("res", "cfg", "SD");
    assert_eq!(a, cpix::derive_kid("res", "cfg", "SD"));
    assert_ne!(a, cpix::derive_kid("res", "cfg", "HD"));
    assert_ne!(a, cpix::derive_kid("res", "cfg2", "SD"));
    assert_ne!(a, cpix::derive_kid("res2", "cfg", "SD"));
    // Field boundaries matter: ("ab","c") is not ("a","bc").
    assert_ne!(
        cpix::derive_kid("ab", "c", "SD"),
        cpix::derive_kid("a", "bc", "SD")
    );
    assert_eq!(a[6] >> 4, 5, "version 5");
    assert_eq!(a[8] >> 6, 0b10, "RFC 4122 variant");
    let p = cpix::plan("res", "cfg", &dash(&[WV], Some(("SHARED", "SHARED")))).unwrap();
    assert_eq!(p.keys[0].1, cpix::derive_kid("res", "cfg", "ALL"));
}

#[test]
fn responses_yield_the_example_keys() {
    // v1 DASH: one key, Widevine PSSH and PlayReady header + PSSH.
    let ks = cpix::parse_response(
        &example_plan(&dash(&[WV, PR], None)),
        V1_DASH_RESP.as_bytes(),
    )
    .unwrap();
    assert_eq!(ks.keys.len(), 1);
    assert_eq!(ks.keys[0].1.kid, kid(1));
    assert_eq!(hex::encode(ks.keys[0].1.key), KEY1);
    assert_eq!(ks.keys[0].1.explicit_iv, None);
    assert_eq!(ks.systems.len(), 2);
    let wv = &ks.systems[0];
    assert_eq!(wv.system_id, parse_uuid(WV).unwrap());
    let pssh = wv.pssh.as_ref().unwrap();
    // `pssh` v0, Widevine, data = protobuf key_id (tag 0x12, len 16, the KID) + scheme.
    assert_eq!(&pssh[4..8], b"pssh");
    assert_eq!(&pssh[32..34], &[0x12, 0x10]);
    assert_eq!(&pssh[34..50], &kid(1));
    let pr = &ks.systems[1];
    assert!(
        pr.protection_header
            .as_ref()
            .unwrap()
            .starts_with("BgIAAAEAAQD8ATwAVwBSAE0A")
    );
    assert_eq!(pr.pssh.as_ref().unwrap().len(), 0x226);

    // v1 HLS AES-128: the key, its explicit IV, the key URI and key format.
    let ks = cpix::parse_response(&example_plan(&hls(AES)), V1_HLS_RESP.as_bytes()).unwrap();
    let k = &ks.keys[0].1;
    assert_eq!(hex::encode(k.key), KEY1);
    assert_eq!(k.explicit_iv.map(hex::encode).as_deref(), Some(IV1));
    let s = &ks.systems[0];
    assert_eq!(
        s.uri_ext_x_key.as_deref(),
        Some("https://keys.example.test/asset-123/a1b2c3d4-0000-4000-8000-000000000001")
    );
    assert_eq!(s.key_format.as_deref(), Some("identity"));
    assert_eq!(s.key_format_versions.as_deref(), Some("1"));

    // v2 CMAF FairPlay: the HLS signalling lines.
    let ks = cpix::parse_response(
        &example_plan(&cmaf(FP, Some(("SHARED", "SHARED")))),
        V2_CMAF_RESP.as_bytes(),
    )
    .unwrap();
    assert_eq!(ks.keys[0].0, vodpack_media::package::keys::KeyUse::all());
    let s = &ks.systems[0];
    assert!(
        s.hls_media
            .as_deref()
            .unwrap()
            .starts_with("#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://asset-123/")
    );
    assert!(
        s.hls_master
            .as_deref()
            .unwrap()
            .starts_with("#EXT-X-SESSION-KEY:")
    );

    // v2 DASH: two keys, four systems, ContentProtectionData as XML text.
    let ks = cpix::parse_response(
        &example_plan(&dash(&[WV, PR], Some(("PRESET-VIDEO-1", "PRESET-AUDIO-1")))),
        V2_DASH_RESP.as_bytes(),
    )
    .unwrap();
    assert_eq!(hex::encode(ks.keys[0].1.key), KEY1);
    assert_eq!(hex::encode(ks.keys[1].1.key), KEY2);
    assert_eq!(ks.keys[0].0.track_type, "VIDEO");
    assert_eq!(ks.systems.len(), 4);
    assert_eq!(
        ks.systems[0].content_protection_data.as_deref(),
        Some(
            "<pssh xmlns=\"urn:mpeg:cenc:2013\">AAAAOHBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAABgSEKGyw9QAAEAAgAAAAAAAAAFI49yVmwY=</pssh>"
        )
    );
    assert_eq!(ks.signals_for(&kid(2)).count(), 2);
}

#[test]
fn responses_are_read_by_namespace_not_prefix() {
    let renamed = V1_HLS_RESP
        .replace("xmlns:cpix=", "xmlns:c=")
        .replace("<cpix:", "<c:")
        .replace("</cpix:", "</c:")
        .replace("xmlns:pskc=", "xmlns:pksc=")
        .replace("pskc:", "pksc:");
    let ks = cpix::parse_response(&example_plan(&hls(AES)), renamed.as_bytes()).unwrap();
    assert_eq!(hex::encode(ks.keys[0].1.key), KEY1);
    // The right prefix bound to the wrong namespace is not CPIX.
    let wrong = V1_HLS_RESP.replace("urn:dashif:org:cpix", "urn:example:other");
    assert_eq!(
        cpix::parse_response(&example_plan(&hls(AES)), wrong.as_bytes()),
        Err(CpixError::NotCpix)
    );
}

#[test]
fn kid_override_is_followed_consistently() {
    let plan = example_plan(&dash(&[WV, PR], None));
    let new = "0f0f0f0f-1111-4222-8333-444444444444";
    // The key server answers with another KID for the key and for its systems.
    let over = V1_DASH_RESP.replace("a1b2c3d4-0000-4000-8000-000000000001", new);
    let ks = cpix::parse_response(&plan, over.as_bytes()).unwrap();
    assert_eq!(ks.keys[0].1.kid, parse_uuid(new).unwrap());
    assert!(ks.systems.iter().all(|s| s.kid == parse_uuid(new).unwrap()));
    // Overridden on the key, the systems still under the asked KID: mapped to the new one.
    let key_only = V1_DASH_RESP.replacen("a1b2c3d4-0000-4000-8000-000000000001", new, 1);
    let ks = cpix::parse_response(&plan, key_only.as_bytes()).unwrap();
    assert!(ks.systems.iter().all(|s| s.kid == parse_uuid(new).unwrap()));
    // A system under a KID that is neither asked nor returned is refused.
    let stray = V1_DASH_RESP.replacen(
        "kid=\"a1b2c3d4-0000-4000-8000-000000000001\" systemId",
        "kid=\"99999999-0000-4000-8000-000000000001\" systemId",
        1,
    );
    assert_eq!(
        cpix::parse_response(&plan, stray.as_bytes()),
        Err(CpixError::UnexpectedKid(
            "99999999-0000-4000-8000-000000000001".into()
        ))
    );
}

#[test]
fn bad_responses_give_typed_errors_without_key_material() {
    let plan = example_plan(&dash(&[WV, PR], Some(("PRESET-VIDEO-1", "PRESET-AUDIO-1"))));
    let key1_b64 = "lisXT8pVWmD/56NWcj89Vw==";
    type Case = (String, fn(&CpixError) -> bool);
    let cases: Vec<Case> = vec![
        // Missing value of the second key.
        (
            V2_DASH_RESP.replacen(
                "<pskc:PlainValue>XbprEZbKqQSj5/dAL/QIyw==</pskc:PlainValue>",
                "",
                1,
            ),
            |e| matches!(e, CpixError::MissingKey(_)),
        ),
        // A key of 15 bytes.
        (
            V2_DASH_RESP.replacen(key1_b64, "lisXT8pVWmD/56NWcj89", 1),
            |e| matches!(e, CpixError::BadLength { len: 15, .. }),
        ),
        // Not base64.
        (
            V2_DASH_RESP.replacen(key1_b64, "lisXT8pV!!!/56NWcj89Vw==", 1),
            |e| matches!(e, CpixError::BadBase64 { field: "PlainValue", .. }),
        ),
        // One key dropped.
        (
            {
                let s = V2_DASH_RESP;
                let a = s.find("<cpix:ContentKey kid=\"a1b2c3d4-0000-4000-8000-000000000002\"").unwrap();
                let b = a + s[a..].find("</cpix:ContentKey>").unwrap() + "</cpix:ContentKey>".len();
                format!("{}{}", &s[..a], &s[b..])
            },
            |e| matches!(e, CpixError::MissingKey(_)),
        ),
        // A PSSH that is not a pssh box.
        (
            V2_DASH_RESP.replacen(
                "AAAAOHBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAABgSEKGyw9QAAEAAgAAAAAAAAAFI49yVmwY=</cpix:PSSH>",
                "aGVsbG8=</cpix:PSSH>",
                1,
            ),
            |e| matches!(e, CpixError::BadSignal { field: "PSSH", .. }),
        ),
        // A requested signal left empty.
        (
            V2_DASH_RESP.replacen(
                "AAAAOHBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAABgSEKGyw9QAAEAAgAAAAAAAAAFI49yVmwY=</cpix:PSSH>",
                "</cpix:PSSH>",
                1,
            ),
            |e| matches!(e, CpixError::MissingSignal { field: "PSSH", .. }),
        ),
        // A system missing.
        (
            V2_DASH_RESP.replace(PR, "11111111-2222-4333-8444-555555555555"),
            |e| matches!(e, CpixError::MissingSystem { .. }),
        ),
        // Not XML, not CPIX.
        ("<html><body>oops".into(), |e| matches!(e, CpixError::Xml(_))),
        ("<x/>".into(), |e| matches!(e, CpixError::NotCpix)),
        ("".into(), |e| matches!(e, CpixError::Xml(_))),
    ];
    for (i, (body, want)) in cases.iter().enumerate() {
        let err = cpix::parse_response(&plan, body.as_bytes()).unwrap_err();
        assert!(want(&err), "case {i}: {err:?}");
        let text = format!("{err} {err:?}");
        for secret in [key1_b64, KEY1, KEY2, "XbprEZbKqQSj5/dAL/QIyw=="] {
            assert!(!text.contains(secret), "case {i} leaks a key: {text}");
        }
    }
}

#[test]
fn stored_form_round_trips_and_hides_keys() {
    let ks = cpix::parse_response(
        &example_plan(&dash(&[WV, PR], Some(("PRESET-VIDEO-1", "PRESET-AUDIO-1")))),
        V2_DASH_RESP.as_bytes(),
    )
    .unwrap();
    let stored = StoredKeySet::from_key_set(&ks);
    let json = serde_json::to_string(&stored).unwrap();
    assert!(json.contains(KEY1), "keys are stored as hex");
    let back: StoredKeySet = serde_json::from_str(&json).unwrap();
    assert_eq!(back.to_key_set().unwrap(), ks);
    let dbg = format!("{back:?}");
    assert!(!dbg.contains(KEY1) && !dbg.contains(KEY2), "{dbg}");
    let mut damaged = back.clone();
    damaged.keys[0].key = "00".into();
    assert!(damaged.to_key_set().is_err());
}

#[test]
fn url_policy() {
    let p = UrlPolicy::from_list("127.0.0.1, localhost");
    assert_eq!(
        p.check("https://keys.example.com/speke").unwrap(),
        "keys.example.com"
    );
    assert_eq!(
        p.check("http://127.0.0.1:8123/x").unwrap(),
        "127.0.0.1:8123"
    );
    assert!(p.check("http://LOCALHOST/x").is_ok());
    assert!(
        p.check("http://keys.example.com/x")
            .unwrap_err()
            .contains("https")
    );
    assert!(p.check("ftp://keys.example.com/x").is_err());
    for bad in [
        "https://169.254.169.254/latest/meta-data",
        "https://169.254.1.1/",
        "https://[fd00:ec2::254]/",
        "https://[::ffff:169.254.169.254]/",
        "https://[fe80::1]/",
    ] {
        assert!(
            p.check(bad).unwrap_err().contains("link-local"),
            "{bad} must be refused"
        );
    }
    assert!(p.check("https://user:pw@keys.example.com/").is_err());
    assert!(p.check("https:// keys/").is_err());
    assert!(UrlPolicy::default().check("http://127.0.0.1/").is_err());
}

#[tokio::test]
async fn static_keys_parse_and_serve() {
    let s = StaticKeys::parse(&format!("a1b2c3d4-0000-4000-8000-000000000001={KEY1}")).unwrap();
    let spec = hls(AES);
    let req = KeyRequest {
        content_id: "x",
        config_id: "c",
        spec: &spec,
    };
    let ks = s.keys(&req).await.unwrap();
    assert_eq!(ks.keys.len(), 1);
    assert_eq!(hex::encode(ks.keys[0].1.key), KEY1);
    for bad in ["", "abc", "a1b2c3d4000040008000000000000001=00", "zz=00"] {
        let e = StaticKeys::parse(bad).unwrap_err();
        assert!(matches!(e, KeyError::Config(_)), "{bad}: {e}");
    }
    let e = StaticKeys::parse(&format!("a1b2c3d4000040008000000000000001={KEY1}x")).unwrap_err();
    assert!(!e.to_string().contains(KEY1), "{e}");
    assert!(!format!("{s:?}").contains(KEY1));
    // Two keys for a preset with four: refused.
    let two = StaticKeys::parse(&format!(
        "a1b2c3d4000040008000000000000001={KEY1},a1b2c3d4000040008000000000000002={KEY2}"
    ))
    .unwrap();
    let spec = dash(&[WV], Some(("PRESET-VIDEO-2", "PRESET-AUDIO-2")));
    let req = KeyRequest {
        content_id: "x",
        config_id: "c",
        spec: &spec,
    };
    assert!(matches!(two.keys(&req).await, Err(KeyError::Config(_))));
}

/// Answers a fixed key set (or fails) and counts its calls.
struct Counting {
    calls: AtomicUsize,
    fail: bool,
}

#[async_trait]
impl KeyProvider for Counting {
    async fn keys(&self, req: &KeyRequest<'_>) -> Result<KeySet, KeyError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if self.fail {
            return Err(KeyError::Status {
                host: "k".into(),
                status: 500,
            });
        }
        StaticKeys::parse(&format!(
            "{}={KEY1}",
            vodpack_media::package::keys::uuid_text(&cpix::derive_kid(
                req.content_id,
                req.config_id,
                "ALL"
            ))
        ))?
        .keys(req)
        .await
    }
}

async fn repo_with_pair() -> (
    Arc<dyn Repository>,
    AssetRecord,
    ConfigRecord,
    std::path::PathBuf,
) {
    use crate::repo::{AssetStatus, GroupRecord};
    let dir = std::env::temp_dir().join(format!("vodpack-keys-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let repo: Arc<dyn Repository> = Arc::new(
        crate::repo::sqlite::SqliteRepository::open(&dir.join("db.sqlite3"))
            .await
            .unwrap(),
    );
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
    let req: CreatePackagingConfigurationRequest = serde_json::from_value(json!({
        "hlsPackage": {"hlsManifests": [{}],
            "encryption": {"spekeKeyProvider": speke(&[AES], None)}}}))
    .unwrap();
    let config = ConfigRecord {
        id: "c".into(),
        packaging_group_id: "g".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        package: crate::api::validate::package(&req).unwrap(),
        egress_id: "e0000000000000000000000000000001".into(),
        tags: Default::default(),
    };
    repo.create_config(&config, Quotas::default())
        .await
        .unwrap();
    let asset = AssetRecord {
        id: "a".into(),
        packaging_group_id: "g".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        source_arn: "arn:aws:s3:::b/a.mp4".into(),
        source_role_arn: "arn:aws:iam::111122223333:role/r".into(),
        resource_id: Some("res-a".into()),
        egress_id: "a0000000000000000000000000000001".into(),
        status: AssetStatus::Playable,
        ingest_error: None,
        tags: Default::default(),
        incarnation: 1,
        incarnated_at: None,
        ingest_attempts: 0,
    };
    repo.create_asset(&asset, Quotas::default()).await.unwrap();
    (repo, asset, config, dir)
}

#[tokio::test]
async fn keys_are_fetched_once_stored_and_failures_remembered() {
    let (repo, asset, config, dir) = repo_with_pair().await;
    let provider = Arc::new(Counting {
        calls: AtomicUsize::new(0),
        fail: false,
    });
    let keys = Keys::new(repo.clone(), provider.clone());
    let all = futures::future::join_all((0..32).map(|_| {
        let keys = keys.clone();
        let (a, c) = (asset.clone(), config.clone());
        async move { keys.get(&a, &c).await.unwrap() }
    }))
    .await;
    assert_eq!(
        provider.calls.load(Ordering::SeqCst),
        1,
        "one provider call"
    );
    assert!(all.iter().all(|k| k == &all[0]));
    // A new service object over the same repository (a restart, another node): no call.
    let provider2 = Arc::new(Counting {
        calls: AtomicUsize::new(0),
        fail: false,
    });
    let keys2 = Keys::new(repo.clone(), provider2.clone());
    assert_eq!(keys2.get(&asset, &config).await.unwrap(), all[0]);
    assert_eq!(provider2.calls.load(Ordering::SeqCst), 0);
    // The content id is the resourceId.
    assert_eq!(all[0].keys[0].1.kid, cpix::derive_kid("res-a", "c", "ALL"));

    // Failures: shared by concurrent callers, then answered from memory for a while.
    repo.delete_asset("a").await.unwrap();
    let mut asset_b = asset.clone();
    asset_b.egress_id = "a0000000000000000000000000000002".into();
    repo.create_asset(&asset_b, Quotas::default())
        .await
        .unwrap();
    let failing = Arc::new(Counting {
        calls: AtomicUsize::new(0),
        fail: true,
    });
    let keys3 = Keys::with_failure_ttl(
        repo.clone(),
        failing.clone(),
        std::time::Duration::from_millis(300),
    );
    let errs = futures::future::join_all((0..8).map(|_| {
        let keys = keys3.clone();
        let (a, c) = (asset_b.clone(), config.clone());
        async move { keys.get(&a, &c).await.unwrap_err() }
    }))
    .await;
    assert!(
        errs.iter()
            .all(|e| matches!(e, KeyError::Status { status: 500, .. }))
    );
    assert_eq!(failing.calls.load(Ordering::SeqCst), 1);
    assert!(keys3.get(&asset_b, &config).await.is_err());
    assert_eq!(
        failing.calls.load(Ordering::SeqCst),
        1,
        "failure remembered"
    );
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(keys3.get(&asset_b, &config).await.is_err());
    assert_eq!(failing.calls.load(Ordering::SeqCst), 2, "asked again later");
    // The deleted asset's keys went with it.
    assert!(repo.get_keys("a", "c").await.unwrap().is_none());
    let _ = std::fs::remove_dir_all(dir);
}

/// Damaged answers (every truncation, bytes flipped) are errors or answers, never panics.
#[test]
fn damaged_responses_never_panic() {
    let docs = [
        (example_plan(&dash(&[WV, PR], None)), V1_DASH_RESP),
        (example_plan(&hls(AES)), V1_HLS_RESP),
        (
            example_plan(&cmaf(FP, Some(("SHARED", "SHARED")))),
            V2_CMAF_RESP,
        ),
        (
            example_plan(&dash(&[WV, PR], Some(("PRESET-VIDEO-1", "PRESET-AUDIO-1")))),
            V2_DASH_RESP,
        ),
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for (plan, doc) in &docs {
        let b = doc.as_bytes();
        for cut in 0..b.len() {
            let _ = cpix::parse_response(plan, &b[..cut]);
        }
        for _ in 0..2000 {
            let mut m = b.to_vec();
            for _ in 0..1 + next() % 4 {
                let i = (next() as usize) % m.len();
                m[i] = next() as u8;
            }
            let _ = cpix::parse_response(plan, &m);
        }
    }
}
