//! Encrypted fMP4 end to end: the 720p rendition of the test media (H.264 + AAC, MP4 source)
//! packaged through the chain as DASH `cenc` and CMAF `cbcs` with a fixed key, each track's
//! init section + fragments concatenated, then:
//! - ffmpeg decrypts it (`-decryption_key`) and its decode MD5 must equal the clear
//!   packaging's; with a wrong key it must not;
//! - an independent decryptor (`tests/decrypt/fmp4.py`, Python `cryptography`, its own box
//!   walker) decrypts one fragment and must give the clear fragment's samples byte for byte.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use bytes::Bytes;
use vodpack_media::codec::nal::LengthPrefixed;
use vodpack_media::index::{MediaIndex, SourceKind, TrackKind};
use vodpack_media::mux::fmp4::FragmentKind;
use vodpack_media::package::chain::encrypt::subsample::VideoMap;
use vodpack_media::package::chain::fmp4::{self as chain, Fmp4Style};
use vodpack_media::package::keys::{ContentKey, KeySet, KeyUse};
use vodpack_media::package::spec::{
    CmafSpec, DashSpec, EncryptionSpec, Format, HlsMethod, SegmentTemplateFormat, SpekeSpec,
};
use vodpack_media::package::{PackageSpec, Presentation, SourceBytes};
use vodpack_media::plan::Segmentation;

mod common;

const KID: &str = "00112233445566778899aabbccddeeff";
const KEY: &str = "0f0e0d0c0b0a09080706050403020100";
const WRONG: &str = "00000000000000000000000000000001";

fn hex16(s: &str) -> [u8; 16] {
    let v: Vec<u8> = (0..32)
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

fn dash() -> Format {
    Format::Dash(DashSpec {
        manifests: Vec::new(),
        include_encoder_configuration_in_segments: false,
        include_iframe_only_stream: false,
        period_on_ads: false,
        segment_template_format: SegmentTemplateFormat::NumberWithTimeline,
    })
}

fn cmaf() -> Format {
    Format::Cmaf(CmafSpec {
        manifests: Vec::new(),
        include_encoder_configuration_in_segments: false,
    })
}

fn presentation(index: &Arc<MediaIndex>, format: Format, encrypted: bool) -> Presentation {
    let encryption = encrypted.then(|| EncryptionSpec {
        speke: SpekeSpec {
            url: "https://keys.example/speke".into(),
            role_arn: "arn:aws:iam::000000000000:role/speke".into(),
            system_ids: Vec::new(),
            presets: None,
        },
        hls_method: HlsMethod::Aes128,
        constant_iv: None,
    });
    let keys = encrypted.then(|| {
        Arc::new(KeySet {
            keys: vec![(
                KeyUse::all(),
                ContentKey {
                    kid: hex16(KID),
                    key: hex16(KEY),
                    explicit_iv: None,
                },
            )],
            systems: Vec::new(),
        })
    });
    Presentation {
        seg: Arc::new(Segmentation::new(index, 6).expect("segments")),
        index: index.clone(),
        spec: Arc::new(PackageSpec {
            segment_seconds: 6,
            encryption,
            format,
        }),
        manifest: 0,
        manifest_name: "index".into(),
        created_at_ms: None,
        keys,
    }
}

const STYLE: Fmp4Style = Fmp4Style {
    in_band: false,
    timescale: None,
};

/// Init section and every fragment of track `t`, each as one buffer.
fn files(p: &Presentation, t: usize, source: &SourceBytes) -> Vec<Vec<u8>> {
    let mut out = vec![chain::init(p, t, STYLE).unwrap()];
    for s in 0..p.seg.count() {
        if p.seg.samples(&p.index.tracks[t], s).is_empty() {
            continue;
        }
        let body = chain::fragment(p, t, s, STYLE, FragmentKind::Cmaf, false, source).unwrap();
        out.push(body.iter().flat_map(|b| b.iter().copied()).collect());
    }
    out
}

/// MD5 of ffmpeg's decode of `stream` (`v` or `a`) of a concatenated file, with a key or not;
/// `None` when ffmpeg fails.
fn decode_md5(file: &[u8], stream: &str, key: Option<&str>) -> Option<String> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-nostdin"]);
    if let Some(k) = key {
        cmd.args(["-decryption_key", k]);
    }
    cmd.args([
        "-i",
        "pipe:0",
        "-map",
        &format!("0:{stream}"),
        "-f",
        "md5",
        "-",
    ]);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ffmpeg");
    let mut stdin = child.stdin.take().unwrap();
    let data = file.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && text.starts_with("MD5=")).then_some(text)
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("vodpack-encrypt-{}-{name}", std::process::id()))
}

