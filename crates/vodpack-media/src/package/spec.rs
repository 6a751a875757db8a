//! A packaging configuration as the packagers use it: one output format with its options, every
//! default applied, no wire `Option`s left to interpret. Built by the service from the API's
//! validated wire form (`model::Package::spec`, after `api::validate`); the wire form stays what
//! is stored and answered.

pub use crate::manifest::dash::{ManifestLayout, Profile, SegmentTemplateFormat};

/// Segment duration when a configuration does not set one (MediaPackage's default).
pub const DEFAULT_SEGMENT_SECONDS: u32 = 6;
/// Manifest name when a manifest does not set one (AWS user guide: "index").
pub const DEFAULT_MANIFEST_NAME: &str = "index";
/// DASH `minBufferTime` when a manifest does not set one (MediaPackage's console default).
pub const DEFAULT_MIN_BUFFER_SECONDS: u32 = 30;

/// One packaging configuration, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSpec {
    /// Target segment duration in seconds (at least 1).
    pub segment_seconds: u32,
    /// The configuration's `encryption` block, when it has one: its output must never be
    /// served in the clear.
    pub encryption: Option<EncryptionSpec>,
    pub format: Format,
}

/// How a configuration asks for its output to be encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionSpec {
    pub speke: SpekeSpec,
    /// HLS-TS only: AES-128 (the AWS default) or SAMPLE-AES.
    pub hls_method: HlsMethod,
    /// `constantInitializationVector` (HLS, CMAF).
    pub constant_iv: Option<[u8; 16]>,
}

/// `spekeKeyProvider`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpekeSpec {
    pub url: String,
    /// Opaque here (kept for the key server's own use).
    pub role_arn: String,
    /// DRM system IDs, in the configured order.
    pub system_ids: Vec<[u8; 16]>,
    /// SPEKE v2 presets (`encryptionContractConfiguration`): (video, audio) as the API spells
    /// them (`PRESET-VIDEO-1`, `SHARED`, `UNENCRYPTED`, …); `None` = SPEKE v1.
    pub presets: Option<(String, String)>,
}

/// `hlsPackage.encryption.encryptionMethod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HlsMethod {
    #[default]
    Aes128,
    SampleAes,
}

/// The output format and its format-specific options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// `hlsPackage`: HLS with MPEG-TS segments.
    Hls(HlsSpec),
    /// `cmafPackage`: HLS with fMP4 (CMAF) segments.
    Cmaf(CmafSpec),
    /// `dashPackage`.
    Dash(DashSpec),
    /// `mssPackage`: Microsoft Smooth Streaming.
    Mss(MssSpec),
}

/// Which tracks a manifest presents: video renditions whose average bitrate is within
/// `min..=max`, in `order`; audio and text tracks are all kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSelection {
    pub min_video_bits_per_second: u64,
    /// `u64::MAX` when unbounded.
    pub max_video_bits_per_second: u64,
    pub order: StreamOrder,
}

impl Default for StreamSelection {
    /// Everything, in source order.
    fn default() -> Self {
        StreamSelection {
            min_video_bits_per_second: 0,
            max_video_bits_per_second: u64::MAX,
            order: StreamOrder::Original,
        }
    }
}

/// Order of video renditions in a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StreamOrder {
    #[default]
    Original,
    VideoBitrateAscending,
    VideoBitrateDescending,
}

/// How SCTE-35 ad markers appear in HLS output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AdMarkers {
    #[default]
    None,
    Passthrough,
    Scte35Enhanced,
}

/// Where DASH SCTE-35 markers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScteMarkersSource {
    #[default]
    Segments,
    Manifest,
}

/// One HLS playlist set (`hlsManifests[]` of `hlsPackage` and `cmafPackage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlsManifestSpec {
    pub name: String,
    pub stream_selection: StreamSelection,
    pub ad_markers: AdMarkers,
    /// `includeIframeOnlyStream`: an I-frame playlist of the first variant.
    pub include_iframe_only_stream: bool,
    /// `EXT-X-PROGRAM-DATE-TIME` every this many seconds; `None` when off (absent or 0).
    pub program_date_time_interval_seconds: Option<u32>,
    pub repeat_ext_x_key: bool,
}

/// `hlsPackage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlsSpec {
    pub manifests: Vec<HlsManifestSpec>,
    /// Every audio track in an audio rendition group, instead of the first one muxed into
    /// each variant.
    pub use_audio_rendition_group: bool,
    pub include_dvb_subtitles: bool,
}

/// `cmafPackage` (its audio is always in a rendition group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmafSpec {
    pub manifests: Vec<HlsManifestSpec>,
    /// Parameter sets in the segments too (`avc3`/`hev1`), not only in the init section.
    pub include_encoder_configuration_in_segments: bool,
}

