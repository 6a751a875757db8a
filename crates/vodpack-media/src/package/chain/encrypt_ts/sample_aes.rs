//! SAMPLE-AES for MPEG-TS (Apple, "MPEG-2 Stream Encryption Format for HTTP Live Streaming"):
//! the stage between the access-unit filter ([`crate::mux::access_unit`]) and the TS writer.
//!
//! - H.264 slices (NAL types 1 and 5, longer than 48 bytes): a 32-byte clear leader (the type
//!   byte included), then one 16-byte AES-128-CBC block in every ten while more than 16 bytes
//!   remain, the chain starting from the IV for every NAL unit. The escaped NAL bytes are
//!   encrypted and emulation prevention is then applied again over the whole unit (the
//!   convention Shaka Packager and Bento4 share: a decryptor un-escapes once, decrypts, and
//!   gets the escaped original back). Other NAL units pass untouched.
//! - AAC, per ADTS frame: header and 16 bytes clear, then every whole block, the rest clear.
//! - AC-3 and E-AC-3, per syncframe: 16 bytes clear, every whole block, the rest clear.
//!
//! [`pmt_entry`] gives the stream types and descriptors the PMT announces this with. HEVC is
//! refused: Apple's TS format defines SAMPLE-AES for H.264 only.

use std::borrow::Cow;

use aes::cipher::BlockModeEncrypt;

use super::{BLOCK, Block, Cipher};
use crate::codec::aac::parse_adts;
use crate::codec::ac3::ac3_frame;
use crate::codec::nal::AnnexB;
use crate::error::MediaError;
use crate::index::{Codec, Track};
use crate::mux::access_unit::Parts;

/// Clear bytes at the start of an encrypted video NAL unit (its type byte included).
const VIDEO_LEADER: usize = 32;
/// A NAL unit this long or shorter stays clear.
const VIDEO_MIN: usize = 48;
/// An encrypted block and the nine clear ones after it.
const VIDEO_STRIDE: usize = 10 * BLOCK;
/// Video blocks encrypted per call into the cipher.
const BATCH: usize = 32;
/// Clear bytes at the start of an audio frame's payload (after an ADTS header).
const AUDIO_LEADER: usize = 16;

/// The SAMPLE-AES encryptor of one segment: its key and IV.
pub struct SampleAes {
    cipher: Cipher,
    iv: [u8; 16],
}

impl SampleAes {
    pub fn new(cipher: Cipher, iv: [u8; 16]) -> SampleAes {
        SampleAes { cipher, iv }
    }

    /// An H.264 NAL unit (escaped, from its header byte) encrypted and escaped again; `None`
    /// when it stays as it is (not a slice, or 48 bytes or fewer).
    pub fn nal(&self, nal: &[u8]) -> Option<Vec<u8>> {
        let mut out = Escaper::with_capacity(nal.len());
        self.nal_into(nal, &mut out)?;
        Some(out.finish())
    }

    /// The length of [`SampleAes::nal`]'s result, without building it (the size-only pass).
    pub fn nal_len(&self, nal: &[u8]) -> Option<usize> {
        let mut out = Escaper::counting();
        self.nal_into(nal, &mut out)?;
        Some(out.finish_len())
    }

    fn nal_into(&self, nal: &[u8], out: &mut Escaper) -> Option<()> {
        let kind = nal.first()? & 0x1f;
        if !matches!(kind, 1 | 5) || nal.len() <= VIDEO_MIN {
            return None;
        }
        // Encrypted blocks and the clear runs between them go straight into the escaper: the
        // unit is copied once. The blocks of a NAL form one CBC chain, encrypted a batch at a
        // time (one call into the cipher per batch, not per block).
        let mut cbc = self.cipher.cbc(&self.iv);
        let mut batch: [Block; BATCH] = std::array::from_fn(|_| Block::default());
        let mut done = 0;
        let mut pos = VIDEO_LEADER;
        loop {
            let first = pos;
            let mut n = 0;
            // Strictly more than 16 bytes left: a last block of exactly 16 stays clear.
            while n < BATCH && nal.len() > pos + BLOCK {
                batch[n].copy_from_slice(&nal[pos..pos + BLOCK]);
                n += 1;
                pos += VIDEO_STRIDE;
            }
            if n == 0 {
                break;
            }
            cbc.encrypt_blocks(&mut batch[..n]);
            let mut at = first;
            for block in &batch[..n] {
                out.push(&nal[done..at]);
                out.push(block);
                done = at + BLOCK;
                at += VIDEO_STRIDE;
            }
        }
        out.push(&nal[done..]);
        Some(())
    }

