//! The fragmented-MP4 writer checked by independent readers: every audio/video track of the
//! test media is written as an init segment followed by all its fragments, then ffmpeg must
//! decode the file without a single error and ffprobe must see every sample with the size, key
//! flag and output times computed here from the index (the timing rule restated, not our
//! writer's numbers). Smooth fragments are parsed back with mp4-atom.

use std::path::{Path, PathBuf};
use std::process::Command;

use mp4_atom::{Atom, Decode, Header, Moof, TrunSamples, Uuid};
use vodpack_media::index::{Codec, MediaIndex, SourceKind, Track, TrackKind};
use vodpack_media::mux::access_unit::{Parts, parameter_sets};
use vodpack_media::mux::clock::time_shift_us;
use vodpack_media::mux::fmp4::{Fmp4Options, Fmp4Track, FragmentKind, TFXD_UUID};
use vodpack_media::source::ts::TsScanner;

mod common;
use common::{media_dir, mp4_tracks, sample_bytes};

/// An asset as egress sees it: the index and the source objects its samples point into.
struct Source {
    name: String,
    index: MediaIndex,
    objects: Vec<Vec<u8>>,
}

fn mp4_source(dir: &Path, file: &str) -> Source {
    let data = std::fs::read(dir.join(file)).unwrap();
    let tracks = mp4_tracks(&data);
    Source {
        name: file.to_string(),
        index: MediaIndex {
            source: SourceKind::Mp4,
            objects: vec![file.to_string()],
            versions: Vec::new(),
            tracks,
            warnings: Vec::new(),
        },
        objects: vec![data],
    }
}

/// The TS segments of `dir` whose names start with `prefix`, scanned and rebased as ingest does.
fn ts_source(dir: &Path, prefix: &str) -> Source {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n.starts_with(prefix) && n.ends_with(".ts")
        })
        .collect();
    files.sort();
    let objects: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let mut scanner = TsScanner::new(0, prefix, 1_000_000);
    for (i, o) in objects.iter().enumerate() {
        scanner.feed(o, i as u32, 0, prefix).unwrap();
    }
    let mut tracks = scanner.finish().unwrap();
    vodpack_media::source::ts::rebase(&mut tracks);
    Source {
        name: format!("{}/{prefix}", dir.file_name().unwrap().to_string_lossy()),
        index: MediaIndex {
            source: SourceKind::HlsTs,
            objects: files
                .iter()
                .map(|f| f.to_string_lossy().to_string())
                .collect(),
            versions: Vec::new(),
            tracks,
            warnings: Vec::new(),
        },
        objects,
    }
}

// ---- The expectations, derived from the index alone. ----

fn pts(t: &Track, i: usize) -> i64 {
    t.samples.dts[i] + i64::from(t.samples.cts_offset[i]) + t.presentation_offset
}

fn earliest(t: &Track) -> i64 {
    (0..t.samples.len().min(32))
        .map(|i| pts(t, i))
        .min()
        .unwrap()
}

/// max(0, −earliest presentation time) over the tracks, in µs rounded up.
fn expected_shift_us(index: &MediaIndex) -> u64 {
    index
        .tracks
        .iter()
        .map(|t| {
            let e = earliest(t);
            if e >= 0 {
                0
            } else {
                ((-e) as u64 * 1_000_000).div_ceil(u64::from(t.timescale))
            }
        })
        .max()
        .unwrap_or(0)
}

fn rescale(x: i64, from: u32, to: u32) -> i64 {
    if from == to {
        x
    } else {
        (x as f64 * f64::from(to) / f64::from(from)).round() as i64
    }
}

