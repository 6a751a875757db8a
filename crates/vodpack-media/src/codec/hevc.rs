//! H.265 SPS fields an `hvcC` record carries, read from MPEG-TS sources, and the `hvcC` record
//! and codec string built from them. Hand-written because scuffle-h265 misses fields we need.

use super::bits::{Bits, unescape};

/// Fields of an H.265 SPS that the `hvcC` record and the manifests need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcSps {
    pub max_sub_layers_minus1: u8,
    pub temporal_id_nesting: bool,
    /// The 12 bytes of general profile_tier_level: space/tier/idc, 4 compatibility bytes,
    /// 6 constraint bytes, level.
    pub general_ptl: [u8; 12],
    pub chroma_format_idc: u8,
    pub width: u32,
    pub height: u32,
    pub bit_depth_luma_minus8: u8,
    pub bit_depth_chroma_minus8: u8,
}

/// Parses an H.265 SPS NAL unit (2-byte header included, emulation prevention present).
pub fn hevc_sps(nal: &[u8]) -> Option<HevcSps> {
    let rbsp = unescape(nal.get(2..)?);
    let mut r = Bits::new(&rbsp);
    r.skip(4)?; // sps_video_parameter_set_id
    let max_sub = r.bits(3)? as u8;
    let nesting = r.bit()? == 1;
    let mut ptl = [0u8; 12];
    for b in ptl.iter_mut() {
        *b = r.bits(8)? as u8;
    }
    let mut profile_present = [false; 8];
    let mut level_present = [false; 8];
    for i in 0..usize::from(max_sub) {
        profile_present[i] = r.bit()? == 1;
        level_present[i] = r.bit()? == 1;
    }
    if max_sub > 0 {
        r.skip(2 * (8 - usize::from(max_sub)))?;
    }
    for i in 0..usize::from(max_sub) {
        if profile_present[i] {
            r.skip(88)?;
        }
        if level_present[i] {
            r.skip(8)?;
        }
    }
    r.ue()?; // sps_seq_parameter_set_id
    let chroma = r.ue()?;
    if chroma == 3 {
        r.skip(1)?;
    }
    let mut width = r.ue()?;
    let mut height = r.ue()?;
    if r.bit()? == 1 {
        let (sub_w, sub_h) = match chroma {
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        let (l, rt, t, b) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
        width = width.checked_sub(sub_w * (l + rt))?;
        height = height.checked_sub(sub_h * (t + b))?;
    }
    let bd_luma = r.ue()?;
    let bd_chroma = r.ue()?;
    if chroma > 3 || bd_luma > 8 || bd_chroma > 8 {
        return None;
    }
    Some(HevcSps {
        max_sub_layers_minus1: max_sub,
        temporal_id_nesting: nesting,
        general_ptl: ptl,
        chroma_format_idc: chroma as u8,
        width,
        height,
        bit_depth_luma_minus8: bd_luma as u8,
        bit_depth_chroma_minus8: bd_chroma as u8,
    })
}

/// An `hvcC` record (HEVCDecoderConfigurationRecord) from VPS, SPS and PPS NAL units, with
/// 4-byte NAL lengths.
pub fn hvcc(sps: &HevcSps, vps: &[u8], sps_nal: &[u8], pps: &[u8]) -> Vec<u8> {
    let mut out = vec![1];
    out.extend_from_slice(&sps.general_ptl[..12]);
    out.extend_from_slice(&[0xf0, 0x00]); // min_spatial_segmentation_idc = 0
    out.push(0xfc); // parallelismType = 0
    out.push(0xfc | sps.chroma_format_idc);
    out.push(0xf8 | sps.bit_depth_luma_minus8);
    out.push(0xf8 | sps.bit_depth_chroma_minus8);
    out.extend_from_slice(&[0, 0]); // avgFrameRate unknown
    out.push(((sps.max_sub_layers_minus1 + 1) << 3) | (u8::from(sps.temporal_id_nesting) << 2) | 3);
    out.push(3);
    for (kind, nal) in [(32u8, vps), (33, sps_nal), (34, pps)] {
        out.push(0x80 | kind);
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        out.extend_from_slice(nal);
    }
    out
}

/// The mp4-atom view of the profile fields, for the RFC 6381 string.
pub fn hevc_codec_string(sps: &HevcSps) -> String {
    let p = &sps.general_ptl;
    let h = mp4_atom::Hvcc {
        configuration_version: 1,
        general_profile_space: p[0] >> 6,
        general_tier_flag: p[0] & 0x20 != 0,
        general_profile_idc: p[0] & 0x1f,
        general_profile_compatibility_flags: [p[1], p[2], p[3], p[4]],
        general_constraint_indicator_flags: [p[5], p[6], p[7], p[8], p[9], p[10]],
        general_level_idc: p[11],
        ..Default::default()
    };
    super::codec_string::hevc("hvc1", &h)
}
