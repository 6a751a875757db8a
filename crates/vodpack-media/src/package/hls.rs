//! HLS layouts: `hlsPackage` (MPEG-TS segments) and `cmafPackage` (fMP4 segments), which share
//! their playlists. File names are in [`super::output`].
//!
//! TS variants are a video rendition (after `streamSelection`) with the first audio track muxed
//! in, or alone when `useAudioRenditionGroup` puts every audio track in the group. CMAF keeps one
//! track per file: video variants, every audio track in the group. Audio-only assets get one
//! variant per audio track. Subtitles are WebVTT renditions. With `includeIframeOnlyStream`,
//! the first variant gets an I-frame playlist: byte ranges of its TS segments, or one-frame
//! fragments for CMAF.

use crate::index::{Track, TrackKind};
use crate::manifest::hls as m3u8;
use crate::mux::clock::{time_shift_90k, ts_offset};
use crate::mux::fmp4::FragmentKind;

use super::chain::fmp4::{self as fmp4, Fmp4Style};
use super::chain::ts::{self, TsCut};
use super::chain::{self, text};
use super::output::{HlsFile, OutputFile, Rendition};
use super::spec::Format;
use super::{Need, PackageError, Plan, Presentation, Target, protect};

const PLAYLIST: &str = "application/vnd.apple.mpegurl";

fn not_found(reason: &str) -> PackageError {
    PackageError::not_found(reason)
}

/// Container of an HLS output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Ts,
    Fmp4(Fmp4Style),
}

/// What a manifest lists.
struct Layout {
    container: Container,
    /// Tracks of each variant.
    variants: Vec<Vec<usize>>,
    /// Audio renditions of the group.
    audio: Vec<usize>,
    texts: Vec<usize>,
    iframes: bool,
    dates: Option<u32>,
    /// `repeatExtXKey`.
    repeat_keys: bool,
}

fn layout(p: &Presentation) -> Result<Layout, PackageError> {
    let (container, group) = match &p.spec.format {
        Format::Hls(h) => (Container::Ts, h.use_audio_rendition_group),
        Format::Cmaf(c) => (
            Container::Fmp4(Fmp4Style {
                in_band: c.include_encoder_configuration_in_segments,
                timescale: None,
            }),
            true,
        ),
        _ => return Err(not_found("not an HLS configuration")),
    };
    let manifest = p.spec.hls_manifest(p.manifest);
    let st = p.streams();
    // No video (an audio-only asset, or a selection that keeps none): one variant per audio
    // track, as DASH and Smooth serve it.
    let (variants, audio) = if st.videos.is_empty() {
        (st.audios.iter().map(|a| vec![*a]).collect(), Vec::new())
    } else if group {
        (
            st.videos.iter().map(|v| vec![*v]).collect(),
            st.audios.clone(),
        )
    } else {
        (
            st.videos
                .iter()
                .map(|v| st.audios.first().map_or(vec![*v], |a| vec![*v, *a]))
                .collect(),
            Vec::new(),
        )
    };
    Ok(Layout {
        container,
        variants,
        audio,
        texts: st.texts,
        iframes: manifest.is_some_and(|m| m.include_iframe_only_stream) && !st.videos.is_empty(),
        dates: manifest.and_then(|m| m.program_date_time_interval_seconds),
        repeat_keys: manifest.is_some_and(|m| m.repeat_ext_x_key),
    })
}

impl Layout {
    fn tracks(&self, r: Rendition) -> Option<&[usize]> {
        match r {
            Rendition::Variant(v) => self.variants.get(v).map(Vec::as_slice),
            Rendition::Audio(k) => self.audio.get(k).map(std::slice::from_ref),
            Rendition::Text(k) => self.texts.get(k).map(std::slice::from_ref),
        }
    }

    fn renditions(&self) -> Vec<Rendition> {
        (0..self.variants.len())
            .map(Rendition::Variant)
            .chain((0..self.audio.len()).map(Rendition::Audio))
            .chain((0..self.texts.len()).map(Rendition::Text))
            .collect()
    }
}

/// The plan segments a rendition's playlist lists: those where it has samples (all of them
/// for subtitles, whose segments may be empty WebVTT files).
fn listed(p: &Presentation, l: &Layout, r: Rendition) -> Vec<usize> {
    match (r, l.tracks(r)) {
        (Rendition::Text(_), _) => (0..p.seg.count()).collect(),
        (_, Some(tracks)) => chain::non_empty(p, tracks),
        (_, None) => Vec::new(),
    }
}

