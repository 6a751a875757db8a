//! Fragmented-MP4 writer (ISO/IEC 14496-12 movie fragments) for CMAF outputs — HLS fMP4 and
//! DASH — and for Microsoft Smooth Streaming fragments. One track per output, as CMAF and
//! Smooth both require.
//!
//! What this module owns, file by file:
//! - here: the writer's options ([`Fmp4Options`], [`FragmentKind`]) and [`Fmp4Track`], with
//!   each track's output clock, through [`super::clock::TrackClock`] (the rule lives there);
//! - `filter.rs`: the sample filter ([`Fmp4Track::sample`]): MP4 samples pass through; TS
//!   samples (Annex B video, ADTS AAC) are turned into length-prefixed NAL units and raw AAC
//!   frames; parameter sets go in band on key frames when asked (`avc3`/`hev1`);
//! - `entry.rs`: the sample entries (`stsd` children) and their codec configuration boxes;
//! - `init.rs`: the init segment (`ftyp` + `moov` with an empty sample table and `mvex`);
//! - `fragment.rs`: the media fragments (`styp` + `moof` + `mdat` for CMAF; `moof` with a
//!   `tfxd` box + `mdat` for Smooth);
//! - `smooth.rs`: what only Smooth needs (the `tfxd` box);
//! - `protect.rs`: the Common Encryption boxes of an encrypted track ([`Protection`]: the
//!   `encv`/`enca` entry with `sinf`, `pssh`, and each fragment's `saiz`/`saio`/`senc`).
//!
//! Boxes are encoded with `mp4-atom`. Written by hand, because the crate cannot express them:
//! the payload of Smooth's `tfxd` box (a version-1 full box inside a `uuid` box, which mp4-atom
//! frames) and its place inside the `traf` (mp4-atom's `Traf` has no slot for it); and the
//! framing of the init segment's containers (`moov`, `trak`, `mdia`, `minf`), because mp4-atom
//! writes required children before optional ones (`mvex` before `trak`, `vmhd` after `stbl`)
//! where ISO/IEC 14496-12 and strict validators expect the usual order. Every child box and
//! every header is still encoded by mp4-atom (`Header` frames the containers and the `mdat`,
//! so payloads are appended once instead of being copied into an `Mdat` value first).

mod entry;
mod filter;
mod fragment;
mod init;
mod protect;
mod smooth;

pub use protect::{
    COMMON_SYSTEM_ID, PIFF_SENC_UUID, PIFF_TENC_UUID, Protection, SampleAux, Subsample, common_pssh,
};
pub use smooth::TFXD_UUID;

use mp4_atom::{Codec as Entry, Encode, FourCC, Header};

use super::clock::TrackClock;
use crate::error::MediaError;
use crate::index::Track;
use filter::Prep;

/// How one track is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fmp4Options {
    /// `track_ID` in `tkhd`/`trex`/`tfhd`: 1 in CMAF (one track per file).
    pub track_id: u32,
    /// Asset-wide shift from [`super::clock::time_shift_us`].
    pub shift_us: u64,
    /// `includeEncoderConfigurationInSegments`: `avc3`/`hev1` sample entry without parameter
    /// sets, and SPS/PPS (VPS) in band at the start of every key frame.
    pub in_band_parameter_sets: bool,
    /// Output timescale (Smooth uses 10 000 000); `None` keeps the track's.
    pub timescale: Option<u32>,
}

impl Default for Fmp4Options {
    fn default() -> Self {
        Fmp4Options {
            track_id: 1,
            shift_us: 0,
            in_band_parameter_sets: false,
            timescale: None,
        }
    }
}

/// Which fragment layout [`Fmp4Track::fragment`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragmentKind {
    /// `styp` + `moof(mfhd, traf(tfhd, tfdt, trun))` + `mdat`; `tfhd` has default-base-is-moof.
    Cmaf,
    /// `moof(mfhd, traf(tfhd, trun, uuid tfxd))` + `mdat`, no `styp`: the Smooth (PIFF) form.
    /// `tfxd` (version 1) carries the fragment's absolute time and duration.
    Smooth,
}

