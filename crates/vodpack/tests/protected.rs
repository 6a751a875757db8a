//! Protected content is never served in the clear: when the keys of a packaging configuration
//! with `encryption` cannot be had (here: a key server that cannot be reached), every file of
//! every format (manifests, init sections, segments) answers 503 with a JSON reason and
//! `Retry-After`, and `vodpack package` fails and writes no media.

mod common;

use common::*;
use mpv::types::*;

use aws_sdk_mediapackagevod as mpv;

fn speke(url: &str, system_id: &str) -> SpekeKeyProvider {
    SpekeKeyProvider::builder()
        .url(url)
        .role_arn("arn:aws:iam::111122223333:role/SpekeAccess")
        .system_ids(system_id)
        .build()
}

const WIDEVINE: &str = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed";
const PLAYREADY: &str = "9a04f079-9840-4286-ab92-e65be0885f95";
const FAIRPLAY: &str = "94ce86fb-07ff-4f43-adb8-93d2fa968ca2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_configurations_never_serve_clear_media() {
    let server = Server::start();
    let bucket = server.data_dir.join("buckets/media");
    std::fs::create_dir_all(&bucket).unwrap();
    std::fs::copy(
        media_dir().join("ladder/ladder_360p.mp4"),
        bucket.join("title.mp4"),
    )
    .unwrap();
    let c = server.client();
    c.create_packaging_group().id("g").send().await.unwrap();
    create_config(&c, "hls", |b| {
        b.hls_package(
            HlsPackage::builder()
                .encryption(
                    HlsEncryption::builder()
                        .encryption_method(EncryptionMethod::Aes128)
                        .speke_key_provider(speke("https://keys.example.com/speke", FAIRPLAY))
                        .build(),
                )
                .hls_manifests(HlsManifest::builder().build())
                .build(),
        )
    })
    .await;
    create_config(&c, "cmaf", |b| {
        b.cmaf_package(
            CmafPackage::builder()
                .encryption(
                    CmafEncryption::builder()
                        .speke_key_provider(speke("https://keys.example.com/speke", WIDEVINE))
                        .build(),
                )
                .hls_manifests(HlsManifest::builder().build())
                .build(),
        )
    })
    .await;
    create_config(&c, "dash", |b| {
        b.dash_package(
            DashPackage::builder()
                .encryption(
                    DashEncryption::builder()
                        .speke_key_provider(speke("https://keys.example.com/speke", WIDEVINE))
                        .build(),
                )
                .dash_manifests(DashManifest::builder().build())
                .build(),
        )
    })
    .await;
    create_config(&c, "mss", |b| {
        b.mss_package(
            MssPackage::builder()
                .encryption(
                    MssEncryption::builder()
                        .speke_key_provider(speke("https://keys.example.com/speke", PLAYREADY))
                        .build(),
                )
                .mss_manifests(MssManifest::builder().build())
                .build(),
        )
    })
    .await;
    // A clear configuration in the same group is served as usual (the refusal is not global).
    create_config(&c, "clear", |b| {
        b.hls_package(
            HlsPackage::builder()
                .hls_manifests(HlsManifest::builder().build())
                .build(),
        )
    })
    .await;
    let urls = create_asset(&c, "a", "arn:aws:s3:::media/title.mp4").await;
    assert_eq!(wait_ingest(&c, "a").await, ["PLAYABLE"; 5]);

    // Every file of every format: the names `vodpack package` writes for the same
    // configuration without encryption (every manifest, init section and segment).
    let clear: &[(&str, &str)] = &[
        ("hls", r#"{"hlsPackage":{"hlsManifests":[{}]}}"#),
        ("cmaf", r#"{"cmafPackage":{"hlsManifests":[{}]}}"#),
        ("dash", r#"{"dashPackage":{"dashManifests":[{}]}}"#),
        ("mss", r#"{"mssPackage":{"mssManifests":[{}]}}"#),
    ];
    let mut checked = 0;
    for (config, body) in clear {
        let files = package_files(&bucket.join("title.mp4"), body);
        assert!(files.len() > 3, "{config}: {files:?}");
        let url = &urls[*config];
        let base = &url[..url.find("/index.").unwrap()];
        for name in &files {
            let u = format!("{base}/{name}");
            let r = reqwest::get(&u).await.unwrap();
            assert_eq!(r.status(), 503, "{u}");
            assert!(r.headers().contains_key("retry-after"), "{u}");
            let ct = r.headers()["content-type"].to_str().unwrap().to_string();
            let body = r.text().await.unwrap();
            assert_eq!(ct, "application/json", "{u}");
            let reason: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(reason["reason"], "KeysUnavailable", "{u}: {body}");
            assert!(
                reason["message"]
                    .as_str()
                    .unwrap()
                    .contains("keys.example.com"),
                "{u}: {body}"
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "{checked} files");
    // The clear configuration of the same asset plays.
    decode(&urls["clear"]);

    // `vodpack package` cannot get the keys either: it fails and writes no media.
    let config = std::env::temp_dir().join(format!("vodpack-enc-{}.json", std::process::id()));
    std::fs::write(
        &config,
        r#"{"dashPackage":{"dashManifests":[{}],"encryption":{"spekeKeyProvider":{"url":"https://keys.example.com/speke","roleArn":"arn:aws:iam::111122223333:role/SpekeAccess","systemIds":["edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"]}}}}"#,
    )
    .unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(bin())
        .arg("package")
        .arg(bucket.join("title.mp4"))
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(out_dir.path())
        .output()
        .unwrap();
    std::fs::remove_file(&config).ok();
    assert!(
        !out.status.success(),
        "package wrote encrypted output in the clear"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("content keys"), "{stderr}");
    let written: Vec<_> = walkdir(out_dir.path());
    assert!(
        written.iter().all(|p| !p.ends_with(".mp4")),
        "media written: {written:?}"
    );
}

/// The files `vodpack package` writes for `source` × the configuration `body` (paths relative
/// to the manifest's folder, as in egress URLs).
fn package_files(source: &std::path::Path, body: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(&config, body).unwrap();
    let out = dir.path().join("out");
    let run = std::process::Command::new(bin())
        .arg("package")
        .arg(source)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let root = out.join("index");
    walkdir(&root)
        .into_iter()
        .map(|p| {
            p.strip_prefix(&format!("{}/", root.display()))
                .unwrap()
                .to_string()
        })
        .collect()
}

fn walkdir(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}
