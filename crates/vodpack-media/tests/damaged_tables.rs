//! Damaged sample tables are refused with a reason naming the track and sample: copies of the
//! generated test media with one table entry patched in place (by a box walker of this test's
//! own, not the library's): an stts delta of 0, an stsc run of 0xFFFFFFFF samples per chunk,
//! chunk offsets that make samples overlap (within a track and across tracks), a sample past
//! the end of the file; and a TS whose two video PES share a decode time. Each of these used to be accepted and then served wrongly (files a
//! manifest lists but no request can fetch, or the wrong bytes).

mod common;

use common::media_dir;
use vodpack_media::MediaError;
use vodpack_media::source::mp4::{
    Limits, TOP_LEVEL_HEADER_BYTES, TopLevel, next_top_level, parse_moov,
};

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// Children of the box whose payload is `start..end`: (type, box start, box end).
fn children(b: &[u8], start: usize, end: usize) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    let mut p = start;
    while p + 8 <= end {
        let size = be32(b, p) as usize;
        assert!(size >= 8, "32-bit box sizes only in the test media");
        out.push((
            String::from_utf8_lossy(&b[p + 4..p + 8]).into(),
            p,
            p + size,
        ));
        p += size;
    }
    out
}

/// Offset of the payload (after the full-box version/flags) of `stbl/<name>` in trak `trak`.
fn table(b: &[u8], trak: usize, name: &str) -> usize {
    let top = children(b, 0, b.len());
    let moov = top.iter().find(|c| c.0 == "moov").expect("moov");
    let traks: Vec<_> = children(b, moov.1 + 8, moov.2)
        .into_iter()
        .filter(|c| c.0 == "trak")
        .collect();
    let mut cur = traks[trak].clone();
    for level in ["mdia", "minf", "stbl", name] {
        cur = children(b, cur.1 + 8, cur.2)
            .into_iter()
            .find(|c| c.0 == level)
            .unwrap_or_else(|| panic!("no {level}"));
    }
    cur.1 + 12
}

/// The chunk offset table of a trak: (first entry offset, entry count); 32-bit entries.
fn stco(b: &[u8], trak: usize) -> (usize, usize) {
    let at = table(b, trak, "stco");
    (at + 4, be32(b, at) as usize)
}

/// The source: a muxed file with video (trak 0) and audio (trak 1).
fn good() -> Vec<u8> {
    std::fs::read(media_dir().join("ladder/ladder_360p.mp4")).unwrap()
}

/// Ingest's view of a whole file: top-level walk, then moov.
fn ingest(data: &[u8]) -> Result<usize, MediaError> {
    let size = data.len() as u64;
    let limits = Limits::default();
    let mut pos = 0u64;
    loop {
        let end = (pos + TOP_LEVEL_HEADER_BYTES).min(size) as usize;
        match next_top_level(&data[pos as usize..end], pos, size, &limits)? {
            TopLevel::Next(p) => pos = p,
            TopLevel::Moov { offset, size: n } => {
                let moov = &data[offset as usize..(offset + n) as usize];
                return Ok(parse_moov(moov, 0, 0, size, &limits)?.tracks.len());
            }
        }
    }
}

fn refused(what: &str, data: &[u8], want: &[&str]) {
    let err = ingest(data)
        .map(|n| format!("accepted ({n} tracks)"))
        .expect_err(&format!("{what}: the damaged file was accepted"));
    let msg = err.to_string();
    for w in want {
        assert!(msg.contains(w), "{what}: {msg:?} should contain {w:?}");
    }
}

/// The helpers patch what they mean to: the unpatched file is accepted with both tracks.
#[test]
fn the_healthy_source_is_accepted() {
    let b = good();
    assert_eq!(ingest(&b).unwrap(), 2);
    // Video and audio chunks interleave: the overlap check sees both tracks' spans.
    let (v, _) = stco(&b, 0);
    let (a, _) = stco(&b, 1);
    assert_ne!(be32(&b, v), be32(&b, a));
}

#[test]
fn stts_delta_zero_is_refused() {
    let mut b = good();
    // Audio: the first stts run's delta becomes 0, so its samples share one decode time.
    let at = table(&b, 1, "stts");
    assert!(be32(&b, at) >= 1 && be32(&b, at + 4) >= 2);
    put32(&mut b, at + 8, 0);
    refused(
        "stts delta 0",
        &b,
        &["track 2 (soun)", "sample 1", "stts delta 0"],
    );
}

#[test]
fn stsc_samples_per_chunk_0xffffffff_is_refused() {
    let mut b = good();
    let at = table(&b, 1, "stsc");
    assert!(be32(&b, at) >= 1);
    put32(&mut b, at + 8, 0xFFFF_FFFF);
    refused(
        "stsc 0xFFFFFFFF",
        &b,
        &["track 2 (soun)", "stsc", "room for"],
    );
}