fn python() -> PathBuf {
    std::env::var_os("VODPACK_VENV")
        .map(|v| Path::new(&v).join("bin/python3"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| "python3".into())
}

/// The independent decryptor on fragment `k` (1 = the first) of a track.
fn python_decrypts(init: &[u8], enc: &[u8], clear: &[u8], key: &str) -> (bool, String) {
    let paths = [temp("init.mp4"), temp("enc.m4s"), temp("clear.m4s")];
    for (p, b) in paths.iter().zip([init, enc, clear]) {
        std::fs::write(p, b).unwrap();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/decrypt/fmp4.py");
    let out = Command::new(python())
        .arg(script)
        .arg(key)
        .args(&paths)
        .output()
        .expect("run tests/decrypt/fmp4.py");
    for p in &paths {
        let _ = std::fs::remove_file(p);
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn dash_cenc_and_cmaf_cbcs_decrypt_to_the_clear_packaging() {
    let raw = std::fs::read(common::media_dir().join("ladder/ladder_720p.mp4")).unwrap();
    let index = Arc::new(MediaIndex {
        source: SourceKind::Mp4,
        objects: vec!["ladder_720p.mp4".into()],
        versions: Vec::new(),
        tracks: common::mp4_tracks(&raw),
        warnings: Vec::new(),
    });
    let source = SourceBytes::new(vec![vec![(0, Bytes::from(raw))]]);
    for (format, scheme) in [(dash(), "cenc"), (cmaf(), "cbcs")] {
        let clear = presentation(&index, format.clone(), false);
        let enc = presentation(&index, format, true);
        for (t, track) in index.tracks.iter().enumerate() {
            let stream = match track.codec.kind() {
                TrackKind::Video => "v",
                TrackKind::Audio => "a",
                _ => continue,
            };
            let what = format!("{scheme} track {t} ({stream})");
            let clear_files = files(&clear, t, &source);
            let enc_files = files(&enc, t, &source);
            assert_eq!(clear_files.len(), enc_files.len());
            // Same sizes fragment by fragment except for the encryption boxes; the media
            // differs (it is encrypted).
            let (clear_all, enc_all) = (clear_files.concat(), enc_files.concat());
            assert_ne!(clear_all, enc_all, "{what}: output not encrypted");
            let reference = decode_md5(&clear_all, stream, None).expect("clear decodes");
            let decrypted = decode_md5(&enc_all, stream, Some(KEY));
            assert_eq!(
                decrypted.as_deref(),
                Some(&reference[..]),
                "{what}: ffmpeg + key"
            );
            let wrong = decode_md5(&enc_all, stream, Some(WRONG));
            assert_ne!(wrong.as_deref(), Some(&reference[..]), "{what}: wrong key");
            // The independent decryptor, on the second fragment (sample indexes past 0, so
            // per-sample IVs are not all the base), then with the wrong key.
            let (ok, text) = python_decrypts(&enc_files[0], &enc_files[2], &clear_files[2], KEY);
            assert!(ok, "{what}: {text}");
            let (ok, text) = python_decrypts(&enc_files[0], &enc_files[2], &clear_files[2], WRONG);
            assert!(!ok, "{what}: a wrong key decrypted: {text}");
        }
    }
}

#[test]
fn h264_slice_headers_of_the_test_media_parse() {
    // Every slice of the 720p rendition (x264 High profile, CABAC, B-frames) has its slice
    // header parsed (not the fixed leader of unparsed headers): a few bytes each.
    let raw = std::fs::read(common::media_dir().join("ladder/ladder_720p.mp4")).unwrap();
    let tracks = common::mp4_tracks(&raw);
    let video = tracks
        .iter()
        .find(|t| t.codec.kind() == TrackKind::Video)
        .unwrap();
    let (len, sets) = vodpack_media::codec::params::avcc_sets(&video.codec_config).unwrap();
    let map = VideoMap::new(false, len, true, &sets);
    let mut slices = 0;
    for i in 0..video.samples.len() {
        let sample = common::sample_bytes(std::slice::from_ref(&raw), video, i);
        for nal in LengthPrefixed::new(&sample, len) {
            let nal = nal.unwrap();
            if (1..=5).contains(&(nal[0] & 0x1f)) {
                let h = map.slice_header_len(nal);
                assert!(h.is_some_and(|h| (3..40).contains(&h)), "sample {i}: {h:?}");
                slices += 1;
            }
        }
    }
    assert!(slices >= video.samples.len());
}

#[test]
fn unencrypted_tracks_and_missing_keys() {
    let raw = std::fs::read(common::media_dir().join("ladder/ladder_720p.mp4")).unwrap();
    let index = Arc::new(MediaIndex {
        source: SourceKind::Mp4,
        objects: vec!["ladder_720p.mp4".into()],
        versions: Vec::new(),
        tracks: common::mp4_tracks(&raw),
        warnings: Vec::new(),
    });
    let source = SourceBytes::new(vec![vec![(0, Bytes::from(raw))]]);
    let clear = presentation(&index, dash(), false);
    // A key set without a key for any track (an UNENCRYPTED preset): the clear bytes.
    let mut none = presentation(&index, dash(), true);
    none.keys = Some(Arc::new(KeySet::default()));
    for t in 0..index.tracks.len() {
        assert_eq!(files(&clear, t, &source), files(&none, t, &source));
    }
    // An encrypted configuration without keys never comes out clear: an error.
    let mut missing = presentation(&index, dash(), true);
    missing.keys = None;
    assert!(chain::init(&missing, 0, STYLE).is_err());
    assert!(chain::fragment(&missing, 0, 0, STYLE, FragmentKind::Cmaf, false, &source).is_err());
}
