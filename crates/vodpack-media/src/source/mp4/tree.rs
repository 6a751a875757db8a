//! Walks a `moov` box ourselves and hands mp4-atom only the boxes the index needs.
//!
//! Why not `Moov::decode` on the whole box: mp4-atom decodes every child box it recognises,
//! wherever it sits, and some of those decoders loop over a 32-bit entry count without consuming
//! input (a version-0 `sgpd` of an unknown grouping type is one), so a 200-byte hostile file
//! could make ingest allocate gigabytes (found by the `mp4` fuzz target). Walking the container
//! levels here, and decoding only `mvhd`, `tkhd`, `elst`, `mdhd`, `hdlr`, the sample tables and
//! the supported sample entries (with their configuration boxes), also means metadata we never
//! use (`udta`, `meta`, sample groups, auxiliary info) can neither fail an ingest nor cost time.
//!
//! The result is mp4-atom's own [`Moov`] with just those parts filled in, so the sample-table
//! expansion in the parent module reads it as before.

use mp4_atom::{
    Co64, Codec as Entry, Ctts, Decode, Edts, Elst, FourCC, Hdlr, Mdhd, Mdia, Minf, Moov, Mvhd,
    Stbl, Stco, Stsc, Stsd, Stss, Stsz, Stts, Tkhd, Trak,
};

use super::parse_box_header;
use crate::error::MediaError;

/// Sample entries we decode; any other is reported by its four-character code.
const VISUAL_ENTRIES: [&[u8; 4]; 4] = [b"avc1", b"avc3", b"hvc1", b"hev1"];
const AUDIO_ENTRIES: [&[u8; 4]; 3] = [b"mp4a", b"ac-3", b"ec-3"];
/// Children of a sample entry that the codec mapping reads (`wave` is QuickTime's wrapper of
/// `esds`, which mp4-atom reads without going through its generic decoder).
const ENTRY_CHILDREN: [&[u8; 4]; 6] = [b"avcC", b"hvcC", b"esds", b"dac3", b"dec3", b"wave"];
/// Bytes of a VisualSampleEntry before its child boxes (ISO/IEC 14496-12 12.1.3).
const VISUAL_ENTRY_FIELDS: usize = 78;
/// Bytes of a version-0 AudioSampleEntry before its child boxes; QuickTime versions 1 and 2
/// add 16 and 36 bytes.
const AUDIO_ENTRY_FIELDS: usize = 28;

/// One child box: its type and its whole bytes (header included).
struct Child<'a> {
    kind: [u8; 4],
    header_len: usize,
    bytes: &'a [u8],
}

impl Child<'_> {
    fn body(&self) -> &[u8] {
        &self.bytes[self.header_len..]
    }

    fn name(&self) -> String {
        String::from_utf8_lossy(&self.kind)
            .escape_default()
            .to_string()
    }

    fn decode<T: Decode>(&self) -> Result<T, MediaError> {
        T::decode(&mut &self.bytes[..]).map_err(|e| {
            MediaError::Corrupt(format!("cannot parse the '{}' box: {e}", self.name()))
        })
    }
}

/// The child boxes packed in `body`. A box of size 0 runs to the end of its parent; fewer than
/// eight trailing bytes are padding (QuickTime writes a zero terminator).
fn children<'a>(body: &'a [u8], parent: &str) -> Result<Vec<Child<'a>>, MediaError> {
    let mut out = Vec::new();
    let mut rest = body;
    while rest.len() >= 8 {
        let Some(h) = parse_box_header(rest)? else {
            break;
        };
        let len = match h.size {
            None => rest.len(),
            Some(s) => usize::try_from(s).unwrap_or(usize::MAX),
        };
        if len > rest.len() {
            return Err(MediaError::Corrupt(format!(
                "box '{}' in '{parent}' declares {len} bytes but only {} remain",
                String::from_utf8_lossy(&h.kind).escape_default(),
                rest.len()
            )));
        }
        let (bytes, tail) = rest.split_at(len);
        out.push(Child {
            kind: h.kind,
            header_len: h.header_len as usize,
            bytes,
        });
        rest = tail;
    }
    Ok(out)
}

/// Keeps the first of a box that may appear once; a second one is an error, as in mp4-atom.
fn once<T>(slot: &mut Option<T>, value: T, what: &str) -> Result<(), MediaError> {
    if slot.is_some() {
        return Err(MediaError::Corrupt(format!("more than one '{what}' box")));
    }
    *slot = Some(value);
    Ok(())
}

