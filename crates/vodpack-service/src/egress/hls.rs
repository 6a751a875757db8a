//! HLS outputs: `hlsPackage` (MPEG-TS segments) and `cmafPackage` (fMP4 segments), which share
//! their playlists.
//!
//! Files under a manifest's folder, `<n>` being the manifest name:
//! - `<n>.m3u8`: the multivariant playlist;
//! - `<n>_<v>.m3u8` and its segments `<n>_<v>_<s>.ts|.mp4` (+ `<n>_<v>_init.mp4` for CMAF):
//!   variant `v`;
//! - `<n>_a<k>.m3u8`, `<n>_a<k>_<s>.ts|.mp4`: audio rendition `k` of the audio group;
//! - `<n>_t<k>.m3u8`, `<n>_t<k>_<s>.vtt`: subtitle rendition `k` (WebVTT);
//! - `<n>_iframes.m3u8`: I-frame playlist of the first variant (`includeIframeOnlyStream`):
//!   byte ranges of its TS segments, or one-frame fragments `<n>_0_i<s>.mp4` for CMAF.
//!
//! TS variants are a video rendition (after `streamSelection`) with the first audio track muxed
//! in, or alone when `useAudioRenditionGroup` puts every audio track in the group. CMAF keeps one
//! track per file: video variants, every audio track in the group. Audio-only assets get one
//! variant per audio track.

use vodpack_media::index::TrackKind;
use vodpack_media::manifest::hls as m3u8;
use vodpack_media::mux::TS_TIME_OFFSET;
use vodpack_media::mux::fmp4::{FragmentKind, time_shift_us};

use super::job::{Job, Rendered};
use super::segments::{self, Fmp4Style};
use super::{EgressError, not_found};
use crate::model::{HlsManifest, Package};

const PLAYLIST: &str = "application/vnd.apple.mpegurl";

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
}

fn layout(job: &Job) -> Result<Layout, EgressError> {
    let (container, manifests, group): (Container, &Option<Vec<HlsManifest>>, bool) =
        match &job.package {
            Package::HlsPackage(p) => (
                Container::Ts,
                &p.hls_manifests,
                p.use_audio_rendition_group == Some(true),
            ),
            Package::CmafPackage(p) => (
                Container::Fmp4(Fmp4Style {
                    in_band: p.include_encoder_configuration_in_segments == Some(true),
                    timescale: None,
                }),
                &p.hls_manifests,
                true,
            ),
            _ => return Err(not_found("not an HLS configuration")),
        };
    let manifest = manifests.as_ref().and_then(|m| m.get(job.manifest));
    let st = job.streams();
    let (variants, audio) = if st.videos.is_empty() && job.stream_selection().is_none() {
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
        iframes: manifest.and_then(|m| m.include_iframe_only_stream) == Some(true)
            && !st.videos.is_empty(),
        dates: manifest
            .and_then(|m| m.program_date_time_interval_seconds)
            .filter(|i| *i > 0)
            .map(|i| i as u32),
    })
}

impl Layout {
    fn ext(&self) -> &'static str {
        match self.container {
            Container::Ts => "ts",
            Container::Fmp4(_) => "mp4",
        }
    }
}

/// A rendition id in file names: `<v>`, `a<k>` or `t<k>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Id {
    Variant(usize),
    Audio(usize),
    Text(usize),
}

impl Id {
    fn parse(s: &str) -> Option<Id> {
        let num = super::number;
        if let Some(k) = s.strip_prefix('a') {
            return num(k).map(Id::Audio);
        }
        if let Some(k) = s.strip_prefix('t') {
            return num(k).map(Id::Text);
        }
        num(s).map(Id::Variant)
    }
    fn name(self) -> String {
        match self {
            Id::Variant(v) => v.to_string(),
            Id::Audio(k) => format!("a{k}"),
            Id::Text(k) => format!("t{k}"),
        }
    }
    fn tracks(self, l: &Layout) -> Option<Vec<usize>> {
        match self {
            Id::Variant(v) => l.variants.get(v).cloned(),
            Id::Audio(k) => l.audio.get(k).map(|a| vec![*a]),
            Id::Text(k) => l.texts.get(k).map(|a| vec![*a]),
        }
    }
}

