//! Subsample maps of H.264/H.265 samples as the fMP4 filter outputs them (length-prefixed NAL
//! units), after Shaka Packager's `GenerateSubsamplesFromH26xFrame` (ENCRYPTION.md §4, §6):
//! - non-VCL NAL units (parameter sets, SEI, AUD, …) are clear;
//! - a VCL NAL unit keeps its length field, NAL header and slice header clear, the rest is
//!   protected; with `align` (`cenc`) the protected part is shrunk to a multiple of 16 by
//!   moving the remainder into the clear part before it;
//! - clear-only parts are merged into the next entry; clear counts over 65535 are split into
//!   extra `{65535, 0}` entries.
//!
//! H.264 slice headers are parsed (h264-reader's `nal::slice`, with the SPS/PPS of the
//! configuration record and any sent in band). H.265 slice segment headers are not: their
//! length depends on many SPS/PPS fields (reference picture sets, entry points, extra header
//! bits) that we have no parser for, so an H.265 slice keeps a fixed clear leader of
//! [`HEVC_CLEAR_LEADER`] bytes, longer than the slice segment headers of ordinary encodes (a
//! few dozen bytes; entry points of a 4K WPP picture add under 100). Decryptors follow the
//! map whatever it is, so this costs only the encryption of those bytes; an H.264 slice whose
//! header cannot be parsed gets the same leader.

use h264_reader::Context;
use h264_reader::nal::NalHeader;
use h264_reader::nal::pps::PicParameterSet;
use h264_reader::nal::slice::SliceHeader;
use h264_reader::nal::sps::SeqParameterSet;
use h264_reader::rbsp::{BitReader, ByteReader, decode_nal};

use crate::codec::nal::LengthPrefixed;
use crate::error::MediaError;
use crate::mux::fmp4::Subsample;

/// Clear bytes at the start of a slice NAL unit whose slice header is not parsed.
pub const HEVC_CLEAR_LEADER: usize = 128;

/// How much of a slice NAL's start is parsed for its header before trying the whole NAL.
const HEADER_PREFIX: usize = 256;

/// The subsample map maker of one video track.
pub struct VideoMap {
    h265: bool,
    /// NAL length field size of the output samples.
    length_size: usize,
    /// `cenc`: protected parts a multiple of 16 bytes.
    align: bool,
    /// H.264 parameter sets, for slice header lengths.
    ctx: Context,
}

impl VideoMap {
    /// `sets`: the configuration record's parameter sets (NAL units without length).
    pub fn new(h265: bool, length_size: usize, align: bool, sets: &[&[u8]]) -> VideoMap {
        let mut m = VideoMap {
            h265,
            length_size,
            align,
            ctx: Context::new(),
        };
        for s in sets {
            m.learn(s);
        }
        m
    }

    /// Adds an H.264 SPS or PPS to the context (ignored when it does not parse: slices that
    /// need it fall back to the fixed leader).
    fn learn(&mut self, nal: &[u8]) {
        if self.h265 {
            return;
        }
        match nal.first().map(|h| h & 0x1f) {
            Some(7) => {
                if let Ok(sps) = SeqParameterSet::from_bits(BitReader::new(
                    ByteReader::skipping_h264_header(nal),
                )) {
                    self.ctx.put_seq_param_set(sps);
                }
            }
            Some(8) => {
                if let Ok(pps) = PicParameterSet::from_bits(
                    &self.ctx,
                    BitReader::new(ByteReader::skipping_h264_header(nal)),
                ) {
                    self.ctx.put_pic_param_set(pps);
                }
            }
            _ => {}
        }
    }

    fn is_vcl(&self, nal: &[u8]) -> bool {
        match nal.first() {
            None => false,
            Some(h) if self.h265 => (h >> 1) & 0x3f < 32,
            Some(h) => (1..=5).contains(&(h & 0x1f)),
        }
    }

    /// Bytes of an H.264 slice NAL unit up to the end of its slice header (NAL header
    /// included, emulation prevention bytes counted), rounded up to a whole byte; `None`
    /// for H.265 and when the header does not parse.
    pub fn slice_header_len(&self, nal: &[u8]) -> Option<usize> {
        if self.h265 {
            return None;
        }
        let header = NalHeader::new(*nal.first()?).ok()?;
        let mut limit = HEADER_PREFIX;
        loop {
            let prefix = &nal[..nal.len().min(limit)];
            let rbsp = decode_nal(prefix).ok()?;
            let mut r = BitReader::new(&rbsp[..]);
            match SliceHeader::from_bits(&self.ctx, &mut r, header, None) {
                Ok(_) => {
                    let consumed = rbsp.len() - r.into_reader().len();
                    return Some(1 + escaped_len(&nal[1..], consumed));
                }
                Err(_) if prefix.len() < nal.len() => limit = nal.len(),
                Err(_) => return None,
            }
        }
    }

