//! Media files of every output format, cut from the index on request: MPEG-TS segments (HLS),
//! fMP4 init sections and fragments (CMAF, DASH, Smooth) and WebVTT subtitle segments. Each is
//! the same chain: segment plan → sample ranges → one ranged read per object
//! ([`SampleBytes`]) → the container's access-unit filter → (encryption, later) → writer.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use vodpack_media::index::{Codec, MediaIndex, Track, TrackKind};
use vodpack_media::mux::access_unit::{Parts, TsPrep};
use vodpack_media::mux::clock::time_shift_us;
use vodpack_media::mux::clock::{to_90k, ts_offset};
use vodpack_media::mux::fmp4::{Fmp4Options, Fmp4Track, FragmentKind};
use vodpack_media::mux::ts::TsWriter;

use super::EgressError;
use super::job::Job;
use super::read::SampleBytes;

/// Media that cannot be cut or muxed from source bytes the index describes: a damaged source.
fn media_error(e: vodpack_media::MediaError) -> EgressError {
    EgressError::damaged(e)
}

/// Bytes one sample takes in our TS output: its elementary-stream form (AUD and parameter sets
/// on key frames for MP4 video, ADTS for MP4 AAC; TS sources pass through) in a PES with PTS
/// and DTS, in 188-byte packets (the first of a video PES may carry a PCR). `sets` is the
/// length of the track's parameter sets with start codes.
fn ts_sample_bytes(track: &Track, i: usize, sets: u64) -> u64 {
    let size = u64::from(track.samples.size[i]);
    let video = track.codec.kind() == TrackKind::Video;
    let es = if track.ts_pid != 0 {
        size
    } else {
        match track.codec {
            Codec::H264 => size + 6 + if track.samples.keyframe[i] { sets } else { 0 },
            Codec::H265 => size + 7 + if track.samples.keyframe[i] { sets } else { 0 },
            Codec::Aac => size + 7,
            _ => size,
        }
    };
    let header = 19 + if video { 8 } else { 0 };
    (es + header).div_ceil(184) * 188
}

fn parameter_set_bytes(track: &Track) -> u64 {
    vodpack_media::mux::access_unit::parameter_sets(track)
        .map(|sets| sets.iter().map(|s| s.len() as u64 + 4).sum())
        .unwrap_or(0)
}

/// (peak, average) bits per second of the TS segments muxing `tracks`, from the index: what
/// a multivariant playlist's BANDWIDTH and AVERAGE-BANDWIDTH must state.
pub fn ts_bitrates(job: &Job, tracks: &[usize]) -> (u64, u64) {
    let sets: Vec<u64> = tracks
        .iter()
        .map(|t| parameter_set_bytes(&job.index.tracks[*t]))
        .collect();
    let (mut peak, mut total_bytes, mut total_seconds) = (0f64, 0u64, 0f64);
    for s in non_empty(job, tracks) {
        let mut bytes = 2 * 188; // PAT, PMT
        for (k, t) in tracks.iter().enumerate() {
            let track = &job.index.tracks[*t];
            for i in job.seg.samples(track, s) {
                bytes += ts_sample_bytes(track, i, sets[k]);
            }
        }
        let seconds = job.seg.duration_seconds(s).max(0.001);
        peak = peak.max(bytes as f64 * 8.0 / seconds);
        total_bytes += bytes;
        total_seconds += seconds;
    }
    let average = if total_seconds > 0.0 {
        total_bytes as f64 * 8.0 / total_seconds
    } else {
        0.0
    };
    (peak.ceil() as u64, average.ceil() as u64)
}

/// About the bytes from the start of TS segment `s` through its key frame (an I-frame
/// playlist's byte range): PAT/PMT, the key frame, an audio packet per other track.
pub fn ts_key_prefix_bytes(job: &Job, tracks: &[usize], s: usize) -> u64 {
    let mut bytes = 2 * 188;
    for t in tracks {
        let track = &job.index.tracks[*t];
        let r = job.seg.samples(track, s);
        if track.codec.kind() == TrackKind::Video && !r.is_empty() {
            bytes += ts_sample_bytes(track, r.start, parameter_set_bytes(track));
        } else {
            bytes += 188;
        }
    }
    bytes
}

