//! Which tracks a manifest presents, after its `streamSelection`.

use crate::index::{MediaIndex, TrackKind};

use super::spec::{StreamOrder, StreamSelection};

/// The tracks a manifest presents: video renditions within the bitrate bounds in the
/// requested order; every audio and text track.
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
