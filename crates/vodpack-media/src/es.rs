//! Elementary-stream headers read from MPEG-TS sources, where no container describes the codec:
//! AC-3 and E-AC-3 sync frames (frame size, sample rate, channels, and the `dac3`/`dec3`
//! payloads MP4 needs) and the H.265 SPS fields an `hvcC` record carries. Hand-written because
//! the crates that parse these (scuffle-h265 for SPS, none for AC-3 frame headers) either miss
//! what we need or do not exist; each parser reads a few header bytes and is fuzzed with the TS
//! scanner.

/// Big-endian bit reader over an RBSP (emulation prevention already removed).
pub struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bits<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Bits { data, pos: 0 }
    }
    pub fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.pos / 8)?;
        let b = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(b))
    }
    pub fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            v = (v << 1) | self.bit()?;
        }
        Some(v)
    }
    pub fn skip(&mut self, n: usize) -> Option<()> {
        if self.pos + n > self.data.len() * 8 {
            return None;
        }
        self.pos += n;
        Some(())
    }
    /// Exp-Golomb unsigned.
    pub fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u32 << zeros) - 1 + self.bits(zeros)?)
    }
}

/// Removes emulation-prevention bytes (00 00 03 → 00 00).
pub fn unescape(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// AC-3 or E-AC-3 sync frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ac3Frame {
    pub eac3: bool,
    /// Frame length in bytes.
    pub size: usize,
    pub sample_rate: u32,
    /// Audio samples per channel in the frame.
    pub samples: u32,
    pub channels: u32,
    pub fscod: u8,
    pub bsid: u8,
    pub bsmod: u8,
    pub acmod: u8,
    pub lfeon: bool,
    /// AC-3 only: frmsizecod.
    pub frmsizecod: u8,
}

/// AC-3 frame sizes in 16-bit words by frmsizecod/2, for 48, 44.1 and 32 kHz (ATSC A/52 table 5.18).
const AC3_WORDS: [[u16; 3]; 19] = [
    [64, 69, 96],
    [80, 87, 120],
    [96, 104, 144],
    [112, 121, 168],
    [128, 139, 192],
    [160, 174, 240],
    [192, 208, 288],
    [224, 243, 336],
    [256, 278, 384],
    [320, 348, 480],
    [384, 417, 576],
    [448, 487, 672],
    [512, 557, 768],
    [640, 696, 960],
    [768, 835, 1152],
    [896, 975, 1344],
    [1024, 1114, 1536],
    [1152, 1253, 1728],
    [1280, 1393, 1920],
];
const AC3_RATES: [u32; 3] = [48000, 44100, 32000];
const ACMOD_CHANNELS: [u32; 8] = [2, 1, 2, 3, 3, 4, 4, 5];

/// Parses the sync frame header at the start of `b`.
pub fn ac3_frame(b: &[u8]) -> Option<Ac3Frame> {
    if b.len() < 8 || b[0] != 0x0b || b[1] != 0x77 {
        return None;
    }
    let bsid = b[5] >> 3;
    if bsid <= 10 {
        // AC-3: crc1(16) fscod(2) frmsizecod(6) bsid(5) bsmod(3) acmod(3) ...
        let fscod = b[4] >> 6;
        let frmsizecod = b[4] & 0x3f;
        let words = *AC3_WORDS
            .get(usize::from(frmsizecod / 2))?
            .get(usize::from(fscod))?;
        let mut size = usize::from(words) * 2;
        if fscod == 1 && frmsizecod % 2 == 1 {
            size += 2;
        }
        let mut r = Bits::new(&b[5..]);
        r.skip(5)?;
        let bsmod = r.bits(3)? as u8;
        let acmod = r.bits(3)? as u8;
        if acmod & 1 != 0 && acmod != 1 {
            r.skip(2)?;
        }
        if acmod & 4 != 0 {
            r.skip(2)?;
        }
        if acmod == 2 {
            r.skip(2)?;
        }
        let lfeon = r.bit()? == 1;
        Some(Ac3Frame {
            eac3: false,
            size,
            sample_rate: AC3_RATES[usize::from(fscod.min(2))],
            samples: 1536,
            channels: ACMOD_CHANNELS[usize::from(acmod)] + u32::from(lfeon),
            fscod,
            bsid,
            bsmod,
            acmod,
            lfeon,
            frmsizecod,
        })
    } else if bsid <= 16 {
        // E-AC-3: strmtyp(2) substreamid(3) frmsiz(11) fscod(2) [fscod2(2)|numblkscod(2)]
        // acmod(3) lfeon(1) bsid(5) ...
        let mut r = Bits::new(&b[2..]);
        r.skip(5)?;
        let frmsiz = r.bits(11)?;
        let fscod = r.bits(2)? as u8;
        let (sample_rate, blocks) = if fscod == 3 {
            let fscod2 = r.bits(2)?;
            (*[24000u32, 22050, 16000].get(fscod2 as usize)?, 6)
        } else {
            let numblkscod = r.bits(2)?;
            (
                AC3_RATES[usize::from(fscod)],
                [1u32, 2, 3, 6][numblkscod as usize],
            )
        };
        let acmod = r.bits(3)? as u8;
        let lfeon = r.bit()? == 1;
        Some(Ac3Frame {
            eac3: true,
            size: (frmsiz as usize + 1) * 2,
            sample_rate,
            samples: 256 * blocks,
            channels: ACMOD_CHANNELS[usize::from(acmod)] + u32::from(lfeon),
            fscod,
            bsid,
            bsmod: 0,
            acmod,
            lfeon,
            frmsizecod: 0,
        })
    } else {
        None
    }
}