/// Bytes of the one-frame fMP4 fragment of segment `s` of track `t` (its key frame and about
/// 256 bytes of styp/moof/mdat headers); `None` when the track has no sample there.
pub fn fmp4_key_fragment_bytes(job: &Job, t: usize, s: usize) -> Option<u64> {
    let track = &job.index.tracks[t];
    let r = job.seg.samples(track, s);
    (!r.is_empty()).then(|| u64::from(track.samples.size[r.start]) + 256)
}

/// Peak bits per second of an I-frame-only rendition: the largest `bytes(s)` over the
/// duration of segment `s`, from the index (no media read).
pub fn iframe_bitrate(
    job: &Job,
    segments: impl IntoIterator<Item = usize>,
    bytes: impl Fn(usize) -> Option<u64>,
) -> u64 {
    segments
        .into_iter()
        .filter_map(|s| {
            let b = bytes(s)?;
            Some((b as f64 * 8.0 / job.seg.duration_seconds(s).max(0.001)) as u64)
        })
        .max()
        .unwrap_or(0)
}

/// Bytes muxed per chunk of a streamed TS segment: small enough that the packets are still in
/// the CPU's cache when the socket copies them, large enough to keep system calls few (A/B on
/// the egress benchmark: 256 KiB used 5–10% less CPU per segment than 64 or 128 KiB, and less
/// than muxing the whole segment first).
const TS_CHUNK: usize = 256 << 10;

/// An MPEG-TS segment ready to be muxed: its samples in decode order, their bytes and the
/// writer, with its exact length worked out first. [`TsSegment::next_chunk`] muxes it a chunk
/// at a time as the response goes out, so a segment's packets are never all in memory (and
/// out of the cache) at once, and the first bytes leave before the last are written.
pub struct TsSegment {
    index: Arc<MediaIndex>,
    bytes: SampleBytes,
    /// Output stream k's track.
    tracks: Vec<usize>,
    /// (DTS at 90 kHz, output stream, sample) in decode order.
    order: Vec<(i64, usize, usize)>,
    preps: Vec<TsPrep>,
    offset: i64,
    w: TsWriter,
    next: usize,
    pub len: u64,
}

/// Prepares MPEG-TS segment `s` muxing `tracks`; with `until_key`, only through the first
/// video key frame (the byte range an I-frame playlist points at). Fails before any byte is
/// muxed when a sample cannot be written.
pub async fn ts_segment(
    job: &Job,
    tracks: &[usize],
    s: usize,
    until_key: bool,
) -> Result<TsSegment, EgressError> {
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
    if ranges.iter().all(|(_, r)| r.is_empty()) {
        return Err(super::not_found("no such segment for this rendition"));
    }
    let offset = ts_offset(&job.index);
    let bytes = SampleBytes::read(job.storage.as_ref(), &job.bucket, index, &ranges).await?;
    let codecs: Vec<_> = ranges.iter().map(|(t, _)| index.tracks[*t].codec).collect();
    let mut w = TsWriter::new(&codecs).map_err(media_error)?;
    w.out.reserve(TS_CHUNK + TS_CHUNK / 4);
    w.write_tables();
    let order = decode_order(&ranges, |k, i| dts90(&index.tracks[ranges[k].0], i));
    let preps = ranges
        .iter()
        .map(|(t, _)| TsPrep::new(&index.tracks[*t]))
        .collect::<Result<Vec<_>, _>>()
        .map_err(media_error)?;
    // The length: the first time, every unit is filtered once here (which also finds bad
    // samples before the response starts) and again when muxed; filtering only slices the
    // source. A source changed since would make the body differ from the length sent: the
    // connection is cut rather than a wrong segment served.
    let key = job.ts_lengths.as_ref().map(|(_, asset)| {
        format!(
            "{asset}/{}/{tracks:?}/{s}/{until_key}",
            job.spec.segment_seconds
        )
    });
    let known = match (&job.ts_lengths, &key) {
        (Some((cache, _)), Some(key)) => cache.get(key).await,
        _ => None,
    };
    let len = match known {
        Some(len) => len,
        None => {
            let mut len = w.out.len() as u64;
            for &(dts, k, i) in &order {
                let track = &index.tracks[ranges[k].0];
                let sample = bytes.get(track, i)?;
                let key = track.samples.keyframe[i];
                let unit = preps[k].unit(&sample, key).map_err(media_error)?;
                let pts = to_90k(track.pts(i), track.timescale) + offset;
                len += w.pes_size(k, pts, dts + offset, key, unit.len()) as u64;
            }
            if let (Some((cache, _)), Some(key)) = (&job.ts_lengths, key) {
                cache.insert(key, len).await;
            }
            len
        }
    };
    Ok(TsSegment {
        index: index.clone(),
        bytes,
        tracks: ranges.iter().map(|(t, _)| *t).collect(),
        order,
        preps,
        offset,
        w,
        next: 0,
        len,
    })
}

