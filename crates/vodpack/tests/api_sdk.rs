//! All 17 operations and their error cases, driven by the official `aws-sdk-mediapackagevod`
//! client against the real `vodpack` binary.

mod common;

use aws_sdk_mediapackagevod as mpv;
use common::*;
use mpv::error::{ProvideErrorMetadata, SdkError};
use mpv::types::*;

/// (HTTP status, error code) of a failed SDK call.
fn failure<E: ProvideErrorMetadata, R: std::fmt::Debug>(
    r: Result<R, SdkError<E, mpv::config::http::HttpResponse>>,
) -> (u16, String, String) {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => {
            let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
            let code = e.code().unwrap_or("<none>").to_string();
            let msg = e.message().unwrap_or("").to_string();
            (status, code, msg)
        }
    }
}

fn assert_422<E: ProvideErrorMetadata, R: std::fmt::Debug>(
    r: Result<R, SdkError<E, mpv::config::http::HttpResponse>>,
    needle: &str,
) {
    let (status, code, msg) = failure(r);
    assert_eq!(
        (status, code.as_str()),
        (422, "UnprocessableEntityException"),
        "message: {msg}"
    );
    assert!(
        msg.contains(needle),
        "message {msg:?} should mention {needle:?}"
    );
}

fn is_rfc3339(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

fn speke(url: &str, ids: &[&str]) -> SpekeKeyProvider {
    let mut b = SpekeKeyProvider::builder()
        .url(url)
        .role_arn("arn:aws:iam::111122223333:role/SpekeAccess");
    for id in ids {
        b = b.system_ids(*id);
    }
    b.build()
}

const WIDEVINE: &str = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed";
const PLAYREADY: &str = "9a04f079-9840-4286-ab92-e65be0885f95";
const FAIRPLAY: &str = "94ce86fb-07ff-4f43-adb8-93d2fa968ca2";

fn hls_config(client: &mpv::Client, id: &str, group: &str) -> mpv::operation::create_packaging_configuration::builders::CreatePackagingConfigurationFluentBuilder{
    client
        .create_packaging_configuration()
        .id(id)
        .packaging_group_id(group)
        .hls_package(
            HlsPackage::builder()
                .hls_manifests(HlsManifest::builder().build())
                .build(),
        )
}

#[tokio::test]
async fn packaging_group_operations() {
    let server = Server::start();
    let c = server.client();

    let auth = Authorization::builder()
        .cdn_identifier_secret("arn:aws:secretsmanager:us-east-1:111122223333:secret:cdn-AbCdEf")
        .secrets_role_arn("arn:aws:iam::111122223333:role/CdnSecrets")
        .build();
    let created = c
        .create_packaging_group()
        .id("group_1")
        .authorization(auth.clone())
        .egress_access_logs(
            EgressAccessLogs::builder()
                .log_group_name("/aws/MediaPackage/MyGroupLogs")
                .build(),
        )
        .tags("team", "video")
        .tags("env", "test")
        .send()
        .await
        .expect("create group");
    assert_eq!(created.id(), Some("group_1"));
    assert_eq!(
        created.arn(),
        Some("arn:aws:mediapackage-vod:us-east-1:111122223333:packaging-groups/group_1")
    );
    assert!(is_rfc3339(created.created_at().unwrap()));
    let host = server.endpoint.trim_start_matches("http://");
    assert_eq!(created.domain_name(), Some(host));
    assert_eq!(created.authorization(), Some(&auth));
    assert_eq!(
        created.tags().unwrap().get("team").map(String::as_str),
        Some("video")
    );

    let described = c
        .describe_packaging_group()
        .id("group_1")
        .send()
        .await
        .expect("describe");
    assert_eq!(described.approximate_asset_count(), Some(0));
    assert_eq!(described.created_at(), created.created_at());
    assert_eq!(
        described
            .egress_access_logs()
            .and_then(|l| l.log_group_name()),
        Some("/aws/MediaPackage/MyGroupLogs")
    );
    assert_eq!(described.tags().unwrap().len(), 2);

    // UpdatePackagingGroup: without authorization it clears it, with one it sets it.
    let cleared = c
        .update_packaging_group()
        .id("group_1")
        .send()
        .await
        .expect("update without authorization");
    assert!(cleared.authorization().is_none());
    assert_eq!(cleared.approximate_asset_count(), Some(0));
    let set = c
        .update_packaging_group()
        .id("group_1")
        .authorization(auth.clone())
        .send()
        .await
        .expect("update with authorization");
    assert_eq!(set.authorization(), Some(&auth));
    assert_eq!(set.id(), Some("group_1"));

    // ConfigureLogs: set, then disable by omission.
    let logs = c
        .configure_logs()
        .id("group_1")
        .egress_access_logs(
            EgressAccessLogs::builder()
                .log_group_name("/aws/MediaPackage/Other")
                .build(),
        )
        .send()
        .await
        .expect("configure logs");
    assert_eq!(
        logs.egress_access_logs().and_then(|l| l.log_group_name()),
        Some("/aws/MediaPackage/Other")
    );
    assert_eq!(logs.authorization(), Some(&auth));
    let off = c
        .configure_logs()
        .id("group_1")
        .send()
        .await
        .expect("disable logs");
    assert!(off.egress_access_logs().is_none());
    let d = c
        .describe_packaging_group()
        .id("group_1")
        .send()
        .await
        .unwrap();
    assert!(d.egress_access_logs().is_none());

    let listed = c.list_packaging_groups().send().await.expect("list");
    assert_eq!(listed.packaging_groups().len(), 1);
    assert_eq!(listed.packaging_groups()[0].id(), Some("group_1"));
    assert_eq!(
        listed.packaging_groups()[0].approximate_asset_count(),
        Some(0)
    );
    assert!(listed.next_token().is_none());

    c.delete_packaging_group()
        .id("group_1")
        .send()
        .await
        .expect("delete");
    let err = c
        .describe_packaging_group()
        .id("group_1")
        .send()
        .await
        .expect_err("gone");
    assert!(err.into_service_error().is_not_found_exception());
    let (status, code, _) = failure(c.delete_packaging_group().id("group_1").send().await);
    assert_eq!((status, code.as_str()), (404, "NotFoundException"));
    let (status, code, _) = failure(c.update_packaging_group().id("nope").send().await);
    assert_eq!((status, code.as_str()), (404, "NotFoundException"));
    let (status, code, _) = failure(c.configure_logs().id("nope").send().await);
    assert_eq!((status, code.as_str()), (404, "NotFoundException"));
}

#[tokio::test]
async fn packaging_configurations_of_every_kind() {
    let server = Server::start();
    let c = server.client();
    c.create_packaging_group().id("g").send().await.unwrap();
    c.create_packaging_group().id("other").send().await.unwrap();

    let hls = HlsPackage::builder()
        .segment_duration_seconds(6)
        .use_audio_rendition_group(true)
        .include_dvb_subtitles(false)
        .encryption(
            HlsEncryption::builder()
                .encryption_method(EncryptionMethod::SampleAes)
                .constant_initialization_vector("0123456789abcdef0123456789ABCDEF")
                .speke_key_provider(speke("https://keys.example.com/speke", &[FAIRPLAY]))
                .build(),
        )
        .hls_manifests(
            HlsManifest::builder()
                .manifest_name("main")
                .ad_markers(AdMarkers::Scte35Enhanced)
                .include_iframe_only_stream(true)
                .program_date_time_interval_seconds(60)
                .repeat_ext_x_key(true)
                .stream_selection(
                    StreamSelection::builder()
                        .min_video_bits_per_second(100_000)
                        .max_video_bits_per_second(5_000_000)
                        .stream_order(StreamOrder::VideoBitrateDescending)
                        .build(),
                )
                .build(),
        )
        .hls_manifests(HlsManifest::builder().manifest_name("alt").build())
        .build();
    let out = c
        .create_packaging_configuration()
        .id("hls")
        .packaging_group_id("g")
        .hls_package(hls.clone())
        .tags("kind", "hls")
        .send()
        .await
        .expect("hls");
    assert_eq!(out.hls_package(), Some(&hls));
    assert_eq!(
        out.arn(),
        Some("arn:aws:mediapackage-vod:us-east-1:111122223333:packaging-configurations/hls")
    );
    assert!(is_rfc3339(out.created_at().unwrap()));
    assert!(out.dash_package().is_none());

    let cmaf = CmafPackage::builder()
        .segment_duration_seconds(4)
        .include_encoder_configuration_in_segments(true)
        .encryption(
            CmafEncryption::builder()
                .speke_key_provider(
                    SpekeKeyProvider::builder()
                        .url("https://keys.example.com/v2")
                        .role_arn("arn:aws:iam::111122223333:role/SpekeAccess")
                        .system_ids(WIDEVINE)
                        .system_ids(PLAYREADY)
                        .system_ids(FAIRPLAY)
                        .encryption_contract_configuration(
                            EncryptionContractConfiguration::builder()
                                .preset_speke20_audio(PresetSpeke20Audio::PresetAudio1)
                                .preset_speke20_video(PresetSpeke20Video::PresetVideo1)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .hls_manifests(HlsManifest::builder().build())
        .build();
    let out = c
        .create_packaging_configuration()
        .id("cmaf")
        .packaging_group_id("g")
        .cmaf_package(cmaf.clone())
        .send()
        .await
        .expect("cmaf");
    assert_eq!(out.cmaf_package(), Some(&cmaf));

    let dash = DashPackage::builder()
        .segment_duration_seconds(2)
        .segment_template_format(SegmentTemplateFormat::TimeWithTimeline)
        .include_iframe_only_stream(true)
        .period_triggers(PeriodTriggersElement::Ads)
        .encryption(
            DashEncryption::builder()
                .speke_key_provider(speke(
                    "https://keys.example.com/dash",
                    &[WIDEVINE, PLAYREADY],
                ))
                .build(),
        )
        .dash_manifests(
            DashManifest::builder()
                .manifest_layout(ManifestLayout::Compact)
                .min_buffer_time_seconds(30)
                .profile(Profile::Hbbtv15)
                .scte_markers_source(ScteMarkersSource::Manifest)
                .build(),
        )
        .build();
    let out = c
        .create_packaging_configuration()
        .id("dash")
        .packaging_group_id("g")
        .dash_package(dash.clone())
        .send()
        .await
        .expect("dash");
    assert_eq!(out.dash_package(), Some(&dash));

    let mss = MssPackage::builder()
        .segment_duration_seconds(2)
        .encryption(
            MssEncryption::builder()
                .speke_key_provider(speke("https://keys.example.com/mss", &[PLAYREADY]))
                .build(),
        )
        .mss_manifests(MssManifest::builder().manifest_name("smooth").build())
        .build();
    let out = c
        .create_packaging_configuration()
        .id("mss")
        .packaging_group_id("g")
        .mss_package(mss.clone())
        .send()
        .await
        .expect("mss");
    assert_eq!(out.mss_package(), Some(&mss));

    hls_config(&c, "elsewhere", "other").send().await.unwrap();

    let d = c
        .describe_packaging_configuration()
        .id("dash")
        .send()
        .await
        .unwrap();
    assert_eq!(d.dash_package(), Some(&dash));
    assert_eq!(d.packaging_group_id(), Some("g"));
    let d = c
        .describe_packaging_configuration()
        .id("hls")
        .send()
        .await
        .unwrap();
    assert_eq!(d.hls_package(), Some(&hls));
    assert_eq!(
        d.tags().unwrap().get("kind").map(String::as_str),
        Some("hls")
    );

    let all = c.list_packaging_configurations().send().await.unwrap();
    let ids: Vec<_> = all
        .packaging_configurations()
        .iter()
        .filter_map(|p| p.id())
        .collect();
    assert_eq!(ids, ["hls", "cmaf", "dash", "mss", "elsewhere"]);
    // List returns the full configuration, packages included.
    assert_eq!(all.packaging_configurations()[3].mss_package(), Some(&mss));
    let in_g = c
        .list_packaging_configurations()
        .packaging_group_id("g")
        .send()
        .await
        .unwrap();
    assert_eq!(in_g.packaging_configurations().len(), 4);
    let in_other = c
        .list_packaging_configurations()
        .packaging_group_id("other")
        .send()
        .await
        .unwrap();
    assert_eq!(in_other.packaging_configurations().len(), 1);

    c.delete_packaging_configuration()
        .id("mss")
        .send()
        .await
        .unwrap();
    let (status, code, _) = failure(c.describe_packaging_configuration().id("mss").send().await);
    assert_eq!((status, code.as_str()), (404, "NotFoundException"));
    let (status, code, _) = failure(c.delete_packaging_configuration().id("mss").send().await);
    assert_eq!((status, code.as_str()), (404, "NotFoundException"));
}

/// (configuration id, URL) of each endpoint; the status moves on as ingest runs.
fn urls(eps: &[EgressEndpoint]) -> Vec<(Option<&str>, Option<&str>)> {
    eps.iter()
        .map(|e| (e.packaging_configuration_id(), e.url()))
        .collect()
}

fn check_endpoint_url(url: &str, endpoint: &str, suffix: &str) -> (String, String, String) {
    let rest = url
        .strip_prefix(&format!("{endpoint}/out/v1/"))
        .unwrap_or_else(|| panic!("{url} is not under {endpoint}/out/v1/"));
    let parts: Vec<&str> = rest.split('/').collect();
    assert!(parts.len() >= 4, "{url}");
    for p in &parts[..3] {
        assert!(
            p.len() == 32 && p.bytes().all(|b| b.is_ascii_hexdigit()),
            "{url}: {p} is not 32 hex characters"
        );
    }
    assert_eq!(parts[3..].join("/"), suffix, "{url}");
    (parts[0].into(), parts[1].into(), parts[2].into())
}

#[tokio::test]
async fn asset_operations_and_egress_endpoints() {
    let server = Server::start();
    let c = server.client();
    c.create_packaging_group().id("g").send().await.unwrap();
    hls_config(&c, "hls", "g").send().await.unwrap();
    c.create_packaging_configuration()
        .id("dash")
        .packaging_group_id("g")
        .dash_package(
            DashPackage::builder()
                .dash_manifests(DashManifest::builder().manifest_name("stream").build())
                .build(),
        )
        .send()
        .await
        .unwrap();

    let created = c
        .create_asset()
        .id("movie_1")
        .packaging_group_id("g")
        .source_arn("arn:aws:s3:::media-bucket/movies/movie_1.smil")
        .source_role_arn("arn:aws:iam::111122223333:role/MediaPackageSource")
        .resource_id("movie-1-content")
        .tags("title", "Movie 1")
        .send()
        .await
        .expect("create asset");
    assert_eq!(
        created.arn(),
        Some("arn:aws:mediapackage-vod:us-east-1:111122223333:assets/movie_1")
    );
    assert_eq!(created.resource_id(), Some("movie-1-content"));
    assert_eq!(
        created.source_arn(),
        Some("arn:aws:s3:::media-bucket/movies/movie_1.smil")
    );
    assert!(is_rfc3339(created.created_at().unwrap()));
    let eps = created.egress_endpoints();
    assert_eq!(eps.len(), 2);
    assert_eq!(eps[0].packaging_configuration_id(), Some("hls"));
    assert_eq!(eps[0].status(), Some("QUEUED"));
    let (a1, b1, _) = check_endpoint_url(eps[0].url().unwrap(), &server.endpoint, "index.m3u8");
    let (a2, b2, _) = check_endpoint_url(eps[1].url().unwrap(), &server.endpoint, "stream.mpd");
    assert_eq!(a1, a2, "the asset part is shared by all configurations");
    assert_ne!(b1, b2, "the configuration part differs");

    // The AWS CLI example form of the source ARN (with an account) is accepted too.
    c.create_asset()
        .id("movie_2")
        .packaging_group_id("g")
        .source_arn("arn:aws:s3::111122223333:media-bucket/movies/movie_2.m3u8")
        .source_role_arn("arn:aws:iam::111122223333:role/MediaPackageSource")
        .send()
        .await
        .expect("create asset 2");

    let d = c.describe_asset().id("movie_1").send().await.unwrap();
    assert_eq!(urls(d.egress_endpoints()), urls(created.egress_endpoints()));
    assert_eq!(d.created_at(), created.created_at());
    assert_eq!(
        d.tags().unwrap().get("title").map(String::as_str),
        Some("Movie 1")
    );

    let g = c.describe_packaging_group().id("g").send().await.unwrap();
    assert_eq!(g.approximate_asset_count(), Some(2));

    // A configuration added later appears on existing assets; a deleted one disappears.
    c.create_packaging_configuration()
        .id("mss")
        .packaging_group_id("g")
        .mss_package(
            MssPackage::builder()
                .mss_manifests(MssManifest::builder().build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let d = c.describe_asset().id("movie_1").send().await.unwrap();
    assert_eq!(d.egress_endpoints().len(), 3);
    check_endpoint_url(
        d.egress_endpoints()[2].url().unwrap(),
        &server.endpoint,
        "index.ism/Manifest",
    );
    assert_eq!(
        urls(&d.egress_endpoints()[..2]),
        urls(created.egress_endpoints())
    );
    c.delete_packaging_configuration()
        .id("dash")
        .send()
        .await
        .unwrap();
    let d = c.describe_asset().id("movie_1").send().await.unwrap();
    let ids: Vec<_> = d
        .egress_endpoints()
        .iter()
        .filter_map(|e| e.packaging_configuration_id())
        .collect();
    assert_eq!(ids, ["hls", "mss"]);

    // ListAssets returns shallow assets: no egress endpoints.
    let list = c.list_assets().send().await.unwrap();
    let ids: Vec<_> = list.assets().iter().filter_map(|a| a.id()).collect();
    assert_eq!(ids, ["movie_1", "movie_2"]);
    assert_eq!(list.assets()[0].resource_id(), Some("movie-1-content"));
    let filtered = c
        .list_assets()
        .packaging_group_id("g")
        .send()
        .await
        .unwrap();
    assert_eq!(filtered.assets().len(), 2);
    let none = c
        .list_assets()
        .packaging_group_id("no-such-group")
        .send()
        .await
        .unwrap();
    assert!(none.assets().is_empty());

    // A group with assets or configurations cannot be deleted.
    assert_422(c.delete_packaging_group().id("g").send().await, "asset");
    c.delete_asset()
        .id("movie_1")
        .send()
        .await
        .expect("delete asset");
    c.delete_asset()
        .id("movie_2")
        .send()
        .await
        .expect("delete asset");
    let (status, code, _) = failure(c.describe_asset().id("movie_1").send().await);
    assert_eq!((status, code.as_str()), (404, "NotFoundException"));
    let (status, code, _) = failure(c.delete_asset().id("movie_1").send().await);
    assert_eq!((status, code.as_str()), (404, "NotFoundException"));
    assert_422(
        c.delete_packaging_group().id("g").send().await,
        "packaging configuration",
    );
    c.delete_packaging_configuration()
        .id("hls")
        .send()
        .await
        .unwrap();
    c.delete_packaging_configuration()
        .id("mss")
        .send()
        .await
        .unwrap();
    c.delete_packaging_group()
        .id("g")
        .send()
        .await
        .expect("now empty");

    // Re-creating an asset id gives new URLs (old ones may still sit in CDN caches).
    c.create_packaging_group().id("g").send().await.unwrap();
    hls_config(&c, "hls", "g").send().await.unwrap();
    let again = c
        .create_asset()
        .id("movie_1")
        .packaging_group_id("g")
        .source_arn("arn:aws:s3:::media-bucket/movies/movie_1.smil")
        .source_role_arn("arn:aws:iam::111122223333:role/MediaPackageSource")
        .send()
        .await
        .unwrap();
    let (a3, _, _) = check_endpoint_url(
        again.egress_endpoints()[0].url().unwrap(),
        &server.endpoint,
        "index.m3u8",
    );
    assert_ne!(a1, a3);
}

#[tokio::test]
async fn tag_operations_on_every_resource_type() {
    let server = Server::start();
    let c = server.client();
    let g = c
        .create_packaging_group()
        .id("g")
        .tags("a", "1")
        .send()
        .await
        .unwrap();
    let pc = hls_config(&c, "pc", "g").send().await.unwrap();
    let asset = c
        .create_asset()
        .id("asset")
        .packaging_group_id("g")
        .source_arn("arn:aws:s3:::bucket/key.mp4")
        .source_role_arn("arn:aws:iam::111122223333:role/r")
        .send()
        .await
        .unwrap();
    for arn in [g.arn().unwrap(), pc.arn().unwrap(), asset.arn().unwrap()] {
        c.tag_resource()
            .resource_arn(arn)
            .tags("env", "prod")
            .tags("owner", "team-video@example.com")
            .tags("path", "a/b:c=d+e")
            .send()
            .await
            .unwrap_or_else(|e| panic!("tag {arn}: {e:?}"));
        let tags = c
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .unwrap();
        let tags = tags.tags().unwrap();
        assert_eq!(tags.get("env").map(String::as_str), Some("prod"));
        assert_eq!(tags.get("path").map(String::as_str), Some("a/b:c=d+e"));
        // Overwrite a value.
        c.tag_resource()
            .resource_arn(arn)
            .tags("env", "dev")
            .send()
            .await
            .unwrap();
        // The SDK sends tagKeys as repeated query keys.
        c.untag_resource()
            .resource_arn(arn)
            .tag_keys("owner")
            .tag_keys("path")
            .tag_keys("not-there")
            .send()
            .await
            .unwrap();
        let tags = c
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .unwrap();
        let keys: Vec<_> = tags.tags().unwrap().keys().cloned().collect();
        let mut keys = keys;
        keys.sort();
        let expect: Vec<String> = if arn == g.arn().unwrap() {
            vec!["a".into(), "env".into()]
        } else {
            vec!["env".into()]
        };
        assert_eq!(keys, expect, "{arn}");
        assert_eq!(
            tags.tags().unwrap().get("env").map(String::as_str),
            Some("dev")
        );
    }
    // Tags show on Describe too.
    let d = c.describe_asset().id("asset").send().await.unwrap();
    assert_eq!(
        d.tags().unwrap().get("env").map(String::as_str),
        Some("dev")
    );

    // Limits: 50 tags per resource, counted after the merge.
    let arn = asset.arn().unwrap();
    let mut b = c.tag_resource().resource_arn(arn);
    for i in 0..49 {
        b = b.tags(format!("k{i}"), "v");
    }
    b.send().await.expect("50 tags in all");
    assert_422(
        c.tag_resource()
            .resource_arn(arn)
            .tags("one-more", "v")
            .send()
            .await,
        "50",
    );
    assert_422(
        c.tag_resource()
            .resource_arn(arn)
            .tags("aws:reserved", "v")
            .send()
            .await,
        "aws:",
    );
    assert_422(
        c.tag_resource()
            .resource_arn(arn)
            .tags("k".repeat(129), "v")
            .send()
            .await,
        "128",
    );
    assert_422(
        c.tag_resource()
            .resource_arn(arn)
            .tags("k", "v".repeat(257))
            .send()
            .await,
        "256",
    );
    assert_422(
        c.tag_resource()
            .resource_arn(arn)
            .tags("bad#key", "v")
            .send()
            .await,
        "bad#key",
    );
    assert_422(
        c.tag_resource().resource_arn(arn).send().await,
        "tags is required",
    );
    // UntagResource without tagKeys is refused by the SDK itself; api_raw.rs sends it.

    // Unknown resources: 404; not an ARN of ours: 422.
    let missing = "arn:aws:mediapackage-vod:us-east-1:111122223333:assets/nope";
    let (status, code, _) = failure(
        c.list_tags_for_resource()
            .resource_arn(missing)
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (404, "NotFoundException"));
    let (status, code, _) = failure(
        c.tag_resource()
            .resource_arn(missing)
            .tags("a", "b")
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (404, "NotFoundException"));
    let (status, code, _) = failure(
        c.untag_resource()
            .resource_arn(missing)
            .tag_keys("a")
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (404, "NotFoundException"));
    let other_region = "arn:aws:mediapackage-vod:eu-west-1:111122223333:assets/asset";
    let (status, _, _) = failure(
        c.list_tags_for_resource()
            .resource_arn(other_region)
            .send()
            .await,
    );
    assert_eq!(status, 404);
    let (status, code, _) = failure(
        c.list_tags_for_resource()
            .resource_arn("arn:aws:s3:::bucket/key")
            .send()
            .await,
    );
    assert_eq!(
        (status, code.as_str()),
        (422, "UnprocessableEntityException")
    );
}

#[tokio::test]
async fn validation_errors() {
    let server = Server::start();
    let c = server.client();

    // Packaging groups.
    assert_422(c.create_packaging_group().send().await, "id is required");
    assert_422(
        c.create_packaging_group().id("has space").send().await,
        "letters, digits",
    );
    assert_422(
        c.create_packaging_group().id("x".repeat(257)).send().await,
        "256",
    );
    assert_422(
        c.create_packaging_group().id("a.b").send().await,
        "letters, digits",
    );
    c.create_packaging_group().id("g").send().await.unwrap();
    assert_422(
        c.create_packaging_group().id("g").send().await,
        "already exists",
    );
    assert_422(
        c.create_packaging_group()
            .id("g2")
            .authorization(
                Authorization::builder()
                    .secrets_role_arn("arn:aws:iam::111122223333:role/r")
                    .build(),
            )
            .send()
            .await,
        "cdnIdentifierSecret is required",
    );
    assert_422(
        c.create_packaging_group()
            .id("g2")
            .authorization(
                Authorization::builder()
                    .cdn_identifier_secret("not-an-arn")
                    .secrets_role_arn("arn:aws:iam::111122223333:role/r")
                    .build(),
            )
            .send()
            .await,
        "Secrets Manager",
    );
    assert_422(
        c.create_packaging_group()
            .id("g2")
            .egress_access_logs(EgressAccessLogs::builder().log_group_name("mylogs").build())
            .send()
            .await,
        "logGroupName",
    );
    assert_422(
        c.update_packaging_group()
            .id("g")
            .authorization(Authorization::builder().cdn_identifier_secret("x").build())
            .send()
            .await,
        "authorization",
    );
    assert_422(
        c.create_packaging_group()
            .id("g2")
            .tags("aws:x", "y")
            .send()
            .await,
        "aws:",
    );

    // Packaging configurations.
    assert_422(
        c.create_packaging_configuration()
            .packaging_group_id("g")
            .send()
            .await,
        "id is required",
    );
    assert_422(
        c.create_packaging_configuration().id("pc").send().await,
        "packagingGroupId is required",
    );
    assert_422(
        c.create_packaging_configuration()
            .id("pc")
            .packaging_group_id("g")
            .send()
            .await,
        "exactly one",
    );
    assert_422(
        hls_config(&c, "pc", "g")
            .dash_package(
                DashPackage::builder()
                    .dash_manifests(DashManifest::builder().build())
                    .build(),
            )
            .send()
            .await,
        "exactly one",
    );
    assert_422(
        hls_config(&c, "pc", "no-such-group").send().await,
        "does not exist",
    );
    assert_422(
        c.create_packaging_configuration()
            .id("pc")
            .packaging_group_id("g")
            .hls_package(HlsPackage::builder().build())
            .send()
            .await,
        "hlsPackage.hlsManifests is required",
    );
    assert_422(
        c.create_packaging_configuration()
            .id("pc")
            .packaging_group_id("g")
            .dash_package(DashPackage::builder().build())
            .send()
            .await,
        "dashPackage.dashManifests is required",
    );
    assert_422(
        c.create_packaging_configuration()
            .id("pc")
            .packaging_group_id("g")
            .mss_package(MssPackage::builder().build())
            .send()
            .await,
        "mssPackage.mssManifests is required",
    );
    assert_422(
        c.create_packaging_configuration()
            .id("pc")
            .packaging_group_id("g")
            .cmaf_package(CmafPackage::builder().build())
            .send()
            .await,
        "cmafPackage.hlsManifests is required",
    );
    // Unknown enum values are sent verbatim by the SDK and refused.
    assert_422(
        c.create_packaging_configuration()
            .id("pc")
            .packaging_group_id("g")
            .hls_package(
                HlsPackage::builder()
                    .hls_manifests(
                        HlsManifest::builder()
                            .ad_markers(AdMarkers::from("BOGUS"))
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await,
        "BOGUS",
    );
    assert_422(
        c.create_packaging_configuration()
            .id("pc")
            .packaging_group_id("g")
            .dash_package(
                DashPackage::builder()
                    .segment_template_format(SegmentTemplateFormat::from("NUMBER_WITH_MAGIC"))
                    .dash_manifests(DashManifest::builder().build())
                    .build(),
            )
            .send()
            .await,
        "NUMBER_WITH_MAGIC",
    );
    let enc_hls = |sp: SpekeKeyProvider, iv: Option<&str>| {
        let mut e = HlsEncryption::builder().speke_key_provider(sp);
        if let Some(iv) = iv {
            e = e.constant_initialization_vector(iv);
        }
        HlsPackage::builder()
            .encryption(e.build())
            .hls_manifests(HlsManifest::builder().build())
            .build()
    };
    assert_422(
        hls_config(&c, "pc", "g")
            .hls_package(enc_hls(speke("http://keys.example.com", &[FAIRPLAY]), None))
            .send()
            .await,
        "https://",
    );
    assert_422(
        hls_config(&c, "pc", "g")
            .hls_package(enc_hls(
                speke("https://keys.example.com", &[FAIRPLAY]),
                Some("abc"),
            ))
            .send()
            .await,
        "constantInitializationVector",
    );
    assert_422(
        hls_config(&c, "pc", "g")
            .hls_package(enc_hls(
                speke("https://keys.example.com", &[FAIRPLAY]),
                Some("zz23456789abcdef0123456789abcdef"),
            ))
            .send()
            .await,
        "constantInitializationVector",
    );
    assert_422(
        hls_config(&c, "pc", "g")
            .hls_package(enc_hls(
                speke("https://keys.example.com", &[FAIRPLAY, WIDEVINE]),
                None,
            ))
            .send()
            .await,
        "systemIds",
    );
    assert_422(
        hls_config(&c, "pc", "g")
            .hls_package(enc_hls(
                speke("https://keys.example.com", &["not-a-uuid"]),
                None,
            ))
            .send()
            .await,
        "not-a-uuid",
    );
    assert_422(
        hls_config(&c, "pc", "g")
            .hls_package(
                HlsPackage::builder()
                    .encryption(HlsEncryption::builder().build())
                    .hls_manifests(HlsManifest::builder().build())
                    .build(),
            )
            .send()
            .await,
        "spekeKeyProvider is required",
    );
    assert_422(
        c.create_packaging_configuration()
            .id("pc")
            .packaging_group_id("g")
            .dash_package(
                DashPackage::builder()
                    .encryption(
                        DashEncryption::builder()
                            .speke_key_provider(speke(
                                "https://k.example.com",
                                &[WIDEVINE, PLAYREADY, FAIRPLAY],
                            ))
                            .build(),
                    )
                    .dash_manifests(DashManifest::builder().build())
                    .build(),
            )
            .send()
            .await,
        "systemIds",
    );
    assert_422(
        c.create_packaging_configuration()
            .id("pc")
            .packaging_group_id("g")
            .dash_package(
                DashPackage::builder()
                    .segment_template_format(SegmentTemplateFormat::NumberWithDuration)
                    .period_triggers(PeriodTriggersElement::Ads)
                    .dash_manifests(DashManifest::builder().build())
                    .build(),
            )
            .send()
            .await,
        "NUMBER_WITH_DURATION",
    );
    let v2 = |audio: PresetSpeke20Audio, video: PresetSpeke20Video| {
        CmafPackage::builder()
            .encryption(
                CmafEncryption::builder()
                    .speke_key_provider(
                        SpekeKeyProvider::builder()
                            .url("https://k.example.com")
                            .role_arn("arn:aws:iam::111122223333:role/r")
                            .system_ids(WIDEVINE)
                            .encryption_contract_configuration(
                                EncryptionContractConfiguration::builder()
                                    .preset_speke20_audio(audio)
                                    .preset_speke20_video(video)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .hls_manifests(HlsManifest::builder().build())
            .build()
    };
    for (a, v) in [
        (
            PresetSpeke20Audio::Unencrypted,
            PresetSpeke20Video::Unencrypted,
        ),
        (PresetSpeke20Audio::Shared, PresetSpeke20Video::PresetVideo1),
        (PresetSpeke20Audio::Unencrypted, PresetSpeke20Video::Shared),
    ] {
        assert_422(
            c.create_packaging_configuration()
                .id("pc")
                .packaging_group_id("g")
                .cmaf_package(v2(a.clone(), v.clone()))
                .send()
                .await,
            "encryptionContractConfiguration",
        );
    }
    assert_422(
        hls_config(&c, "pc", "g")
            .hls_package(
                HlsPackage::builder()
                    .segment_duration_seconds(0)
                    .hls_manifests(HlsManifest::builder().build())
                    .build(),
            )
            .send()
            .await,
        "segmentDurationSeconds",
    );
    assert_422(
        hls_config(&c, "pc", "g")
            .hls_package(
                HlsPackage::builder()
                    .hls_manifests(HlsManifest::builder().manifest_name("../evil").build())
                    .build(),
            )
            .send()
            .await,
        "manifestName",
    );
    assert_422(
        hls_config(&c, "pc", "g")
            .hls_package(
                HlsPackage::builder()
                    .hls_manifests(HlsManifest::builder().build())
                    .hls_manifests(HlsManifest::builder().manifest_name("index").build())
                    .build(),
            )
            .send()
            .await,
        "unique",
    );
    assert_422(
        hls_config(&c, "pc", "g")
            .hls_package(
                HlsPackage::builder()
                    .hls_manifests(
                        HlsManifest::builder()
                            .stream_selection(
                                StreamSelection::builder()
                                    .min_video_bits_per_second(5)
                                    .max_video_bits_per_second(4)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await,
        "minVideoBitsPerSecond",
    );
    hls_config(&c, "pc", "g")
        .send()
        .await
        .expect("valid configuration");
    assert_422(hls_config(&c, "pc", "g").send().await, "already exists");

    // Assets.
    let asset = || {
        c.create_asset()
            .id("a")
            .packaging_group_id("g")
            .source_arn("arn:aws:s3:::bucket/key.smil")
            .source_role_arn("arn:aws:iam::111122223333:role/r")
    };
    // The Rust SDK sends CreateAsset with only an id (no client-side required check).
    assert_422(
        c.create_asset().id("a").send().await,
        "packagingGroupId is required",
    );
    assert_422(asset().set_id(None).send().await, "id is required");
    assert_422(
        asset().set_source_arn(None).send().await,
        "sourceArn is required",
    );
    assert_422(
        asset().set_source_role_arn(None).send().await,
        "sourceRoleArn is required",
    );
    assert_422(
        asset().source_arn("s3://bucket/key.smil").send().await,
        "sourceArn",
    );
    assert_422(
        asset().source_arn("arn:aws:s3:::bucket").send().await,
        "sourceArn",
    );
    assert_422(
        asset().source_role_arn("role").send().await,
        "sourceRoleArn",
    );
    assert_422(
        asset().packaging_group_id("missing").send().await,
        "does not exist",
    );
    assert_422(asset().id("a/b").send().await, "letters, digits");
    asset().send().await.expect("valid asset");
    assert_422(asset().send().await, "already exists");

    // maxResults outside 1..=1000 (the Rust SDK does not check it).
    assert_422(
        c.list_packaging_groups().max_results(0).send().await,
        "maxResults",
    );
    assert_422(
        c.list_packaging_groups().max_results(1001).send().await,
        "maxResults",
    );
    assert_422(c.list_assets().max_results(-5).send().await, "maxResults");
    assert_422(
        c.list_packaging_configurations()
            .max_results(5000)
            .send()
            .await,
        "maxResults",
    );
    assert_422(
        c.list_assets().next_token("not-a-token").send().await,
        "nextToken",
    );

    // Unknown ids: 404 on every operation that names one.
    let (s, code, _) = failure(c.describe_asset().id("zzz").send().await);
    assert_eq!((s, code.as_str()), (404, "NotFoundException"));
    let (s, code, _) = failure(c.describe_packaging_configuration().id("zzz").send().await);
    assert_eq!((s, code.as_str()), (404, "NotFoundException"));
    let (s, code, _) = failure(c.describe_packaging_group().id("zzz").send().await);
    assert_eq!((s, code.as_str()), (404, "NotFoundException"));
}

#[tokio::test]
async fn pagination_through_every_list() {
    let server = Server::start();
    let c = server.client();
    let groups = ["g1", "g2", "g3", "g4", "g5"];
    for g in groups {
        c.create_packaging_group().id(g).send().await.unwrap();
    }
    // Manual paging with maxResults=1.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = c
            .list_packaging_groups()
            .max_results(1)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        assert!(page.packaging_groups().len() <= 1);
        seen.extend(
            page.packaging_groups()
                .iter()
                .filter_map(|g| g.id().map(String::from)),
        );
        token = page.next_token().map(String::from);
        if token.is_none() {
            break;
        }
        assert!(seen.len() <= groups.len(), "pagination does not end");
    }
    assert_eq!(seen, groups);

    // A token stays valid and means the same thing after the list changes.
    let first = c
        .list_packaging_groups()
        .max_results(2)
        .send()
        .await
        .unwrap();
    let t = first.next_token().unwrap().to_string();
    c.delete_packaging_group().id("g3").send().await.unwrap();
    let rest = c
        .list_packaging_groups()
        .next_token(&t)
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = rest
        .packaging_groups()
        .iter()
        .filter_map(|g| g.id())
        .collect();
    assert_eq!(ids, ["g4", "g5"]);
    let again = c
        .list_packaging_groups()
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(again.next_token(), Some(t.as_str()), "tokens are stable");

    // Configurations and assets, with the group filter, through the SDK's paginator.
    for i in 0..3 {
        hls_config(&c, &format!("c{i}"), "g1").send().await.unwrap();
        c.create_asset()
            .id(format!("a{i}"))
            .packaging_group_id("g1")
            .source_arn("arn:aws:s3:::bucket/k.mp4")
            .source_role_arn("arn:aws:iam::111122223333:role/r")
            .send()
            .await
            .unwrap();
    }
    for i in 0..2 {
        hls_config(&c, &format!("d{i}"), "g2").send().await.unwrap();
        c.create_asset()
            .id(format!("b{i}"))
            .packaging_group_id("g2")
            .source_arn("arn:aws:s3:::bucket/k.mp4")
            .source_role_arn("arn:aws:iam::111122223333:role/r")
            .send()
            .await
            .unwrap();
    }
    let assets: Vec<String> = c
        .list_assets()
        .packaging_group_id("g1")
        .max_results(1)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .into_iter()
        .filter_map(|a| a.id().map(String::from))
        .collect();
    assert_eq!(assets, ["a0", "a1", "a2"]);
    let all_assets = c
        .list_assets()
        .max_results(2)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(all_assets.len(), 5);
    let configs: Vec<String> = c
        .list_packaging_configurations()
        .packaging_group_id("g2")
        .max_results(1)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .into_iter()
        .filter_map(|p| p.id().map(String::from))
        .collect();
    assert_eq!(configs, ["d0", "d1"]);
    // A token from one list is refused by another.
    let t = c.list_assets().max_results(1).send().await.unwrap();
    assert_422(
        c.list_packaging_configurations()
            .next_token(t.next_token().unwrap())
            .send()
            .await,
        "nextToken",
    );
}

#[tokio::test]
async fn quotas_answer_429() {
    let server = Server::start_with(Options {
        extra_args: vec![
            "--max-packaging-groups".into(),
            "2".into(),
            "--max-configurations-per-group".into(),
            "1".into(),
        ],
        env: vec![("VODPACK_MAX_ASSETS_PER_GROUP".into(), "1".into())],
        ..Options::default()
    });
    let c = server.client();
    c.create_packaging_group().id("g1").send().await.unwrap();
    c.create_packaging_group().id("g2").send().await.unwrap();
    let err = c
        .create_packaging_group()
        .id("g3")
        .send()
        .await
        .expect_err("quota");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(429));
    assert!(err.into_service_error().is_too_many_requests_exception());

    hls_config(&c, "pc1", "g1").send().await.unwrap();
    let (s, code, msg) = failure(hls_config(&c, "pc2", "g1").send().await);
    assert_eq!(
        (s, code.as_str()),
        (429, "TooManyRequestsException"),
        "{msg}"
    );
    hls_config(&c, "pc2", "g2")
        .send()
        .await
        .expect("quota is per group");

    let asset = |id: &str| {
        c.create_asset()
            .id(id)
            .packaging_group_id("g1")
            .source_arn("arn:aws:s3:::bucket/k.mp4")
            .source_role_arn("arn:aws:iam::111122223333:role/r")
    };
    asset("a1").send().await.unwrap();
    let (s, code, _) = failure(asset("a2").send().await);
    assert_eq!((s, code.as_str()), (429, "TooManyRequestsException"));
    c.delete_asset().id("a1").send().await.unwrap();
    asset("a2").send().await.expect("room again after a delete");
}
