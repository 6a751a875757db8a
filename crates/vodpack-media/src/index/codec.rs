//! Binary form of [`MediaIndex`]: `VPKIDX` magic, a format version, then the fields in order.
//! Integers are LEB128 varints (zig-zag for signed); sample columns are delta-coded (offsets
//! against the previous sample's end, decode times against the previous decode time), which
//! turns most samples into 5–8 bytes. Decoding checks every length against the input and
//! fails with [`IndexError`], never panics: the bytes come from storage and may be damaged.

use super::*;

/// Version of the binary layout. Bump on any change; old versions are re-ingested.
pub const FORMAT_VERSION: u16 = 3;
const MAGIC: &[u8; 6] = b"VPKIDX";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("not a vodpack index")]
    BadMagic,
    #[error("index format version {0} is not supported (this build reads {FORMAT_VERSION})")]
    Version(u16),
    #[error("index is truncated")]
    Truncated,
    #[error("index is corrupt: {0}")]
    Corrupt(&'static str),
}

struct W(Vec<u8>);

impl W {
    fn u(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(b);
                return;
            }
            self.0.push(b | 0x80);
        }
    }
    fn i(&mut self, v: i64) {
        self.u(((v << 1) ^ (v >> 63)) as u64);
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn opt_str(&mut self, s: &Option<String>) {
        match s {
            None => self.u(0),
            Some(s) => {
                self.u(1);
                self.bytes(s.as_bytes());
            }
        }
    }
}

struct R<'a>(&'a [u8]);

impl<'a> R<'a> {
    fn u(&mut self) -> Result<u64, IndexError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.0.split_first().ok_or(IndexError::Truncated)?;
            self.0 = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(IndexError::Corrupt("varint too long"))
    }
    fn i(&mut self) -> Result<i64, IndexError> {
        let v = self.u()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }
    fn u32(&mut self) -> Result<u32, IndexError> {
        u32::try_from(self.u()?).map_err(|_| IndexError::Corrupt("value out of range"))
    }
    fn i32(&mut self) -> Result<i32, IndexError> {
        i32::try_from(self.i()?).map_err(|_| IndexError::Corrupt("value out of range"))
    }
    fn len(&mut self) -> Result<usize, IndexError> {
        let n = self.u()?;
        // A length can never exceed the bytes left: this bounds every allocation by the input.
        if n > self.0.len() as u64 {
            return Err(IndexError::Truncated);
        }
        Ok(n as usize)
    }
    fn bytes(&mut self) -> Result<&'a [u8], IndexError> {
        let n = self.len()?;
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(b)
    }
    fn string(&mut self) -> Result<String, IndexError> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| IndexError::Corrupt("bad UTF-8"))
    }
    fn opt_str(&mut self) -> Result<Option<String>, IndexError> {
        match self.u()? {
            0 => Ok(None),
            1 => Ok(Some(self.string()?)),
            _ => Err(IndexError::Corrupt("bad option tag")),
        }
    }
}

fn codec_tag(c: Codec) -> u64 {
    match c {
        Codec::H264 => 1,
        Codec::H265 => 2,
        Codec::Aac => 3,
        Codec::Ac3 => 4,
        Codec::Eac3 => 5,
        Codec::Srt => 6,
        Codec::WebVtt => 7,
    }
}

fn codec_from(tag: u64) -> Result<Codec, IndexError> {
    Ok(match tag {
        1 => Codec::H264,
        2 => Codec::H265,
        3 => Codec::Aac,
        4 => Codec::Ac3,
        5 => Codec::Eac3,
        6 => Codec::Srt,
        7 => Codec::WebVtt,
        _ => return Err(IndexError::Corrupt("unknown codec")),
    })
}

