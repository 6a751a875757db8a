//! The output writers on whatever a (possibly damaged) stored index says: segment planning,
//! the MPEG-TS and fMP4 writers and their access-unit filters never panic, whatever the track
//! parameters, timestamps or sample bytes (taken from the input itself).
#![no_main]
use libfuzzer_sys::fuzz_target;
use vodpack_media::index;
use vodpack_media::mux::access_unit::TsPrep;
use vodpack_media::mux::clock::time_shift_us;
use vodpack_media::mux::clock::{TS_TIME_OFFSET, to_90k};
use vodpack_media::mux::fmp4::{Fmp4Options, Fmp4Track, FragmentKind};
use vodpack_media::mux::ts::TsWriter;
use vodpack_media::plan::Segmentation;

fuzz_target!(|data: &[u8]| {
    let Ok(idx) = index::decode(data) else {
        return;
    };
    // Bytes of sample i: a window of the input, as long as the index says (capped).
    let bytes = |i: usize, size: u32| -> &[u8] {
        let start = i.wrapping_mul(31) % data.len().max(1);
        let end = (start + size as usize).min(data.len());
        &data[start.min(end)..end]
    };
    let shift = time_shift_us(&idx);
    for seconds in [1u32, 6] {
        let Some(seg) = Segmentation::new(&idx, seconds) else {
            continue;
        };
        for t in &idx.tracks {
            if t.samples.len() > 20_000 {
                continue;
            }
            for s in 0..seg.count().min(8) {
                let range = seg.samples(t, s);
                assert!(range.end <= t.samples.len());
                if let (Ok(prep), Ok(mut w)) = (TsPrep::new(t), TsWriter::new(&[t.codec])) {
                    w.write_tables();
                    for i in range.clone() {
                        let key = t.samples.keyframe[i];
                        if let Ok(unit) = prep.unit(bytes(i, t.samples.size[i]), key) {
                            let pts = to_90k(t.pts(i), t.timescale) + TS_TIME_OFFSET;
                            let dts = to_90k(t.samples.dts[i], t.timescale) + TS_TIME_OFFSET;
                            let _ = w.write_pes(0, pts, dts, key, &unit);
                        }
                    }
                }
                for timescale in [None, Some(10_000_000)] {
                    let opts = Fmp4Options {
                        track_id: 1,
                        shift_us: shift,
                        in_band_parameter_sets: s % 2 == 1,
                        timescale,
                    };
                    let Ok(out) = Fmp4Track::new(t, opts) else {
                        continue;
                    };
                    let _ = out.init_segment();
                    let _ = out.end_time();
                    let payloads: Result<Vec<_>, _> = range
                        .clone()
                        .map(|i| out.sample(bytes(i, t.samples.size[i]), t.samples.keyframe[i]))
                        .collect();
                    if let Ok(p) = payloads {
                        for kind in [FragmentKind::Cmaf, FragmentKind::Smooth] {
                            let _ = out.fragment(t, s as u32 + 1, range.clone(), &p, kind);
                        }
                    }
                }
            }
        }
    }
});
