//! The process around the API: persistence across `kill -9`, graceful shutdown, concurrent
//! creates, generated credentials, and refusing to run unauthenticated on a public address.

mod common;

use std::process::Command;

use aws_sdk_mediapackagevod as mpv;
use common::*;
use mpv::types::*;

fn public_url_opts() -> Options {
    Options {
        extra_args: vec!["--public-url".into(), "https://cdn.example.test/".into()],
        ..Options::default()
    }
}

#[tokio::test]
async fn everything_acknowledged_survives_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let opts = public_url_opts();
    let mut server = Server::spawn(&data, &opts);
    let c = server.client();
    let g = c
        .create_packaging_group()
        .id("g")
        .tags("k", "v")
        .egress_access_logs(EgressAccessLogs::builder().build())
        .send()
        .await
        .unwrap();
    let pc = c
        .create_packaging_configuration()
        .id("dash")
        .packaging_group_id("g")
        .dash_package(
            DashPackage::builder()
                .segment_duration_seconds(4)
                .dash_manifests(DashManifest::builder().manifest_name("m").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut assets = Vec::new();
    for i in 0..20 {
        let a = c
            .create_asset()
            .id(format!("a{i}"))
            .packaging_group_id("g")
            .source_arn(format!("arn:aws:s3:::bucket/a{i}.smil"))
            .source_role_arn("arn:aws:iam::111122223333:role/r")
            .send()
            .await
            .unwrap();
        assets.push(a);
    }
    c.tag_resource()
        .resource_arn(pc.arn().unwrap())
        .tags("late", "tag")
        .send()
        .await
        .unwrap();
    c.delete_asset().id("a19").send().await.unwrap();
    let last_token = c
        .list_assets()
        .max_results(5)
        .send()
        .await
        .unwrap()
        .next_token()
        .map(String::from);

    server.kill9();
    let server = Server::spawn(&data, &opts);
    let c = server.client();

    let g2 = c.describe_packaging_group().id("g").send().await.unwrap();
    assert_eq!(g2.created_at(), g.created_at());
    assert_eq!(g2.tags(), g.tags());
    assert!(g2.egress_access_logs().is_some());
    assert_eq!(g2.approximate_asset_count(), Some(19));
    let pc2 = c
        .describe_packaging_configuration()
        .id("dash")
        .send()
        .await
        .unwrap();
    assert_eq!(pc2.dash_package(), pc.dash_package());
    assert_eq!(
        pc2.tags().unwrap().get("late").map(String::as_str),
        Some("tag")
    );
    for a in &assets[..19] {
        let d = c.describe_asset().id(a.id().unwrap()).send().await.unwrap();
        assert_eq!(d.created_at(), a.created_at());
        // Egress URLs are stable across restarts (the status moves on: these sources do not exist).
        assert_eq!(urls(d.egress_endpoints()), urls(a.egress_endpoints()));
        assert!(
            d.egress_endpoints()[0]
                .url()
                .unwrap()
                .starts_with("https://cdn.example.test/out/v1/")
        );
    }
    let gone = c.describe_asset().id("a19").send().await;
    assert!(
        gone.unwrap_err()
            .into_service_error()
            .is_not_found_exception()
    );
    // A token handed out before the crash still works and means the same thing.
    let page = c.list_assets().max_results(5).send().await.unwrap();
    assert_eq!(page.next_token().map(String::from), last_token);
    let rest = c
        .list_assets()
        .next_token(last_token.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.assets().first().and_then(|a| a.id()), Some("a5"));
    assert_eq!(rest.assets().len(), 14);
}

#[tokio::test]
async fn sigterm_is_a_clean_shutdown() {
    let mut server = Server::start();
    let c = server.client();
    c.create_packaging_group().id("g").send().await.unwrap();
    assert_eq!(server.terminate(), Some(0));
    let server = Server::spawn(&server.data_dir.clone(), &Options::default());
    let c = server.client();
    assert!(c.describe_packaging_group().id("g").send().await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_id_have_one_winner() {
    let server = Server::start_with(Options {
        extra_args: vec!["--max-packaging-groups".into(), "1000".into()],
        ..Options::default()
    });
    let c = server.client();
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.create_packaging_group().id("same").send().await
        }));
    }
    let mut ok = 0;
    let mut dup = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => {
                assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(422));
                assert!(e.into_service_error().is_unprocessable_entity_exception());
                dup += 1;
            }
        }
    }
    assert_eq!((ok, dup), (1, 23));

    // Same for assets racing against a per-group quota: exactly the quota is created.
    let server2 = Server::start_with(Options {
        env: vec![("VODPACK_MAX_ASSETS_PER_GROUP".into(), "5".into())],
        ..Options::default()
    });
    let c2 = server2.client();
    create_group_q(&c2).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let c2 = c2.clone();
        tasks.push(tokio::spawn(async move {
            c2.create_asset()
                .id(format!("a{i}"))
                .packaging_group_id("q")
                .source_arn("arn:aws:s3:::bucket/k.mp4")
                .source_role_arn("arn:aws:iam::111122223333:role/r")
                .send()
                .await
        }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => created += 1,
            Err(e) => assert!(e.into_service_error().is_too_many_requests_exception()),
        }
    }
    assert_eq!(created, 5);
    let listed = c2.list_assets().send().await.unwrap();
    assert_eq!(listed.assets().len(), 5);
}

