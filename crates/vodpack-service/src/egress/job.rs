//! What one output needs, independent of HTTP: the asset's index and segment plan, where its
//! source bytes are, the packaging configuration (as its validated [`PackageSpec`]) and which
//! of its manifests. The server builds
//! a [`Job`] per request; `vodpack package` builds one per manifest and asks for every file.

use std::sync::Arc;

use vodpack_media::index::{MediaIndex, TrackKind};
use vodpack_media::package::PackageSpec;
use vodpack_media::package::spec::{StreamOrder, StreamSelection};
use vodpack_media::plan::Segmentation;

use crate::storage::Storage;

pub struct Job {
    pub storage: Arc<dyn Storage>,
    /// The bucket of the asset's source (index objects are keys in it).
    pub bucket: String,
    pub index: Arc<MediaIndex>,
    pub seg: Arc<Segmentation>,
    /// Asset creation time (RFC 3339): the origin of `EXT-X-PROGRAM-DATE-TIME`.
    pub created_at: String,
    /// The packaging configuration, validated, defaults applied.
    pub spec: Arc<PackageSpec>,
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

/// The tracks a manifest presents, after its `streamSelection`: video renditions within the
/// bitrate bounds in the requested order; every audio and text track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Streams {
    pub videos: Vec<usize>,
    pub audios: Vec<usize>,
    pub texts: Vec<usize>,
}

pub fn select(index: &MediaIndex, sel: StreamSelection) -> Streams {
    let kind = |k: TrackKind| -> Vec<usize> {
        (0..index.tracks.len())
            .filter(|i| index.tracks[*i].codec.kind() == k)
            .collect()
    };
    let mut videos = kind(TrackKind::Video);
    let rate = |i: &usize| index.tracks[*i].avg_bitrate;
    let bounds = sel.min_video_bits_per_second..=sel.max_video_bits_per_second;
    videos.retain(|i| bounds.contains(&rate(i)));
    match sel.order {
        StreamOrder::VideoBitrateAscending => videos.sort_by_key(rate),
        StreamOrder::VideoBitrateDescending => videos.sort_by_key(|i| std::cmp::Reverse(rate(i))),
        StreamOrder::Original => {}
    }
    Streams {
        videos,
        audios: kind(TrackKind::Audio),
        texts: kind(TrackKind::Subtitle),
    }
}

impl Job {
    pub fn streams(&self) -> Streams {
        select(&self.index, self.spec.stream_selection(self.manifest))
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
