//! H.264/H.265 parameter sets as the MP4 configuration records (`avcC`, `hvcC`) list them,
//! with the NAL length size samples use. The TS scanner builds those records
//! ([`super::hevc::hvcc`]); the output filters read them back here.

use crate::error::MediaError;

/// An `avcC` record (length size 4) holding one SPS and one PPS NAL unit, as the TS scanner
/// builds it from the parameter sets it finds in band.
pub fn avcc_record(sps: &[u8], pps: &[u8]) -> Vec<u8> {
    let mut avcc = vec![1, sps[1], sps[2], sps[3], 0xff, 0xe1];
    avcc.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    avcc.extend_from_slice(sps);
    avcc.push(1);
    avcc.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    avcc.extend_from_slice(pps);
    avcc
}

fn bad(msg: &str) -> MediaError {
    MediaError::Corrupt(format!("codec configuration: {msg}"))
}

/// NAL units listed in an avcC record: (length size, SPS+PPS list).
pub fn avcc_sets(c: &[u8]) -> Result<(usize, Vec<&[u8]>), MediaError> {
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
pub fn hvcc_sets(c: &[u8]) -> Result<(usize, Vec<&[u8]>), MediaError> {
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
