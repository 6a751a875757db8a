//! Wire shapes of the MediaPackage VOD API (model 2018-11-07), shared by the HTTP layer and the
//! repository.
//!
//! Every member is optional here, even the ones the model marks required: the Rust SDK does not
//! enforce required members, so the server must answer a missing one with a 422 naming it, which
//! serde's "missing field" error would not do with the full JSON path. `validate` checks them.
//! Field names follow the model's `locationName` (lowerCamelCase); enum values are sent verbatim.
//! Absent members are omitted on output, never sent as `null`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vodpack_media::package::spec::{self as ps, PackageSpec};

/// Resource tags as they travel on the wire.
pub type Tags = BTreeMap<String, String>;

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $wire)] $variant),+
        }
        impl $name {
            /// The value as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $wire),+ }
            }
        }
    };
}

wire_enum!(
    /// How SCTE-35 ad markers appear in HLS output.
    AdMarkers { None = "NONE", Passthrough = "PASSTHROUGH", Scte35Enhanced = "SCTE35_ENHANCED" }
);
wire_enum!(
    /// HLS segment encryption method.
    EncryptionMethod { Aes128 = "AES_128", SampleAes = "SAMPLE_AES" }
);
wire_enum!(
    /// DASH manifest layout.
    ManifestLayout { Full = "FULL", Compact = "COMPACT" }
);
wire_enum!(
    /// DASH profile.
    Profile { None = "NONE", Hbbtv15 = "HBBTV_1_5" }
);
wire_enum!(
    /// Where DASH SCTE-35 markers come from.
    ScteMarkersSource { Segments = "SEGMENTS", Manifest = "MANIFEST" }
);
wire_enum!(
    /// DASH SegmentTemplate format.
    SegmentTemplateFormat {
        NumberWithTimeline = "NUMBER_WITH_TIMELINE",
        TimeWithTimeline = "TIME_WITH_TIMELINE",
        NumberWithDuration = "NUMBER_WITH_DURATION",
    }
);
wire_enum!(
    /// Order of streams in a manifest.
    StreamOrder {
        Original = "ORIGINAL",
        VideoBitrateAscending = "VIDEO_BITRATE_ASCENDING",
        VideoBitrateDescending = "VIDEO_BITRATE_DESCENDING",
    }
);
wire_enum!(
    /// DASH period triggers.
    PeriodTrigger { Ads = "ADS" }
);
wire_enum!(
    /// SPEKE 2.0 audio preset.
    PresetSpeke20Audio {
        PresetAudio1 = "PRESET-AUDIO-1",
        PresetAudio2 = "PRESET-AUDIO-2",
        PresetAudio3 = "PRESET-AUDIO-3",
        Shared = "SHARED",
        Unencrypted = "UNENCRYPTED",
    }
);
wire_enum!(
    /// SPEKE 2.0 video preset.
    PresetSpeke20Video {
        PresetVideo1 = "PRESET-VIDEO-1",
        PresetVideo2 = "PRESET-VIDEO-2",
        PresetVideo3 = "PRESET-VIDEO-3",
        PresetVideo4 = "PRESET-VIDEO-4",
        PresetVideo5 = "PRESET-VIDEO-5",
        PresetVideo6 = "PRESET-VIDEO-6",
        PresetVideo7 = "PRESET-VIDEO-7",
        PresetVideo8 = "PRESET-VIDEO-8",
        Shared = "SHARED",
        Unencrypted = "UNENCRYPTED",
    }
);

/// CDN authorization of a packaging group.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorization {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cdn_identifier_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets_role_arn: Option<String>,
}

/// Egress access logging of a packaging group.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EgressAccessLogs {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_group_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamSelection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_video_bits_per_second: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_video_bits_per_second: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_order: Option<StreamOrder>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionContractConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset_speke20_audio: Option<PresetSpeke20Audio>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset_speke20_video: Option<PresetSpeke20Video>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpekeKeyProvider {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_contract_configuration: Option<EncryptionContractConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HlsEncryption {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constant_initialization_vector: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_method: Option<EncryptionMethod>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speke_key_provider: Option<SpekeKeyProvider>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CmafEncryption {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constant_initialization_vector: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speke_key_provider: Option<SpekeKeyProvider>,
}

