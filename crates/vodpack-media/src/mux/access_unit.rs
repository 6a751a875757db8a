//! The first filter of every output chain: a sample as stored in the source, turned into the
//! elementary-stream form an output container carries. For MPEG-TS that is Annex B video with
//! an access unit delimiter and, on key frames, the parameter sets in band; and ADTS-framed
//! AAC. Samples that came from TS sources are already in that form and pass through.
//!
//! The fragmented-MP4 counterpart (length-prefixed NAL units, raw AAC) is
//! [`super::fmp4::Fmp4Track::sample`]; it shares [`Parts`] and the record parsers here.
//!
//! Output is a list of byte parts rather than one buffer, so the source bytes are not copied and
//! a later encryption stage (SAMPLE-AES, cbcs) can work NAL unit by NAL unit.

use crate::error::MediaError;
use crate::index::{Codec, Track};

/// One elementary-stream unit as byte parts, in order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parts<'a> {
    pub parts: Vec<std::borrow::Cow<'a, [u8]>>,
}

impl<'a> Parts<'a> {
    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.len()).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub(crate) fn owned(&mut self, b: Vec<u8>) {
        self.parts.push(std::borrow::Cow::Owned(b));
    }
    pub(crate) fn borrowed(&mut self, b: &'a [u8]) {
        self.parts.push(std::borrow::Cow::Borrowed(b));
    }
    /// The unit as one buffer (tests, small outputs).
    pub fn concat(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        for p in &self.parts {
            v.extend_from_slice(p);
        }
        v
    }
}

const START: [u8; 4] = [0, 0, 0, 1];

/// Per-track facts the filter needs, worked out once per track rather than per sample.
#[derive(Debug, Clone)]
pub struct TsPrep {
    codec: Codec,
    /// Samples are already Annex B / ADTS (TS sources).
    passthrough: bool,
    /// Length-prefix size of MP4 video samples.
    nal_length_size: usize,
    /// Parameter sets with start codes, written before each key frame.
    parameter_sets: Vec<u8>,
    /// AAC: the first two bytes of the ADTS header fields (profile, sampling index, channels).
    adts: Option<(u8, u8, u8)>,
}

fn bad(msg: &str) -> MediaError {
    MediaError::Corrupt(format!("codec configuration: {msg}"))
}

/// NAL units listed in an avcC record: (length size, SPS+PPS list).
pub(crate) fn avcc_sets(c: &[u8]) -> Result<(usize, Vec<&[u8]>), MediaError> {
    if c.len() < 7 {
        return Err(bad("avcC too short"));
    }
    let len_size = usize::from(c[4] & 3) + 1;
    let mut sets = Vec::new();
    let mut i = 5;
    for count_mask in [0x1f, 0xff] {
        let n = usize::from(*c.get(i).ok_or_else(|| bad("avcC truncated"))? & count_mask);
        i += 1;
        for _ in 0..n {
            let l = usize::from(u16::from_be_bytes([
                *c.get(i).ok_or_else(|| bad("avcC truncated"))?,
                *c.get(i + 1).ok_or_else(|| bad("avcC truncated"))?,
            ]));
            sets.push(
                c.get(i + 2..i + 2 + l)
                    .ok_or_else(|| bad("avcC truncated"))?,
            );
            i += 2 + l;
        }
    }
    Ok((len_size, sets))
}

/// NAL units listed in an hvcC record: (length size, VPS/SPS/PPS list).
pub(crate) fn hvcc_sets(c: &[u8]) -> Result<(usize, Vec<&[u8]>), MediaError> {
    if c.len() < 23 {
        return Err(bad("hvcC too short"));
    }
    let len_size = usize::from(c[21] & 3) + 1;
    let mut sets = Vec::new();
    let mut i = 23;
    for _ in 0..c[22] {
        let n = usize::from(u16::from_be_bytes([
            *c.get(i + 1).ok_or_else(|| bad("hvcC truncated"))?,
            *c.get(i + 2).ok_or_else(|| bad("hvcC truncated"))?,
        ]));
        i += 3;
        for _ in 0..n {
            let l = usize::from(u16::from_be_bytes([
                *c.get(i).ok_or_else(|| bad("hvcC truncated"))?,
                *c.get(i + 1).ok_or_else(|| bad("hvcC truncated"))?,
            ]));
            sets.push(
                c.get(i + 2..i + 2 + l)
                    .ok_or_else(|| bad("hvcC truncated"))?,
            );
            i += 2 + l;
        }
    }
    Ok((len_size, sets))
}

/// The parameter sets of a video track's configuration record, as NAL units without start
/// codes or length prefixes, in record order: SPS then PPS (H.264, avcC), or VPS, SPS, PPS as
/// listed (H.265, hvcC). Other NAL units a record may carry (SEI arrays in hvcC) are left out.
/// Empty for audio and text tracks. The Smooth manifest's `CodecPrivateData` and in-band
/// parameter sets are built from this.
pub fn parameter_sets(track: &Track) -> Result<Vec<Vec<u8>>, MediaError> {
    Ok(parameter_set_slices(track)?
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect())
}

