//! MPEG-TS segments: the scanner over arbitrary bytes (split into two segments), and every
//! sample it finds must lie inside its segment.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vodpack_media::source::ts::TsScanner;

fuzz_target!(|data: &[u8]| {
    let mut s = TsScanner::new(0, "fuzz", 100_000);
    let cut = (data.len() / 2) / 188 * 188;
    let (a, b) = data.split_at(cut);
    if s.feed(a, 0, 0, "a").is_ok() && s.feed(b, 1, 0, "b").is_ok()
        && let Ok(tracks) = s.finish()
    {
        for t in &tracks {
            assert!(t.samples.consistent());
            for i in 0..t.samples.len() {
                let len = if t.samples.object[i] == 0 { a.len() } else { b.len() };
                assert!((t.samples.offset[i] as usize) < len.max(1));
            }
        }
    }
});
