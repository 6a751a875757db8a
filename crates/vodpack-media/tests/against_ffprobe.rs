//! The MP4 index checked against an independent reader: for every track of every generated test
//! file, the sample count, sizes, byte positions, key-frame times and total duration must equal
//! what `ffprobe -show_packets` reports. The media comes from `scripts/make-test-media.sh`.

use std::path::Path;
use std::process::Command;

use vodpack_media::index::{Track, TrackKind};
use vodpack_media::source::mp4::{Limits, parse_box_header, parse_moov};

mod common;
use common::media_dir;

fn index_file(path: &Path) -> Vec<Track> {
    let data = std::fs::read(path).unwrap();
    let mut pos = 0usize;
    loop {
        let h = parse_box_header(&data[pos..]).unwrap().expect("box header");
        let size = h.size.map_or(data.len() - pos, |s| s as usize);
        if &h.kind == b"moov" {
            let parsed = parse_moov(
                &data[pos..pos + size],
                0,
                0,
                data.len() as u64,
                &Limits::default(),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            return parsed.tracks;
        }
        pos += size;
        assert!(pos < data.len(), "no moov in {}", path.display());
    }
}

#[derive(Debug)]
struct Packet {
    pts: f64,
    duration: f64,
    size: u64,
    pos: u64,
    key: bool,
}

fn ffprobe_packets(path: &Path, stream: usize) -> Vec<Packet> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            &stream.to_string(),
            "-show_entries",
        ])
        .arg("packet=pts_time,duration_time,size,pos,flags")
        .args(["-of", "csv=p=0:nk=0"])
        .arg(path)
        .output()
        .expect("ffprobe (apt-get install ffmpeg)");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let mut p = Packet {
                pts: 0.0,
                duration: 0.0,
                size: 0,
                pos: 0,
                key: false,
            };
            for field in line.split(',') {
                let Some((k, v)) = field.split_once('=') else {
                    continue;
                };
                match k {
                    "pts_time" => p.pts = v.parse().unwrap(),
                    "duration_time" => p.duration = v.parse().unwrap_or(0.0),
                    "size" => p.size = v.parse().unwrap(),
                    "pos" => p.pos = v.parse().unwrap_or(u64::MAX),
                    "flags" => p.key = v.starts_with('K'),
                    _ => {}
                }
            }
            p
        })
        .collect()
}

fn compare(path: &Path) -> usize {
    let tracks = index_file(path);
    for (stream, t) in tracks.iter().enumerate() {
        let what = format!("{} track {stream} ({})", path.display(), t.codec_string);
        let packets = ffprobe_packets(path, stream);
        assert_eq!(t.samples.len(), packets.len(), "{what}: sample count");
        let ts = f64::from(t.timescale);
        for (i, p) in packets.iter().enumerate() {
            assert_eq!(
                u64::from(t.samples.size[i]),
                p.size,
                "{what}: size of sample {i}"
            );
            assert_eq!(t.samples.offset[i], p.pos, "{what}: position of sample {i}");
            assert_eq!(
                t.samples.keyframe[i], p.key,
                "{what}: key flag of sample {i}"
            );
        }
        // Presentation times, edit lists applied, in presentation order.
        let mut ours: Vec<f64> = (0..t.samples.len()).map(|i| t.pts(i) as f64 / ts).collect();
        let mut theirs: Vec<f64> = packets.iter().map(|p| p.pts).collect();
        ours.sort_by(f64::total_cmp);
        theirs.sort_by(f64::total_cmp);
        for (a, b) in ours.iter().zip(&theirs) {
            assert!((a - b).abs() < 0.0015, "{what}: pts {a} vs ffprobe {b}");
        }
        let key_ours = t.keyframe_times();
        let key_theirs: Vec<f64> = packets.iter().filter(|p| p.key).map(|p| p.pts).collect();
        assert_eq!(key_ours.len(), key_theirs.len(), "{what}: key frames");
        for (a, b) in key_ours.iter().zip(&key_theirs) {
            assert!(
                (a - b).abs() < 0.0015,
                "{what}: key frame at {a} vs ffprobe {b}"
            );
        }
        // Within one frame: ffprobe trims the last frame to the edit list's end, we keep it whole.
        let total: f64 = packets.iter().map(|p| p.duration).sum();
        let frame = f64::from(t.last_sample_duration) / ts;
        assert!(
            (t.duration_seconds() - total).abs() <= frame + 0.0005,
            "{what}: duration {} vs ffprobe {total}",
            t.duration_seconds()
        );
        if t.codec.kind() == TrackKind::Video {
            assert!(
                t.width > 0 && t.height > 0 && t.frame_rate.is_some(),
                "{what}"
            );
        } else {
            assert!(t.channels > 0 && t.sample_rate > 0, "{what}");
        }
        assert!(
            t.avg_bitrate > 0 && t.peak_bitrate >= t.avg_bitrate,
            "{what}"
        );
    }
    tracks.len()
}