/// One MPD (`dashManifests[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashManifestSpec {
    pub name: String,
    pub stream_selection: StreamSelection,
    pub manifest_layout: ManifestLayout,
    pub min_buffer_time_seconds: u32,
    pub profile: Profile,
    pub scte_markers_source: ScteMarkersSource,
}

/// `dashPackage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashSpec {
    pub manifests: Vec<DashManifestSpec>,
    pub include_encoder_configuration_in_segments: bool,
    /// A trick-play Representation of the first video's key frames.
    pub include_iframe_only_stream: bool,
    /// `periodTriggers: ["ADS"]`: a new Period at each ad marker (multi-period output).
    pub period_on_ads: bool,
    pub segment_template_format: SegmentTemplateFormat,
}

/// One Smooth client manifest (`mssManifests[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MssManifestSpec {
    pub name: String,
    pub stream_selection: StreamSelection,
}

/// `mssPackage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MssSpec {
    pub manifests: Vec<MssManifestSpec>,
}

impl PackageSpec {
    /// Whether the output is encrypted.
    pub fn encrypted(&self) -> bool {
        self.encryption.is_some()
    }

    /// The encryption scheme of the output, when it is encrypted.
    pub fn scheme(&self) -> Option<crate::package::keys::Scheme> {
        use crate::package::keys::Scheme;
        let e = self.encryption.as_ref()?;
        Some(match &self.format {
            Format::Hls(_) => match e.hls_method {
                HlsMethod::Aes128 => Scheme::Aes128,
                HlsMethod::SampleAes => Scheme::SampleAes,
            },
            Format::Cmaf(_) => Scheme::Cbcs,
            Format::Dash(_) => Scheme::Cenc,
            Format::Mss(_) => Scheme::Piff,
        })
    }

    /// Manifest names in declaration order.
    pub fn manifest_names(&self) -> Vec<String> {
        (0..self.manifest_count())
            .filter_map(|i| self.manifest_name(i).map(str::to_string))
            .collect()
    }

    /// How many manifests the configuration declares.
    pub fn manifest_count(&self) -> usize {
        match &self.format {
            Format::Hls(p) => p.manifests.len(),
            Format::Cmaf(p) => p.manifests.len(),
            Format::Dash(p) => p.manifests.len(),
            Format::Mss(p) => p.manifests.len(),
        }
    }

    /// The name of manifest `i`.
    pub fn manifest_name(&self, i: usize) -> Option<&str> {
        Some(match &self.format {
            Format::Hls(p) => p.manifests.get(i)?.name.as_str(),
            Format::Cmaf(p) => p.manifests.get(i)?.name.as_str(),
            Format::Dash(p) => p.manifests.get(i)?.name.as_str(),
            Format::Mss(p) => p.manifests.get(i)?.name.as_str(),
        })
    }

    /// The stream selection of manifest `i` (everything when there is no such manifest).
    pub fn stream_selection(&self, i: usize) -> StreamSelection {
        match &self.format {
            Format::Hls(p) => p.manifests.get(i).map(|m| m.stream_selection),
            Format::Cmaf(p) => p.manifests.get(i).map(|m| m.stream_selection),
            Format::Dash(p) => p.manifests.get(i).map(|m| m.stream_selection),
            Format::Mss(p) => p.manifests.get(i).map(|m| m.stream_selection),
        }
        .unwrap_or_default()
    }

    /// The HLS options of manifest `i` (for `hlsPackage` and `cmafPackage`).
    pub fn hls_manifest(&self, i: usize) -> Option<&HlsManifestSpec> {
        match &self.format {
            Format::Hls(p) => p.manifests.get(i),
            Format::Cmaf(p) => p.manifests.get(i),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hls(names: &[&str]) -> PackageSpec {
        PackageSpec {
            segment_seconds: DEFAULT_SEGMENT_SECONDS,
            encryption: None,
            format: Format::Hls(HlsSpec {
                manifests: names
                    .iter()
                    .map(|n| HlsManifestSpec {
                        name: n.to_string(),
                        stream_selection: StreamSelection {
                            min_video_bits_per_second: 1000,
                            ..StreamSelection::default()
                        },
                        ad_markers: AdMarkers::None,
                        include_iframe_only_stream: false,
                        program_date_time_interval_seconds: None,
                        repeat_ext_x_key: false,
                    })
                    .collect(),
                use_audio_rendition_group: false,
                include_dvb_subtitles: false,
            }),
        }
    }

    #[test]
    fn manifests_by_position() {
        let s = hls(&["a", "b"]);
        assert_eq!(s.manifest_names(), ["a", "b"]);
        assert_eq!(s.manifest_count(), 2);
        assert_eq!(s.manifest_name(1), Some("b"));
        assert_eq!(s.manifest_name(2), None);
        assert_eq!(s.stream_selection(0).min_video_bits_per_second, 1000);
        // Past the end: no filtering at all.
        assert_eq!(s.stream_selection(2), StreamSelection::default());
        assert!(s.hls_manifest(0).is_some());
    }
}
