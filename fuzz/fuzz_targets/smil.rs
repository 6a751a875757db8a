//! SMIL manifests.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = vodpack_media::source::smil::parse(data);
});
