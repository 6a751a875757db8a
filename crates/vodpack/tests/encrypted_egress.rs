//! Encrypted egress end to end through the real binary (#11 "How it is tested"): the SPEKE
//! test key server (`tests/speke/server.py`) and `vodpack serve`; one asset from the ladder
//! SMIL (3 renditions + subtitles, with a `resourceId`), served under encrypted packaging
//! configurations and their clear twins:
//! - HLS AES-128 (SPEKE v1, the AES-128 system id, repeatExtXKey): every segment decrypts
//!   with `openssl enc -d -aes-128-cbc` (IV from the playlist or the media sequence number) to
//!   the clear segment byte for byte, a wrong IV does not; the key behind the playlist's key
//!   URI is the key server's;
//! - HLS SAMPLE-AES (v1, FairPlay): the independent decryptor
//!   (`crates/vodpack-media/tests/decrypt/sample_aes.py`) recovers the clear packaging's slices
//!   and audio frames;
//! - CMAF (v2, PRESET-VIDEO-1/PRESET-AUDIO-1, Widevine + FairPlay, cbcs), DASH (v1
//!   Widevine + PlayReady, cenc; v2 PRESET-VIDEO-2/PRESET-AUDIO-1 so SD and HD get different
//!   keys), Smooth (v1 PlayReady, PIFF): `tests/decrypt/fmp4.py` decrypts every fragment to
//!   the clear fragment's samples, `ffmpeg -decryption_key` decodes one rendition per format
//!   to the clear decode's md5; KIDs (tenc, cenc:default_KID, Smooth's PlayReady header) are
//!   the KIDs the key server was asked for the right track type; pssh boxes, MPD pssh/pro and
//!   the ProtectionHeader are the key server's (its own code computes them);
//! - the key server got one request per asset × encrypted configuration, however many files
//!   were fetched, with `X-Speke-Version: 2.0` exactly for the v2 ones;
//! - `vodpack package --content-id` writes what the server serves, byte for byte;
//! - key server faults (500, a malformed answer) on configurations whose keys were never
//!   fetched: 503 `KeysUnavailable` JSON with Retry-After on every file, few key server calls
//!   (failures are remembered), then encrypted files once the fault is cleared;
//! - no key (hex or base64) ever appears in the server's output (debug logging).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use common::speke::Speke;
use common::*;
use serde_json::{Value, json};

const AES128: &str = "81376844-f976-481e-a84e-cc25d39b0b33";
const FAIRPLAY: &str = "94ce86fb-07ff-4f43-adb8-93d2fa968ca2";
const WIDEVINE: &str = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed";
const PLAYREADY: &str = "9a04f079-9840-4286-ab92-e65be0885f95";
const CONTENT_ID: &str = "res-1";

type Files = BTreeMap<String, Vec<u8>>;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .unwrap_or_else(|e| panic!("base64 {s:?}: {e}"))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn kid_of(uuid: &str) -> [u8; 16] {
    unhex(&uuid.replace('-', ""))
        .try_into()
        .expect("16-byte KID")
}

