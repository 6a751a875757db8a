//! Media files of every output format, cut from the index on request: MPEG-TS segments (HLS),
//! fMP4 init sections and fragments (CMAF, DASH, Smooth) and WebVTT subtitle segments. Each is
//! the same chain: segment plan → sample ranges → one ranged read per object
//! ([`SampleBytes`]) → the container's access-unit filter → (encryption, later) → writer.

use std::ops::Range;

use vodpack_media::index::{Track, TrackKind};
use vodpack_media::mux::access_unit::{Parts, TsPrep};
use vodpack_media::mux::fmp4::{Fmp4Options, Fmp4Track, FragmentKind, time_shift_us};
use vodpack_media::mux::ts::TsWriter;
use vodpack_media::mux::{TS_TIME_OFFSET, to_90k};

use super::EgressError;
use super::job::Job;
use super::read::{SampleBytes, unavailable};

fn media_error(e: vodpack_media::MediaError) -> EgressError {
    unavailable(e)
}

/// An MPEG-TS segment `s` muxing `tracks`. With `until_key`, stops right after the first video
/// key frame (the byte range an I-frame playlist points at).
pub async fn ts(
    job: &Job,
    tracks: &[usize],
    s: usize,
    until_key: bool,
) -> Result<Vec<u8>, EgressError> {
    let index = &job.index;
    let mut ranges: Vec<(usize, Range<usize>)> = tracks
        .iter()
        .map(|t| (*t, job.seg.samples(&index.tracks[*t], s)))
        .collect();
    let dts90 = |t: &Track, i: usize| to_90k(t.samples.dts[i] + t.presentation_offset, t.timescale);
    if until_key {
        // Only what precedes the key frame in decode order, and the key frame itself.
        let key = ranges
            .iter()
            .find(|(t, r)| index.tracks[*t].codec.kind() == TrackKind::Video && !r.is_empty())
            .map(|(t, r)| dts90(&index.tracks[*t], r.start));
        if let Some(key) = key {
            for (t, r) in &mut ranges {
                let track = &index.tracks[*t];
                if track.codec.kind() == TrackKind::Video {
                    r.end = r.start + 1;
                } else {
                    let mut end = r.start;
                    while end < r.end && dts90(track, end) <= key {
                        end += 1;
                    }
                    r.end = end;
                }
            }
        }
    }
    let bytes = SampleBytes::read(job.storage.as_ref(), &job.bucket, index, &ranges).await?;
    let codecs: Vec<_> = ranges.iter().map(|(t, _)| index.tracks[*t].codec).collect();
    let mut w = TsWriter::new(&codecs).map_err(media_error)?;
    w.write_tables();
    let mut order: Vec<(i64, usize, usize)> = Vec::new();
    for (k, (t, r)) in ranges.iter().enumerate() {
        let track = &index.tracks[*t];
        for i in r.clone() {
            order.push((dts90(track, i), k, i));
        }
    }
    order.sort_unstable();
    let preps = ranges
        .iter()
        .map(|(t, _)| TsPrep::new(&index.tracks[*t]))
        .collect::<Result<Vec<_>, _>>()
        .map_err(media_error)?;
    for (dts, k, i) in order {
        let track = &index.tracks[ranges[k].0];
        let sample = bytes.get(track, i)?;
        let key = track.samples.keyframe[i];
        let unit = preps[k].unit(&sample, key).map_err(media_error)?;
        let pts = to_90k(track.pts(i), track.timescale) + TS_TIME_OFFSET;
        w.write_pes(k, pts, dts + TS_TIME_OFFSET, key, &unit)
            .map_err(media_error)?;
    }
    Ok(w.out)
}

/// How fMP4 output of a job is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fmp4Style {
    /// `includeEncoderConfigurationInSegments`: parameter sets in band (avc3/hev1).
    pub in_band: bool,
    /// Output timescale override (Smooth: 10 MHz).
    pub timescale: Option<u32>,
}

pub fn fmp4_track(job: &Job, t: usize, style: Fmp4Style) -> Result<Fmp4Track<'_>, EgressError> {
    Fmp4Track::new(
        &job.index.tracks[t],
        Fmp4Options {
            track_id: 1,
            shift_us: time_shift_us(&job.index),
            in_band_parameter_sets: style.in_band,
            timescale: style.timescale,
        },
    )
    .map_err(media_error)
}

/// The init section (`ftyp` + `moov`) of track `t`.
pub fn fmp4_init(job: &Job, t: usize, style: Fmp4Style) -> Result<Vec<u8>, EgressError> {
    fmp4_track(job, t, style)?
        .init_segment()
        .map_err(media_error)
}

