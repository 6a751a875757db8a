//! Microsoft Smooth Streaming (`mssPackage`): the client manifest and its fragments.
//!
//! Files under a manifest's folder, `<n>` being the manifest name:
//! - `<n>.ism/Manifest`: the client manifest (10 MHz timescale);
//! - `<n>.ism/QualityLevels(<bitrate>)/Fragments(<stream>=<time>)`: one fragment (`moof` with
//!   `tfxd` + `mdat`) of the QualityLevel with that bitrate in that StreamIndex, `<time>` a
//!   fragment start listed in the manifest.
//!
//! One `video` StreamIndex holds every selected video rendition (their key frames are aligned,
//! so they share the first rendition's fragment times); each audio track is its own
//! StreamIndex (`audio`, `audio_1`, …). Bitrates are made unique within a StreamIndex, since
//! they address the QualityLevel in URLs.

use vodpack_media::index::{Codec, TrackKind};
use vodpack_media::manifest::mss;
use vodpack_media::mux::access_unit::parameter_sets;
use vodpack_media::mux::fmp4::FragmentKind;

use super::job::Job;
use super::rendered::Rendered;
use super::segments::{self, Fmp4Style};
use super::{EgressError, not_found};

/// The Smooth manifest type IIS and MediaPackage use; Shaka recognises Smooth by it.
pub const MANIFEST: &str = "application/vnd.ms-sstr+xml";

const STYLE: Fmp4Style = Fmp4Style {
    in_band: false,
    timescale: Some(mss::DEFAULT_TIMESCALE as u32),
};

/// A StreamIndex: name, kind and (bitrate, track) of each QualityLevel.
struct StreamLayout {
    name: String,
    kind: mss::StreamType,
    levels: Vec<(u32, usize)>,
}

fn layout(job: &Job) -> Vec<StreamLayout> {
    let st = job.streams();
    let unique = |tracks: &[usize]| -> Vec<(u32, usize)> {
        let mut used = Vec::new();
        tracks
            .iter()
            .map(|t| {
                let mut b = u32::try_from(job.index.tracks[*t].avg_bitrate.max(1))
                    .unwrap_or(u32::MAX - 1_000);
                while used.contains(&b) {
                    b += 1;
                }
                used.push(b);
                (b, *t)
            })
            .collect()
    };
    let mut out = Vec::new();
    if !st.videos.is_empty() {
        out.push(StreamLayout {
            name: "video".into(),
            kind: mss::StreamType::Video,
            levels: unique(&st.videos),
        });
    }
    for (k, a) in st.audios.iter().enumerate() {
        out.push(StreamLayout {
            name: if k == 0 {
                "audio".into()
            } else {
                format!("audio_{k}")
            },
            kind: mss::StreamType::Audio,
            levels: unique(&[*a]),
        });
    }
    out
}

pub fn files(job: &Job) -> Result<Vec<String>, EgressError> {
    let n = &job.manifest_name;
    let mut out = vec![format!("{n}.ism/Manifest")];
    for s in layout(job) {
        let Some((_, first)) = s.levels.first() else {
            continue;
        };
        let (starts, _) = segments::fmp4_timeline(job, *first, STYLE)?;
        for (bitrate, _) in &s.levels {
            for (_, t) in &starts {
                out.push(format!(
                    "{n}.ism/QualityLevels({bitrate})/Fragments({}={t})",
                    s.name
                ));
            }
        }
    }
    Ok(out)
}

