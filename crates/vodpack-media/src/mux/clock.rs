//! The output clock, one place for every output time: the asset-wide shift that keeps output
//! times non-negative ([`time_shift_us`]), TS time (90 kHz, [`to_90k`], starting at
//! [`TS_TIME_OFFSET`] plus that shift: [`ts_offset`]), and the fMP4 rule ([`TrackClock`]): each
//! sample's decode and presentation time on the shifted clock, edit lists and priming folded
//! in, in an optional output timescale (Smooth's 10 MHz), so that all tracks of an asset stay
//! in sync and consecutive fragments tile exactly.

use crate::index::{MediaIndex, Track};

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

/// How many samples from the start of a track are looked at for its earliest presentation
/// time (B-frame reordering never reaches further; keeps per-request set-up O(1)).
const EARLIEST_WINDOW: usize = 32;

/// Earliest presentation time among the first [`EARLIEST_WINDOW`] samples, in track units.
fn earliest_pts(track: &Track) -> Option<i64> {
    (0..track.samples.len().min(EARLIEST_WINDOW))
        .map(|i| pts(track, i))
        .min()
}

/// `Track::pts` without overflow or out-of-range panics (the index may be damaged).
fn pts(track: &Track, i: usize) -> i64 {
    let s = &track.samples;
    s.dts
        .get(i)
        .copied()
        .unwrap_or(0)
        .saturating_add(i64::from(s.cts_offset.get(i).copied().unwrap_or(0)))
        .saturating_add(track.presentation_offset)
}

/// Asset-wide shift in microseconds that makes every output time non-negative:
/// max(0, −(earliest presentation time over all tracks)), rounded up to a whole microsecond.
/// Each track's earliest time is looked up among its first 32 samples only, so this is cheap
/// enough to run per request.
pub fn time_shift_us(index: &MediaIndex) -> u64 {
    index
        .tracks
        .iter()
        .filter(|t| t.timescale > 0)
        .filter_map(earliest_pts_us_neg)
        .max()
        .unwrap_or(0)
}

/// −(earliest presentation time) of a track in µs, rounded up; 0 when it is not negative.
fn earliest_pts_us_neg(t: &Track) -> Option<u64> {
    let e = earliest_pts(t)?;
    if e >= 0 {
        return Some(0);
    }
    let ts = i128::from(t.timescale);
    let us = (-i128::from(e) * 1_000_000 + ts - 1) / ts;
    Some(u64::try_from(us).unwrap_or(u64::MAX))
}

/// The shift of [`time_shift_us`] in 90 kHz ticks.
pub fn time_shift_90k(index: &MediaIndex) -> i64 {
    // Saturating: a damaged index may claim an absurd shift.
    i64::try_from(u128::from(time_shift_us(index)) * 9 / 100).unwrap_or(i64::MAX)
}

/// Where TS output time starts for this asset, in 90 kHz ticks: [`TS_TIME_OFFSET`] plus the
/// asset-wide shift.
pub fn ts_offset(index: &MediaIndex) -> i64 {
    TS_TIME_OFFSET.saturating_add(time_shift_90k(index))
}

/// One track's fMP4 output clock: decode and presentation times of its samples in the output
/// timescale, on the asset-wide shifted clock.
#[derive(Debug, Clone)]
pub struct TrackClock<'t> {
    track: &'t Track,
    timescale: u32,
    /// Added to a decode time so the first sample decodes at the earliest presentation time.
    delta: i64,
    /// `shift_us` in output units.
    shift_out: i64,
}

impl<'t> TrackClock<'t> {
    /// The clock of `track` in `timescale` (non-zero) units, shifted by `shift_us`
    /// ([`time_shift_us`]). Looks at the first samples only.
    pub fn new(track: &'t Track, timescale: u32, shift_us: u64) -> TrackClock<'t> {
        let delta = match (earliest_pts(track), track.samples.dts.first()) {
            (Some(e), Some(d0)) => e.saturating_sub(*d0),
            _ => 0,
        };
        let shift = u128::from(shift_us) * u128::from(timescale);
        let shift_out = i64::try_from((shift + 500_000) / 1_000_000).unwrap_or(i64::MAX);
        TrackClock {
            track,
            timescale,
            delta,
            shift_out,
        }
    }

    /// The output timescale.
    pub fn timescale(&self) -> u32 {
        self.timescale
    }

    /// A time in track units → output units (no shift).
    fn rescale(&self, t: i64) -> i64 {
        if self.timescale == self.track.timescale {
            return t;
        }
        let num = i128::from(t) * i128::from(self.timescale);
        let den = i128::from(self.track.timescale);
        let q = (2 * num + den).div_euclid(2 * den);
        i64::try_from(q).unwrap_or(if q < 0 { i64::MIN } else { i64::MAX })
    }

    /// A presentation-clock time in track units → output time (signed).
    fn out(&self, t: i64) -> i64 {
        self.rescale(t).saturating_add(self.shift_out)
    }

    /// Output decode time of sample `i`; `i` = sample count gives the end of the track.
    pub(crate) fn time(&self, i: usize) -> i64 {
        let dts = &self.track.samples.dts;
        let t = match (dts.get(i), dts.last()) {
            (Some(d), _) => *d,
            (None, Some(last)) => last.saturating_add(i64::from(self.track.last_sample_duration)),
            (None, None) => return self.shift_out,
        };
        self.out(t.saturating_add(self.delta))
    }

    /// Output decode time of sample `i` (what `tfdt` carries for a fragment starting at `i`);
    /// indexes past the end give the end of the track.
    pub fn decode_time(&self, i: usize) -> u64 {
        u64::try_from(self.time(i.min(self.track.samples.len()))).unwrap_or(0)
    }

    /// Output presentation time of sample `i` (decode time + composition offset).
    pub fn presentation_time(&self, i: usize) -> i64 {
        self.out(pts(self.track, i))
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
