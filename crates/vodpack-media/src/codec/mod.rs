//! Codec knowledge, one place each, shared by the source readers and the output filters:
//!
//! - [`nal`]: the one NAL unit walker (Annex B and length-prefixed);
//! - [`bits`]: bit reader, Exp-Golomb, emulation-prevention removal;
//! - [`params`]: H.264/H.265 parameter sets in `avcC`/`hvcC` records;
//! - [`hevc`]: H.265 SPS fields → `hvcC` and codec string;
//! - [`aac`]: AudioSpecificConfig fields and ADTS headers (read and written);
//! - [`ac3`]: AC-3/E-AC-3 sync frames, `dac3`/`dec3`;
//! - [`codec_string`]: RFC 6381 `codecs` strings.

pub mod aac;
pub mod ac3;
pub mod bits;
pub mod codec_string;
pub mod hevc;
pub mod nal;
pub mod params;