    /// The length of [`SampleAes::video`]'s result (audio keeps its length).
    pub fn video_len(&self, unit: &Parts<'_>) -> usize {
        unit.parts.iter().map(|p| self.video_part_len(p)).sum()
    }

    fn video_part_len(&self, b: &[u8]) -> usize {
        if !is_annex_b(b) {
            return self.nal_len(b).unwrap_or(b.len());
        }
        let mut len = b.len();
        for nal in AnnexB::new(b) {
            if let Some(n) = self.nal_len(nal) {
                len = len + n - nal.len();
            }
        }
        len
    }

    /// A video access unit (the filter's parts) with its slices encrypted. Parts that start
    /// with a start code are Annex B (delimiter, parameter sets, whole samples from TS
    /// sources) and are walked NAL by NAL; any other part is one NAL unit (from MP4 samples).
    pub fn video<'a>(&self, unit: Parts<'a>) -> Parts<'a> {
        let mut out = Parts::default();
        out.parts.reserve(unit.parts.len());
        for part in unit.parts {
            match part {
                Cow::Borrowed(b) => self.video_part(b, &mut out),
                Cow::Owned(v) => {
                    let mut inner = Parts::default();
                    self.video_part(&v, &mut inner);
                    out.owned(inner.concat());
                }
            }
        }
        out
    }

    fn video_part<'a>(&self, b: &'a [u8], out: &mut Parts<'a>) {
        if !is_annex_b(b) {
            match self.nal(b) {
                Some(enc) => out.owned(enc),
                None => out.borrowed(b),
            }
            return;
        }
        let mut done = 0;
        for nal in AnnexB::new(b) {
            if let Some(enc) = self.nal(nal) {
                // The walker's units are slices of `b`: where this one starts.
                let at = nal.as_ptr() as usize - b.as_ptr() as usize;
                if at > done {
                    out.borrowed(&b[done..at]);
                }
                out.owned(enc);
                done = at + nal.len();
            }
        }
        if done < b.len() {
            out.borrowed(&b[done..]);
        }
    }

    /// An audio unit (ADTS frames for AAC, syncframes for AC-3 and E-AC-3) encrypted.
    pub fn audio<'a>(&self, codec: Codec, unit: Parts<'a>) -> Result<Parts<'a>, MediaError> {
        if !matches!(codec, Codec::Aac | Codec::Ac3 | Codec::Eac3) {
            return Ok(unit);
        }
        let mut buf = unit.concat();
        let mut at = 0;
        while at < buf.len() {
            let rest = &buf[at..];
            let (header, len) = if codec == Codec::Aac {
                let adts = parse_adts(rest).ok_or_else(|| corrupt("an AAC frame without ADTS"))?;
                // protection_absent = 0: a CRC follows the 7-byte header.
                (if rest[1] & 1 == 1 { 7 } else { 9 }, adts.len)
            } else {
                let f = ac3_frame(rest).ok_or_else(|| corrupt("an AC-3 frame without sync"))?;
                (0, f.size)
            };
            if len < header || len > rest.len() || len == 0 {
                return Err(corrupt("an audio frame longer than its sample"));
            }
            self.audio_frame(&mut buf[at + header..at + len]);
            at += len;
        }
        let mut out = Parts::default();
        out.owned(buf);
        Ok(out)
    }

    /// One frame's payload: 16 bytes clear, then every whole block.
    fn audio_frame(&self, data: &mut [u8]) {
        if data.len() < AUDIO_LEADER + BLOCK {
            return;
        }
        let whole = (data.len() - AUDIO_LEADER) / BLOCK * BLOCK;
        let (blocks, _) = Block::slice_as_chunks_mut(&mut data[AUDIO_LEADER..AUDIO_LEADER + whole]);
        self.cipher.cbc(&self.iv).encrypt_blocks(blocks);
    }
}

