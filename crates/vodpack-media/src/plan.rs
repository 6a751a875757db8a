//! Segment planning from key frames, and the rendition-alignment check of ingest.
//!
//! AWS rounds `segmentDurationSeconds` to the nearest multiple of the source GOP; every
//! rendition and audio track is cut at the same times, which is only possible when the video
//! renditions have their key frames at the same times.

use crate::error::MediaError;
use crate::index::{MediaIndex, Track, TrackKind};

/// Where segments of one asset start, for a requested duration.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentPlan {
    /// The typical distance between key frames of the reference video track, in seconds.
    pub gop_seconds: f64,
    /// The requested duration rounded to a multiple of the GOP, in seconds.
    pub segment_seconds: f64,
    /// Start time of each segment, in seconds of presentation time.
    pub starts: Vec<f64>,
    /// Duration of each segment (the last may be short).
    pub durations: Vec<f64>,
}

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

/// Plans segments of roughly `target_seconds` on the key frames of the first video track (or
/// on fixed times for audio-only assets).
pub fn plan(index: &MediaIndex, target_seconds: f64) -> Option<SegmentPlan> {
    let target = if target_seconds > 0.0 {
        target_seconds
    } else {
        6.0
    };
    let duration = index.duration_seconds();
    if let Some(video) = index
        .tracks
        .iter()
        .find(|t| t.codec.kind() == TrackKind::Video)
    {
        let stats = gop_stats(video)?;
        let gop = stats.median_seconds;
        let every = ((target / gop).round() as usize).max(1);
        let keys = video.keyframe_times();
        let first = *keys.first()?;
        let starts: Vec<f64> = keys.iter().step_by(every).copied().collect();
        let end = first + video.duration_seconds();
        let durations = starts
            .iter()
            .enumerate()
            .map(|(i, s)| starts.get(i + 1).copied().unwrap_or(end) - s)
            .collect();
        Some(SegmentPlan {
            gop_seconds: gop,
            segment_seconds: gop * every as f64,
            starts,
            durations,
        })
    } else {
        let n = (duration / target).ceil().max(1.0) as usize;
        let starts: Vec<f64> = (0..n).map(|i| i as f64 * target).collect();
        let durations = (0..n)
            .map(|i| (duration - i as f64 * target).min(target))
            .collect();
        Some(SegmentPlan {
            gop_seconds: target,
            segment_seconds: target,
            starts,
            durations,
        })
    }
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
