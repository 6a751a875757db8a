//! Manifest writers, one module per format.

pub mod dash;
pub mod hls;
pub mod mss;
