//! CPIX documents of SPEKE v1 and v2: the request we POST for one asset × packaging
//! configuration, and the checked reading of the key server's answer into a [`KeySet`].
//!
//! Hand-written over quick-xml (no CPIX crate exists for Rust): the request is a small fixed
//! shape (SPEKE.md §3–§6), and the response is read **by namespace URI**, never by prefix (key
//! servers bind odd prefixes), into a small element tree that is then checked against what we
//! asked for. Nothing here does I/O; the transport is `speke.rs`.
//!
//! Errors name the field and the KID that is wrong, never key bytes, IVs or response text.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use sha2::{Digest, Sha256};
use vodpack_media::package::keys::{
    ContentKey, DrmSignal, Filter, KeySet, KeyUse, Kid, parse_uuid, uuid_text,
};
use vodpack_media::package::spec::{Format, PackageSpec};

pub const NS_CPIX: &str = "urn:dashif:org:cpix";
pub const NS_PSKC: &str = "urn:ietf:params:xml:ns:keyprov:pskc";
pub const NS_SPEKE: &str = "urn:aws:amazon:com:speke";

/// DRM system ids the request shape depends on.
pub const FAIRPLAY: [u8; 16] = hex16("94ce86fb07ff4f43adb893d2fa968ca2");
pub const PLAYREADY: [u8; 16] = hex16("9a04f07998404286ab92e65be0885f95");
pub const WIDEVINE: [u8; 16] = hex16("edef8ba979d64acea3c827dcd51d21ed");

const fn hex16(s: &str) -> [u8; 16] {
    let b = s.as_bytes();
    let mut out = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        out[i] = (nibble(b[2 * i]) << 4) | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => 0,
    }
}

/// Largest response we read (the 4-system v2 examples are ~8 KB).
pub const MAX_RESPONSE_BYTES: usize = 4 << 20;
const MAX_DEPTH: usize = 32;

/// Which SPEKE version a configuration speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// No `encryptionContractConfiguration`: one key for everything, CPIX `@id`.
    V1,
    /// `X-Speke-Version: 2.0`, CPIX `version="2.3"`, `@contentId`, usage rules.
    V2,
}

/// One child element of a `DRMSystem` that we ask the key server to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Pssh,
    ContentProtectionData,
    UriExtXKey,
    KeyFormat,
    KeyFormatVersions,
    /// v1 `speke:ProtectionHeader`.
    ProtectionHeader,
    /// v2 `SmoothStreamingProtectionHeaderData`.
    SmoothHeader,
    HlsMedia,
    HlsMaster,
}

impl Signal {
    /// What errors call it.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Pssh => "PSSH",
            Signal::ContentProtectionData => "ContentProtectionData",
            Signal::UriExtXKey => "URIExtXKey",
            Signal::KeyFormat => "KeyFormat",
            Signal::KeyFormatVersions => "KeyFormatVersions",
            Signal::ProtectionHeader => "ProtectionHeader",
            Signal::SmoothHeader => "SmoothStreamingProtectionHeaderData",
            Signal::HlsMedia => "HLSSignalingData[media]",
            Signal::HlsMaster => "HLSSignalingData[master]",
        }
    }
}

/// What we ask the key server for: the request document's content, kept to check the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub version: Version,
    pub content_id: String,
    /// `commonEncryptionScheme` (v2 only).
    pub scheme: Option<&'static str>,
    /// One per preset key, in request order.
    pub keys: Vec<(KeyUse, Kid)>,
    /// One per (system id, kid): system-major order, as the examples.
    pub systems: Vec<(SystemId, Kid, Vec<Signal>)>,
}

