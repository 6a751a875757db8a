//! DASH (`dashPackage`): a static MPD over CMAF tracks, one file per track.
//!
//! Files under a manifest's folder, `<n>` being the manifest name and `<r>` a Representation
//! id (`v<k>` video in manifest order, `a<k>` audio, `i0` the trick-play stream):
//! - `<n>.mpd`;
//! - `<n>_<r>_init.mp4`: init section;
//! - `<n>_<r>_<number>.mp4` (numbers from 1; NUMBER_WITH_TIMELINE, NUMBER_WITH_DURATION) or
//!   `<n>_<r>_t<time>.mp4` (TIME_WITH_TIMELINE, `<time>` the segment's start in the track's
//!   timescale, equal to its `tfdt`): media segments;
//! - with `includeIframeOnlyStream`, `i0` holds the first key frame of each segment of the
//!   first video Representation, as one-frame fragments.
//!
//! Defaults when the configuration is silent: NUMBER_WITH_TIMELINE, FULL, profile NONE,
//! `minBufferTime` 30 s (MediaPackage's console default).

use std::time::Duration;

use vodpack_media::index::{Codec, TrackKind};
use vodpack_media::manifest::dash as mpd;
use vodpack_media::mux::clock::time_shift_us;
use vodpack_media::mux::fmp4::FragmentKind;
use vodpack_media::package::spec::{
    DEFAULT_MIN_BUFFER_SECONDS, DashManifestSpec, DashSpec, Format,
};

use super::job::Job;
use super::rendered::Rendered;
use super::segments::{self, Fmp4Style};
use super::{EgressError, not_found};

pub const MPD: &str = "application/dash+xml";

struct Settings<'a> {
    pkg: &'a DashSpec,
    manifest: Option<&'a DashManifestSpec>,
    style: Fmp4Style,
    format: mpd::SegmentTemplateFormat,
}

fn settings(job: &Job) -> Result<Settings<'_>, EgressError> {
    let Format::Dash(pkg) = &job.spec.format else {
        return Err(not_found("not a DASH configuration"));
    };
    Ok(Settings {
        pkg,
        manifest: pkg.manifests.get(job.manifest),
        style: Fmp4Style {
            in_band: pkg.include_encoder_configuration_in_segments,
            timescale: None,
        },
        format: pkg.segment_template_format,
    })
}

/// The Representations: (id, track) in manifest order.
fn representations(job: &Job) -> Vec<(String, usize)> {
    let st = job.streams();
    st.videos
        .iter()
        .enumerate()
        .map(|(k, t)| (format!("v{k}"), *t))
        .chain(
            st.audios
                .iter()
                .enumerate()
                .map(|(k, t)| (format!("a{k}"), *t)),
        )
        .collect()
}

fn trick_track(job: &Job, s: &Settings) -> Option<usize> {
    if !s.pkg.include_iframe_only_stream {
        return None;
    }
    job.streams().videos.first().copied()
}

/// The track of Representation `id`.
fn track_of(job: &Job, s: &Settings, id: &str) -> Option<usize> {
    if id == "i0" {
        return trick_track(job, s);
    }
    representations(job)
        .into_iter()
        .find(|(r, _)| r == id)
        .map(|(_, t)| t)
}

pub fn files(job: &Job) -> Result<Vec<String>, EgressError> {
    let s = settings(job)?;
    let n = &job.manifest_name;
    let mut out = vec![format!("{n}.mpd")];
    let mut reps = representations(job);
    if let Some(t) = trick_track(job, &s) {
        reps.push(("i0".into(), t));
    }
    for (id, t) in reps {
        out.push(format!("{n}_{id}_init.mp4"));
        let (timeline, _) = segments::fmp4_timeline(job, t, s.style)?;
        for (k, (_, start)) in timeline.iter().enumerate() {
            out.push(match s.format {
                mpd::SegmentTemplateFormat::TimeWithTimeline => format!("{n}_{id}_t{start}.mp4"),
                _ => format!("{n}_{id}_{}.mp4", k + 1),
            });
        }
    }
    Ok(out)
}

pub async fn render(job: &Job, file: &str) -> Result<Rendered, EgressError> {
    let s = settings(job)?;
    let n = job.manifest_name.as_str();
    if file == format!("{n}.mpd") {
        return Ok(Rendered::manifest(MPD, manifest(job, &s)?));
    }
    let rest = file
        .strip_prefix(n)
        .and_then(|r| r.strip_prefix('_'))
        .and_then(|r| r.strip_suffix(".mp4"))
        .ok_or_else(|| not_found("no such file"))?;
    let (id, seg) = rest
        .rsplit_once('_')
        .ok_or_else(|| not_found("no such file"))?;
    let t = track_of(job, &s, id).ok_or_else(|| not_found("no such representation"))?;
    let content_type = if job.index.tracks[t].codec.kind() == TrackKind::Audio {
        "audio/mp4"
    } else {
        "video/mp4"
    };
    if seg == "init" {
        return Ok(Rendered::media(
            content_type,
            segments::fmp4_init(job, t, s.style)?,
        ));
    }
    // `$Number$` counts the entries of this track's timeline from 1, `$Time$` names an entry's
    // start; either maps back to the plan's segment index (a track may start late or end
    // early, so the two need not be equal).
    let index = match (s.format, seg.strip_prefix('t')) {
        (mpd::SegmentTemplateFormat::TimeWithTimeline, Some(time)) => super::number(time)
            .and_then(|time| segments::timeline_entry_at(job, t, s.style, time as u64)),
        (mpd::SegmentTemplateFormat::TimeWithTimeline, None) => None,
        (_, _) => super::number(seg)
            .and_then(|k| k.checked_sub(1))
            .and_then(|k| segments::timeline_entry(job, t, k)),
    }
    .ok_or_else(|| not_found("no such segment"))?;
    let body =
        segments::fmp4_fragment(job, t, index, s.style, FragmentKind::Cmaf, id == "i0").await?;
    Ok(Rendered::media_parts(content_type, body))
}