#[test]
fn mp4_index_matches_ffprobe() {
    let dir = media_dir();
    let mut tracks = 0;
    for f in [
        "ladder/ladder_360p.mp4",
        "ladder/ladder_540p.mp4",
        "ladder/ladder_720p.mp4",
        "ladder_faststart.mp4",
        "hevc.mp4",
        "two_audio.mp4",
        "ac3.mp4",
        "eac3.mp4",
        "co64.mp4",
        "negative_cts.mp4",
    ] {
        tracks += compare(&dir.join(f));
    }
    assert_eq!(tracks, 21);
}

#[test]
fn codec_strings_and_properties() {
    let dir = media_dir();
    let t = index_file(&dir.join("ladder/ladder_720p.mp4"));
    assert_eq!(t[0].codec_string, "avc1.64001f");
    assert_eq!((t[0].width, t[0].height), (1280, 720));
    assert_eq!(t[0].frame_rate, Some((25, 1)));
    assert_eq!(t[1].codec_string, "mp4a.40.2");
    assert_eq!((t[1].channels, t[1].sample_rate), (2, 48000));
    assert_eq!(t[1].language.as_deref(), Some("eng"));
    let t = index_file(&dir.join("ladder/ladder_360p.mp4"));
    assert!(
        t[0].codec_string.starts_with("avc1.4d40"),
        "{}",
        t[0].codec_string
    );
    let t = index_file(&dir.join("hevc.mp4"));
    assert!(
        t[0].codec_string.starts_with("hvc1.1.6.L"),
        "{}",
        t[0].codec_string
    );
    let t = index_file(&dir.join("two_audio.mp4"));
    assert_eq!(t[1].language.as_deref(), Some("eng"));
    assert_eq!(t[2].language.as_deref(), Some("fra"));
    assert_eq!(index_file(&dir.join("ac3.mp4"))[1].codec_string, "ac-3");
    assert_eq!(index_file(&dir.join("eac3.mp4"))[1].codec_string, "ec-3");
    // Same samples whether moov is first or last.
    let a = index_file(&dir.join("ladder/ladder_720p.mp4"));
    let b = index_file(&dir.join("ladder_faststart.mp4"));
    assert_eq!(a[0].samples.size, b[0].samples.size);
    assert_eq!(a[0].samples.dts, b[0].samples.dts);
    assert_ne!(a[0].samples.offset, b[0].samples.offset);
    // 64-bit chunk offsets and signed composition offsets read to the same samples and times.
    let base = index_file(&dir.join("ladder/ladder_360p.mp4"));
    let co64 = index_file(&dir.join("co64.mp4"));
    assert_eq!(base[0].samples.offset, co64[0].samples.offset);
    let neg = index_file(&dir.join("negative_cts.mp4"));
    assert!(
        neg[0].samples.cts_offset.iter().any(|c| *c < 0),
        "ctts v1 has negative offsets"
    );
    let pts = |t: &Track| (0..t.samples.len()).map(|i| t.pts(i)).collect::<Vec<_>>();
    assert_eq!(
        pts(&base[0]),
        pts(&neg[0]),
        "same presentation times with or without edit list"
    );
}

/// Walks the file as ingest does (header reads, then moov) and returns the outcome.
fn ingest_file(path: &Path) -> Result<usize, vodpack_media::MediaError> {
    use vodpack_media::source::mp4::{TOP_LEVEL_HEADER_BYTES, TopLevel, next_top_level};
    let data = std::fs::read(path).unwrap();
    let size = data.len() as u64;
    let limits = Limits::default();
    let mut pos = 0u64;
    loop {
        let end = (pos + TOP_LEVEL_HEADER_BYTES).min(size) as usize;
        let header = data.get(pos as usize..end).unwrap_or_default();
        match next_top_level(header, pos, size, &limits)? {
            TopLevel::Next(p) => pos = p,
            TopLevel::Moov { offset, size: n } => {
                let moov = &data[offset as usize..(offset + n) as usize];
                return Ok(parse_moov(moov, 0, 0, size, &limits)?.tracks.len());
            }
        }
    }
}

