//! Segment planning from key frames, and the rendition-alignment check of ingest.
//!
//! AWS rounds `segmentDurationSeconds` to the nearest multiple of the source GOP; every
//! rendition and audio track is cut at the same times, which is only possible when the video
//! renditions have their key frames at the same times.

use crate::error::MediaError;
use crate::index::{MediaIndex, Track, TrackKind};

/// GOP statistics of a video track.
#[derive(Debug, Clone, PartialEq)]
pub struct GopStats {
    pub count: usize,
    pub min_seconds: f64,
    pub max_seconds: f64,
    pub median_seconds: f64,
}

pub fn gop_stats(track: &Track) -> Option<GopStats> {
    let k = track.keyframe_times();
    let end = k.first()? + track.duration_seconds();
    let mut gops: Vec<f64> = k.windows(2).map(|w| w[1] - w[0]).collect();
    if let Some(last) = k.last() {
        gops.push(end - last);
    }
    gops.retain(|g| *g > 0.0);
    if gops.is_empty() {
        return None;
    }
    let mut sorted = gops.clone();
    sorted.sort_by(f64::total_cmp);
    Some(GopStats {
        count: gops.len(),
        min_seconds: sorted[0],
        max_seconds: sorted[sorted.len() - 1],
        // A full GOP: the last one is usually short, so take the median of the others if any.
        median_seconds: sorted[sorted.len() / 2],
    })
}

/// Checks that every video track has its key frames where the first one has them (within half
/// a frame), naming the first rendition and time that differ.
pub fn check_alignment(index: &MediaIndex, stream_names: &[String]) -> Result<(), MediaError> {
    let videos: Vec<&Track> = index
        .tracks
        .iter()
        .filter(|t| t.codec.kind() == TrackKind::Video)
        .collect();
    let Some(reference) = videos.first() else {
        return Ok(());
    };
    let name = |t: &Track| {
        stream_names
            .get(t.stream as usize)
            .cloned()
            .unwrap_or_else(|| format!("stream {}", t.stream))
    };
    let ref_keys = reference.keyframe_times();
    let tolerance = |t: &Track| match t.frame_rate {
        Some((n, d)) if n > 0 => 0.5 * f64::from(d) / f64::from(n),
        _ => 0.02,
    };
    for other in &videos[1..] {
        let keys = other.keyframe_times();
        let tol = tolerance(reference).max(tolerance(other));
        let mut j = 0;
        for (i, &k) in ref_keys.iter().enumerate() {
            match keys.get(j) {
                Some(&o) if (o - k).abs() <= tol => j += 1,
                Some(&o) if o < k => {
                    return Err(MediaError::Misaligned(format!(
                        "{} has a key frame at {o:.3}s where {} has none",
                        name(other),
                        name(reference)
                    )));
                }
                _ => {
                    return Err(MediaError::Misaligned(format!(
                        "{} has no key frame at {k:.3}s, where {} has key frame #{}",
                        name(other),
                        name(reference),
                        i + 1
                    )));
                }
            }
        }
        if let Some(&o) = keys.get(j) {
            return Err(MediaError::Misaligned(format!(
                "{} has a key frame at {o:.3}s where {} has none",
                name(other),
                name(reference)
            )));
        }
    }
    Ok(())
}

/// The track segments are cut on: the first video track, else the first audio track.
fn reference_track(index: &MediaIndex) -> Option<&Track> {
    let first = |kind| index.tracks.iter().find(|t| t.codec.kind() == kind);
    first(TrackKind::Video).or_else(|| first(TrackKind::Audio))
}

/// The typical GOP of a video track in seconds, and how many GOPs make the segment nearest
/// `target` seconds (AWS rounds `segmentDurationSeconds` the same way).
fn gop_multiple(video: &Track, target: f64) -> (f64, usize) {
    let gop = gop_stats(video).map_or(target, |g| g.median_seconds);
    (gop, ((target / gop).round() as usize).max(1))
}

/// The nominal segment duration of a [`Segmentation`], for display.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nominal {
    /// The typical distance between key frames of the reference video track, in seconds.
    pub gop_seconds: f64,
    /// The requested duration rounded to a multiple of the GOP, in seconds.
    pub segment_seconds: f64,
}

/// Exact segment boundaries of an asset, in the timescale of its reference track (the first
/// video track, else the first track), and which samples of any track fall in each segment.
/// Every sample belongs to exactly one segment: no gaps, no overlaps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segmentation {
    pub timescale: u32,
    /// Presentation start of each segment.
    pub starts: Vec<i64>,
    /// Presentation end of the last segment.
    pub end: i64,
}