pub(super) fn files(p: &Presentation) -> Result<Vec<OutputFile>, PackageError> {
    let l = layout(p)?;
    let mut out = vec![HlsFile::Master];
    for r in l.renditions() {
        out.push(HlsFile::Playlist(r));
        if matches!(l.container, Container::Fmp4(_)) && !matches!(r, Rendition::Text(_)) {
            out.push(HlsFile::Init(r));
        }
        for s in listed(p, &l, r) {
            out.push(HlsFile::Segment(r, s));
        }
    }
    if l.iframes {
        out.push(HlsFile::IframePlaylist);
        if let Container::Fmp4(_) = l.container {
            for s in listed(p, &l, Rendition::Variant(0)) {
                out.push(HlsFile::IframeFragment(s));
            }
        }
    }
    Ok(out.into_iter().map(OutputFile::Hls).collect())
}

pub(super) fn plan(p: &Presentation, f: &HlsFile) -> Result<Plan, PackageError> {
    let l = layout(p)?;
    let file = OutputFile::Hls(*f);
    let segment = |s: usize| {
        (s < p.seg.count())
            .then_some(s)
            .ok_or_else(|| not_found("no such segment"))
    };
    let rendition = |r: Rendition| l.tracks(r).ok_or_else(|| not_found("no such rendition"));
    match *f {
        HlsFile::Master => Ok(Plan::index(file, Target::Manifest(PLAYLIST))),
        HlsFile::Playlist(r) => {
            l.tracks(r).ok_or_else(|| not_found("no such playlist"))?;
            Ok(Plan::index(file, Target::Manifest(PLAYLIST)))
        }
        HlsFile::IframePlaylist => {
            if !l.iframes {
                return Err(not_found("no such playlist"));
            }
            let need = match l.container {
                // Each range ends after the key frame: the exact length of that prefix of
                // every segment.
                Container::Ts => Need::TsLengths(
                    listed(p, &l, Rendition::Variant(0))
                        .into_iter()
                        .enumerate()
                        .map(|(n, s)| TsCut {
                            tracks: l.variants[0].clone(),
                            segment: s,
                            until_key: true,
                            sequence: n as u64,
                        })
                        .collect(),
                ),
                Container::Fmp4(_) => Need::Index,
            };
            Ok(Plan {
                need,
                file,
                target: Target::Manifest(PLAYLIST),
            })
        }
        HlsFile::Segment(r @ Rendition::Text(_), s) => {
            let track = rendition(r)?[0];
            let s = segment(s)?;
            let mpegts = match l.container {
                Container::Ts => ts_offset(&p.index),
                Container::Fmp4(_) => time_shift_90k(&p.index),
            };
            Ok(Plan {
                need: Need::Samples(text::ranges(p, track, s)),
                file,
                target: Target::WebVtt {
                    track,
                    segment: s,
                    mpegts,
                },
            })
        }
        HlsFile::Segment(r, s) => {
            let tracks = rendition(r)?;
            let s = segment(s)?;
            match l.container {
                Container::Ts => {
                    let mut cut = TsCut {
                        tracks: tracks.to_vec(),
                        segment: s,
                        until_key: false,
                        sequence: 0,
                    };
                    cut.ranges(p)?;
                    // Its media sequence number: its position in the rendition's playlist.
                    cut.sequence = listed(p, &l, r)
                        .iter()
                        .position(|x| *x == s)
                        .ok_or_else(|| not_found("no such segment for this rendition"))?
                        as u64;
                    Ok(Plan {
                        need: Need::Ts(cut),
                        file,
                        target: Target::Ts,
                    })
                }
                Container::Fmp4(style) => fragment(p, file, tracks[0], s, style, false),
            }
        }
        HlsFile::Init(r) => {
            let tracks = rendition(r)?;
            match l.container {
                Container::Fmp4(style) => Ok(Plan::index(
                    file,
                    Target::Init {
                        track: tracks[0],
                        style,
                        content_type: Some("video/mp4"),
                    },
                )),
                Container::Ts => Err(not_found("no such file")),
            }
        }
        HlsFile::IframeFragment(s) => match l.container {
            Container::Fmp4(style) if l.iframes => {
                let s = segment(s)?;
                fragment(p, file, l.variants[0][0], s, style, true)
            }
            _ => Err(not_found("no such file")),
        },
    }
}

fn fragment(
    p: &Presentation,
    file: OutputFile,
    track: usize,
    s: usize,
    style: Fmp4Style,
    iframe: bool,
) -> Result<Plan, PackageError> {
    let range = fmp4::fragment_samples(p, track, s, iframe)?;
    Ok(Plan {
        need: Need::Samples(vec![(track, range)]),
        file,
        target: Target::Fragment {
            track,
            segment: s,
            style,
            kind: FragmentKind::Cmaf,
            iframe,
        },
    })
}