    /// The map of one sample; `out` is cleared first.
    pub fn map(&mut self, sample: &[u8], out: &mut Vec<Subsample>) -> Result<(), MediaError> {
        out.clear();
        let mut pending = 0usize;
        for nal in LengthPrefixed::new(sample, self.length_size) {
            let nal = nal?;
            let total = self.length_size + nal.len();
            if !self.is_vcl(nal) {
                self.learn(nal);
                pending += total;
                continue;
            }
            let header = self
                .slice_header_len(nal)
                .unwrap_or(HEVC_CLEAR_LEADER)
                .min(nal.len());
            let mut protected = nal.len() - header;
            if self.align {
                protected -= protected % 16;
            }
            if protected == 0 {
                pending += total;
                continue;
            }
            push(out, pending + total - protected, protected)?;
            pending = 0;
        }
        if pending > 0 {
            push(out, pending, 0)?;
        }
        Ok(())
    }
}

/// Appends `{clear, protected}`, splitting clear counts over 65535.
fn push(out: &mut Vec<Subsample>, mut clear: usize, protected: usize) -> Result<(), MediaError> {
    while clear > usize::from(u16::MAX) {
        out.push(Subsample {
            clear: u16::MAX,
            protected: 0,
        });
        clear -= usize::from(u16::MAX);
    }
    out.push(Subsample {
        clear: clear as u16,
        protected: u32::try_from(protected)
            .map_err(|_| MediaError::Corrupt("NAL unit larger than 4 GiB".into()))?,
    });
    Ok(())
}

