//! The two ISO/IEC 23001-7 ciphers as they apply to one sample, over the RustCrypto `aes`,
//! `ctr` and `cbc` crates (AES-NI when the CPU has it):
//! - `cenc`: AES-128-CTR, counter block = 8-byte per-sample IV ‖ 64-bit big-endian block
//!   counter from 0; one keystream per sample, running on across all its protected ranges
//!   (a partial block's leftover keystream is used by the next range), as FFmpeg's
//!   `cenc_scheme_decrypt` and Bento4's `AP4_CtrStreamCipher` read it.
//! - `cbcs`: AES-128-CBC with a pattern of `crypt` encrypted and `skip` clear 16-byte blocks
//!   inside each protected range; the chain restarts from the constant IV at every range and
//!   runs through the encrypted blocks only (skipped blocks are not part of it); a trailing
//!   run shorter than `crypt` blocks stays clear (FFmpeg `cbcs_scheme_decrypt`). A 0:0
//!   pattern (audio) means every whole block of the range.

use aes::Aes128;
use cbc::cipher::consts::U16;
use cbc::cipher::{
    BlockModeEncBackend, BlockModeEncClosure, BlockModeEncrypt, BlockSizeUser, InnerIvInit,
    StreamCipher,
};

use super::Subsample;

/// AES-128-CTR over the protected ranges of one sample (`subsamples` in order; an empty map
/// = the whole sample), keystream from `iv8 ‖ 0`.
pub fn cenc(aes: &Aes128, iv8: &[u8; 8], sample: &mut [u8], subsamples: &[Subsample]) {
    let mut counter = [0u8; 16];
    counter[..8].copy_from_slice(iv8);
    let mut ctr = ctr::Ctr64BE::<Aes128>::from_core(ctr::CtrCore::inner_iv_init(
        aes.clone(),
        &counter.into(),
    ));
    if subsamples.is_empty() {
        ctr.apply_keystream(sample);
        return;
    }
    let mut at = 0usize;
    for s in subsamples {
        at += usize::from(s.clear);
        let end = (at + s.protected as usize).min(sample.len());
        if let Some(range) = sample.get_mut(at.min(end)..end) {
            ctr.apply_keystream(range);
        }
        at = end;
    }
}

/// AES-128-CBC with the `crypt`:`skip` block pattern over one protected range, from `iv`.
/// `crypt == 0` encrypts every whole block (the 0:0 audio pattern).
pub fn cbcs_range(aes: &Aes128, iv: &[u8; 16], range: &mut [u8], crypt: usize, skip: usize) {
    let mut cbc = cbc::Encryptor::<Aes128>::inner_iv_init(aes.clone(), &(*iv).into());
    let (crypt, skip) = if crypt == 0 { (1, 0) } else { (crypt, skip) };
    // One backend session for the whole range: the AES backend's set-up (AVX-512 key
    // broadcast) would otherwise be paid per 16-byte block.
    cbc.encrypt_with_backend(Pattern { range, crypt, skip });
}

/// The pattern walk over one range, run inside the CBC encryptor's backend: the chain goes
/// through the blocks given to it, the encrypted ones.
struct Pattern<'a> {
    range: &'a mut [u8],
    crypt: usize,
    skip: usize,
}

impl BlockSizeUser for Pattern<'_> {
    type BlockSize = U16;
}

impl BlockModeEncClosure for Pattern<'_> {
    fn call<B: BlockModeEncBackend<BlockSize = U16>>(self, backend: &mut B) {
        let (run, stride) = (16 * self.crypt, 16 * (self.crypt + self.skip));
        let mut pos = 0usize;
        // A run of fewer than `crypt` whole blocks stays clear: only whole runs are taken.
        while let Some(blocks) = self.range.get_mut(pos..pos + run) {
            for b in blocks.chunks_exact_mut(16) {
                if let Ok(block) = <&mut aes::Block>::try_from(b) {
                    backend.encrypt_block(block.into());
                }
            }
            pos += stride;
        }
    }
}

