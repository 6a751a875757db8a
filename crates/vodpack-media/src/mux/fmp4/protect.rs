//! ISO/IEC 23001-7 Common Encryption boxes of an encrypted track (`cenc`, `cbcs`, and PIFF for
//! Smooth): the protected sample entry (`encv`/`enca` with `sinf(frma, schm, schi(tenc))`),
//! the `pssh` boxes of the `moov`, and each fragment's sample auxiliary information
//! (`saiz`, `saio`, `senc`, and PIFF's sample-encryption `uuid` box for Smooth).
//!
//! Written by hand: mp4-atom 0.17 has no `sinf`/`tenc`/`pssh` types and cannot encode an
//! unknown sample entry, and its `senc` does not let us fix the `saio` offset into it. Layouts
//! follow ENCRYPTION.md §3 (Bento4 `Ap4CommonEncryption.cpp`, FFmpeg `mov.c`, Shaka output).
//! The ciphers themselves are the packaging chain's (`package::chain::encrypt`): this module
//! only writes what they did.

use std::fmt;

use crate::error::MediaError;
use crate::package::keys::{Kid, Scheme};

/// The W3C "common" PSSH system ID (`1077efec-c0b2-4d02-ace3-3c1e52e2fb4b`): a v1 `pssh`
/// listing the KIDs, which browsers turn into ClearKey `keyids` init data.
pub const COMMON_SYSTEM_ID: [u8; 16] = [
    0x10, 0x77, 0xef, 0xec, 0xc0, 0xb2, 0x4d, 0x02, 0xac, 0xe3, 0x3c, 0x1e, 0x52, 0xe2, 0xfb, 0x4b,
];
/// PIFF track encryption box (≙ `tenc`), `8974dbce-7be7-4c51-84f9-7148f9882554`.
pub const PIFF_TENC_UUID: [u8; 16] = [
    0x89, 0x74, 0xdb, 0xce, 0x7b, 0xe7, 0x4c, 0x51, 0x84, 0xf9, 0x71, 0x48, 0xf9, 0x88, 0x25, 0x54,
];
/// PIFF sample encryption box (≙ `senc`), `a2394f52-5a9b-4f14-a244-6c427c648df4`.
pub const PIFF_SENC_UUID: [u8; 16] = [
    0xa2, 0x39, 0x4f, 0x52, 0x5a, 0x9b, 0x4f, 0x14, 0xa2, 0x44, 0x6c, 0x42, 0x7c, 0x64, 0x8d, 0xf4,
];

/// Per-sample IV size of `cenc`/PIFF output (8 bytes, incremented per sample, as Shaka does).
pub const CENC_IV_SIZE: u8 = 8;

/// How a track is protected: what its boxes say. The key itself is not here (the boxes never
/// carry it); the constant IV is, and is kept out of `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Protection {
    /// `Cenc`, `Cbcs` or `Piff`.
    pub scheme: Scheme,
    pub kid: Kid,
    /// `cbcs`: the 16-byte constant IV written in `tenc`.
    pub constant_iv: Option<[u8; 16]>,
    /// Whole `pssh` boxes from the key server, put in the `moov` verbatim.
    pub pssh: Vec<Vec<u8>>,
}

impl fmt::Debug for Protection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Protection")
            .field("scheme", &self.scheme)
            .field("kid", &crate::package::keys::uuid_text(&self.kid))
            .field("constant_iv", &self.constant_iv.map(|_| "<redacted>"))
            .field("pssh", &self.pssh.len())
            .finish()
    }
}

/// One entry of a sample's subsample map: clear bytes, then protected bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subsample {
    pub clear: u16,
    pub protected: u32,
}

/// What a fragment records about one encrypted sample: its IV (`cenc`/PIFF) and its
/// subsample map (empty: the whole sample is one protected range).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleAux {
    pub iv: Option<[u8; 8]>,
    pub subsamples: Vec<Subsample>,
}