pub type SystemId = [u8; 16];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpixError {
    #[error("the configuration has no encryption")]
    NotEncrypted,
    #[error("unknown SPEKE 2.0 preset '{0}'")]
    UnknownPreset(String),
    #[error("the presets give no key to request")]
    NoKeys,
    #[error("the key server's answer is not well-formed XML: {0}")]
    Xml(String),
    #[error("the key server's answer is too large ({0} bytes)")]
    TooLarge(usize),
    #[error("the key server's answer is not a CPIX document")]
    NotCpix,
    #[error("the key server's answer has no content key for KID {0}")]
    MissingKey(String),
    #[error("the key server's answer lists {got} content keys; {asked} were requested")]
    KeyCount { asked: usize, got: usize },
    #[error("the key server's answer has a ContentKey without a valid kid")]
    BadKid,
    #[error("the key server's answer has {field} of KID {kid} that is not valid base64")]
    BadBase64 { field: &'static str, kid: String },
    #[error("the key server's answer has a {field} of {len} bytes for KID {kid}; 16 expected")]
    BadLength {
        field: &'static str,
        kid: String,
        len: usize,
    },
    #[error("the key server's answer has no DRMSystem {system} for KID {kid}")]
    MissingSystem { system: String, kid: String },
    #[error("the key server's answer has no {field} in DRMSystem {system} for KID {kid}")]
    MissingSignal {
        field: &'static str,
        system: String,
        kid: String,
    },
    #[error(
        "the key server's answer has a {field} in DRMSystem {system} for KID {kid} that is not {what}"
    )]
    BadSignal {
        field: &'static str,
        system: String,
        kid: String,
        what: &'static str,
    },
    #[error("the key server's answer refers to KID {0}, which was neither requested nor returned")]
    UnexpectedKid(String),
}

/// The KID of one preset key: stable for (content id, configuration id, intendedTrackType)
/// so repeated requests (other nodes, a lost answer) ask for the same key. UUIDv5-style:
/// SHA-256 truncated to 16 bytes with the version (5) and variant (RFC 4122) bits set.
pub fn derive_kid(content_id: &str, config_id: &str, track_type: &str) -> Kid {
    let mut h = Sha256::new();
    h.update(b"vodpack-kid\0");
    for part in [content_id, config_id, track_type] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    let d = h.finalize();
    let mut kid = [0u8; 16];
    kid.copy_from_slice(&d[..16]);
    kid[6] = (kid[6] & 0x0f) | 0x50;
    kid[8] = (kid[8] & 0x3f) | 0x80;
    kid
}

const SD: u64 = 589_824;
const HD1: u64 = 921_600;
const HD: u64 = 2_073_600;
const UHD1: u64 = 8_847_360;

fn video(min: Option<u64>, max: Option<u64>) -> Filter {
    Filter::Video {
        min_pixels: min,
        max_pixels: max,
    }
}

fn audio(min: Option<u32>, max: Option<u32>) -> Filter {
    Filter::Audio {
        min_channels: min,
        max_channels: max,
    }
}

fn key_use(track_type: &str, filters: Vec<Filter>) -> KeyUse {
    KeyUse {
        track_type: track_type.into(),
        filters,
    }
}

