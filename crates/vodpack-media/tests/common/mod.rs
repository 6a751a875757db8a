//! What the media crate's tests and benches share: the generated test media, MP4 tracks read
//! the way ingest reads them, and sample bytes read the way egress reads them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use vodpack_media::index::Track;
use vodpack_media::source::mp4::{
    Limits, TOP_LEVEL_HEADER_BYTES, TopLevel, next_top_level, parse_moov,
};

/// The folder of generated test media (made by scripts/make-test-media.sh on first use).
pub fn media_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(root.join("scripts/make-test-media.sh"))
        .output()
        .expect("run scripts/make-test-media.sh");
    assert!(
        out.status.success(),
        "make-test-media failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .lines()
            .last()
            .expect("make-test-media prints its folder"),
    )
}

/// The tracks of a whole MP4 file: top-level walk to `moov`, then the moov parser.
pub fn mp4_tracks(data: &[u8]) -> Vec<Track> {
    let size = data.len() as u64;
    let mut pos = 0u64;
    loop {
        let end = (pos + TOP_LEVEL_HEADER_BYTES).min(size) as usize;
        match next_top_level(&data[pos as usize..end], pos, size, &Limits::default()).unwrap() {
            TopLevel::Next(p) => pos = p,
            TopLevel::Moov { offset, size: n } => {
                let moov = &data[offset as usize..(offset + n) as usize];
                return parse_moov(moov, 0, 0, size, &Limits::default())
                    .unwrap()
                    .tracks;
            }
        }
    }
}

/// A sample's bytes as egress reads them: a range of the MP4, or PID payloads of the TS
/// (through the library's egress reader).
pub fn sample_bytes(objects: &[Vec<u8>], t: &Track, i: usize) -> Vec<u8> {
    let data = &objects[t.samples.object[i] as usize];
    let (off, size) = (t.samples.offset[i] as usize, t.samples.size[i] as usize);
    if t.ts_pid == 0 {
        return data[off..off + size].to_vec();
    }
    vodpack_media::source::ts::read_sample(
        data,
        0,
        t.ts_pid,
        off as u64,
        t.samples.skip[i],
        size as u32,
    )
    .expect("sample inside its segment")
}
