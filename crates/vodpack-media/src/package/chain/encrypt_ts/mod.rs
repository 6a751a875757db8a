//! Encryption of HLS MPEG-TS segments: the IV rule ([`hls_iv`]), AES-128 over whole segments
//! ([`SegmentCbc`], CBC carried from chunk to chunk as a segment is muxed and sent) and
//! SAMPLE-AES ([`sample_aes`]: per NAL unit and audio frame, between the access-unit filter
//! and the TS writer). Which key a segment takes is [`segment_key`].
//!
//! Written on the RustCrypto `aes`/`cbc` block primitives rather than a higher-level
//! encryptor: AES-128 must be streamed (the segment is never whole in memory) and SAMPLE-AES
//! encrypts one block in ten with the chain reset per NAL unit, neither of which a
//! whole-message API offers. Key bytes and IVs are never formatted (no `Debug` on the types
//! holding them).

pub mod sample_aes;

use aes::Aes128;
use aes::cipher::common::array::Array;
use aes::cipher::common::typenum::U16;
use aes::cipher::{BlockModeEncrypt, InnerIvInit, KeyInit};

use crate::index::Track;
use crate::package::PackageError;
use crate::package::keys::{ContentKey, KeySet};
use crate::package::spec::{EncryptionSpec, HlsMethod};

/// AES block size.
pub const BLOCK: usize = 16;

type Block = Array<u8, U16>;

/// The IV of an HLS segment: the configuration's `constantInitializationVector`, else the key
/// server's `explicitIV`, else for SAMPLE-AES a constant IV derived from the key
/// (AES-128-ECB(key, KID), the same on every node), else (AES-128) the media sequence number of
/// the segment as a big-endian 128-bit number (RFC 8216 §5.2; our playlists start at
/// `EXT-X-MEDIA-SEQUENCE:0`, so it is the segment's position in its playlist). SAMPLE-AES
/// always states its IV because players do not all derive it from the sequence number (hls.js
/// 1.7 treats such a stream as clear: tests/players_encrypted.rs). The one place this is
/// decided: playlists state `IV=` exactly when it is not the sequence number.
pub fn hls_iv(spec: Option<&EncryptionSpec>, key: &ContentKey, sequence: u64) -> [u8; 16] {
    explicit_hls_iv(spec, key).unwrap_or_else(|| sequence_iv(sequence))
}

/// The IV a playlist must state with `IV=` (constant or from the key server); `None` when the
/// IV is the media sequence number, which players derive themselves.
pub fn explicit_hls_iv(spec: Option<&EncryptionSpec>, key: &ContentKey) -> Option<[u8; 16]> {
    spec.and_then(|s| s.constant_iv)
        .or(key.explicit_iv)
        .or_else(|| {
            let sample_aes = spec.is_some_and(|s| s.hls_method == HlsMethod::SampleAes);
            sample_aes.then(|| crate::package::chain::encrypt::ecb_of_kid(key))
        })
}

/// A media sequence number as an IV: big-endian, zero-padded on the left to 16 bytes.
pub fn sequence_iv(sequence: u64) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[8..].copy_from_slice(&sequence.to_be_bytes());
    iv
}

/// The key of a TS segment muxing `tracks`: one `EXT-X-KEY` covers the whole segment, so the
/// tracks with a key must share it. `None` when no track has one (the segment stays clear).
pub fn segment_key<'a>(
    keys: &'a KeySet,
    tracks: impl IntoIterator<Item = &'a Track>,
) -> Result<Option<&'a ContentKey>, PackageError> {
    let mut found: Option<&ContentKey> = None;
    for t in tracks {
        if let Some(k) = keys.key_for(t) {
            match found {
                Some(f) if f.kid != k.kid => {
                    return Err(PackageError::Damaged(
                        "tracks muxed into one MPEG-TS segment need the same key; use an \
                         audio rendition group or a shared key preset"
                            .into(),
                    ));
                }
                _ => found = Some(k),
            }
        }
    }
    Ok(found)
}

/// The expanded AES-128 key (key schedule done once per segment).
#[derive(Clone)]
pub struct Cipher(Aes128);

impl Cipher {
    pub fn new(key: &[u8; 16]) -> Cipher {
        Cipher(Aes128::new(&Array::from(*key)))
    }