fn required<T>(slot: Option<T>, what: &str, parent: &str) -> Result<T, MediaError> {
    slot.ok_or_else(|| MediaError::Corrupt(format!("'{parent}' has no '{what}' box")))
}

/// Decodes the parts of a `moov` box (its whole bytes, header included) that the index reads.
pub(crate) fn decode_moov(moov: &[u8]) -> Result<Moov, MediaError> {
    let top = children(moov, "file")?;
    let [root] = top.as_slice() else {
        return Err(MediaError::Corrupt(
            "the moov bytes are not exactly one box".into(),
        ));
    };
    if &root.kind != b"moov" {
        return Err(MediaError::Corrupt(format!(
            "expected a moov box, found '{}'",
            root.name()
        )));
    }
    let mut mvhd: Option<Mvhd> = None;
    let mut trak = Vec::new();
    for c in children(root.body(), "moov")? {
        match &c.kind {
            b"mvhd" => once(&mut mvhd, c.decode()?, "mvhd")?,
            b"trak" => trak.push(decode_trak(c.body())?),
            b"mvex" => {
                return Err(MediaError::Unsupported(
                    "fragmented MP4 (moov has mvex); provide a progressive MP4".into(),
                ));
            }
            _ => {}
        }
    }
    Ok(Moov {
        mvhd: required(mvhd, "mvhd", "moov")?,
        trak,
        ..Moov::default()
    })
}

fn decode_trak(body: &[u8]) -> Result<Trak, MediaError> {
    let (mut tkhd, mut edts, mut mdia) = (None::<Tkhd>, None, None);
    for c in children(body, "trak")? {
        match &c.kind {
            b"tkhd" => once(&mut tkhd, c.decode()?, "tkhd")?,
            b"edts" => {
                let mut elst: Option<Elst> = None;
                for e in children(c.body(), "edts")? {
                    if &e.kind == b"elst" {
                        once(&mut elst, e.decode()?, "elst")?;
                    }
                }
                once(&mut edts, Edts { elst }, "edts")?;
            }
            b"mdia" => once(&mut mdia, decode_mdia(c.body())?, "mdia")?,
            _ => {}
        }
    }
    Ok(Trak {
        tkhd: required(tkhd, "tkhd", "trak")?,
        edts,
        mdia: required(mdia, "mdia", "trak")?,
        ..Trak::default()
    })
}

