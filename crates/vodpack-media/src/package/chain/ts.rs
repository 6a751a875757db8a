//! MPEG-TS segments (HLS): which samples a segment muxes ([`TsCut`]), their decode-order
//! interleaving, the access-unit filter and the TS writer, a chunk at a time
//! ([`TsSegment::next_chunk`]); and the size-only mode, which gives a segment's exact length
//! (and a rendition's bitrates from the index) without writing a packet. Encrypted
//! configurations ([`encrypt_ts`](super::encrypt_ts)) put SAMPLE-AES between the filter and
//! the writer, or AES-128 after the writer, chunk by chunk.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use crate::MediaError;
use crate::index::{Codec, MediaIndex, Track, TrackKind};
use crate::mux::access_unit::{Parts, TsPrep, parameter_sets};
use crate::mux::clock::{to_90k, ts_offset};
use crate::mux::ts::TsWriter;
use crate::package::keys::Scheme;
use crate::package::{PackageError, Presentation};

use super::SourceBytes;
use super::encrypt_ts::sample_aes::{self, SampleAes};
use super::encrypt_ts::{self, Cipher, SegmentCbc};

pub const CONTENT_TYPE: &str = "video/MP2T";

/// Bytes one sample takes in our TS output: its elementary-stream form (AUD and parameter sets
/// on key frames for MP4 video, ADTS for MP4 AAC; TS sources pass through) in a PES with PTS
/// and DTS, in 188-byte packets (the first of a video PES may carry a PCR). `sets` is the
/// length of the track's parameter sets with start codes. An estimate from the index alone
/// (exact but for start-code and filler differences): for bitrates, not for `Content-Length`.
fn sample_bytes(track: &Track, i: usize, sets: u64) -> u64 {
    let size = u64::from(track.samples.size[i]);
    let video = track.codec.kind() == TrackKind::Video;
    let es = if track.in_ts() {
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
    parameter_sets(track)
        .map(|sets| sets.iter().map(|s| s.len() as u64 + 4).sum())
        .unwrap_or(0)
}

/// (peak, average) bits per second of the TS segments muxing `tracks`, from the index: what
/// a multivariant playlist's BANDWIDTH and AVERAGE-BANDWIDTH must state.
pub fn bitrates(p: &Presentation, tracks: &[usize]) -> (u64, u64) {
    let sets: Vec<u64> = tracks
        .iter()
        .map(|t| parameter_set_bytes(&p.index.tracks[*t]))
        .collect();
    let (mut peak, mut total_bytes, mut total_seconds) = (0f64, 0u64, 0f64);
    for s in super::non_empty(p, tracks) {
        let mut bytes = 2 * 188; // PAT, PMT
        for (k, t) in tracks.iter().enumerate() {
            let track = &p.index.tracks[*t];
            for i in p.seg.samples(track, s) {
                bytes += sample_bytes(track, i, sets[k]);
            }
        }
        let seconds = p.seg.duration_seconds(s).max(0.001);
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
pub fn key_prefix_bytes(p: &Presentation, tracks: &[usize], s: usize) -> u64 {
    let mut bytes = 2 * 188;
    for t in tracks {
        let track = &p.index.tracks[*t];
        let r = p.seg.samples(track, s);
        if track.codec.kind() == TrackKind::Video && !r.is_empty() {
            bytes += sample_bytes(track, r.start, parameter_set_bytes(track));
        } else {
            bytes += 188;
        }
    }
    bytes
}

/// Bytes muxed per chunk of a streamed TS segment: small enough that the packets are still in
/// the CPU's cache when the socket copies them, large enough to keep system calls few (A/B on
/// the egress benchmark: 256 KiB used 5–10% less CPU per segment than 64 or 128 KiB, and less
/// than muxing the whole segment first).
const TS_CHUNK: usize = 256 << 10;

/// What one TS file holds: plan segment `segment` of `tracks` muxed together; with
/// `until_key`, only through the first video key frame (the byte range an I-frame playlist
/// points at).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsCut {
    pub tracks: Vec<usize>,
    pub segment: usize,
    pub until_key: bool,
    /// The segment's media sequence number in its playlist (its position there: playlists
    /// start at 0): the IV of an encrypted segment unless one is configured.
    pub sequence: u64,
}

fn dts90(t: &Track, i: usize) -> i64 {
    to_90k(
        t.samples.dts[i].saturating_add(t.presentation_offset),
        t.timescale,
    )
}

impl TsCut {
    /// Names the cut within a presentation of one asset incarnation (for a cache of lengths).
    pub fn key(&self, p: &Presentation) -> String {
        format!(
            "{}/{:?}/{}/{}",
            p.spec.segment_seconds, self.tracks, self.segment, self.until_key
        )
    }

    /// The samples of each track the cut muxes; a cut with none is no file.
    pub fn ranges(&self, p: &Presentation) -> Result<Vec<(usize, Range<usize>)>, PackageError> {
        let index = &p.index;
        let mut ranges: Vec<(usize, Range<usize>)> = self
            .tracks
            .iter()
            .map(|t| (*t, p.seg.samples(&index.tracks[*t], self.segment)))
            .collect();
        if self.until_key {
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
            return Err(PackageError::not_found(
                "no such segment for this rendition",
            ));
        }
        Ok(ranges)
    }
}

/// An MPEG-TS segment ready to be muxed: its samples in decode order, their bytes and the
/// writer, with its exact length worked out first. [`TsSegment::next_chunk`] muxes it a chunk
/// at a time as the response goes out, so a segment's packets are never all in memory (and
/// out of the cache) at once, and the first bytes leave before the last are written.
pub struct TsSegment {
    index: Arc<MediaIndex>,
    bytes: SourceBytes,
    /// Output stream k's track.
    tracks: Vec<usize>,
    /// (DTS at 90 kHz, output stream, sample) in decode order.
    order: Vec<(i64, usize, usize)>,
    preps: Vec<TsPrep>,
    offset: i64,
    w: TsWriter,
    next: usize,
    /// SAMPLE-AES: the encryptor and which output streams it applies to.
    sample_aes: Option<(SampleAes, Vec<bool>)>,
    /// AES-128: the segment's CBC state, until the padded last block is out.
    cbc: Option<SegmentCbc>,
    /// The segment's length in bytes (encrypted: AES-128's PKCS#7 padding included; for an
    /// `until_key` cut, the whole cipher blocks covering its bytes, as an I-frame playlist's
    /// byte range into the encrypted segment: such cuts are sized, never sent).
    pub len: u64,
}

/// How a segment is encrypted, per its configuration and keys.
enum Protection {
    Clear,
    Aes128(SegmentCbc),
    SampleAes(SampleAes, Vec<bool>),
}

/// The protection of `cut` (AES-128 and SAMPLE-AES configurations whose keys cover one of its
/// tracks), announcing SAMPLE-AES streams in `w`'s PMT.
fn protection(
    p: &Presentation,
    cut: &TsCut,
    ranges: &[(usize, Range<usize>)],
    bytes: &SourceBytes,
    w: &mut TsWriter,
) -> Result<Protection, PackageError> {
    let scheme = match p.spec.scheme() {
        Some(s @ (Scheme::Aes128 | Scheme::SampleAes)) => s,
        _ => return Ok(Protection::Clear),
    };
    // Never clear output for an encrypted configuration: no keys is the caller's bug.
    let keys = p.keys.as_deref().ok_or_else(|| {
        PackageError::Bug("an encrypted configuration's segment without its keys".into())
    })?;
    let tracks = &p.index.tracks;
    let Some(key) = encrypt_ts::segment_key(keys, ranges.iter().map(|(t, _)| &tracks[*t]))? else {
        return Ok(Protection::Clear);
    };
    let iv = encrypt_ts::hls_iv(p.spec.encryption.as_ref(), key, cut.sequence);
    let cipher = Cipher::new(&key.key);
    if scheme == Scheme::Aes128 {
        return Ok(Protection::Aes128(SegmentCbc::new(&cipher, &iv)));
    }
    let mut on = Vec::with_capacity(ranges.len());
    for (k, (t, r)) in ranges.iter().enumerate() {
        let track = &tracks[*t];
        let keyed = keys.key_for(track).is_some();
        if keyed {
            let first = match track.codec {
                Codec::Ac3 if !r.is_empty() => Some(bytes.get(track, r.start)?),
                _ => None,
            };
            let (stream_type, descriptors) = sample_aes::pmt_entry(track, first.as_deref())?;
            w.protect(k, stream_type, descriptors)?;
        }
        on.push(keyed);
    }
    Ok(Protection::SampleAes(SampleAes::new(cipher, iv), on))
}

/// The length of a filtered unit once through SAMPLE-AES, without building it: audio keeps
/// its length (and is checked as the writer will find it); video's changes with the
/// re-escaping of its encrypted slices.
fn sample_aes_len(
    enc: &Option<(SampleAes, Vec<bool>)>,
    k: usize,
    codec: Codec,
    unit: Parts<'_>,
) -> Result<usize, MediaError> {
    match enc {
        Some((enc, on)) if on.get(k).copied().unwrap_or(false) => match codec.kind() {
            TrackKind::Video => Ok(enc.video_len(&unit)),
            _ => Ok(enc.audio(codec, unit)?.len()),
        },
        _ => Ok(unit.len()),
    }
}

/// A filtered unit through SAMPLE-AES when its stream is encrypted.
fn sample_aes_unit<'a>(
    enc: &Option<(SampleAes, Vec<bool>)>,
    k: usize,
    codec: Codec,
    unit: Parts<'a>,
) -> Result<Parts<'a>, MediaError> {
    match enc {
        Some((enc, on)) if on.get(k).copied().unwrap_or(false) => match codec.kind() {
            TrackKind::Video => Ok(enc.video(unit)),
            _ => enc.audio(codec, unit),
        },
        _ => Ok(unit),
    }
}