/// The keys of a SPEKE 2.0 preset pair (SPEKE.md §4), video keys first.
pub fn preset_keys(video_preset: &str, audio_preset: &str) -> Result<Vec<KeyUse>, CpixError> {
    if video_preset == "SHARED" || audio_preset == "SHARED" {
        return Ok(vec![KeyUse::all()]);
    }
    let sd = || video(None, Some(SD));
    let hd = || video(Some(SD + 1), Some(HD));
    let hd1 = || video(Some(SD + 1), Some(HD1));
    let hd2 = || video(Some(HD1 + 1), Some(HD));
    let uhd = || video(Some(HD + 1), None);
    let uhd1 = || video(Some(HD + 1), Some(UHD1));
    let uhd2 = || video(Some(UHD1 + 1), None);
    let mut out = match video_preset {
        "UNENCRYPTED" => vec![],
        "PRESET-VIDEO-1" => vec![key_use("VIDEO", vec![video(None, None)])],
        "PRESET-VIDEO-2" => vec![
            key_use("SD", vec![sd()]),
            key_use("HD", vec![video(Some(SD + 1), None)]),
        ],
        "PRESET-VIDEO-3" => vec![
            key_use("SD", vec![sd()]),
            key_use("HD", vec![hd()]),
            key_use("UHD", vec![uhd()]),
        ],
        "PRESET-VIDEO-4" => vec![
            key_use("SD", vec![sd()]),
            key_use("HD", vec![hd()]),
            key_use("UHD1", vec![uhd1()]),
            key_use("UHD2", vec![uhd2()]),
        ],
        "PRESET-VIDEO-5" => vec![
            key_use("SD", vec![sd()]),
            key_use("HD1", vec![hd1()]),
            key_use("HD2", vec![hd2()]),
            key_use("UHD1", vec![uhd1()]),
            key_use("UHD2", vec![uhd2()]),
        ],
        "PRESET-VIDEO-6" => vec![
            key_use("SD", vec![sd()]),
            key_use("HD1", vec![hd1()]),
            key_use("HD2", vec![hd2()]),
            key_use("UHD", vec![uhd()]),
        ],
        // `SD+HD1`: one filter per sub-component (the contract rule, SPEKE.md §4).
        "PRESET-VIDEO-7" => vec![
            key_use("SD+HD1", vec![sd(), hd1()]),
            key_use("HD2", vec![hd2()]),
            key_use("UHD", vec![uhd()]),
        ],
        "PRESET-VIDEO-8" => vec![
            key_use("SD+HD1", vec![sd(), hd1()]),
            key_use("HD2", vec![hd2()]),
            key_use("UHD1", vec![uhd1()]),
            key_use("UHD2", vec![uhd2()]),
        ],
        other => return Err(CpixError::UnknownPreset(other.into())),
    };
    match audio_preset {
        "UNENCRYPTED" => {}
        "PRESET-AUDIO-1" => out.push(key_use("AUDIO", vec![audio(None, None)])),
        "PRESET-AUDIO-2" => {
            out.push(key_use("STEREO_AUDIO", vec![audio(None, Some(2))]));
            out.push(key_use("MULTICHANNEL_AUDIO", vec![audio(Some(3), None)]));
        }
        "PRESET-AUDIO-3" => {
            out.push(key_use("STEREO_AUDIO", vec![audio(None, Some(2))]));
            out.push(key_use(
                "MULTICHANNEL_AUDIO_3_6",
                vec![audio(Some(3), Some(6))],
            ));
            out.push(key_use("MULTICHANNEL_AUDIO_7", vec![audio(Some(7), None)]));
        }
        other => return Err(CpixError::UnknownPreset(other.into())),
    }
    if out.is_empty() {
        return Err(CpixError::NoKeys);
    }
    Ok(out)
}

/// The request for `spec` with KIDs from [`derive_kid`].
pub fn plan(content_id: &str, config_id: &str, spec: &PackageSpec) -> Result<Request, CpixError> {
    plan_with(content_id, spec, |u| {
        derive_kid(content_id, config_id, &u.track_type)
    })
}

/// The request for `spec`, KIDs from `kid_of` (tests pin the examples' KIDs).
pub fn plan_with(
    content_id: &str,
    spec: &PackageSpec,
    mut kid_of: impl FnMut(&KeyUse) -> Kid,
) -> Result<Request, CpixError> {
    let enc = spec.encryption.as_ref().ok_or(CpixError::NotEncrypted)?;
    let (version, uses) = match &enc.speke.presets {
        None => (Version::V1, vec![KeyUse::all()]),
        Some((v, a)) => (Version::V2, preset_keys(v, a)?),
    };
    let scheme = match (version, &spec.format) {
        (Version::V1, _) => None,
        (Version::V2, Format::Dash(_) | Format::Mss(_)) => Some("cenc"),
        (Version::V2, Format::Cmaf(_) | Format::Hls(_)) => Some("cbcs"),
    };
    let keys: Vec<(KeyUse, Kid)> = uses
        .into_iter()
        .map(|u| {
            let k = kid_of(&u);
            (u, k)
        })
        .collect();
    let mut systems = Vec::new();
    for sys in &enc.speke.system_ids {
        let signals = signals_for(version, &spec.format, sys);
        for (_, kid) in &keys {
            systems.push((*sys, *kid, signals.clone()));
        }
    }
    Ok(Request {
        version,
        content_id: content_id.to_string(),
        scheme,
        keys,
        systems,
    })
}

