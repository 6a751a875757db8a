//! MPEG-TS segments of HLS sources into index tracks.
//!
//! Written by hand rather than on a streaming demuxer (mpeg2ts-reader) because the index needs
//! what those do not expose: for every access unit or audio frame, the offset of the TS packet
//! its first byte is in and how many bytes of that PID's payload come before it from there.
//! With those two numbers (`offset`, `skip`) egress re-reads a sample by concatenating the
//! PID's packet payloads from `offset`, dropping `skip` bytes and taking `size`, with no PES
//! parsing at all. The packet layer is fixed 188-byte framing; PAT/PMT are single-packet
//! sections in every muxer we know (longer ones are refused, not misread).
//!
//! Supported: H.264 (stream type 0x1B) and H.265 (0x24) video; AAC in ADTS (0x0F), AC-3
//! (0x81) and E-AC-3 (0x87) audio. Timestamps are unwrapped
//! across the 33-bit boundary and across segments; all tracks share one presentation origin.

use h264_reader::nal::sps::SeqParameterSet;
use h264_reader::rbsp::{BitReader, ByteReader};

use crate::error::MediaError;
use crate::index::{Codec, Samples, Track};

const PACKET: usize = 188;
/// TS timestamps tick at 90 kHz.
pub const TS_TIMESCALE: u32 = 90_000;
const WRAP: i64 = 1 << 33;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    H264,
    H265,
    Aac,
    Ac3,
    Eac3,
}

/// A PES being gathered: where each of its packets is and its raw PID payload so far.
#[derive(Default)]
struct Pes {
    /// (packet offset in the object, payload bytes in that packet)
    packets: Vec<(u64, u32)>,
    /// The payload, only its first [`VIDEO_PREFIX`] bytes for video (enough for the PES header
    /// and the NAL units before the first slice); audio is kept whole to split its frames.
    data: Vec<u8>,
    /// Payload bytes in all packets.
    total: usize,
}

/// How much of a video PES is kept to find the access unit's NAL types. Parameter sets and
/// SEI come before the first slice and are a few hundred bytes in practice.
const VIDEO_PREFIX: usize = 256 * 1024;

struct PidTrack {
    kind: Kind,
    samples: Samples,
    /// Presentation times (90 kHz, unwrapped) of each sample; turned into cts offsets at the end.
    last_ts: Option<i64>,
    pes: Option<Pes>,
    vps: Option<Vec<u8>>,
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
    /// AC-3/E-AC-3: the first frame's header.
    ac3: Option<crate::codec::ac3::Ac3Frame>,
    /// AAC: object type, sampling index, channel configuration of the first frame.
    adts: Option<(u8, u8, u8)>,
    sample_rate: u32,
}

/// The few elementary streams of a TS, looked up per packet: a linear search over two or three
/// entries beats hashing 15 million packet PIDs an hour of ladder.
#[derive(Default)]
struct PidMap(Vec<(u16, PidTrack)>);

impl PidMap {
    fn contains_key(&self, pid: &u16) -> bool {
        self.0.iter().any(|(p, _)| p == pid)
    }
    fn get(&self, pid: &u16) -> Option<&PidTrack> {
        self.0.iter().find(|(p, _)| p == pid).map(|(_, t)| t)
    }
    fn get_mut(&mut self, pid: &u16) -> Option<&mut PidTrack> {
        self.0.iter_mut().find(|(p, _)| p == pid).map(|(_, t)| t)
    }
    fn insert(&mut self, pid: u16, t: PidTrack) {
        self.0.push((pid, t));
    }
    fn values_mut(&mut self) -> impl Iterator<Item = &mut PidTrack> {
        self.0.iter_mut().map(|(_, t)| t)
    }
}

/// Scans the TS segments of one HLS rendition, in order.
pub struct TsScanner {
    stream: u32,
    label: String,
    pmt_pid: Option<u16>,
    pids: PidMap,
    order: Vec<u16>,
    /// Safety cap on samples per track.
    max_samples: u64,
    pub warnings: Vec<String>,
}