/// The `dac3` payload (3 bytes) for an AC-3 frame.
pub fn dac3(f: &Ac3Frame) -> Vec<u8> {
    let v: u32 = (u32::from(f.fscod) << 22)
        | (u32::from(f.bsid) << 17)
        | (u32::from(f.bsmod) << 14)
        | (u32::from(f.acmod) << 11)
        | (u32::from(f.lfeon) << 10)
        | (u32::from(f.frmsizecod / 2) << 5);
    vec![(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

/// Channel layout (`acmod`, `lfeon`) of a `dac3` payload, or of the first independent
/// substream of a `dec3` payload (`eac3`): the inverse of [`dac3`] / [`dec3`].
pub fn ac3_config_layout(config: &[u8], eac3: bool) -> Option<(u8, bool)> {
    let mut r = Bits::new(config);
    // dac3: fscod(2) bsid(5) bsmod(3); dec3: data_rate(13) num_ind_sub(3), then fscod(2)
    // bsid(5) reserved(1) asvc(1) bsmod(3).
    r.skip(if eac3 { 28 } else { 10 })?;
    let acmod = r.bits(3)? as u8;
    let lfeon = r.bit()? == 1;
    Some((acmod, lfeon))
}

/// The `dec3` payload for a stream of one independent E-AC-3 substream.
pub fn dec3(f: &Ac3Frame, kbps: u32) -> Vec<u8> {
    let data_rate = kbps.min(0x1fff);
    let head = (data_rate << 3) as u16; // num_ind_sub - 1 = 0
    let sub: u32 = (u32::from(f.fscod) << 22)
        | (u32::from(f.bsid) << 17)
        | (u32::from(f.bsmod) << 12)
        | (u32::from(f.acmod) << 9)
        | (u32::from(f.lfeon) << 8);
    let mut out = head.to_be_bytes().to_vec();
    out.extend_from_slice(&[(sub >> 16) as u8, (sub >> 8) as u8, sub as u8]);
    out
}

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
    crate::source::mp4::codec_string::hevc("hvc1", &h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ac3_config_layout_reads_what_dac3_and_dec3_write() {
        let f = Ac3Frame {
            eac3: false,
            size: 1536,
            sample_rate: 48_000,
            samples: 1536,
            channels: 6,
            fscod: 0,
            bsid: 8,
            bsmod: 0,
            acmod: 7,
            lfeon: true,
            frmsizecod: 28,
        };
        assert_eq!(ac3_config_layout(&dac3(&f), false), Some((7, true)));
        let f = Ac3Frame {
            acmod: 2,
            lfeon: false,
            bsid: 16,
            ..f
        };
        assert_eq!(ac3_config_layout(&dec3(&f, 192), true), Some((2, false)));
        assert_eq!(ac3_config_layout(&[0x10], false), None);
    }

    #[test]
    fn ac3_header() {
        // 48 kHz, 192 kb/s (frmsizecod 20), bsid 8, bsmod 0, acmod 2 (stereo), dsurmod, no LFE.
        let hdr = [0x0b, 0x77, 0, 0, 0x14, 0x40, 0x40, 0x00];
        let f = ac3_frame(&hdr).unwrap();
        assert!(!f.eac3);
        assert_eq!(f.size, 768);
        assert_eq!((f.sample_rate, f.channels, f.acmod), (48000, 2, 2));
        assert_eq!(dac3(&f).len(), 3);
    }

    #[test]
    fn unescapes() {
        assert_eq!(unescape(&[0, 0, 3, 1, 0, 0, 3]), [0, 0, 1, 0, 0]);
    }

    #[test]
    fn golomb() {
        // 1 → 0, 010 → 1, 011 → 2, 00100 → 3
        let mut r = Bits::new(&[0b1010_0110, 0b0100_0000]);
        assert_eq!(
            (r.ue(), r.ue(), r.ue(), r.ue()),
            (Some(0), Some(1), Some(2), Some(3))
        );
    }
}
