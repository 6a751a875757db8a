//! The first filter of every output chain: a sample as stored in the source, turned into the
//! elementary-stream form an output container carries. For MPEG-TS that is Annex B video with
//! an access unit delimiter and, on key frames, the parameter sets in band; and ADTS-framed
//! AAC. Samples that came from TS sources are already in that form and pass through.
//!
//! The fragmented-MP4 counterpart (length-prefixed NAL units, raw AAC) is
//! [`super::fmp4::Fmp4Track::sample`]; it shares [`Parts`] and [`parameter_set_slices`]. The
//! record parsers, NAL walker and ADTS header are in [`crate::codec`].
//!
//! Output is a list of byte parts rather than one buffer, so the source bytes are not copied and
//! a later encryption stage (SAMPLE-AES, cbcs) can work NAL unit by NAL unit.

use crate::codec::aac::{adts_header, asc_fields};
use crate::codec::nal::LengthPrefixed;
use crate::codec::params::{avcc_sets, hvcc_sets};
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
                for nal in LengthPrefixed::new(sample, self.nal_length_size) {
                    let nal = nal?;
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
                out.owned(adts_header(profile, sfi, ch, len).to_vec());
                out.borrowed(sample);
            }
            Codec::Ac3 | Codec::Eac3 => out.borrowed(sample),
            Codec::Srt | Codec::WebVtt => {}
        }
        Ok(out)
    }
}