impl SampleAux {
    /// Its size in `saiz`: IV + (subsample count + 6 bytes per entry, when there are any).
    fn size(&self) -> usize {
        self.iv.map_or(0, |iv| iv.len())
            + if self.subsamples.is_empty() {
                0
            } else {
                2 + 6 * self.subsamples.len()
            }
    }
}

fn bx(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(8 + payload.len());
    b.extend_from_slice(&((8 + payload.len()) as u32).to_be_bytes());
    b.extend_from_slice(kind);
    b.extend_from_slice(payload);
    b
}

fn full(kind: &[u8; 4], version: u8, flags: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(4 + payload.len());
    p.push(version);
    p.extend_from_slice(&flags.to_be_bytes()[1..]);
    p.extend_from_slice(payload);
    bx(kind, &p)
}

fn uuid_full(uuid: &[u8; 16], version: u8, flags: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = uuid.to_vec();
    p.push(version);
    p.extend_from_slice(&flags.to_be_bytes()[1..]);
    p.extend_from_slice(payload);
    bx(b"uuid", &p)
}

impl Protection {
    /// Checks what the boxes need: a fMP4 scheme, a constant IV for `cbcs`, and `pssh` boxes
    /// that are whole `pssh` boxes.
    pub fn check(&self) -> Result<(), MediaError> {
        match self.scheme {
            Scheme::Cenc | Scheme::Piff => {}
            Scheme::Cbcs if self.constant_iv.is_some() => {}
            Scheme::Cbcs => {
                return Err(MediaError::Unsupported("cbcs without a constant IV".into()));
            }
            Scheme::Aes128 | Scheme::SampleAes => {
                return Err(MediaError::Unsupported(
                    "HLS-TS encryption methods do not apply to fMP4".into(),
                ));
            }
        }
        for b in &self.pssh {
            let size = b
                .get(..4)
                .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]));
            if b.len() < 32 || size != Some(b.len() as u32) || &b[4..8] != b"pssh" {
                return Err(MediaError::Unsupported(
                    "the key server's PSSH data is not a whole pssh box".into(),
                ));
            }
        }
        Ok(())
    }

    /// The `tenc` box: v0 with 8-byte per-sample IVs for `cenc`/PIFF; v1 for `cbcs` with the
    /// 1:9 pattern (video) or 0:0 (audio), no per-sample IV and the 16-byte constant IV.
    pub fn tenc(&self, video: bool) -> Vec<u8> {
        let mut p = Vec::with_capacity(40);
        p.push(0); // reserved
        match (self.scheme, self.constant_iv) {
            (Scheme::Cbcs, Some(iv)) => {
                p.push(if video { 0x19 } else { 0x00 }); // crypt:skip blocks
                p.push(1); // default_isProtected
                p.push(0); // default_Per_Sample_IV_Size
                p.extend_from_slice(&self.kid);
                p.push(16);
                p.extend_from_slice(&iv);
                full(b"tenc", 1, 0, &p)
            }
            _ => {
                p.push(0); // reserved
                p.push(1);
                p.push(CENC_IV_SIZE);
                p.extend_from_slice(&self.kid);
                full(b"tenc", 0, 0, &p)
            }
        }
    }

    /// PIFF's track encryption box: AlgorithmID 1 (AES-CTR), 8-byte IVs, the KID.
    pub fn piff_tenc(&self) -> Vec<u8> {
        let mut p = vec![0, 0, 1, CENC_IV_SIZE];
        p.extend_from_slice(&self.kid);
        uuid_full(&PIFF_TENC_UUID, 0, 0, &p)
    }

    /// `sinf(frma(original), schm, schi(tenc[, PIFF tenc]))`.
    pub fn sinf(&self, original: [u8; 4], video: bool) -> Vec<u8> {
        let (scheme, version): (&[u8; 4], u32) = match self.scheme {
            Scheme::Cbcs => (b"cbcs", 0x0001_0000),
            // PIFF 1.1 (Bento4 `AP4_PROTECTION_SCHEME_VERSION_PIFF_11`).
            Scheme::Piff => (b"piff", 0x0001_0001),
            _ => (b"cenc", 0x0001_0000),
        };
        let mut schm = scheme.to_vec();
        schm.extend_from_slice(&version.to_be_bytes());
        let mut schi = self.tenc(video);
        if self.scheme == Scheme::Piff {
            schi.extend_from_slice(&self.piff_tenc());
        }
        let mut body = bx(b"frma", &original);
        body.extend_from_slice(&full(b"schm", 0, 0, &schm));
        body.extend_from_slice(&bx(b"schi", &schi));
        bx(b"sinf", &body)
    }

    /// The protected sample entry from the encoded clear one: same body under `encv`/`enca`,
    /// with `sinf` appended after its other children.
    pub fn sample_entry(&self, clear: &[u8], video: bool) -> Result<Vec<u8>, MediaError> {
        let (Some(kind), Some(body)) = (clear.get(4..8), clear.get(8..)) else {
            return Err(MediaError::Corrupt(
                "sample entry shorter than its header".into(),
            ));
        };
        let original = [kind[0], kind[1], kind[2], kind[3]];
        let mut b = body.to_vec();
        b.extend_from_slice(&self.sinf(original, video));
        Ok(bx(if video { b"encv" } else { b"enca" }, &b))
    }

    /// The `moov`'s `pssh` boxes: the key server's, then a v1 W3C common box listing the KID
    /// (unless the key server sent one).
    pub fn pssh_boxes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut common = false;
        for b in &self.pssh {
            common |= b.get(12..28) == Some(&COMMON_SYSTEM_ID[..]);
            out.extend_from_slice(b);
        }
        if !common {
            out.extend_from_slice(&common_pssh(&self.kid));
        }
        out
    }

    /// `saiz`, `saio`, `senc` (and PIFF's sample-encryption box for Smooth) of a fragment,
    /// in that order, to go after the `trun`; `at` is where they start, counted from the
    /// first byte of the `moof` (the `saio` offset points at the first sample's IV in
    /// `senc`: `senc` start + 16). Empty when no sample has auxiliary data (`cbcs` audio:
    /// constant IV, whole samples; the `tenc` defaults say everything).
    pub fn aux_boxes(&self, aux: &[SampleAux], at: usize) -> Result<Vec<u8>, MediaError> {
        if aux.iter().all(|a| a.size() == 0) {
            return Ok(Vec::new());
        }
        let count = u32::try_from(aux.len())
            .map_err(|_| MediaError::Corrupt("too many samples in a fragment".into()))?;
        let subsamples = aux.iter().any(|a| !a.subsamples.is_empty());
        let flags = if subsamples { 2 } else { 0 };
        let mut entries = Vec::new();
        let mut sizes = Vec::with_capacity(aux.len());
        for a in aux {
            if let Some(iv) = a.iv {
                entries.extend_from_slice(&iv);
            }
            let mut size = a.iv.map_or(0, |iv| iv.len());
            if subsamples {
                let n = u16::try_from(a.subsamples.len())
                    .map_err(|_| MediaError::Corrupt("more than 65535 subsamples".into()))?;
                entries.extend_from_slice(&n.to_be_bytes());
                for s in &a.subsamples {
                    entries.extend_from_slice(&s.clear.to_be_bytes());
                    entries.extend_from_slice(&s.protected.to_be_bytes());
                }
                size += 2 + 6 * a.subsamples.len();
            }
            sizes.push(
                u8::try_from(size).map_err(|_| {
                    MediaError::Corrupt("sample auxiliary data over 255 bytes".into())
                })?,
            );
        }
        let mut saiz = Vec::new();
        if sizes.iter().all(|s| *s == sizes[0]) {
            saiz.push(sizes[0]);
            saiz.extend_from_slice(&count.to_be_bytes());
        } else {
            saiz.push(0);
            saiz.extend_from_slice(&count.to_be_bytes());
            saiz.extend_from_slice(&sizes);
        }
        let saiz = full(b"saiz", 0, 0, &saiz);
        const SAIO_LEN: usize = 20;
        let offset = u32::try_from(at + saiz.len() + SAIO_LEN + 16)
            .map_err(|_| MediaError::Corrupt("fMP4 fragment header too large".into()))?;
        let mut saio = 1u32.to_be_bytes().to_vec();
        saio.extend_from_slice(&offset.to_be_bytes());
        let saio = full(b"saio", 0, 0, &saio);
        debug_assert_eq!(saio.len(), SAIO_LEN);
        let mut senc_payload = count.to_be_bytes().to_vec();
        senc_payload.extend_from_slice(&entries);
        let mut out = saiz;
        out.extend_from_slice(&saio);
        out.extend_from_slice(&full(b"senc", 0, flags, &senc_payload));
        if self.scheme == Scheme::Piff {
            out.extend_from_slice(&uuid_full(&PIFF_SENC_UUID, 0, flags, &senc_payload));
        }
        Ok(out)
    }
}

