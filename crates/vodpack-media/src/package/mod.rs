//! The packaging chain: every output file of every format, made from an asset's index and the
//! source bytes the caller reads for it. Pure (no I/O, no async), so the server, `vodpack
//! package`, the benches and the fuzz targets all run this same code.
//!
//! The path of one file:
//! 1. [`OutputFile::parse`]: file name → typed file ([`output`], the one place names live);
//! 2. [`plan`]: what the file is made from ([`Need`]): the index alone (manifests, init
//!    sections), the bytes of some samples (fragments, subtitle segments), an MPEG-TS cut, or
//!    (an HLS-TS I-frame playlist) the lengths of some TS cuts. The per-format layouts decide:
//!    [`hls`] (HLS-TS and CMAF, which share playlists), [`dash`], [`mss`];
//! 3. the caller reads what the plan needs into a [`SourceBytes`] (spans from
//!    [`chain::spans`]);
//! 4. [`make`], or [`chain::ts::TsSegment`] for an MPEG-TS segment (muxed a chunk at a time as
//!    it is sent, its exact length first from the size-only pass).
//!
//! Inside [`chain`]: samples → the container's filter → (encryption: its slot) → writer.
//! [`spec`] is the packaging configuration, validated once by the service with every default
//! applied; nothing here reads the API's wire `Option`s.

pub mod chain;
mod dash;
mod error;
mod hls;
pub mod keys;
mod mss;
pub mod output;
pub mod protect;
pub mod spec;
mod streams;

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use crate::index::{MediaIndex, TrackKind};
use crate::mux::fmp4::FragmentKind;
use crate::plan::Segmentation;
pub use chain::SourceBytes;
use chain::fmp4::Fmp4Style;
use chain::ts::TsCut;
pub use error::PackageError;
pub use output::OutputFile;
use spec::Format;
pub use spec::PackageSpec;
pub use streams::{Streams, select};

/// One manifest of one packaging configuration over one asset: what every file of it is made
/// from, besides source bytes.
#[derive(Clone)]
pub struct Presentation {
    pub index: Arc<MediaIndex>,
    pub seg: Arc<Segmentation>,
    /// The packaging configuration, validated, defaults applied.
    pub spec: Arc<PackageSpec>,
    /// Position of the manifest in the configuration's list, and its name.
    pub manifest: usize,
    pub manifest_name: String,
    /// Asset creation time, milliseconds since the epoch: the origin of
    /// `EXT-X-PROGRAM-DATE-TIME`.
    pub created_at_ms: Option<i64>,
    /// The keys of an encrypted configuration (`spec.encryption`); `None` for clear output.
    pub keys: Option<Arc<keys::KeySet>>,
}

impl Presentation {
    /// The tracks the manifest presents, after its `streamSelection`.
    pub fn streams(&self) -> Streams {
        select(&self.index, self.spec.stream_selection(self.manifest))
    }

    /// A human name for a track in manifests: its SMIL/HLS name, else its language, else a
    /// numbered default.
    pub fn track_name(&self, t: usize, fallback: &str, n: usize) -> String {
        let track = &self.index.tracks[t];
        track
            .name
            .clone()
            .or_else(|| track.language.clone())
            .unwrap_or_else(|| format!("{fallback} {}", n + 1))
    }

    /// Parses a file name of this manifest.
    pub fn file(&self, name: &str) -> Result<OutputFile, PackageError> {
        OutputFile::parse(&self.spec.format, &self.manifest_name, name)
            .ok_or_else(|| PackageError::not_found("no such file"))
    }

    /// A file's name.
    pub fn name(&self, file: &OutputFile) -> String {
        file.name(&self.spec.format, &self.manifest_name)
    }

    fn content_type_of(&self, t: usize) -> &'static str {
        if self.index.tracks[t].codec.kind() == TrackKind::Audio {
            "audio/mp4"
        } else {
            "video/mp4"
        }
    }
}

/// What a file is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// The index alone.
    Index,
    /// The bytes of these samples (track, sample range).
    Samples(Vec<(usize, Range<usize>)>),
    /// An MPEG-TS segment: the bytes of [`TsCut::ranges`], then [`chain::ts::TsSegment::new`].
    Ts(TsCut),
    /// An HLS-TS I-frame playlist: the exact length of each cut (its byte ranges).
    TsLengths(Vec<TsCut>),
}