/// Whether a part of a video unit starts with a start code (else it is one NAL unit).
fn is_annex_b(b: &[u8]) -> bool {
    b.starts_with(&[0, 0, 1]) || b.starts_with(&[0, 0, 0, 1])
}

fn corrupt(what: &str) -> MediaError {
    MediaError::Corrupt(format!("{what} (SAMPLE-AES)"))
}

/// Start-code emulation prevention over a whole NAL unit: `03` after any `00 00` followed by
/// `00`..`03`, and after a final `00` (a NAL unit must not end in zero).
pub fn escape(nal: &[u8]) -> Vec<u8> {
    let mut out = Escaper::with_capacity(nal.len());
    out.push(nal);
    out.finish()
}

/// Emulation prevention over a NAL unit given in pieces (the state runs across them); or,
/// counting, only the length of the result.
struct Escaper {
    out: Vec<u8>,
    counting: bool,
    len: usize,
    /// Zero bytes just written (since the last non-zero byte or inserted `03`).
    zeros: usize,
}

impl Escaper {
    fn with_capacity(n: usize) -> Escaper {
        Escaper {
            out: Vec::with_capacity(n + n / 64 + 4),
            counting: false,
            len: 0,
            zeros: 0,
        }
    }

    fn counting() -> Escaper {
        Escaper {
            out: Vec::new(),
            counting: true,
            len: 0,
            zeros: 0,
        }
    }

    fn emit(&mut self, b: &[u8]) {
        self.len += b.len();
        if !self.counting {
            self.out.extend_from_slice(b);
        }
    }

    fn push(&mut self, mut b: &[u8]) {
        while !b.is_empty() {
            if self.zeros < 2 {
                // Runs without a zero byte go over whole (slices are mostly such runs).
                match find_zero(b) {
                    None => {
                        self.emit(b);
                        self.zeros = 0;
                        return;
                    }
                    Some(0) => {}
                    Some(n) => {
                        self.emit(&b[..n]);
                        self.zeros = 0;
                        b = &b[n..];
                    }
                }
                self.emit(&[0]);
                self.zeros += 1;
                b = &b[1..];
            } else {
                let x = b[0];
                if x <= 3 {
                    self.emit(&[3]);
                    self.zeros = 0;
                }
                self.emit(&[x]);
                self.zeros = if x == 0 { self.zeros + 1 } else { 0 };
                b = &b[1..];
            }
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.zeros > 0 {
            self.emit(&[3]);
        }
        self.out
    }

    fn finish_len(self) -> usize {
        self.len + usize::from(self.zeros > 0)
    }
}

/// The index of the first zero byte of `b`: eight bytes at a time (a word has a zero byte
/// exactly when `(x - 0x01…) & !x & 0x80…` is not zero), the last few one by one.
fn find_zero(b: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    for w in b.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        let x = u64::from_le_bytes(word);
        if x.wrapping_sub(LO) & !x & HI != 0 {
            break;
        }
        i += 8;
    }
    b[i..].iter().position(|x| *x == 0).map(|p| i + p)
}