/// A playlist; `lengths` are those asked for by the plan of a TS I-frame playlist.
pub(super) fn manifest(
    p: &Presentation,
    f: &HlsFile,
    lengths: &[u64],
) -> Result<String, PackageError> {
    let l = layout(p)?;
    match f {
        HlsFile::Master => Ok(master(p, &l)),
        HlsFile::Playlist(r) => Ok(m3u8::media_playlist(&media_playlist(p, &l, *r))),
        HlsFile::IframePlaylist => Ok(m3u8::media_playlist(&iframe_playlist(p, &l, lengths)?)),
        _ => Err(PackageError::Bug("not a playlist".into())),
    }
}

fn media_playlist(p: &Presentation, l: &Layout, r: Rendition) -> m3u8::MediaPlaylist {
    let segments = listed(p, l, r)
        .into_iter()
        .map(|s| m3u8::Segment {
            duration: p.seg.duration_seconds(s),
            uri: p.name(&OutputFile::Hls(HlsFile::Segment(r, s))),
            byte_range: None,
        })
        .collect();
    // EXT-X-PROGRAM-DATE-TIME from the ingest (submission) time of the asset.
    let dates = l.dates.and_then(|interval| {
        Some(m3u8::DateTimes {
            start_ms: p.created_at_ms?,
            interval_seconds: interval,
        })
    });
    let fmp4 = matches!(l.container, Container::Fmp4(_)) && !matches!(r, Rendition::Text(_));
    let keys = match (r, l.tracks(r)) {
        (Rendition::Text(_), _) | (_, None) => Vec::new(),
        (_, Some(tracks)) => protect::hls_key_lines(p, tracks, false),
    };
    m3u8::MediaPlaylist {
        segments,
        map: fmp4.then(|| p.name(&OutputFile::Hls(HlsFile::Init(r)))),
        iframes_only: false,
        dates,
        keys,
        repeat_keys: l.repeat_keys,
    }
}

/// The I-frame playlist of the first variant: for TS, the byte range of each segment from its
/// start through its key frame (PAT/PMT included, as players need them; `lengths` in listing
/// order); for CMAF, one-frame fragments.
fn iframe_playlist(
    p: &Presentation,
    l: &Layout,
    lengths: &[u64],
) -> Result<m3u8::MediaPlaylist, PackageError> {
    let list = listed(p, l, Rendition::Variant(0));
    let segments = match l.container {
        Container::Ts => {
            if lengths.len() != list.len() {
                return Err(PackageError::Bug(
                    "an I-frame playlist without its lengths".into(),
                ));
            }
            list.into_iter()
                .zip(lengths)
                .map(|(s, len)| m3u8::Segment {
                    duration: p.seg.duration_seconds(s),
                    uri: p.name(&OutputFile::Hls(HlsFile::Segment(Rendition::Variant(0), s))),
                    byte_range: Some((*len, 0)),
                })
                .collect()
        }
        Container::Fmp4(_) => list
            .into_iter()
            .map(|s| m3u8::Segment {
                duration: p.seg.duration_seconds(s),
                uri: p.name(&OutputFile::Hls(HlsFile::IframeFragment(s))),
                byte_range: None,
            })
            .collect(),
    };
    Ok(m3u8::MediaPlaylist {
        segments,
        map: matches!(l.container, Container::Fmp4(_))
            .then(|| p.name(&OutputFile::Hls(HlsFile::Init(Rendition::Variant(0))))),
        iframes_only: true,
        dates: None,
        keys: protect::hls_key_lines(p, &l.variants[0], false),
        repeat_keys: l.repeat_keys,
    })
}

