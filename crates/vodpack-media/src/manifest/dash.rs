//! DASH MPD writer (ISO/IEC 23009-1) for MediaPackage VOD `dashPackage` output: one static
//! MPD with a single Period, written with `write!` (attribute values XML-escaped) for
//! byte-exact control of element order. Pure: the caller computes every value (segment
//! timelines, codec strings, URLs); this module only decides layout.
//!
//! What it owns:
//! * `MPD@type="static"`, `mediaPresentationDuration`, `minBufferTime`, `profiles`.
//! * Grouping of representations into AdaptationSets: video by codec family (the part of
//!   `codecs` before the first `.`), audio by language × codec family; order of first
//!   appearance is kept (the caller applies `streamOrder`/`streamSelection` first). Ids are
//!   `0, 1, …` in output order. The first AdaptationSet of each content type carries
//!   `Role main`, later ones `Role alternate`.
//! * `segmentTemplateFormat`: `NUMBER_WITH_TIMELINE` (`$Number$` + SegmentTimeline),
//!   `TIME_WITH_TIMELINE` (`$Time$` + SegmentTimeline), `NUMBER_WITH_DURATION` (`$Number$` +
//!   `@duration`, the most common segment duration of the timeline, last segment excluded;
//!   a Representation that `@duration` cannot address, one that starts late or ends early,
//!   gets its `$Number$` SegmentTimeline instead, so no listed segment is missing).
//!   Timelines are run-length compressed (`S@r`); `S@t` is written on the first entry and
//!   wherever a gap or overlap breaks continuity.
//! * `manifestLayout`: `FULL` puts a SegmentTemplate in every Representation; `COMPACT` puts
//!   one in the AdaptationSet when every Representation shares timescale,
//!   presentationTimeOffset, URL templates and timeline (URLs then normally carry
//!   `$RepresentationID$`), else falls back to FULL for that AdaptationSet.
//! * `includeIframeOnlyStream`: an extra video AdaptationSet with the trick-mode
//!   `EssentialProperty` (`http://dashif.org/guidelines/trickmode`, value = id of the main
//!   video AdaptationSet) holding one Representation with `maxPlayoutRate` and
//!   `codingDependency="false"`.
//! * `profile`: `NONE` → `urn:mpeg:dash:profile:isoff-live:2011`; `HBBTV_1_5` →
//!   `urn:hbbtv:dash:profile:isoff-live:2012,urn:mpeg:dash:profile:isoff-live:2011`. The
//!   MPD-level constraints of HbbTV 1.5 / DVB-DASH that we satisfy in every profile: one
//!   Period, SegmentTemplate addressing only, `@segmentAlignment="true"`,
//!   `@startWithSAP="1"`, `@contentType`/`@mimeType` on every AdaptationSet, exactly one
//!   `Role main` per content type, AAC channels in the MPEG 23003-3 scheme and (E-)AC-3 in
//!   the Dolby scheme. HbbTV 1.5 terminals ignore the trick-mode AdaptationSet (unknown
//!   EssentialProperty). Not enforced here (the caller's stream selection must): the DVB
//!   dimension limits (at most 16 Representations per AdaptationSet) and codec profiles.
//!
//! Not handled here: multi-period output (`periodTriggers` = `ADS`), SCTE-35 EventStreams,
//! ContentProtection, text and image AdaptationSets. `includeEncoderConfigurationInSegments`
//! only changes the codec string the caller passes (`avc3`/`hev1` instead of `avc1`/`hvc1`).

use std::fmt::Write;
use std::time::Duration;

use quick_xml::escape::escape;

/// `dashPackage.segmentTemplateFormat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SegmentTemplateFormat {
    #[default]
    NumberWithTimeline,
    TimeWithTimeline,
    NumberWithDuration,
}

/// `dashManifests[].manifestLayout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ManifestLayout {
    #[default]
    Full,
    Compact,
}

/// `dashManifests[].profile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    #[default]
    None,
    Hbbtv1_5,
}

/// Packaging-configuration options that shape the MPD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DashOptions {
    pub segment_template_format: SegmentTemplateFormat,
    pub manifest_layout: ManifestLayout,
    pub profile: Profile,
    /// `minBufferTimeSeconds` (the service applies its default when the field is absent).
    pub min_buffer_time_seconds: u32,
}