fn unwrap_ts(raw: i64, last: Option<i64>) -> i64 {
    match last {
        None => raw,
        Some(last) => {
            // Pick the 33-bit wrap period that puts `raw` nearest to the previous timestamp.
            let base = last - last.rem_euclid(WRAP);
            [base - WRAP, base, base + WRAP]
                .iter()
                .map(|b| b + raw)
                .min_by_key(|v| (v - last).abs())
                .unwrap_or(raw)
        }
    }
}

fn pes_ts(b: &[u8]) -> i64 {
    (i64::from(b[0] >> 1 & 0x07) << 30)
        | (i64::from(b[1]) << 22)
        | (i64::from(b[2] >> 1) << 15)
        | (i64::from(b[3]) << 7)
        | i64::from(b[4] >> 1)
}

/// What a video NAL unit is to the scanner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NalRole {
    /// A coded slice; `key` when it is an IDR (H.264) or IRAP (H.265) picture.
    Slice {
        key: bool,
    },
    Vps,
    Sps,
    Pps,
    Other,
}

fn nal_role(kind: Kind, nal: &[u8]) -> NalRole {
    let Some(&h) = nal.first() else {
        return NalRole::Other;
    };
    if kind == Kind::H265 {
        match (h >> 1) & 0x3f {
            n @ 0..=31 => NalRole::Slice {
                key: (16..=21).contains(&n),
            },
            32 => NalRole::Vps,
            33 => NalRole::Sps,
            34 => NalRole::Pps,
            _ => NalRole::Other,
        }
    } else {
        match h & 0x1f {
            n @ 1..=5 => NalRole::Slice { key: n == 5 },
            7 => NalRole::Sps,
            8 => NalRole::Pps,
            _ => NalRole::Other,
        }
    }
}

impl TsScanner {
    pub fn new(stream: u32, label: &str, max_samples: u64) -> TsScanner {
        TsScanner {
            stream,
            label: label.to_string(),
            pmt_pid: None,
            pids: PidMap::default(),
            order: Vec::new(),
            max_samples,
            warnings: Vec::new(),
        }
    }

    fn err(&self, object: &str, what: String) -> MediaError {
        MediaError::Corrupt(format!("{} ({object}): {what}", self.label))
    }

    /// Scans one segment, stored as index object `object`; `base` is where `bytes` start in
    /// that object (non-zero for EXT-X-BYTERANGE segments).
    pub fn feed(
        &mut self,
        bytes: &[u8],
        object: u32,
        base: u64,
        name: &str,
    ) -> Result<(), MediaError> {
        if bytes.is_empty() {
            return Err(MediaError::NotMedia(format!(
                "{name}: the segment is empty"
            )));
        }
        if bytes[0] != 0x47 {
            return Err(MediaError::NotMedia(format!(
                "{name}: not an MPEG-TS file (no sync byte)"
            )));
        }
        if !bytes.len().is_multiple_of(PACKET) {
            return Err(MediaError::Truncated(format!(
                "{name}: {} bytes is not a whole number of 188-byte TS packets",
                bytes.len()
            )));
        }
        for (n, p) in bytes.chunks_exact(PACKET).enumerate() {
            let offset = base + (n * PACKET) as u64;
            if p[0] != 0x47 {
                return Err(self.err(name, format!("lost TS sync at byte {}", n * PACKET)));
            }
            let pusi = p[1] & 0x40 != 0;
            let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
            let afc = (p[3] >> 4) & 0x03;
            let mut start = 4;
            if afc & 0x02 != 0 {
                start += 1 + p[4] as usize;
            }
            if afc & 0x01 == 0 || start > PACKET {
                continue;
            }
            let payload = &p[start..];
            if pid == 0 {
                self.pat(payload, pusi);
            } else if Some(pid) == self.pmt_pid {
                self.pmt(payload, pusi, name)?;
            } else if self.pids.contains_key(&pid) {
                if pusi {
                    self.flush(pid, name)?;
                    if let Some(t) = self.pids.get_mut(&pid) {
                        t.pes = Some(Pes::default());
                    }
                }
                if let Some(t) = self.pids.get_mut(&pid)
                    && let Some(pes) = t.pes.as_mut()
                {
                    pes.packets.push((offset, payload.len() as u32));
                    pes.total += payload.len();
                    let keep = match t.kind {
                        Kind::H264 | Kind::H265 => VIDEO_PREFIX
                            .saturating_sub(pes.data.len())
                            .min(payload.len()),
                        Kind::Aac | Kind::Ac3 | Kind::Eac3 => payload.len(),
                    };
                    pes.data.extend_from_slice(&payload[..keep]);
                }
            }
        }
        // PES never span segments: finish what this one started, tagged with its object.
        let pids: Vec<u16> = self.order.clone();
        for pid in pids {
            self.flush(pid, name)?;
        }
        for t in self.pids.values_mut() {
            // Samples added during this segment carry a placeholder object; set it now.
            for o in t.samples.object.iter_mut().rev() {
                if *o != u32::MAX {
                    break;
                }
                *o = object;
            }
        }
        Ok(())
    }

