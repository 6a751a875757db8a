//! What manifests say about encryption, made from the keys ([`KeySet`]) and what the key
//! server returned for each DRM system: HLS `EXT-X-KEY`/`EXT-X-SESSION-KEY` lines, DASH
//! `ContentProtection` descriptors, the Smooth `ProtectionHeader`. Whatever the key server
//! gave as finished signalling (SPEKE v2 `HLSSignalingData`, `ContentProtectionData`) is used as
//! given; otherwise it is built from its parts (SPEKE v1 `URIExtXKey`/`KeyFormat`, `PSSH`).
//! Nothing here ever writes key bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::Presentation;
use super::keys::{ContentKey, DrmSignal, Scheme, uuid_text};
use crate::manifest::dash::ContentProtection;

pub const WIDEVINE: [u8; 16] = [
    0xed, 0xef, 0x8b, 0xa9, 0x79, 0xd6, 0x4a, 0xce, 0xa3, 0xc8, 0x27, 0xdc, 0xd5, 0x1d, 0x21, 0xed,
];
pub const PLAYREADY: [u8; 16] = [
    0x9a, 0x04, 0xf0, 0x79, 0x98, 0x40, 0x42, 0x86, 0xab, 0x92, 0xe6, 0x5b, 0xe0, 0x88, 0x5f, 0x95,
];

/// The key of the first encrypted track among `tracks`.
pub fn key_of<'a>(p: &'a Presentation, tracks: &[usize]) -> Option<&'a ContentKey> {
    let keys = p.keys.as_deref()?;
    tracks
        .iter()
        .find_map(|t| keys.key_for(&p.index.tracks[*t]))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The IV an HLS key tag states (the one rule of `encrypt_ts`): none when it is the media
/// sequence number (RFC 8216 §5.2; fMP4 `cbcs` carries its IV in `tenc`).
fn hls_iv(p: &Presentation, key: &ContentKey) -> Option<[u8; 16]> {
    super::chain::encrypt_ts::explicit_hls_iv(p.spec.encryption.as_ref(), key)
}

/// `EXT-X-KEY` (or, with `session`, `EXT-X-SESSION-KEY`) lines for the rendition of `tracks`.
pub fn hls_key_lines(p: &Presentation, tracks: &[usize], session: bool) -> Vec<String> {
    let (Some(keys), Some(scheme), Some(key)) =
        (p.keys.as_deref(), p.spec.scheme(), key_of(p, tracks))
    else {
        return Vec::new();
    };
    let tag = if session {
        "#EXT-X-SESSION-KEY"
    } else {
        "#EXT-X-KEY"
    };
    let method = match scheme {
        Scheme::Aes128 => "AES-128",
        _ => "SAMPLE-AES",
    };
    let iv = hls_iv(p, key)
        .map(|iv| format!(",IV=0x{}", hex(&iv)))
        .unwrap_or_default();
    let mut lines = Vec::new();
    for s in keys.signals_for(&key.kid) {
        let given = if session { &s.hls_master } else { &s.hls_media };
        if let Some(text) = given {
            // SPEKE v2: whole lines, as given.
            lines.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| l.starts_with("#EXT-X-"))
                    .map(str::to_string),
            );
            continue;
        }
        if let Some(attrs) = hls_attributes(s, &key.kid) {
            lines.push(format!("{tag}:METHOD={method},{attrs}{iv}"));
        }
    }
    if lines.is_empty() {
        // No signalling from a key server (a fixed key list): a key file beside the playlist,
        // named by its KID, for the operator to serve behind their own authorization.
        lines.push(format!(
            "{tag}:METHOD={method},URI=\"{}.key\"{iv}",
            uuid_text(&key.kid)
        ));
    }
    lines.dedup();
    lines
}