/// Serialises an index.
pub fn encode(index: &MediaIndex) -> Vec<u8> {
    let mut w = W(Vec::with_capacity(64 + index.sample_count() * 8));
    w.0.extend_from_slice(MAGIC);
    w.0.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    w.u(match index.source {
        SourceKind::Smil => 1,
        SourceKind::HlsTs => 2,
        SourceKind::Mp4 => 3,
    });
    w.u(index.objects.len() as u64);
    for o in &index.objects {
        w.bytes(o.as_bytes());
    }
    w.u(index.versions.len() as u64);
    for v in &index.versions {
        w.u(v.size);
        w.bytes(v.tag.as_bytes());
    }
    w.u(index.warnings.len() as u64);
    for m in &index.warnings {
        w.bytes(m.as_bytes());
    }
    w.u(index.tracks.len() as u64);
    for t in &index.tracks {
        w.u(codec_tag(t.codec));
        w.0.extend_from_slice(&t.fourcc);
        w.bytes(&t.codec_config);
        w.bytes(t.codec_string.as_bytes());
        w.opt_str(&t.language);
        w.opt_str(&t.name);
        w.u(u64::from(t.stream));
        w.u(u64::from(t.timescale));
        w.i(t.presentation_offset);
        w.u(u64::from(t.last_sample_duration));
        w.u(u64::from(t.width));
        w.u(u64::from(t.height));
        match t.frame_rate {
            None => w.u(0),
            Some((n, d)) => {
                w.u(1);
                w.u(u64::from(n));
                w.u(u64::from(d));
            }
        }
        w.u(u64::from(t.channels));
        w.u(u64::from(t.sample_rate));
        w.u(u64::from(t.ts_pid));
        w.u(t.avg_bitrate);
        w.u(t.peak_bitrate);
        let s = &t.samples;
        w.u(s.len() as u64);
        let has_skip = !s.skip.is_empty();
        w.u(u64::from(has_skip));
        let mut prev_object = 0u32;
        let mut prev_end = 0u64;
        let mut prev_dts = 0i64;
        for i in 0..s.len() {
            // Flags byte: bit 0 key frame, bit 1 object changes, bit 2 offset is not contiguous.
            let contiguous = s.object[i] == prev_object && s.offset[i] == prev_end;
            let flags = u64::from(s.keyframe[i])
                | (u64::from(s.object[i] != prev_object) << 1)
                | (u64::from(!contiguous) << 2);
            w.u(flags);
            if s.object[i] != prev_object {
                w.u(u64::from(s.object[i]));
            }
            if !contiguous {
                w.i(s.offset[i] as i64 - prev_end as i64);
            }
            w.u(u64::from(s.size[i]));
            if has_skip {
                w.u(u64::from(s.skip[i]));
            }
            w.i(s.dts[i] - prev_dts);
            w.i(i64::from(s.cts_offset[i]));
            prev_object = s.object[i];
            prev_end = s.offset[i] + u64::from(s.size[i]);
            prev_dts = s.dts[i];
        }
    }
    w.0
}

