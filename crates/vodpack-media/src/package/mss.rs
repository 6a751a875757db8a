//! The Microsoft Smooth Streaming layout (`mssPackage`): the client manifest (10 MHz
//! timescale) and its fragments (`moof` with `tfxd` + `mdat`). File names are in
//! [`super::output`].
//!
//! One `video` StreamIndex holds every selected video rendition (their key frames are aligned,
//! so they share the first rendition's fragment times); each audio track is its own
//! StreamIndex (`audio`, `audio_1`, …). Bitrates are made unique within a StreamIndex, since
//! they address the QualityLevel in URLs.

use crate::index::{Codec, TrackKind};
use crate::manifest::mss;
use crate::mux::access_unit::parameter_sets;
use crate::mux::fmp4::FragmentKind;

use super::chain::fmp4::{self as fmp4, Fmp4Style};
use super::output::{MssFile, OutputFile};
use super::{Need, PackageError, Plan, Presentation, Target};

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

fn layout(p: &Presentation) -> Vec<StreamLayout> {
    let st = p.streams();
    let unique = |tracks: &[usize]| -> Vec<(u32, usize)> {
        let mut used = Vec::new();
        tracks
            .iter()
            .map(|t| {
                let mut b = u32::try_from(p.index.tracks[*t].avg_bitrate.max(1))
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

pub(super) fn files(p: &Presentation) -> Result<Vec<OutputFile>, PackageError> {
    let mut out = vec![MssFile::Manifest];
    for s in layout(p) {
        let Some((_, first)) = s.levels.first() else {
            continue;
        };
        let (starts, _) = fmp4::timeline(p, *first, STYLE)?;
        for (bitrate, _) in &s.levels {
            for (_, t) in &starts {
                out.push(MssFile::Fragment {
                    stream: s.name.clone(),
                    bitrate: *bitrate as usize,
                    time: *t,
                });
            }
        }
    }
    Ok(out.into_iter().map(OutputFile::Mss).collect())
}

pub(super) fn plan(p: &Presentation, f: &MssFile) -> Result<Plan, PackageError> {
    let file = OutputFile::Mss(f.clone());
    let MssFile::Fragment {
        stream,
        bitrate,
        time,
    } = f
    else {
        return Ok(Plan::index(file, Target::Manifest(MANIFEST)));
    };
    let not_found = PackageError::not_found;
    let streams = layout(p);
    let s = streams
        .iter()
        .find(|s| s.name == *stream)
        .ok_or_else(|| not_found("no such stream"))?;
    let (_, track) = s
        .levels
        .iter()
        .find(|(b, _)| *b as usize == *bitrate)
        .copied()
        .ok_or_else(|| not_found("no such quality level"))?;
    // The stream's fragment times are its first QualityLevel's; each names a plan segment.
    let segment = fmp4::timeline_entry_at(p, s.levels[0].1, STYLE, *time)
        .ok_or_else(|| not_found("no fragment starts at that time"))?;
    let range = fmp4::fragment_samples(p, track, segment, false)?;
    Ok(Plan {
        need: Need::Samples(vec![(track, range)]),
        file,
        target: Target::Fragment {
            track,
            segment,
            style: STYLE,
            kind: FragmentKind::Smooth,
            iframe: false,
        },
    })
}

pub(super) fn manifest(p: &Presentation) -> Result<String, PackageError> {
    let index = &p.index;
    let mut streams = Vec::new();
    let mut duration = 0u64;
    for s in layout(p) {
        let Some((_, first)) = s.levels.first() else {
            continue;
        };
        let (starts, end) = fmp4::timeline(p, *first, STYLE)?;
        duration = duration.max(end.saturating_sub(starts.first().map_or(0, |x| x.1)));
        let fragments = fmp4::durations(&starts, end);
        let levels = s
            .levels
            .iter()
            .map(|(bitrate, t)| {
                let track = &index.tracks[*t];
                let (codec, private) = match track.codec {
                    Codec::H264 | Codec::H265 => {
                        let mut annex_b = Vec::new();
                        for set in parameter_sets(track)? {
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
                        return Err(PackageError::not_found(
                            "text tracks are not carried in Smooth",
                        ));
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
            .collect::<Result<Vec<_>, PackageError>>()?;
        streams.push(mss::Stream {
            kind: s.kind,
            name: s.name.clone(),
            language: index.tracks[*first].language.clone(),
            levels,
            fragments,
        });
    }
    if streams.is_empty() {
        return Err(PackageError::not_found(
            "the stream selection leaves nothing to play",
        ));
    }
    Ok(mss::client_manifest(&mss::SmoothManifest {
        timescale: mss::DEFAULT_TIMESCALE,
        duration,
        streams,
        compress_repeats: false,
        protection: super::protect::mss_protection(p),
    }))
}
