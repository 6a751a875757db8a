//! fMP4 files (CMAF, DASH, Smooth): a track's init section, its fragments (samples → the fMP4
//! sample filter → encryption ([`super::encrypt`], when the track has a key) → `moof`/`mdat`),
//! and its timeline in the output timescale, which manifests list and segment addresses map
//! back through.

use std::ops::Range;

use bytes::Bytes;

use crate::mux::access_unit::Parts;
use crate::mux::clock::time_shift_us;
use crate::mux::fmp4::{Fmp4Options, Fmp4Track, FragmentKind};
use crate::package::{PackageError, Presentation};

use super::{SourceBytes, encrypt};

/// How fMP4 output of a presentation is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fmp4Style {
    /// `includeEncoderConfigurationInSegments`: parameter sets in band (avc3/hev1).
    pub in_band: bool,
    /// Output timescale override (Smooth: 10 MHz).
    pub timescale: Option<u32>,
}

pub fn track(p: &Presentation, t: usize, style: Fmp4Style) -> Result<Fmp4Track<'_>, PackageError> {
    Ok(Fmp4Track::new(
        &p.index.tracks[t],
        Fmp4Options {
            track_id: 1,
            shift_us: time_shift_us(&p.index),
            in_band_parameter_sets: style.in_band,
            timescale: style.timescale,
        },
    )?)
}

/// The init section (`ftyp` + `moov`) of track `t`; encrypted (`encv`/`enca`, `pssh`) when
/// the presentation's keys have a key for the track.
pub fn init(p: &Presentation, t: usize, style: Fmp4Style) -> Result<Vec<u8>, PackageError> {
    let out = track(p, t, style)?;
    Ok(match encrypt::protection(p, t)? {
        None => out.init_segment()?,
        Some((_, protection)) => out.protect(protection)?.init_segment()?,
    })
}

/// The samples of fragment `s` of track `t`; with `iframe`, only its first (key) frame.
pub fn fragment_samples(
    p: &Presentation,
    t: usize,
    s: usize,
    iframe: bool,
) -> Result<Range<usize>, PackageError> {
    let mut range = p.seg.samples(&p.index.tracks[t], s);
    if iframe {
        range.end = range.end.min(range.start + 1);
    }
    if range.is_empty() {
        return Err(PackageError::not_found("no such segment for this track"));
    }
    Ok(range)
}

/// Fragment `s` of track `t` from `bytes` (read for [`fragment_samples`]). The header is new
/// bytes; the sample data is sent from the read buffers (runs of contiguous samples as one
/// slice each), so a segment's media bytes are copied once, from the source into memory.
pub fn fragment(
    p: &Presentation,
    t: usize,
    s: usize,
    style: Fmp4Style,
    kind: FragmentKind,
    iframe: bool,
    bytes: &SourceBytes,
) -> Result<Vec<Bytes>, PackageError> {
    let track_ = &p.index.tracks[t];
    let range = fragment_samples(p, t, s, iframe)?;
    let out = track(p, t, style)?;
    if let Some((enc, protection)) = encrypt::protection(p, t)? {
        let out = out.protect(protection)?;
        return encrypted_fragment(&out, enc, track_, s, range, kind, bytes);
    }
    if !track_.in_ts() && out.passes_through() {
        // The samples as stored: sizes from the index, data as slices of the source bytes,
        // one per run of adjacent samples, no per-sample work.
        let samples = &track_.samples;
        let sizes: Vec<usize> = range.clone().map(|i| samples.size[i] as usize).collect();
        let header = out.fragment_header(track_, s as u32 + 1, range.clone(), &sizes, kind)?;
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
        return Ok(body);
    }
    let samples = range
        .clone()
        .map(|i| bytes.get(track_, i))
        .collect::<Result<Vec<_>, _>>()?;
    let payloads = range
        .clone()
        .zip(&samples)
        .map(|(i, b)| out.sample(b, track_.samples.keyframe[i]))
        .collect::<Result<Vec<Parts<'_>>, _>>()?;
    let sizes: Vec<usize> = payloads.iter().map(Parts::len).collect();
    let header = out.fragment_header(track_, s as u32 + 1, range, &sizes, kind)?;
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
    Ok(body)
}