pub async fn render(job: &Job, file: &str) -> Result<Rendered, EgressError> {
    let n = job.manifest_name.as_str();
    let rest = file
        .strip_prefix(n)
        .and_then(|r| r.strip_prefix(".ism/"))
        .ok_or_else(|| not_found("no such file"))?;
    if rest == "Manifest" {
        return Ok(Rendered::manifest(MANIFEST, manifest(job)?));
    }
    // QualityLevels(<bitrate>)/Fragments(<stream>=<time>)
    let (ql, frag) = rest
        .split_once('/')
        .ok_or_else(|| not_found("no such file"))?;
    let bitrate = ql
        .strip_prefix("QualityLevels(")
        .and_then(|r| r.strip_suffix(')'))
        .and_then(super::number)
        .ok_or_else(|| not_found("no such quality level"))?;
    let (stream, time) = frag
        .strip_prefix("Fragments(")
        .and_then(|r| r.strip_suffix(')'))
        .and_then(|r| r.split_once('='))
        .ok_or_else(|| not_found("no such fragment"))?;
    let time = super::number(time).ok_or_else(|| not_found("no such fragment"))? as u64;
    let streams = layout(job);
    let s = streams
        .iter()
        .find(|s| s.name == stream)
        .ok_or_else(|| not_found("no such stream"))?;
    let (_, track) = s
        .levels
        .iter()
        .find(|(b, _)| *b as usize == bitrate)
        .copied()
        .ok_or_else(|| not_found("no such quality level"))?;
    // The stream's fragment times are its first QualityLevel's; each names a plan segment.
    let k = segments::timeline_entry_at(job, s.levels[0].1, STYLE, time)
        .ok_or_else(|| not_found("no fragment starts at that time"))?;
    let body = segments::fmp4_fragment(job, track, k, STYLE, FragmentKind::Smooth, false).await?;
    let ct = if s.kind == mss::StreamType::Audio {
        "audio/mp4"
    } else {
        "video/mp4"
    };
    Ok(Rendered::media_parts(ct, body))
}

fn manifest(job: &Job) -> Result<String, EgressError> {
    let index = &job.index;
    let mut streams = Vec::new();
    let mut duration = 0u64;
    for s in layout(job) {
        let Some((_, first)) = s.levels.first() else {
            continue;
        };
        let (starts, end) = segments::fmp4_timeline(job, *first, STYLE)?;
        duration = duration.max(end.saturating_sub(starts.first().map_or(0, |x| x.1)));
        let fragments = segments::durations(&starts, end);
        let levels = s
            .levels
            .iter()
            .map(|(bitrate, t)| {
                let track = &index.tracks[*t];
                let (codec, private) = match track.codec {
                    Codec::H264 | Codec::H265 => {
                        let mut annex_b = Vec::new();
                        for set in parameter_sets(track).map_err(EgressError::damaged)? {
                            annex_b.extend_from_slice(&[0, 0, 0, 1]);
                            annex_b.extend_from_slice(&set);
                        }
                        let codec = if track.codec == Codec::H264 {
                            mss::Codec::H264
                        } else {
                            mss::Codec::Hevc
                        };
                        (codec, annex_b)
                    }
                    Codec::Aac => (mss::Codec::Aac, track.codec_config.clone()),
                    Codec::Ac3 => (mss::Codec::Ac3, track.codec_config.clone()),
                    Codec::Eac3 => (mss::Codec::Ec3, track.codec_config.clone()),
                    Codec::Srt | Codec::WebVtt => {
                        return Err(not_found("text tracks are not carried in Smooth"));
                    }
                };
                Ok(mss::QualityLevel {
                    bitrate: *bitrate,
                    codec,
                    codec_private_data: private,
                    track: if track.codec.kind() == TrackKind::Video {
                        mss::Track::Video {
                            width: track.width,
                            height: track.height,
                        }
                    } else {
                        mss::Track::Audio {
                            sampling_rate: track.sample_rate,
                            channels: track.channels,
                            bits_per_sample: 16,
                            packet_size: 4,
                        }
                    },
                })
            })
            .collect::<Result<Vec<_>, EgressError>>()?;
        streams.push(mss::Stream {
            kind: s.kind,
            name: s.name.clone(),
            language: index.tracks[*first].language.clone(),
            levels,
            fragments,
        });
    }
    if streams.is_empty() {
        return Err(not_found("the stream selection leaves nothing to play"));
    }
    Ok(mss::client_manifest(&mss::SmoothManifest {
        timescale: mss::DEFAULT_TIMESCALE,
        duration,
        streams,
        compress_repeats: false,
    }))
}