/// (dts, pts) of every sample in the output timescale: the first sample decodes at the track's
/// earliest presentation time, everything moved by the asset-wide shift.
fn expected_times(t: &Track, shift_us: u64, out_ts: u32) -> (Vec<i64>, Vec<i64>) {
    let delta = earliest(t) - t.samples.dts[0];
    let shift = (shift_us as f64 * f64::from(out_ts) / 1e6).round() as i64;
    let n = t.samples.len();
    let dts = (0..n)
        .map(|i| rescale(t.samples.dts[i] + delta, t.timescale, out_ts) + shift)
        .collect();
    let pts = (0..n)
        .map(|i| rescale(pts(t, i), t.timescale, out_ts) + shift)
        .collect();
    (dts, pts)
}

/// NAL units of Annex B bytes (start codes and trailing zeros removed).
fn split_annexb(b: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    for i in 0..b.len().saturating_sub(2) {
        if b[i] == 0 && b[i + 1] == 0 && b[i + 2] == 1 {
            starts.push(i + 3);
        }
    }
    let mut out = Vec::new();
    for (k, s) in starts.iter().enumerate() {
        let mut e = starts.get(k + 1).map_or(b.len(), |n| n - 3);
        while e > *s && b[e - 1] == 0 {
            e -= 1;
        }
        out.push(&b[*s..e]);
    }
    out
}

/// The size an MP4 sample of this source sample must have: MP4 sources unchanged; TS video
/// re-framed with 4-byte lengths, without delimiters (and parameter sets unless in band); ADTS
/// AAC without its header.
fn expected_size(t: &Track, bytes: &[u8], in_band: bool) -> usize {
    if t.ts_pid == 0 {
        return bytes.len();
    }
    match t.codec {
        Codec::H264 | Codec::H265 => split_annexb(bytes)
            .into_iter()
            .filter(|n| {
                let ty = if t.codec == Codec::H264 {
                    n[0] & 0x1f
                } else {
                    (n[0] >> 1) & 0x3f
                };
                let (aud, sets): (&[u8], &[u8]) = if t.codec == Codec::H264 {
                    (&[9], &[7, 8])
                } else {
                    (&[35], &[32, 33, 34])
                };
                !aud.contains(&ty) && (in_band || !sets.contains(&ty))
            })
            .map(|n| n.len() + 4)
            .sum(),
        Codec::Aac => bytes.len() - if bytes[1] & 1 == 1 { 7 } else { 9 },
        _ => bytes.len(),
    }
}

// ---- Writing and reading back. ----

struct Written {
    file: Vec<u8>,
    /// First sample of each fragment.
    starts: Vec<usize>,
    /// Each fragment's bytes (for Smooth parsing).
    fragments: Vec<Vec<u8>>,
    init: Vec<u8>,
}

/// Init + all fragments of a track, cut every ~4 s (on key frames for video).
fn write_track(
    src: &Source,
    t: &Track,
    opts: Fmp4Options,
    kind: FragmentKind,
    max_fragments: usize,
) -> Written {
    let w = Fmp4Track::new(t, opts).unwrap();
    let init = w.init_segment().unwrap();
    let video = t.codec.kind() == TrackKind::Video;
    let cut = i64::from(t.timescale) * 4;
    let mut starts = vec![0];
    for i in 1..t.samples.len() {
        let since = t.samples.dts[i] - t.samples.dts[*starts.last().unwrap()];
        if since >= cut && (!video || t.samples.keyframe[i]) {
            starts.push(i);
        }
    }
    starts.truncate(max_fragments);
    let mut ends: Vec<usize> = starts[1..].to_vec();
    ends.push(
        if starts.len() == max_fragments && max_fragments < usize::MAX {
            // Truncated: the last kept fragment ends where the next would start.
            (starts.last().unwrap() + 1..t.samples.len())
                .find(|&i| {
                    t.samples.dts[i] - t.samples.dts[*starts.last().unwrap()] >= cut
                        && (!video || t.samples.keyframe[i])
                })
                .unwrap_or(t.samples.len())
        } else {
            t.samples.len()
        },
    );
    let mut file = init.clone();
    let mut fragments = Vec::new();
    for (k, (&s, &e)) in starts.iter().zip(&ends).enumerate() {
        let bytes: Vec<Vec<u8>> = (s..e).map(|i| sample_bytes(&src.objects, t, i)).collect();
        let parts: Vec<Parts> = bytes
            .iter()
            .enumerate()
            .map(|(j, b)| w.sample(b, t.samples.keyframe[s + j]).unwrap())
            .collect();
        let frag = w.fragment(t, k as u32 + 1, s..e, &parts, kind).unwrap();
        file.extend_from_slice(&frag);
        fragments.push(frag);
    }
    Written {
        file,
        starts,
        fragments,
        init,
    }
}

