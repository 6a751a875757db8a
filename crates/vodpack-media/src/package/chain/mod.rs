//! The chain that makes media files: samples (the index's, cut by the segment plan) → their
//! source bytes ([`SourceBytes`], read by the caller) → the container's sample filter
//! (`mux::access_unit` for TS, the fMP4 filter) → (encryption: the slot between filter and
//! writer) → the writer (`mux::ts`, `mux::fmp4`, `mux::webvtt`). One module per container:
//! [`ts`] (with its size-only mode), [`fmp4`], [`text`] (WebVTT).

pub mod encrypt;
pub mod encrypt_ts;
pub mod fmp4;
pub mod source_bytes;
pub mod text;
pub mod ts;

pub use source_bytes::{SourceBytes, spans};

use super::Presentation;

/// Plan segments in which any of `tracks` has samples.
pub fn non_empty(p: &Presentation, tracks: &[usize]) -> Vec<usize> {
    (0..p.seg.count())
        .filter(|s| {
            tracks
                .iter()
                .any(|t| !p.seg.samples(&p.index.tracks[*t], *s).is_empty())
        })
        .collect()
}

/// Peak bits per second of an I-frame-only rendition: the largest `bytes(s)` over the
/// duration of segment `s`, from the index (no media read).
pub fn iframe_bitrate(
    p: &Presentation,
    segments: impl IntoIterator<Item = usize>,
    bytes: impl Fn(usize) -> Option<u64>,
) -> u64 {
    segments
        .into_iter()
        .filter_map(|s| {
            let b = bytes(s)?;
            Some((b as f64 * 8.0 / p.seg.duration_seconds(s).max(0.001)) as u64)
        })
        .max()
        .unwrap_or(0)
}