/// `URI`, `KEYID`, `KEYFORMAT`, `KEYFORMATVERSIONS` of a key tag for one DRM system.
fn hls_attributes(s: &DrmSignal, kid: &[u8; 16]) -> Option<String> {
    let quoted = |v: &str| v.replace(['"', '\n', '\r'], "");
    let versions = |default: &str| {
        s.key_format_versions
            .as_deref()
            .filter(|v| !v.is_empty())
            .unwrap_or(default)
            .to_string()
    };
    if let Some(uri) = &s.uri_ext_x_key {
        let mut a = format!("URI=\"{}\"", quoted(uri));
        if let Some(f) = s.key_format.as_deref().filter(|f| !f.is_empty()) {
            a.push_str(&format!(",KEYFORMAT=\"{}\"", quoted(f)));
            a.push_str(&format!(
                ",KEYFORMATVERSIONS=\"{}\"",
                quoted(&versions("1"))
            ));
        }
        return Some(a);
    }
    if s.system_id == WIDEVINE
        && let Some(pssh) = &s.pssh
    {
        return Some(format!(
            "URI=\"data:text/plain;base64,{}\",KEYID=0x{},KEYFORMAT=\"urn:uuid:{}\",KEYFORMATVERSIONS=\"1\"",
            B64.encode(pssh),
            hex(kid),
            uuid_text(&WIDEVINE)
        ));
    }
    if s.system_id == PLAYREADY
        && let Some(pro) = &s.protection_header
    {
        return Some(format!(
            "URI=\"data:text/plain;charset=UTF-16;base64,{}\",KEYFORMAT=\"com.microsoft.playready\",KEYFORMATVERSIONS=\"1\"",
            quoted(pro.trim())
        ));
    }
    None
}

/// The `ContentProtection` descriptors of a DASH Representation of track `t`.
pub fn dash_protection(p: &Presentation, t: usize) -> Vec<ContentProtection> {
    let (Some(keys), Some(key)) = (p.keys.as_deref(), key_of(p, &[t])) else {
        return Vec::new();
    };
    let value = match p.spec.scheme() {
        Some(Scheme::Cbcs) => "cbcs",
        _ => "cenc",
    };
    let mut out = vec![ContentProtection {
        scheme_id_uri: "urn:mpeg:dash:mp4protection:2011".into(),
        value: Some(value.into()),
        default_kid: Some(uuid_text(&key.kid)),
        children: String::new(),
    }];
    for s in keys.signals_for(&key.kid) {
        let children = match (&s.content_protection_data, &s.pssh) {
            (Some(xml), _) if well_formed(xml) => xml.trim().to_string(),
            (_, Some(pssh)) => {
                let mut c = format!("<cenc:pssh>{}</cenc:pssh>", B64.encode(pssh));
                if s.system_id == PLAYREADY
                    && let Some(pro) = &s.protection_header
                {
                    c.push_str(&format!("<mspr:pro>{}</mspr:pro>", pro.trim()));
                }
                c
            }
            _ => String::new(),
        };
        out.push(ContentProtection {
            scheme_id_uri: format!("urn:uuid:{}", uuid_text(&s.system_id)),
            value: (s.system_id == PLAYREADY).then(|| "MSPR 2.0".to_string()),
            default_kid: None,
            children,
        });
    }
    out
}

/// Whether XML text from the key server is well-formed (balanced, parseable) on its own: it
/// is pasted into the MPD, which must stay valid whatever a key server sends.
fn well_formed(xml: &str) -> bool {
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut depth = 0i64;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(_)) => depth += 1,
            Ok(quick_xml::events::Event::End(_)) => depth -= 1,
            Ok(quick_xml::events::Event::Eof) => return depth == 0,
            Ok(quick_xml::events::Event::Decl(_) | quick_xml::events::Event::DocType(_)) => {
                return false;
            }
            Ok(_) => {}
            Err(_) => return false,
        }
        if depth < 0 {
            return false;
        }
    }
}

/// The Smooth `Protection` of a presentation: the PlayReady header of its (first) key.
pub fn mss_protection(p: &Presentation) -> Option<(String, String)> {
    let keys = p.keys.as_deref()?;
    let (_, key) = keys.keys.first()?;
    keys.signals_for(&key.kid)
        .find(|s| s.system_id == PLAYREADY)
        .and_then(|s| s.protection_header.clone())
        .map(|h| (uuid_text(&PLAYREADY), h))
}