/// URL templates of one Representation, relative to the MPD. They may contain
/// `$RepresentationID$` and `$Bandwidth$`; the writer adds `$Number$` or `$Time$` between
/// `media_prefix` and `media_suffix` according to the segment template format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentUrls {
    pub initialization: String,
    pub media_prefix: String,
    pub media_suffix: String,
}

/// `AudioChannelConfiguration` of an audio Representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelConfiguration {
    /// Channel count, scheme `urn:mpeg:dash:23003:3:audio_channel_configuration:2011` (AAC).
    Count(u32),
    /// Dolby channel mask (from `dac3`/`dec3` acmod + lfeon), written as four upper-case hex
    /// digits with scheme `tag:dolby.com,2014:dash:audio_channel_configuration:2011`
    /// (AC-3, E-AC-3).
    DolbyMask(u16),
}

impl ChannelConfiguration {
    /// The Dolby mask of an AC-3/E-AC-3 channel layout (`acmod`, `lfeon`; DASH-IF IOP /
    /// ETSI TS 102 366): L C R Ls Rs from bit 15 down, Cs in bit 10, LFE in bit 0.
    pub fn dolby(acmod: u8, lfeon: bool) -> ChannelConfiguration {
        let base: u16 = match acmod {
            1 => 0x4000,          // C
            3 => 0xE000,          // L C R
            4 => 0xA000 | 0x0400, // L R Cs
            5 => 0xE000 | 0x0400, // L C R Cs
            6 => 0xB800,          // L R Ls Rs
            7 => 0xF800,          // L C R Ls Rs
            _ => 0xA000,          // L R (and 1+1)
        };
        ChannelConfiguration::DolbyMask(base | u16::from(lfeon))
    }
}

/// Video properties of a Representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Video {
    pub width: u32,
    pub height: u32,
    /// Frames per second as numerator/denominator (e.g. 30000/1001); written as `N` when the
    /// denominator is 1.
    pub frame_rate: (u32, u32),
    /// Sample aspect ratio (`sar`), e.g. (1, 1).
    pub sar: (u32, u32),
}

/// Audio properties of a Representation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audio {
    pub sampling_rate: u32,
    pub channels: ChannelConfiguration,
    /// RFC 5646 language tag (`AdaptationSet@lang`).
    pub language: Option<String>,
}

/// What a Representation carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Media {
    Video(Video),
    Audio(Audio),
}

/// One Representation (one output track) with its segment addressing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Representation {
    /// `Representation@id`: no white space.
    pub id: String,
    /// Peak bits per second.
    pub bandwidth: u32,
    /// RFC 6381 codec string, e.g. `avc1.64001f`, `mp4a.40.2`, `ec-3`.
    pub codecs: String,
    pub media: Media,
    /// Ticks per second of `timeline` and `presentation_time_offset`.
    pub timescale: u32,
    /// Media time of the Period start, in `timescale` ticks.
    pub presentation_time_offset: u64,
    pub urls: SegmentUrls,
    /// Segments as (start time, duration) in `timescale` ticks, in order.
    pub timeline: Vec<(u64, u64)>,
    /// `ContentProtection` descriptors of an encrypted Representation (empty when clear).
    /// Representations are grouped into AdaptationSets by these too, so every set has one
    /// key and its descriptors are written once, on the AdaptationSet.
    pub protection: Vec<ContentProtection>,
}

/// A `ContentProtection` descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentProtection {
    pub scheme_id_uri: String,
    pub value: Option<String>,
    /// `cenc:default_KID` (UUID text).
    pub default_kid: Option<String>,
    /// Child elements as XML text (from the key server, or `cenc:pssh`/`mspr:pro` we wrote),
    /// standalone: any prefix they use is declared on the MPD (`cenc`, `mspr`) or in them.
    pub children: String,
}

/// The I-frame-only (trick-play) Representation made from the first video rendition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrickPlay {
    /// Must have [`Media::Video`]; an audio one is ignored.
    pub representation: Representation,
    /// `Representation@maxPlayoutRate`: the fastest speed the stream supports (e.g. the
    /// segment duration divided by the duration of one I-frame picture).
    pub max_playout_rate: u32,
}