/// (DTS, output stream, sample) of every sample of `ranges`, by DTS then stream: each track's
/// samples are already in decode order, so this merges them rather than sorting.
fn decode_order(
    ranges: &[(usize, Range<usize>)],
    dts: impl Fn(usize, usize) -> i64,
) -> Vec<(i64, usize, usize)> {
    let mut order = Vec::with_capacity(ranges.iter().map(|(_, r)| r.len()).sum());
    let mut heads: Vec<Range<usize>> = ranges.iter().map(|(_, r)| r.clone()).collect();
    let mut next: Vec<Option<i64>> = heads
        .iter()
        .enumerate()
        .map(|(k, r)| (!r.is_empty()).then(|| dts(k, r.start)))
        .collect();
    loop {
        // The earliest head; the lowest stream on a tie (a handful of streams: a linear scan).
        let mut best: Option<(i64, usize)> = None;
        for (k, d) in next.iter().enumerate() {
            if let Some(d) = *d
                && best.is_none_or(|(b, _)| d < b)
            {
                best = Some((d, k));
            }
        }
        let Some((d, k)) = best else {
            return order;
        };
        let i = heads[k].start;
        order.push((d, k, i));
        heads[k].start += 1;
        next[k] = (!heads[k].is_empty()).then(|| dts(k, heads[k].start));
    }
}