/// Every file of the manifest (for `vodpack package`).
pub fn files(job: &Job) -> Result<Vec<String>, EgressError> {
    let l = layout(job)?;
    let n = &job.manifest_name;
    let mut out = vec![format!("{n}.m3u8")];
    let ids: Vec<Id> = (0..l.variants.len())
        .map(Id::Variant)
        .chain((0..l.audio.len()).map(Id::Audio))
        .chain((0..l.texts.len()).map(Id::Text))
        .collect();
    for id in ids {
        let id_name = id.name();
        out.push(format!("{n}_{id_name}.m3u8"));
        let ext = if matches!(id, Id::Text(_)) {
            "vtt"
        } else {
            l.ext()
        };
        if ext == "mp4" {
            out.push(format!("{n}_{id_name}_init.mp4"));
        }
        for s in 0..job.seg.count() {
            out.push(format!("{n}_{id_name}_{s}.{ext}"));
        }
    }
    if l.iframes {
        out.push(format!("{n}_iframes.m3u8"));
        if let Container::Fmp4(_) = l.container {
            for s in 0..job.seg.count() {
                out.push(format!("{n}_0_i{s}.mp4"));
            }
        }
    }
    Ok(out)
}

pub async fn render(job: &Job, file: &str) -> Result<Rendered, EgressError> {
    let l = layout(job)?;
    let n = job.manifest_name.as_str();
    if file == format!("{n}.m3u8") {
        return Ok(Rendered::manifest(PLAYLIST, master(job, &l).await?));
    }
    let rest = file
        .strip_prefix(n)
        .and_then(|r| r.strip_prefix('_'))
        .ok_or_else(|| not_found("no such file"))?;
    if rest == "iframes.m3u8" && l.iframes {
        return Ok(Rendered::manifest(
            PLAYLIST,
            m3u8::media_playlist(&iframe_playlist(job, &l).await?),
        ));
    }
    if let Some(id) = rest.strip_suffix(".m3u8") {
        let id = Id::parse(id).ok_or_else(|| not_found("no such playlist"))?;
        id.tracks(&l).ok_or_else(|| not_found("no such playlist"))?;
        return Ok(Rendered::manifest(
            PLAYLIST,
            m3u8::media_playlist(&media_playlist(job, &l, id)),
        ));
    }
    let (stem, ext) = rest
        .rsplit_once('.')
        .ok_or_else(|| not_found("no such file"))?;
    let (id, seg) = stem
        .rsplit_once('_')
        .ok_or_else(|| not_found("no such file"))?;
    let id = Id::parse(id).ok_or_else(|| not_found("no such rendition"))?;
    let tracks = id
        .tracks(&l)
        .ok_or_else(|| not_found("no such rendition"))?;
    let segment = |s: &str| -> Result<usize, EgressError> {
        super::number(s)
            .filter(|s| *s < job.seg.count())
            .ok_or_else(|| not_found("no such segment"))
    };
    match (id, ext, l.container) {
        (Id::Text(_), "vtt", _) => {
            let s = segment(seg)?;
            let mpegts = match l.container {
                Container::Ts => TS_TIME_OFFSET,
                Container::Fmp4(_) => (time_shift_us(&job.index) * 9 / 100) as i64,
            };
            let body = segments::webvtt(job, tracks[0], s, mpegts).await?;
            Ok(Rendered::media("text/vtt; charset=utf-8", body))
        }
        (Id::Text(_), _, _) => Err(not_found("no such file")),
        (_, "ts", Container::Ts) => {
            let s = segment(seg)?;
            Ok(Rendered::media(
                "video/MP2T",
                segments::ts(job, &tracks, s, false).await?,
            ))
        }
        (_, "mp4", Container::Fmp4(style)) => {
            if seg == "init" {
                return Ok(Rendered::media(
                    "video/mp4",
                    segments::fmp4_init(job, tracks[0], style)?,
                ));
            }
            let (s, iframe) = match seg.strip_prefix('i') {
                Some(s) if l.iframes && id == Id::Variant(0) => (segment(s)?, true),
                Some(_) => return Err(not_found("no such file")),
                None => (segment(seg)?, false),
            };
            let body =
                segments::fmp4_fragment(job, tracks[0], s, style, FragmentKind::Cmaf, iframe)
                    .await?;
            let ct = if job.index.tracks[tracks[0]].codec.kind() == TrackKind::Audio {
                "audio/mp4"
            } else {
                "video/mp4"
            };
            Ok(Rendered::media(ct, body))
        }
        _ => Err(not_found("no such file")),
    }
}

fn media_playlist(job: &Job, l: &Layout, id: Id) -> m3u8::MediaPlaylist {
    let n = &job.manifest_name;
    let id_name = id.name();
    let ext = if matches!(id, Id::Text(_)) {
        "vtt"
    } else {
        l.ext()
    };
    let segments = (0..job.seg.count())
        .map(|s| m3u8::Segment {
            duration: job.seg.duration_seconds(s),
            uri: format!("{n}_{id_name}_{s}.{ext}"),
            byte_range: None,
        })
        .collect();
    // EXT-X-PROGRAM-DATE-TIME from the ingest (submission) time of the asset.
    let dates = l.dates.and_then(|interval| {
        let start = chrono::DateTime::parse_from_rfc3339(&job.created_at).ok()?;
        Some(m3u8::DateTimes {
            start_ms: start.timestamp_millis(),
            interval_seconds: interval,
        })
    });
    m3u8::MediaPlaylist {
        segments,
        map: (ext == "mp4").then(|| format!("{n}_{id_name}_init.mp4")),
        iframes_only: false,
        dates,
    }
}