/// One Period: a stretch of the presentation with its own Representations (one today; ad
/// breaks will split a presentation into several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// `Period@id`: unique within the MPD.
    pub id: String,
    /// `Period@start` on the presentation timeline.
    pub start: Duration,
    /// How long the Period lasts (to the next Period's start, or the presentation's end).
    pub duration: Duration,
    pub representations: Vec<Representation>,
    pub trick_play: Option<TrickPlay>,
}

/// Everything one MPD shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mpd {
    /// `mediaPresentationDuration` (millisecond precision is written).
    pub duration: Duration,
    /// In presentation order, without gaps.
    pub periods: Vec<Period>,
    pub options: DashOptions,
}

impl Mpd {
    /// An MPD of one Period covering the whole presentation.
    pub fn single_period(
        duration: Duration,
        representations: Vec<Representation>,
        trick_play: Option<TrickPlay>,
        options: DashOptions,
    ) -> Mpd {
        Mpd {
            duration,
            periods: vec![Period {
                id: "0".into(),
                start: Duration::ZERO,
                duration,
                representations,
                trick_play,
            }],
            options,
        }
    }
}

const NS: &str = "urn:mpeg:dash:schema:mpd:2011";
const CENC_NS: &str = "urn:mpeg:cenc:2013";
const MSPR_NS: &str = "urn:microsoft:playready";
const PROFILE_LIVE: &str = "urn:mpeg:dash:profile:isoff-live:2011";
const PROFILE_HBBTV_1_5: &str = "urn:hbbtv:dash:profile:isoff-live:2012";
const ROLE_SCHEME: &str = "urn:mpeg:dash:role:2011";
const TRICKMODE_SCHEME: &str = "http://dashif.org/guidelines/trickmode";
const CHANNELS_MPEG: &str = "urn:mpeg:dash:23003:3:audio_channel_configuration:2011";
const CHANNELS_DOLBY: &str = "tag:dolby.com,2014:dash:audio_channel_configuration:2011";

/// `xs:duration` with millisecond precision and no trailing zeros: `PT0S`, `PT6S`,
/// `PT1M2.345S`, `PT1H0M0.5S`.
pub fn xs_duration(d: Duration) -> String {
    let total_ms = d.as_millis();
    let (h, rem) = (total_ms / 3_600_000, total_ms % 3_600_000);
    let (m, rem) = (rem / 60_000, rem % 60_000);
    let (s, ms) = (rem / 1000, rem % 1000);
    let mut out = String::from("PT");
    if h > 0 {
        let _ = write!(out, "{h}H");
    }
    if h > 0 || m > 0 {
        let _ = write!(out, "{m}M");
    }
    let _ = write!(out, "{s}");
    if ms > 0 {
        let frac = format!("{ms:03}");
        let _ = write!(out, ".{}", frac.trim_end_matches('0'));
    }
    out.push('S');
    out
}

/// Writes `<name a="v" …` (no closing bracket), escaping values.
fn open(s: &mut String, depth: usize, name: &str, attrs: &[(&str, String)]) {
    for _ in 0..depth {
        s.push_str("  ");
    }
    s.push('<');
    s.push_str(name);
    for (k, v) in attrs {
        let _ = write!(s, " {k}=\"{}\"", escape(v.as_str()));
    }
}

fn empty(s: &mut String, depth: usize, name: &str, attrs: &[(&str, String)]) {
    open(s, depth, name, attrs);
    s.push_str("/>\n");
}

fn start(s: &mut String, depth: usize, name: &str, attrs: &[(&str, String)]) {
    open(s, depth, name, attrs);
    s.push_str(">\n");
}

fn end(s: &mut String, depth: usize, name: &str) {
    for _ in 0..depth {
        s.push_str("  ");
    }
    let _ = writeln!(s, "</{name}>");
}

fn codec_family(codecs: &str) -> &str {
    codecs.split('.').next().unwrap_or(codecs)
}

fn frame_rate(fr: (u32, u32)) -> String {
    match fr {
        (n, 0 | 1) => n.to_string(),
        (n, d) => format!("{n}/{d}"),
    }
}

/// Run-length compressed SegmentTimeline entries: (t if written, d, r).
pub fn timeline_runs(timeline: &[(u64, u64)]) -> Vec<(Option<u64>, u64, u64)> {
    let mut runs: Vec<(Option<u64>, u64, u64)> = Vec::new();
    let mut expected: Option<u64> = None;
    for &(t, d) in timeline {
        let contiguous = expected == Some(t);
        match runs.last_mut() {
            Some(last) if contiguous && last.1 == d => last.2 += 1,
            _ => runs.push((if contiguous { None } else { Some(t) }, d, 0)),
        }
        expected = Some(t.saturating_add(d));
    }
    runs
}

