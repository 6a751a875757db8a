//! The sample filter: what is done to each stored sample before it goes into a fragment's
//! `mdat`. MP4 samples pass through; TS samples (Annex B video, ADTS AAC) become
//! length-prefixed NAL units and raw AAC frames; parameter sets go in band on key frames when
//! asked (`avc3`/`hev1`). The per-track facts it needs are worked out once ([`Prep`]).

use super::{Fmp4Track, config_err};
use crate::codec::nal::{AnnexB, LengthPrefixed};
use crate::codec::params::{avcc_sets, hvcc_sets};
use crate::error::MediaError;
use crate::index::{Codec, Track};
use crate::mux::access_unit::{Parts, parameter_set_slices};

/// Per-track facts the sample filter needs.
#[derive(Debug, Clone)]
pub(super) enum Prep {
    Video(VideoPrep),
    /// AAC from a TS source: strip the ADTS header.
    Adts,
    /// Samples are already in their MP4 form.
    Raw,
}

/// The facts of a video track: its NAL syntax, its sample framing and its parameter sets.
#[derive(Debug, Clone)]
pub(super) struct VideoPrep {
    h265: bool,
    /// Samples are Annex B (TS sources): re-framed with 4-byte lengths.
    annexb: bool,
    /// Length-prefix size of MP4 source samples.
    nal_length_size: usize,
    /// The configuration record's parameter sets, each with an output-sized length prefix,
    /// ready to put in front of a key frame.
    sets: Vec<u8>,
}

/// Works out the filter's per-track facts, once per writer.
pub(super) fn prep(track: &Track) -> Result<Prep, MediaError> {
    let ts_source = track.ts_pid != 0;
    Ok(match track.codec {
        Codec::H264 | Codec::H265 => {
            let h265 = track.codec == Codec::H265;
            let len = if h265 {
                hvcc_sets(&track.codec_config)?.0
            } else {
                avcc_sets(&track.codec_config)?.0
            };
            let sets = parameter_set_slices(track)?;
            let out_len = if ts_source { 4 } else { len };
            let mut prefixed = Vec::new();
            for s in sets {
                if out_len < 4 && s.len() >> (8 * out_len) != 0 {
                    return Err(config_err(
                        track,
                        "parameter set longer than the NAL length field allows",
                    ));
                }
                let l = (s.len() as u64).to_be_bytes();
                prefixed.extend_from_slice(&l[8 - out_len..]);
                prefixed.extend_from_slice(s);
            }
            Prep::Video(VideoPrep {
                h265,
                annexb: ts_source,
                nal_length_size: len,
                sets: prefixed,
            })
        }
        Codec::Aac if ts_source => Prep::Adts,
        _ => Prep::Raw,
    })
}

impl Fmp4Track<'_> {
    /// Whether [`Fmp4Track::sample`] returns every sample as it is stored (MP4 sources
    /// without parameter sets in band): the fragment's sample data is then the source bytes
    /// themselves, sized by the index, and can be sent from wherever they lie.
    pub fn passes_through(&self) -> bool {
        match &self.prep {
            Prep::Video(v) => v.passes_through(self.opts.in_band_parameter_sets),
            Prep::Adts => false,
            Prep::Raw => true,
        }
    }

    /// Sample filter: the stored source bytes of a sample → the fMP4 sample as byte parts
    /// (borrowing the source where possible). MP4 sources pass through untouched; with
    /// parameter sets in band, those are put in front of key frames (unless the sample has an
    /// SPS already), after checking the sample's NAL lengths. TS sources: Annex B → 4-byte
    /// length-prefixed NAL units without access unit delimiters (and without VPS/SPS/PPS
    /// unless in band); one ADTS frame → the raw AAC frame; AC-3/E-AC-3 frames pass through.
    pub fn sample<'a>(&self, bytes: &'a [u8], key: bool) -> Result<Parts<'a>, MediaError> {
        let mut out = Parts::default();
        match &self.prep {
            Prep::Video(v) => v.filter(bytes, key, self.opts.in_band_parameter_sets, &mut out)?,
            Prep::Adts => strip_adts(bytes, &mut out)?,
            Prep::Raw => out.borrowed(bytes),
        }
        Ok(out)
    }
}