impl TsSegment {
    /// Prepares `cut` from `bytes` (read for [`TsCut::ranges`]). `known_len` is the length a
    /// previous call found for the same cut of the same asset incarnation; without it, the
    /// size-only pass filters every unit once (which also finds bad samples before the
    /// response starts) and sizes its packets without writing them. Fails before any byte is
    /// muxed when a sample cannot be written.
    pub fn new(
        p: &Presentation,
        cut: &TsCut,
        bytes: SourceBytes,
        known_len: Option<u64>,
    ) -> Result<TsSegment, PackageError> {
        let index = &p.index;
        let ranges = cut.ranges(p)?;
        let offset = ts_offset(index);
        let codecs: Vec<_> = ranges.iter().map(|(t, _)| index.tracks[*t].codec).collect();
        let mut w = TsWriter::new(&codecs)?;
        w.out.reserve(TS_CHUNK + TS_CHUNK / 4);
        let (cbc, sample_aes) = match protection(p, cut, &ranges, &bytes, &mut w)? {
            Protection::Clear => (None, None),
            Protection::Aes128(cbc) => (Some(cbc), None),
            Protection::SampleAes(enc, on) => (None, Some((enc, on))),
        };
        w.write_tables();
        let order = decode_order(&ranges, |k, i| dts90(&index.tracks[ranges[k].0], i));
        let preps = ranges
            .iter()
            .map(|(t, _)| TsPrep::new(&index.tracks[*t]))
            .collect::<Result<Vec<_>, _>>()?;
        // Filtering only slices the source, so the size-only pass costs no copy and no muxing
        // (SAMPLE-AES encrypts here too: re-escaping changes the sizes). A source changed
        // since would make the body differ from the length: the caller cuts the connection
        // rather than serve a wrong segment.
        let len = match known_len {
            Some(len) => len,
            None => {
                let mut len = w.out.len() as u64;
                for &(dts, k, i) in &order {
                    let track = &index.tracks[ranges[k].0];
                    let sample = bytes.get(track, i)?;
                    let key = track.samples.keyframe[i];
                    let unit = preps[k].unit(&sample, key)?;
                    let unit_len = sample_aes_len(&sample_aes, k, track.codec, unit)?;
                    let pts = to_90k(track.pts(i), track.timescale).saturating_add(offset);
                    let dts = dts.saturating_add(offset);
                    len += w.pes_size(k, pts, dts, key, unit_len) as u64;
                }
                match (&cbc, cut.until_key) {
                    (None, _) => len,
                    // A byte range of the whole segment's ciphertext: whole blocks.
                    (Some(_), true) => encrypt_ts::covering_len(len),
                    (Some(_), false) => encrypt_ts::padded_len(len),
                }
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
            sample_aes,
            cbc,
            len,
        })
    }