    /// A CBC encryptor starting at `iv`.
    fn cbc(&self, iv: &[u8; 16]) -> cbc::Encryptor<Aes128> {
        cbc::Encryptor::inner_iv_init(self.0.clone(), &Array::from(*iv))
    }
}

/// AES-128-CBC with PKCS#7 padding over a whole segment fed a chunk at a time: whole blocks
/// are encrypted as they come, the last partial block is held back until the next chunk, and
/// [`SegmentCbc::finish`] pads it. The CBC state runs across chunks.
pub struct SegmentCbc {
    cbc: cbc::Encryptor<Aes128>,
    held: [u8; BLOCK],
    held_len: usize,
}

impl SegmentCbc {
    pub fn new(cipher: &Cipher, iv: &[u8; 16]) -> SegmentCbc {
        SegmentCbc {
            cbc: cipher.cbc(iv),
            held: [0; BLOCK],
            held_len: 0,
        }
    }

    /// The ciphertext of the clear bytes `clear` (which follow those of earlier calls),
    /// written to `out`; with `last`, the padded final block too.
    pub fn update(&mut self, clear: &[u8], last: bool, out: &mut Vec<u8>) {
        let mut clear = clear;
        out.reserve(clear.len() + 2 * BLOCK);
        // Complete the block held back from the previous chunk.
        if self.held_len > 0 {
            let n = (BLOCK - self.held_len).min(clear.len());
            self.held[self.held_len..self.held_len + n].copy_from_slice(&clear[..n]);
            self.held_len += n;
            clear = &clear[n..];
            if self.held_len == BLOCK {
                let mut b = Block::from(self.held);
                self.cbc.encrypt_block(&mut b);
                out.extend_from_slice(&b);
                self.held_len = 0;
            }
        }
        // Whole blocks straight from the input into the output.
        let whole = clear.len() / BLOCK * BLOCK;
        if whole > 0 {
            let start = out.len();
            out.resize(start + whole, 0);
            let (inb, _) = Block::slice_as_chunks(&clear[..whole]);
            let (outb, _) = Block::slice_as_chunks_mut(&mut out[start..]);
            // Same lengths by construction; an error would leave zeros, never clear bytes.
            let _ = self.cbc.encrypt_blocks_b2b(inb, outb);
            clear = &clear[whole..];
        }
        if !clear.is_empty() {
            self.held[self.held_len..self.held_len + clear.len()].copy_from_slice(clear);
            self.held_len += clear.len();
        }
        if last {
            // PKCS#7: always a padding block's worth, 1..=16 bytes of the pad length.
            let pad = (BLOCK - self.held_len) as u8;
            for b in &mut self.held[self.held_len..] {
                *b = pad;
            }
            let mut b = Block::from(self.held);
            self.cbc.encrypt_block(&mut b);
            out.extend_from_slice(&b);
            self.held_len = 0;
        }
    }
}

/// The length of a whole segment of `clear` bytes once encrypted with PKCS#7 padding.
pub fn padded_len(clear: u64) -> u64 {
    (clear / BLOCK as u64 + 1) * BLOCK as u64
}

