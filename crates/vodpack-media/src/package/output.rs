//! Every output file of every format as a typed value, parsed from and named as a file name
//! here and nowhere else, so what a layout lists and what egress parses cannot drift apart.
//! Names are relative to a manifest's folder (`/out/v1/<asset>/<config>/<manifest>/…`); `<n>`
//! below is the manifest's name.
//!
//! - HLS (`hlsPackage`, `cmafPackage`): `<n>.m3u8` (multivariant), `<n>_<r>.m3u8` (rendition
//!   `r`: `<v>` variant, `a<k>` audio, `t<k>` subtitles), `<n>_<r>_<s>.ts|.mp4|.vtt` (plan
//!   segment `s`), `<n>_<r>_init.mp4`, `<n>_iframes.m3u8`, `<n>_0_i<s>.mp4` (CMAF one-frame
//!   fragments);
//! - DASH: `<n>.mpd`, `<n>_<r>_init.mp4`, `<n>_<r>_<number>.mp4` or `<n>_<r>_t<time>.mp4`
//!   (`r`: `v<k>`, `a<k>`, `i0` trick play);
//! - Smooth: `<n>.ism/Manifest`, `<n>.ism/QualityLevels(<bitrate>)/Fragments(<stream>=<time>)`.
//!
//! Numbers are decimal without sign or leading zeros: one name per file.

use super::spec::{Format, SegmentTemplateFormat};

/// A non-negative decimal number without sign or leading zeros.
pub fn number(s: &str) -> Option<usize> {
    let ok =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    ok.then(|| s.parse().ok()).flatten()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputFile {
    Hls(HlsFile),
    Dash(DashFile),
    Mss(MssFile),
}

/// An HLS rendition: a variant, a member of the audio group, or a subtitle rendition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendition {
    Variant(usize),
    Audio(usize),
    Text(usize),
}

