//! vodpack's media core: pure functions from source bytes to a packaging index, and the
//! planning done on it. No I/O and no async: callers read the bytes (from a local folder or S3)
//! and hand them over, which keeps this crate fuzzable and benchmarkable on its own.
//!
//! - [`index`]: the sample index and its binary encoding;
//! - [`codec`]: NAL walking, parameter sets, AAC/ADTS, AC-3/E-AC-3 headers, codec strings;
//! - [`source`]: source readers — MP4 (`moov` → tracks, codec mapping), MPEG-TS segments and
//!   HLS playlists of HLS sources, SMIL manifests, SubRip subtitles;
//! - [`plan`]: segment boundaries and rendition alignment;
//! - [`mux`]: output writers (access-unit filters, MPEG-TS); [`manifest`]: playlists;
//! - [`package`]: a packaging configuration as a validated spec, defaults applied;
//! - [`error`]: why a source is refused.

pub mod codec;
pub mod error;
pub mod index;
pub mod manifest;
pub mod mux;
pub mod package;
pub mod plan;
pub mod source;

pub use error::MediaError;