/// The v1 W3C common `pssh` box for one KID (DataSize 0).
pub fn common_pssh(kid: &Kid) -> Vec<u8> {
    let mut p = COMMON_SYSTEM_ID.to_vec();
    p.extend_from_slice(&1u32.to_be_bytes());
    p.extend_from_slice(kid);
    p.extend_from_slice(&0u32.to_be_bytes());
    full(b"pssh", 1, 0, &p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// ENCRYPTION.md's reference KID and IV.
    const KID: &str = "00112233445566778899aabbccddeeff";
    const IV: &str = "000102030405060708090a0b0c0d0e0f";

    fn prot(scheme: Scheme) -> Protection {
        Protection {
            scheme,
            kid: hex(KID).try_into().unwrap(),
            constant_iv: (scheme == Scheme::Cbcs).then(|| hex(IV).try_into().unwrap()),
            pssh: vec![],
        }
    }

    #[test]
    fn constant_iv_stays_out_of_debug() {
        let mut p = prot(Scheme::Cbcs);
        p.constant_iv = Some([0x5a; 16]);
        let text = format!("{p:?}");
        assert!(!text.contains("90") && !text.contains("5a5a"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }

    #[test]
    fn tenc_layouts() {
        // ENCRYPTION.md §3 (Shaka output, mp4dump): cenc = tenc v0, reserved 0 0,
        // isProtected 1, IV size 8, KID: 8 + 4 + 4 + 16 = 32 bytes.
        assert_eq!(
            prot(Scheme::Cenc).tenc(true),
            hex(&format!("00000020 74656e63 00000000 0000 01 08 {KID}"))
        );
        // cbcs video: v1, crypt 1 : skip 9 in one byte (0x19), IV size 0, constant IV size
        // 16 + IV: 8 + 4 + 4 + 16 + 1 + 16 = 49 bytes.
        assert_eq!(
            prot(Scheme::Cbcs).tenc(true),
            hex(&format!(
                "00000031 74656e63 01000000 00 19 01 00 {KID} 10 {IV}"
            ))
        );
        // cbcs audio: pattern 0:0.
        assert_eq!(
            prot(Scheme::Cbcs).tenc(false),
            hex(&format!(
                "00000031 74656e63 01000000 00 00 01 00 {KID} 10 {IV}"
            ))
        );
    }

    #[test]
    fn sinf_and_entry() {
        let p = prot(Scheme::Cenc);
        let clear = bx(b"avc1", &[1, 2, 3]);
        let e = p.sample_entry(&clear, true).unwrap();
        // encv + the clear body + sinf(frma avc1, schm cenc 1.0, schi(tenc)).
        let sinf = hex(&format!(
            "00000050 73696e66 0000000c 66726d61 61766331
             00000014 7363686d 00000000 63656e63 00010000
             00000028 73636869 00000020 74656e63 00000000 0000 01 08 {KID}"
        ));
        let mut want = hex("0000005b 656e6376 010203");
        want.extend_from_slice(&sinf);
        assert_eq!(e, want);
        assert_eq!(e.len(), 0x5b);
    }

    #[test]
    fn common_pssh_lists_the_kid() {
        // pssh v1 (Shaka `--protection_systems CommonSystem`): size 52, system ID, KID count
        // 1, the KID, DataSize 0.
        assert_eq!(
            common_pssh(&hex(KID).try_into().unwrap()),
            hex(&format!(
                "00000034 70737368 01000000 1077efecc0b24d02ace33c1e52e2fb4b 00000001 {KID} 00000000"
            ))
        );
        let mut p = prot(Scheme::Cenc);
        p.pssh = vec![common_pssh(&p.kid)];
        assert_eq!(p.pssh_boxes().len(), 52, "no second common box");
        assert!(p.check().is_ok());
        p.pssh = vec![vec![0; 40]];
        assert!(p.check().is_err());
    }

    #[test]
    fn aux_boxes_cenc_video() {
        // Two samples: 8-byte IVs and one and two subsamples: saiz sizes 8+2+6 = 16 and
        // 8+2+12 = 22 (Shaka's cenc video: 22 for {clear, protected}×2), so no default.
        let aux = [
            SampleAux {
                iv: Some([1; 8]),
                subsamples: vec![Subsample {
                    clear: 697,
                    protected: 8288,
                }],
            },
            SampleAux {
                iv: Some([2; 8]),
                subsamples: vec![
                    Subsample {
                        clear: 697,
                        protected: 8288,
                    },
                    Subsample {
                        clear: 8,
                        protected: 0,
                    },
                ],
            },
        ];
        let b = prot(Scheme::Cenc).aux_boxes(&aux, 100).unwrap();
        let saiz = hex("00000013 7361697a 00000000 00 00000002 10 16");
        // saio: one entry, offset = 100 + saiz (19) + saio (20) + 16 = 155 = 0x9b.
        let saio = hex("00000014 7361696f 00000000 00000001 0000009b");
        let senc = hex("00000036 73656e63 00000002 00000002
             0101010101010101 0001 02b9 00002060
             0202020202020202 0002 02b9 00002060 0008 00000000");
        assert_eq!(b, [saiz, saio, senc].concat());
        // saio points at the first IV: 16 bytes into senc.
        assert_eq!(&b[155 - 100..155 - 100 + 8], &[1; 8]);
    }

    #[test]
    fn aux_boxes_cbcs_and_piff() {
        // cbcs video: no IV, one subsample each: saiz default 8 (= 0 + 2 + 6), as Shaka.
        let aux = vec![
            SampleAux {
                iv: None,
                subsamples: vec![Subsample {
                    clear: 697,
                    protected: 8296,
                }],
            };
            3
        ];
        let b = prot(Scheme::Cbcs).aux_boxes(&aux, 0).unwrap();
        assert_eq!(&b[..17], &hex("00000011 7361697a 00000000 08 00000003")[..]);
        // cbcs audio: nothing to say per sample, no boxes.
        assert!(
            prot(Scheme::Cbcs)
                .aux_boxes(&[SampleAux::default()], 0)
                .unwrap()
                .is_empty()
        );
        // PIFF: senc and the PIFF uuid box carry the same payload.
        let aux = [SampleAux {
            iv: Some([3; 8]),
            subsamples: vec![],
        }];
        let b = prot(Scheme::Piff).aux_boxes(&aux, 0).unwrap();
        let senc = hex("00000018 73656e63 00000000 00000001 0303030303030303");
        let piff = hex(
            "00000028 75756964 a2394f525a9b4f14a2446c427c648df4 00000000 00000001 0303030303030303",
        );
        assert_eq!(
            &b[b.len() - senc.len() - piff.len()..],
            &[senc, piff].concat()[..]
        );
    }
}