impl TsSegment {
    /// The next bytes of the segment (whole PES packets, about [`TS_CHUNK`]), `None` after
    /// the last. An error means the source changed under the segment: the response must be
    /// cut off.
    pub fn next_chunk(&mut self) -> Option<Result<Bytes, EgressError>> {
        if self.next >= self.order.len() && self.w.out.is_empty() {
            return None;
        }
        while self.next < self.order.len() && self.w.out.len() < TS_CHUNK {
            let (dts, k, i) = self.order[self.next];
            self.next += 1;
            let track = &self.index.tracks[self.tracks[k]];
            let key = track.samples.keyframe[i];
            let pts = to_90k(track.pts(i), track.timescale) + self.offset;
            let written = self.bytes.get(track, i).and_then(|sample| {
                let unit = self.preps[k].unit(&sample, key).map_err(media_error)?;
                self.w
                    .write_pes(k, pts, dts + self.offset, key, &unit)
                    .map_err(media_error)
            });
            if let Err(e) = written {
                return Some(Err(e));
            }
        }
        if let Err(e) = self.bytes.intact() {
            return Some(Err(e));
        }
        Some(Ok(Bytes::from(std::mem::replace(
            &mut self.w.out,
            Vec::with_capacity(TS_CHUNK + TS_CHUNK / 4),
        ))))
    }
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

/// Fragment `s` of track `t`; with `iframe`, only its first (key) frame. The header is new
/// bytes; the sample data is sent from the read buffers (runs of contiguous samples as one
/// slice each), so a segment's media bytes are copied once, from the source into memory.
pub async fn fmp4_fragment(
    job: &Job,
    t: usize,
    s: usize,
    style: Fmp4Style,
    kind: FragmentKind,
    iframe: bool,
) -> Result<Vec<Bytes>, EgressError> {
    let track = &job.index.tracks[t];
    let mut range = job.seg.samples(track, s);
    if iframe {
        range.end = range.end.min(range.start + 1);
    }
    if range.is_empty() {
        return Err(super::not_found("no such segment for this track"));
    }
    let out = fmp4_track(job, t, style)?;
    let bytes = SampleBytes::read(
        job.storage.as_ref(),
        &job.bucket,
        &job.index,
        &[(t, range.clone())],
    )
    .await?;
    if track.ts_pid == 0 && out.passes_through() {
        // The samples as stored: sizes from the index, data as slices of the source bytes,
        // one per run of adjacent samples, no per-sample work.
        let samples = &track.samples;
        let sizes: Vec<usize> = range.clone().map(|i| samples.size[i] as usize).collect();
        let header = out
            .fragment_header(track, s as u32 + 1, range.clone(), &sizes, kind)
            .map_err(media_error)?;
        let mut body: Vec<Bytes> = vec![Bytes::from(header)];
        let mut run: Option<(u32, u64, u64)> = None;
        for i in range {
            let (o, start) = (samples.object[i], samples.offset[i]);
            let end = start + u64::from(samples.size[i]);
            match &mut run {
                Some((ro, _, re)) if *ro == o && *re == start => *re = end,
                _ => {
                    if let Some((ro, rs, re)) = run.replace((o, start, end)) {
                        body.push(bytes.range(ro, rs, re)?);
                    }
                }
            }
        }
        if let Some((ro, rs, re)) = run {
            body.push(bytes.range(ro, rs, re)?);
        }
        bytes.intact()?;
        return Ok(body);
    }
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
    let sizes: Vec<usize> = payloads.iter().map(Parts::len).collect();
    let header = out
        .fragment_header(track, s as u32 + 1, range, &sizes, kind)
        .map_err(media_error)?;
    let mut body: Vec<Bytes> = vec![Bytes::from(header)];
    for part in payloads.iter().flat_map(|p| p.parts.iter()) {
        let piece = bytes.share(part);
        // Merge with the previous piece when it continues it in the same buffer.
        if let Some(last) = body.last_mut()
            && let Some(merged) = bytes.merge(last, &piece)
        {
            *last = merged;
            continue;
        }
        body.push(piece);
    }
    bytes.intact()?;
    Ok(body)
}

/// The segments of a track in the fMP4 output timescale: (plan segment index, start time) of
/// every segment in which the track has samples, and the end time. Starts are the decode times
/// of each segment's first sample, so the timeline matches `tfdt` exactly; a track that starts
/// late or ends early simply has fewer entries (DASH/Smooth addresses map back through the
/// index).
pub fn fmp4_timeline(
    job: &Job,
    t: usize,
    style: Fmp4Style,
) -> Result<(Vec<(usize, u64)>, u64), EgressError> {
    let track = &job.index.tracks[t];
    let out = fmp4_track(job, t, style)?;
    let mut starts = Vec::with_capacity(job.seg.count());
    for s in 0..job.seg.count() {
        let r = job.seg.samples(track, s);
        if r.is_empty() {
            continue;
        }
        starts.push((s, out.decode_time(r.start)));
    }
    Ok((starts, out.end_time()))
}

/// The plan segment of the `k`-th (from 0) entry of track `t`'s timeline without building the
/// whole timeline: a track's samples are contiguous in time, so the segments holding them are
/// a contiguous run starting at the first non-empty one.
pub fn timeline_entry(job: &Job, t: usize, k: usize) -> Option<usize> {
    let track = &job.index.tracks[t];
    let has = |s: usize| !job.seg.samples(track, s).is_empty();
    let first = (0..job.seg.count()).find(|s| has(*s))?;
    let s = first.checked_add(k)?;
    (s < job.seg.count() && has(s)).then_some(s)
}

/// The plan segment of track `t` whose output start time is `time`, by binary search over
/// the track's run of non-empty segments (start times grow with the segment index; empty
/// segments only precede or follow the run).
pub fn timeline_entry_at(job: &Job, t: usize, style: Fmp4Style, time: u64) -> Option<usize> {
    let track = &job.index.tracks[t];
    let out = fmp4_track(job, t, style).ok()?;
    let start = |s: usize| {
        let r = job.seg.samples(track, s);
        (!r.is_empty()).then(|| out.decode_time(r.start))
    };
    let first = (0..job.seg.count()).find(|s| start(*s).is_some())?;
    let (mut lo, mut hi) = (first, job.seg.count());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match start(mid) {
            // Past the end of the track's run: look earlier.
            None => hi = mid,
            Some(x) if x < time => lo = mid + 1,
            Some(x) if x > time => hi = mid,
            Some(_) => return Some(mid),
        }
    }
    None
}

