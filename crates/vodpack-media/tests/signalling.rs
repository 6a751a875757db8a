//! Encryption signalling in manifests, from key-server answers: the HLS key tags of SPEKE v1
//! (built from `URIExtXKey`, `KeyFormat`, `KeyFormatVersions`, `explicitIV`) and v2 (the
//! `HLSSignalingData` lines as given), `repeatExtXKey`, the multivariant playlist's session
//! keys; and the refusal to make anything of an encrypted configuration without its keys.
//! Fixture values are those of `../shared/reference/drm/examples/` (decoded by hand: the
//! expected lines below are what SPEKE.md §5 says the packager writes).

use std::sync::Arc;

use vodpack_media::index::{MediaIndex, SourceKind};
use vodpack_media::package::keys::{ContentKey, DrmSignal, KeySet, KeyUse, parse_uuid};
use vodpack_media::package::spec::{
    AdMarkers, CmafSpec, EncryptionSpec, Format, HlsManifestSpec, HlsMethod, HlsSpec, SpekeSpec,
    StreamSelection,
};
use vodpack_media::package::{self, Input, PackageError, PackageSpec, Presentation};
use vodpack_media::plan::Segmentation;

mod common;

const KID: &str = "a1b2c3d4-0000-4000-8000-000000000001";

fn index() -> Arc<MediaIndex> {
    let data = std::fs::read(common::media_dir().join("ladder/ladder_720p.mp4")).expect("media");
    Arc::new(MediaIndex {
        source: SourceKind::Mp4,
        objects: vec!["ladder_720p.mp4".into()],
        versions: Vec::new(),
        tracks: common::mp4_tracks(&data),
        warnings: Vec::new(),
    })
}

fn manifest(repeat: bool) -> HlsManifestSpec {
    HlsManifestSpec {
        name: "index".into(),
        stream_selection: StreamSelection::default(),
        ad_markers: AdMarkers::None,
        include_iframe_only_stream: false,
        program_date_time_interval_seconds: None,
        repeat_ext_x_key: repeat,
    }
}

fn encryption(method: HlsMethod, presets: Option<(String, String)>) -> EncryptionSpec {
    EncryptionSpec {
        speke: SpekeSpec {
            url: "https://keys.example.test/speke".into(),
            role_arn: "arn:aws:iam::111122223333:role/k".into(),
            system_ids: Vec::new(),
            presets,
        },
        hls_method: method,
        constant_iv: None,
    }
}

fn key() -> ContentKey {
    ContentKey {
        kid: parse_uuid(KID).unwrap(),
        // PlainValue lisXT8pVWmD/56NWcj89Vw== and explicitIV RmtyFZEMzT2//LQyHWiRLg==.
        key: [
            0x96, 0x2b, 0x17, 0x4f, 0xca, 0x55, 0x5a, 0x60, 0xff, 0xe7, 0xa3, 0x56, 0x72, 0x3f,
            0x3d, 0x57,
        ],
        explicit_iv: Some([
            0x46, 0x6b, 0x72, 0x15, 0x91, 0x0c, 0xcd, 0x3d, 0xbf, 0xfc, 0xb4, 0x32, 0x1d, 0x68,
            0x91, 0x2e,
        ]),
    }
}

fn presentation(
    format: Format,
    encryption: Option<EncryptionSpec>,
    keys: Option<KeySet>,
) -> Presentation {
    let index = index();
    Presentation {
        seg: Arc::new(Segmentation::new(&index, 6).unwrap()),
        index,
        spec: Arc::new(PackageSpec {
            segment_seconds: 6,
            encryption,
            format,
        }),
        manifest: 0,
        manifest_name: "index".into(),
        created_at_ms: None,
        keys: keys.map(Arc::new),
    }
}

fn text(p: &Presentation, name: &str) -> String {
    let file = p.file(name).unwrap();
    let plan = package::plan(p, &file).unwrap();
    let made = package::make(p, &plan, Input::Index).unwrap();
    String::from_utf8(made.body.concat()).unwrap()
}

fn hls(repeat: bool) -> Format {
    Format::Hls(HlsSpec {
        manifests: vec![manifest(repeat)],
        use_audio_rendition_group: false,
        include_dvb_subtitles: false,
    })
}

