//! Readers of every source format: bytes in, tracks and samples (or a playlist of segments) out.
//!
//! - [`mp4`]: progressive MP4 (`moov` → tracks), box tree, codec strings;
//! - [`ts`]: MPEG-TS segments of HLS sources (PAT/PMT/PES scanner);
//! - [`hls`]: HLS media and master playlists of HLS sources;
//! - [`smil`]: SMIL manifests naming MP4 renditions;
//! - [`srt`]: SubRip subtitles and the WebVTT segments of HLS sources.

pub mod hls;
pub mod mp4;
pub mod smil;
pub mod srt;
pub mod ts;