/// Shape shared by `DashEncryption` and `MssEncryption`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpekeOnlyEncryption {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speke_key_provider: Option<SpekeKeyProvider>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HlsManifest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ad_markers: Option<AdMarkers>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_iframe_only_stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub program_date_time_interval_seconds: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat_ext_x_key: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_selection: Option<StreamSelection>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DashManifest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_layout: Option<ManifestLayout>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_buffer_time_seconds: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scte_markers_source: Option<ScteMarkersSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_selection: Option<StreamSelection>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MssManifest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_selection: Option<StreamSelection>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HlsPackage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption: Option<HlsEncryption>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hls_manifests: Option<Vec<HlsManifest>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_dvb_subtitles: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment_duration_seconds: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_audio_rendition_group: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CmafPackage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption: Option<CmafEncryption>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hls_manifests: Option<Vec<HlsManifest>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_encoder_configuration_in_segments: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment_duration_seconds: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DashPackage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dash_manifests: Option<Vec<DashManifest>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption: Option<SpekeOnlyEncryption>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_encoder_configuration_in_segments: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_iframe_only_stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_triggers: Option<Vec<PeriodTrigger>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment_duration_seconds: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment_template_format: Option<SegmentTemplateFormat>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MssPackage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption: Option<SpekeOnlyEncryption>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mss_manifests: Option<Vec<MssManifest>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment_duration_seconds: Option<i32>,
}

/// The one package a packaging configuration carries, after validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Package {
    HlsPackage(HlsPackage),
    CmafPackage(CmafPackage),
    DashPackage(DashPackage),
    MssPackage(MssPackage),
}

/// Output format family of a package, used to build egress URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageKind {
    Hls,
    Cmaf,
    Dash,
    Mss,
}

/// Manifest name used when a manifest does not set one (AWS user guide: "index").
pub use vodpack_media::package::spec::DEFAULT_MANIFEST_NAME;

impl Package {
    pub fn kind(&self) -> PackageKind {
        match self {
            Package::HlsPackage(_) => PackageKind::Hls,
            Package::CmafPackage(_) => PackageKind::Cmaf,
            Package::DashPackage(_) => PackageKind::Dash,
            Package::MssPackage(_) => PackageKind::Mss,
        }
    }

    /// Manifest names in declaration order, defaults applied.
    pub fn manifest_names(&self) -> Vec<String> {
        self.spec().manifest_names()
    }