fn v1_keys() -> KeySet {
    KeySet {
        keys: vec![(KeyUse::all(), key())],
        systems: vec![DrmSignal {
            system_id: parse_uuid("81376844-f976-481e-a84e-cc25d39b0b33").unwrap(),
            kid: parse_uuid(KID).unwrap(),
            uri_ext_x_key: Some(format!("https://keys.example.test/asset-123/{KID}")),
            key_format: Some("identity".into()),
            key_format_versions: Some("1".into()),
            ..DrmSignal::default()
        }],
    }
}

#[test]
fn speke_v1_aes128_key_tags() {
    let expected = format!(
        "#EXT-X-KEY:METHOD=AES-128,URI=\"https://keys.example.test/asset-123/{KID}\",KEYFORMAT=\"identity\",KEYFORMATVERSIONS=\"1\",IV=0x466b7215910ccd3dbffcb4321d68912e"
    );
    let p = presentation(
        hls(false),
        Some(encryption(HlsMethod::Aes128, None)),
        Some(v1_keys()),
    );
    let media = text(&p, "index_0.m3u8");
    // KEYFORMAT needs version 5 (RFC 8216 §7); the tag precedes the first segment, once.
    assert!(media.contains("#EXT-X-VERSION:5\n"), "{media}");
    assert_eq!(media.matches("#EXT-X-KEY:").count(), 1, "{media}");
    let key_at = media.find(&expected).expect(&media);
    assert!(key_at < media.find("#EXTINF").unwrap(), "{media}");
    let master = text(&p, "index.m3u8");
    let session = expected.replace("#EXT-X-KEY:", "#EXT-X-SESSION-KEY:");
    assert_eq!(master.matches(&session).count(), 1, "{master}");
    assert!(master.contains("#EXT-X-VERSION:5\n"), "{master}");

    // repeatExtXKey: the tag before every segment.
    let p = presentation(
        hls(true),
        Some(encryption(HlsMethod::Aes128, None)),
        Some(v1_keys()),
    );
    let media = text(&p, "index_0.m3u8");
    assert_eq!(
        media.matches(&expected).count(),
        media.matches("#EXTINF").count(),
        "{media}"
    );

    // SAMPLE-AES: the same attributes under its method.
    let p = presentation(
        hls(false),
        Some(encryption(HlsMethod::SampleAes, None)),
        Some(v1_keys()),
    );
    let media = text(&p, "index_0.m3u8");
    assert!(
        media.contains(&expected.replace("AES-128", "SAMPLE-AES")),
        "{media}"
    );
}

#[test]
fn speke_v2_hls_signaling_data_is_used_as_given() {
    let media_line = format!(
        "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://asset-123/{KID}\",KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\""
    );
    let master_line = media_line.replace("#EXT-X-KEY:", "#EXT-X-SESSION-KEY:");
    let keys = KeySet {
        keys: vec![(KeyUse::all(), key())],
        systems: vec![DrmSignal {
            system_id: parse_uuid("94ce86fb-07ff-4f43-adb8-93d2fa968ca2").unwrap(),
            kid: parse_uuid(KID).unwrap(),
            hls_media: Some(media_line.clone()),
            hls_master: Some(master_line.clone()),
            ..DrmSignal::default()
        }],
    };
    let cmaf = Format::Cmaf(CmafSpec {
        manifests: vec![manifest(false)],
        include_encoder_configuration_in_segments: false,
    });
    let p = presentation(
        cmaf,
        Some(encryption(
            HlsMethod::Aes128,
            Some(("SHARED".into(), "SHARED".into())),
        )),
        Some(keys),
    );
    let media = text(&p, "index_0.m3u8");
    assert_eq!(media.matches(&media_line).count(), 1, "{media}");
    assert_eq!(media.matches("#EXT-X-KEY").count(), 1, "{media}");
    let master = text(&p, "index.m3u8");
    assert_eq!(master.matches(&master_line).count(), 1, "{master}");
}

#[test]
fn nothing_is_made_of_an_encrypted_configuration_without_keys() {
    let p = presentation(hls(false), Some(encryption(HlsMethod::Aes128, None)), None);
    for name in ["index.m3u8", "index_0.m3u8", "index_0_0.ts"] {
        let file = p.file(name).unwrap();
        assert!(
            matches!(package::plan(&p, &file), Err(PackageError::Bug(_))),
            "{name}"
        );
    }
    // Clear configurations have no key tags at all.
    let p = presentation(hls(false), None, None);
    assert!(!text(&p, "index_0.m3u8").contains("KEY"));
    assert!(!text(&p, "index.m3u8").contains("KEY"));
}