/// The children a `DRMSystem` asks for: what the output needs (SPEKE.md §5).
fn signals_for(version: Version, format: &Format, system: &SystemId) -> Vec<Signal> {
    use Signal::*;
    let hls_v1 = vec![UriExtXKey, KeyFormat, KeyFormatVersions];
    match (version, format) {
        (Version::V1, Format::Hls(_)) => hls_v1,
        (Version::V1, Format::Cmaf(_)) => {
            let mut s = hls_v1;
            if *system != FAIRPLAY {
                s.insert(0, Pssh);
            }
            s
        }
        (Version::V1, Format::Dash(_)) if *system == PLAYREADY => vec![ProtectionHeader, Pssh],
        (Version::V1, Format::Dash(_)) => vec![Pssh],
        (Version::V1, Format::Mss(_)) => vec![ProtectionHeader, Pssh],
        (Version::V2, Format::Dash(_)) => vec![Pssh, ContentProtectionData],
        (Version::V2, Format::Cmaf(_) | Format::Hls(_)) => {
            if *system == FAIRPLAY {
                vec![HlsMedia, HlsMaster]
            } else {
                vec![Pssh, HlsMedia, HlsMaster]
            }
        }
        (Version::V2, Format::Mss(_)) => vec![Pssh, SmoothHeader],
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

impl Request {
    /// The CPIX document to POST.
    pub fn to_xml(&self) -> String {
        use std::fmt::Write;
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let cid = esc(&self.content_id);
        match self.version {
            Version::V1 => {
                let _ = writeln!(
                    x,
                    "<cpix:CPIX id=\"{cid}\" xmlns:cpix=\"{NS_CPIX}\" xmlns:pskc=\"{NS_PSKC}\" xmlns:speke=\"{NS_SPEKE}\">"
                );
            }
            Version::V2 => {
                let _ = writeln!(
                    x,
                    "<cpix:CPIX contentId=\"{cid}\" version=\"2.3\" xmlns:cpix=\"{NS_CPIX}\" xmlns:pskc=\"{NS_PSKC}\">"
                );
            }
        }
        x.push_str("  <cpix:ContentKeyList>\n");
        for (_, kid) in &self.keys {
            let _ = write!(x, "    <cpix:ContentKey kid=\"{}\"", uuid_text(kid));
            if let Some(s) = self.scheme {
                let _ = write!(x, " commonEncryptionScheme=\"{s}\"");
            }
            x.push_str("></cpix:ContentKey>\n");
        }
        x.push_str("  </cpix:ContentKeyList>\n  <cpix:DRMSystemList>\n");
        for (sys, kid, signals) in &self.systems {
            let _ = writeln!(
                x,
                "    <cpix:DRMSystem kid=\"{}\" systemId=\"{}\">",
                uuid_text(kid),
                uuid_text(sys)
            );
            for s in signals {
                x.push_str("      ");
                x.push_str(match s {
                    Signal::Pssh => "<cpix:PSSH/>",
                    Signal::ContentProtectionData => "<cpix:ContentProtectionData/>",
                    Signal::UriExtXKey => "<cpix:URIExtXKey/>",
                    Signal::KeyFormat => "<speke:KeyFormat/>",
                    Signal::KeyFormatVersions => "<speke:KeyFormatVersions/>",
                    Signal::ProtectionHeader => "<speke:ProtectionHeader/>",
                    Signal::SmoothHeader => "<cpix:SmoothStreamingProtectionHeaderData/>",
                    Signal::HlsMedia => "<cpix:HLSSignalingData playlist=\"media\"/>",
                    Signal::HlsMaster => "<cpix:HLSSignalingData playlist=\"master\"/>",
                });
                x.push('\n');
            }
            x.push_str("    </cpix:DRMSystem>\n");
        }
        x.push_str("  </cpix:DRMSystemList>\n");
        if self.version == Version::V2 {
            x.push_str("  <cpix:ContentKeyUsageRuleList>\n");
            for (u, kid) in &self.keys {
                let _ = writeln!(
                    x,
                    "    <cpix:ContentKeyUsageRule kid=\"{}\" intendedTrackType=\"{}\">",
                    uuid_text(kid),
                    esc(&u.track_type)
                );
                for f in &u.filters {
                    x.push_str("      ");
                    match f {
                        Filter::Video {
                            min_pixels,
                            max_pixels,
                        } => {
                            x.push_str("<cpix:VideoFilter");
                            if let Some(v) = min_pixels {
                                let _ = write!(x, " minPixels=\"{v}\"");
                            }
                            if let Some(v) = max_pixels {
                                let _ = write!(x, " maxPixels=\"{v}\"");
                            }
                        }
                        Filter::Audio {
                            min_channels,
                            max_channels,
                        } => {
                            x.push_str("<cpix:AudioFilter");
                            if let Some(v) = min_channels {
                                let _ = write!(x, " minChannels=\"{v}\"");
                            }
                            if let Some(v) = max_channels {
                                let _ = write!(x, " maxChannels=\"{v}\"");
                            }
                        }
                    }
                    x.push_str("/>\n");
                }
                x.push_str("    </cpix:ContentKeyUsageRule>\n");
            }
            x.push_str("  </cpix:ContentKeyUsageRuleList>\n");
        }
        x.push_str("</cpix:CPIX>\n");
        x
    }
}

/// An element of a parsed document: namespace URI, local name, attributes by local name,
/// text, children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct El {
    pub ns: Option<String>,
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<El>,
}

impl El {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Children in namespace `ns` named `name`.
    pub fn all<'a>(&'a self, ns: &'a str, name: &'a str) -> impl Iterator<Item = &'a El> + 'a {
        self.children
            .iter()
            .filter(move |c| c.ns.as_deref() == Some(ns) && c.name == name)
    }

    pub fn first<'a>(&'a self, ns: &'a str, name: &'a str) -> Option<&'a El> {
        self.all(ns, name).next()
    }
}