    /// The typed spec of a validated package, every default applied. Total: it also accepts what
    /// an older build stored, clamping out-of-range numbers the way egress always has.
    pub fn spec(&self) -> PackageSpec {
        fn segment_seconds(d: Option<i32>) -> u32 {
            d.map_or(ps::DEFAULT_SEGMENT_SECONDS, |d| d.max(1) as u32)
        }
        fn name(n: &Option<String>) -> String {
            n.clone()
                .unwrap_or_else(|| ps::DEFAULT_MANIFEST_NAME.to_string())
        }
        fn selection(s: &Option<StreamSelection>) -> ps::StreamSelection {
            let Some(s) = s else {
                return ps::StreamSelection::default();
            };
            ps::StreamSelection {
                min_video_bits_per_second: s
                    .min_video_bits_per_second
                    .map_or(0, |v| v.max(0) as u64),
                max_video_bits_per_second: s
                    .max_video_bits_per_second
                    .map_or(u64::MAX, |v| v.max(0) as u64),
                order: match s.stream_order {
                    None | Some(StreamOrder::Original) => ps::StreamOrder::Original,
                    Some(StreamOrder::VideoBitrateAscending) => {
                        ps::StreamOrder::VideoBitrateAscending
                    }
                    Some(StreamOrder::VideoBitrateDescending) => {
                        ps::StreamOrder::VideoBitrateDescending
                    }
                },
            }
        }
        fn hls_manifests(list: &Option<Vec<HlsManifest>>) -> Vec<ps::HlsManifestSpec> {
            list.iter()
                .flatten()
                .map(|m| ps::HlsManifestSpec {
                    name: name(&m.manifest_name),
                    stream_selection: selection(&m.stream_selection),
                    ad_markers: match m.ad_markers {
                        None | Some(AdMarkers::None) => ps::AdMarkers::None,
                        Some(AdMarkers::Passthrough) => ps::AdMarkers::Passthrough,
                        Some(AdMarkers::Scte35Enhanced) => ps::AdMarkers::Scte35Enhanced,
                    },
                    include_iframe_only_stream: m.include_iframe_only_stream == Some(true),
                    program_date_time_interval_seconds: m
                        .program_date_time_interval_seconds
                        .filter(|i| *i > 0)
                        .map(|i| i as u32),
                    repeat_ext_x_key: m.repeat_ext_x_key == Some(true),
                })
                .collect()
        }
        fn encryption(
            speke: Option<&SpekeKeyProvider>,
            method: Option<EncryptionMethod>,
            constant_iv: Option<&String>,
        ) -> ps::EncryptionSpec {
            let speke = speke.cloned().unwrap_or_default();
            ps::EncryptionSpec {
                speke: ps::SpekeSpec {
                    url: speke.url.unwrap_or_default(),
                    role_arn: speke.role_arn.unwrap_or_default(),
                    // Checked at creation (validate.rs): UUIDs.
                    system_ids: speke
                        .system_ids
                        .iter()
                        .flatten()
                        .filter_map(|s| vodpack_media::package::keys::parse_uuid(s))
                        .collect(),
                    presets: speke.encryption_contract_configuration.map(|c| {
                        (
                            c.preset_speke20_video
                                .map_or("", |v| v.as_str())
                                .to_string(),
                            c.preset_speke20_audio
                                .map_or("", |a| a.as_str())
                                .to_string(),
                        )
                    }),
                },
                hls_method: match method {
                    Some(EncryptionMethod::SampleAes) => ps::HlsMethod::SampleAes,
                    None | Some(EncryptionMethod::Aes128) => ps::HlsMethod::Aes128,
                },
                // Checked at creation: 32 hex digits.
                constant_iv: constant_iv.and_then(|h| vodpack_media::package::keys::parse_uuid(h)),
            }
        }
        match self {
            Package::HlsPackage(p) => PackageSpec {
                segment_seconds: segment_seconds(p.segment_duration_seconds),
                encryption: p.encryption.as_ref().map(|e| {
                    encryption(
                        e.speke_key_provider.as_ref(),
                        e.encryption_method,
                        e.constant_initialization_vector.as_ref(),
                    )
                }),
                format: ps::Format::Hls(ps::HlsSpec {
                    manifests: hls_manifests(&p.hls_manifests),
                    use_audio_rendition_group: p.use_audio_rendition_group == Some(true),
                    include_dvb_subtitles: p.include_dvb_subtitles == Some(true),
                }),
            },
            Package::CmafPackage(p) => PackageSpec {
                segment_seconds: segment_seconds(p.segment_duration_seconds),
                encryption: p.encryption.as_ref().map(|e| {
                    encryption(
                        e.speke_key_provider.as_ref(),
                        None,
                        e.constant_initialization_vector.as_ref(),
                    )
                }),
                format: ps::Format::Cmaf(ps::CmafSpec {
                    manifests: hls_manifests(&p.hls_manifests),
                    include_encoder_configuration_in_segments: p
                        .include_encoder_configuration_in_segments
                        == Some(true),
                }),
            },
            Package::DashPackage(p) => PackageSpec {
                segment_seconds: segment_seconds(p.segment_duration_seconds),
                encryption: p
                    .encryption
                    .as_ref()
                    .map(|e| encryption(e.speke_key_provider.as_ref(), None, None)),
                format: ps::Format::Dash(ps::DashSpec {
                    manifests: p
                        .dash_manifests
                        .iter()
                        .flatten()
                        .map(|m| ps::DashManifestSpec {
                            name: name(&m.manifest_name),
                            stream_selection: selection(&m.stream_selection),
                            manifest_layout: match m.manifest_layout {
                                None | Some(ManifestLayout::Full) => ps::ManifestLayout::Full,
                                Some(ManifestLayout::Compact) => ps::ManifestLayout::Compact,
                            },
                            min_buffer_time_seconds: m
                                .min_buffer_time_seconds
                                .map_or(ps::DEFAULT_MIN_BUFFER_SECONDS, |v| v.max(0) as u32),
                            profile: match m.profile {
                                None | Some(Profile::None) => ps::Profile::None,
                                Some(Profile::Hbbtv15) => ps::Profile::Hbbtv1_5,
                            },
                            scte_markers_source: match m.scte_markers_source {
                                None | Some(ScteMarkersSource::Segments) => {
                                    ps::ScteMarkersSource::Segments
                                }
                                Some(ScteMarkersSource::Manifest) => {
                                    ps::ScteMarkersSource::Manifest
                                }
                            },
                        })
                        .collect(),
                    include_encoder_configuration_in_segments: p
                        .include_encoder_configuration_in_segments
                        == Some(true),
                    include_iframe_only_stream: p.include_iframe_only_stream == Some(true),
                    period_on_ads: p
                        .period_triggers
                        .iter()
                        .flatten()
                        .any(|t| *t == PeriodTrigger::Ads),
                    segment_template_format: match p.segment_template_format {
                        None | Some(SegmentTemplateFormat::NumberWithTimeline) => {
                            ps::SegmentTemplateFormat::NumberWithTimeline
                        }
                        Some(SegmentTemplateFormat::TimeWithTimeline) => {
                            ps::SegmentTemplateFormat::TimeWithTimeline
                        }
                        Some(SegmentTemplateFormat::NumberWithDuration) => {
                            ps::SegmentTemplateFormat::NumberWithDuration
                        }
                    },
                }),
            },
            Package::MssPackage(p) => PackageSpec {
                segment_seconds: segment_seconds(p.segment_duration_seconds),
                encryption: p
                    .encryption
                    .as_ref()
                    .map(|e| encryption(e.speke_key_provider.as_ref(), None, None)),
                format: ps::Format::Mss(ps::MssSpec {
                    manifests: p
                        .mss_manifests
                        .iter()
                        .flatten()
                        .map(|m| ps::MssManifestSpec {
                            name: name(&m.manifest_name),
                            stream_selection: selection(&m.stream_selection),
                        })
                        .collect(),
                }),
            },
        }
    }
}