/// (start, duration) pairs of a timeline: each segment lasts until the next one starts (the
/// last until `end`).
pub fn durations(timeline: &[(usize, u64)], end: u64) -> Vec<(u64, u64)> {
    timeline
        .iter()
        .enumerate()
        .map(|(k, (_, t))| {
            let next = timeline.get(k + 1).map_or(end, |x| x.1);
            (*t, next.saturating_sub(*t))
        })
        .collect()
}

/// Plan segments in which any of `tracks` has samples.
pub fn non_empty(job: &Job, tracks: &[usize]) -> Vec<usize> {
    (0..job.seg.count())
        .filter(|s| {
            tracks
                .iter()
                .any(|t| !job.seg.samples(&job.index.tracks[*t], *s).is_empty())
        })
        .collect()
}

/// Cue text as WebVTT payload: `&`, `<` and `>` escaped except in the simple formatting tags
/// SRT and WebVTT share (`<i>`, `<b>`, `<u>` and their closings), `-->` broken up, no blank
/// lines (a blank line would end the cue).
fn vtt_text(text: &str, escape: bool) -> String {
    if !escape {
        // Already WebVTT (HLS sources): only blank lines would break the cue.
        return text
            .split('\n')
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n");
    }
    const TAGS: [&str; 6] = ["<i>", "</i>", "<b>", "</b>", "<u>", "</u>"];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(tag) = TAGS.iter().find(|t| rest.starts_with(*t)) {
            out.push_str(tag);
            rest = &rest[tag.len()..];
            continue;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => {}
            c => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    out.split('\n')
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
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
        let text = vtt_text(&String::from_utf8_lossy(&text), track.codec == Codec::Srt);
        let start = track.samples.dts[i];
        let end = track.samples.dts.get(i + 1).copied().unwrap_or(start);
        out.push_str(&format!(
            "\n{} --> {}\n{}\n",
            vtt_time(ms(start)),
            vtt_time(ms(end)),
            text
        ));
    }
    bytes.intact()?;
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

#[cfg(test)]
mod tests {
    use super::{decode_order, vtt_text};

    #[test]
    fn cue_text_is_escaped_for_webvtt() {
        assert_eq!(
            vtt_text("<i>a</i> & b\r\n\n<x> --> c", true),
            "<i>a</i> &amp; b\n&lt;x&gt; --&gt; c"
        );
        assert_eq!(
            vtt_text("a &amp; b\r\n\n<c.x>d</c>", false),
            "a &amp; b\n<c.x>d</c>"
        );
    }

    #[test]
    fn decode_order_merges_tracks_like_a_sort() {
        // Video at 40 ms steps, audio at 20 ms steps: every video DTS ties with an audio one.
        let video: Vec<i64> = (0..50).map(|i| i * 3600).collect();
        let audio: Vec<i64> = (0..90).map(|i| i * 1800).collect();
        let ranges = vec![(7, 5..45), (3, 2..80), (9, 0..0)];
        let dts = |k: usize, i: usize| if k == 0 { video[i] } else { audio[i] };
        let mut sorted: Vec<(i64, usize, usize)> = ranges
            .iter()
            .enumerate()
            .flat_map(|(k, (_, r))| r.clone().map(move |i| (k, i)))
            .map(|(k, i)| (dts(k, i), k, i))
            .collect();
        sorted.sort_unstable();
        assert!(
            sorted.windows(2).any(|w| w[0].0 == w[1].0),
            "the data has a tie"
        );
        assert_eq!(decode_order(&ranges, dts), sorted);
        assert!(decode_order(&[(0, 0..0)], dts).is_empty());
    }
}