/// [`parameter_sets`], borrowed from the record.
pub(crate) fn parameter_set_slices(track: &Track) -> Result<Vec<&[u8]>, MediaError> {
    Ok(match track.codec {
        Codec::H264 => avcc_sets(&track.codec_config)?
            .1
            .into_iter()
            // SPS, PPS, SPS extension.
            .filter(|n| n.first().is_some_and(|h| matches!(h & 0x1f, 7 | 8 | 13)))
            .collect(),
        Codec::H265 => hvcc_sets(&track.codec_config)?
            .1
            .into_iter()
            .filter(|n| {
                n.first()
                    .is_some_and(|h| matches!((h >> 1) & 0x3f, 32..=34))
            })
            .collect(),
        _ => Vec::new(),
    })
}

/// AAC AudioSpecificConfig → (profile for ADTS, sampling index, channel configuration).
fn asc_fields(asc: &[u8]) -> Result<(u8, u8, u8), MediaError> {
    if asc.len() < 2 {
        return Err(bad("AudioSpecificConfig too short"));
    }
    let aot = asc[0] >> 3;
    let sfi = ((asc[0] & 7) << 1) | (asc[1] >> 7);
    let ch = (asc[1] >> 3) & 0x0f;
    if aot == 0 || aot > 4 && aot != 5 && aot != 29 || sfi > 12 {
        return Err(MediaError::Unsupported(format!(
            "AAC object type {aot} / sampling index {sfi} cannot be carried in ADTS"
        )));
    }
    // HE-AAC (5, 29) is signalled implicitly in ADTS as its AAC-LC core.
    let profile = if aot == 5 || aot == 29 { 2 } else { aot };
    Ok((profile - 1, sfi, ch))
}

impl TsPrep {
    pub fn new(track: &Track) -> Result<TsPrep, MediaError> {
        let passthrough = track.ts_pid != 0;
        let mut prep = TsPrep {
            codec: track.codec,
            passthrough,
            nal_length_size: 4,
            parameter_sets: Vec::new(),
            adts: None,
        };
        if passthrough {
            return Ok(prep);
        }
        match track.codec {
            Codec::H264 | Codec::H265 => {
                let (len, sets) = if track.codec == Codec::H264 {
                    avcc_sets(&track.codec_config)?
                } else {
                    hvcc_sets(&track.codec_config)?
                };
                prep.nal_length_size = len;
                for s in sets {
                    prep.parameter_sets.extend_from_slice(&START);
                    prep.parameter_sets.extend_from_slice(s);
                }
            }
            Codec::Aac => prep.adts = Some(asc_fields(&track.codec_config)?),
            Codec::Ac3 | Codec::Eac3 => {}
            Codec::Srt | Codec::WebVtt => {
                return Err(MediaError::Unsupported(
                    "text tracks are not carried in MPEG-TS".into(),
                ));
            }
        }
        Ok(prep)
    }

    /// The TS form of one sample. Constant parts (delimiter, start codes, parameter sets) are
    /// borrowed from `self` or statics rather than allocated per sample.
    pub fn unit<'a>(&'a self, sample: &'a [u8], key: bool) -> Result<Parts<'a>, MediaError> {
        const AUD_H264: &[u8] = &[0, 0, 0, 1, 0x09, 0xf0];
        const AUD_H265: &[u8] = &[0, 0, 0, 1, 0x46, 0x01, 0x50];
        let mut out = Parts::default();
        if self.passthrough {
            out.borrowed(sample);
            return Ok(out);
        }
        match self.codec {
            Codec::H264 | Codec::H265 => {
                let h264 = self.codec == Codec::H264;
                // Delimiter, parameter sets, then start code + NAL pairs (usually 1-2).
                out.parts.reserve(6);
                out.borrowed(if h264 { AUD_H264 } else { AUD_H265 });
                if key {
                    out.borrowed(&self.parameter_sets);
                }
                let n = self.nal_length_size;
                let mut i = 0;
                while i < sample.len() {
                    let len = sample
                        .get(i..i + n)
                        .ok_or_else(|| {
                            MediaError::Corrupt("NAL length runs past the sample".into())
                        })?
                        .iter()
                        .fold(0usize, |a, b| (a << 8) | usize::from(*b));
                    let nal = sample.get(i + n..i + n + len).ok_or_else(|| {
                        MediaError::Corrupt("NAL unit runs past the sample".into())
                    })?;
                    i += n + len;
                    let kind = if h264 {
                        nal.first().map(|b| b & 0x1f)
                    } else {
                        nal.first().map(|b| (b >> 1) & 0x3f)
                    };
                    // Drop delimiters already in the sample: ours is first.
                    if (h264 && kind == Some(9)) || (!h264 && kind == Some(35)) || nal.is_empty() {
                        continue;
                    }
                    out.borrowed(&START);
                    out.borrowed(nal);
                }
            }
            Codec::Aac => {
                let (profile, sfi, ch) = self.adts.unwrap_or((1, 3, 2));
                let len = sample.len() + 7;
                if len >= 1 << 13 {
                    return Err(MediaError::Corrupt("AAC frame too large for ADTS".into()));
                }
                out.owned(vec![
                    0xff,
                    0xf1,
                    (profile << 6) | (sfi << 2) | (ch >> 2),
                    ((ch & 3) << 6) | (len >> 11) as u8,
                    (len >> 3) as u8,
                    (((len & 7) as u8) << 5) | 0x1f,
                    0xfc,
                ]);
                out.borrowed(sample);
            }
            Codec::Ac3 | Codec::Eac3 => out.borrowed(sample),
            Codec::Srt | Codec::WebVtt => {}
        }
        Ok(out)
    }
}
