//! The init segment: `ftyp` + `moov(mvhd, trak, mvex(trex))` with an empty sample table. Its
//! containers (`moov`, `trak`, `mdia`, `minf`) are framed here, by hand, so that their children
//! come in ISO/IEC 14496-12's order (see the parent module).

use mp4_atom::{
    Atom, Dinf, Dref, DrefEntry, FixedPoint, FourCC, Ftyp, Hdlr, Mdhd, Mdia, Minf, Moov, Mvex,
    Mvhd, Smhd, Stbl, Stco, Stsd, Tkhd, Trak, Trex, Url, Vmhd,
};

use super::entry::language;
use super::{Fmp4Track, container, encode};
use crate::error::MediaError;
use crate::index::TrackKind;

impl Fmp4Track<'_> {
    /// Init segment: `ftyp` + `moov(mvhd, trak, mvex(trex))` with an empty sample table.
    pub fn init_segment(&self) -> Result<Vec<u8>, MediaError> {
        let t = self.track;
        let video = t.codec.kind() == TrackKind::Video;
        let ftyp = Ftyp {
            major_brand: FourCC::new(b"iso6"),
            minor_version: 0,
            compatible_brands: vec![
                FourCC::new(b"iso6"),
                FourCC::new(b"cmfc"),
                FourCC::new(b"dash"),
            ],
        };
        let (handler, name) = if video {
            (b"vide", "VideoHandler")
        } else {
            (b"soun", "SoundHandler")
        };
        let dim = |v: u32| FixedPoint::from(u16::try_from(v).unwrap_or(0));
        let mvhd = Mvhd {
            creation_time: 0,
            modification_time: 0,
            timescale: self.clock.timescale(),
            duration: 0,
            rate: FixedPoint::from(1u16),
            volume: FixedPoint::from(1u8),
            matrix: Default::default(),
            next_track_id: self.opts.track_id.saturating_add(1),
        };
        let tkhd = Tkhd {
            track_id: self.opts.track_id,
            enabled: true,
            in_movie: true,
            volume: FixedPoint::from(if video { 0u8 } else { 1u8 }),
            width: dim(if video { t.width } else { 0 }),
            height: dim(if video { t.height } else { 0 }),
            ..Default::default()
        };
        let mdhd = Mdhd {
            timescale: self.clock.timescale(),
            language: language(t),
            ..Default::default()
        };
        let hdlr = Hdlr {
            handler: FourCC::new(handler),
            name: name.to_string(),
        };
        let media_header = if video {
            encode(&Vmhd::default())?
        } else {
            encode(&Smhd::default())?
        };
        let dinf = Dinf {
            dref: Dref {
                entries: vec![DrefEntry::Url(Url::default())],
            },
        };
        let mut stbl = Stbl {
            stsd: Stsd {
                codecs: vec![self.entry.clone()],
            },
            stco: Some(Stco::default()),
            ..Default::default()
        };
        let stbl = match &self.protection {
            None => encode(&stbl)?,
            Some(p) => {
                // mp4-atom cannot encode an `encv`/`enca` entry: encode the table with an
                // empty `stsd` and put ours (one protected entry) in its place.
                let entry = p.sample_entry(&encode(&self.entry)?, video)?;
                stbl.stsd.codecs.clear();
                let empty = encode(&stbl)?;
                if empty.get(8..16) != Some(&[0, 0, 0, 16, b's', b't', b's', b'd'][..]) {
                    return Err(MediaError::Corrupt("stbl does not start with stsd".into()));
                }
                let rest = empty.get(8 + 16..).unwrap_or_default();
                let mut stsd = vec![0, 0, 0, 0, 0, 0, 0, 1];
                stsd.extend_from_slice(&entry);
                container(
                    Stbl::KIND,
                    &[container(Stsd::KIND, &[stsd])?, rest.to_vec()],
                )?
            }
        };
        let mvex = Mvex {
            mehd: None,
            trex: vec![Trex {
                track_id: self.opts.track_id,
                default_sample_description_index: 1,
                ..Default::default()
            }],
        };
        // The containers are framed here so their children come in the order of ISO/IEC
        // 14496-12's box table (mp4-atom writes required children before optional ones:
        // `mvex` before `trak`, `vmhd` after `stbl`), which strict validators expect.
        let minf = container(Minf::KIND, &[media_header, encode(&dinf)?, stbl])?;
        let mdia = container(Mdia::KIND, &[encode(&mdhd)?, encode(&hdlr)?, minf])?;
        let trak = container(Trak::KIND, &[encode(&tkhd)?, mdia])?;
        let mut moov = vec![encode(&mvhd)?, trak, encode(&mvex)?];
        if let Some(p) = &self.protection {
            moov.push(p.pssh_boxes());
        }
        let moov = container(Moov::KIND, &moov)?;
        let mut out = encode(&ftyp)?;
        out.extend_from_slice(&moov);
        Ok(out)
    }
}
