//! The DASH layout (`dashPackage`): a static MPD over CMAF tracks, one file per track. File
//! names are in [`super::output`]: Representations `v<k>` (video in manifest order), `a<k>`
//! (audio), `i0` (trick play: the first key frame of each segment of the first video
//! Representation, as one-frame fragments).
//!
//! `$Number$` counts the entries of a track's timeline from 1 and `$Time$` names an entry's
//! start; either maps back to the plan's segment index (a track may start late or end early,
//! so the two need not be equal). Defaults when the configuration is silent:
//! NUMBER_WITH_TIMELINE, FULL, profile NONE, `minBufferTime` 30 s (MediaPackage's console
//! default).

use std::time::Duration;

use crate::index::{Codec, TrackKind};
use crate::manifest::dash as mpd;
use crate::mux::clock::time_shift_us;
use crate::mux::fmp4::FragmentKind;

use super::chain::fmp4::{self as fmp4, Fmp4Style};
use super::chain::{self};
use super::output::{DashAddress, DashFile, DashRep, OutputFile};
use super::spec::{DEFAULT_MIN_BUFFER_SECONDS, DashManifestSpec, DashSpec, Format};
use super::{Need, PackageError, Plan, Presentation, Target, protect};

pub const MPD: &str = "application/dash+xml";

struct Settings<'a> {
    pkg: &'a DashSpec,
    manifest: Option<&'a DashManifestSpec>,
    style: Fmp4Style,
    format: mpd::SegmentTemplateFormat,
}

fn settings(p: &Presentation) -> Result<Settings<'_>, PackageError> {
    let Format::Dash(pkg) = &p.spec.format else {
        return Err(PackageError::not_found("not a DASH configuration"));
    };
    Ok(Settings {
        pkg,
        manifest: pkg.manifests.get(p.manifest),
        style: Fmp4Style {
            in_band: pkg.include_encoder_configuration_in_segments,
            timescale: None,
        },
        format: pkg.segment_template_format,
    })
}

/// The Representations: (id, track) in manifest order.
fn representations(p: &Presentation) -> Vec<(DashRep, usize)> {
    let st = p.streams();
    st.videos
        .iter()
        .enumerate()
        .map(|(k, t)| (DashRep::Video(k), *t))
        .chain(
            st.audios
                .iter()
                .enumerate()
                .map(|(k, t)| (DashRep::Audio(k), *t)),
        )
        .collect()
}

fn trick_track(p: &Presentation, s: &Settings) -> Option<usize> {
    if !s.pkg.include_iframe_only_stream {
        return None;
    }
    p.streams().videos.first().copied()
}

/// The track of Representation `rep`.
fn track_of(p: &Presentation, s: &Settings, rep: DashRep) -> Option<usize> {
    if rep == DashRep::Trick {
        return trick_track(p, s);
    }
    representations(p)
        .into_iter()
        .find(|(r, _)| *r == rep)
        .map(|(_, t)| t)
}

pub(super) fn files(p: &Presentation) -> Result<Vec<OutputFile>, PackageError> {
    let s = settings(p)?;
    let mut out = vec![DashFile::Mpd];
    let mut reps = representations(p);
    if let Some(t) = trick_track(p, &s) {
        reps.push((DashRep::Trick, t));
    }
    for (rep, t) in reps {
        out.push(DashFile::Init(rep));
        let (timeline, _) = fmp4::timeline(p, t, s.style)?;
        for (k, (_, start)) in timeline.iter().enumerate() {
            out.push(DashFile::Segment(
                rep,
                match s.format {
                    mpd::SegmentTemplateFormat::TimeWithTimeline => DashAddress::Time(*start),
                    _ => DashAddress::Number(k + 1),
                },
            ));
        }
    }
    Ok(out.into_iter().map(OutputFile::Dash).collect())
}

