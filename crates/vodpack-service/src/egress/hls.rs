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
use vodpack_media::mux::clock::{time_shift_90k, ts_offset};
use vodpack_media::mux::fmp4::FragmentKind;
use vodpack_media::package::spec::Format;

use super::job::Job;
use super::rendered::Rendered;
use super::segments::{self, Fmp4Style};
use super::{EgressError, not_found};

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
    let (container, group) = match &job.spec.format {
        Format::Hls(p) => (Container::Ts, p.use_audio_rendition_group),
        Format::Cmaf(p) => (
            Container::Fmp4(Fmp4Style {
                in_band: p.include_encoder_configuration_in_segments,
                timescale: None,
            }),
            true,
        ),
        _ => return Err(not_found("not an HLS configuration")),
    };
    let manifest = job.spec.hls_manifest(job.manifest);
    let st = job.streams();
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

/// The plan segments a rendition's playlist lists: those where it has samples (all of them
/// for subtitles, whose segments may be empty WebVTT files).
fn listed(job: &Job, l: &Layout, id: Id) -> Vec<usize> {
    match (id, id.tracks(l)) {
        (Id::Text(_), _) => (0..job.seg.count()).collect(),
        (_, Some(tracks)) => segments::non_empty(job, &tracks),
        (_, None) => Vec::new(),
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
        for s in listed(job, &l, id) {
            out.push(format!("{n}_{id_name}_{s}.{ext}"));
        }
    }
    if l.iframes {
        out.push(format!("{n}_iframes.m3u8"));
        if let Container::Fmp4(_) = l.container {
            for s in listed(job, &l, Id::Variant(0)) {
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
                Container::Ts => ts_offset(&job.index),
                Container::Fmp4(_) => time_shift_90k(&job.index),
            };
            let body = segments::webvtt(job, tracks[0], s, mpegts).await?;
            Ok(Rendered::media("text/vtt; charset=utf-8", body))
        }
        (Id::Text(_), _, _) => Err(not_found("no such file")),
        (_, "ts", Container::Ts) => {
            let s = segment(seg)?;
            Ok(Rendered::media_stream(
                "video/MP2T",
                segments::ts_segment(job, &tracks, s, false).await?,
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
            Ok(Rendered::media_parts(ct, body))
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
    let segments = listed(job, l, id)
        .into_iter()
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
    use futures::stream::{StreamExt, TryStreamExt};
    let n = &job.manifest_name;
    let tracks = l.variants.first().ok_or_else(|| not_found("no variants"))?;
    let list = listed(job, l, Id::Variant(0));
    let segments = match l.container {
        Container::Ts => {
            // Each range ends after the key frame: the length of that prefix of every
            // segment (worked out without muxing it), a few at a time, in order.
            futures::stream::iter(list.into_iter().map(|s| async move {
                let len = segments::ts_segment(job, tracks, s, true).await?.len;
                Ok::<_, EgressError>(m3u8::Segment {
                    duration: job.seg.duration_seconds(s),
                    uri: format!("{n}_0_{s}.ts"),
                    byte_range: Some((len, 0)),
                })
            }))
            .buffered(8)
            .try_collect()
            .await?
        }
        Container::Fmp4(_) => list
            .into_iter()
            .map(|s| m3u8::Segment {
                duration: job.seg.duration_seconds(s),
                uri: format!("{n}_0_i{s}.mp4"),
                byte_range: None,
            })
            .collect(),
    };
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
    // (peak, average) bits per second of what a rendition's segments weigh: for TS from the
    // packets the muxer will write (PES headers, ADTS, AUD and parameter sets, 188-byte
    // packets), so BANDWIDTH bounds every segment (RFC 8216 §4.3.4.2); for fMP4 the
    // elementary stream's (fragment headers add well under 1%).
    let rates = |tracks: &[usize]| -> (u64, u64) {
        match l.container {
            Container::Ts => segments::ts_bitrates(job, tracks),
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
        // Key frames only, one per segment: the largest over its segment's duration, from
        // the index (the byte ranges themselves are only worked out for the I-frame playlist).
        let first = &l.variants[0];
        let bandwidth =
            segments::iframe_bitrate(job, listed(job, l, Id::Variant(0)), |s| match l.container {
                Container::Ts => Some(segments::ts_key_prefix_bytes(job, first, s)),
                Container::Fmp4(_) => segments::fmp4_key_fragment_bytes(job, video, s),
            });
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