/// One output track of fragmented MP4: its init segment, sample filter, output clock and
/// fragments. Cheap to build (no per-sample work); borrows the track for its sample times.
#[derive(Debug, Clone)]
pub struct Fmp4Track<'t> {
    track: &'t Track,
    opts: Fmp4Options,
    clock: TrackClock<'t>,
    entry: Entry,
    prep: Prep,
    /// Set by [`Fmp4Track::protect`]: the track is written encrypted.
    protection: Option<Protection>,
}

fn enc_err(e: mp4_atom::Error) -> MediaError {
    MediaError::Corrupt(format!("fMP4 box encoding: {e}"))
}

fn config_err(track: &Track, what: &str) -> MediaError {
    MediaError::Corrupt(format!(
        "{} codec configuration: {what}",
        track.codec.name()
    ))
}

impl<'t> Fmp4Track<'t> {
    /// Prepares `track` for output: parses its configuration record and works out its clock
    /// mapping from the first samples only.
    pub fn new(track: &'t Track, opts: Fmp4Options) -> Result<Fmp4Track<'t>, MediaError> {
        if track.timescale == 0 {
            return Err(MediaError::Corrupt(format!(
                "{} track with timescale 0",
                track.codec.name()
            )));
        }
        if !track.samples.consistent() {
            return Err(MediaError::Corrupt(format!(
                "{} track: sample columns of different lengths",
                track.codec.name()
            )));
        }
        let timescale = opts.timescale.unwrap_or(track.timescale);
        if timescale == 0 {
            return Err(MediaError::Unsupported("output timescale 0".into()));
        }
        let entry = entry::sample_entry(track, opts.in_band_parameter_sets)?;
        let prep = filter::prep(track)?;
        Ok(Fmp4Track {
            track,
            opts,
            clock: TrackClock::new(track, timescale, opts.shift_us),
            entry,
            prep,
            protection: None,
        })
    }

    /// The same track written encrypted: `encv`/`enca` sample entry, `pssh` in the `moov`,
    /// and sample auxiliary information in every fragment (made with
    /// [`Fmp4Track::protected_fragment_header`] from the samples the caller encrypted).
    pub fn protect(mut self, protection: Protection) -> Result<Self, MediaError> {
        protection.check()?;
        self.protection = Some(protection);
        Ok(self)
    }

    /// The output timescale (`mdhd`, `tfdt`, `trun` durations, `tfxd`).
    pub fn timescale(&self) -> u32 {
        self.clock.timescale()
    }

    /// Output decode time of sample `i` in the output timescale: what `tfdt` carries for a
    /// fragment starting at `i`. Indexes past the end give [`Self::end_time`].
    pub fn decode_time(&self, i: usize) -> u64 {
        self.clock.decode_time(i)
    }

    /// Output time just past the last sample.
    pub fn end_time(&self) -> u64 {
        self.decode_time(self.track.samples.len())
    }

    /// Output presentation time of sample `i` (decode time + composition offset); may be
    /// below [`Self::decode_time`] for reordered video. DASH `SegmentTimeline` times are the
    /// presentation times of each segment's first sample in presentation order.
    pub fn presentation_time(&self, i: usize) -> i64 {
        self.clock.presentation_time(i)
    }
}

/// One box encoded on its own.
fn encode<T: Encode>(atom: &T) -> Result<Vec<u8>, MediaError> {
    let mut out = Vec::new();
    atom.encode(&mut out).map_err(enc_err)?;
    Ok(out)
}

/// A box of type `kind` holding the already encoded `children`, in order: how the init
/// segment's containers and Smooth's `traf` (with its `tfxd`) are framed by hand.
fn container(kind: FourCC, children: &[Vec<u8>]) -> Result<Vec<u8>, MediaError> {
    let size = children.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(size + 16);
    Header {
        kind,
        size: Some(size),
    }
    .encode(&mut out)
    .map_err(enc_err)?;
    for c in children {
        out.extend_from_slice(c);
    }
    Ok(out)
}