impl PackageKind {
    /// The path suffix after `<manifestName>` in an egress URL.
    pub fn manifest_suffix(self) -> &'static str {
        match self {
            PackageKind::Hls | PackageKind::Cmaf => ".m3u8",
            PackageKind::Dash => ".mpd",
            PackageKind::Mss => ".ism/Manifest",
        }
    }
}

// ---- request bodies -------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePackagingGroupRequest {
    pub id: Option<String>,
    pub authorization: Option<Authorization>,
    pub egress_access_logs: Option<EgressAccessLogs>,
    pub tags: Option<Tags>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdatePackagingGroupRequest {
    pub authorization: Option<Authorization>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigureLogsRequest {
    pub egress_access_logs: Option<EgressAccessLogs>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePackagingConfigurationRequest {
    pub id: Option<String>,
    pub packaging_group_id: Option<String>,
    pub hls_package: Option<HlsPackage>,
    pub cmaf_package: Option<CmafPackage>,
    pub dash_package: Option<DashPackage>,
    pub mss_package: Option<MssPackage>,
    pub tags: Option<Tags>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateAssetRequest {
    pub id: Option<String>,
    pub packaging_group_id: Option<String>,
    pub source_arn: Option<String>,
    pub source_role_arn: Option<String>,
    pub resource_id: Option<String>,
    pub tags: Option<Tags>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagResourceRequest {
    pub tags: Option<Tags>,
}

// ---- responses ------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PackagingGroupOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approximate_asset_count: Option<i32>,
    pub arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    pub created_at: String,
    pub domain_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress_access_logs: Option<EgressAccessLogs>,
    pub id: String,
    pub tags: Tags,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PackagingConfigurationOut {
    pub arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmaf_package: Option<CmafPackage>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dash_package: Option<DashPackage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hls_package: Option<HlsPackage>,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mss_package: Option<MssPackage>,
    pub packaging_group_id: String,
    pub tags: Tags,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EgressEndpointOut {
    pub packaging_configuration_id: String,
    pub status: String,
    pub url: String,
}

/// Full asset (Create/Describe) or `AssetShallow` (List) when `egress_endpoints` is `None`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetOut {
    pub arn: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress_endpoints: Option<Vec<EgressEndpointOut>>,
    pub id: String,
    pub packaging_group_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    pub source_arn: String,
    pub source_role_arn: String,
    pub tags: Tags,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn package(v: serde_json::Value) -> Package {
        let req: CreatePackagingConfigurationRequest = serde_json::from_value(v).unwrap();
        crate::api::validate::package(&req).unwrap()
    }

    #[test]
    fn spec_applies_every_default() {
        let spec = package(json!({"dashPackage": {"dashManifests": [{}]}})).spec();
        assert_eq!(spec.segment_seconds, 6);
        assert!(!spec.encrypted());
        let ps::Format::Dash(d) = &spec.format else {
            panic!("{spec:?}")
        };
        assert_eq!(
            d.segment_template_format,
            ps::SegmentTemplateFormat::NumberWithTimeline
        );
        assert!(!d.include_iframe_only_stream && !d.include_encoder_configuration_in_segments);
        assert!(!d.period_on_ads);
        let m = &d.manifests[0];
        assert_eq!(m.name, "index");
        assert_eq!(m.min_buffer_time_seconds, 30);
        assert_eq!(m.manifest_layout, ps::ManifestLayout::Full);
        assert_eq!(m.profile, ps::Profile::None);
        assert_eq!(m.scte_markers_source, ps::ScteMarkersSource::Segments);
        assert_eq!(
            m.stream_selection,
            ps::StreamSelection {
                min_video_bits_per_second: 0,
                max_video_bits_per_second: u64::MAX,
                order: ps::StreamOrder::Original,
            }
        );

        let spec =
            package(json!({"hlsPackage": {"hlsManifests": [{}, {"manifestName": "b"}]}})).spec();
        assert_eq!(spec.manifest_names(), ["index", "b"]);
        let ps::Format::Hls(h) = &spec.format else {
            panic!("{spec:?}")
        };
        assert!(!h.use_audio_rendition_group && !h.include_dvb_subtitles);
        let m = &h.manifests[0];
        assert_eq!(m.ad_markers, ps::AdMarkers::None);
        assert!(!m.include_iframe_only_stream && !m.repeat_ext_x_key);
        assert_eq!(m.program_date_time_interval_seconds, None);
    }

    #[test]
    fn spec_carries_every_option() {
        let selection = json!({"minVideoBitsPerSecond": 1000, "maxVideoBitsPerSecond": 5000,
                               "streamOrder": "VIDEO_BITRATE_DESCENDING"});
        let spec = package(json!({"cmafPackage": {
            "segmentDurationSeconds": 2, "includeEncoderConfigurationInSegments": true,
            "hlsManifests": [{"manifestName": "c", "adMarkers": "SCTE35_ENHANCED",
                              "includeIframeOnlyStream": true, "programDateTimeIntervalSeconds": 60,
                              "repeatExtXKey": true, "streamSelection": selection}]}}))
        .spec();
        assert_eq!(spec.segment_seconds, 2);
        let ps::Format::Cmaf(c) = &spec.format else {
            panic!("{spec:?}")
        };
        assert!(c.include_encoder_configuration_in_segments);
        assert_eq!(
            c.manifests[0],
            ps::HlsManifestSpec {
                name: "c".into(),
                stream_selection: ps::StreamSelection {
                    min_video_bits_per_second: 1000,
                    max_video_bits_per_second: 5000,
                    order: ps::StreamOrder::VideoBitrateDescending,
                },
                ad_markers: ps::AdMarkers::Scte35Enhanced,
                include_iframe_only_stream: true,
                program_date_time_interval_seconds: Some(60),
                repeat_ext_x_key: true,
            }
        );

        let spec = package(json!({"dashPackage": {
            "segmentTemplateFormat": "TIME_WITH_TIMELINE", "includeIframeOnlyStream": true,
            "periodTriggers": ["ADS"],
            "dashManifests": [{"manifestLayout": "COMPACT", "profile": "HBBTV_1_5",
                               "minBufferTimeSeconds": 0, "scteMarkersSource": "MANIFEST"}]}}))
        .spec();
        let ps::Format::Dash(d) = &spec.format else {
            panic!("{spec:?}")
        };
        assert_eq!(
            d.segment_template_format,
            ps::SegmentTemplateFormat::TimeWithTimeline
        );
        assert!(d.include_iframe_only_stream && d.period_on_ads);
        let m = &d.manifests[0];
        assert_eq!(m.manifest_layout, ps::ManifestLayout::Compact);
        assert_eq!(m.profile, ps::Profile::Hbbtv1_5);
        assert_eq!(m.min_buffer_time_seconds, 0);
        assert_eq!(m.scte_markers_source, ps::ScteMarkersSource::Manifest);

        let spec = package(
            json!({"mssPackage": {"mssManifests": [{"manifestName": "s"}],
            "encryption": {"spekeKeyProvider": {"url": "https://k.example/",
                "roleArn": "arn:aws:iam::111122223333:role/r",
                "systemIds": ["9a04f079-9840-4286-ab92-e65be0885f95"]}}}}),
        )
        .spec();
        assert!(spec.encrypted());
        assert_eq!(spec.manifest_names(), ["s"]);
    }

    /// What an older build may have stored is clamped the way egress always read it.
    #[test]
    fn spec_of_out_of_range_stored_values() {
        let stored = Package::HlsPackage(HlsPackage {
            segment_duration_seconds: Some(0),
            hls_manifests: Some(vec![HlsManifest {
                program_date_time_interval_seconds: Some(-5),
                stream_selection: Some(StreamSelection {
                    min_video_bits_per_second: Some(-1),
                    max_video_bits_per_second: Some(-1),
                    stream_order: None,
                }),
                ..Default::default()
            }]),
            ..Default::default()
        });
        let spec = stored.spec();
        assert_eq!(spec.segment_seconds, 1);
        let m = spec.hls_manifest(0).unwrap();
        assert_eq!(m.program_date_time_interval_seconds, None);
        assert_eq!(m.stream_selection.min_video_bits_per_second, 0);
        assert_eq!(m.stream_selection.max_video_bits_per_second, 0);
    }
}
