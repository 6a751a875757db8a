//! vodpack's media core: pure functions from source bytes to a packaging index, and the
//! planning done on it. No I/O and no async: callers read the bytes (from a local folder or S3)
//! and hand them over, which keeps this crate fuzzable and benchmarkable on its own.
//!
//! - [`index`]: the sample index and its binary encoding;
//! - [`mp4`]: progressive MP4 (`moov` → tracks), codec strings;
//! - [`smil`]: SMIL manifests; [`srt`]: SubRip subtitles; [`ts`]: MPEG-TS segments of HLS sources;
//! - [`plan`]: segment boundaries and rendition alignment;
//! - [`mux`]: output writers (access-unit filters, MPEG-TS); [`manifest`]: playlists;
//! - [`package`]: a packaging configuration as a validated spec, defaults applied;
//! - [`error`]: why a source is refused.

pub mod error;
pub mod es;
pub mod hls;
pub mod index;
pub mod manifest;
pub mod mp4;
pub mod mux;
pub mod package;
pub mod plan;
pub mod smil;
pub mod srt;
pub mod ts;

pub use error::MediaError;
