//! What one output needs, independent of HTTP: the asset's index and segment plan, where its
//! source bytes are, the packaging configuration and which of its manifests. The server builds
//! a [`Job`] per request; `vodpack package` builds one per manifest and asks for every file.

use std::sync::Arc;

use vodpack_media::index::{MediaIndex, TrackKind};
use vodpack_media::plan::Segmentation;

use crate::model::{Package, StreamOrder, StreamSelection};
use crate::storage::Storage;

/// Segment duration when the configuration does not set one (MediaPackage's default).
pub const DEFAULT_SEGMENT_SECONDS: u32 = 6;

pub struct Job {
    pub storage: Arc<dyn Storage>,
    /// The bucket of the asset's source (index objects are keys in it).
    pub bucket: String,
    pub index: Arc<MediaIndex>,
    pub seg: Arc<Segmentation>,
    /// Asset creation time (RFC 3339): the origin of `EXT-X-PROGRAM-DATE-TIME`.
    pub created_at: String,
    pub package: Package,
    /// Lengths of TS segments already worked out for this asset incarnation (its egress id):
    /// a repeat request muxes without the sizing pass.
    pub ts_lengths: Option<(TsLengths, String)>,
    /// Position of the manifest in the configuration's list, and its name.
    pub manifest: usize,
    pub manifest_name: String,
}

/// Lengths of TS segments by asset incarnation, segment duration, tracks, segment and cut:
/// outputs are deterministic, so the sizing pass (which walks every sample once more, a cache
/// miss or more each) runs once per segment, not per request.
pub type TsLengths = moka::future::Cache<String, u64>;

/// The segment duration a package asks for, default applied.
pub fn segment_seconds(p: &Package) -> u32 {
    let d = match p {
        Package::HlsPackage(p) => p.segment_duration_seconds,
        Package::CmafPackage(p) => p.segment_duration_seconds,
        Package::DashPackage(p) => p.segment_duration_seconds,
        Package::MssPackage(p) => p.segment_duration_seconds,
    };
    d.map_or(DEFAULT_SEGMENT_SECONDS, |d| d.max(1) as u32)
}

/// The tracks a manifest presents, after its `streamSelection`: video renditions within the
/// bitrate bounds in the requested order; every audio and text track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Streams {
    pub videos: Vec<usize>,
    pub audios: Vec<usize>,
    pub texts: Vec<usize>,
}

pub fn select(index: &MediaIndex, sel: Option<&StreamSelection>) -> Streams {
    let kind = |k: TrackKind| -> Vec<usize> {
        (0..index.tracks.len())
            .filter(|i| index.tracks[*i].codec.kind() == k)
            .collect()
    };
    let mut videos = kind(TrackKind::Video);
    if let Some(sel) = sel {
        let rate = |i: &usize| index.tracks[*i].avg_bitrate;
        let min = sel.min_video_bits_per_second.map_or(0, |v| v.max(0) as u64);
        let max = sel
            .max_video_bits_per_second
            .map_or(u64::MAX, |v| v.max(0) as u64);
        videos.retain(|i| (min..=max).contains(&rate(i)));
        match sel.stream_order {
            Some(StreamOrder::VideoBitrateAscending) => videos.sort_by_key(rate),
            Some(StreamOrder::VideoBitrateDescending) => {
                videos.sort_by_key(|i| std::cmp::Reverse(rate(i)))
            }
            _ => {}
        }
    }
    Streams {
        videos,
        audios: kind(TrackKind::Audio),
        texts: kind(TrackKind::Subtitle),
    }
}

impl Job {
    /// The `streamSelection` of this job's manifest.
    pub fn stream_selection(&self) -> Option<&StreamSelection> {
        match &self.package {
            Package::HlsPackage(p) => p.hls_manifests.as_ref()?.get(self.manifest)?,
            Package::CmafPackage(p) => p.hls_manifests.as_ref()?.get(self.manifest)?,
            Package::DashPackage(p) => {
                return p
                    .dash_manifests
                    .as_ref()?
                    .get(self.manifest)?
                    .stream_selection
                    .as_ref();
            }
            Package::MssPackage(p) => {
                return p
                    .mss_manifests
                    .as_ref()?
                    .get(self.manifest)?
                    .stream_selection
                    .as_ref();
            }
        }
        .stream_selection
        .as_ref()
    }

    pub fn streams(&self) -> Streams {
        select(&self.index, self.stream_selection())
    }

    /// A human name for a track in manifests: its SMIL/HLS name, else its language, else a
    /// numbered default.
    pub fn track_name(&self, t: usize, fallback: &str, n: usize) -> String {
        let track = &self.index.tracks[t];
        track
            .name
            .clone()
            .or_else(|| track.language.clone())
            .unwrap_or_else(|| format!("{fallback} {}", n + 1))
    }
}