/// The multivariant playlist.
fn master(p: &Presentation, l: &Layout) -> String {
    const AUDIO: &str = "audio";
    const SUBS: &str = "subtitles";
    let index = &p.index;
    let group_audio = l.audio.first().map(|a| &index.tracks[*a]);
    let codec = |t: &Track| match l.container {
        Container::Ts => t.codec_string.clone(),
        Container::Fmp4(style) => fmp4::codec_string(t, style),
    };
    // (peak, average) bits per second of what a rendition's segments weigh: for TS from the
    // packets the muxer will write (PES headers, ADTS, AUD and parameter sets, 188-byte
    // packets), so BANDWIDTH bounds every segment (RFC 8216 §4.3.4.2); for fMP4 the
    // elementary stream's (fragment headers add well under 1%).
    let rates = |tracks: &[usize]| -> (u64, u64) {
        match l.container {
            Container::Ts => ts::bitrates(p, tracks),
            Container::Fmp4(_) => (
                tracks.iter().map(|t| index.tracks[*t].peak_bitrate).sum(),
                tracks.iter().map(|t| index.tracks[*t].avg_bitrate).sum(),
            ),
        }
    };
    let group_rates: Vec<(u64, u64)> = l.audio.iter().map(|a| rates(&[*a])).collect();
    let group_peak = group_rates.iter().map(|r| r.0).max().unwrap_or(0);
    let group_average = group_rates.iter().map(|r| r.1).max().unwrap_or(0);
    // Every codec the audio group holds, once.
    let mut group_codecs: Vec<String> = Vec::new();
    for a in &l.audio {
        let c = codec(&index.tracks[*a]);
        if !group_codecs.contains(&c) {
            group_codecs.push(c);
        }
    }
    let playlist = |r: Rendition| p.name(&OutputFile::Hls(HlsFile::Playlist(r)));
    let variants: Vec<m3u8::Variant> = l
        .variants
        .iter()
        .enumerate()
        .map(|(v, tracks)| {
            let video = tracks
                .iter()
                .map(|t| &index.tracks[*t])
                .find(|t| t.codec.kind() == TrackKind::Video);
            let mut codecs: Vec<String> = tracks.iter().map(|t| codec(&index.tracks[*t])).collect();
            let (mut bandwidth, mut average) = rates(tracks);
            if group_audio.is_some() {
                codecs.extend(group_codecs.iter().cloned());
                bandwidth += group_peak;
                average += group_average;
            }
            m3u8::Variant {
                uri: playlist(Rendition::Variant(v)),
                bandwidth,
                average_bandwidth: average,
                codecs,
                resolution: video.map(|t| (t.width, t.height)),
                frame_rate: video
                    .and_then(|t| t.frame_rate)
                    .map(|(num, den)| f64::from(num) / f64::from(den.max(1))),
                audio_group: group_audio.map(|_| AUDIO.to_string()),
                subtitles_group: (!l.texts.is_empty()).then(|| SUBS.to_string()),
            }
        })
        .collect();
    let mut renditions: Vec<m3u8::Rendition> = l
        .audio
        .iter()
        .enumerate()
        .map(|(k, a)| m3u8::Rendition {
            kind: m3u8::RenditionType::Audio,
            group: AUDIO.into(),
            name: p.track_name(*a, "Audio", k),
            language: index.tracks[*a].language.clone(),
            default: k == 0,
            channels: Some(index.tracks[*a].channels),
            uri: playlist(Rendition::Audio(k)),
        })
        .collect();
    renditions.extend(l.texts.iter().enumerate().map(|(k, t)| m3u8::Rendition {
        kind: m3u8::RenditionType::Subtitles,
        group: SUBS.into(),
        name: p.track_name(*t, "Subtitles", k),
        language: index.tracks[*t].language.clone(),
        default: false,
        channels: None,
        uri: playlist(Rendition::Text(k)),
    }));
    let mut iframe_streams = Vec::new();
    if l.iframes
        && let Some(video) = l.variants.first().and_then(|ts| {
            ts.iter()
                .copied()
                .find(|t| index.tracks[*t].codec.kind() == TrackKind::Video)
        })
    {
        let t = &index.tracks[video];
        // Key frames only, one per segment: the largest over its segment's duration, from
        // the index (the byte ranges themselves are only worked out for the I-frame playlist).
        let first = &l.variants[0];
        let bandwidth = chain::iframe_bitrate(p, listed(p, l, Rendition::Variant(0)), |s| match l
            .container
        {
            Container::Ts => Some(ts::key_prefix_bytes(p, first, s)),
            Container::Fmp4(_) => fmp4::key_fragment_bytes(p, video, s),
        });
        iframe_streams.push(m3u8::IframeStream {
            uri: p.name(&OutputFile::Hls(HlsFile::IframePlaylist)),
            bandwidth,
            codecs: vec![codec(t)],
            resolution: Some((t.width, t.height)),
        });
    }
    let mut session_keys: Vec<String> = Vec::new();
    for tracks in l
        .variants
        .iter()
        .map(Vec::as_slice)
        .chain(l.audio.iter().map(std::slice::from_ref))
    {
        for line in protect::hls_key_lines(p, tracks, true) {
            if !session_keys.contains(&line) {
                session_keys.push(line);
            }
        }
    }
    m3u8::master(&m3u8::Master {
        variants,
        renditions,
        iframe_streams,
        session_keys,
    })
}