/// The PMT stream type and ES descriptors of a SAMPLE-AES stream (ENCRYPTION.md §2.3): the
/// private data indicator (`zavc`, `aacd`, `ac3d`, `ec3d`) and, for audio, the `apad`
/// registration descriptor with the audio setup information. `first_frame` is a syncframe of
/// an AC-3 track (whose first 10 bytes are its setup data).
pub fn pmt_entry(track: &Track, first_frame: Option<&[u8]>) -> Result<(u8, Vec<u8>), MediaError> {
    let private = |tag: &[u8; 4]| {
        let mut d = vec![0x0f, 4];
        d.extend_from_slice(tag);
        d
    };
    Ok(match track.codec {
        Codec::H264 => (0xdb, private(b"zavc")),
        Codec::H265 => {
            return Err(MediaError::Unsupported(
                "SAMPLE-AES in MPEG-TS is defined for H.264 video only, not HEVC; \
                 use AES-128 or a CMAF (cbcs) configuration"
                    .into(),
            ));
        }
        Codec::Aac => {
            // SBR (object type 5) and PS (29) have their own audio types.
            let kind = match track.codec_config.first().map(|b| b >> 3) {
                Some(5) => b"zach",
                Some(29) => b"zacp",
                _ => b"zaac",
            };
            let mut d = private(b"aacd");
            d.extend(apad(kind, &track.codec_config)?);
            (0xcf, d)
        }
        Codec::Ac3 => {
            let setup = first_frame.and_then(|f| f.get(..10)).unwrap_or(&[]);
            let mut d = private(b"ac3d");
            d.extend(apad(b"zac3", setup)?);
            (0xc1, d)
        }
        Codec::Eac3 => {
            let mut d = private(b"ec3d");
            d.extend(apad(b"zec3", &track.codec_config)?);
            (0xc2, d)
        }
        Codec::Srt | Codec::WebVtt => {
            return Err(MediaError::Unsupported(
                "text tracks are not carried in MPEG-TS".into(),
            ));
        }
    })
}

