//! AAC: the AudioSpecificConfig fields ADTS carries, and the 7-byte ADTS header itself (read
//! by the TS scanner, written by the TS output filter).

use crate::error::MediaError;

fn bad(msg: &str) -> MediaError {
    MediaError::Corrupt(format!("codec configuration: {msg}"))
}

/// AAC AudioSpecificConfig → (profile for ADTS, sampling index, channel configuration).
pub fn asc_fields(asc: &[u8]) -> Result<(u8, u8, u8), MediaError> {
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

/// Sampling frequencies by sampling-frequency index (ISO/IEC 14496-3).
pub const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// A two-byte AudioSpecificConfig: audio object type, sampling index, channel configuration
/// (what an ADTS header describes).
pub fn asc(object_type: u8, sfi: u8, ch: u8) -> Vec<u8> {
    vec![
        (object_type << 3) | (sfi >> 1),
        ((sfi & 1) << 7) | (ch << 3),
    ]
}

/// The 7-byte ADTS header (no CRC) of a frame `len` bytes long, header included. `profile` is
/// the ADTS profile (object type − 1).
pub fn adts_header(profile: u8, sfi: u8, ch: u8, len: usize) -> [u8; 7] {
    [
        0xff,
        0xf1,
        (profile << 6) | (sfi << 2) | (ch >> 2),
        ((ch & 3) << 6) | (len >> 11) as u8,
        (len >> 3) as u8,
        (((len & 7) as u8) << 5) | 0x1f,
        0xfc,
    ]
}

/// Fields of an ADTS header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adts {
    /// Frame length, header included (at least 7).
    pub len: usize,
    /// Audio object type (ADTS profile + 1).
    pub object_type: u8,
    pub sfi: u8,
    pub channels: u8,
}

/// The ADTS header at the start of `h` (at least 7 bytes), or `None` without sync.
pub fn parse_adts(h: &[u8]) -> Option<Adts> {
    let h = h.get(..7)?;
    if h[0] != 0xff || h[1] & 0xf6 != 0xf0 {
        return None;
    }
    let len =
        ((usize::from(h[3] & 0x03) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5))
            .max(7);
    Some(Adts {
        len,
        object_type: (h[2] >> 6) + 1,
        sfi: (h[2] >> 2) & 0x0f,
        channels: ((h[2] & 0x01) << 2) | (h[3] >> 6),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adts_round_trip() {
        let h = adts_header(1, 3, 2, 300);
        assert_eq!(
            parse_adts(&h),
            Some(Adts {
                len: 300,
                object_type: 2,
                sfi: 3,
                channels: 2
            })
        );
    }
}