    fn section(payload: &[u8], pusi: bool) -> Option<&[u8]> {
        if !pusi {
            return None;
        }
        let pointer = *payload.first()? as usize;
        payload.get(1 + pointer..)
    }

    fn pat(&mut self, payload: &[u8], pusi: bool) {
        let Some(s) = Self::section(payload, pusi) else {
            return;
        };
        if s.len() < 8 || s[0] != 0x00 {
            return;
        }
        let len =
            ((usize::from(s[1] & 0x0f) << 8) | usize::from(s[2])).min(s.len().saturating_sub(3));
        let body = &s[8..(3 + len).saturating_sub(4).max(8)];
        for e in body.chunks_exact(4) {
            let program = u16::from_be_bytes([e[0], e[1]]);
            if program != 0 {
                self.pmt_pid = Some((u16::from(e[2] & 0x1f) << 8) | u16::from(e[3]));
                return;
            }
        }
    }

    fn pmt(&mut self, payload: &[u8], pusi: bool, name: &str) -> Result<(), MediaError> {
        let Some(s) = Self::section(payload, pusi) else {
            return Ok(());
        };
        if s.len() < 12 || s[0] != 0x02 {
            return Ok(());
        }
        let len = (usize::from(s[1] & 0x0f) << 8) | usize::from(s[2]);
        if 3 + len > s.len() {
            return Err(MediaError::Unsupported(format!(
                "{name}: a PMT longer than one TS packet"
            )));
        }
        let info_len = (usize::from(s[10] & 0x0f) << 8) | usize::from(s[11]);
        let mut i = 12 + info_len;
        let end = (3 + len).saturating_sub(4);
        while i + 5 <= end {
            let stream_type = s[i];
            let pid = (u16::from(s[i + 1] & 0x1f) << 8) | u16::from(s[i + 2]);
            let es_info = (usize::from(s[i + 3] & 0x0f) << 8) | usize::from(s[i + 4]);
            i += 5 + es_info;
            if self.pids.contains_key(&pid) {
                continue;
            }
            let kind = match stream_type {
                0x1b => Kind::H264,
                0x0f => Kind::Aac,
                0x24 => Kind::H265,
                0x81 => Kind::Ac3,
                0x87 => Kind::Eac3,
                0xdb | 0xcf | 0xc1 | 0xc2 => {
                    return Err(MediaError::Encrypted(format!(
                        "{name}: stream type 0x{stream_type:02x} is SAMPLE-AES protected"
                    )));
                }
                other => {
                    self.warnings.push(format!(
                        "{}: stream type 0x{other:02x} (PID {pid}) ignored",
                        self.label
                    ));
                    continue;
                }
            };
            self.order.push(pid);
            self.pids.insert(
                pid,
                PidTrack {
                    kind,
                    samples: Samples::default(),
                    last_ts: None,
                    pes: None,
                    vps: None,
                    sps: None,
                    pps: None,
                    ac3: None,
                    adts: None,
                    sample_rate: 0,
                },
            );
        }
        Ok(())
    }