/// The `@duration` of a NUMBER_WITH_DURATION template: the most frequent segment duration,
/// ignoring the (usually short) last segment unless it is the only one; ties go to the
/// longer duration.
fn nominal_duration(timeline: &[(u64, u64)]) -> u64 {
    let body = match timeline.len() {
        0 => return 1,
        1 => timeline,
        n => &timeline[..n - 1],
    };
    let mut counts: Vec<(u64, usize)> = Vec::new();
    for &(_, d) in body {
        match counts.iter_mut().find(|(x, _)| *x == d) {
            Some(c) => c.1 += 1,
            None => counts.push((d, 1)),
        }
    }
    counts
        .into_iter()
        .max_by_key(|&(d, n)| (n, d))
        .map_or(1, |(d, _)| d.max(1))
}

/// `@duration` for NUMBER_WITH_DURATION: the nominal duration, unless clients counting
/// `ceil(presentation duration / @duration)` segments would then count a different number
/// than there are (irregular GOPs), in which case the average that makes the count exact.
fn template_duration(timeline: &[(u64, u64)], pto: u64) -> u64 {
    let d = nominal_duration(timeline);
    let n = timeline.len() as u64;
    let end = timeline.last().map_or(0, |(t, d)| t + d);
    // Clients count from the Period start (media time `pto`), not from the first segment.
    let span = end.saturating_sub(pto);
    if n == 0 || span == 0 || span.div_ceil(d) == n {
        return d;
    }
    span.div_ceil(n).max(1)
}

/// Whether a client addressing this Representation by `@duration` (segment k covers Period
/// time [(k-1)·d, k·d), counted up to the Period end) asks for exactly the segments it has.
/// A track that starts late or ends early does not: it is written with its timeline instead
/// (same `$Number$` URLs), so no listed segment is missing.
fn addressable_by_duration(r: &Representation, period: Duration) -> bool {
    let Some(&(first, _)) = r.timeline.first() else {
        return true;
    };
    let d = template_duration(&r.timeline, r.presentation_time_offset).max(1);
    let ticks = (period.as_secs_f64() * f64::from(r.timescale)).round() as u64;
    let late = first.saturating_sub(r.presentation_time_offset);
    late.saturating_mul(2) < d && ticks.div_ceil(d) == r.timeline.len() as u64
}

/// The template format written for `r`: NUMBER_WITH_DURATION falls back to
/// NUMBER_WITH_TIMELINE where `@duration` cannot address the Representation.
fn format_for(
    r: &Representation,
    format: SegmentTemplateFormat,
    period: Duration,
) -> SegmentTemplateFormat {
    if format == SegmentTemplateFormat::NumberWithDuration && !addressable_by_duration(r, period) {
        SegmentTemplateFormat::NumberWithTimeline
    } else {
        format
    }
}

fn segment_template(
    s: &mut String,
    depth: usize,
    r: &Representation,
    format: SegmentTemplateFormat,
) {
    let token = match format {
        SegmentTemplateFormat::TimeWithTimeline => "$Time$",
        _ => "$Number$",
    };
    let mut attrs = vec![
        ("timescale", r.timescale.to_string()),
        ("initialization", r.urls.initialization.clone()),
        (
            "media",
            format!("{}{token}{}", r.urls.media_prefix, r.urls.media_suffix),
        ),
    ];
    // Only `$Number$` templates need a start number. ffmpeg's DASH reader (5.x) also uses it as
    // an index into a `$Time$` timeline and would skip the first segment.
    if format != SegmentTemplateFormat::TimeWithTimeline {
        attrs.push(("startNumber", "1".to_string()));
    }
    if r.presentation_time_offset > 0 {
        attrs.push((
            "presentationTimeOffset",
            r.presentation_time_offset.to_string(),
        ));
    }
    if format == SegmentTemplateFormat::NumberWithDuration {
        attrs.push((
            "duration",
            template_duration(&r.timeline, r.presentation_time_offset).to_string(),
        ));
        empty(s, depth, "SegmentTemplate", &attrs);
        return;
    }
    start(s, depth, "SegmentTemplate", &attrs);
    start(s, depth + 1, "SegmentTimeline", &[]);
    for (t, d, rep) in timeline_runs(&r.timeline) {
        let mut a = Vec::with_capacity(3);
        if let Some(t) = t {
            a.push(("t", t.to_string()));
        }
        a.push(("d", d.to_string()));
        if rep > 0 {
            a.push(("r", rep.to_string()));
        }
        empty(s, depth + 2, "S", &a);
    }
    end(s, depth + 1, "SegmentTimeline");
    end(s, depth, "SegmentTemplate");
}

