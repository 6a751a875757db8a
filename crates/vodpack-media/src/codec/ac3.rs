//! AC-3 and E-AC-3 sync frames (ETSI TS 102 366): frame size, sample rate, channels, and the
//! `dac3`/`dec3` payloads MP4 needs, read from MPEG-TS sources where no container describes the
//! codec. Hand-written: no crate parses AC-3 frame headers; fuzzed with the TS scanner.

use super::bits::Bits;

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
}