fn start_el(ns: ResolveResult<'_>, e: &BytesStart<'_>) -> Result<El, CpixError> {
    let ns = match ns {
        ResolveResult::Bound(n) => Some(n.0.to_string()),
        ResolveResult::Unbound => None,
        ResolveResult::Unknown(p) => {
            return Err(CpixError::Xml(format!("unbound prefix '{p}'")));
        }
    };
    let name = e.local_name().as_ref().to_string();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| CpixError::Xml(format!("bad attribute: {err}")))?;
        let qname = a.key.as_ref().to_string();
        // Namespace declarations are not data.
        if qname == "xmlns" || qname.starts_with("xmlns:") {
            continue;
        }
        let key = a.key.local_name().as_ref().to_string();
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| CpixError::Xml(format!("bad attribute value: {err}")))?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(El {
        ns,
        name,
        attrs,
        ..El::default()
    })
}

/// Parses a whole document into its root element.
pub fn parse_tree(xml: &str) -> Result<El, CpixError> {
    let mut r = quick_xml::reader::NsReader::from_str(xml);
    let mut stack: Vec<El> = Vec::new();
    let mut root: Option<El> = None;
    fn attach(stack: &mut [El], root: &mut Option<El>, el: El) -> Result<(), CpixError> {
        match stack.last_mut() {
            Some(parent) => parent.children.push(el),
            None if root.is_none() => *root = Some(el),
            None => return Err(CpixError::Xml("more than one root element".into())),
        }
        Ok(())
    }
    loop {
        let (ns, ev) = r
            .read_resolved_event()
            .map_err(|e| CpixError::Xml(e.to_string()))?;
        match ev {
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(CpixError::Xml("nested too deeply".into()));
                }
                let el = start_el(ns, &e)?;
                stack.push(el);
            }
            Event::Empty(e) => {
                let el = start_el(ns, &e)?;
                attach(&mut stack, &mut root, el)?;
            }
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| CpixError::Xml("unbalanced end tag".into()))?;
                attach(&mut stack, &mut root, el)?;
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.into_inner());
                }
            }
            Event::GeneralRef(g) => {
                if let Some(top) = stack.last_mut() {
                    let c = match g.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        _ => match g.resolve_char_ref() {
                            Ok(Some(c)) => c,
                            _ => return Err(CpixError::Xml("unknown entity".into())),
                        },
                    };
                    top.text.push(c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(CpixError::Xml("unclosed element".into()));
    }
    root.ok_or_else(|| CpixError::Xml("no root element".into()))
}

fn b64(text: &str, field: &'static str, kid: &Kid) -> Result<Vec<u8>, CpixError> {
    let t: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    B64.decode(t.as_bytes()).map_err(|_| CpixError::BadBase64 {
        field,
        kid: uuid_text(kid),
    })
}