/// How many bytes of `ebsp` (escaped payload) hold its first `rbsp` unescaped bytes: every
/// `03` after two zero bytes is an emulation prevention byte and counts without being one.
fn escaped_len(ebsp: &[u8], rbsp: usize) -> usize {
    let (mut zeros, mut kept, mut i) = (0usize, 0usize, 0usize);
    while kept < rbsp && i < ebsp.len() {
        let b = ebsp[i];
        if zeros >= 2 && b == 3 {
            zeros = 0;
        } else {
            kept += 1;
            zeros = if b == 0 { zeros + 1 } else { 0 };
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(clear: u16, protected: u32) -> Subsample {
        Subsample { clear, protected }
    }

    fn prefixed(nals: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for n in nals {
            out.extend_from_slice(&(n.len() as u32).to_be_bytes());
            out.extend_from_slice(n);
        }
        out
    }

    /// A baseline SPS and PPS written by hand, bit by bit (ue(v) = Exp-Golomb):
    /// SPS 67 | profile 42, constraints c0, level 1e | sps_id ue(0) `1`,
    /// log2_max_frame_num_minus4 ue(0) `1`, pic_order_cnt_type ue(2) `011`,
    /// max_num_ref_frames ue(1) `010`, gaps 0, width_in_mbs_minus1 ue(19) `000010100`,
    /// height_in_map_units_minus1 ue(14) `0001111`, frame_mbs_only 1, direct_8x8 1,
    /// cropping 0, vui 0, stop bit → da 05 07 e4.
    /// PPS 68 | pps_id ue(0), sps_id ue(0), CAVLC 0, bottom_field_pic_order 0,
    /// slice_groups_minus1 ue(0), num_ref_idx l0/l1 ue(0) ue(0), weighted 0 00, qp/qs/chroma
    /// se(0)×3, deblocking_filter_control_present 0, constrained_intra 0, redundant 0, stop
    /// → ce 38 80.
    const SPS: [u8; 8] = [0x67, 0x42, 0xc0, 0x1e, 0xda, 0x05, 0x07, 0xe4];
    const PPS: [u8; 4] = [0x68, 0xce, 0x38, 0x80];

    #[test]
    fn escaped_lengths_count_emulation_prevention() {
        // 00 00 03 01: the 03 is an EPB: the first 3 RBSP bytes (00 00 01) take 4 bytes.
        assert_eq!(escaped_len(&[0, 0, 3, 1, 5], 3), 4);
        assert_eq!(escaped_len(&[0, 0, 3, 1, 5], 2), 2);
        assert_eq!(escaped_len(&[1, 2, 3], 2), 2);
    }

    #[test]
    fn non_vcl_clear_and_fixed_leader_with_alignment() {
        // H.265: AUD (type 35, header 46 01) of 3 bytes, then a TRAIL_R slice (type 1,
        // header 02 01) of 1000 bytes. cenc: the slice keeps 128 clear, 872 remain; 872 % 16
        // = 8 moves to clear: protected 864. Clear = AUD (4 + 3) + slice length (4) + 128
        // + 8 = 147.
        let aud = vec![0x46, 0x01, 0x50];
        let mut slice = vec![0x02, 0x01];
        slice.resize(1000, 0xaa);
        let sample = prefixed(&[aud.clone(), slice.clone()]);
        let mut m = VideoMap::new(true, 4, true, &[]);
        let mut out = Vec::new();
        m.map(&sample, &mut out).unwrap();
        assert_eq!(out, vec![s(147, 864)]);
        // cbcs: no alignment: {139, 872}.
        let mut m = VideoMap::new(true, 4, false, &[]);
        m.map(&sample, &mut out).unwrap();
        assert_eq!(out, vec![s(139, 872)]);
        // A trailing SEI (type 39) of 10 bytes: its own clear-only entry {14, 0}.
        let sei = vec![0x4e, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x80];
        let sample = prefixed(&[aud, slice, sei]);
        m.map(&sample, &mut out).unwrap();
        assert_eq!(out, vec![s(139, 872), s(14, 0)]);
    }

    #[test]
    fn big_clear_runs_split() {
        // A 70 000-byte SEI before a 200-byte slice: clear 4 + 70 000 + 4 + 128 = 70 136
        // (cbcs, no alignment, protected 72) → {65535, 0}, {4601, 72}.
        let mut sei = vec![0x4e, 0x01];
        sei.resize(70_000, 1);
        let mut slice = vec![0x02, 0x01];
        slice.resize(200, 2);
        let mut m = VideoMap::new(true, 4, false, &[]);
        let mut out = Vec::new();
        m.map(&prefixed(&[sei, slice]), &mut out).unwrap();
        assert_eq!(out, vec![s(65535, 0), s(4601, 72)]);
        // A slice shorter than the leader is wholly clear.
        let short = vec![0x02, 0x01, 9, 9];
        m.map(&prefixed(&[short]), &mut out).unwrap();
        assert_eq!(out, vec![s(8, 0)]);
        // Lengths that run past the sample are refused.
        assert!(m.map(&[0, 0, 0, 9, 1], &mut out).is_err());
    }

    #[test]
    fn h264_slice_header_is_parsed() {
        // With the SPS/PPS above (frame_num 4 bits since log2_max_frame_num_minus4 = 0,
        // pic_order_cnt_type 2 so no POC lsb), an IDR slice
        // (nal_unit_type 5, header 65) with payload bits:
        //   first_mb_in_slice ue(0)      = 1
        //   slice_type ue(7) (I)         = 0001000
        //   pic_parameter_set_id ue(0)   = 1
        //   frame_num u(4) 0             = 0000
        //   idr_pic_id ue(0)             = 1
        //   no_output_of_prior_pics u(1) = 0, long_term_reference_flag u(1) = 0
        //   slice_qp_delta se(0)         = 1
        //   (deblocking_filter_control_present_flag = 0 in this PPS: nothing more)
        // = 1 0001000 1 0000 1 0 0 1 = 17 bits → 3 bytes of header after the NAL header:
        // 1000 1000 | 1000 0100 | 1xxx xxxx (0xaa = 1010 1010 supplies that last 1). The
        // slice data follows (0xaa bytes).
        let sps =
            SeqParameterSet::from_bits(BitReader::new(ByteReader::skipping_h264_header(&SPS[..])));
        assert!(sps.is_ok(), "{sps:?}");
        let mut slice = vec![0x65, 0x88, 0x84, 0xaa];
        slice.resize(100, 0xaa);
        let mut m = VideoMap::new(false, 4, false, &[&SPS, &PPS]);
        let mut out = Vec::new();
        m.map(&prefixed(&[slice.clone()]), &mut out).unwrap();
        // clear = 4 (length) + 1 (header) + 3 = 8; protected = 100 - 4 = 96.
        assert_eq!(out, vec![s(8, 96)]);
        // Without the parameter sets the header cannot be parsed: the fixed leader.
        let mut slice_long = slice;
        slice_long.resize(300, 0xaa);
        let mut m = VideoMap::new(false, 4, false, &[]);
        m.map(&prefixed(&[slice_long]), &mut out).unwrap();
        assert_eq!(out, vec![s(4 + 128, 172)]);
    }
}
