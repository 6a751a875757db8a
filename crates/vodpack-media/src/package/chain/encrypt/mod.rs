//! The encryption stage of the packaging chain, between the container's sample filter and its
//! writer: each filtered fMP4 sample is encrypted in place (`cenc`, `cbcs`, PIFF) and what the
//! fragment must record about it ([`SampleAux`]: IV, subsample map) is handed to the writer.
//! Sample sizes do not change, so a fragment's `trun` is the clear one's.
//!
//! - [`cipher`]: AES-128-CTR (`cenc`/PIFF) and the AES-128-CBC pattern (`cbcs`) over a sample;
//! - [`subsample`]: the subsample maps of H.264/H.265 samples;
//! - here: the IV rules (one function each) and [`TrackEncryptor`], which puts them together
//!   for one track, and [`protection`], what a presentation's keys say about a track.
//!
//! IVs are deterministic, so that every node (and `vodpack package`) answers the same bytes:
//! they are derived from the key and the sample's index in its track, never drawn at random.

pub mod cipher;
pub mod subsample;

use aes::Aes128;
use aes::cipher::{BlockCipherEncrypt, KeyInit};

use crate::codec::params::{avcc_sets, hvcc_sets};
use crate::error::MediaError;
use crate::index::{Codec, Track, TrackKind};
use crate::mux::fmp4::{Protection, SampleAux, Subsample};
use crate::package::keys::{ContentKey, Scheme};
use crate::package::{PackageError, Presentation};
use subsample::VideoMap;

/// AES-128-ECB of the KID under the key: where IVs come from when the key server gives none
/// (unpredictable without the key, the same on every node). The one derivation for every
/// scheme (cenc/PIFF bases, the cbcs constant IV, the SAMPLE-AES IV).
pub fn ecb_of_kid(key: &ContentKey) -> [u8; 16] {
    let aes = Aes128::new(&key.key.into());
    let mut block = key.kid.into();
    aes.encrypt_block(&mut block);
    block.into()
}

/// `cenc`/PIFF: the 8-byte IV base of track `track` (its number in the asset) under a key: the
/// first 8 bytes of the key server's `explicitIV`, else of AES-ECB(key, KID), with the track
/// number XORed into bits 40 and up. Tracks that share a key (SPEKE v1, SHARED presets: audio
/// and every video rendition) then have bases a multiple of 2^40 apart, so their per-sample IV
/// runs (base + sample index, fewer than 2^40 samples) never meet: a CTR keystream is never
/// used twice under one key.
pub fn cenc_iv_base(key: &ContentKey, track: usize) -> [u8; 8] {
    let full = key.explicit_iv.unwrap_or_else(|| ecb_of_kid(key));
    let mut base = [0u8; 8];
    base.copy_from_slice(&full[..8]);
    (u64::from_be_bytes(base) ^ ((track as u64) << 40)).to_be_bytes()
}

/// `cenc`/PIFF: the IV of sample `index` of a track: the base plus the index, as a 64-bit
/// big-endian number (wrapping). Unique per sample of a track, and across the tracks of a key
/// (see [`cenc_iv_base`]).
pub fn cenc_sample_iv(base: [u8; 8], index: u64) -> [u8; 8] {
    u64::from_be_bytes(base).wrapping_add(index).to_be_bytes()
}

/// `cbcs`: the constant IV: the configuration's `constantInitializationVector`, else the key
/// server's `explicitIV`, else AES-ECB(key, KID).
pub fn cbcs_constant_iv(configured: Option<[u8; 16]>, key: &ContentKey) -> [u8; 16] {
    configured
        .or(key.explicit_iv)
        .unwrap_or_else(|| ecb_of_kid(key))
}

/// Encrypts the samples of one track.
pub struct TrackEncryptor {
    scheme: Scheme,
    aes: Aes128,
    iv_base: [u8; 8],
    constant_iv: [u8; 16],
    video: Option<VideoMap>,
    map: Vec<Subsample>,
}

impl TrackEncryptor {
    /// `scheme` is `Cenc`, `Cbcs` or `Piff`; `track_number` the track's number in the asset
    /// (it keeps `cenc` IVs apart across tracks); `constant_iv` the configuration's (`cbcs`).
    pub fn new(
        track: &Track,
        track_number: usize,
        scheme: Scheme,
        key: &ContentKey,
        constant_iv: Option<[u8; 16]>,
    ) -> Result<TrackEncryptor, MediaError> {
        if !matches!(scheme, Scheme::Cenc | Scheme::Cbcs | Scheme::Piff) {
            return Err(MediaError::Unsupported(
                "not an fMP4 encryption scheme".into(),
            ));
        }
        let video = match track.codec {
            Codec::H264 | Codec::H265 => {
                let h265 = track.codec == Codec::H265;
                let (len, sets) = if h265 {
                    hvcc_sets(&track.codec_config)?
                } else {
                    avcc_sets(&track.codec_config)?
                };
                // The fMP4 filter writes 4-byte lengths for TS sources, keeps MP4's.
                let out_len = if track.in_ts() { 4 } else { len };
                Some(VideoMap::new(h265, out_len, scheme != Scheme::Cbcs, &sets))
            }
            _ if track.codec.kind() == TrackKind::Audio => None,
            _ => {
                return Err(MediaError::Unsupported(format!(
                    "{} tracks are not encrypted",
                    track.codec.name()
                )));
            }
        };
        Ok(TrackEncryptor {
            scheme,
            aes: Aes128::new(&key.key.into()),
            iv_base: cenc_iv_base(key, track_number),
            constant_iv: cbcs_constant_iv(constant_iv, key),
            video,
            map: Vec::new(),
        })
    }