fn decode_mdia(body: &[u8]) -> Result<Mdia, MediaError> {
    let (mut mdhd, mut hdlr, mut stbl) = (None::<Mdhd>, None::<Hdlr>, None);
    for c in children(body, "mdia")? {
        match &c.kind {
            b"mdhd" => once(&mut mdhd, c.decode()?, "mdhd")?,
            b"hdlr" => once(&mut hdlr, c.decode()?, "hdlr")?,
            b"minf" => {
                for m in children(c.body(), "minf")? {
                    if &m.kind == b"stbl" {
                        once(&mut stbl, decode_stbl(m.body())?, "stbl")?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(Mdia {
        mdhd: required(mdhd, "mdhd", "mdia")?,
        hdlr: required(hdlr, "hdlr", "mdia")?,
        minf: Minf {
            stbl: required(stbl, "stbl", "minf")?,
            ..Minf::default()
        },
    })
}

fn decode_stbl(body: &[u8]) -> Result<Stbl, MediaError> {
    let mut stsd: Option<Stsd> = None;
    let mut stts: Option<Stts> = None;
    let mut stsc: Option<Stsc> = None;
    let mut stsz: Option<Stsz> = None;
    let mut ctts: Option<Ctts> = None;
    let mut stss: Option<Stss> = None;
    let mut stco: Option<Stco> = None;
    let mut co64: Option<Co64> = None;
    for c in children(body, "stbl")? {
        match &c.kind {
            b"stsd" => once(&mut stsd, decode_stsd(c.body())?, "stsd")?,
            b"stts" => once(&mut stts, c.decode()?, "stts")?,
            b"stsc" => once(&mut stsc, c.decode()?, "stsc")?,
            b"stsz" => once(&mut stsz, c.decode()?, "stsz")?,
            b"ctts" => once(&mut ctts, c.decode()?, "ctts")?,
            b"stss" => once(&mut stss, c.decode()?, "stss")?,
            b"stco" => once(&mut stco, c.decode()?, "stco")?,
            b"co64" => once(&mut co64, c.decode()?, "co64")?,
            _ => {}
        }
    }
    Ok(Stbl {
        stsd: required(stsd, "stsd", "stbl")?,
        stts: required(stts, "stts", "stbl")?,
        stsc: required(stsc, "stsc", "stbl")?,
        stsz: required(stsz, "stsz", "stbl")?,
        ctts,
        stss,
        stco,
        co64,
        ..Stbl::default()
    })
}

/// The sample descriptions: supported entries decoded with only the child boxes the codec
/// mapping reads; any other entry kept as its four-character code for the error message.
fn decode_stsd(body: &[u8]) -> Result<Stsd, MediaError> {
    let Some(entries) = body.get(8..) else {
        return Err(MediaError::Corrupt("the 'stsd' box is truncated".into()));
    };
    let count = u32::from_be_bytes([body[4], body[5], body[6], body[7]]) as usize;
    let found = children(entries, "stsd")?;
    if found.len() < count {
        return Err(MediaError::Corrupt(format!(
            "'stsd' announces {count} sample descriptions but holds {}",
            found.len()
        )));
    }
    let mut codecs = Vec::with_capacity(count);
    for e in found.iter().take(count) {
        let fields = if VISUAL_ENTRIES.contains(&&e.kind) {
            VISUAL_ENTRY_FIELDS
        } else if AUDIO_ENTRIES.contains(&&e.kind) {
            let version = e
                .body()
                .get(8..10)
                .map(|v| u16::from_be_bytes([v[0], v[1]]));
            AUDIO_ENTRY_FIELDS
                + match version {
                    Some(1) => 16,
                    Some(2) => 36,
                    _ => 0,
                }
        } else {
            codecs.push(Entry::Unknown(FourCC::new(&e.kind), Vec::new()));
            continue;
        };
        let Some(kids) = e.body().get(fields..) else {
            return Err(MediaError::Corrupt(format!(
                "the '{}' sample description is truncated",
                e.name()
            )));
        };
        // Rebuild the entry with only the configuration children, then let mp4-atom read it.
        let mut entry = Vec::with_capacity(e.bytes.len());
        entry.extend_from_slice(&[0; 4]);
        entry.extend_from_slice(&e.kind);
        entry.extend_from_slice(&e.body()[..fields]);
        for k in children(kids, &e.name())? {
            if ENTRY_CHILDREN.contains(&&k.kind) {
                entry.extend_from_slice(k.bytes);
            }
        }
        let size = u32::try_from(entry.len()).map_err(|_| {
            MediaError::Limit(format!(
                "the '{}' sample description is too large",
                e.name()
            ))
        })?;
        entry[..4].copy_from_slice(&size.to_be_bytes());
        let codec = Entry::decode(&mut &entry[..]).map_err(|err| {
            MediaError::Corrupt(format!(
                "cannot parse the '{}' sample description: {err}",
                e.name()
            ))
        })?;
        codecs.push(codec);
    }
    Ok(Stsd { codecs })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }

    /// A version-0 sgpd of an unknown grouping type with 2^32-1 zero-byte entries: mp4-atom
    /// alone loops (and allocates) four billion times on it. Here it is skipped unread.
    #[test]
    fn sample_group_boxes_are_not_decoded() {
        let mut sgpd = vec![0, 0, 0, 0];
        sgpd.extend_from_slice(b"zzzz");
        sgpd.extend_from_slice(&u32::MAX.to_be_bytes());
        let sgpd = boxed(b"sgpd", &sgpd);
        let trak = boxed(b"trak", &sgpd);
        let mvhd = boxed(b"mvhd", &[0; 100]);
        let mut body = mvhd;
        body.extend_from_slice(&trak);
        let moov = boxed(b"moov", &body);
        let err = decode_moov(&moov).expect_err("a trak without tkhd is refused");
        assert_eq!(
            err,
            MediaError::Corrupt("'trak' has no 'tkhd' box".into()),
            "refused for the missing tkhd, without reading sgpd"
        );
    }

    #[test]
    fn child_running_past_its_parent_is_corrupt() {
        let mut inner = boxed(b"trak", &[]);
        inner[..4].copy_from_slice(&100u32.to_be_bytes());
        let moov = boxed(b"moov", &inner);
        assert!(matches!(decode_moov(&moov), Err(MediaError::Corrupt(_))));
    }

    #[test]
    fn mvex_means_fragmented() {
        let mut body = boxed(b"mvhd", &[0; 100]);
        body.extend_from_slice(&boxed(b"mvex", &[]));
        let moov = boxed(b"moov", &body);
        assert!(matches!(
            decode_moov(&moov),
            Err(MediaError::Unsupported(m)) if m.contains("fragmented")
        ));
    }
}
