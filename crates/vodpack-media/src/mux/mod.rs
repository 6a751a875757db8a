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
    let timescale = i64::from(timescale.max(1));
    if timescale == 90_000 {
        return t;
    }
    // 64-bit arithmetic unless the product overflows (times past ~32 years at 90 kHz): this
    // runs twice per sample of every segment, and a 128-bit division is a library call.
    match t.checked_mul(90_000) {
        Some(p) => p / timescale,
        None => (i128::from(t) * 90_000 / i128::from(timescale)) as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::to_90k;

    #[test]
    fn to_90k_truncates_like_exact_arithmetic_at_any_size() {
        let exact = |t: i64, ts: u32| (i128::from(t) * 90_000 / i128::from(ts.max(1))) as i64;
        for ts in [1, 1000, 12_800, 44_100, 48_000, 90_000, 10_000_000] {
            for t in [
                0,
                1,
                -1,
                511,
                -511,
                12_345_678,
                -98_765,
                i64::MAX / 90_000 + 1,
                i64::MAX,
            ] {
                assert_eq!(to_90k(t, ts), exact(t, ts), "t={t} timescale={ts}");
            }
        }
        assert_eq!(to_90k(5, 0), 450_000, "timescale 0 counts as 1");
        assert_eq!(to_90k(25_600, 12_800), 180_000);
    }
}