/// The length of the encrypted bytes covering the first `clear` bytes of a segment (an
/// I-frame playlist's byte range): whole blocks, so that the range can be decrypted alone.
pub fn covering_len(clear: u64) -> u64 {
    clear.div_ceil(BLOCK as u64) * BLOCK as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// NIST SP 800-38A, F.2.1 CBC-AES128.Encrypt: four blocks with the standard key and IV.
    /// Fed in uneven chunks so the held-back partial block and the chained state are used.
    #[test]
    fn cbc_matches_nist_sp800_38a_f21() {
        let key: [u8; 16] = hex("2b7e151628aed2a6abf7158809cf4f3c").try_into().unwrap();
        let iv: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
        let plain = hex(concat!(
            "6bc1bee22e409f96e93d7e117393172a",
            "ae2d8a571e03ac9c9eb76fac45af8e51",
            "30c81c46a35ce411e5fbc1191a0a52ef",
            "f69f2445df4f9b17ad2b417be66c3710"
        ));
        let expected = hex(concat!(
            "7649abac8119b246cee98e9b12e9197d",
            "5086cb9b507219ee95db113a917678b2",
            "73bed6b8e3c1743b7116e69e22229516",
            "3ff1caa1681fac09120eca307586e1a7"
        ));
        for cuts in [
            vec![64],
            vec![5, 20, 39],
            vec![16, 16, 16, 16],
            vec![1, 62, 1],
        ] {
            let mut c = SegmentCbc::new(&Cipher::new(&key), &iv);
            let mut out = Vec::new();
            let mut at = 0;
            for n in &cuts {
                c.update(&plain[at..at + n], false, &mut out);
                at += n;
            }
            c.update(&[], true, &mut out);
            assert_eq!(&out[..64], &expected[..], "{cuts:?}");
            // PKCS#7 on a whole-block message: one more block, all 0x10.
            assert_eq!(out.len() as u64, padded_len(64));
        }
    }

    /// PKCS#7 padding, checked against Python `cryptography` (AES-128-CBC, key 0f0e…00, IV
    /// 0001…0f, plaintext b"hello world! this is my plaintext." with PKCS7(128) padding):
    /// `Cipher(AES(key), CBC(iv)).encryptor()` over the padded bytes.
    #[test]
    fn pkcs7_padding_matches_python_cryptography() {
        let key: [u8; 16] = hex("0f0e0d0c0b0a09080706050403020100").try_into().unwrap();
        let iv: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
        let plain = b"hello world! this is my plaintext.";
        let mut c = SegmentCbc::new(&Cipher::new(&key), &iv);
        let mut out = Vec::new();
        c.update(&plain[..7], false, &mut out);
        c.update(&plain[7..], true, &mut out);
        assert_eq!(out.len() as u64, padded_len(plain.len() as u64));
        assert_eq!(out, hex(PYTHON_HELLO));
    }

    /// See [`pkcs7_padding_matches_python_cryptography`].
    const PYTHON_HELLO: &str = concat!(
        "b2cd418c0ded611d4d4454ab7ef91319",
        "3afe2e442500d864f145974c88646156",
        "040af66123ac5f02e9fba134d78c51ab"
    );

    #[test]
    fn iv_rule() {
        let key = ContentKey {
            kid: [1; 16],
            key: [2; 16],
            explicit_iv: None,
        };
        assert_eq!(
            hls_iv(None, &key, 0x0102),
            hex("00000000000000000000000000000102").as_slice()
        );
        assert_eq!(explicit_hls_iv(None, &key), None);
        let with_iv = ContentKey {
            explicit_iv: Some([9; 16]),
            ..key.clone()
        };
        assert_eq!(hls_iv(None, &with_iv, 5), [9; 16]);
        let spec = EncryptionSpec {
            speke: crate::package::spec::SpekeSpec {
                url: String::new(),
                role_arn: String::new(),
                system_ids: Vec::new(),
                presets: None,
            },
            hls_method: crate::package::spec::HlsMethod::Aes128,
            constant_iv: Some([7; 16]),
        };
        // The configuration's constant IV wins over the key server's.
        assert_eq!(hls_iv(Some(&spec), &with_iv, 5), [7; 16]);
        // SAMPLE-AES without either: AES-128-ECB(key, KID), from
        // `openssl enc -aes-128-ecb -K 0202…02 -nopad` of 0101…01; stated in the playlist.
        let sample_aes = EncryptionSpec {
            hls_method: crate::package::spec::HlsMethod::SampleAes,
            constant_iv: None,
            ..spec.clone()
        };
        let derived = hex("8f42c24bee6e63472b165aa941312f7c");
        assert_eq!(
            explicit_hls_iv(Some(&sample_aes), &key),
            Some(derived[..].try_into().unwrap())
        );
        assert_eq!(hls_iv(Some(&sample_aes), &key, 5), derived.as_slice());
        // AES-128 keeps the sequence number (not stated).
        let aes128 = EncryptionSpec {
            constant_iv: None,
            ..spec.clone()
        };
        assert_eq!(explicit_hls_iv(Some(&aes128), &key), None);
        assert_eq!(covering_len(0), 0);
        assert_eq!(covering_len(17), 32);
        assert_eq!(padded_len(15), 16);
        assert_eq!(padded_len(16), 32);
    }
}