/// Whether one AdaptationSet-level SegmentTemplate can describe every Representation.
fn shares_template(reps: &[&Representation]) -> bool {
    let Some(first) = reps.first() else {
        return false;
    };
    reps.iter().all(|r| {
        r.timescale == first.timescale
            && r.presentation_time_offset == first.presentation_time_offset
            && r.urls == first.urls
            && r.timeline == first.timeline
    })
}

fn representation(
    s: &mut String,
    r: &Representation,
    template: Option<SegmentTemplateFormat>,
    trick_rate: Option<u32>,
) {
    let mut attrs = vec![
        ("id", r.id.clone()),
        ("bandwidth", r.bandwidth.to_string()),
        ("codecs", r.codecs.clone()),
    ];
    match &r.media {
        Media::Video(v) => {
            attrs.push(("width", v.width.to_string()));
            attrs.push(("height", v.height.to_string()));
            attrs.push(("frameRate", frame_rate(v.frame_rate)));
            attrs.push(("sar", format!("{}:{}", v.sar.0, v.sar.1)));
        }
        Media::Audio(a) => attrs.push(("audioSamplingRate", a.sampling_rate.to_string())),
    }
    if let Some(rate) = trick_rate {
        attrs.push(("maxPlayoutRate", rate.to_string()));
        attrs.push(("codingDependency", "false".to_string()));
    }
    let channels = match &r.media {
        Media::Audio(a) => Some(a.channels),
        Media::Video(_) => None,
    };
    if channels.is_none() && template.is_none() {
        empty(s, 3, "Representation", &attrs);
        return;
    }
    start(s, 3, "Representation", &attrs);
    match channels {
        Some(ChannelConfiguration::Count(n)) => empty(
            s,
            4,
            "AudioChannelConfiguration",
            &[
                ("schemeIdUri", CHANNELS_MPEG.into()),
                ("value", n.to_string()),
            ],
        ),
        Some(ChannelConfiguration::DolbyMask(m)) => empty(
            s,
            4,
            "AudioChannelConfiguration",
            &[
                ("schemeIdUri", CHANNELS_DOLBY.into()),
                ("value", format!("{m:04X}")),
            ],
        ),
        None => {}
    }
    if let Some(format) = template {
        segment_template(s, 4, r, format);
    }
    end(s, 3, "Representation");
}

/// One AdaptationSet to write.
struct Set<'a> {
    reps: Vec<&'a Representation>,
    video: bool,
    language: Option<&'a str>,
    family: &'a str,
    protection: &'a [ContentProtection],
}

fn group(reps: &[Representation]) -> Vec<Set<'_>> {
    let mut sets: Vec<Set<'_>> = Vec::new();
    for r in reps {
        let (video, language) = match &r.media {
            Media::Video(_) => (true, None),
            Media::Audio(a) => (false, a.language.as_deref()),
        };
        let family = codec_family(&r.codecs);
        let protection = r.protection.as_slice();
        match sets.iter_mut().find(|s| {
            s.video == video
                && s.language == language
                && s.family == family
                && s.protection == protection
        }) {
            Some(s) => s.reps.push(r),
            None => sets.push(Set {
                reps: vec![r],
                video,
                language,
                family,
                protection,
            }),
        }
    }
    sets
}