#[test]
fn broken_inputs_are_refused_with_a_reason() {
    let dir = media_dir().join("broken");
    let cases = [
        ("truncated.mp4", "truncated source"),
        ("corrupt_box.mp4", "corrupt source"),
        ("unsupported_codec.mp4", "unsupported source"),
        ("not_media.mp4", "not a supported container"),
        ("empty.mp4", "not a supported container"),
        ("encrypted.mp4", "encrypted source"),
    ];
    for (file, want) in cases {
        let err = ingest_file(&dir.join(file)).expect_err(file);
        assert!(err.to_string().starts_with(want), "{file}: {err}");
    }
    assert_eq!(ingest_file(&dir.join("aligned_360p.mp4")).unwrap(), 2);
    // Every prefix of a good file is refused cleanly (no panic), and so is every single-byte
    // corruption of its moov.
    let good = std::fs::read(dir.join("aligned_360p.mp4")).unwrap();
    let tmp = std::env::temp_dir().join(format!("vodpack-prefix-{}.mp4", std::process::id()));
    for cut in [0, 7, 8, 40, 1000, good.len() / 3, good.len() - 1] {
        std::fs::write(&tmp, &good[..cut]).unwrap();
        assert!(ingest_file(&tmp).is_err(), "prefix of {cut} bytes");
    }
    let moov_at = good.windows(4).position(|w| w == b"moov").unwrap() - 4;
    for i in (moov_at..good.len()).step_by(97) {
        let mut bad = good.clone();
        bad[i] ^= 0x5a;
        std::fs::write(&tmp, &bad).unwrap();
        let _ = ingest_file(&tmp);
    }
    std::fs::remove_file(&tmp).ok();
}

/// Scans the TS files of `dir` whose names start with `prefix` like ingest does, checks every
/// track against ffprobe per file, and returns the tracks.
fn check_ts(dir: &Path, prefix: &str) -> Vec<Track> {
    use vodpack_media::source::ts::TsScanner;
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n.starts_with(prefix) && n.ends_with(".ts")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{prefix}");
    let mut scanner = TsScanner::new(0, prefix, 1_000_000);
    for (i, f) in files.iter().enumerate() {
        scanner
            .feed(&std::fs::read(f).unwrap(), i as u32, 0, prefix)
            .unwrap();
    }
    let tracks = scanner.finish().unwrap();
    for (stream, t) in tracks.iter().enumerate() {
        let mut theirs = Vec::new();
        for (i, f) in files.iter().enumerate() {
            theirs.extend(
                ffprobe_packets(f, stream)
                    .into_iter()
                    .map(|p| (i as u32, p)),
            );
        }
        let what = format!(
            "{} {prefix} stream {stream} ({})",
            dir.display(),
            t.codec_string
        );
        assert_eq!(t.samples.len(), theirs.len(), "{what}: sample count");
        for (i, (object, p)) in theirs.iter().enumerate() {
            assert_eq!(t.samples.object[i], *object, "{what}: object of sample {i}");
            let ours = u64::from(t.samples.size[i]);
            if t.codec == vodpack_media::index::Codec::H265 {
                // ffmpeg's HEVC parser re-splits access units at 3-byte start codes, moving the
                // leading zero of the next unit's 4-byte start code onto this one; our sizes are
                // the PES payloads, which is what is carried.
                assert!(
                    ours.abs_diff(p.size) <= 1,
                    "{what}: size of sample {i}: {ours} vs {}",
                    p.size
                );
            } else {
                assert_eq!(ours, p.size, "{what}: size of sample {i}");
            }
            assert_eq!(
                t.samples.keyframe[i],
                p.key || t.codec.kind() == TrackKind::Audio,
                "{what}: key flag {i}"
            );
            let pts = t.pts(i) as f64 / 90_000.0;
            assert!(
                (pts - p.pts).abs() < 0.0015,
                "{what}: pts {pts} vs ffprobe {}",
                p.pts
            );
            if t.codec.kind() == TrackKind::Video {
                assert_eq!(t.samples.offset[i], p.pos, "{what}: position of sample {i}");
            }
        }
        // Re-read every sample the way egress will: PID payloads from `offset`, minus `skip`.
        for i in 0..t.samples.len() {
            let bytes = std::fs::read(&files[t.samples.object[i] as usize]).unwrap();
            let got = read_ts_sample(
                &bytes,
                t.ts_pid,
                t.samples.offset[i],
                t.samples.skip[i],
                t.samples.size[i],
            );
            match t.codec {
                vodpack_media::index::Codec::H264 | vodpack_media::index::Codec::H265 => {
                    assert_eq!(&got[..4], &[0, 0, 0, 1], "{what}: sample {i} is Annex B")
                }
                vodpack_media::index::Codec::Aac => {
                    assert_eq!(got[0], 0xff, "{what}: sample {i}: ADTS sync")
                }
                _ => assert_eq!(&got[..2], &[0x0b, 0x77], "{what}: sample {i}: AC-3 sync"),
            }
        }
    }
    tracks
}