    /// The next bytes of the segment (whole PES packets, about [`TS_CHUNK`]), `None` after
    /// the last.
    pub fn next_chunk(&mut self) -> Option<Result<Bytes, PackageError>> {
        // (AES-128 ends with its padded block, after the last packet.)
        if self.next >= self.order.len() && self.w.out.is_empty() && self.cbc.is_none() {
            return None;
        }
        while self.next < self.order.len() && self.w.out.len() < TS_CHUNK {
            let (dts, k, i) = self.order[self.next];
            self.next += 1;
            let track = &self.index.tracks[self.tracks[k]];
            let key = track.samples.keyframe[i];
            let pts = to_90k(track.pts(i), track.timescale).saturating_add(self.offset);
            let dts = dts.saturating_add(self.offset);
            let written = self.bytes.get(track, i).and_then(|sample| {
                let unit = self.preps[k].unit(&sample, key)?;
                let unit = sample_aes_unit(&self.sample_aes, k, track.codec, unit)?;
                self.w.write_pes(k, pts, dts, key, &unit)?;
                Ok(())
            });
            if let Err(e) = written {
                return Some(Err(e));
            }
        }
        if let Some(cbc) = &mut self.cbc {
            // The writer's buffer is kept for the next chunk; the ciphertext goes out.
            let last = self.next >= self.order.len();
            let mut out = Vec::with_capacity(self.w.out.len() + 2 * encrypt_ts::BLOCK);
            cbc.update(&self.w.out, last, &mut out);
            self.w.out.clear();
            if last {
                self.cbc = None;
            }
            return Some(Ok(Bytes::from(out)));
        }
        Some(Ok(Bytes::from(std::mem::replace(
            &mut self.w.out,
            Vec::with_capacity(TS_CHUNK + TS_CHUNK / 4),
        ))))
    }

    /// The whole segment in one buffer.
    pub fn into_bytes(mut self) -> Result<Vec<u8>, PackageError> {
        let mut out = Vec::with_capacity(self.len as usize);
        while let Some(chunk) = self.next_chunk() {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }
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

#[cfg(test)]
mod tests {
    use super::decode_order;

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