/// The I-frame playlist of the first variant: for TS, the byte range of each segment from its
/// start through its key frame (PAT/PMT included, as players need them); for CMAF, one-frame
/// fragments.
async fn iframe_playlist(job: &Job, l: &Layout) -> Result<m3u8::MediaPlaylist, EgressError> {
    let n = &job.manifest_name;
    let tracks = l.variants.first().ok_or_else(|| not_found("no variants"))?;
    let mut segments = Vec::with_capacity(job.seg.count());
    for s in 0..job.seg.count() {
        let duration = job.seg.duration_seconds(s);
        segments.push(match l.container {
            Container::Ts => {
                let len = segments::ts(job, tracks, s, true).await?.len() as u64;
                m3u8::Segment {
                    duration,
                    uri: format!("{n}_0_{s}.ts"),
                    byte_range: Some((len, 0)),
                }
            }
            Container::Fmp4(_) => m3u8::Segment {
                duration,
                uri: format!("{n}_0_i{s}.mp4"),
                byte_range: None,
            },
        });
    }
    Ok(m3u8::MediaPlaylist {
        segments,
        map: matches!(l.container, Container::Fmp4(_)).then(|| format!("{n}_0_init.mp4")),
        iframes_only: true,
        dates: None,
    })
}

/// The multivariant playlist.
async fn master(job: &Job, l: &Layout) -> Result<String, EgressError> {
    const AUDIO: &str = "audio";
    const SUBS: &str = "subtitles";
    let index = &job.index;
    let n = &job.manifest_name;
    let group_audio = l.audio.first().map(|a| &index.tracks[*a]);
    let codec = |t: &vodpack_media::index::Track| match l.container {
        Container::Ts => t.codec_string.clone(),
        Container::Fmp4(style) => segments::codec_string(t, style),
    };
    let peak = |ts: &[usize]| -> u64 { ts.iter().map(|t| index.tracks[*t].peak_bitrate).sum() };
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
            let mut bandwidth = peak(tracks);
            let mut average: u64 = tracks.iter().map(|t| index.tracks[*t].avg_bitrate).sum();
            if let Some(a) = group_audio {
                codecs.push(codec(a));
                bandwidth += l
                    .audio
                    .iter()
                    .map(|a| index.tracks[*a].peak_bitrate)
                    .max()
                    .unwrap_or(0);
                average += a.avg_bitrate;
            }
            m3u8::Variant {
                uri: format!("{n}_{v}.m3u8"),
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
            name: job.track_name(*a, "Audio", k),
            language: index.tracks[*a].language.clone(),
            default: k == 0,
            channels: Some(index.tracks[*a].channels),
            uri: format!("{n}_a{k}.m3u8"),
        })
        .collect();
    renditions.extend(l.texts.iter().enumerate().map(|(k, t)| m3u8::Rendition {
        kind: m3u8::RenditionType::Subtitles,
        group: SUBS.into(),
        name: job.track_name(*t, "Subtitles", k),
        language: index.tracks[*t].language.clone(),
        default: false,
        channels: None,
        uri: format!("{n}_t{k}.m3u8"),
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
        // Key frames only: bandwidth from the I-frame playlist's own sizes.
        let playlist = iframe_playlist(job, l).await?;
        let bandwidth = match l.container {
            Container::Ts => playlist
                .segments
                .iter()
                .filter_map(|s| Some((s.byte_range?.0, s.duration)))
                .map(|(len, d)| (len as f64 * 8.0 / d.max(0.001)) as u64)
                .max()
                .unwrap_or(0),
            Container::Fmp4(_) => {
                let keys = (0..t.samples.len())
                    .filter(|i| t.samples.keyframe[*i])
                    .map(|i| u64::from(t.samples.size[i]))
                    .max()
                    .unwrap_or(0);
                let shortest = (0..job.seg.count())
                    .map(|s| job.seg.duration_seconds(s))
                    .fold(f64::MAX, f64::min);
                (keys as f64 * 8.0 / shortest.max(0.001)) as u64
            }
        };
        iframe_streams.push(m3u8::IframeStream {
            uri: format!("{n}_iframes.m3u8"),
            bandwidth,
            codecs: vec![codec(t)],
            resolution: Some((t.width, t.height)),
        });
    }
    Ok(m3u8::master(&m3u8::Master {
        variants,
        renditions,
        iframe_streams,
    }))
}
