//! SubRip subtitles into a text track.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = vodpack_media::source::srt::track(data, 0, 0, None, None) {
        assert!(t.samples.consistent());
        for i in 0..t.samples.len() {
            let end = t.samples.offset[i] as usize + t.samples.size[i] as usize;
            assert!(end <= data.len(), "cue text outside the file");
        }
    }
});
