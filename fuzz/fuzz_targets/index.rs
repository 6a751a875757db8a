//! The index's binary form: decoding never panics, and what decodes re-encodes to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vodpack_media::index;

fuzz_target!(|data: &[u8]| {
    if let Ok(idx) = index::decode(data) {
        let again = index::encode(&idx);
        assert_eq!(index::decode(&again).ok().as_ref(), Some(&idx));
    }
});