    /// Turns the gathered PES of `pid` into samples.
    fn flush(&mut self, pid: u16, name: &str) -> Result<(), MediaError> {
        let max = self.max_samples;
        let label = self.label.clone();
        let Some(t) = self.pids.get_mut(&pid) else {
            return Ok(());
        };
        let Some(pes) = t.pes.take() else {
            return Ok(());
        };
        let d = &pes.data;
        if d.len() < 9 || d[0] != 0 || d[1] != 0 || d[2] != 1 {
            return Err(MediaError::Corrupt(format!(
                "{label} ({name}): PID {pid}: bad PES start code"
            )));
        }
        let header_len = 9 + d[8] as usize;
        let flags = d[7] >> 6;
        if d.len() < header_len
            || (flags & 2 != 0 && header_len < 14)
            || (flags == 3 && header_len < 19)
        {
            return Err(MediaError::Truncated(format!(
                "{label} ({name}): PID {pid}: PES header cut short"
            )));
        }
        if flags & 2 == 0 {
            return Err(MediaError::Corrupt(format!(
                "{label} ({name}): PID {pid}: PES without a timestamp"
            )));
        }
        let pts = unwrap_ts(pes_ts(&d[9..14]), t.last_ts);
        let dts = if flags == 3 {
            unwrap_ts(pes_ts(&d[14..19]), Some(pts))
        } else {
            pts
        };
        t.last_ts = Some(dts);
        let es = &d[header_len..];
        // Maps a position in `d` to (packet offset, bytes of PID payload before it in that packet).
        let locate = |pos: usize| -> (u64, u32) {
            let mut before = 0usize;
            for &(off, len) in &pes.packets {
                if pos < before + len as usize {
                    return (off, (pos - before) as u32);
                }
                before += len as usize;
            }
            (pes.packets.last().map_or(0, |p| p.0), 0)
        };
        match t.kind {
            Kind::H264 | Kind::H265 => {
                // Only the NAL units up to the first slice matter: the slice type decides the
                // key flag, and parameter sets precede it. The slice data is never scanned.
                let mut key = false;
                for nal in crate::codec::nal::AnnexB::new(es) {
                    match nal_role(t.kind, nal) {
                        NalRole::Slice { key: k } => {
                            key = k;
                            break;
                        }
                        NalRole::Vps if t.vps.is_none() => t.vps = Some(nal.to_vec()),
                        NalRole::Sps if t.sps.is_none() => t.sps = Some(nal.to_vec()),
                        NalRole::Pps if t.pps.is_none() => t.pps = Some(nal.to_vec()),
                        _ => {}
                    }
                }
                let (off, skip) = locate(header_len);
                let es_len = pes.total.saturating_sub(header_len) as u32;
                t.samples
                    .push(u32::MAX, off, es_len, dts, (pts - dts) as i32, key);
                t.samples.skip.push(skip);
            }
            Kind::Ac3 | Kind::Eac3 => {
                let mut q = 0usize;
                let mut elapsed = 0i64;
                while q < es.len() {
                    let f = crate::codec::ac3::ac3_frame(&es[q..]).ok_or_else(|| {
                        MediaError::Corrupt(format!("{label} ({name}): PID {pid}: lost AC-3 sync"))
                    })?;
                    if f.eac3 != (t.kind == Kind::Eac3) {
                        return Err(MediaError::Corrupt(format!(
                            "{label} ({name}): PID {pid}: AC-3 and E-AC-3 frames mixed"
                        )));
                    }
                    if q + f.size > es.len() {
                        return Err(MediaError::Truncated(format!(
                            "{label} ({name}): PID {pid}: AC-3 frame cut short"
                        )));
                    }
                    if t.ac3.is_none() {
                        t.ac3 = Some(f);
                        t.sample_rate = f.sample_rate;
                    }
                    let frame_pts =
                        pts + elapsed * i64::from(TS_TIMESCALE) / i64::from(f.sample_rate);
                    let (off, skip) = locate(header_len + q);
                    t.samples
                        .push(u32::MAX, off, f.size as u32, frame_pts, 0, true);
                    t.samples.skip.push(skip);
                    elapsed += i64::from(f.samples);
                    q += f.size;
                }
            }
            Kind::Aac => {
                let mut q = 0usize;
                let mut i = 0i64;
                while q + 7 <= es.len() {
                    let crate::codec::aac::Adts {
                        len,
                        object_type: profile,
                        sfi,
                        channels: ch,
                    } = crate::codec::aac::parse_adts(&es[q..]).ok_or_else(|| {
                        MediaError::Corrupt(format!("{label} ({name}): PID {pid}: lost ADTS sync"))
                    })?;
                    let rate = *crate::codec::aac::SAMPLE_RATES
                        .get(sfi as usize)
                        .ok_or_else(|| {
                            MediaError::Corrupt(format!(
                                "{label} ({name}): bad AAC sampling index {sfi}"
                            ))
                        })?;
                    if t.adts.is_none() {
                        t.adts = Some((profile, sfi, ch));
                        t.sample_rate = rate;
                    }
                    if q + len > es.len() {
                        return Err(MediaError::Truncated(format!(
                            "{label} ({name}): PID {pid}: ADTS frame cut short"
                        )));
                    }
                    let frame_pts = pts + i * 1024 * i64::from(TS_TIMESCALE) / i64::from(rate);
                    let (off, skip) = locate(header_len + q);
                    t.samples
                        .push(u32::MAX, off, len as u32, frame_pts, 0, true);
                    t.samples.skip.push(skip);
                    q += len;
                    i += 1;
                }
            }
        }
        if t.samples.len() as u64 > max {
            return Err(MediaError::Limit(format!(
                "{label}: more than {max} samples in one track"
            )));
        }
        Ok(())
    }