/// Written files are removed unless VODPACK_KEEP_FMP4 is set (to inspect a failure).
fn remove(path: &Path) {
    if std::env::var_os("VODPACK_KEEP_FMP4").is_none() {
        std::fs::remove_file(path).ok();
    }
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "vodpack-fmp4-{}-{}.mp4",
        std::process::id(),
        name.replace(['/', '.', ' '], "_")
    ))
}

/// ffmpeg decodes the whole file without printing anything.
fn assert_decodes(name: &str, path: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && errors.trim().is_empty(),
        "{name}: ffmpeg decode errors: {errors}"
    );
}

fn ffprobe_json(path: &Path, entries: &str) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", entries, "-of", "json"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn num(v: &serde_json::Value) -> i64 {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a number: {v}"))
}

#[derive(Debug)]
struct Packet {
    pts: i64,
    dts: i64,
    /// ffmpeg leaves it out (N/A) on the first AAC packet.
    duration: Option<i64>,
    size: usize,
    key: bool,
}

fn packets(path: &Path) -> Vec<Packet> {
    let v = ffprobe_json(path, "packet=pts,dts,duration,size,flags");
    v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Packet {
            pts: num(&p["pts"]),
            dts: num(&p["dts"]),
            duration: (!p["duration"].is_null()).then(|| num(&p["duration"])),
            size: num(&p["size"]) as usize,
            key: p["flags"].as_str().unwrap_or("").starts_with('K'),
        })
        .collect()
}