/// The `apad` registration descriptor: audio type, priming 0, version 1, setup data.
fn apad(kind: &[u8; 4], setup: &[u8]) -> Result<Vec<u8>, MediaError> {
    let len = 4 + 8 + setup.len();
    if len > 255 {
        return Err(MediaError::Unsupported(
            "audio setup data too long for SAMPLE-AES".into(),
        ));
    }
    let mut d = vec![0x05, len as u8];
    d.extend_from_slice(b"apad");
    d.extend_from_slice(kind);
    d.extend_from_slice(&[0, 0, 1, setup.len() as u8]);
    d.extend_from_slice(setup);
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::bits::unescape;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The reference notes' test key and IV (ENCRYPTION.md).
    fn enc() -> SampleAes {
        let key: [u8; 16] = hex("0f0e0d0c0b0a09080706050403020100").try_into().unwrap();
        let iv: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
        SampleAes::new(Cipher::new(&key), iv)
    }

    /// An IDR slice NAL of 230 bytes with emulation-prevention bytes in the clear leader
    /// (`00 00 03 00` at 10) and in a clear run (`00 00 03 01` at 100).
    fn fixture_nal() -> Vec<u8> {
        let mut nal: Vec<u8> = std::iter::once(0x65)
            .chain((1..230).map(|i: u32| match ((i * 7 + 1) % 251) as u8 {
                0 => 1,
                b => b,
            }))
            .collect();
        nal[10..14].copy_from_slice(&[0, 0, 3, 0]);
        nal[100..104].copy_from_slice(&[0, 0, 3, 1]);
        nal
    }

    /// Expected bytes made by hand with Python `cryptography`, independently of this code:
    /// ```python
    /// nal = bytearray([0x65] + [(i*7+1) % 251 or 1 for i in range(1, 230)])
    /// nal[10:14] = bytes([0, 0, 3, 0]); nal[100:104] = bytes([0, 0, 3, 1])
    /// # blocks at 32 and 192 (one in ten while more than 16 bytes remain), one CBC chain
    /// ct = Cipher(AES(key), CBC(iv)).encryptor().update(nal[32:48] + nal[192:208])
    /// nal[32:48], nal[192:208] = ct[:16], ct[16:]
    /// # then emulation prevention over the whole unit: 03 after 00 00 before 00..03
    /// ```
    /// The leader's `00 00 03 00` becomes `00 00 03 03 00` (escaped twice), as does the clear
    /// run's `00 00 03 01`: 232 bytes.
    const FIXTURE_OUT: &str = concat!(
        "65080f161d242b3239400000030300636a71787f868d949ba2a9b0b7bec5ccd3da8b762fa31e00e5f2",
        "76893c03bc8158ed565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7030a11181f262d343b",
        "424950575e656c737a81888f969da4abb2b9c00000030301e3eaf1f8040b121920272e353c434a5158",
        "5f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f9050c131a21282f363d444b525960676e757c",
        "838a91989fa6adb4bbc2c9d0d7dee5ecf3fa060d141b222930373e454c536a28d945f50b7787816ca2",
        "1a1beff783cad1d8dfe6edf401070e151c232a31383f464d545b62"
    );

    #[test]
    fn slice_nal_with_emulation_prevention_matches_python() {
        let nal = fixture_nal();
        let out = enc().nal(&nal).expect("a slice longer than 48 bytes");
        assert_eq!(out, hex(FIXTURE_OUT));
        assert_eq!(enc().nal_len(&nal), Some(out.len()));
        // Un-escaping once gives back the escaped original but for the encrypted blocks.
        let back = unescape(&out);
        assert_eq!(back.len(), nal.len());
        assert_eq!(back[..32], nal[..32]);
        assert_eq!(back[48..192], nal[48..192]);
        assert_ne!(back[32..48], nal[32..48]);
    }

    #[test]
    fn small_and_other_nals_stay_clear_and_exactly_16_left_stays_clear() {
        let e = enc();
        let mut nal = vec![0x41u8; 48];
        assert_eq!(e.nal(&nal), None, "48 bytes stay clear");
        nal.push(0x41);
        let one = e.nal(&nal).unwrap();
        assert_ne!(one[32..48], nal[32..48], "49 bytes: one block");
        assert_eq!(e.nal(&[0x06; 300]), None, "SEI");
        assert_eq!(e.nal(&[0x67; 300]), None, "SPS");
        // 208 bytes: blocks at 32 and (192: exactly 16 left) none.
        let nal = vec![0x21u8; 208];
        let out = unescape(&e.nal(&nal).unwrap());
        assert_ne!(out[32..48], nal[32..48]);
        assert_eq!(out[48..], nal[48..]);
        // 209 bytes: the block at 192 is encrypted too.
        let nal = vec![0x21u8; 209];
        let out = unescape(&e.nal(&nal).unwrap());
        assert_ne!(out[192..208], nal[192..208]);
    }

    #[test]
    fn escape_rules() {
        assert_eq!(escape(&[0, 0, 0, 0, 1]), [0, 0, 3, 0, 0, 3, 1]);
        assert_eq!(escape(&[5, 0, 0, 4]), [5, 0, 0, 4]);
        assert_eq!(escape(&[5, 0]), [5, 0, 3]);
        assert_eq!(escape(&[0, 0, 3, 0, 0, 0]), [0, 0, 3, 3, 0, 0, 3, 0, 3]);
        // Pieces escape as the whole does.
        let mut e = Escaper::with_capacity(8);
        e.push(&[7, 0]);
        e.push(&[0]);
        e.push(&[1, 0, 0]);
        e.push(&[2]);
        assert_eq!(e.finish(), escape(&[7, 0, 0, 1, 0, 0, 2]));
        for (i, n) in [(0usize, 1usize), (3, 20), (19, 20), (8, 9), (7, 64)] {
            let mut v = vec![9u8; n];
            v[i] = 0;
            assert_eq!(find_zero(&v), Some(i));
            v[i] = 1;
            assert_eq!(find_zero(&v), None);
        }
        assert_eq!(escape(&[7, 0, 0, 1, 0, 0, 2]), [7, 0, 0, 3, 1, 0, 0, 3, 2]);
    }

    /// Annex B parts (a TS source's access unit) keep everything but the slice.
    #[test]
    fn annex_b_units_replace_only_slices() {
        let e = enc();
        let nal = fixture_nal();
        let mut au = vec![0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1];
        au.extend_from_slice(&nal);
        au.extend_from_slice(&[0, 0, 0, 1, 0x0c, 0xff]);
        let mut parts = Parts::default();
        parts.borrowed(&au);
        let out = e.video(parts).concat();
        let mut expected = vec![0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1];
        expected.extend(hex(FIXTURE_OUT));
        expected.extend_from_slice(&[0, 0, 0, 1, 0x0c, 0xff]);
        assert_eq!(out, expected);
        // MP4 layout: start codes and NAL units as separate parts.
        let mut parts = Parts::default();
        parts.borrowed(&[0, 0, 0, 1]);
        parts.borrowed(&nal);
        let mut expected = vec![0, 0, 0, 1];
        expected.extend(hex(FIXTURE_OUT));
        assert_eq!(e.video(parts).concat(), expected);
    }

    /// An ADTS frame (7-byte header, 50 bytes of payload 00..31): header and 16 bytes clear,
    /// two blocks, a 2-byte trailer. Expected from Python `cryptography`:
    /// `hdr + p[:16] + Cipher(AES(key), CBC(iv)).encryptor().update(p[16:48]) + p[48:]`.
    #[test]
    fn aac_frame_matches_python() {
        let mut frame = hex("fff15080073ffc");
        frame.extend(0u8..50);
        let mut parts = Parts::default();
        parts.borrowed(&frame[..7]);
        parts.borrowed(&frame[7..]);
        let out = enc().audio(Codec::Aac, parts).unwrap().concat();
        assert_eq!(
            out,
            hex(concat!(
                "fff15080073ffc000102030405060708090a0b0c0d0e0f6d00049adfc582b051c393cb8678ad",
                "1725b671b0c0bfeb04a99fb608abe4216e3031"
            ))
        );
        // A frame that claims more bytes than it has is an error, not a panic.
        let mut parts = Parts::default();
        parts.borrowed(&frame[..30]);
        assert!(enc().audio(Codec::Aac, parts).is_err());
    }

    fn track(codec: Codec, codec_config: Vec<u8>) -> Track {
        Track {
            codec,
            fourcc: *b"mp4a",
            codec_config,
            codec_string: String::new(),
            language: None,
            name: None,
            stream: 0,
            timescale: 48000,
            presentation_offset: 0,
            last_sample_duration: 0,
            width: 0,
            height: 0,
            frame_rate: None,
            channels: 2,
            sample_rate: 48000,
            ts_pid: 0,
            avg_bitrate: 0,
            peak_bitrate: 0,
            samples: Default::default(),
        }
    }

    /// Shaka Packager's AAC descriptors (ENCRYPTION.md §2.3) for AudioSpecificConfig
    /// `11 90 56 e5 00`.
    #[test]
    fn aac_pmt_descriptors_match_shaka() {
        let aac = track(Codec::Aac, vec![0x11, 0x90, 0x56, 0xe5, 0x00]);
        let (stream_type, d) = pmt_entry(&aac, None).unwrap();
        assert_eq!(stream_type, 0xcf);
        let mut expected = vec![0x0f, 4];
        expected.extend_from_slice(b"aacd");
        expected.extend_from_slice(&[0x05, 0x11]);
        expected.extend_from_slice(b"apadzaac");
        expected.extend_from_slice(&[0, 0, 1, 5, 0x11, 0x90, 0x56, 0xe5, 0]);
        assert_eq!(d, expected);
        let hevc = track(Codec::H265, Vec::new());
        assert!(matches!(
            pmt_entry(&hevc, None),
            Err(MediaError::Unsupported(_))
        ));
    }
}