#[allow(clippy::too_many_arguments)]
fn adaptation_set(
    s: &mut String,
    id: usize,
    set: &Set<'_>,
    role: Option<&str>,
    trick_of: Option<usize>,
    trick_rate: Option<u32>,
    options: &DashOptions,
    period: Duration,
) {
    let mut attrs = vec![
        ("id", id.to_string()),
        (
            "contentType",
            if set.video { "video" } else { "audio" }.to_string(),
        ),
        (
            "mimeType",
            if set.video { "video/mp4" } else { "audio/mp4" }.to_string(),
        ),
        ("segmentAlignment", "true".to_string()),
        ("startWithSAP", "1".to_string()),
    ];
    if let Some(l) = set.language {
        attrs.push(("lang", l.to_string()));
    }
    if set.video {
        let videos = || {
            set.reps.iter().filter_map(|r| match &r.media {
                Media::Video(v) => Some(v),
                Media::Audio(_) => None,
            })
        };
        if let Some(w) = videos().map(|v| v.width).max() {
            attrs.push(("maxWidth", w.to_string()));
        }
        if let Some(h) = videos().map(|v| v.height).max() {
            attrs.push(("maxHeight", h.to_string()));
        }
        // Compare rates exactly by cross-multiplying.
        let fps = |v: &Video| (u64::from(v.frame_rate.0), u64::from(v.frame_rate.1.max(1)));
        if let Some(v) = videos().max_by(|a, b| {
            let ((an, ad), (bn, bd)) = (fps(a), fps(b));
            (an * bd).cmp(&(bn * ad))
        }) {
            attrs.push(("maxFrameRate", frame_rate(v.frame_rate)));
        }
    }
    start(s, 2, "AdaptationSet", &attrs);
    // First among the AdaptationSet's children (RepresentationBaseType order).
    for cp in set.protection {
        content_protection(s, 3, cp);
    }
    if let Some(main_id) = trick_of {
        empty(
            s,
            3,
            "EssentialProperty",
            &[
                ("schemeIdUri", TRICKMODE_SCHEME.into()),
                ("value", main_id.to_string()),
            ],
        );
    }
    if let Some(role) = role {
        empty(
            s,
            3,
            "Role",
            &[("schemeIdUri", ROLE_SCHEME.into()), ("value", role.into())],
        );
    }
    let format = options.segment_template_format;
    let compact = options.manifest_layout == ManifestLayout::Compact && shares_template(&set.reps);
    if compact && let Some(first) = set.reps.first() {
        segment_template(s, 3, first, format_for(first, format, period));
    }
    for r in &set.reps {
        let format = format_for(r, format, period);
        representation(s, r, (!compact).then_some(format), trick_rate);
    }
    end(s, 2, "AdaptationSet");
}

fn content_protection(s: &mut String, depth: usize, cp: &ContentProtection) {
    let mut attrs = vec![("schemeIdUri", cp.scheme_id_uri.clone())];
    if let Some(v) = &cp.value {
        attrs.push(("value", v.clone()));
    }
    if let Some(kid) = &cp.default_kid {
        attrs.push(("cenc:default_KID", kid.clone()));
    }
    if cp.children.is_empty() {
        empty(s, depth, "ContentProtection", &attrs);
        return;
    }
    start(s, depth, "ContentProtection", &attrs);
    for _ in 0..=depth {
        s.push_str("  ");
    }
    s.push_str(cp.children.trim());
    s.push('\n');
    end(s, depth, "ContentProtection");
}

/// Writes one Period: its AdaptationSets (by kind, codec family and language), then the
/// trick-play set pointing at its main video set.
fn period(s: &mut String, p: &Period, options: &DashOptions) {
    start(
        s,
        1,
        "Period",
        &[("id", p.id.clone()), ("start", xs_duration(p.start))],
    );
    let sets = group(&p.representations);
    let mut seen_video = false;
    let mut seen_audio = false;
    let mut main_video_id = None;
    for (id, set) in sets.iter().enumerate() {
        let seen = if set.video {
            &mut seen_video
        } else {
            &mut seen_audio
        };
        let role = if *seen { "alternate" } else { "main" };
        *seen = true;
        if set.video && main_video_id.is_none() {
            main_video_id = Some(id);
        }
        adaptation_set(s, id, set, Some(role), None, None, options, p.duration);
    }
    if let (Some(trick), Some(main_id)) = (&p.trick_play, main_video_id)
        && matches!(trick.representation.media, Media::Video(_))
    {
        let r = &trick.representation;
        let set = Set {
            reps: vec![r],
            video: true,
            language: None,
            family: codec_family(&r.codecs),
            protection: &r.protection,
        };
        adaptation_set(
            s,
            sets.len(),
            &set,
            None,
            Some(main_id),
            Some(trick.max_playout_rate),
            options,
            p.duration,
        );
    }
    end(s, 1, "Period");
}