impl Rendition {
    fn parse(s: &str) -> Option<Rendition> {
        if let Some(k) = s.strip_prefix('a') {
            return number(k).map(Rendition::Audio);
        }
        if let Some(k) = s.strip_prefix('t') {
            return number(k).map(Rendition::Text);
        }
        number(s).map(Rendition::Variant)
    }
    fn name(self) -> String {
        match self {
            Rendition::Variant(v) => v.to_string(),
            Rendition::Audio(k) => format!("a{k}"),
            Rendition::Text(k) => format!("t{k}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HlsFile {
    Master,
    Playlist(Rendition),
    IframePlaylist,
    /// fMP4 init section (CMAF).
    Init(Rendition),
    /// Plan segment `s` of a rendition: `.ts` (HLS), `.mp4` (CMAF), `.vtt` (subtitles).
    Segment(Rendition, usize),
    /// The one-frame fragment of plan segment `s` of variant 0 (CMAF I-frame playlist).
    IframeFragment(usize),
}

/// A DASH Representation in file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DashRep {
    Video(usize),
    Audio(usize),
    /// The trick-play (I-frame) Representation.
    Trick,
}

impl DashRep {
    pub fn parse(s: &str) -> Option<DashRep> {
        if s == "i0" {
            return Some(DashRep::Trick);
        }
        if let Some(k) = s.strip_prefix('v') {
            return number(k).map(DashRep::Video);
        }
        s.strip_prefix('a').and_then(number).map(DashRep::Audio)
    }
    pub fn id(self) -> String {
        match self {
            DashRep::Video(k) => format!("v{k}"),
            DashRep::Audio(k) => format!("a{k}"),
            DashRep::Trick => "i0".into(),
        }
    }
}

/// How a DASH media segment is addressed (by the configuration's `segmentTemplateFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DashAddress {
    /// `$Number$`: the entry of the track's timeline, from 1.
    Number(usize),
    /// `$Time$`: the entry's start in the track's timescale (its `tfdt`).
    Time(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DashFile {
    Mpd,
    Init(DashRep),
    Segment(DashRep, DashAddress),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MssFile {
    Manifest,
    /// A fragment of the QualityLevel with `bitrate` in StreamIndex `stream`, starting at
    /// `time` (10 MHz).
    Fragment {
        stream: String,
        bitrate: usize,
        time: u64,
    },
}

impl OutputFile {
    /// The file `file` of manifest `n` of a configuration of `format`; `None` when no
    /// configuration of that format names a file so (whether this asset has it is the
    /// layout's to say).
    pub fn parse(format: &Format, n: &str, file: &str) -> Option<OutputFile> {
        match format {
            Format::Hls(_) => parse_hls(n, file, "ts").map(OutputFile::Hls),
            Format::Cmaf(_) => parse_hls(n, file, "mp4").map(OutputFile::Hls),
            Format::Dash(d) => parse_dash(n, file, d.segment_template_format).map(OutputFile::Dash),
            Format::Mss(_) => parse_mss(n, file).map(OutputFile::Mss),
        }
    }

    /// The file's name under its manifest's folder.
    pub fn name(&self, format: &Format, n: &str) -> String {
        match self {
            OutputFile::Hls(f) => {
                let ext = if matches!(format, Format::Hls(_)) {
                    "ts"
                } else {
                    "mp4"
                };
                match f {
                    HlsFile::Master => format!("{n}.m3u8"),
                    HlsFile::Playlist(r) => format!("{n}_{}.m3u8", r.name()),
                    HlsFile::IframePlaylist => format!("{n}_iframes.m3u8"),
                    HlsFile::Init(r) => format!("{n}_{}_init.mp4", r.name()),
                    HlsFile::Segment(r @ Rendition::Text(_), s) => {
                        format!("{n}_{}_{s}.vtt", r.name())
                    }
                    HlsFile::Segment(r, s) => format!("{n}_{}_{s}.{ext}", r.name()),
                    HlsFile::IframeFragment(s) => format!("{n}_0_i{s}.mp4"),
                }
            }
            OutputFile::Dash(f) => match f {
                DashFile::Mpd => format!("{n}.mpd"),
                DashFile::Init(r) => format!("{n}_{}_init.mp4", r.id()),
                DashFile::Segment(r, DashAddress::Number(k)) => format!("{n}_{}_{k}.mp4", r.id()),
                DashFile::Segment(r, DashAddress::Time(t)) => format!("{n}_{}_t{t}.mp4", r.id()),
            },
            OutputFile::Mss(f) => match f {
                MssFile::Manifest => format!("{n}.ism/Manifest"),
                MssFile::Fragment {
                    stream,
                    bitrate,
                    time,
                } => format!("{n}.ism/QualityLevels({bitrate})/Fragments({stream}={time})"),
            },
        }
    }

    /// Whether the file is a manifest (short-lived, cached per asset incarnation) rather than
    /// media (immutable).
    pub fn is_manifest(&self) -> bool {
        matches!(
            self,
            OutputFile::Hls(HlsFile::Master | HlsFile::Playlist(_) | HlsFile::IframePlaylist)
                | OutputFile::Dash(DashFile::Mpd)
                | OutputFile::Mss(MssFile::Manifest)
        )
    }
}

fn parse_hls(n: &str, file: &str, media_ext: &str) -> Option<HlsFile> {
    if file.strip_prefix(n) == Some(".m3u8") {
        return Some(HlsFile::Master);
    }
    let rest = file.strip_prefix(n)?.strip_prefix('_')?;
    if rest == "iframes.m3u8" {
        return Some(HlsFile::IframePlaylist);
    }
    if let Some(id) = rest.strip_suffix(".m3u8") {
        return Rendition::parse(id).map(HlsFile::Playlist);
    }
    let (stem, ext) = rest.rsplit_once('.')?;
    let (id, seg) = stem.rsplit_once('_')?;
    let id = Rendition::parse(id)?;
    match (id, ext) {
        (Rendition::Text(_), "vtt") => number(seg).map(|s| HlsFile::Segment(id, s)),
        (Rendition::Text(_), _) | (_, "vtt") => None,
        (_, ext) if ext != media_ext => None,
        (_, "mp4") if seg == "init" => Some(HlsFile::Init(id)),
        (Rendition::Variant(0), "mp4") if seg.starts_with('i') => {
            number(&seg[1..]).map(HlsFile::IframeFragment)
        }
        (_, _) => number(seg).map(|s| HlsFile::Segment(id, s)),
    }
}

fn parse_dash(n: &str, file: &str, format: SegmentTemplateFormat) -> Option<DashFile> {
    if file.strip_prefix(n) == Some(".mpd") {
        return Some(DashFile::Mpd);
    }
    let rest = file
        .strip_prefix(n)?
        .strip_prefix('_')?
        .strip_suffix(".mp4")?;
    let (id, seg) = rest.rsplit_once('_')?;
    let rep = DashRep::parse(id)?;
    if seg == "init" {
        return Some(DashFile::Init(rep));
    }
    let address = match (format, seg.strip_prefix('t')) {
        (SegmentTemplateFormat::TimeWithTimeline, Some(time)) => {
            DashAddress::Time(number(time)? as u64)
        }
        (SegmentTemplateFormat::TimeWithTimeline, None) => return None,
        (_, _) => DashAddress::Number(number(seg).filter(|k| *k >= 1)?),
    };
    Some(DashFile::Segment(rep, address))
}

fn parse_mss(n: &str, file: &str) -> Option<MssFile> {
    let rest = file.strip_prefix(n)?.strip_prefix(".ism/")?;
    if rest == "Manifest" {
        return Some(MssFile::Manifest);
    }
    let (ql, frag) = rest.split_once('/')?;
    let bitrate = ql
        .strip_prefix("QualityLevels(")
        .and_then(|r| r.strip_suffix(')'))
        .and_then(number)?;
    let (stream, time) = frag
        .strip_prefix("Fragments(")
        .and_then(|r| r.strip_suffix(')'))
        .and_then(|r| r.split_once('='))?;
    Some(MssFile::Fragment {
        stream: stream.to_string(),
        bitrate,
        time: number(time)? as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::spec::{CmafSpec, DashSpec, HlsSpec, MssSpec};

    /// Every name a layout can produce parses back to the same file, and nothing else parses.
    #[test]
    fn names_round_trip() {
        let hls = Format::Hls(HlsSpec {
            manifests: Vec::new(),
            use_audio_rendition_group: false,
            include_dvb_subtitles: false,
        });
        let cmaf = Format::Cmaf(CmafSpec {
            manifests: Vec::new(),
            include_encoder_configuration_in_segments: false,
        });
        let files = [
            HlsFile::Master,
            HlsFile::Playlist(Rendition::Variant(3)),
            HlsFile::Playlist(Rendition::Audio(0)),
            HlsFile::Playlist(Rendition::Text(1)),
            HlsFile::IframePlaylist,
            HlsFile::Segment(Rendition::Variant(0), 10),
            HlsFile::Segment(Rendition::Audio(2), 0),
            HlsFile::Segment(Rendition::Text(0), 7),
        ];
        for format in [&hls, &cmaf] {
            for f in files {
                let f = OutputFile::Hls(f);
                assert_eq!(
                    OutputFile::parse(format, "x_y", &f.name(format, "x_y")),
                    Some(f)
                );
            }
        }
        for f in [
            HlsFile::Init(Rendition::Audio(1)),
            HlsFile::IframeFragment(4),
        ] {
            let f = OutputFile::Hls(f);
            assert_eq!(OutputFile::parse(&cmaf, "m", &f.name(&cmaf, "m")), Some(f));
        }
        for bad in [
            "m_0_01.ts",
            "m_0_1.mp4",
            "m_0_init.mp4",
            "m_t0_1.ts",
            "m_0_1.vtt",
            "m_0_+1.ts",
            "n_0_1.ts",
            "m.mpd",
            "m_0_i1.ts",
        ] {
            assert_eq!(OutputFile::parse(&hls, "m", bad), None, "{bad}");
        }
        for format in [
            SegmentTemplateFormat::NumberWithTimeline,
            SegmentTemplateFormat::TimeWithTimeline,
        ] {
            let dash = Format::Dash(DashSpec {
                manifests: Vec::new(),
                include_encoder_configuration_in_segments: false,
                include_iframe_only_stream: false,
                period_on_ads: false,
                segment_template_format: format,
            });
            let address = if format == SegmentTemplateFormat::TimeWithTimeline {
                DashAddress::Time(90_000)
            } else {
                DashAddress::Number(1)
            };
            for f in [
                DashFile::Mpd,
                DashFile::Init(DashRep::Trick),
                DashFile::Segment(DashRep::Video(1), address),
                DashFile::Segment(DashRep::Audio(0), address),
            ] {
                let f = OutputFile::Dash(f);
                assert_eq!(OutputFile::parse(&dash, "m", &f.name(&dash, "m")), Some(f));
            }
            assert_eq!(OutputFile::parse(&dash, "m", "m_v0_0.mp4"), None);
        }
        let mss = Format::Mss(MssSpec {
            manifests: Vec::new(),
        });
        let f = OutputFile::Mss(MssFile::Fragment {
            stream: "audio_1".into(),
            bitrate: 128_000,
            time: 0,
        });
        assert_eq!(OutputFile::parse(&mss, "m", &f.name(&mss, "m")), Some(f));
        assert_eq!(
            OutputFile::parse(&mss, "m", "m.ism/QualityLevels(01)/Fragments(video=0)"),
            None
        );
    }
}
