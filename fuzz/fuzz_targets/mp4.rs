//! MP4 sources: the top-level walk to `moov` and the moov parser, on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vodpack_media::source::mp4::{
    Limits, TOP_LEVEL_HEADER_BYTES, TopLevel, next_top_level, parse_moov,
};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_moov_bytes: 1 << 20,
        max_samples_per_track: 100_000,
        ..Limits::default()
    };
    let size = data.len() as u64;
    let mut pos = 0u64;
    for _ in 0..64 {
        let end = (pos + TOP_LEVEL_HEADER_BYTES).min(size) as usize;
        let header = data.get(pos as usize..end).unwrap_or_default();
        match next_top_level(header, pos, size, &limits) {
            Ok(TopLevel::Next(p)) => pos = p,
            Ok(TopLevel::Moov { offset, size: n }) => {
                let moov = &data[offset as usize..(offset + n) as usize];
                if let Ok(found) = parse_moov(moov, 0, 0, size, &limits) {
                    for t in &found.tracks {
                        assert!(t.samples.consistent());
                        // Outputs cut and name files by decode time: an accepted track's
                        // decode times strictly increase.
                        assert!(t.samples.dts.windows(2).all(|w| w[0] < w[1]));
                        let _ = t.keyframe_times();
                    }
                }
                break;
            }
            Err(_) => break,
        }
    }
    // The input as a moov box itself, with no file-size bound.
    let _ = parse_moov(data, 0, 0, u64::MAX, &limits);
});