#[test]
fn ts_index_matches_ffprobe() {
    let dir = media_dir();
    for rendition in ["360p", "540p", "720p"] {
        let tracks = check_ts(&dir.join("hls"), rendition);
        assert_eq!(tracks.len(), 2, "{rendition}: video and audio");
    }
    // H.265 video and AC-3 / E-AC-3 audio in TS: same properties as the MP4s they came from.
    let mp4 = |f: &str| index_file(&dir.join(f));
    let hevc = check_ts(&dir.join("hls_hevc"), "seg");
    let src = mp4("hevc.mp4");
    assert_eq!(hevc[0].codec_string, src[0].codec_string);
    assert_eq!(
        (hevc[0].width, hevc[0].height),
        (src[0].width, src[0].height)
    );
    let ac3 = check_ts(&dir.join("hls_ac3"), "seg");
    assert_eq!(ac3[1].codec_string, "ac-3");
    assert_eq!(
        ac3[1].codec_config,
        mp4("ac3.mp4")[1].codec_config,
        "dac3 from the frame header"
    );
    assert_eq!((ac3[1].channels, ac3[1].sample_rate), (2, 48000));
    let eac3 = check_ts(&dir.join("hls_eac3"), "seg");
    assert_eq!(eac3[1].codec_string, "ec-3");
    assert_eq!((eac3[1].channels, eac3[1].sample_rate), (2, 48000));
    assert_eq!(eac3[1].codec_config.len(), 5);
}

/// Egress's view of a TS sample, through the library's reader.
fn read_ts_sample(ts: &[u8], pid: u16, offset: u64, skip: u32, size: u32) -> Vec<u8> {
    vodpack_media::source::ts::read_sample(ts, 0, pid, offset, skip, size)
        .expect("sample runs past the end of the segment")
}

/// Segment cutting on the ladder: the duration rounds to a GOP multiple, every sample of every
/// track lands in exactly one segment, video segments start on key frames at the same times in
/// every rendition, and audio is cut at the same times.
#[test]
fn segmentation_covers_every_sample_once() {
    use vodpack_media::index::{MediaIndex, SourceKind};
    use vodpack_media::plan::Segmentation;
    let dir = media_dir();
    let mut tracks = Vec::new();
    for (i, f) in ["ladder_360p.mp4", "ladder_540p.mp4", "ladder_720p.mp4"]
        .iter()
        .enumerate()
    {
        for t in index_file(&dir.join("ladder").join(f)) {
            if i == 0 || t.codec.kind() == TrackKind::Video {
                tracks.push(t);
            }
        }
    }
    let index = MediaIndex {
        source: SourceKind::Smil,
        objects: vec![],
        versions: Vec::new(),
        tracks,
        warnings: vec![],
    };
    for (target, count, seconds) in [
        (6, 2, 6.0),
        (5, 2, 6.0),
        (3, 3, 4.0),
        (1, 6, 2.0),
        (30, 1, 12.0),
    ] {
        let seg = Segmentation::new(&index, target).unwrap();
        assert_eq!(seg.count(), count, "target {target}");
        assert!(
            (seg.duration_seconds(0) - seconds).abs() < 1e-9,
            "target {target}"
        );
        for t in &index.tracks {
            let mut next = 0;
            for i in 0..seg.count() {
                let r = seg.samples(t, i);
                assert_eq!(
                    r.start, next,
                    "target {target}: gap or overlap before segment {i}"
                );
                next = r.end;
                if t.codec.kind() == TrackKind::Video {
                    assert!(
                        t.samples.keyframe[r.start],
                        "target {target}: segment {i} starts on a key frame"
                    );
                    let start = t.pts(r.start) as f64 / f64::from(t.timescale);
                    let want = seg.starts[i] as f64 / f64::from(seg.timescale);
                    assert!(
                        (start - want).abs() < 0.021,
                        "target {target}: rendition cut at {start}, not {want}"
                    );
                } else if r.start > 0 && r.start < t.samples.len() {
                    let at = seg.starts[i] as f64 / f64::from(seg.timescale);
                    let ts = f64::from(t.timescale);
                    assert!(t.pts(r.start) as f64 / ts >= at - 1e-9);
                    assert!((t.pts(r.start - 1) as f64 / ts) < at);
                }
            }
            assert_eq!(
                next,
                t.samples.len(),
                "target {target}: samples after the last segment"
            );
        }
    }
}