/// An encrypted fragment: each sample filtered into one buffer (the samples' data is new
/// bytes: ciphertext), encrypted in place, then the header with its `saiz`/`saio`/`senc`.
fn encrypted_fragment(
    out: &Fmp4Track<'_>,
    mut enc: encrypt::TrackEncryptor,
    track_: &crate::index::Track,
    s: usize,
    range: Range<usize>,
    kind: FragmentKind,
    bytes: &SourceBytes,
) -> Result<Vec<Bytes>, PackageError> {
    // The stored sizes: the filtered samples' total for MP4 sources (TS sources differ by
    // their start codes and ADTS headers; the buffer grows then). Capped: the index's sizes
    // are only checked against the source as the samples are read.
    let stored: u64 = range
        .clone()
        .map(|i| u64::from(track_.samples.size[i]))
        .sum();
    let mut data = Vec::with_capacity(stored.min(64 << 20) as usize);
    let mut sizes = Vec::with_capacity(range.len());
    let mut aux = Vec::with_capacity(range.len());
    for i in range.clone() {
        let b = bytes.get(track_, i)?;
        let parts = out.sample(&b, track_.samples.keyframe[i])?;
        let start = data.len();
        for part in &parts.parts {
            data.extend_from_slice(part);
        }
        let sample = data.get_mut(start..).unwrap_or_default();
        aux.push(enc.encrypt(i, sample)?);
        sizes.push(data.len() - start);
    }
    let header = out.protected_fragment_header(track_, s as u32 + 1, range, &sizes, kind, &aux)?;
    Ok(vec![Bytes::from(header), Bytes::from(data)])
}

/// Bytes of the one-frame fMP4 fragment of segment `s` of track `t` (its key frame and about
/// 256 bytes of styp/moof/mdat headers); `None` when the track has no sample there.
pub fn key_fragment_bytes(p: &Presentation, t: usize, s: usize) -> Option<u64> {
    let track = &p.index.tracks[t];
    let r = p.seg.samples(track, s);
    (!r.is_empty()).then(|| u64::from(track.samples.size[r.start]) + 256)
}

/// The segments of a track in the fMP4 output timescale: (plan segment index, start time) of
/// every segment in which the track has samples, and the end time. Starts are the decode times
/// of each segment's first sample, so the timeline matches `tfdt` exactly; a track that starts
/// late or ends early simply has fewer entries (DASH/Smooth addresses map back through the
/// index).
pub fn timeline(
    p: &Presentation,
    t: usize,
    style: Fmp4Style,
) -> Result<(Vec<(usize, u64)>, u64), PackageError> {
    let track_ = &p.index.tracks[t];
    let out = track(p, t, style)?;
    let mut starts = Vec::with_capacity(p.seg.count());
    for s in 0..p.seg.count() {
        let r = p.seg.samples(track_, s);
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
pub fn timeline_entry(p: &Presentation, t: usize, k: usize) -> Option<usize> {
    let track = &p.index.tracks[t];
    let has = |s: usize| !p.seg.samples(track, s).is_empty();
    let first = (0..p.seg.count()).find(|s| has(*s))?;
    let s = first.checked_add(k)?;
    (s < p.seg.count() && has(s)).then_some(s)
}

/// The plan segment of track `t` whose output start time is `time`, by binary search over
/// the track's run of non-empty segments (start times grow with the segment index; empty
/// segments only precede or follow the run).
pub fn timeline_entry_at(p: &Presentation, t: usize, style: Fmp4Style, time: u64) -> Option<usize> {
    let track_ = &p.index.tracks[t];
    let out = track(p, t, style).ok()?;
    let start = |s: usize| {
        let r = p.seg.samples(track_, s);
        (!r.is_empty()).then(|| out.decode_time(r.start))
    };
    let first = (0..p.seg.count()).find(|s| start(*s).is_some())?;
    let (mut lo, mut hi) = (first, p.seg.count());
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

/// The RFC 6381 codec string of a track as written in fMP4: the sample entry changes to
/// `avc3`/`hev1` when parameter sets travel in band.
pub fn codec_string(track: &crate::index::Track, style: Fmp4Style) -> String {
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
