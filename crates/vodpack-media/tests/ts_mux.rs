//! The MPEG-TS writer checked by independent readers: whole test files are re-muxed from the
//! index into TS, then ffprobe must see every sample with its timestamps and key flags, and
//! ffmpeg must decode every stream without a single error.

use std::path::PathBuf;
use std::process::Command;

use vodpack_media::index::{Track, TrackKind};
use vodpack_media::mux::access_unit::TsPrep;
use vodpack_media::mux::clock::{TS_TIME_OFFSET, to_90k};
use vodpack_media::mux::ts::TsWriter;
use vodpack_media::source::ts::TsScanner;

mod common;
use common::{media_dir, mp4_tracks, sample_bytes};

/// All samples of the audio/video tracks, interleaved by decode time, as one TS.
fn remux(tracks: &[Track], objects: &[Vec<u8>]) -> Vec<u8> {
    let av: Vec<&Track> = tracks
        .iter()
        .filter(|t| t.codec.kind() != TrackKind::Subtitle)
        .collect();
    let mut w = TsWriter::new(&av.iter().map(|t| t.codec).collect::<Vec<_>>()).unwrap();
    let preps: Vec<TsPrep> = av.iter().map(|t| TsPrep::new(t).unwrap()).collect();
    let mut order: Vec<(i64, usize, usize)> = Vec::new();
    for (k, t) in av.iter().enumerate() {
        for i in 0..t.samples.len() {
            order.push((
                to_90k(t.samples.dts[i] + t.presentation_offset, t.timescale),
                k,
                i,
            ));
        }
    }
    order.sort();
    w.write_tables();
    for (_, k, i) in order {
        let t = av[k];
        let bytes = sample_bytes(objects, t, i);
        let unit = preps[k].unit(&bytes, t.samples.keyframe[i]).unwrap();
        let pts = to_90k(t.pts(i), t.timescale) + TS_TIME_OFFSET;
        let dts = to_90k(t.samples.dts[i] + t.presentation_offset, t.timescale) + TS_TIME_OFFSET;
        w.write_pes(k, pts, dts, t.samples.keyframe[i], &unit)
            .unwrap();
    }
    w.out
}

fn check(name: &str, tracks: &[Track], ts: &[u8], codecs: &[&str]) {
    assert_eq!(ts.len() % 188, 0);
    let path = std::env::temp_dir().join(format!(
        "vodpack-mux-{}-{}.ts",
        std::process::id(),
        name.replace(['/', '.'], "_")
    ));
    std::fs::write(&path, ts).unwrap();
    // Every stream decodes without an error.
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args(["-map", "0", "-f", "null", "-"])
        .output()
        .unwrap();
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && errors.trim().is_empty(),
        "{name}: ffmpeg decode errors: {errors}"
    );
    let probe = |args: &[&str]| {
        let o = Command::new("ffprobe")
            .args(["-v", "error"])
            .args(args)
            .arg(&path)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let streams: serde_json::Value = serde_json::from_str(&probe(&[
        "-show_entries",
        "stream=codec_name",
        "-of",
        "json",
    ]))
    .unwrap();
    let found: Vec<String> = streams["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(found, codecs, "{name}: codecs");
    for (k, t) in tracks
        .iter()
        .filter(|t| t.codec.kind() != TrackKind::Subtitle)
        .enumerate()
    {
        let lines = probe(&[
            "-select_streams",
            &k.to_string(),
            "-show_entries",
            "packet=pts,flags",
            "-of",
            "csv=p=0",
        ]);
        let packets: Vec<(i64, bool)> = lines
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let mut f = l.split(',');
                (
                    f.next().unwrap().parse().unwrap(),
                    f.next().unwrap_or("").starts_with('K'),
                )
            })
            .collect();
        assert_eq!(
            packets.len(),
            t.samples.len(),
            "{name} stream {k}: packet count"
        );
        for (i, (pts, key)) in packets.iter().enumerate() {
            let want = to_90k(t.pts(i), t.timescale) + TS_TIME_OFFSET;
            assert!(
                (pts - want).abs() <= 1,
                "{name} stream {k} packet {i}: pts {pts} vs {want}"
            );
            if t.codec.kind() == TrackKind::Video {
                assert_eq!(
                    *key, t.samples.keyframe[i],
                    "{name} stream {k} packet {i}: key flag"
                );
            }
        }
    }
    std::fs::remove_file(&path).ok();
}

#[test]
fn mp4_sources_remux_to_valid_ts() {
    let dir = media_dir();
    for (file, codecs) in [
        ("ladder/ladder_360p.mp4", ["h264", "aac"]),
        ("hevc.mp4", ["hevc", "aac"]),
        ("ac3.mp4", ["h264", "ac3"]),
        ("eac3.mp4", ["h264", "eac3"]),
    ] {
        let data = std::fs::read(dir.join(file)).unwrap();
        let tracks = mp4_tracks(&data);
        let ts = remux(&tracks, &[data]);
        check(file, &tracks, &ts, &codecs);
    }
}

#[test]
fn ts_sources_remux_to_valid_ts() {
    let dir = media_dir().join("hls");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("540p_")
        })
        .collect();
    files.sort();
    let objects: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let mut scanner = TsScanner::new(0, "540p", 1_000_000);
    for (i, o) in objects.iter().enumerate() {
        scanner.feed(o, i as u32, 0, "540p").unwrap();
    }
    let tracks = scanner.finish().unwrap();
    let ts = remux(&tracks, &objects);
    check("hls-540p", &tracks, &ts, &["h264", "aac"]);
}
