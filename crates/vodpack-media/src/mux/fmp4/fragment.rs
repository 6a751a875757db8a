//! Media fragments: `styp` + `moof(mfhd, traf(tfhd, tfdt, trun))` + `mdat` for CMAF, and the
//! Smooth form (`moof` whose `traf` ends with a `tfxd` box, then `mdat`). Sample durations,
//! sizes, flags and composition offsets of the `trun` come from the track's output clock and
//! the filtered sample sizes; the sample data itself is appended (or sent) by the caller.

use std::ops::Range;

use mp4_atom::{
    Atom, Encode, FourCC, Header, Mfhd, Moof, Styp, Tfdt, Tfhd, Traf, Trun, TrunEntry, TrunSamples,
};

use super::{Fmp4Track, FragmentKind, SampleAux, container, enc_err, encode, smooth};
use crate::error::MediaError;
use crate::index::{Track, TrackKind};
use crate::mux::access_unit::Parts;

/// Sample flags: `sample_depends_on` = 2 (an I-frame / independent audio frame).
const SYNC: u32 = 0x0200_0000;
/// Sample flags: `sample_depends_on` = 1, `sample_is_non_sync_sample` = 1.
const NON_SYNC: u32 = 0x0101_0000;

impl Fmp4Track<'_> {
    /// One fragment of samples `range` (decode order; the first should be a key frame for
    /// video), with `payloads` the filtered samples in the same order. `track` must be the
    /// track this writer was built for. Sample durations come from the next sample's output
    /// decode time (the track's last sample uses `last_sample_duration`), so consecutive
    /// fragments tile exactly.
    pub fn fragment(
        &self,
        track: &Track,
        seq: u32,
        range: Range<usize>,
        payloads: &[Parts<'_>],
        kind: FragmentKind,
    ) -> Result<Vec<u8>, MediaError> {
        let sizes: Vec<usize> = payloads.iter().map(Parts::len).collect();
        let mut out = self.fragment_header(track, seq, range, &sizes, kind)?;
        out.reserve(sizes.iter().sum());
        for p in payloads {
            for part in &p.parts {
                out.extend_from_slice(part);
            }
        }
        Ok(out)
    }

    /// Everything of [`Fmp4Track::fragment`] before the sample data (`styp`, `moof`, the
    /// `mdat` header), for payloads of `sizes` bytes: the sample data can then be sent from
    /// where it already is, without copying it into one buffer.
    pub fn fragment_header(
        &self,
        track: &Track,
        seq: u32,
        range: Range<usize>,
        sizes: &[usize],
        kind: FragmentKind,
    ) -> Result<Vec<u8>, MediaError> {
        if self.protection.is_some() {
            return Err(MediaError::Corrupt(
                "fMP4 fragment: an encrypted track's fragment without its encryption data".into(),
            ));
        }
        self.header(track, seq, range, sizes, kind, None)
    }

    /// [`Fmp4Track::fragment_header`] of a track set up by [`Fmp4Track::protect`], for
    /// samples the caller encrypted: `aux` (one per sample) goes into `saiz`/`saio`/`senc`
    /// after the `trun` (and PIFF's sample-encryption box for Smooth).
    pub fn protected_fragment_header(
        &self,
        track: &Track,
        seq: u32,
        range: Range<usize>,
        sizes: &[usize],
        kind: FragmentKind,
        aux: &[SampleAux],
    ) -> Result<Vec<u8>, MediaError> {
        if self.protection.is_none() || aux.len() != sizes.len() {
            return Err(MediaError::Corrupt(
                "fMP4 fragment: encryption data for a clear track or of the wrong length".into(),
            ));
        }
        self.header(track, seq, range, sizes, kind, Some(aux))
    }

    fn header(
        &self,
        track: &Track,
        seq: u32,
        range: Range<usize>,
        sizes: &[usize],
        kind: FragmentKind,
        aux: Option<&[SampleAux]>,
    ) -> Result<Vec<u8>, MediaError> {
        let s = &self.track.samples;
        let n = s.len();
        if !std::ptr::eq(track, self.track)
            && (track.samples.len() != n
                || track.timescale != self.track.timescale
                || track.codec != self.track.codec)
        {
            return Err(MediaError::Corrupt(
                "fMP4 fragment: not the track the writer was built for".into(),
            ));
        }
        if range.start >= range.end || range.end > n {
            return Err(MediaError::Corrupt(format!(
                "fMP4 fragment: samples {range:?} of a track of {n}"
            )));
        }
        if sizes.len() != range.len() {
            return Err(MediaError::Corrupt(format!(
                "fMP4 fragment: {} payloads for {} samples",
                sizes.len(),
                range.len()
            )));
        }
        let video = self.track.codec.kind() == TrackKind::Video;
        let mut entries = Vec::with_capacity(range.len());
        let mut total = 0usize;
        let mut any_cts = false;
        let mut next = self.clock.time(range.start);
        for (i, payload_len) in range.clone().zip(sizes.iter().copied()) {
            let t0 = next;
            next = self.clock.time(i + 1);
            let duration = u32::try_from(next.saturating_sub(t0)).map_err(|_| {
                MediaError::Corrupt(format!(
                    "sample {i}: duration {} cannot be written",
                    next.saturating_sub(t0)
                ))
            })?;
            let size = u32::try_from(payload_len)
                .map_err(|_| MediaError::Corrupt(format!("sample {i}: larger than 4 GiB")))?;
            total += payload_len;
            let key = !video || s.keyframe.get(i).copied().unwrap_or(false);
            let cts = self.clock.presentation_time(i).saturating_sub(t0);
            any_cts |= cts != 0;
            entries.push(TrunEntry {
                duration: Some(duration),
                size: Some(size),
                flags: Some(if key { SYNC } else { NON_SYNC }),
                cts: Some(cts),
            });
        }
        if !any_cts {
            entries.iter_mut().for_each(|e| e.cts = None);
        }
        let start = self.decode_time(range.start);
        let smooth = kind == FragmentKind::Smooth;
        let mut moof = Moof {
            mfhd: Mfhd {
                sequence_number: seq,
            },
            traf: vec![Traf {
                tfhd: Tfhd {
                    track_id: self.opts.track_id,
                    default_base_is_moof: !smooth,
                    ..Default::default()
                },
                tfdt: (!smooth).then_some(Tfdt {
                    base_media_decode_time: start,
                }),
                trun: vec![Trun {
                    data_offset: Some(0),
                    samples: TrunSamples::Explicit(entries),
                }],
                ..Default::default()
            }],
        };
        let mut tfxd = if smooth {
            smooth::tfxd(start, self.decode_time(range.end).saturating_sub(start))?
        } else {
            Vec::new()
        };
        if let (Some(p), Some(aux)) = (&self.protection, aux) {
            // After the trun: the encoded one-traf moof ends with its traf, so what is
            // appended to the traf starts at the clear moof's length from the moof start.
            let at = encode(&moof)?.len();
            let mut boxes = p.aux_boxes(aux, at)?;
            boxes.extend_from_slice(&tfxd);
            tfxd = boxes;
        }
        let mut mdat = Vec::new();
        Header {
            kind: FourCC::new(b"mdat"),
            size: Some(total),
        }
        .encode(&mut mdat)
        .map_err(enc_err)?;
        // In both layouts the data offset counts from the first byte of the moof (explicitly
        // with default-base-is-moof; for Smooth, as the first traf without a base offset).
        let moof_len = encode_moof(&moof, &tfxd)?.len();
        let offset = i32::try_from(moof_len + mdat.len())
            .map_err(|_| MediaError::Corrupt("fMP4 fragment header too large".into()))?;
        if let Some(run) = moof.traf.first_mut().and_then(|t| t.trun.first_mut()) {
            run.data_offset = Some(offset);
        }
        let moof = encode_moof(&moof, &tfxd)?;
        let mut out = Vec::with_capacity(64 + moof.len() + mdat.len());
        if !smooth {
            Styp {
                major_brand: FourCC::new(b"msdh"),
                minor_version: 0,
                compatible_brands: vec![FourCC::new(b"msdh"), FourCC::new(b"cmfs")],
            }
            .encode(&mut out)
            .map_err(enc_err)?;
        }
        out.extend_from_slice(&moof);
        out.extend_from_slice(&mdat);
        Ok(out)
    }
}

/// Encodes a one-`traf` `moof`, with `extra` (an encoded box) appended inside the `traf`.
fn encode_moof(moof: &Moof, extra: &[u8]) -> Result<Vec<u8>, MediaError> {
    if extra.is_empty() {
        return encode(moof);
    }
    let mut children = vec![encode(&moof.mfhd)?];
    for traf in &moof.traf {
        // mp4-atom frames the traf with an 8-byte header: keep its body, add `extra`.
        let mut body = encode(traf)?.get(8..).unwrap_or_default().to_vec();
        body.extend_from_slice(extra);
        children.push(container(Traf::KIND, &[body])?);
    }
    container(Moof::KIND, &children)
}
