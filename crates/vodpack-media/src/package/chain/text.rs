//! Subtitle segments (WebVTT): the cues of a text track that overlap a plan segment, their
//! stored text (SubRip or WebVTT) → `mux::webvtt`.

use std::ops::Range;

use crate::index::Codec;
use crate::mux::webvtt::{self, Cue, TextForm};
use crate::package::{PackageError, Presentation};

use super::SourceBytes;

pub const CONTENT_TYPE: &str = "text/vtt; charset=utf-8";

/// The cues (samples) of text track `t` that overlap plan segment `s`.
pub fn cues(p: &Presentation, t: usize, s: usize) -> Vec<usize> {
    let track = &p.index.tracks[t];
    let seg = &p.seg;
    let ts = i64::from(track.timescale.max(1));
    let to_track =
        |v: i64| (i128::from(v) * i128::from(ts) / i128::from(seg.timescale.max(1))) as i64;
    let from = to_track(seg.starts[s]);
    let to = to_track(seg.starts.get(s + 1).copied().unwrap_or(seg.end));
    (0..track.samples.len())
        .filter(|&i| track.samples.size[i] > 0)
        .filter(|&i| {
            let start = track.samples.dts[i];
            let end = track.samples.dts.get(i + 1).copied().unwrap_or(start);
            start < to && end > from
        })
        .collect()
}

/// What to read for segment `s` of text track `t`.
pub fn ranges(p: &Presentation, t: usize, s: usize) -> Vec<(usize, Range<usize>)> {
    cues(p, t, s).into_iter().map(|i| (t, i..i + 1)).collect()
}

/// WebVTT segment `s` of text track `t`, from `bytes` (read for [`ranges`]). `mpegts` is the
/// 90 kHz time of presentation time zero in the media segments.
pub fn webvtt(
    p: &Presentation,
    t: usize,
    s: usize,
    mpegts: i64,
    bytes: &SourceBytes,
) -> Result<String, PackageError> {
    let track = &p.index.tracks[t];
    let ts = i128::from(track.timescale.max(1));
    let ms = |v: i64| (i128::from(v) * 1000 / ts) as i64;
    let form = if track.codec == Codec::Srt {
        TextForm::Srt
    } else {
        TextForm::WebVtt
    };
    let mut texts = Vec::new();
    for i in cues(p, t, s) {
        let start = track.samples.dts[i];
        let end = track.samples.dts.get(i + 1).copied().unwrap_or(start);
        let text = String::from_utf8_lossy(&bytes.get(track, i)?).into_owned();
        texts.push((ms(start), ms(end), text));
    }
    Ok(webvtt::segment(
        mpegts,
        texts.iter().map(|(start_ms, end_ms, text)| Cue {
            start_ms: *start_ms,
            end_ms: *end_ms,
            text,
        }),
        form,
    ))
}