/// `cbcs` over one sample: each protected range from the constant IV (an empty map = the
/// whole sample as one range).
pub fn cbcs(
    aes: &Aes128,
    iv: &[u8; 16],
    sample: &mut [u8],
    subsamples: &[Subsample],
    crypt: usize,
    skip: usize,
) {
    if subsamples.is_empty() {
        cbcs_range(aes, iv, sample, crypt, skip);
        return;
    }
    let mut at = 0usize;
    for s in subsamples {
        at += usize::from(s.clear);
        let end = (at + s.protected as usize).min(sample.len());
        if let Some(range) = sample.get_mut(at.min(end)..end) {
            cbcs_range(aes, iv, range, crypt, skip);
        }
        at = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::KeyInit;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// NIST SP 800-38A's AES-128 key and four plaintext blocks (F.1–F.5).
    const KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c";
    const PLAIN: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
                         30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";

    fn aes() -> Aes128 {
        let k: [u8; 16] = hex(KEY).try_into().unwrap();
        Aes128::new(&k.into())
    }

    #[test]
    fn ctr_matches_sp800_38a_f51() {
        // F.5.1 CTR-AES128.Encrypt, initial counter block f0f1…feff: the vector's counter
        // does not start at 0 as a sample's does, so it checks the construction `cenc` uses
        // (`Ctr64BE`: the low 64 bits count, big-endian; no carry happens within 4 blocks).
        let mut counter = [0u8; 16];
        counter.copy_from_slice(&hex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"));
        let mut c =
            ctr::Ctr64BE::<Aes128>::from_core(ctr::CtrCore::inner_iv_init(aes(), &counter.into()));
        let mut data = hex(PLAIN);
        c.apply_keystream(&mut data);
        assert_eq!(
            data,
            hex(
                "874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff
                 5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee"
            )
        );
    }

    #[test]
    fn cenc_keystream_runs_on_across_ranges() {
        // With IV 0 and counter 0, the keystream is AES(k, 0), AES(k, 1), …; encrypting zeros
        // gives the keystream itself. AES-128(2b7e…, 0^16) = 7df76b0c1ab899b33e42f047b91b546f
        // (the F.1.1 ECB key on a zero block; checked with `openssl enc -aes-128-ecb`).
        // Ranges: 3 clear, 5 protected, 2 clear, 20 protected: the protected bytes must be
        // keystream bytes 0..25 in order, the partial block carried over.
        let mut s = vec![0u8; 30];
        let map = [
            Subsample {
                clear: 3,
                protected: 5,
            },
            Subsample {
                clear: 2,
                protected: 20,
            },
        ];
        cenc(&aes(), &[0; 8], &mut s, &map);
        let mut whole = vec![0u8; 25];
        cenc(&aes(), &[0; 8], &mut whole, &[]);
        assert_eq!(&whole[..16], &hex("7df76b0c1ab899b33e42f047b91b546f")[..]);
        assert_eq!(&s[..3], &[0, 0, 0]);
        assert_eq!(&s[3..8], &whole[..5]);
        assert_eq!(&s[8..10], &[0, 0]);
        assert_eq!(&s[10..30], &whole[5..25]);
    }

    #[test]
    fn cbc_matches_sp800_38a_f21() {
        // F.2.1 CBC-AES128.Encrypt, IV 000102…0f: a 0:0 pattern is plain CBC.
        let iv: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
        let mut data = hex(PLAIN);
        cbcs_range(&aes(), &iv, &mut data, 0, 0);
        assert_eq!(
            data,
            hex(
                "7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2
                 73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7"
            )
        );
    }

    #[test]
    fn cbcs_pattern_chains_through_encrypted_blocks_only() {
        // 1:1 pattern over F.2.1's blocks placed at 0, 2 (skipping clear blocks of 0xAA at 1
        // and 3), plus a 5-byte tail: blocks 0 and 2 must equal F.2.1's first two ciphertext
        // blocks (the chain goes from block 0 straight to block 2), blocks 1 and 3 and the
        // tail stay clear.
        let iv: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
        let p = hex(PLAIN);
        let mut data = Vec::new();
        data.extend_from_slice(&p[..16]);
        data.extend_from_slice(&[0xaa; 16]);
        data.extend_from_slice(&p[16..32]);
        data.extend_from_slice(&[0xaa; 16]);
        data.extend_from_slice(&[0xbb; 5]);
        cbcs_range(&aes(), &iv, &mut data, 1, 1);
        assert_eq!(&data[..16], &hex("7649abac8119b246cee98e9b12e9197d")[..]);
        assert_eq!(&data[16..32], &[0xaa; 16]);
        assert_eq!(&data[32..48], &hex("5086cb9b507219ee95db113a917678b2")[..]);
        assert_eq!(&data[48..64], &[0xaa; 16]);
        assert_eq!(&data[64..], &[0xbb; 5]);
    }

    #[test]
    fn cbcs_1_9_pattern_and_iv_reset_per_subsample() {
        // 1:9 over 11 blocks: block 0 encrypted, 1..=9 clear, block 10 encrypted, chained
        // from block 0's ciphertext — F.2.1's second block when block 10 holds its second
        // plaintext. Then the same range again in a second subsample must give the same
        // bytes (the IV resets per subsample).
        let iv: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
        let p = hex(PLAIN);
        let mut range = Vec::new();
        range.extend_from_slice(&p[..16]);
        range.extend_from_slice(&[0x55; 144]);
        range.extend_from_slice(&p[16..32]);
        let mut sample = vec![9u8; 4];
        sample.extend_from_slice(&range);
        sample.extend_from_slice(&[8u8; 2]);
        sample.extend_from_slice(&range);
        let map = [
            Subsample {
                clear: 4,
                protected: 176,
            },
            Subsample {
                clear: 2,
                protected: 176,
            },
        ];
        cbcs(&aes(), &iv, &mut sample, &map, 1, 9);
        let first = &sample[4..180];
        assert_eq!(&first[..16], &hex("7649abac8119b246cee98e9b12e9197d")[..]);
        assert_eq!(&first[16..160], &[0x55; 144][..]);
        assert_eq!(&first[160..], &hex("5086cb9b507219ee95db113a917678b2")[..]);
        assert_eq!(&sample[182..], first);
        assert_eq!(&sample[..4], &[9; 4]);
    }
}