fn uuid(kid: &[u8; 16]) -> String {
    let h = hex(kid);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn python() -> PathBuf {
    venv().join("bin/python")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn speke_provider(url: &str, systems: &[&str], presets: Option<(&str, &str)>) -> Value {
    let mut v = json!({
        "url": url,
        "roleArn": "arn:aws:iam::111122223333:role/SpekeAccess",
        "systemIds": systems,
    });
    if let Some((video, audio)) = presets {
        v["encryptionContractConfiguration"] =
            json!({"presetSpeke20Video": video, "presetSpeke20Audio": audio});
    }
    v
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Aes128,
    SampleAes,
    Cmaf,
    Dash,
    Mss,
}

/// An encrypted configuration: its id, its package (one member of the create body), its
/// clear twin's id.
struct Enc {
    id: &'static str,
    kind: Kind,
    v2: bool,
    package: Value,
    clear: &'static str,
}

fn clear_configs() -> Vec<(&'static str, Value)> {
    vec![
        ("hls_clear", json!({"hlsPackage": {"hlsManifests": [{}]}})),
        ("cmaf_clear", json!({"cmafPackage": {"hlsManifests": [{}]}})),
        (
            "dash_clear",
            json!({"dashPackage": {"dashManifests": [{}]}}),
        ),
        ("mss_clear", json!({"mssPackage": {"mssManifests": [{}]}})),
    ]
}

fn encrypted_configs(url: &str) -> Vec<Enc> {
    vec![
        Enc {
            id: "hls_aes",
            kind: Kind::Aes128,
            v2: false,
            package: json!({"hlsPackage": {
                "hlsManifests": [{"repeatExtXKey": true}],
                "encryption": {"encryptionMethod": "AES_128",
                    "spekeKeyProvider": speke_provider(url, &[AES128], None)}}}),
            clear: "hls_clear",
        },
        Enc {
            id: "hls_sa",
            kind: Kind::SampleAes,
            v2: false,
            package: json!({"hlsPackage": {
                "hlsManifests": [{}],
                "encryption": {"encryptionMethod": "SAMPLE_AES",
                    "spekeKeyProvider": speke_provider(url, &[FAIRPLAY], None)}}}),
            clear: "hls_clear",
        },
        Enc {
            id: "cmaf_v2",
            kind: Kind::Cmaf,
            v2: true,
            package: json!({"cmafPackage": {
                "hlsManifests": [{}],
                "encryption": {"spekeKeyProvider": speke_provider(url, &[WIDEVINE, FAIRPLAY],
                    Some(("PRESET-VIDEO-1", "PRESET-AUDIO-1")))}}}),
            clear: "cmaf_clear",
        },
        Enc {
            id: "dash_v1",
            kind: Kind::Dash,
            v2: false,
            package: json!({"dashPackage": {
                "dashManifests": [{}],
                "encryption": {"spekeKeyProvider":
                    speke_provider(url, &[WIDEVINE, PLAYREADY], None)}}}),
            clear: "dash_clear",
        },
        Enc {
            id: "dash_v2",
            kind: Kind::Dash,
            v2: true,
            package: json!({"dashPackage": {
                "dashManifests": [{}],
                "encryption": {"spekeKeyProvider": speke_provider(url, &[WIDEVINE],
                    Some(("PRESET-VIDEO-2", "PRESET-AUDIO-1")))}}}),
            clear: "dash_clear",
        },
        Enc {
            id: "mss_v1",
            kind: Kind::Mss,
            v2: false,
            package: json!({"mssPackage": {
                "mssManifests": [{}],
                "encryption": {"spekeKeyProvider": speke_provider(url, &[PLAYREADY], None)}}}),
            clear: "mss_clear",
        },
    ]
}

/// `vodpack serve` with a loopback key server allowed, its output kept, debug logging.
fn start_server() -> Server {
    Server::start_with(Options {
        env: vec![
            ("VODPACK_SPEKE_ALLOW_HTTP_HOSTS".into(), "127.0.0.1".into()),
            ("VODPACK_LOG".into(), "debug".into()),
        ],
        capture_output: true,
        ..Options::default()
    })
}

async fn create_configuration(server: &Server, id: &str, package: &Value) {
    let mut body = package.clone();
    body["id"] = json!(id);
    body["packagingGroupId"] = json!("g");
    let r = signed(
        "POST",
        &server.url("/packaging_configurations"),
        &body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{id}: {}", r.body);
}

/// Group `g`, the ladder under bucket `media`, and asset `a` (resourceId `res-1`) once the
/// configurations exist; returns the SMIL's local path.
async fn ladder_asset(server: &Server, configs: &[(&str, Value)]) -> PathBuf {
    asset_from(server, configs, "ladder", "ladder.smil").await
}

/// [`ladder_asset`] from another folder of the test media.
async fn asset_from(server: &Server, configs: &[(&str, Value)], dir: &str, file: &str) -> PathBuf {
    let bucket = server.data_dir.join("buckets/media");
    copy_tree(&media_dir().join(dir), &bucket.join(dir));
    let r = signed("POST", &server.url("/packaging_groups"), r#"{"id":"g"}"#).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for (id, package) in configs {
        create_configuration(server, id, package).await;
    }
    let body = json!({
        "id": "a", "packagingGroupId": "g", "resourceId": CONTENT_ID,
        "sourceArn": format!("arn:aws:s3:::media/{dir}/{file}"), "sourceRoleArn": ROLE,
    });
    let r = signed("POST", &server.url("/assets"), &body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let statuses = wait_ingest(&server.client(), "a").await;
    assert!(statuses.iter().all(|s| s == "PLAYABLE"), "{statuses:?}");
    bucket.join(dir).join(file)
}

/// The asset's egress base URL (the manifest's folder) per configuration id.
async fn bases(server: &Server) -> BTreeMap<String, String> {
    let r = signed("GET", &server.url("/assets/a"), "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["egressEndpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let url = e["url"].as_str().unwrap();
            (
                e["packagingConfigurationId"].as_str().unwrap().to_string(),
                url[..url.find("/index.").unwrap()].to_string(),
            )
        })
        .collect()
}

/// `vodpack package` of `source` × `config` (a create body) into a fresh folder; extra
/// arguments appended. Returns the files by name (relative to the manifest's folder).
fn package(source: &Path, config: &Value, extra: &[&str]) -> Files {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let out = dir.path().join("out");
    let run = Command::new(bin())
        .arg("package")
        .arg(source)
        .arg("--config")
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let root = out.join("index");
    let mut files = Files::new();
    walk(&root, &root, &mut files);
    files
}

fn walk(root: &Path, dir: &Path, out: &mut Files) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            let name = p.strip_prefix(root).unwrap().display().to_string();
            out.insert(name, std::fs::read(&p).unwrap());
        }
    }
}

/// Every named file under `base`, each answering 200.
async fn fetch_all(base: &str, names: impl Iterator<Item = &String>) -> Files {
    let mut out = Files::new();
    for name in names {
        let u = format!("{base}/{name}");
        let r = reqwest::get(&u).await.unwrap();
        assert_eq!(r.status(), 200, "{u}");
        out.insert(name.clone(), r.bytes().await.unwrap().to_vec());
    }
    out
}

/// One CPIX request the key server received.
#[derive(Debug)]
struct KeyRequest {
    v2: bool,
    /// (KID, intendedTrackType for v2)
    keys: Vec<([u8; 16], Option<String>)>,
    systems: BTreeSet<String>,
}