fn b64_16(text: &str, field: &'static str, kid: &Kid) -> Result<[u8; 16], CpixError> {
    let v = b64(text, field, kid)?;
    <[u8; 16]>::try_from(v.as_slice()).map_err(|_| CpixError::BadLength {
        field,
        kid: uuid_text(kid),
        len: v.len(),
    })
}

/// Reads and checks the key server's answer to `req`: every requested key present with a
/// 16-byte value, KIDs as asked or overridden one for one (the DRM systems then follow the
/// new KID), every requested signal present and decodable.
pub fn parse_response(req: &Request, body: &[u8]) -> Result<KeySet, CpixError> {
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(CpixError::TooLarge(body.len()));
    }
    let text = std::str::from_utf8(body).map_err(|_| CpixError::Xml("not UTF-8".into()))?;
    let root = parse_tree(text)?;
    if root.ns.as_deref() != Some(NS_CPIX) || root.name != "CPIX" {
        return Err(CpixError::NotCpix);
    }
    // Content keys as returned, in order.
    let mut returned: Vec<(Kid, &El)> = Vec::new();
    for list in root.all(NS_CPIX, "ContentKeyList") {
        for ck in list.all(NS_CPIX, "ContentKey") {
            let kid = ck
                .attr("kid")
                .and_then(parse_uuid)
                .ok_or(CpixError::BadKid)?;
            returned.push((kid, ck));
        }
    }
    // Requested KID → returned KID: the same when present, else (KID override) the returned
    // keys nobody asked for, in order, one for one.
    let asked: Vec<Kid> = req.keys.iter().map(|(_, k)| *k).collect();
    let mut extra = returned
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| !asked.contains(k))
        .collect::<Vec<_>>()
        .into_iter();
    let mut map: Vec<(Kid, Kid)> = Vec::new();
    for k in &asked {
        if returned.iter().any(|(r, _)| r == k) {
            map.push((*k, *k));
        } else if let Some(n) = extra.next() {
            map.push((*k, n));
        } else {
            return Err(CpixError::MissingKey(uuid_text(k)));
        }
    }
    if returned.len() != asked.len() {
        return Err(CpixError::KeyCount {
            asked: asked.len(),
            got: returned.len(),
        });
    }
    let mut keys = Vec::new();
    for ((u, asked_kid), (_, kid)) in req.keys.iter().zip(&map) {
        let Some((_, ck)) = returned.iter().find(|(r, _)| r == kid) else {
            return Err(CpixError::MissingKey(uuid_text(asked_kid)));
        };
        let value = ck
            .first(NS_CPIX, "Data")
            .and_then(|d| d.first(NS_PSKC, "Secret"))
            .and_then(|s| s.first(NS_PSKC, "PlainValue"))
            .ok_or_else(|| CpixError::MissingKey(uuid_text(kid)))?;
        let key = b64_16(&value.text, "PlainValue", kid)?;
        let explicit_iv = match ck.attr("explicitIV") {
            Some(iv) if !iv.trim().is_empty() => Some(b64_16(iv, "explicitIV", kid)?),
            _ => None,
        };
        keys.push((
            u.clone(),
            ContentKey {
                kid: *kid,
                key,
                explicit_iv,
            },
        ));
    }
    // DRM systems: each one we asked for, under the (possibly overridden) KID.
    let mut drm: Vec<(SystemId, Kid, &El)> = Vec::new();
    for list in root.all(NS_CPIX, "DRMSystemList") {
        for d in list.all(NS_CPIX, "DRMSystem") {
            let (Some(kid), Some(sys)) = (
                d.attr("kid").and_then(parse_uuid),
                d.attr("systemId").and_then(parse_uuid),
            ) else {
                return Err(CpixError::BadKid);
            };
            // Systems we did not ask for are ignored; ours must name a known KID.
            if !req.systems.iter().any(|(s, _, _)| *s == sys) {
                continue;
            }
            let new_kid = match map.iter().find(|(a, n)| *a == kid || *n == kid) {
                Some((_, n)) => *n,
                None => return Err(CpixError::UnexpectedKid(uuid_text(&kid))),
            };
            drm.push((sys, new_kid, d));
        }
    }
    let mut systems = Vec::new();
    for (sys, asked_kid, signals) in &req.systems {
        let kid = map
            .iter()
            .find(|(a, _)| a == asked_kid)
            .map(|(_, n)| *n)
            .unwrap_or(*asked_kid);
        let d = drm
            .iter()
            .find(|(s, k, _)| s == sys && *k == kid)
            .map(|(_, _, d)| *d)
            .ok_or_else(|| CpixError::MissingSystem {
                system: uuid_text(sys),
                kid: uuid_text(&kid),
            })?;
        let mut sig = DrmSignal {
            system_id: *sys,
            kid,
            ..DrmSignal::default()
        };
        for s in signals {
            read_signal(&mut sig, d, *s)?;
        }
        systems.push(sig);
    }
    Ok(KeySet { keys, systems })
}