fn urls(eps: &[EgressEndpoint]) -> Vec<(Option<&str>, Option<&str>)> {
    eps.iter()
        .map(|e| (e.packaging_configuration_id(), e.url()))
        .collect()
}

async fn create_group_q(c: &mpv::Client) {
    c.create_packaging_group().id("q").send().await.unwrap();
}

#[tokio::test]
async fn generated_credentials_work_and_persist() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let opts = Options {
        configured_credentials: false,
        ..Options::default()
    };
    let mut server = Server::spawn(&data, &opts);
    let file = std::fs::read_to_string(data.join("credentials")).expect("credentials file");
    let field = |name: &str| {
        file.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim_start_matches([' ', '=']).trim().to_string())
            .unwrap_or_else(|| panic!("{name} in {file}"))
    };
    let (key, secret) = (field("aws_access_key_id"), field("aws_secret_access_key"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("credentials"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "credentials file must not be readable by others"
        );
    }
    // The start-up banner tells where they are and how to use them.
    let banner = server.stdout_lines.join("\n");
    assert!(banner.contains(&key), "{banner}");
    assert!(banner.contains("AWS_SHARED_CREDENTIALS_FILE="), "{banner}");
    assert!(banner.contains(&server.endpoint), "{banner}");
    let c = sdk_client(&server.endpoint, &key, &secret, REGION);
    c.create_packaging_group()
        .id("g")
        .send()
        .await
        .expect("generated credentials accepted");
    let wrong = sdk_client(&server.endpoint, ACCESS_KEY, SECRET_KEY, REGION);
    assert!(wrong.list_packaging_groups().send().await.is_err());
    server.kill9();

    let server = Server::spawn(&data, &opts);
    let c = sdk_client(&server.endpoint, &key, &secret, REGION);
    assert!(c.describe_packaging_group().id("g").send().await.is_ok());
}

#[tokio::test]
async fn authentication_cannot_be_turned_off_on_a_public_address() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args([
            "serve",
            "--insecure-no-auth",
            "--listen",
            "0.0.0.0:0",
            "--data-dir",
        ])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loopback"), "{err}");

    // On loopback it works, unsigned.
    let server = Server::start_with(Options {
        extra_args: vec!["--insecure-no-auth".into()],
        configured_credentials: false,
        ..Options::default()
    });
    let r = raw("GET", &server.url("/packaging_groups"), &[], vec![], None).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Bad settings are refused with a clear message, not a panic.
    let out = Command::new(bin())
        .args([
            "serve",
            "--account-id",
            "12",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("12 digits"));
}