/// Parses an index written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<MediaIndex, IndexError> {
    if bytes.len() < 8 {
        return Err(IndexError::Truncated);
    }
    if &bytes[..6] != MAGIC {
        return Err(IndexError::BadMagic);
    }
    let version = u16::from_be_bytes([bytes[6], bytes[7]]);
    if version != FORMAT_VERSION {
        return Err(IndexError::Version(version));
    }
    let mut r = R(&bytes[8..]);
    let source = match r.u()? {
        1 => SourceKind::Smil,
        2 => SourceKind::HlsTs,
        3 => SourceKind::Mp4,
        _ => return Err(IndexError::Corrupt("unknown source kind")),
    };
    let n = r.len()?;
    let mut objects = Vec::with_capacity(n);
    for _ in 0..n {
        objects.push(r.string()?);
    }
    let n = r.len()?;
    if n != 0 && n != objects.len() {
        return Err(IndexError::Corrupt(
            "object versions do not match the objects",
        ));
    }
    let mut versions = Vec::with_capacity(n);
    for _ in 0..n {
        versions.push(ObjectVersion {
            size: r.u()?,
            tag: r.string()?,
        });
    }
    let n = r.len()?;
    let mut warnings = Vec::with_capacity(n);
    for _ in 0..n {
        warnings.push(r.string()?);
    }
    let n = r.len()?;
    let mut tracks = Vec::with_capacity(n);
    for _ in 0..n {
        let codec = codec_from(r.u()?)?;
        if r.0.len() < 4 {
            return Err(IndexError::Truncated);
        }
        let fourcc = [r.0[0], r.0[1], r.0[2], r.0[3]];
        r.0 = &r.0[4..];
        let codec_config = r.bytes()?.to_vec();
        let codec_string = r.string()?;
        let language = r.opt_str()?;
        let name = r.opt_str()?;
        let stream = r.u32()?;
        let timescale = r.u32()?;
        let presentation_offset = r.i()?;
        let last_sample_duration = r.u32()?;
        let width = r.u32()?;
        let height = r.u32()?;
        let frame_rate = match r.u()? {
            0 => None,
            1 => Some((r.u32()?, r.u32()?)),
            _ => return Err(IndexError::Corrupt("bad option tag")),
        };
        let channels = r.u32()?;
        let sample_rate = r.u32()?;
        let ts_pid = u16::try_from(r.u()?).map_err(|_| IndexError::Corrupt("bad PID"))?;
        let avg_bitrate = r.u()?;
        let peak_bitrate = r.u()?;
        // Each sample takes at least 4 bytes, which bounds the count by the input size.
        let count = r.u()?;
        if count > (r.0.len() / 4) as u64 {
            return Err(IndexError::Truncated);
        }
        let count = count as usize;
        let has_skip = match r.u()? {
            0 => false,
            1 => true,
            _ => return Err(IndexError::Corrupt("bad option tag")),
        };
        let mut s = Samples {
            skip: Vec::with_capacity(if has_skip { count } else { 0 }),
            object: Vec::with_capacity(count),
            offset: Vec::with_capacity(count),
            size: Vec::with_capacity(count),
            dts: Vec::with_capacity(count),
            cts_offset: Vec::with_capacity(count),
            keyframe: Vec::with_capacity(count),
        };
        let mut object = 0u32;
        let mut end = 0u64;
        let mut dts = 0i64;
        for _ in 0..count {
            let flags = r.u()?;
            if flags > 7 {
                return Err(IndexError::Corrupt("bad sample flags"));
            }
            if flags & 2 != 0 {
                object = r.u32()?;
                if object as usize >= objects.len() {
                    return Err(IndexError::Corrupt("sample object out of range"));
                }
            }
            let offset = if flags & 4 != 0 {
                let delta = r.i()?;
                i64::try_from(end)
                    .ok()
                    .and_then(|e| e.checked_add(delta))
                    .and_then(|v| u64::try_from(v).ok())
                    .ok_or(IndexError::Corrupt("bad sample offset"))?
            } else {
                end
            };
            let size = r.u32()?;
            if has_skip {
                s.skip.push(r.u32()?);
            }
            dts = dts
                .checked_add(r.i()?)
                .ok_or(IndexError::Corrupt("time overflow"))?;
            let cts = r.i32()?;
            end = offset
                .checked_add(u64::from(size))
                .ok_or(IndexError::Corrupt("offset overflow"))?;
            s.push(object, offset, size, dts, cts, flags & 1 != 0);
        }
        tracks.push(Track {
            codec,
            fourcc,
            codec_config,
            codec_string,
            language,
            name,
            stream,
            timescale,
            presentation_offset,
            last_sample_duration,
            width,
            height,
            frame_rate,
            channels,
            sample_rate,
            ts_pid,
            avg_bitrate,
            peak_bitrate,
            samples: s,
        });
    }
    if !r.0.is_empty() {
        return Err(IndexError::Corrupt("trailing bytes"));
    }
    Ok(MediaIndex {
        source,
        objects,
        versions,
        tracks,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_index() -> MediaIndex {
        let mut s = Samples::default();
        let mut off = 48u64;
        for i in 0..100i64 {
            let size = 1000 + (i as u32 * 37) % 500;
            s.push(
                if i < 50 { 0 } else { 1 },
                off,
                size,
                i * 512,
                if i % 3 == 0 { 1024 } else { -512 },
                i % 25 == 0,
            );
            off += u64::from(size) + if i % 10 == 9 { 333 } else { 0 };
        }
        MediaIndex {
            source: SourceKind::Smil,
            objects: vec!["a/one.mp4".into(), "a/two.mp4".into()],
            versions: vec![
                ObjectVersion {
                    size: 123_456,
                    tag: "1a2b-1700000000.5".into(),
                },
                ObjectVersion {
                    size: 654_321,
                    tag: "\"9b2cf535f27731c974343645a3985328\"".into(),
                },
            ],
            warnings: vec!["something".into()],
            tracks: vec![Track {
                codec: Codec::H264,
                fourcc: *b"avc1",
                codec_config: vec![1, 100, 0, 31, 255],
                codec_string: "avc1.64001f".into(),
                language: Some("eng".into()),
                name: None,
                stream: 2,
                timescale: 12800,
                presentation_offset: -1024,
                last_sample_duration: 512,
                width: 1280,
                height: 720,
                frame_rate: Some((25, 1)),
                channels: 0,
                sample_rate: 0,
                ts_pid: 0,
                avg_bitrate: 1_500_000,
                peak_bitrate: 2_000_000,
                samples: s,
            }],
        }
    }

    #[test]
    fn round_trip() {
        let idx = sample_index();
        let bytes = encode(&idx);
        assert_eq!(decode(&bytes).unwrap(), idx);
        assert!(
            bytes.len() < 100 * 10,
            "{} bytes for 100 samples",
            bytes.len()
        );
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let bytes = encode(&sample_index());
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xff;
            let _ = decode(&b);
        }
        assert_eq!(
            decode(b"VPKIDX\x00\x09").unwrap_err(),
            IndexError::Version(9)
        );
        assert_eq!(decode(b"NOTANINDEX").unwrap_err(), IndexError::BadMagic);
    }
}