async fn key_requests(speke: &Speke) -> Vec<KeyRequest> {
    speke
        .requests()
        .await
        .iter()
        .map(|r| {
            let version = r["headers"]["x-speke-version"].as_str();
            assert!(matches!(version, None | Some("2.0")), "{version:?}");
            let doc = El::parse(r["body"].as_str().unwrap());
            let rules: BTreeMap<String, String> = doc
                .one("ContentKeyUsageRuleList")
                .map(|l| {
                    l.all("ContentKeyUsageRule")
                        .iter()
                        .map(|u| {
                            (
                                u.attr("kid").unwrap().to_string(),
                                u.attr("intendedTrackType").unwrap().to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            KeyRequest {
                v2: version.is_some(),
                keys: doc
                    .one("ContentKeyList")
                    .unwrap()
                    .all("ContentKey")
                    .iter()
                    .map(|k| {
                        let kid = k.attr("kid").unwrap();
                        (kid_of(kid), rules.get(kid).cloned())
                    })
                    .collect(),
                systems: doc
                    .one("DRMSystemList")
                    .map(|l| {
                        l.all("DRMSystem")
                            .iter()
                            .map(|d| d.attr("systemId").unwrap().to_lowercase())
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// What one configuration's outputs were checked against: the requests their KIDs came from.
#[derive(Default)]
struct Seen {
    requests: BTreeSet<usize>,
    keys: BTreeMap<[u8; 16], [u8; 16]>,
}

impl Seen {
    /// The request that asked for `kid` (exactly one) and its track type; the key server's
    /// key for it.
    async fn kid(
        &mut self,
        speke: &Speke,
        reqs: &[KeyRequest],
        kid: [u8; 16],
    ) -> (Option<String>, [u8; 16]) {
        let found: Vec<usize> = (0..reqs.len())
            .filter(|&i| reqs[i].keys.iter().any(|k| k.0 == kid))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "KID {} in requests {found:?} (every KID is asked for once)",
            uuid(&kid)
        );
        self.requests.insert(found[0]);
        let track = reqs[found[0]]
            .keys
            .iter()
            .find(|k| k.0 == kid)
            .unwrap()
            .1
            .clone();
        let key = speke.key(CONTENT_ID, &uuid(&kid)).await;
        self.keys.insert(kid, key);
        (track, key)
    }
}

/// Top-level boxes of `b`: (type, whole box).
fn boxes(mut b: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 8 {
        let size = u32::from_be_bytes(b[..4].try_into().unwrap()) as usize;
        assert!(size >= 8 && size <= b.len(), "box size {size}");
        out.push((b[4..8].try_into().unwrap(), &b[..size]));
        b = &b[size..];
    }
    out
}

/// The init section's pssh boxes (moov children).
fn init_pssh(init: &[u8]) -> Vec<Vec<u8>> {
    let moov = boxes(init)
        .into_iter()
        .find(|(k, _)| k == b"moov")
        .expect("moov")
        .1;
    boxes(&moov[8..])
        .into_iter()
        .filter(|(k, _)| k == b"pssh")
        .map(|(_, b)| b.to_vec())
        .collect()
}

/// The KID of the init section's `tenc` (one track).
fn tenc_kid(init: &[u8]) -> [u8; 16] {
    let i = init.windows(4).position(|w| w == b"tenc").expect("tenc");
    assert_eq!(init[i + 10], 1, "isProtected");
    init[i + 12..i + 28].try_into().unwrap()
}

/// The key server's own pssh box and PlayReady object for (system, KID, key), computed by
/// its code (`tests/speke/server.py`).
fn server_signals(items: &[(&str, [u8; 16], [u8; 16])]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let script = "import sys, base64\n\
        sys.path.insert(0, sys.argv[1])\n\
        import server\n\
        for line in sys.stdin:\n\
        \x20   s, kid, key = line.split()\n\
        \x20   kid, key = bytes.fromhex(kid), bytes.fromhex(key)\n\
        \x20   print(base64.b64encode(server.pssh_for(s, kid, key)).decode(),\n\
        \x20         base64.b64encode(server.playready_pro(kid, key)).decode())\n";
    let input: String = items
        .iter()
        .map(|(s, kid, key)| format!("{s} {} {}\n", hex(kid), hex(key)))
        .collect();
    let mut child = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(root().join("tests/speke"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (a, b) = l.split_once(' ').unwrap();
            (unb64(a), unb64(b))
        })
        .collect()
}

/// Text of every element named `name` (any prefix) in `xml`.
fn element_texts(xml: &str, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = xml[at..].find('<') {
        let start = at + i + 1;
        let tag_end = start + xml[start..].find('>').unwrap();
        let tag = &xml[start..tag_end];
        let local = tag
            .split([' ', '/'])
            .next()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap();
        at = tag_end + 1;
        if local == name && !tag.ends_with('/') && !tag.starts_with('/') {
            let end = at + xml[at..].find("</").unwrap();
            out.push(xml[at..end].to_string());
        }
    }
    out
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vodpack-enc-egress-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `tests/decrypt/fmp4.py` over one fragment: (ok, its verdict line).
fn fmp4_decrypts(
    dir: &Path,
    key: &[u8; 16],
    init: &[u8],
    enc: &[u8],
    clear: &[u8],
) -> (bool, String) {
    let (i, e, c) = (dir.join("init"), dir.join("enc"), dir.join("clear"));
    std::fs::write(&i, init).unwrap();
    std::fs::write(&e, enc).unwrap();
    std::fs::write(&c, clear).unwrap();
    let out = Command::new(python())
        .arg(root().join("tests/decrypt/fmp4.py"))
        .arg(hex(key))
        .args([&i, &e, &c])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// md5 of ffmpeg's decode of `bytes` (decrypted with `key`); None when ffmpeg fails. The
/// bytes are piped: ffmpeg 5.1 reading a seekable file of several encrypted fragments takes
/// the sample auxiliary information through saio with the wrong fragment's sample numbering
/// ("leftover packet bytes after subsample processing"; one fragment, or the same bytes
/// through a pipe, decode), as crates/vodpack-media/tests/encrypt_fmp4.rs pipes them too.
fn decode_md5(dir: &Path, bytes: &[u8], key: Option<&[u8; 16]>) -> Option<String> {
    let f = dir.join("whole.mp4");
    std::fs::write(&f, bytes).unwrap();
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-nostdin"]);
    if let Some(k) = key {
        cmd.args(["-decryption_key", &hex(k)]);
    }
    let out = cmd
        .args(["-i", "pipe:0", "-map", "0", "-f", "md5", "-"])
        .stdin(std::fs::File::open(&f).unwrap())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && text.starts_with("MD5=")).then_some(text)
}

/// `openssl enc -d -aes-128-cbc`; None when the padding is wrong.
fn openssl_decrypt(dir: &Path, input: &[u8], key: &[u8; 16], iv: &[u8; 16]) -> Option<Vec<u8>> {
    let path = dir.join("in.bin");
    std::fs::write(&path, input).unwrap();
    let out = Command::new("openssl")
        .args([
            "enc",
            "-d",
            "-aes-128-cbc",
            "-K",
            &hex(key),
            "-iv",
            &hex(iv),
            "-in",
        ])
        .arg(&path)
        .output()
        .expect("run openssl");
    out.status.success().then_some(out.stdout)
}

fn seq_iv(n: u64) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[8..].copy_from_slice(&n.to_be_bytes());
    iv
}

/// An attribute of an HLS tag line (quotes removed).
fn hls_attr(line: &str, name: &str) -> Option<String> {
    let body = line.split_once(':')?.1;
    let mut rest = body;
    while !rest.is_empty() {
        let (k, after) = rest.split_once('=')?;
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], q[end + 1..].trim_start_matches(','))
        } else {
            match after.split_once(',') {
                Some((v, n)) => (v, n),
                None => (after, ""),
            }
        };
        if k == name {
            return Some(v.to_string());
        }
        rest = next;
    }
    None
}

/// A media playlist's segments: (URI, media sequence number, the EXT-X-KEY lines in effect),
/// and how many EXT-X-KEY lines it has.
fn media_playlist(text: &str) -> (Vec<(String, u64, Vec<String>)>, usize) {
    let mut seq: u64 = 0;
    let mut keys: Vec<String> = Vec::new();
    let mut fresh = true;
    let mut count = 0;
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            seq = n.parse().unwrap();
        } else if line.starts_with("#EXT-X-KEY:") {
            if !fresh {
                keys.clear();
                fresh = true;
            }
            keys.push(line.to_string());
            count += 1;
        } else if !line.starts_with('#') && !line.is_empty() {
            out.push((line.to_string(), seq, keys.clone()));
            seq += 1;
            fresh = false;
        }
    }
    (out, count)
}

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap()
}

/// HLS-TS with AES-128: manifests, the key behind the key URI, every segment through openssl.
async fn check_aes128(speke: &Speke, reqs: &[KeyRequest], enc: &Files, clear: &Files) -> Seen {
    let mut seen = Seen::default();
    let dir = temp("aes");
    let master = text(&enc["index.m3u8"]);
    assert!(
        master.contains("#EXT-X-SESSION-KEY:METHOD=AES-128,"),
        "{master}"
    );
    let mut segments = 0;
    for name in ["index_0.m3u8", "index_1.m3u8", "index_2.m3u8"] {
        let (segs, key_lines) = media_playlist(text(&enc[name]));
        // repeatExtXKey: a key tag before every segment.
        assert_eq!(key_lines, segs.len(), "{name}");
        for (uri, seq, keys) in segs {
            assert_eq!(keys.len(), 1, "{name}: {keys:?}");
            let line = &keys[0];
            assert_eq!(hls_attr(line, "METHOD").as_deref(), Some("AES-128"));
            let key_uri = hls_attr(line, "URI").unwrap();
            let kid = kid_of(key_uri.rsplit('/').next().unwrap());
            let (_, key) = seen.kid(speke, reqs, kid).await;
            // What a player fetches from the key URI is the key server's key.
            let fetched = reqwest::get(&key_uri).await.unwrap().bytes().await.unwrap();
            assert_eq!(fetched.as_ref(), &key[..], "{key_uri}");
            let iv: [u8; 16] = match hls_attr(line, "IV") {
                Some(iv) => unhex(iv.trim_start_matches("0x").trim_start_matches("0X"))
                    .try_into()
                    .unwrap(),
                None => seq_iv(seq),
            };
            let e = &enc[&uri];
            let c = &clear[&uri];
            assert_ne!(e, c, "{uri}: served in the clear");
            let plain = openssl_decrypt(&dir, e, &key, &iv).expect("decrypts");
            assert!(
                &plain == c,
                "{uri}: decrypted segment differs from the clear one"
            );
            let mut wrong = iv;
            wrong[15] ^= 1;
            let bad = openssl_decrypt(&dir, e, &key, &wrong);
            assert!(bad.as_ref() != Some(c), "{uri}: a wrong IV must fail");
            segments += 1;
        }
    }
    assert!(segments >= 6, "{segments}");
    check_subtitles_clear(enc, clear);
    let _ = std::fs::remove_dir_all(&dir);
    seen
}

/// Subtitles are never encrypted: their playlist has no key and the WebVTT files are the
/// clear ones (when the source has subtitles).
fn check_subtitles_clear(enc: &Files, clear: &Files) {
    if !enc.contains_key("index_t0.m3u8") {
        assert!(!enc.keys().any(|n| n.ends_with(".vtt")));
        return;
    }
    let mut n = 0;
    for (name, bytes) in enc {
        if name.ends_with(".vtt") {
            assert_eq!(bytes, &clear[name], "{name}");
            n += 1;
        }
    }
    assert!(n >= 2, "{n} subtitle segments");
    assert!(!text(&enc["index_t0.m3u8"]).contains("EXT-X-KEY"));
}

/// HLS-TS with SAMPLE-AES: the independent decryptor over every segment.
async fn check_sample_aes(speke: &Speke, reqs: &[KeyRequest], enc: &Files, clear: &Files) -> Seen {
    let mut seen = Seen::default();
    let dir = temp("sample-aes");
    let master = text(&enc["index.m3u8"]);
    assert!(
        master.contains("#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,"),
        "{master}"
    );
    let mut args = Vec::new();
    let mut key = None;
    for name in ["index_0.m3u8", "index_1.m3u8", "index_2.m3u8"] {
        let (segs, key_lines) = media_playlist(text(&enc[name]));
        assert_eq!(key_lines, 1, "{name}: one key tag (no repeatExtXKey)");
        for (uri, seq, keys) in segs {
            let line = &keys[0];
            assert_eq!(hls_attr(line, "METHOD").as_deref(), Some("SAMPLE-AES"));
            assert_eq!(
                hls_attr(line, "KEYFORMAT").as_deref(),
                Some("com.apple.streamingkeydelivery")
            );
            let uri_key = hls_attr(line, "URI").unwrap();
            assert!(
                uri_key.starts_with(&format!("skd://{CONTENT_ID}/")),
                "{uri_key}"
            );
            let kid = kid_of(uri_key.rsplit('/').next().unwrap());
            let (_, k) = seen.kid(speke, reqs, kid).await;
            assert!(key.is_none_or(|old| old == k), "one key");
            key = Some(k);
            let iv: [u8; 16] = match hls_attr(line, "IV") {
                Some(iv) => unhex(iv.trim_start_matches("0x")).try_into().unwrap(),
                None => seq_iv(seq),
            };
            let (e, c) = (dir.join(format!("e_{uri}")), dir.join(format!("c_{uri}")));
            std::fs::write(&e, &enc[&uri]).unwrap();
            std::fs::write(&c, &clear[&uri]).unwrap();
            args.push(format!("{}:{}:{}", e.display(), c.display(), hex(&iv)));
        }
    }
    let run = |key: [u8; 16]| {
        let out = Command::new(python())
            .arg(root().join("crates/vodpack-media/tests/decrypt/sample_aes.py"))
            .arg(hex(&key))
            .args(&args)
            .output()
            .unwrap();
        let t = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), t)
    };
    let key = key.unwrap();
    let (ok, t) = run(key);
    assert!(ok, "SAMPLE-AES: {t}");
    let mut wrong = key;
    wrong[3] ^= 0x10;
    let (ok, t) = run(wrong);
    assert!(!ok, "a wrong key must fail: {t}");
    check_subtitles_clear(enc, clear);
    let _ = std::fs::remove_dir_all(&dir);
    seen
}

/// Checks one fMP4 track (init + fragments) against the clear twin's: the tenc KID was
/// asked for `want_track` (v2), the init's pssh boxes are the key server's for `systems`,
/// every fragment decrypts with fmp4.py. Returns the key.
#[allow(clippy::too_many_arguments)]
async fn check_fmp4_track(
    seen: &mut Seen,
    speke: &Speke,
    reqs: &[KeyRequest],
    systems: &[&str],
    want_track: Option<&str>,
    (init_name, fragments): (&str, &[String]),
    enc: &Files,
    clear: &Files,
    dir: &Path,
) -> ([u8; 16], [u8; 16]) {
    let init = &enc[init_name];
    let kid = tenc_kid(init);
    let (track, key) = seen.kid(speke, reqs, kid).await;
    assert_eq!(track.as_deref(), want_track, "{init_name}");
    // The init's pssh boxes: the key server's for each system that has one (FairPlay has
    // none), plus at most a W3C common one naming the KID.
    let pssh = init_pssh(init);
    let with_pssh: Vec<&str> = systems.iter().copied().filter(|s| *s != FAIRPLAY).collect();
    let items: Vec<_> = with_pssh.iter().map(|s| (*s, kid, key)).collect();
    for ((system, _, _), (theirs, _)) in items.iter().zip(server_signals(&items)) {
        assert!(
            pssh.contains(&theirs),
            "{init_name}: the key server's {system} pssh is missing"
        );
    }
    for p in &pssh {
        let sid = &p[12..28];
        let known = with_pssh.iter().any(|s| kid_of(s) == sid)
            || hex(sid) == "1077efecc0b24d02ace33c1e52e2fb4b";
        assert!(known, "{init_name}: pssh of system {}", hex(sid));
    }
    assert!(!fragments.is_empty());
    for f in fragments {
        assert_ne!(enc[f], clear[f], "{f}: served in the clear");
        let (ok, t) = fmp4_decrypts(dir, &key, init, &enc[f], &clear[f]);
        assert!(ok, "{f}: {t}");
    }
    (kid, key)
}

/// ffmpeg decodes init + fragments decrypted with `key` as it decodes the clear twin's.
fn check_ffmpeg(
    dir: &Path,
    key: &[u8; 16],
    init: &str,
    fragments: &[String],
    enc: &Files,
    clear: &Files,
) {
    let cat = |files: &Files| -> Vec<u8> {
        let mut v = files[init].clone();
        for f in fragments {
            v.extend_from_slice(&files[f]);
        }
        v
    };
    let want = decode_md5(dir, &cat(clear), None).expect("the clear twin decodes");
    let got = decode_md5(dir, &cat(enc), Some(key));
    assert_eq!(got.as_deref(), Some(&want[..]), "{init}: decrypted decode");
    let mut wrong = *key;
    wrong[0] ^= 1;
    let bad = decode_md5(dir, &cat(enc), Some(&wrong));
    assert_ne!(
        bad.as_deref(),
        Some(&want[..]),
        "{init}: a wrong key decodes"
    );
}

fn fragments_of(files: &Files, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = files
        .keys()
        .filter(|n| {
            n.starts_with(prefix)
                && n.ends_with(".mp4")
                && !n.ends_with("_init.mp4")
                && n[prefix.len()..]
                    .trim_end_matches(".mp4")
                    .parse::<u32>()
                    .is_ok()
        })
        .cloned()
        .collect();
    v.sort();
    v
}

async fn check_cmaf(
    speke: &Speke,
    reqs: &[KeyRequest],
    cfg: &Enc,
    enc: &Files,
    clear: &Files,
) -> Seen {
    let mut seen = Seen::default();
    let dir = temp("cmaf");
    let systems = [WIDEVINE, FAIRPLAY];
    let master = text(&enc["index.m3u8"]);
    // One session key per key (video, audio) per system.
    assert_eq!(master.matches("#EXT-X-SESSION-KEY:").count(), 4, "{master}");
    let mut kids = BTreeMap::new();
    for (rendition, track) in [
        ("0", "VIDEO"),
        ("1", "VIDEO"),
        ("2", "VIDEO"),
        ("a0", "AUDIO"),
    ] {
        let frags = fragments_of(enc, &format!("index_{rendition}_"));
        let init = format!("index_{rendition}_init.mp4");
        let (kid, key) = check_fmp4_track(
            &mut seen,
            speke,
            reqs,
            &systems,
            Some(track),
            (&init, &frags),
            enc,
            clear,
            &dir,
        )
        .await;
        kids.insert(track, kid);
        // The media playlist's key tags: one per system, for this track's KID.
        let (segs, key_lines) = media_playlist(text(&enc[&format!("index_{rendition}.m3u8")]));
        assert_eq!(key_lines, 2, "{rendition}");
        for (_, _, keys) in &segs {
            let formats: BTreeSet<String> = keys
                .iter()
                .filter_map(|l| hls_attr(l, "KEYFORMAT"))
                .collect();
            assert_eq!(
                formats,
                BTreeSet::from([
                    "com.apple.streamingkeydelivery".to_string(),
                    format!("urn:uuid:{WIDEVINE}")
                ])
            );
            for l in keys {
                assert_eq!(hls_attr(l, "METHOD").as_deref(), Some("SAMPLE-AES"));
                let uri = hls_attr(l, "URI").unwrap();
                if let Some(id) = hls_attr(l, "KEYID") {
                    assert_eq!(id, format!("0x{}", hex(&kid)));
                } else {
                    assert_eq!(uri, format!("skd://{CONTENT_ID}/{}", uuid(&kid)));
                }
            }
        }
        if rendition == "2" {
            check_ffmpeg(&dir, &key, &init, &frags, enc, clear);
        }
    }
    assert_ne!(kids["VIDEO"], kids["AUDIO"]);
    assert!(cfg.v2);
    check_subtitles_clear(enc, clear);
    let _ = std::fs::remove_dir_all(&dir);
    seen
}

async fn check_dash(
    speke: &Speke,
    reqs: &[KeyRequest],
    cfg: &Enc,
    enc: &Files,
    clear: &Files,
) -> Seen {
    let mut seen = Seen::default();
    let dir = temp(cfg.id);
    let systems: Vec<&str> = if cfg.v2 {
        vec![WIDEVINE]
    } else {
        vec![WIDEVINE, PLAYREADY]
    };
    let xml = text(&enc["index.mpd"]);
    let mpd = El::parse(xml);
    let mut by_track: BTreeMap<String, BTreeSet<[u8; 16]>> = BTreeMap::new();
    let mut reps = 0;
    for set in mpd.one("Period").unwrap().all("AdaptationSet") {
        let default_kid = set
            .all("ContentProtection")
            .iter()
            .find_map(|c| c.attr("default_KID"))
            .map(kid_of);
        for rep in set.all("Representation") {
            let id = rep.attr("id").unwrap();
            let init = format!("index_{id}_init.mp4");
            let frags = fragments_of(enc, &format!("index_{id}_"));
            let want = if !cfg.v2 {
                None
            } else if id.starts_with('a') {
                Some("AUDIO")
            } else if rep.attr("width").unwrap().parse::<u32>().unwrap()
                * rep.attr("height").unwrap().parse::<u32>().unwrap()
                <= 589_824
            {
                Some("SD")
            } else {
                Some("HD")
            };
            let (kid, key) = check_fmp4_track(
                &mut seen,
                speke,
                reqs,
                &systems,
                want,
                (&init, &frags),
                enc,
                clear,
                &dir,
            )
            .await;
            let rep_kid = rep
                .all("ContentProtection")
                .iter()
                .find_map(|c| c.attr("default_KID"))
                .map(kid_of);
            assert_eq!(rep_kid.or(default_kid), Some(kid), "{id}: cenc:default_KID");
            by_track
                .entry(want.unwrap_or("ALL").to_string())
                .or_default()
                .insert(kid);
            if id == "v2" {
                check_ffmpeg(&dir, &key, &init, &frags, enc, clear);
            }
            reps += 1;
        }
    }
    assert_eq!(reps, 4);
    if cfg.v2 {
        // SD and HD (and audio) have their own keys.
        assert_eq!(by_track.len(), 3, "{by_track:?}");
        let all: BTreeSet<_> = by_track.values().flatten().collect();
        assert_eq!(all.len(), 3, "{by_track:?}");
    } else {
        assert_eq!(by_track["ALL"].len(), 1);
    }
    // The MPD's pssh and mspr:pro are the key server's.
    let mut expected_pssh = BTreeSet::new();
    let mut expected_pro = BTreeSet::new();
    for (kid, key) in &seen.keys {
        let items: Vec<_> = systems.iter().map(|s| (*s, *kid, *key)).collect();
        for ((s, _, _), (pssh, pro)) in items.iter().zip(server_signals(&items)) {
            expected_pssh.insert(b64(&pssh));
            if *s == PLAYREADY {
                expected_pro.insert(b64(&pro));
            }
        }
    }
    let pssh: BTreeSet<String> = element_texts(xml, "pssh").into_iter().collect();
    assert_eq!(pssh, expected_pssh, "MPD pssh");
    let pro: BTreeSet<String> = element_texts(xml, "pro").into_iter().collect();
    assert_eq!(pro, expected_pro, "MPD mspr:pro");
    let _ = std::fs::remove_dir_all(&dir);
    seen
}

fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = ((8 + body.len()) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(body);
    v
}

/// The init section a Smooth client synthesises for a PIFF track (the decryptor reads the
/// scheme, IV size and KID from it): schm `piff`, tenc with 8-byte IVs.
fn piff_init(video: bool, kid: &[u8; 16]) -> Vec<u8> {
    let mut tenc = vec![0, 0, 0, 0, 0, 0, 1, 8];
    tenc.extend_from_slice(kid);
    let mut schm = vec![0, 0, 0, 0];
    schm.extend_from_slice(b"piff");
    schm.extend_from_slice(&[0, 1, 0, 0]);
    let mut sinf = bx(b"frma", if video { b"avc1" } else { b"mp4a" });
    sinf.extend(bx(b"schm", &schm));
    sinf.extend(bx(b"schi", &bx(b"tenc", &tenc)));
    let mut entry = vec![0u8; if video { 78 } else { 28 }];
    entry.extend(bx(b"sinf", &sinf));
    let mut stsd = vec![0, 0, 0, 0, 0, 0, 0, 1];
    stsd.extend(bx(if video { b"encv" } else { b"enca" }, &entry));
    let mut b = bx(b"stsd", &stsd);
    for kind in [b"stbl", b"minf", b"mdia", b"trak", b"moov"] {
        b = bx(kind, &b);
    }
    b
}

async fn check_mss(speke: &Speke, reqs: &[KeyRequest], enc: &Files, clear: &Files) -> Seen {
    let mut seen = Seen::default();
    let dir = temp("mss");
    let xml = text(&enc["index.ism/Manifest"]);
    let doc = El::parse(xml);
    let header = doc
        .one("Protection")
        .unwrap()
        .one("ProtectionHeader")
        .unwrap();
    assert_eq!(
        header.attr("SystemID").map(str::to_lowercase).as_deref(),
        Some(PLAYREADY)
    );
    let texts = element_texts(xml, "ProtectionHeader");
    assert_eq!(texts.len(), 1);
    let pro = unb64(&texts[0]);
    // The PlayReady object's WRMHEADER (UTF-16LE after a 10-byte header) names the KID as a
    // little-endian GUID.
    let units: Vec<u16> = pro[10..]
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let wrm = String::from_utf16(&units).unwrap();
    let kid_le = unb64(&element_texts(&wrm, "KID")[0]);
    let mut kid = [0u8; 16];
    kid[..4].copy_from_slice(&[kid_le[3], kid_le[2], kid_le[1], kid_le[0]]);
    kid[4..6].copy_from_slice(&[kid_le[5], kid_le[4]]);
    kid[6..8].copy_from_slice(&[kid_le[7], kid_le[6]]);
    kid[8..].copy_from_slice(&kid_le[8..]);
    let (_, key) = seen.kid(speke, reqs, kid).await;
    let theirs = server_signals(&[(PLAYREADY, kid, key)]);
    assert_eq!(pro, theirs[0].1, "ProtectionHeader is the key server's");
    let mut n = 0;
    for name in enc.keys().filter(|n| n.contains("/Fragments(")) {
        let video = name.contains("(video=");
        assert_ne!(enc[name], clear[name], "{name}: served in the clear");
        let (ok, t) = fmp4_decrypts(
            &dir,
            &key,
            &piff_init(video, &kid),
            &enc[name],
            &clear[name],
        );
        assert!(ok && t.starts_with("piff:"), "{name}: {t}");
        n += 1;
    }
    assert_eq!(n, 8);
    let _ = std::fs::remove_dir_all(&dir);
    seen
}

/// Every key (hex either case, base64) the key server gave is absent from the output.
fn assert_no_keys_in(output: &[String], keys: &BTreeMap<[u8; 16], [u8; 16]>) {
    assert!(!keys.is_empty());
    assert!(output.len() > 10, "{} lines captured", output.len());
    let all = output.join("\n");
    for key in keys.values() {
        for form in [
            hex(key),
            hex(key).to_uppercase(),
            b64(key),
            b64(key).trim_end_matches('=').to_string(),
        ] {
            assert!(
                !all.contains(&form),
                "a key appears in the server's output ({form})"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_configurations_decrypt_to_their_clear_twins() {
    let speke = Speke::start();
    let server = start_server();
    let url = speke.endpoint();
    let encs = encrypted_configs(&url);
    let mut configs: Vec<(&str, Value)> = clear_configs();
    configs.extend(encs.iter().map(|e| (e.id, e.package.clone())));
    let smil = ladder_asset(&server, &configs).await;
    let bases = bases(&server).await;
    assert_eq!(bases.len(), configs.len());

    // Every file of every configuration: the names `vodpack package` writes for the clear
    // twin (the same names as the encrypted output's).
    let mut clear: BTreeMap<&str, Files> = BTreeMap::new();
    for (id, pkg) in clear_configs() {
        let names = package(&smil, &pkg, &[]);
        assert!(names.len() > 8, "{id}: {:?}", names.keys());
        clear.insert(id, fetch_all(&bases[id], names.keys()).await);
    }
    let mut served: BTreeMap<&str, Files> = BTreeMap::new();
    for e in &encs {
        let files = fetch_all(&bases[e.id], clear[e.clear].keys()).await;
        served.insert(e.id, files);
    }
    // Twice: the second time from memory, without asking the key server again.
    for e in &encs {
        let again = fetch_all(&bases[e.id], clear[e.clear].keys()).await;
        assert!(again == served[e.id], "{}: served differently", e.id);
    }

    let reqs = key_requests(&speke).await;
    assert_eq!(
        reqs.len(),
        encs.len(),
        "one key request per asset x encrypted configuration: {reqs:#?}"
    );
    let mut all_keys = BTreeMap::new();
    let mut used = BTreeSet::new();
    for e in &encs {
        let (enc, cl) = (&served[e.id], &clear[e.clear]);
        let seen = match e.kind {
            Kind::Aes128 => check_aes128(&speke, &reqs, enc, cl).await,
            Kind::SampleAes => check_sample_aes(&speke, &reqs, enc, cl).await,
            Kind::Cmaf => check_cmaf(&speke, &reqs, e, enc, cl).await,
            Kind::Dash => check_dash(&speke, &reqs, e, enc, cl).await,
            Kind::Mss => check_mss(&speke, &reqs, enc, cl).await,
        };
        // Every KID of the output came from one request: this configuration's.
        assert_eq!(seen.requests.len(), 1, "{}", e.id);
        let r = *seen.requests.first().unwrap();
        assert!(used.insert(r), "{}: request {r} used twice", e.id);
        assert_eq!(reqs[r].v2, e.v2, "{}: X-Speke-Version", e.id);
        let systems: BTreeSet<String> = e.package.as_object().unwrap().values().next().unwrap()
            ["encryption"]["spekeKeyProvider"]["systemIds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        assert_eq!(reqs[r].systems, systems, "{}", e.id);
        // Every key asked for is used by the output.
        assert_eq!(seen.keys.len(), reqs[r].keys.len(), "{}", e.id);
        all_keys.extend(seen.keys);
    }

    // `vodpack package` with the asset's content id and the configuration's id writes what
    // the server serves, byte for byte.
    for e in &encs {
        let mut config = e.package.clone();
        config["id"] = json!(e.id);
        let written = package(
            &smil,
            &config,
            &[
                "--content-id",
                CONTENT_ID,
                "--speke-allow-http-hosts",
                "127.0.0.1",
            ],
        );
        assert_eq!(
            written.keys().collect::<Vec<_>>(),
            served[e.id].keys().collect::<Vec<_>>(),
            "{}",
            e.id
        );
        for (name, bytes) in &written {
            assert!(
                bytes == &served[e.id][name],
                "{}: {name} differs from the server's",
                e.id
            );
        }
    }

    let output = server.output.lock().unwrap().clone();
    assert_no_keys_in(&output, &all_keys);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_server_faults_answer_503_until_the_keys_can_be_had() {
    let speke = Speke::start();
    let server = start_server();
    let url = speke.endpoint();
    let clear_twins: Vec<(&str, Value)> = clear_configs()
        .into_iter()
        .filter(|(id, _)| *id == "hls_clear" || *id == "dash_clear")
        .collect();
    let smil = ladder_asset(&server, &clear_twins).await;
    let mut names = BTreeMap::new();
    let mut clear = BTreeMap::new();
    let first = bases(&server).await;
    for (id, pkg) in &clear_twins {
        let n = package(&smil, pkg, &[]);
        clear.insert(*id, fetch_all(&first[*id], n.keys()).await);
        names.insert(*id, n);
    }

    // Configurations created after ingest: their keys were never fetched.
    let faults = [
        (
            "500",
            "f500",
            "dash_clear",
            json!({"dashPackage": {"dashManifests": [{}], "encryption": {
                "spekeKeyProvider": speke_provider(&url, &[WIDEVINE], None)}}}),
        ),
        (
            "bad_base64",
            "fbad",
            "hls_clear",
            json!({"hlsPackage": {"hlsManifests": [{}], "encryption": {
                "encryptionMethod": "AES_128",
                "spekeKeyProvider": speke_provider(&url, &[AES128], None)}}}),
        ),
    ];
    for (fault, id, twin, pkg) in &faults {
        speke.fault(Some(fault)).await;
        create_configuration(&server, id, pkg).await;
        let base = bases(&server).await[*id].clone();
        let before = speke.requests().await.len();
        for name in names[twin].keys() {
            let u = format!("{base}/{name}");
            let r = reqwest::get(&u).await.unwrap();
            assert_eq!(r.status(), 503, "{u}");
            assert!(r.headers().contains_key("retry-after"), "{u}");
            assert_eq!(r.headers()["content-type"], "application/json", "{u}");
            let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
            assert_eq!(body["reason"], "KeysUnavailable", "{u}: {body}");
        }
        // The failure is remembered: the files did not each call the key server.
        let calls = speke.requests().await.len() - before;
        // (Up to 3 attempts for a 500; a slow machine may start a second round after 5 s.)
        let files = names[twin].len();
        assert!(
            (1..=6).contains(&calls) && calls < files,
            "{fault}: {calls} key server calls for {files} files"
        );
    }

    // The fault cleared and the failure forgotten: the files are served, encrypted with the
    // key server's keys.
    speke.fault(None).await;
    tokio::time::sleep(Duration::from_millis(5200)).await;
    let bases = bases(&server).await;
    let dir = temp("faults");
    let dash = fetch_all(&bases["f500"], names["dash_clear"].keys()).await;
    let kid = tenc_kid(&dash["index_v0_init.mp4"]);
    let key = speke.key(CONTENT_ID, &uuid(&kid)).await;
    let c = &clear["dash_clear"];
    let (ok, t) = fmp4_decrypts(
        &dir,
        &key,
        &dash["index_v0_init.mp4"],
        &dash["index_v0_1.mp4"],
        &c["index_v0_1.mp4"],
    );
    assert!(ok, "{t}");
    let hls = fetch_all(&bases["fbad"], names["hls_clear"].keys()).await;
    let line = text(&hls["index_0.m3u8"])
        .lines()
        .find(|l| l.starts_with("#EXT-X-KEY:"))
        .unwrap()
        .to_string();
    let kid = kid_of(hls_attr(&line, "URI").unwrap().rsplit('/').next().unwrap());
    let aes_key = speke.key(CONTENT_ID, &uuid(&kid)).await;
    let plain =
        openssl_decrypt(&dir, &hls["index_0_0.ts"], &aes_key, &seq_iv(0)).expect("decrypts");
    assert!(plain == clear["hls_clear"]["index_0_0.ts"]);
    let _ = std::fs::remove_dir_all(&dir);

    let output = server.output.lock().unwrap().clone();
    assert_no_keys_in(&output, &BTreeMap::from([(kid, aes_key), ([0; 16], key)]));
}

/// An HLS-TS source (3 renditions, Annex B passed through) under AES-128 and SAMPLE-AES, the
/// key server answering an explicitIV: playlists carry IV=, segments decrypt with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_ts_source_with_explicit_ivs() {
    let speke = Speke::start_with(&["--explicit-iv"]);
    let server = start_server();
    let url = speke.endpoint();
    let encs: Vec<Enc> = encrypted_configs(&url)
        .into_iter()
        .filter(|e| matches!(e.kind, Kind::Aes128 | Kind::SampleAes))
        .collect();
    let mut configs = vec![clear_configs().remove(0)];
    configs.extend(encs.iter().map(|e| (e.id, e.package.clone())));
    let master = asset_from(&server, &configs, "hls", "master.m3u8").await;
    let bases = bases(&server).await;
    let names = package(&master, &configs[0].1, &[]);
    let clear = fetch_all(&bases["hls_clear"], names.keys()).await;
    let reqs_before_egress = key_requests(&speke).await.len();
    let mut all_keys = BTreeMap::new();
    let mut used = BTreeSet::new();
    for e in &encs {
        let enc = fetch_all(&bases[e.id], names.keys()).await;
        let reqs = key_requests(&speke).await;
        for (_, segs) in ["index_0.m3u8", "index_1.m3u8", "index_2.m3u8"]
            .iter()
            .map(|n| (n, text(&enc[*n])))
        {
            assert!(segs.contains(",IV=0x"), "explicit IV stated: {segs}");
        }
        let seen = match e.kind {
            Kind::Aes128 => check_aes128(&speke, &reqs, &enc, &clear).await,
            _ => check_sample_aes(&speke, &reqs, &enc, &clear).await,
        };
        assert_eq!(seen.requests.len(), 1);
        assert!(used.insert(*seen.requests.first().unwrap()));
        all_keys.extend(seen.keys);
        // `vodpack package` from the same source writes the same bytes.
        let mut config = e.package.clone();
        config["id"] = json!(e.id);
        let written = package(
            &master,
            &config,
            &[
                "--content-id",
                CONTENT_ID,
                "--speke-allow-http-hosts",
                "127.0.0.1",
            ],
        );
        assert!(written == enc, "{}: package differs from the server", e.id);
    }
    // Keys were fetched at ingest (or at the first file), once per configuration; the
    // `package` runs above asked once each too.
    assert!(reqs_before_egress <= 2, "{reqs_before_egress}");
    assert_eq!(key_requests(&speke).await.len(), 2 + encs.len());
    let output = server.output.lock().unwrap().clone();
    assert_no_keys_in(&output, &all_keys);
}