/// The raw AAC frame of one ADTS frame (7-byte header, or 9 with CRC).
fn strip_adts<'a>(b: &'a [u8], out: &mut Parts<'a>) -> Result<(), MediaError> {
    if b.len() < 7 || b[0] != 0xff || b[1] & 0xf6 != 0xf0 {
        return Err(MediaError::Corrupt(
            "AAC sample of a TS source is not an ADTS frame".into(),
        ));
    }
    let header = if b[1] & 1 == 1 { 7 } else { 9 };
    let len = (usize::from(b[3] & 0x03) << 11) | (usize::from(b[4]) << 3) | usize::from(b[5] >> 5);
    if len != b.len() {
        return Err(MediaError::Corrupt(format!(
            "ADTS frame of {len} bytes in a sample of {}",
            b.len()
        )));
    }
    if b[6] & 0x03 != 0 {
        return Err(MediaError::Unsupported(
            "ADTS frames with several raw data blocks".into(),
        ));
    }
    let payload = b
        .get(header..)
        .ok_or_else(|| MediaError::Corrupt("ADTS frame shorter than its header".into()))?;
    out.borrowed(payload);
    Ok(())
}

impl VideoPrep {
    fn nal_type(&self, nal: &[u8]) -> Option<u8> {
        let h = *nal.first()?;
        Some(if self.h265 { (h >> 1) & 0x3f } else { h & 0x1f })
    }

    fn is_aud(&self, t: u8) -> bool {
        t == if self.h265 { 35 } else { 9 }
    }

    fn is_sps(&self, t: u8) -> bool {
        t == if self.h265 { 33 } else { 7 }
    }

    fn is_parameter_set(&self, t: u8) -> bool {
        if self.h265 {
            (32..=34).contains(&t)
        } else {
            t == 7 || t == 8
        }
    }

    /// Length-prefixed samples (MP4 sources) without parameter sets to add go out as stored.
    fn passes_through(&self, in_band: bool) -> bool {
        !self.annexb && !in_band
    }

    fn filter<'a>(
        &self,
        sample: &'a [u8],
        key: bool,
        in_band: bool,
        out: &mut Parts<'a>,
    ) -> Result<(), MediaError> {
        if self.passes_through(in_band) {
            // Passed through as stored, as a static copy of the file would send it: walking
            // the NAL lengths touches every sample (a cache miss or more each, an eighth of a
            // warm DASH origin's CPU) only to refuse the segment when they are wrong.
            out.borrowed(sample);
            return Ok(());
        }
        if !self.annexb {
            // Length-prefixed already, parameter sets to add: check the lengths, note whether
            // an SPS is present.
            let mut has_sps = false;
            for nal in LengthPrefixed::new(sample, self.nal_length_size) {
                has_sps |= self.nal_type(nal?).is_some_and(|t| self.is_sps(t));
            }
            if in_band && key && !has_sps && !self.sets.is_empty() {
                out.owned(self.sets.clone());
            }
            out.borrowed(sample);
            return Ok(());
        }
        let nals: Vec<&[u8]> = AnnexB::new(sample).collect();
        if nals.is_empty() && !sample.is_empty() {
            return Err(MediaError::Corrupt(
                "video sample of a TS source has no Annex B start code".into(),
            ));
        }
        let nals: Vec<&[u8]> = nals
            .into_iter()
            .filter(|nal| match self.nal_type(nal) {
                None => false,
                Some(t) => !self.is_aud(t) && (in_band || !self.is_parameter_set(t)),
            })
            .collect();
        let has_sps = nals
            .iter()
            .any(|nal| self.nal_type(nal).is_some_and(|t| self.is_sps(t)));
        if in_band && key && !has_sps && !self.sets.is_empty() {
            out.owned(self.sets.clone());
        }
        for nal in nals {
            let len = u32::try_from(nal.len())
                .map_err(|_| MediaError::Corrupt("NAL unit larger than 4 GiB".into()))?;
            out.owned(len.to_be_bytes().to_vec());
            out.borrowed(nal);
        }
        Ok(())
    }
}