    /// The tracks found, in PMT order. Times are 90 kHz and not yet shifted to start at 0.
    pub fn finish(self) -> Result<Vec<Track>, MediaError> {
        let mut out = Vec::new();
        for pid in &self.order {
            let Some(t) = self.pids.get(pid) else {
                continue;
            };
            if t.samples.is_empty() {
                continue;
            }
            let mut samples = t.samples.clone();
            // Decode order is arrival order; PES timestamps must increase (outputs cut and
            // name segments by decode time: two samples at one time cannot both be served).
            if let Some(i) = samples.dts.windows(2).position(|w| w[1] <= w[0]) {
                let what = if samples.dts[i + 1] == samples.dts[i] {
                    "repeat"
                } else {
                    "go backwards"
                };
                return Err(MediaError::Corrupt(format!(
                    "{}: PID {pid}: decode timestamps {what} at sample {}",
                    self.label,
                    i + 2
                )));
            }
            let deltas: Vec<i64> = samples.dts.windows(2).map(|w| w[1] - w[0]).collect();
            let typical = {
                let mut d = deltas.clone();
                d.sort_unstable();
                d.get(d.len() / 2).copied().unwrap_or(3600)
            };
            samples.object.iter_mut().for_each(|o| {
                if *o == u32::MAX {
                    *o = 0;
                }
            });
            let mut track = match t.kind {
                Kind::H264 => {
                    let (sps, pps) = match (&t.sps, &t.pps) {
                        (Some(s), Some(p)) if s.len() >= 4 => (s, p),
                        _ => {
                            return Err(MediaError::Corrupt(format!(
                                "{}: H.264 stream without SPS/PPS",
                                self.label
                            )));
                        }
                    };
                    let parsed = SeqParameterSet::from_bits(BitReader::new(
                        ByteReader::skipping_h264_header(&sps[..]),
                    ))
                    .map_err(|e| MediaError::Corrupt(format!("{}: bad SPS: {e:?}", self.label)))?;
                    let (w, h) = parsed.pixel_dimensions().unwrap_or((0, 0));
                    let avcc = crate::codec::params::avcc_record(sps, pps);
                    let g = gcd(u64::from(TS_TIMESCALE), typical.max(1) as u64);
                    Track {
                        codec: Codec::H264,
                        fourcc: *b"avc1",
                        codec_string: format!("avc1.{:02x}{:02x}{:02x}", sps[1], sps[2], sps[3]),
                        codec_config: avcc,
                        language: None,
                        name: None,
                        stream: self.stream,
                        timescale: TS_TIMESCALE,
                        presentation_offset: 0,
                        last_sample_duration: typical.max(0) as u32,
                        width: w,
                        height: h,
                        frame_rate: Some((
                            (u64::from(TS_TIMESCALE) / g) as u32,
                            (typical.max(1) as u64 / g) as u32,
                        )),
                        channels: 0,
                        sample_rate: 0,
                        ts_pid: *pid,
                        avg_bitrate: 0,
                        peak_bitrate: 0,
                        samples,
                    }
                }
                Kind::H265 => {
                    let (vps, sps, pps) = match (&t.vps, &t.sps, &t.pps) {
                        (Some(v), Some(s), Some(p)) => (v, s, p),
                        _ => {
                            return Err(MediaError::Corrupt(format!(
                                "{}: H.265 stream without VPS/SPS/PPS",
                                self.label
                            )));
                        }
                    };
                    let parsed = crate::codec::hevc::hevc_sps(sps).ok_or_else(|| {
                        MediaError::Corrupt(format!("{}: bad H.265 SPS", self.label))
                    })?;
                    let g = gcd(u64::from(TS_TIMESCALE), typical.max(1) as u64);
                    Track {
                        codec: Codec::H265,
                        fourcc: *b"hvc1",
                        codec_string: crate::codec::hevc::hevc_codec_string(&parsed),
                        codec_config: crate::codec::hevc::hvcc(&parsed, vps, sps, pps),
                        language: None,
                        name: None,
                        stream: self.stream,
                        timescale: TS_TIMESCALE,
                        presentation_offset: 0,
                        last_sample_duration: typical.max(0) as u32,
                        width: parsed.width,
                        height: parsed.height,
                        frame_rate: Some((
                            (u64::from(TS_TIMESCALE) / g) as u32,
                            (typical.max(1) as u64 / g) as u32,
                        )),
                        channels: 0,
                        sample_rate: 0,
                        ts_pid: *pid,
                        avg_bitrate: 0,
                        peak_bitrate: 0,
                        samples,
                    }
                }
                Kind::Ac3 | Kind::Eac3 => {
                    let f = t.ac3.ok_or_else(|| {
                        MediaError::Corrupt(format!("{}: AC-3 track without frames", self.label))
                    })?;
                    let eac3 = t.kind == Kind::Eac3;
                    Track {
                        codec: if eac3 { Codec::Eac3 } else { Codec::Ac3 },
                        fourcc: if eac3 { *b"ec-3" } else { *b"ac-3" },
                        codec_string: if eac3 { "ec-3".into() } else { "ac-3".into() },
                        // dec3 needs the data rate: filled in below once bitrates are known.
                        codec_config: if eac3 {
                            Vec::new()
                        } else {
                            crate::codec::ac3::dac3(&f)
                        },
                        language: None,
                        name: None,
                        stream: self.stream,
                        timescale: TS_TIMESCALE,
                        presentation_offset: 0,
                        last_sample_duration: (u64::from(f.samples) * u64::from(TS_TIMESCALE)
                            / u64::from(f.sample_rate.max(1)))
                            as u32,
                        width: 0,
                        height: 0,
                        frame_rate: None,
                        channels: f.channels,
                        sample_rate: f.sample_rate,
                        ts_pid: *pid,
                        avg_bitrate: 0,
                        peak_bitrate: 0,
                        samples,
                    }
                }
                Kind::Aac => {
                    let (profile, sfi, ch) = t.adts.unwrap_or((2, 3, 2));
                    let asc = crate::codec::aac::asc(profile, sfi, ch);
                    Track {
                        codec: Codec::Aac,
                        fourcc: *b"mp4a",
                        codec_string: format!("mp4a.40.{profile}"),
                        codec_config: asc,
                        language: None,
                        name: None,
                        stream: self.stream,
                        timescale: TS_TIMESCALE,
                        presentation_offset: 0,
                        last_sample_duration: (1024 * u64::from(TS_TIMESCALE)
                            / u64::from(t.sample_rate.max(1)))
                            as u32,
                        width: 0,
                        height: 0,
                        frame_rate: None,
                        channels: u32::from(ch),
                        sample_rate: t.sample_rate,
                        ts_pid: *pid,
                        avg_bitrate: 0,
                        peak_bitrate: 0,
                        samples,
                    }
                }
            };
            track.compute_bitrates();
            if let (Kind::Eac3, Some(f)) = (t.kind, t.ac3) {
                track.codec_config = crate::codec::ac3::dec3(&f, (track.avg_bitrate / 1000) as u32);
            }
            out.push(track);
        }
        Ok(out)
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Shifts all tracks so the earliest presentation time of any audio or video track is 0 (TS
/// streams start at arbitrary clock values; one common shift keeps everything in sync). Times
/// are compared in seconds since tracks may have different timescales; text tracks follow the
/// same shift.
pub fn rebase(tracks: &mut [Track]) {
    let earliest = tracks
        .iter()
        .filter(|t| !t.samples.is_empty() && t.codec.kind() != crate::index::TrackKind::Subtitle)
        .filter_map(|t| {
            let min = (0..t.samples.len()).map(|i| t.pts(i)).min()?;
            Some(min as f64 / f64::from(t.timescale.max(1)))
        })
        .fold(f64::INFINITY, f64::min);
    if !earliest.is_finite() {
        return;
    }
    for t in tracks.iter_mut() {
        t.presentation_offset -= (earliest * f64::from(t.timescale)).round() as i64;
    }
}

/// Egress's view of a TS-source sample: the payloads of `pid`'s packets in `buf` from
/// `offset`, minus the first `skip` bytes, `size` bytes in all. `buf` starts at `base` in the
/// object. Returns `None` when `buf` ends before the sample does.
pub fn read_sample(
    buf: &[u8],
    base: u64,
    pid: u16,
    offset: u64,
    skip: u32,
    size: u32,
) -> Option<Vec<u8>> {
    let start = usize::try_from(offset.checked_sub(base)?).ok()?;
    let mut out = Vec::with_capacity(size as usize);
    let mut skip = skip as usize;
    for p in buf.get(start..)?.chunks_exact(PACKET) {
        if p[0] != 0x47 {
            return None;
        }
        let p_pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
        if p_pid != pid || p[3] & 0x10 == 0 {
            continue;
        }
        let from = if p[3] & 0x20 != 0 {
            5 + p[4] as usize
        } else {
            4
        };
        let payload = p.get(from..).unwrap_or_default();
        let s = skip.min(payload.len());
        skip -= s;
        out.extend_from_slice(&payload[s..]);
        if out.len() >= size as usize {
            out.truncate(size as usize);
            return Some(out);
        }
    }
    None
}
