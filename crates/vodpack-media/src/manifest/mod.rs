//! Manifest writers, one module per format.

pub mod hls;
