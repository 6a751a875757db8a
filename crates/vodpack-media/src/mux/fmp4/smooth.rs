//! What only Microsoft Smooth Streaming (PIFF) fragments carry: the `tfxd` box, a `uuid` box
//! with the fragment's absolute time and duration, which goes inside the `traf`. Its payload is
//! written by hand: mp4-atom frames the `uuid` box but has no type for its content.

use mp4_atom::{Encode, ExtendedType, Uuid};

use super::enc_err;
use crate::error::MediaError;

/// Smooth Streaming's `TfxdBox` extended type, 6d1d9b05-42d5-44e6-80e2-141daff757b2.
pub const TFXD_UUID: [u8; 16] = [
    0x6d, 0x1d, 0x9b, 0x05, 0x42, 0xd5, 0x44, 0xe6, 0x80, 0xe2, 0x14, 0x1d, 0xaf, 0xf7, 0x57, 0xb2,
];

/// The encoded `tfxd` box (version 1) of a fragment starting at `start` and lasting `duration`,
/// both in the output timescale.
pub(super) fn tfxd(start: u64, duration: u64) -> Result<Vec<u8>, MediaError> {
    let mut payload = vec![1, 0, 0, 0];
    payload.extend_from_slice(&start.to_be_bytes());
    payload.extend_from_slice(&duration.to_be_bytes());
    let mut b = Vec::new();
    Uuid::Unknown(ExtendedType::new(&TFXD_UUID), payload)
        .encode(&mut b)
        .map_err(enc_err)?;
    Ok(b)
}