fn manifest(job: &Job, s: &Settings) -> Result<String, EgressError> {
    let n = &job.manifest_name;
    let index = &job.index;
    let shift_us = time_shift_us(index);
    let layout = s
        .manifest
        .map_or_else(Default::default, |m| m.manifest_layout);
    let profile = s.manifest.map_or_else(Default::default, |m| m.profile);
    let urls = |id: &str| {
        let id = if layout == mpd::ManifestLayout::Compact {
            "$RepresentationID$"
        } else {
            id
        };
        mpd::SegmentUrls {
            initialization: format!("{n}_{id}_init.mp4"),
            media_prefix: match s.format {
                mpd::SegmentTemplateFormat::TimeWithTimeline => format!("{n}_{id}_t"),
                _ => format!("{n}_{id}_"),
            },
            media_suffix: ".mp4".into(),
        }
    };
    let rep = |id: &str, t: usize| -> Result<mpd::Representation, EgressError> {
        let track = &index.tracks[t];
        let out = segments::fmp4_track(job, t, s.style)?;
        let timescale = out.timescale();
        let (starts, end) = segments::fmp4_timeline(job, t, s.style)?;
        let timeline = segments::durations(&starts, end);
        let media = match track.codec.kind() {
            TrackKind::Video => mpd::Media::Video(mpd::Video {
                width: track.width,
                height: track.height,
                frame_rate: track.frame_rate.unwrap_or((25, 1)),
                sar: (1, 1),
            }),
            _ => mpd::Media::Audio(mpd::Audio {
                sampling_rate: track.sample_rate,
                channels: match track.codec {
                    Codec::Ac3 | Codec::Eac3 => {
                        let (acmod, lfeon) = vodpack_media::codec::ac3::ac3_config_layout(
                            &track.codec_config,
                            track.codec == Codec::Eac3,
                        )
                        .unwrap_or((2, false));
                        mpd::ChannelConfiguration::dolby(acmod, lfeon)
                    }
                    _ => mpd::ChannelConfiguration::Count(track.channels),
                },
                language: track.language.clone(),
            }),
        };
        Ok(mpd::Representation {
            id: id.to_string(),
            bandwidth: u32::try_from(track.peak_bitrate).unwrap_or(u32::MAX),
            codecs: segments::codec_string(track, s.style),
            media,
            timescale,
            presentation_time_offset: (u128::from(shift_us) * u128::from(timescale) / 1_000_000)
                as u64,
            urls: urls(id),
            timeline,
        })
    };
    let representations = representations(job)
        .iter()
        .map(|(id, t)| rep(id, *t))
        .collect::<Result<Vec<_>, _>>()?;
    if representations.is_empty() {
        return Err(not_found("the stream selection leaves nothing to play"));
    }
    let trick_play = match trick_track(job, s) {
        Some(t) => {
            let mut r = rep("i0", t)?;
            r.bandwidth = u32::try_from(segments::iframe_bitrate(job, 0..job.seg.count(), |k| {
                segments::fmp4_key_fragment_bytes(job, t, k)
            }))
            .unwrap_or(u32::MAX);
            r.urls = urls("i0");
            let seg_seconds = (0..job.seg.count())
                .map(|k| job.seg.duration_seconds(k))
                .fold(0.0, f64::max);
            let fps = index.tracks[t]
                .frame_rate
                .map_or(25.0, |(a, b)| f64::from(a) / f64::from(b.max(1)));
            Some(mpd::TrickPlay {
                representation: r,
                max_playout_rate: (seg_seconds * fps).round().max(1.0) as u32,
            })
        }
        None => None,
    };
    // The presentation ends where the video ends (segments are cut on the video timeline;
    // audio may run a frame longer), in Period time: media time less presentationTimeOffset.
    // Clients of NUMBER_WITH_DURATION count segments from it.
    let has_video = representations
        .iter()
        .any(|r| matches!(r.media, mpd::Media::Video(_)));
    let end = representations
        .iter()
        .filter(|r| !has_video || matches!(r.media, mpd::Media::Video(_)))
        .map(|r| {
            let last = r.timeline.last().map_or(0, |(t, d)| t + d);
            last.saturating_sub(r.presentation_time_offset) as f64 / f64::from(r.timescale.max(1))
        })
        .fold(0.0, f64::max);
    Ok(mpd::mpd(&mpd::Mpd {
        duration: Duration::from_secs_f64(end),
        representations,
        trick_play,
        options: mpd::DashOptions {
            segment_template_format: s.format,
            manifest_layout: layout,
            profile,
            min_buffer_time_seconds: s
                .manifest
                .map_or(DEFAULT_MIN_BUFFER_SECONDS, |m| m.min_buffer_time_seconds),
        },
    }))
}