impl Segmentation {
    /// Cuts `index` into segments of about `target_seconds`: every `n`-th key frame of the
    /// reference video track, `n` the GOP multiple nearest the target (AWS rounds the same way).
    /// Audio-only assets are cut every `target_seconds` on the first track's samples.
    pub fn new(index: &MediaIndex, target_seconds: u32) -> Option<Segmentation> {
        let target = f64::from(target_seconds.max(1));
        let reference = reference_track(index)?;
        let n = reference.samples.len();
        if n == 0 {
            return None;
        }
        let ts = reference.timescale.max(1);
        let pts: Vec<i64> = (0..n).map(|i| reference.pts(i)).collect();
        let first = *pts.iter().min()?;
        let end = (0..n)
            .map(|i| pts[i] + i64::from(reference.last_sample_duration))
            .max()?;
        let mut starts = Vec::new();
        if reference.codec.kind() == TrackKind::Video {
            let keys: Vec<i64> = (0..n)
                .filter(|i| reference.samples.keyframe[*i])
                .map(|i| pts[i])
                .collect();
            let (_, every) = gop_multiple(reference, target);
            starts.extend(keys.iter().step_by(every).copied());
            if starts.first().is_none_or(|s| *s > first) {
                // Samples before the first key frame (open GOP start) join the first segment.
                if let Some(s) = starts.first_mut() {
                    *s = first;
                } else {
                    starts.push(first);
                }
            }
        } else {
            let step = (target * f64::from(ts)).round() as i64;
            let mut t = first;
            while t < end {
                starts.push(t);
                t += step.max(1);
            }
        }
        Some(Segmentation {
            timescale: ts,
            starts,
            end,
        })
    }

    /// The nominal cut for `target_seconds` (what the rounding of [`Segmentation::new`] makes of
    /// the request): the reference track's typical GOP and the GOP multiple nearest the target,
    /// in seconds; both the target itself for audio-only assets.
    pub fn nominal(index: &MediaIndex, target_seconds: u32) -> Option<Nominal> {
        let target = f64::from(target_seconds.max(1));
        let reference = reference_track(index)?;
        if reference.codec.kind() != TrackKind::Video {
            return Some(Nominal {
                gop_seconds: target,
                segment_seconds: target,
            });
        }
        let (gop, every) = gop_multiple(reference, target);
        Some(Nominal {
            gop_seconds: gop,
            segment_seconds: gop * every as f64,
        })
    }

    /// Presentation start of segment `i` in seconds.
    pub fn start_seconds(&self, i: usize) -> f64 {
        self.starts[i] as f64 / f64::from(self.timescale)
    }

    pub fn count(&self) -> usize {
        self.starts.len()
    }

    /// Duration of segment `i` in seconds.
    pub fn duration_seconds(&self, i: usize) -> f64 {
        let next = self.starts.get(i + 1).copied().unwrap_or(self.end);
        (next - self.starts[i]) as f64 / f64::from(self.timescale)
    }

    /// Segment start `i` in `track`'s timescale.
    fn start_in(&self, i: usize, track: &Track) -> i64 {
        (i128::from(self.starts[i]) * i128::from(track.timescale) / i128::from(self.timescale))
            as i64
    }

    /// The samples of `track` in segment `i`, as an index range in decode order. Video is cut
    /// at the key frame nearest each boundary (within half a frame), in decode order, so every
    /// segment starts with its key frame; other tracks by presentation time.
    pub fn samples(&self, track: &Track, i: usize) -> std::ops::Range<usize> {
        let n = track.samples.len();
        let cut = |k: usize| -> usize {
            if k == 0 {
                return 0;
            }
            if k >= self.starts.len() {
                return n;
            }
            let at = self.start_in(k, track);
            if track.codec.kind() == TrackKind::Video {
                let half = i64::from(track.last_sample_duration.max(1)) / 2 + 1;
                // Decode times are sorted and a frame's presentation time is at least its
                // decode time plus the track's offset (less any negative composition offset,
                // bounded by the reorder depth): jump by binary search to a second before the
                // cut, then walk to the key frame.
                let margin = i64::from(track.timescale.max(1));
                let from_dts = at - half - track.presentation_offset - margin;
                let begin = track.samples.dts.partition_point(|d| *d < from_dts);
                (begin..n)
                    .find(|&j| track.samples.keyframe[j] && track.pts(j) >= at - half)
                    .unwrap_or(n)
            } else {
                // Presentation order equals decode order for audio and text.
                let mut lo = 0;
                let mut hi = n;
                while lo < hi {
                    let mid = (lo + hi) / 2;
                    if track.pts(mid) < at {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                lo
            }
        };
        cut(i)..cut(i + 1).max(cut(i))
    }
}