fn codec_tag(path: &Path) -> String {
    let v = ffprobe_json(path, "stream=codec_tag_string");
    v["streams"][0]["codec_tag_string"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Writes every audio/video track of `src` and checks it with ffmpeg/ffprobe.
fn check_source(src: &Source, in_band: bool) -> usize {
    let shift_us = time_shift_us(&src.index);
    assert_eq!(
        shift_us,
        expected_shift_us(&src.index),
        "{}: shift",
        src.name
    );
    let mut checked = 0;
    for (k, t) in src.index.tracks.iter().enumerate() {
        if t.codec.kind() == TrackKind::Subtitle || (in_band && t.codec.kind() != TrackKind::Video)
        {
            continue;
        }
        let name = format!(
            "{} track {k} ({}){}",
            src.name,
            t.codec.name(),
            if in_band { " in-band" } else { "" }
        );
        let opts = Fmp4Options {
            track_id: 1,
            shift_us,
            in_band_parameter_sets: in_band,
            timescale: None,
        };
        let written = write_track(src, t, opts, FragmentKind::Cmaf, usize::MAX);
        assert!(written.starts.len() >= 2, "{name}: only one fragment");
        let path = temp_path(&name);
        std::fs::write(&path, &written.file).unwrap();
        assert_decodes(&name, &path);
        if in_band {
            let want = if t.codec == Codec::H264 {
                "avc3"
            } else {
                "hev1"
            };
            assert_eq!(codec_tag(&path), want, "{name}: sample entry");
        }
        let got = packets(&path);
        remove(&path);

        let n = t.samples.len();
        assert_eq!(got.len(), n, "{name}: packet count");
        let (dts, pts) = expected_times(t, shift_us, t.timescale);
        // Parameter sets each key frame gains in band (MP4 sources; TS ones carry their own).
        let sets: usize = if in_band && t.ts_pid == 0 {
            let nal_len = if t.codec == Codec::H264 {
                usize::from(t.codec_config[4] & 3) + 1
            } else {
                usize::from(t.codec_config[21] & 3) + 1
            };
            parameter_sets(t)
                .unwrap()
                .iter()
                .map(|s| s.len() + nal_len)
                .sum()
        } else {
            0
        };
        // ffmpeg's mov demuxer adds its "dts_shift" to the pts of fragmented files: the
        // largest negative composition offset of the truns read so far (one per fragment,
        // read as playback reaches it). Model it rather than loosen the check.
        let mut quirk = vec![0i64; n];
        let mut bound = written.starts.clone();
        bound.push(n);
        let mut shift = 0i64;
        for w in bound.windows(2) {
            for i in w[0]..w[1] {
                shift = shift.max(dts[i] - pts[i]);
            }
            quirk[w[0]..w[1]].iter_mut().for_each(|q| *q = shift);
        }
        for (i, p) in got.iter().enumerate() {
            let bytes = sample_bytes(&src.objects, t, i);
            let key = t.samples.keyframe[i];
            let want_size =
                expected_size(t, &bytes, in_band) + if key && in_band { sets } else { 0 };
            assert_eq!(p.size, want_size, "{name} packet {i}: size");
            assert_eq!(p.key, key, "{name} packet {i}: key flag");
            assert_eq!(p.dts, dts[i], "{name} packet {i}: dts");
            assert_eq!(p.pts, pts[i] + quirk[i], "{name} packet {i}: pts");
            assert!(p.dts >= 0 && p.pts >= 0, "{name} packet {i}: negative time");
            if let (Some(d), Some(next)) = (p.duration, got.get(i + 1)) {
                // No gap or overlap anywhere, fragment boundaries included.
                assert_eq!(p.dts + d, next.dts, "{name} packet {i}: duration");
            }
        }
        let total: i64 = got
            .iter()
            .enumerate()
            .map(|(i, p)| {
                p.duration
                    .or_else(|| got.get(i + 1).map(|next| next.dts - p.dts))
                    .expect("duration of the last packet")
            })
            .sum();
        let frame = (0..n.saturating_sub(1))
            .map(|i| t.samples.dts[i + 1] - t.samples.dts[i])
            .max()
            .unwrap_or(0)
            .max(i64::from(t.last_sample_duration));
        assert!(
            (total - t.duration()).abs() <= frame,
            "{name}: durations sum to {total}, track lasts {}",
            t.duration()
        );
        checked += 1;
    }
    checked
}

#[test]
fn mp4_sources_fragment_and_decode() {
    let dir = media_dir();
    let mut checked = 0;
    for file in [
        "ladder/ladder_360p.mp4",
        "ladder/ladder_540p.mp4",
        "ladder/ladder_720p.mp4",
        "hevc.mp4",
        "ac3.mp4",
        "eac3.mp4",
        "negative_cts.mp4",
        "two_audio.mp4",
    ] {
        checked += check_source(&mp4_source(&dir, file), false);
    }
    assert_eq!(checked, 17);
}

#[test]
fn ts_sources_fragment_and_decode() {
    let dir = media_dir();
    let mut checked = 0;
    for (sub, prefix) in [
        ("hls", "360p_"),
        ("hls", "540p_"),
        ("hls_hevc", "seg_"),
        ("hls_ac3", "seg_"),
        ("hls_eac3", "seg_"),
    ] {
        checked += check_source(&ts_source(&dir.join(sub), prefix), false);
    }
    assert_eq!(checked, 10);
}

#[test]
fn in_band_parameter_sets_decode() {
    let dir = media_dir();
    let mut checked = 0;
    checked += check_source(&mp4_source(&dir, "ladder/ladder_360p.mp4"), true);
    checked += check_source(&mp4_source(&dir, "hevc.mp4"), true);
    checked += check_source(&ts_source(&dir.join("hls_hevc"), "seg_"), true);
    checked += check_source(&ts_source(&dir.join("hls"), "360p_"), true);
    assert_eq!(checked, 4);
}

/// The children of a box body, as (type, body) pairs, read with mp4-atom's header decoder.
fn children(mut body: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let h = Header::decode(&mut body).unwrap();
        let size = h.size.unwrap();
        out.push((h.kind.into(), &body[..size]));
        body = &body[size..];
    }
    out
}

#[test]
fn smooth_fragments_carry_tfxd_and_decode() {
    let dir = media_dir();
    let src = mp4_source(&dir, "ladder/ladder_360p.mp4");
    let shift_us = time_shift_us(&src.index);
    for t in &src.index.tracks {
        let opts = Fmp4Options {
            track_id: 1,
            shift_us,
            in_band_parameter_sets: false,
            timescale: Some(10_000_000),
        };
        let name = format!("smooth {}", t.codec.name());
        let written = write_track(&src, t, opts, FragmentKind::Smooth, 2);
        let (dts, _) = expected_times(t, shift_us, 10_000_000);
        for (k, frag) in written.fragments.iter().enumerate() {
            let start = written.starts[k];
            // moof then mdat, nothing else (no styp in Smooth).
            let top = children(frag);
            let kinds: Vec<&[u8; 4]> = top.iter().map(|(k, _)| k).collect();
            assert_eq!(
                kinds,
                [b"moof", b"mdat"],
                "{name} fragment {k}: top-level boxes"
            );
            let moof = Moof::decode_body(&mut &top[0].1[..]).unwrap();
            assert_eq!(moof.mfhd.sequence_number, k as u32 + 1);
            assert_eq!(moof.traf.len(), 1);
            let traf = &moof.traf[0];
            assert_eq!(traf.tfhd.track_id, 1);
            assert!(traf.tfdt.is_none(), "{name}: Smooth fragments have no tfdt");
            let TrunSamples::Explicit(entries) = &traf.trun[0].samples else {
                panic!("{name}: trun without per-sample fields")
            };
            let count = entries.len();
            let duration: u64 = entries.iter().map(|e| u64::from(e.duration.unwrap())).sum();
            let size: usize = entries.iter().map(|e| e.size.unwrap() as usize).sum();
            assert_eq!(size, top[1].1.len(), "{name}: mdat holds the samples");
            // The data offset (from the moof start) lands on the first mdat payload byte.
            let moof_size = 8 + top[0].1.len();
            assert_eq!(
                traf.trun[0].data_offset.unwrap() as usize,
                moof_size + 8,
                "{name}: data offset"
            );
            // tfxd: inside the traf, version 1, absolute time and duration.
            let traf_body = children(top[0].1)
                .into_iter()
                .find(|(k, _)| k == b"traf")
                .unwrap()
                .1;
            let uuid = children(traf_body)
                .into_iter()
                .find(|(k, _)| k == b"uuid")
                .expect("tfxd box in the traf")
                .1;
            let Uuid::Unknown(et, payload) = Uuid::decode_body(&mut &uuid[..]).unwrap() else {
                panic!("{name}: unexpected uuid box")
            };
            assert_eq!(et, mp4_atom::ExtendedType::new(&TFXD_UUID));
            assert_eq!(payload.len(), 20, "{name}: tfxd v1 payload");
            assert_eq!(payload[0], 1, "{name}: tfxd version");
            let abs = u64::from_be_bytes(payload[4..12].try_into().unwrap());
            let dur = u64::from_be_bytes(payload[12..20].try_into().unwrap());
            assert!(
                (abs as i64 - dts[start]).abs() <= 1,
                "{name} fragment {k}: tfxd time {abs} vs {}",
                dts[start]
            );
            assert_eq!(dur, duration, "{name} fragment {k}: tfxd duration");
            let next = start + count;
            if next < t.samples.len() {
                assert!(
                    (abs as i64 + dur as i64 - dts[next]).abs() <= 1,
                    "{name} fragment {k}: tfxd end"
                );
            }
        }
        // The first fragment plays after a CMAF init of the same track and timescale.
        let mut file = written.init.clone();
        file.extend_from_slice(&written.fragments[0]);
        let path = temp_path(&name);
        std::fs::write(&path, &file).unwrap();
        assert_decodes(&name, &path);
        let got = packets(&path);
        remove(&path);
        assert_eq!(
            got.len(),
            written.starts[1],
            "{name}: packets of fragment 0"
        );
        // Without tfdt a reader starts the fragment at 0 (ffmpeg does not read tfxd for
        // timing): the relative times and durations must still be the expected ones.
        for (i, p) in got.iter().enumerate() {
            assert!(
                (p.dts - got[0].dts - (dts[i] - dts[0])).abs() <= 1,
                "{name} packet {i}: dts {} vs {}",
                p.dts,
                dts[i]
            );
        }
    }
}

#[test]
fn parameter_sets_come_from_the_configuration_record() {
    let dir = media_dir();
    let avc = mp4_source(&dir, "ladder/ladder_360p.mp4");
    let hevc = mp4_source(&dir, "hevc.mp4");
    let hevc_ts = ts_source(&dir.join("hls_hevc"), "seg_");
    let types = |t: &Track| -> Vec<u8> {
        parameter_sets(t)
            .unwrap()
            .iter()
            .map(|s| {
                if t.codec == Codec::H264 {
                    s[0] & 0x1f
                } else {
                    (s[0] >> 1) & 0x3f
                }
            })
            .collect()
    };
    assert_eq!(types(&avc.index.tracks[0]), [7, 8]);
    // (hevc.mp4's hvcC also lists an SEI array: not a parameter set.)
    assert_eq!(types(&hevc.index.tracks[0]), [32, 33, 34]);
    assert_eq!(types(&hevc_ts.index.tracks[0]), [32, 33, 34]);
    // Audio has none.
    assert!(parameter_sets(&avc.index.tracks[1]).unwrap().is_empty());
}

/// A small hand-made track: no input may panic the writer.
fn synthetic(codec: Codec, config: Vec<u8>, ts_pid: u16) -> Track {
    let mut t = Track {
        codec,
        fourcc: *b"avc1",
        codec_config: config,
        codec_string: String::new(),
        language: Some("english".into()),
        name: None,
        stream: 0,
        timescale: 90_000,
        presentation_offset: 0,
        last_sample_duration: 3600,
        width: 640,
        height: 360,
        frame_rate: None,
        channels: 2,
        sample_rate: 48_000,
        ts_pid,
        avg_bitrate: 0,
        peak_bitrate: 0,
        samples: Default::default(),
    };
    for i in 0..3 {
        t.samples.push(0, 0, 10, i * 3600, 0, i == 0);
        if ts_pid != 0 {
            t.samples.skip.push(0);
        }
    }
    t
}

#[test]
fn damaged_input_is_an_error_not_a_panic() {
    let avcc = vec![
        1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 2, 0x68, 0xee,
    ];
    // Configuration records: empty, truncated, garbage.
    for cfg in [vec![], avcc[..9].to_vec(), vec![0xff; 30]] {
        for codec in [
            Codec::H264,
            Codec::H265,
            Codec::Aac,
            Codec::Ac3,
            Codec::Eac3,
        ] {
            let t = synthetic(codec, cfg.clone(), 0);
            let _ = Fmp4Track::new(&t, Fmp4Options::default());
        }
    }
    // Text is not written yet.
    let t = synthetic(Codec::WebVtt, vec![], 0);
    assert!(Fmp4Track::new(&t, Fmp4Options::default()).is_err());
    // Output timescale 0.
    let t = synthetic(Codec::H264, avcc.clone(), 0);
    let zero = Fmp4Options {
        timescale: Some(0),
        ..Default::default()
    };
    assert!(Fmp4Track::new(&t, zero).is_err());

    // Passthrough (MP4 source, no parameter sets in band): the sample goes out as stored,
    // even with NAL lengths that do not add up, without being read.
    let w = Fmp4Track::new(&t, Fmp4Options::default()).unwrap();
    let odd = [0, 0, 0, 9, 0x65, 1];
    let passed = w.sample(&odd, true).unwrap();
    assert_eq!(passed.parts.len(), 1);
    assert!(
        std::ptr::eq(passed.parts[0].as_ptr(), odd.as_ptr()),
        "borrowed, not copied"
    );
    // In band, the NAL lengths are walked (to find an SPS): a sample shorter than its NAL
    // lengths and a truncated length field are refused.
    let in_band = Fmp4Options {
        in_band_parameter_sets: true,
        ..Default::default()
    };
    let wb = Fmp4Track::new(&t, in_band).unwrap();
    assert!(wb.sample(&[0, 0, 0, 9, 0x65, 1], true).is_err());
    assert!(wb.sample(&[0, 0, 0, 2, 0x65, 1, 0, 0], true).is_err());
    assert!(wb.sample(&[0, 0, 0, 2, 0x65, 1], true).is_ok());
    // Fragments: wrong payload count, empty or out-of-range sample ranges.
    let p = w.sample(&[0, 0, 0, 2, 0x65, 1], true).unwrap();
    assert!(
        w.fragment(&t, 1, 0..2, std::slice::from_ref(&p), FragmentKind::Cmaf)
            .is_err()
    );
    assert!(w.fragment(&t, 1, 2..2, &[], FragmentKind::Cmaf).is_err());
    assert!(
        w.fragment(&t, 1, 2..4, &[p.clone(), p.clone()], FragmentKind::Smooth)
            .is_err()
    );
    assert!(
        w.fragment(&t, 1, 2..3, std::slice::from_ref(&p), FragmentKind::Smooth)
            .is_ok()
    );
    // Invalid language falls back to "und" rather than failing.
    assert!(w.init_segment().is_ok());

    // TS sources: Annex B without start codes, ADTS that is not ADTS or is cut short.
    let t = synthetic(Codec::H264, avcc.clone(), 0x100);
    let w = Fmp4Track::new(&t, Fmp4Options::default()).unwrap();
    assert!(w.sample(&[0x65, 1, 2, 3], true).is_err());
    let converted = w
        .sample(&[0, 0, 0, 1, 9, 0xf0, 0, 0, 1, 0x65, 1, 2], true)
        .unwrap();
    assert_eq!(converted.concat(), [0, 0, 0, 3, 0x65, 1, 2]);
    let t = synthetic(Codec::Aac, vec![0x11, 0x90], 0x101);
    let w = Fmp4Track::new(&t, Fmp4Options::default()).unwrap();
    assert!(w.sample(&[1, 2, 3], true).is_err());
    assert!(
        w.sample(&[0xff, 0xf1, 0x50, 0x80, 0x02, 0x1f, 0xfc], true)
            .is_err()
    );
    // A well-formed 9-byte frame (7 header + 2 payload bytes).
    let frame = [0xff, 0xf1, 0x50, 0x80, 0x01, 0x3f, 0xfc, 0xaa, 0xbb];
    assert_eq!(w.sample(&frame, true).unwrap().concat(), [0xaa, 0xbb]);
}

#[test]
fn init_segments_read_back() {
    let dir = media_dir();
    let src = mp4_source(&dir, "two_audio.mp4");
    let hevc = mp4_source(&dir, "hevc.mp4");
    let cases = [
        (&src.index.tracks[0], false, None),
        (&src.index.tracks[1], false, None),
        (&src.index.tracks[2], false, Some(10_000_000)),
        (&hevc.index.tracks[0], true, None),
    ];
    for (t, in_band, timescale) in cases {
        let name = format!("{} in-band {in_band}", t.codec.name());
        let opts = Fmp4Options {
            track_id: 3,
            shift_us: 0,
            in_band_parameter_sets: in_band,
            timescale,
        };
        let init = Fmp4Track::new(t, opts).unwrap().init_segment().unwrap();
        let top = children(&init);
        assert_eq!(top.len(), 2, "{name}");
        assert_eq!(&top[0].0, b"ftyp");
        let ftyp = mp4_atom::Ftyp::decode_body(&mut &top[0].1[..]).unwrap();
        assert!(
            ftyp.compatible_brands.contains(&b"cmfc".into()),
            "{name}: brands"
        );
        assert_eq!(&top[1].0, b"moov");
        // Children in the usual order.
        let kinds = |body: &[u8]| -> Vec<[u8; 4]> { children(body).iter().map(|c| c.0).collect() };
        assert_eq!(
            kinds(top[1].1),
            [*b"mvhd", *b"trak", *b"mvex"],
            "{name}: moov"
        );
        let trak = children(top[1].1)[1].1;
        assert_eq!(kinds(trak), [*b"tkhd", *b"mdia"], "{name}: trak");
        let mdia = children(trak)[1].1;
        assert_eq!(kinds(mdia), [*b"mdhd", *b"hdlr", *b"minf"], "{name}: mdia");
        let media_header = if t.codec.kind() == TrackKind::Video {
            *b"vmhd"
        } else {
            *b"smhd"
        };
        assert_eq!(
            kinds(children(mdia)[2].1),
            [media_header, *b"dinf", *b"stbl"],
            "{name}: minf"
        );

        let moov = mp4_atom::Moov::decode_body(&mut &top[1].1[..]).unwrap();
        let want_ts = timescale.unwrap_or(t.timescale);
        assert_eq!(moov.mvhd.timescale, want_ts);
        assert_eq!(moov.mvhd.next_track_id, 4);
        let trak = &moov.trak[0];
        assert_eq!(trak.tkhd.track_id, 3);
        assert_eq!(trak.mdia.mdhd.timescale, want_ts);
        assert_eq!(
            trak.mdia.mdhd.language,
            t.language.clone().unwrap_or("und".into())
        );
        let stbl = &trak.mdia.minf.stbl;
        assert!(stbl.stts.entries.is_empty() && stbl.stsc.entries.is_empty());
        assert_eq!(stbl.stsd.codecs.len(), 1);
        match (&stbl.stsd.codecs[0], t.codec) {
            (mp4_atom::Codec::Avc1(e), Codec::H264) => {
                assert_eq!(u32::from(e.visual.width), t.width);
                assert_eq!(u32::from(trak.tkhd.width.integer()), t.width);
                assert_eq!(u32::from(trak.tkhd.height.integer()), t.height);
                assert!(!e.avcc.sequence_parameter_sets.is_empty());
            }
            (mp4_atom::Codec::Hev1(e), Codec::H265) => {
                // In band: the record keeps no parameter sets.
                assert!(e.hvcc.arrays.is_empty(), "{name}: hvcC arrays");
            }
            (mp4_atom::Codec::Mp4a(e), Codec::Aac) => {
                let dc = &e.esds.es_desc.dec_config;
                assert_eq!(dc.object_type_indication, 0x40);
                assert_eq!(dc.dec_specific.as_ref().unwrap().raw, t.codec_config);
                assert_eq!(u32::from(e.audio.channel_count), t.channels);
                assert_eq!(u32::from(e.audio.sample_rate.integer()), t.sample_rate);
            }
            (other, _) => panic!("{name}: sample entry {other:?}"),
        }
        let mvex = moov.mvex.unwrap();
        assert_eq!(mvex.trex[0].track_id, 3);
        assert_eq!(mvex.trex[0].default_sample_description_index, 1);
    }
}
