//! Output writers: filters that turn stored samples into a container's elementary-stream form
//! ([`access_unit`]) and the container writers themselves ([`ts`]). The egress path chains
//! them: index → samples of a segment → access-unit filter → (encryption, later) → writer.

pub mod access_unit;
pub mod fmp4;
pub mod ts;

/// Presentation times in TS output start here (90 kHz): the 1.4 s offset ffmpeg and most
/// packagers use, which keeps PCR, DTS and slightly negative first PTS (edit lists) positive.
pub const TS_TIME_OFFSET: i64 = 126_000;

/// A time in `timescale` units as 90 kHz ticks.
pub fn to_90k(t: i64, timescale: u32) -> i64 {
    if timescale == 90_000 {
        t
    } else {
        (i128::from(t) * 90_000 / i128::from(timescale.max(1))) as i64
    }
}
