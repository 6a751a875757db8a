//! HLS parent and media playlists.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = vodpack_media::source::hls::parse_parent(data);
    let _ = vodpack_media::source::hls::parse_media(data);
});