pub(super) fn plan(p: &Presentation, f: &DashFile) -> Result<Plan, PackageError> {
    let s = settings(p)?;
    let file = OutputFile::Dash(*f);
    let (rep, address) = match *f {
        DashFile::Mpd => return Ok(Plan::index(file, Target::Manifest(MPD))),
        DashFile::Init(rep) => {
            let track = track_of(p, &s, rep)
                .ok_or_else(|| PackageError::not_found("no such representation"))?;
            let target = Target::Init {
                track,
                style: s.style,
                content_type: None,
            };
            return Ok(Plan::index(file, target));
        }
        DashFile::Segment(rep, address) => (rep, address),
    };
    let track =
        track_of(p, &s, rep).ok_or_else(|| PackageError::not_found("no such representation"))?;
    let segment = match address {
        DashAddress::Time(time) => fmp4::timeline_entry_at(p, track, s.style, time),
        DashAddress::Number(k) => k
            .checked_sub(1)
            .and_then(|k| fmp4::timeline_entry(p, track, k)),
    }
    .ok_or_else(|| PackageError::not_found("no such segment"))?;
    let iframe = rep == DashRep::Trick;
    let range = fmp4::fragment_samples(p, track, segment, iframe)?;
    Ok(Plan {
        need: Need::Samples(vec![(track, range)]),
        file,
        target: Target::Fragment {
            track,
            segment,
            style: s.style,
            kind: FragmentKind::Cmaf,
            iframe,
        },
    })
}

pub(super) fn manifest(p: &Presentation) -> Result<String, PackageError> {
    let s = settings(p)?;
    let index = &p.index;
    let shift_us = time_shift_us(index);
    let layout = s
        .manifest
        .map_or_else(Default::default, |m| m.manifest_layout);
    let profile = s.manifest.map_or_else(Default::default, |m| m.profile);
    let urls = |rep: DashRep| {
        let id = if layout == mpd::ManifestLayout::Compact {
            "$RepresentationID$".to_string()
        } else {
            rep.id()
        };
        let n = &p.manifest_name;
        mpd::SegmentUrls {
            initialization: format!("{n}_{id}_init.mp4"),
            media_prefix: match s.format {
                mpd::SegmentTemplateFormat::TimeWithTimeline => format!("{n}_{id}_t"),
                _ => format!("{n}_{id}_"),
            },
            media_suffix: ".mp4".into(),
        }
    };
    let rep = |id: DashRep, t: usize| -> Result<mpd::Representation, PackageError> {
        let track = &index.tracks[t];
        let out = fmp4::track(p, t, s.style)?;
        let timescale = out.timescale();
        let (starts, end) = fmp4::timeline(p, t, s.style)?;
        let timeline = fmp4::durations(&starts, end);
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
                        let (acmod, lfeon) = crate::codec::ac3::ac3_config_layout(
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
            id: id.id(),
            bandwidth: u32::try_from(track.peak_bitrate).unwrap_or(u32::MAX),
            codecs: fmp4::codec_string(track, s.style),
            media,
            timescale,
            presentation_time_offset: (u128::from(shift_us) * u128::from(timescale) / 1_000_000)
                as u64,
            urls: urls(id),
            timeline,
            protection: protect::dash_protection(p, t),
        })
    };
    let representations = representations(p)
        .iter()
        .map(|(id, t)| rep(*id, *t))
        .collect::<Result<Vec<_>, _>>()?;
    if representations.is_empty() {
        return Err(PackageError::not_found(
            "the stream selection leaves nothing to play",
        ));
    }
    let trick_play = match trick_track(p, &s) {
        Some(t) => {
            let mut r = rep(DashRep::Trick, t)?;
            r.bandwidth = u32::try_from(chain::iframe_bitrate(p, 0..p.seg.count(), |k| {
                fmp4::key_fragment_bytes(p, t, k)
            }))
            .unwrap_or(u32::MAX);
            r.urls = urls(DashRep::Trick);
            let seg_seconds = (0..p.seg.count())
                .map(|k| p.seg.duration_seconds(k))
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
    Ok(mpd::mpd(&mpd::Mpd::single_period(
        Duration::from_secs_f64(end),
        representations,
        trick_play,
        mpd::DashOptions {
            segment_template_format: s.format,
            manifest_layout: layout,
            profile,
            min_buffer_time_seconds: s
                .manifest
                .map_or(DEFAULT_MIN_BUFFER_SECONDS, |m| m.min_buffer_time_seconds),
        },
    )))
}