fn read_signal(sig: &mut DrmSignal, d: &El, s: Signal) -> Result<(), CpixError> {
    let missing = || CpixError::MissingSignal {
        field: s.name(),
        system: uuid_text(&sig.system_id),
        kid: uuid_text(&sig.kid),
    };
    let bad = |what| CpixError::BadSignal {
        field: s.name(),
        system: uuid_text(&sig.system_id),
        kid: uuid_text(&sig.kid),
        what,
    };
    let el = match s {
        Signal::Pssh => d.first(NS_CPIX, "PSSH"),
        Signal::ContentProtectionData => d.first(NS_CPIX, "ContentProtectionData"),
        Signal::UriExtXKey => d.first(NS_CPIX, "URIExtXKey"),
        Signal::KeyFormat => d.first(NS_SPEKE, "KeyFormat"),
        Signal::KeyFormatVersions => d.first(NS_SPEKE, "KeyFormatVersions"),
        Signal::ProtectionHeader => d.first(NS_SPEKE, "ProtectionHeader"),
        Signal::SmoothHeader => d.first(NS_CPIX, "SmoothStreamingProtectionHeaderData"),
        Signal::HlsMedia | Signal::HlsMaster => {
            let want = if s == Signal::HlsMedia {
                "media"
            } else {
                "master"
            };
            d.all(NS_CPIX, "HLSSignalingData")
                .find(|e| e.attr("playlist") == Some(want))
        }
    };
    let text = el.map(|e| e.text.trim()).unwrap_or("");
    // KeyFormat may be empty (the AES-128 identity format: the reference server sends
    // base64("")); every other signal we asked for must hold a value.
    let optional = matches!(s, Signal::KeyFormat | Signal::KeyFormatVersions);
    if text.is_empty() {
        return if optional { Ok(()) } else { Err(missing()) };
    }
    let kid = sig.kid;
    let bytes = b64(text, s.name(), &kid)?;
    let utf8 = |b: Vec<u8>| String::from_utf8(b).map_err(|_| bad("UTF-8 text"));
    match s {
        Signal::Pssh => {
            let ok = bytes.len() >= 32
                && u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize
                    == bytes.len()
                && &bytes[4..8] == b"pssh"
                && bytes[12..28] == sig.system_id;
            if !ok {
                return Err(bad("a pssh box of this system"));
            }
            sig.pssh = Some(bytes);
        }
        Signal::ContentProtectionData => sig.content_protection_data = Some(utf8(bytes)?),
        Signal::UriExtXKey => sig.uri_ext_x_key = Some(utf8(bytes)?),
        Signal::KeyFormat => sig.key_format = Some(utf8(bytes)?).filter(|v| !v.is_empty()),
        Signal::KeyFormatVersions => {
            sig.key_format_versions = Some(utf8(bytes)?).filter(|v| !v.is_empty())
        }
        // Both are kept as the base64 text Smooth's `ProtectionHeader` carries.
        Signal::ProtectionHeader | Signal::SmoothHeader => {
            sig.protection_header = Some(text.chars().filter(|c| !c.is_whitespace()).collect())
        }
        Signal::HlsMedia => sig.hls_media = Some(utf8(bytes)?),
        Signal::HlsMaster => sig.hls_master = Some(utf8(bytes)?),
    }
    Ok(())
}
