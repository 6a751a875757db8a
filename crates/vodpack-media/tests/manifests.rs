//! DASH MPD and Smooth client manifest writers: MPDs validated against the ISO/IEC 23009-1
//! schema with `xmllint` (Debian package `libxml2-utils`) and parsed back; Smooth manifests
//! parsed back and checked against their inputs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use quick_xml::Reader;
use quick_xml::events::Event;
use vodpack_media::manifest::dash::{
    self, Audio, ChannelConfiguration, DashOptions, ManifestLayout, Media, Mpd, Profile,
    Representation, SegmentTemplateFormat, SegmentUrls, TrickPlay, Video,
};
use vodpack_media::manifest::mss::{
    self, Codec, QualityLevel, SmoothManifest, Stream, StreamType, Track,
};

// ---------------------------------------------------------------------------------------------
// A tiny DOM over quick-xml, enough to walk the manifests.

#[derive(Debug, Clone)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
}

impl Node {
    fn attr(&self, k: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
    fn req(&self, k: &str) -> &str {
        self.attr(k)
            .unwrap_or_else(|| panic!("<{}> has no {k}: {:?}", self.name, self.attrs))
    }
    fn num(&self, k: &str) -> u64 {
        self.req(k).parse().expect("numeric attribute")
    }
    fn kids<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
    fn kid<'a>(&'a self, name: &'a str) -> Option<&'a Node> {
        self.kids(name).next()
    }
}

fn parse(xml: &str) -> Node {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Node> = vec![Node {
        name: "#doc".into(),
        attrs: vec![],
        children: vec![],
    }];
    let node = |e: &quick_xml::events::BytesStart<'_>| Node {
        name: e.name().as_ref().to_string(),
        attrs: e
            .attributes()
            .map(|a| {
                let a = a.expect("attribute");
                (
                    a.key.as_ref().to_string(),
                    a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .expect("value")
                        .to_string(),
                )
            })
            .collect(),
        children: vec![],
    };
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => stack.push(node(&e)),
            Event::Empty(e) => {
                let n = node(&e);
                stack.last_mut().expect("parent").children.push(n);
            }
            Event::End(_) => {
                let n = stack.pop().expect("open element");
                stack.last_mut().expect("parent").children.push(n);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(stack.len(), 1, "unbalanced XML");
    let mut doc = stack.pop().expect("document");
    assert_eq!(doc.children.len(), 1, "one root element");
    doc.children.remove(0)
}

// ---------------------------------------------------------------------------------------------
// Inputs.

const VIDEO_TS: u32 = 90_000;
const AUDIO_TS: u32 = 48_000;
const SEG_SECONDS: u64 = 6;
const FULL_SEGMENTS: u64 = 10;
const LAST_MS: u64 = 2_345;
/// 10 × 6 s + 2.345 s.
const DURATION_MS: u64 = FULL_SEGMENTS * SEG_SECONDS * 1000 + LAST_MS;

fn timeline(timescale: u32, start: u64) -> Vec<(u64, u64)> {
    let ts = u64::from(timescale);
    let mut v: Vec<(u64, u64)> = (0..FULL_SEGMENTS)
        .map(|i| (start + i * SEG_SECONDS * ts, SEG_SECONDS * ts))
        .collect();
    v.push((
        start + FULL_SEGMENTS * SEG_SECONDS * ts,
        LAST_MS * ts / 1000,
    ));
    v
}

fn urls(kind: &str) -> SegmentUrls {
    SegmentUrls {
        initialization: format!("index_{kind}_$RepresentationID$_init.mp4"),
        media_prefix: format!("index_{kind}_$RepresentationID$_"),
        media_suffix: ".mp4".into(),
    }
}

fn video(id: &str, bandwidth: u32, w: u32, h: u32) -> Representation {
    Representation {
        id: id.into(),
        bandwidth,
        codecs: "avc1.64001f".into(),
        media: Media::Video(Video {
            width: w,
            height: h,
            frame_rate: (30_000, 1001),
            sar: (1, 1),
        }),
        timescale: VIDEO_TS,
        presentation_time_offset: 9_000,
        urls: urls("video"),
        timeline: timeline(VIDEO_TS, 9_000),
        protection: Vec::new(),
    }
}

fn audio(id: &str, lang: &str, codecs: &str, channels: ChannelConfiguration) -> Representation {
    Representation {
        id: id.into(),
        bandwidth: 128_000,
        codecs: codecs.into(),
        media: Media::Audio(Audio {
            sampling_rate: AUDIO_TS,
            channels,
            language: Some(lang.into()),
        }),
        timescale: AUDIO_TS,
        presentation_time_offset: 0,
        urls: urls("audio"),
        timeline: timeline(AUDIO_TS, 0),
        protection: Vec::new(),
    }
}

fn trick() -> TrickPlay {
    let mut r = video("iframe", 200_000, 1280, 720);
    r.urls = SegmentUrls {
        initialization: "index_iframe_init.mp4".into(),
        media_prefix: "index_iframe_".into(),
        media_suffix: ".mp4".into(),
    };
    TrickPlay {
        representation: r,
        max_playout_rate: 180,
    }
}

fn full_set() -> Vec<Representation> {
    vec![
        video("v1", 5_000_000, 1920, 1080),
        video("v2", 2_000_000, 1280, 720),
        audio("a_en", "en", "mp4a.40.2", ChannelConfiguration::Count(2)),
        audio("a_fr", "fr", "mp4a.40.2", ChannelConfiguration::Count(2)),
        audio(
            "a_en_ec3",
            "en",
            "ec-3",
            ChannelConfiguration::DolbyMask(0xF801),
        ),
    ]
}

fn mpd_input(
    reps: Vec<Representation>,
    format: SegmentTemplateFormat,
    layout: ManifestLayout,
    profile: Profile,
    iframe: bool,
) -> Mpd {
    Mpd::single_period(
        Duration::from_millis(DURATION_MS),
        reps,
        iframe.then(trick),
        DashOptions {
            segment_template_format: format,
            manifest_layout: layout,
            profile,
            min_buffer_time_seconds: 30,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Schema validation.

static DIR_SEQ: AtomicUsize = AtomicUsize::new(0);

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "vodpack-manifests-{}-{tag}-{}",
        std::process::id(),
        DIR_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Attributes the MPD schema takes from the W3C xlink namespace; the schema imports them by
/// URL, which we resolve to this stub (no network in tests).
const XLINK_STUB: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
           targetNamespace="http://www.w3.org/1999/xlink">
  <xs:attribute name="href" type="xs:anyURI"/>
  <xs:attribute name="actuate" type="xs:string"/>
  <xs:attribute name="type" type="xs:string"/>
  <xs:attribute name="show" type="xs:string"/>
</xs:schema>
"#;

fn schema_source() -> PathBuf {
    if let Some(p) = std::env::var_os("VODPACK_DASH_XSD") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/schemas/dash/DASH-MPD.xsd")
}

/// Copies the MPD schema next to the xlink stub and points its import there.
fn prepared_schema(dir: &Path) -> PathBuf {
    let src = schema_source();
    let xsd = std::fs::read_to_string(&src).unwrap_or_else(|e| {
        panic!(
            "DASH MPD schema not readable at {} ({e}); set VODPACK_DASH_XSD",
            src.display()
        )
    });
    let remote = "http://www.w3.org/XML/2008/06/xlink.xsd";
    assert!(xsd.contains(remote), "schema no longer imports {remote}");
    std::fs::write(dir.join("xlink.xsd"), XLINK_STUB).expect("write stub");
    let local = dir.join("DASH-MPD.xsd");
    std::fs::write(&local, xsd.replace(remote, "xlink.xsd")).expect("write schema");
    local
}

/// Runs xmllint once over every document: (exit success, stderr, file per document, dir).
fn xmllint(docs: &[(String, String)]) -> (bool, String, Vec<PathBuf>, PathBuf) {
    let dir = temp_dir("xsd");
    let schema = prepared_schema(&dir);
    let mut files = Vec::new();
    for (i, (name, xml)) in docs.iter().enumerate() {
        let f = dir.join(format!("{i:02}-{name}.mpd"));
        std::fs::write(&f, xml).expect("write mpd");
        files.push(f);
    }
    let out = match Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(&schema)
        .args(&files)
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!(
            "cannot run xmllint ({e}): install the Debian package libxml2-utils \
             (apt-get install -y libxml2-utils)"
        ),
    };
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), stderr, files, dir)
}

/// Validates every document against the MPD schema; panics naming the ones that fail.
fn xsd_validate(docs: &[(String, String)]) {
    let (ok, stderr, files, dir) = xmllint(docs);
    for f in &files {
        let line = format!("{} validates", f.display());
        assert!(
            stderr.lines().any(|l| l == line),
            "{} does not validate:\n{stderr}\n{}",
            f.display(),
            std::fs::read_to_string(f).unwrap_or_default()
        );
    }
    assert!(ok, "xmllint failed:\n{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The validation really checks: a schema violation is reported.
#[test]
fn xsd_validation_rejects_schema_violations() {
    let input = mpd_input(
        full_set(),
        SegmentTemplateFormat::NumberWithTimeline,
        ManifestLayout::Full,
        Profile::None,
        false,
    );
    let good = dash::mpd(&input);
    // frameRate must be N or N/D; S needs d.
    let bad_rate = good.replace("frameRate=\"30000/1001\"", "frameRate=\"29.97\"");
    let bad_s = good.replacen(" d=\"540000\"", "", 1);
    assert_ne!(bad_rate, good);
    assert_ne!(bad_s, good);
    for bad in [bad_rate, bad_s] {
        let (ok, stderr, files, dir) = xmllint(&[("bad".into(), bad)]);
        assert!(!ok, "xmllint accepted an invalid MPD");
        assert!(stderr.contains(&format!("{} fails to validate", files[0].display())));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------------------------
// MPD structure checks, against the inputs.

/// Expands a SegmentTimeline into (t, d) pairs.
fn expand_timeline(tl: &Node) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut next = 0u64;
    for s in tl.kids("S") {
        let d = s.num("d");
        let mut t = s.attr("t").map_or(next, |t| t.parse().expect("S@t"));
        let r: u64 = s.attr("r").map_or(0, |r| r.parse().expect("S@r"));
        for _ in 0..=r {
            out.push((t, d));
            t += d;
        }
        next = t;
    }
    out
}

fn expected_nominal(timescale: u32) -> u64 {
    SEG_SECONDS * u64::from(timescale)
}

fn check_template(st: &Node, r: &Representation, format: SegmentTemplateFormat) {
    assert_eq!(st.num("timescale"), u64::from(r.timescale));
    assert_eq!(st.req("initialization"), r.urls.initialization);
    if format == SegmentTemplateFormat::TimeWithTimeline {
        assert!(st.attr("startNumber").is_none());
    } else {
        assert_eq!(st.num("startNumber"), 1);
    }
    assert_eq!(
        st.attr("presentationTimeOffset")
            .map_or(0, |v| v.parse::<u64>().expect("pto")),
        r.presentation_time_offset
    );
    let token = match format {
        SegmentTemplateFormat::TimeWithTimeline => "$Time$",
        _ => "$Number$",
    };
    assert_eq!(
        st.req("media"),
        format!("{}{token}{}", r.urls.media_prefix, r.urls.media_suffix)
    );
    match format {
        SegmentTemplateFormat::NumberWithDuration => {
            assert!(st.kid("SegmentTimeline").is_none());
            assert_eq!(st.num("duration"), expected_nominal(r.timescale));
        }
        _ => {
            assert!(st.attr("duration").is_none());
            let tl = st.kid("SegmentTimeline").expect("SegmentTimeline");
            assert_eq!(expand_timeline(tl), r.timeline, "timeline of {}", r.id);
            // Contiguous equal durations collapse: one S for the full segments, one for the
            // short last segment.
            assert_eq!(tl.kids("S").count(), 2);
        }
    }
}

fn check_mpd(xml: &str, input: &Mpd) {
    let root = parse(xml);
    let opts = input.options;
    assert_eq!(root.name, "MPD");
    assert_eq!(root.req("xmlns"), "urn:mpeg:dash:schema:mpd:2011");
    assert_eq!(root.req("type"), "static");
    assert_eq!(root.req("mediaPresentationDuration"), "PT1M2.345S");
    assert_eq!(
        root.req("minBufferTime"),
        format!("PT{}S", opts.min_buffer_time_seconds)
    );
    let profiles: Vec<&str> = root.req("profiles").split(',').collect();
    assert!(profiles.contains(&"urn:mpeg:dash:profile:isoff-live:2011"));
    assert_eq!(
        profiles.contains(&"urn:hbbtv:dash:profile:isoff-live:2012"),
        opts.profile == Profile::Hbbtv1_5
    );
    let periods: Vec<&Node> = root.kids("Period").collect();
    assert_eq!(periods.len(), 1);
    let period = periods[0];
    assert_eq!(period.req("start"), "PT0S");

    let sets: Vec<&Node> = period.kids("AdaptationSet").collect();
    let mut seen_reps = Vec::new();
    let mut main_roles = std::collections::HashMap::new();
    let mut trick_sets = 0;
    for set in &sets {
        assert_eq!(set.req("segmentAlignment"), "true");
        assert_eq!(set.req("startWithSAP"), "1");
        let ct = set.req("contentType");
        assert_eq!(set.req("mimeType"), format!("{ct}/mp4"));
        let trick_prop = set.kid("EssentialProperty");
        if let Some(p) = trick_prop {
            trick_sets += 1;
            assert_eq!(
                p.req("schemeIdUri"),
                "http://dashif.org/guidelines/trickmode"
            );
            let main = sets
                .iter()
                .find(|s| s.req("id") == p.req("value"))
                .expect("trick mode points at an AdaptationSet");
            assert_eq!(main.req("contentType"), "video");
            assert!(main.kid("EssentialProperty").is_none());
        }
        for role in set.kids("Role") {
            assert_eq!(role.req("schemeIdUri"), "urn:mpeg:dash:role:2011");
            if role.req("value") == "main" {
                *main_roles.entry(ct.to_string()).or_insert(0) += 1;
            }
        }
        let set_template = set.kid("SegmentTemplate");
        let reps: Vec<&Node> = set.kids("Representation").collect();
        assert!(!reps.is_empty());
        for rn in &reps {
            let id = rn.req("id");
            let input_rep = if trick_prop.is_some() {
                let t = input.periods[0]
                    .trick_play
                    .as_ref()
                    .expect("trick play requested");
                assert_eq!(rn.num("maxPlayoutRate"), u64::from(t.max_playout_rate));
                assert_eq!(rn.req("codingDependency"), "false");
                &t.representation
            } else {
                input.periods[0]
                    .representations
                    .iter()
                    .find(|r| r.id == id)
                    .expect("representation from the input")
            };
            seen_reps.push(id.to_string());
            assert_eq!(rn.num("bandwidth"), u64::from(input_rep.bandwidth));
            assert_eq!(rn.req("codecs"), input_rep.codecs);
            match &input_rep.media {
                Media::Video(v) => {
                    assert_eq!(ct, "video");
                    assert_eq!(rn.num("width"), u64::from(v.width));
                    assert_eq!(rn.num("height"), u64::from(v.height));
                    assert_eq!(
                        rn.req("frameRate"),
                        format!("{}/{}", v.frame_rate.0, v.frame_rate.1)
                    );
                    assert_eq!(rn.req("sar"), format!("{}:{}", v.sar.0, v.sar.1));
                }
                Media::Audio(a) => {
                    assert_eq!(ct, "audio");
                    assert_eq!(set.attr("lang"), a.language.as_deref());
                    assert_eq!(rn.num("audioSamplingRate"), u64::from(a.sampling_rate));
                    let acc = rn
                        .kid("AudioChannelConfiguration")
                        .expect("AudioChannelConfiguration");
                    match a.channels {
                        ChannelConfiguration::Count(n) => {
                            assert_eq!(
                                acc.req("schemeIdUri"),
                                "urn:mpeg:dash:23003:3:audio_channel_configuration:2011"
                            );
                            assert_eq!(acc.num("value"), u64::from(n));
                        }
                        ChannelConfiguration::DolbyMask(m) => {
                            assert_eq!(
                                acc.req("schemeIdUri"),
                                "tag:dolby.com,2014:dash:audio_channel_configuration:2011"
                            );
                            assert_eq!(u16::from_str_radix(acc.req("value"), 16).expect("hex"), m);
                        }
                    }
                }
            }
            // Every Representation of a set shares language and codec family.
            let fam = |c: &str| c.split('.').next().unwrap_or_default().to_string();
            assert!(
                reps.iter()
                    .all(|o| fam(o.req("codecs")) == fam(&input_rep.codecs))
            );
            let rep_template = rn.kid("SegmentTemplate");
            match (set_template, rep_template) {
                (Some(st), None) => {
                    assert_eq!(opts.manifest_layout, ManifestLayout::Compact);
                    check_template(st, input_rep, opts.segment_template_format);
                }
                (None, Some(st)) => {
                    if opts.manifest_layout == ManifestLayout::Compact && trick_prop.is_none() {
                        // Fallback only when the set's representations differ.
                        let inputs: Vec<&Representation> = reps
                            .iter()
                            .map(|o| {
                                input.periods[0]
                                    .representations
                                    .iter()
                                    .find(|r| r.id == o.req("id"))
                                    .expect("input")
                            })
                            .collect();
                        assert!(inputs.iter().any(|r| r.timeline != inputs[0].timeline
                            || r.urls != inputs[0].urls
                            || r.timescale != inputs[0].timescale));
                    }
                    check_template(st, input_rep, opts.segment_template_format);
                }
                other => panic!("template placement {other:?} for {id}"),
            }
        }
    }
    // Every input representation appears exactly once.
    let mut expected: Vec<String> = input.periods[0]
        .representations
        .iter()
        .map(|r| r.id.clone())
        .collect();
    let has_video = input.periods[0]
        .representations
        .iter()
        .any(|r| matches!(r.media, Media::Video(_)));
    if let Some(t) = &input.periods[0].trick_play
        && has_video
    {
        expected.push(t.representation.id.clone());
    }
    expected.sort();
    seen_reps.sort();
    assert_eq!(seen_reps, expected);
    assert_eq!(
        trick_sets,
        usize::from(input.periods[0].trick_play.is_some() && has_video)
    );
    for ct in ["video", "audio"] {
        let present = sets.iter().any(|s| s.req("contentType") == ct);
        assert_eq!(
            main_roles.get(ct).copied().unwrap_or(0),
            usize::from(present),
            "one Role main for {ct}"
        );
    }
}

const FORMATS: [SegmentTemplateFormat; 3] = [
    SegmentTemplateFormat::NumberWithTimeline,
    SegmentTemplateFormat::TimeWithTimeline,
    SegmentTemplateFormat::NumberWithDuration,
];
const LAYOUTS: [ManifestLayout; 2] = [ManifestLayout::Full, ManifestLayout::Compact];
const PROFILES: [Profile; 2] = [Profile::None, Profile::Hbbtv1_5];

#[test]
fn mpd_matrix_validates_and_reflects_inputs() {
    let mut docs = Vec::new();
    for format in FORMATS {
        for layout in LAYOUTS {
            for profile in PROFILES {
                for iframe in [false, true] {
                    let input = mpd_input(full_set(), format, layout, profile, iframe);
                    let xml = dash::mpd(&input);
                    check_mpd(&xml, &input);
                    docs.push((format!("{format:?}-{layout:?}-{profile:?}-{iframe}"), xml));
                }
            }
        }
    }
    assert_eq!(docs.len(), 24);
    xsd_validate(&docs);
}

#[test]
fn mpd_groups_audio_by_language_and_codec() {
    let input = mpd_input(
        full_set(),
        SegmentTemplateFormat::NumberWithTimeline,
        ManifestLayout::Compact,
        Profile::None,
        false,
    );
    let root = parse(&dash::mpd(&input));
    let period = root.kid("Period").expect("Period");
    let sets: Vec<(String, Option<String>, Vec<String>)> = period
        .kids("AdaptationSet")
        .map(|s| {
            (
                s.req("contentType").to_string(),
                s.attr("lang").map(str::to_string),
                s.kids("Representation")
                    .map(|r| r.req("id").to_string())
                    .collect(),
            )
        })
        .collect();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        sets,
        vec![
            ("video".into(), None, s(&["v1", "v2"])),
            ("audio".into(), Some("en".into()), s(&["a_en"])),
            ("audio".into(), Some("fr".into()), s(&["a_fr"])),
            ("audio".into(), Some("en".into()), s(&["a_en_ec3"])),
        ]
    );
    // Video AdaptationSet maxima come from the largest input.
    let v = period.kid("AdaptationSet").expect("video set");
    assert_eq!(v.num("maxWidth"), 1920);
    assert_eq!(v.num("maxHeight"), 1080);
    assert_eq!(v.req("maxFrameRate"), "30000/1001");
}

#[test]
fn mpd_audio_only_multi_language_and_compact_fallback() {
    let audio_only = vec![
        audio("a_en", "en", "mp4a.40.2", ChannelConfiguration::Count(2)),
        audio("a_de", "de", "mp4a.40.2", ChannelConfiguration::Count(6)),
        audio(
            "a_de_ac3",
            "de",
            "ac-3",
            ChannelConfiguration::DolbyMask(0xA000),
        ),
    ];
    // Two video renditions whose timelines differ: COMPACT must fall back per Representation.
    let mut differing = full_set();
    differing[1].timeline.pop();
    differing[1].timeline.push((
        9_000 + FULL_SEGMENTS * SEG_SECONDS * u64::from(VIDEO_TS),
        3 * u64::from(VIDEO_TS),
    ));
    let mut docs = Vec::new();
    for format in FORMATS {
        for profile in PROFILES {
            for layout in LAYOUTS {
                // Trick play without video is dropped.
                let input = mpd_input(audio_only.clone(), format, layout, profile, true);
                let xml = dash::mpd(&input);
                check_mpd(&xml, &input);
                assert!(!xml.contains("trickmode"));
                docs.push((format!("audio-{format:?}-{layout:?}-{profile:?}"), xml));
            }
            let input = mpd_input(
                differing.clone(),
                format,
                ManifestLayout::Compact,
                profile,
                true,
            );
            let xml = dash::mpd(&input);
            check_mpd(&xml, &input);
            let root = parse(&xml);
            let video_set = root
                .kid("Period")
                .and_then(|p| p.kid("AdaptationSet"))
                .expect("video set");
            assert!(video_set.kid("SegmentTemplate").is_none());
            docs.push((format!("fallback-{format:?}-{profile:?}"), xml));
        }
    }
    xsd_validate(&docs);
}

#[test]
fn mpd_escapes_attribute_values() {
    let mut reps = full_set();
    reps[0].urls.media_prefix = "seg&x=\"1\"<_$RepresentationID$_".into();
    let input = mpd_input(
        reps,
        SegmentTemplateFormat::NumberWithTimeline,
        ManifestLayout::Full,
        Profile::None,
        false,
    );
    let xml = dash::mpd(&input);
    let root = parse(&xml);
    let media = root
        .kid("Period")
        .and_then(|p| p.kid("AdaptationSet"))
        .and_then(|s| s.kid("Representation"))
        .and_then(|r| r.kid("SegmentTemplate"))
        .map(|t| t.req("media").to_string());
    assert_eq!(
        media.as_deref(),
        Some("seg&x=\"1\"<_$RepresentationID$_$Number$.mp4")
    );
    xsd_validate(&[("escaped".into(), xml)]);
}

// ---------------------------------------------------------------------------------------------
// Smooth Streaming.

const MSS_TS: u64 = 10_000_000;

fn mss_fragments(start: u64, count: u64, d: u64, last: u64) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = (0..count).map(|i| (start + i * d, d)).collect();
    v.push((start + count * d, last));
    v
}

fn mss_input(compress: bool) -> SmoothManifest {
    let video_levels = vec![
        QualityLevel {
            bitrate: 5_000_000,
            codec: Codec::H264,
            codec_private_data: vec![0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0, 0, 0, 1, 0x68, 0xeb],
            track: Track::Video {
                width: 1920,
                height: 1080,
            },
        },
        QualityLevel {
            bitrate: 2_000_000,
            codec: Codec::H264,
            codec_private_data: vec![0, 0, 0, 1, 0x67, 0x4d, 0x40, 0x1e, 0, 0, 0, 1, 0x68, 0xee],
            track: Track::Video {
                width: 1280,
                height: 720,
            },
        },
    ];
    let aac = |bitrate| QualityLevel {
        bitrate,
        codec: Codec::Aac,
        codec_private_data: vec![0x12, 0x10],
        track: Track::Audio {
            sampling_rate: 48_000,
            channels: 2,
            bits_per_sample: 16,
            packet_size: 4,
        },
    };
    SmoothManifest {
        timescale: MSS_TS,
        duration: DURATION_MS * (MSS_TS / 1000),
        streams: vec![
            Stream {
                kind: StreamType::Video,
                name: "video".into(),
                language: None,
                levels: video_levels,
                fragments: mss_fragments(0, FULL_SEGMENTS, SEG_SECONDS * MSS_TS, LAST_MS * 10_000),
            },
            Stream {
                kind: StreamType::Audio,
                name: "audio_eng".into(),
                language: Some("eng".into()),
                levels: vec![aac(128_000)],
                fragments: mss_fragments(0, FULL_SEGMENTS, SEG_SECONDS * MSS_TS, LAST_MS * 10_000),
            },
            Stream {
                kind: StreamType::Audio,
                name: "audio_fra".into(),
                language: Some("fra".into()),
                levels: vec![
                    aac(96_000),
                    QualityLevel {
                        bitrate: 384_000,
                        codec: Codec::Ec3,
                        codec_private_data: vec![0xfe, 0xff, 0x06, 0x00],
                        track: Track::Audio {
                            sampling_rate: 48_000,
                            channels: 6,
                            bits_per_sample: 16,
                            packet_size: 4,
                        },
                    },
                ],
                fragments: mss_fragments(0, FULL_SEGMENTS, SEG_SECONDS * MSS_TS, LAST_MS * 10_000),
            },
        ],
        compress_repeats: compress,
        protection: None,
    }
}

/// Expands `c` elements; `r` counts extra fragments (Shaka/ExoPlayer reading).
fn expand_chunks(si: &Node) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut next = 0u64;
    for c in si.kids("c") {
        let d = c.num("d");
        let mut t = c.attr("t").map_or(next, |t| t.parse().expect("c@t"));
        let r: u64 = c.attr("r").map_or(0, |r| r.parse().expect("c@r"));
        for _ in 0..=r {
            out.push((t, d));
            t += d;
        }
        next = t;
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn check_mss(xml: &str, input: &SmoothManifest) {
    let root = parse(xml);
    assert_eq!(root.name, "SmoothStreamingMedia");
    assert_eq!(root.num("MajorVersion"), 2);
    assert_eq!(root.num("MinorVersion"), 2);
    assert_eq!(root.num("TimeScale"), input.timescale);
    assert_eq!(root.num("Duration"), input.duration);
    assert!(root.attr("IsLive").is_none());
    let indexes: Vec<&Node> = root.kids("StreamIndex").collect();
    assert_eq!(indexes.len(), input.streams.len());
    for (si, st) in indexes.iter().zip(&input.streams) {
        let video = st.kind == StreamType::Video;
        assert_eq!(si.req("Type"), if video { "video" } else { "audio" });
        assert_eq!(si.req("Name"), st.name);
        assert_eq!(si.attr("Language"), st.language.as_deref());
        assert_eq!(si.num("TimeScale"), input.timescale);
        assert_eq!(si.num("Chunks"), st.fragments.len() as u64);
        assert_eq!(si.num("QualityLevels"), st.levels.len() as u64);
        assert_eq!(
            si.req("Url"),
            format!(
                "QualityLevels({{bitrate}})/Fragments({}={{start time}})",
                st.name
            )
        );
        let levels: Vec<&Node> = si.kids("QualityLevel").collect();
        assert_eq!(levels.len(), st.levels.len());
        for (i, (qn, q)) in levels.iter().zip(&st.levels).enumerate() {
            assert_eq!(qn.num("Index"), i as u64);
            assert_eq!(qn.num("Bitrate"), u64::from(q.bitrate));
            assert_eq!(qn.req("CodecPrivateData"), hex(&q.codec_private_data));
            let fourcc = match q.codec {
                Codec::H264 => "H264",
                Codec::Aac => "AACL",
                Codec::Ec3 => "EC-3",
                Codec::Ac3 => "AC-3",
                Codec::Hevc => "HVC1",
            };
            assert_eq!(qn.req("FourCC"), fourcc);
            match q.track {
                Track::Video { width, height } => {
                    assert_eq!(qn.num("MaxWidth"), u64::from(width));
                    assert_eq!(qn.num("MaxHeight"), u64::from(height));
                    assert!(qn.attr("SamplingRate").is_none());
                }
                Track::Audio {
                    sampling_rate,
                    channels,
                    bits_per_sample,
                    packet_size,
                } => {
                    assert_eq!(qn.num("SamplingRate"), u64::from(sampling_rate));
                    assert_eq!(qn.num("Channels"), u64::from(channels));
                    assert_eq!(qn.num("BitsPerSample"), u64::from(bits_per_sample));
                    assert_eq!(qn.num("PacketSize"), u64::from(packet_size));
                    let tag = match q.codec {
                        Codec::Aac => 255,
                        Codec::Ec3 => 65534,
                        Codec::Ac3 => 8192,
                        _ => unreachable!(),
                    };
                    assert_eq!(qn.num("AudioTag"), tag);
                    assert!(qn.attr("MaxWidth").is_none());
                }
            }
        }
        if video {
            let max_w = st
                .levels
                .iter()
                .filter_map(|q| match q.track {
                    Track::Video { width, .. } => Some(width),
                    Track::Audio { .. } => None,
                })
                .max()
                .expect("video level");
            assert_eq!(si.num("MaxWidth"), u64::from(max_w));
            assert_eq!(si.num("DisplayWidth"), u64::from(max_w));
            assert!(si.attr("MaxHeight").is_some() && si.attr("DisplayHeight").is_some());
        } else {
            assert!(si.attr("MaxWidth").is_none());
        }
        // Timeline: the expansion is the input; t only where needed.
        assert_eq!(expand_chunks(si), st.fragments);
        let cs: Vec<&Node> = si.kids("c").collect();
        assert!(cs[0].attr("t").is_some(), "first c carries t");
        let mut expected = None;
        let mut idx = 0usize;
        for c in &cs {
            let (t, d) = st.fragments[idx];
            assert_eq!(
                c.attr("t").is_some(),
                expected != Some(t),
                "t only on discontinuity"
            );
            let n = 1 + c.attr("r").map_or(0, |r| r.parse::<usize>().expect("r"));
            if !input.compress_repeats {
                assert_eq!(n, 1);
            }
            idx += n;
            expected = Some(st.fragments[idx - 1].0 + d);
        }
        assert_eq!(idx, st.fragments.len());
    }
}

#[test]
fn smooth_manifest_reflects_inputs() {
    for compress in [false, true] {
        let input = mss_input(compress);
        let xml = mss::client_manifest(&input);
        check_mss(&xml, &input);
        // Contiguous fragments from 0: durations sum to the presentation Duration.
        let root = parse(&xml);
        for si in root.kids("StreamIndex") {
            let sum: u64 = expand_chunks(si).iter().map(|f| f.1).sum();
            assert_eq!(sum, input.duration, "{}", si.req("Name"));
        }
        let c_count: usize = root.kids("StreamIndex").map(|s| s.kids("c").count()).sum();
        let fragments = (FULL_SEGMENTS as usize + 1) * input.streams.len();
        if compress {
            assert_eq!(c_count, 2 * input.streams.len());
        } else {
            assert_eq!(c_count, fragments);
        }
    }
}

#[test]
fn smooth_manifest_discontinuity_and_offset_start() {
    let mut input = mss_input(true);
    let d = SEG_SECONDS * MSS_TS;
    // Starts at 10 s, has a 1 s hole after the third fragment.
    input.streams[0].fragments = vec![
        (10 * MSS_TS, d),
        (10 * MSS_TS + d, d),
        (10 * MSS_TS + 2 * d, d),
        (11 * MSS_TS + 3 * d, d),
        (11 * MSS_TS + 4 * d, 2 * MSS_TS),
    ];
    input.streams[1].name = "audio&<eng>".into();
    let xml = mss::client_manifest(&input);
    check_mss(&xml, &input);
    let root = parse(&xml);
    let si = root.kid("StreamIndex").expect("video");
    let ts: Vec<Option<&str>> = si.kids("c").map(|c| c.attr("t")).collect();
    assert_eq!(ts.len(), 3);
    assert_eq!(ts[0], Some("100000000"));
    assert!(ts[1].is_some());
    assert!(ts[2].is_none());
}

/// An encrypted MPD: descriptors on each AdaptationSet, first among its children, with the
/// `cenc`/`mspr` prefixes declared; Representations with different keys never share a set.
/// Valid against the schema (which places ContentProtection before Role).
#[test]
fn mpd_with_content_protection_validates() {
    let protection = |kid: &str| {
        vec![
            dash::ContentProtection {
                scheme_id_uri: "urn:mpeg:dash:mp4protection:2011".into(),
                value: Some("cenc".into()),
                default_kid: Some(kid.into()),
                children: String::new(),
            },
            dash::ContentProtection {
                scheme_id_uri: "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed".into(),
                value: None,
                default_kid: None,
                children: "<cenc:pssh>AAAAOHBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAABgSEKGyw9QAAEAAgAAAAAAAAAFI49yVmwY=</cenc:pssh>".into(),
            },
            dash::ContentProtection {
                scheme_id_uri: "urn:uuid:9a04f079-9840-4286-ab92-e65be0885f95".into(),
                value: Some("MSPR 2.0".into()),
                default_kid: None,
                // As a key server sends ContentProtectionData: its own namespace declarations.
                children: "<pssh xmlns=\"urn:mpeg:cenc:2013\">AAAA</pssh><pro xmlns=\"urn:microsoft:playready\">BBBB</pro>".into(),
            },
        ]
    };
    let sd = "a1b2c3d4-0000-4000-8000-000000000001";
    let hd = "a1b2c3d4-0000-4000-8000-000000000002";
    let au = "a1b2c3d4-0000-4000-8000-000000000003";
    let mut reps = full_set();
    for r in &mut reps {
        r.protection = match &r.media {
            Media::Video(v) if v.height <= 720 => protection(sd),
            Media::Video(_) => protection(hd),
            Media::Audio(_) => protection(au),
        };
    }
    // Every template format and layout, with the trick-play set (encrypted with the video key
    // of its resolution, like the Representation it is made from).
    let mut docs = Vec::new();
    for format in FORMATS {
        for layout in LAYOUTS {
            let mut input = mpd_input(reps.clone(), format, layout, Profile::None, true);
            if let Some(t) = input.periods[0].trick_play.as_mut() {
                t.representation.protection = protection(hd);
            }
            let xml = dash::mpd(&input);
            let root = parse(&xml);
            assert_eq!(root.attr("xmlns:cenc"), Some("urn:mpeg:cenc:2013"));
            let period = root.kid("Period").expect("Period");
            let sets: Vec<&Node> = period
                .children
                .iter()
                .filter(|c| c.name == "AdaptationSet")
                .collect();
            let mut kids = Vec::new();
            for set in &sets {
                let first = set.children.first().expect("children");
                assert_eq!(first.name, "ContentProtection", "{xml}");
                let kid = first.attr("cenc:default_KID").expect("default_KID");
                kids.push(kid.to_string());
                let cps = set
                    .children
                    .iter()
                    .filter(|c| c.name == "ContentProtection")
                    .count();
                assert_eq!(cps, 3);
            }
            // SD and HD video in different sets, the trick set with its key; every key
            // appears.
            assert!(sets.len() >= 5, "{xml}");
            for kid in [sd, hd, au] {
                assert!(kids.iter().any(|k| k == kid), "{kid} missing: {kids:?}");
            }
            docs.push((format!("protected-{format:?}-{layout:?}"), xml));
        }
    }
    xsd_validate(&docs);
    let clear = dash::mpd(&mpd_input(
        full_set(),
        SegmentTemplateFormat::NumberWithTimeline,
        ManifestLayout::Full,
        Profile::None,
        false,
    ));
    assert!(!clear.contains("cenc") && !clear.contains("ContentProtection"));
}