/// Fragment `s` of track `t`; with `iframe`, only its first (key) frame.
pub async fn fmp4_fragment(
    job: &Job,
    t: usize,
    s: usize,
    style: Fmp4Style,
    kind: FragmentKind,
    iframe: bool,
) -> Result<Vec<u8>, EgressError> {
    let track = &job.index.tracks[t];
    let mut range = job.seg.samples(track, s);
    if iframe {
        range.end = range.end.min(range.start + 1);
    }
    let out = fmp4_track(job, t, style)?;
    let bytes = SampleBytes::read(
        job.storage.as_ref(),
        &job.bucket,
        &job.index,
        &[(t, range.clone())],
    )
    .await?;
    let samples = range
        .clone()
        .map(|i| bytes.get(track, i))
        .collect::<Result<Vec<_>, _>>()?;
    let payloads = range
        .clone()
        .zip(&samples)
        .map(|(i, b)| out.sample(b, track.samples.keyframe[i]))
        .collect::<Result<Vec<Parts<'_>>, _>>()
        .map_err(media_error)?;
    out.fragment(track, s as u32 + 1, range, &payloads, kind)
        .map_err(media_error)
}

/// Start time of every segment of track `t` in the fMP4 output timescale, and the end time:
/// the decode time of each segment's first sample, so the timeline matches `tfdt` exactly.
pub fn fmp4_timeline(
    job: &Job,
    t: usize,
    style: Fmp4Style,
) -> Result<(Vec<u64>, u64), EgressError> {
    let track = &job.index.tracks[t];
    let out = fmp4_track(job, t, style)?;
    let mut starts = Vec::with_capacity(job.seg.count());
    for s in 0..job.seg.count() {
        let r = job.seg.samples(track, s);
        if r.is_empty() {
            continue;
        }
        starts.push(out.decode_time(r.start));
    }
    Ok((starts, out.end_time()))
}

/// WebVTT cue timestamp.
fn vtt_time(ms: i64) -> String {
    let ms = ms.max(0);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// WebVTT segment `s` of text track `t`: every cue overlapping the segment. `mpegts` is the
/// 90 kHz time of presentation time zero in the media segments (for `X-TIMESTAMP-MAP`).
pub async fn webvtt(job: &Job, t: usize, s: usize, mpegts: i64) -> Result<String, EgressError> {
    let track = &job.index.tracks[t];
    let seg = &job.seg;
    let ts = i64::from(track.timescale.max(1));
    let to_track =
        |v: i64| (i128::from(v) * i128::from(ts) / i128::from(seg.timescale.max(1))) as i64;
    let from = to_track(seg.starts[s]);
    let to = to_track(seg.starts.get(s + 1).copied().unwrap_or(seg.end));
    let n = track.samples.len();
    let cues: Vec<usize> = (0..n)
        .filter(|&i| track.samples.size[i] > 0)
        .filter(|&i| {
            let start = track.samples.dts[i];
            let end = track.samples.dts.get(i + 1).copied().unwrap_or(start);
            start < to && end > from
        })
        .collect();
    let mut out = format!("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000\n");
    if cues.is_empty() {
        return Ok(out);
    }
    let ranges: Vec<(usize, Range<usize>)> = cues.iter().map(|i| (t, *i..*i + 1)).collect();
    let bytes = SampleBytes::read(job.storage.as_ref(), &job.bucket, &job.index, &ranges).await?;
    let ms = |v: i64| (i128::from(v) * 1000 / i128::from(ts)) as i64;
    for i in cues {
        let text = bytes.get(track, i)?;
        let text = String::from_utf8_lossy(&text).replace('\r', "");
        let text = text.trim_matches('\n');
        let start = track.samples.dts[i];
        let end = track.samples.dts.get(i + 1).copied().unwrap_or(start);
        out.push_str(&format!(
            "\n{} --> {}\n{}\n",
            vtt_time(ms(start)),
            vtt_time(ms(end)),
            // A blank line would end the cue early.
            text.split('\n')
                .filter(|l| !l.trim().is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    Ok(out)
}

/// The RFC 6381 codec string of a track as written in fMP4: the sample entry changes to
/// `avc3`/`hev1` when parameter sets travel in band.
pub fn codec_string(track: &Track, style: Fmp4Style) -> String {
    let s = &track.codec_string;
    if !style.in_band {
        return s.clone();
    }
    for (from, to) in [("avc1.", "avc3."), ("hvc1.", "hev1.")] {
        if let Some(rest) = s.strip_prefix(from) {
            return format!("{to}{rest}");
        }
    }
    s.clone()
}