#[test]
fn overlapping_chunks_within_a_track_are_refused() {
    let mut b = good();
    let (at, n) = stco(&b, 0);
    assert!(n >= 2);
    let first = be32(&b, at);
    put32(&mut b, at + 4, first);
    refused(
        "video chunk 2 = chunk 1",
        &b,
        &[
            "track 1 (vide) sample",
            "overlaps track 1 (vide) sample",
            "same bytes",
        ],
    );
}

#[test]
fn overlapping_chunks_across_tracks_are_refused() {
    let mut b = good();
    let (v, _) = stco(&b, 0);
    let (a, _) = stco(&b, 1);
    let video_first = be32(&b, v);
    put32(&mut b, a, video_first);
    refused(
        "audio chunk 1 on video chunk 1",
        &b,
        &["track 1 (vide)", "track 2 (soun)", "overlaps"],
    );
}

#[test]
fn a_sample_past_the_end_is_refused() {
    let mut b = good();
    let (at, n) = stco(&b, 1);
    let len = b.len() as u32;
    put32(&mut b, at + 4 * (n - 1), len - 2);
    refused(
        "last audio chunk at the end of the file",
        &b,
        &["track 2 (soun)", "sample", "the file has only"],
    );
}

/// `good` with field `field` (u32s counted from the first entry) of `stbl/<name>` in trak
/// `trak` set to `value`.
fn patch(trak: usize, name: &str, field: usize, value: u32) -> Vec<u8> {
    let mut b = good();
    let at = table(&b, trak, name) + 4 + 4 * field;
    put32(&mut b, at, value);
    b
}

#[test]
fn timelines_no_output_can_follow_are_refused() {
    // ctts entry 1's offset: ±2^31 ticks.
    for v in [0x7fff_ffff, 0x8000_0000] {
        refused(
            "huge composition offset",
            &patch(0, "ctts", 1, v),
            &["track 1 (vide)", "composition offset", "at sample 1"],
        );
    }
    // stts entry 1's delta: 2^31 ticks per sample, audio and video.
    refused(
        "audio samples of 2^31 ticks",
        &patch(1, "stts", 1, 0x7fff_ffff),
        &["track 2 (soun)", "sample 1 lasts more than 10 s"],
    );
    refused(
        "video samples of 2^31 ticks",
        &patch(0, "stts", 1, 0x7fff_ffff),
        &["track 1 (vide)", "sample 1 lasts more than 10 s"],
    );
    // Video frames 1 tick apart: 12800 frames per second.
    refused(
        "video frames 1 tick apart",
        &patch(0, "stts", 1, 1),
        &["track 1 (vide)", "frames per second"],
    );
    // Harmless damage stays accepted: an empty sample, a later first key frame.
    assert_eq!(ingest(&patch(1, "stsz", 2, 0)).unwrap(), 2);
    assert_eq!(ingest(&patch(0, "stss", 0, 2)).unwrap(), 2);
}

/// PES starts in a TS file: (PID, offset of the PES header 00 00 01 …).
fn pes_starts(ts: &[u8]) -> Vec<(u16, usize)> {
    let mut out = Vec::new();
    for p in (0..ts.len() / 188).map(|i| i * 188) {
        let h = &ts[p..p + 4];
        let pid = (u16::from(h[1] & 0x1f) << 8) | u16::from(h[2]);
        if h[0] != 0x47 || h[1] & 0x40 == 0 || h[3] & 0x10 == 0 {
            continue;
        }
        let mut at = p + 4;
        if h[3] & 0x20 != 0 {
            at += 1 + usize::from(ts[at]);
        }
        if at + 19 <= p + 188 && ts[at..at + 3] == [0, 0, 1] {
            out.push((pid, at));
        }
    }
    out
}

/// TS with two video PES at one decode time: refused like an stts delta of 0.
#[test]
fn ts_repeated_decode_time_is_refused() {
    use vodpack_media::source::ts::TsScanner;
    let good = std::fs::read(media_dir().join("hls/360p_000.ts")).unwrap();
    let scan = |ts: &[u8]| {
        let mut s = TsScanner::new(0, "360p", 1_000_000);
        s.feed(ts, 0, 0, "360p_000.ts")?;
        s.finish()
    };
    assert!(!scan(&good).unwrap().is_empty());
    // The first two PES of the video stream (stream id 0xE0).
    let starts: Vec<usize> = pes_starts(&good)
        .into_iter()
        .filter(|&(_, at)| good[at + 3] == 0xe0)
        .map(|(_, at)| at)
        .collect();
    assert!(starts.len() > 2);
    // PTS and DTS present in both (flags 0b11): copy the first's 10 timestamp bytes over the
    // second's.
    let (a, b) = (starts[0], starts[1]);
    assert!(
        good[a + 7] >> 6 == 3 && good[b + 7] >> 6 == 3,
        "PTS+DTS in both"
    );
    let mut bad = good.clone();
    bad.copy_within(a + 9..a + 19, b + 9);
    let err = match scan(&bad) {
        Ok(t) => panic!(
            "two samples at one decode time were accepted ({} tracks)",
            t.len()
        ),
        Err(e) => e,
    };
    let msg = err.to_string();
    assert!(
        msg.contains("decode timestamps repeat at sample 2"),
        "{msg}"
    );
}