/// Writes the static MPD.
pub fn mpd(m: &Mpd) -> String {
    let profiles = match m.options.profile {
        Profile::None => PROFILE_LIVE.to_string(),
        Profile::Hbbtv1_5 => format!("{PROFILE_HBBTV_1_5},{PROFILE_LIVE}"),
    };
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let protected = m
        .periods
        .iter()
        .flat_map(|p| &p.representations)
        .any(|r| !r.protection.is_empty());
    let mut root = vec![("xmlns", NS.to_string())];
    if protected {
        // Prefixes our descriptors use (`cenc:default_KID`, `cenc:pssh`, `mspr:pro`).
        root.push(("xmlns:cenc", CENC_NS.into()));
        root.push(("xmlns:mspr", MSPR_NS.into()));
    }
    start(
        &mut s,
        0,
        "MPD",
        &[
            root.as_slice(),
            &[
                ("profiles", profiles),
                ("type", "static".into()),
                ("mediaPresentationDuration", xs_duration(m.duration)),
                (
                    "minBufferTime",
                    xs_duration(Duration::from_secs(u64::from(
                        m.options.min_buffer_time_seconds,
                    ))),
                ),
            ],
        ]
        .concat(),
    );
    for p in &m.periods {
        period(&mut s, p, &m.options);
    }
    end(&mut s, 0, "MPD");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(xs_duration(Duration::ZERO), "PT0S");
        assert_eq!(xs_duration(Duration::from_secs(6)), "PT6S");
        assert_eq!(xs_duration(Duration::from_millis(62_345)), "PT1M2.345S");
        assert_eq!(xs_duration(Duration::from_millis(3_600_500)), "PT1H0M0.5S");
    }

    #[test]
    fn runs() {
        let tl = [(10, 5), (15, 5), (20, 5), (25, 3), (40, 3), (43, 3)];
        assert_eq!(
            timeline_runs(&tl),
            vec![(Some(10), 5, 2), (None, 3, 0), (Some(40), 3, 1)]
        );
        assert!(timeline_runs(&[]).is_empty());
    }

    #[test]
    fn nominal() {
        assert_eq!(nominal_duration(&[(0, 6), (6, 6), (12, 2)]), 6);
        assert_eq!(nominal_duration(&[(0, 4)]), 4);
        assert_eq!(nominal_duration(&[]), 1);
    }

    #[test]
    fn duration_templates_only_where_they_address_every_segment() {
        let rep = |pto: u64, timeline: Vec<(u64, u64)>| Representation {
            id: "a0".into(),
            bandwidth: 1,
            codecs: "mp4a.40.2".into(),
            media: Media::Audio(Audio {
                sampling_rate: 1000,
                channels: ChannelConfiguration::Count(2),
                language: None,
            }),
            timescale: 1000,
            presentation_time_offset: pto,
            urls: SegmentUrls {
                initialization: "i.mp4".into(),
                media_prefix: "a_".into(),
                media_suffix: ".mp4".into(),
            },
            timeline,
            protection: Vec::new(),
        };
        let nwd = SegmentTemplateFormat::NumberWithDuration;
        let ntl = SegmentTemplateFormat::NumberWithTimeline;
        let period = Duration::from_secs(12);
        // Whole Period (with a Period start offset and a short last segment): @duration.
        let whole = rep(100, vec![(100, 4000), (4100, 4000), (8100, 3900)]);
        assert_eq!(format_for(&whole, nwd, period), nwd);
        // Ends early (4 s of 12) or starts late (at 4 s): a client would ask for segments 2
        // and 3, or number the first one 1 at time 0; the timeline addresses them.
        let short = rep(0, vec![(0, 4000)]);
        assert_eq!(format_for(&short, nwd, period), ntl);
        let late = rep(0, vec![(4000, 4000), (8000, 4000)]);
        assert_eq!(format_for(&late, nwd, period), ntl);
        // Other formats are left alone.
        assert_eq!(format_for(&short, ntl, period), ntl);
        let twt = SegmentTemplateFormat::TimeWithTimeline;
        assert_eq!(format_for(&late, twt, period), twt);
    }
}