    /// What the track's boxes say about its encryption.
    pub fn protection(&self, key: &ContentKey, pssh: Vec<Vec<u8>>) -> Protection {
        Protection {
            scheme: self.scheme,
            kid: key.kid,
            constant_iv: (self.scheme == Scheme::Cbcs).then_some(self.constant_iv),
            pssh,
        }
    }

    /// Encrypts `sample` (sample `index` of the track, as the fMP4 filter made it) in place.
    pub fn encrypt(&mut self, index: usize, sample: &mut [u8]) -> Result<SampleAux, MediaError> {
        match &mut self.video {
            Some(v) => v.map(sample, &mut self.map)?,
            None => self.map.clear(),
        }
        if self.scheme == Scheme::Cbcs {
            let (crypt, skip) = if self.video.is_some() { (1, 9) } else { (0, 0) };
            cipher::cbcs(&self.aes, &self.constant_iv, sample, &self.map, crypt, skip);
            return Ok(SampleAux {
                iv: None,
                subsamples: self.map.clone(),
            });
        }
        let iv = cenc_sample_iv(self.iv_base, index as u64);
        cipher::cenc(&self.aes, &iv, sample, &self.map);
        Ok(SampleAux {
            iv: Some(iv),
            subsamples: self.map.clone(),
        })
    }
}

/// How track `t` of a presentation is encrypted: `None` for clear output and for a track the
/// keys leave clear (an UNENCRYPTED preset); an error when the configuration asks for
/// encryption and the presentation has no keys (its output must never go out clear).
pub fn protection(
    p: &Presentation,
    t: usize,
) -> Result<Option<(TrackEncryptor, Protection)>, PackageError> {
    let Some(scheme) = p.spec.scheme() else {
        return Ok(None);
    };
    let Some(keys) = p.keys.as_deref() else {
        return Err(PackageError::Bug(
            "an encrypted configuration's file was made without its keys".into(),
        ));
    };
    let track = &p.index.tracks[t];
    let Some(key) = keys.key_for(track) else {
        return Ok(None);
    };
    let constant_iv = p.spec.encryption.as_ref().and_then(|e| e.constant_iv);
    let enc = TrackEncryptor::new(track, t, scheme, key, constant_iv)?;
    let pssh = keys
        .signals_for(&key.kid)
        .filter_map(|s| s.pssh.clone())
        .collect();
    let prot = enc.protection(key, pssh);
    Ok(Some((enc, prot)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(explicit_iv: Option<[u8; 16]>) -> ContentKey {
        // ENCRYPTION.md's reference KID and key.
        ContentKey {
            kid: [
                0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
                0xee, 0xff,
            ],
            key: [15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
            explicit_iv,
        }
    }

    #[test]
    fn iv_rules() {
        // AES-128-ECB(0f0e…00, 00112233…ff), from `openssl enc -aes-128-ecb -nopad`.
        let ecb = [
            0xf5, 0x9d, 0x7c, 0xbf, 0x08, 0xfc, 0x47, 0x37, 0x55, 0x11, 0xe6, 0xd9, 0xee, 0xcb,
            0x68, 0x04,
        ];
        assert_eq!(cenc_iv_base(&key(None), 0), ecb[..8]);
        // Track 3: 3 << 40 XORed in (byte 2 of the big-endian base: 0x7c ^ 0x03).
        let mut third = [0u8; 8];
        third.copy_from_slice(&ecb[..8]);
        third[2] ^= 0x03;
        assert_eq!(cenc_iv_base(&key(None), 3), third);
        assert_eq!(cbcs_constant_iv(None, &key(None)), ecb);
        let explicit = [7u8; 16];
        assert_eq!(cenc_iv_base(&key(Some(explicit)), 0), [7u8; 8]);
        assert_eq!(cbcs_constant_iv(None, &key(Some(explicit))), explicit);
        assert_eq!(
            cbcs_constant_iv(Some([1; 16]), &key(Some(explicit))),
            [1; 16]
        );
        // Base + index, big-endian, wrapping.
        assert_eq!(
            cenc_sample_iv([0, 0, 0, 0, 0, 0, 0, 0xff], 1),
            [0, 0, 0, 0, 0, 0, 1, 0]
        );
        assert_eq!(cenc_sample_iv([0xff; 8], 2), [0, 0, 0, 0, 0, 0, 0, 1]);
    }
}