/// How a planned file is made.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    Manifest(&'static str),
    Init {
        track: usize,
        style: Fmp4Style,
        /// HLS answers `video/mp4` for every init section (as it always has); DASH by kind.
        content_type: Option<&'static str>,
    },
    Fragment {
        track: usize,
        segment: usize,
        style: Fmp4Style,
        kind: FragmentKind,
        iframe: bool,
    },
    WebVtt {
        track: usize,
        segment: usize,
        mpegts: i64,
    },
    Ts,
}

/// A file resolved against the layout: what it needs, and how it is then made.
#[derive(Debug, Clone)]
pub struct Plan {
    pub need: Need,
    file: OutputFile,
    target: Target,
}

impl Plan {
    fn index(file: OutputFile, target: Target) -> Plan {
        Plan {
            need: Need::Index,
            file,
            target,
        }
    }
}

/// What the caller hands [`make`]: what the plan's [`Need`] asked for.
pub enum Input<'a> {
    Index,
    Samples(&'a SourceBytes),
    TsLengths(&'a [u64]),
}

/// A made file: its content type and its bytes in order (payloads as slices of the source
/// bytes).
pub struct Made {
    pub content_type: &'static str,
    pub body: Vec<Bytes>,
}

/// Every file of the presentation, in listing order (for `vodpack package`).
pub fn files(p: &Presentation) -> Result<Vec<OutputFile>, PackageError> {
    match &p.spec.format {
        Format::Hls(_) | Format::Cmaf(_) => hls::files(p),
        Format::Dash(_) => dash::files(p),
        Format::Mss(_) => mss::files(p),
    }
}

/// Resolves `file` against the presentation's layout: a file the layout does not have is
/// [`PackageError::NotFound`].
pub fn plan(p: &Presentation, file: &OutputFile) -> Result<Plan, PackageError> {
    if p.spec.encrypted() && p.keys.is_none() {
        // Protected content is never made in the clear.
        return Err(PackageError::Bug(
            "an encrypted configuration without its keys".into(),
        ));
    }
    match file {
        OutputFile::Hls(f) => hls::plan(p, f),
        OutputFile::Dash(f) => dash::plan(p, f),
        OutputFile::Mss(f) => mss::plan(p, f),
    }
}

/// Makes a planned file from what its [`Need`] asked for.
pub fn make(p: &Presentation, plan: &Plan, input: Input<'_>) -> Result<Made, PackageError> {
    let wrong = || PackageError::Bug("a file was made from the wrong input".into());
    let one = |content_type: &'static str, body: Vec<u8>| Made {
        content_type,
        body: vec![Bytes::from(body)],
    };
    match (&plan.target, input) {
        (Target::Manifest(content_type), input) => {
            let lengths = match input {
                Input::TsLengths(l) => l,
                _ => &[],
            };
            let body = match &plan.file {
                OutputFile::Hls(f) => hls::manifest(p, f, lengths)?,
                OutputFile::Dash(_) => dash::manifest(p)?,
                OutputFile::Mss(_) => mss::manifest(p)?,
            };
            Ok(one(content_type, body.into_bytes()))
        }
        (
            Target::Init {
                track,
                style,
                content_type,
            },
            _,
        ) => Ok(one(
            content_type.unwrap_or_else(|| p.content_type_of(*track)),
            chain::fmp4::init(p, *track, *style)?,
        )),
        (
            Target::Fragment {
                track,
                segment,
                style,
                kind,
                iframe,
            },
            Input::Samples(bytes),
        ) => Ok(Made {
            content_type: p.content_type_of(*track),
            body: chain::fmp4::fragment(p, *track, *segment, *style, *kind, *iframe, bytes)?,
        }),
        (
            Target::WebVtt {
                track,
                segment,
                mpegts,
            },
            Input::Samples(bytes),
        ) => Ok(one(
            chain::text::CONTENT_TYPE,
            chain::text::webvtt(p, *track, *segment, *mpegts, bytes)?.into_bytes(),
        )),
        _ => Err(wrong()),
    }
}
