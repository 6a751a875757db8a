//! HLS with MPEG-TS segments for `hlsPackage` configurations.
//!
//! Files under a manifest's folder: `<name>.m3u8` (multivariant playlist), `<name>_<v>.m3u8`
//! (media playlist of variant `v`), `<name>_<v>_<s>.ts` (segment `s` of variant `v`), and with
//! `useAudioRenditionGroup` `<name>_a<k>.m3u8` / `<name>_a<k>_<s>.ts` for audio rendition `k`.
//! A variant is one video rendition (after the manifest's `streamSelection`: video bitrate
//! bounds and order) with the asset's first audio track muxed in, or alone when audio is in a
//! rendition group (every audio track, each its own EXT-X-MEDIA); audio-only assets get one
//! variant per audio track.

use std::collections::HashMap;
use std::ops::Range;

use axum::response::Response;
use bytes::Bytes;
use vodpack_media::index::{MediaIndex, TrackKind};
use vodpack_media::manifest::hls as m3u8;
use vodpack_media::mux::access_unit::TsPrep;
use vodpack_media::mux::ts::TsWriter;
use vodpack_media::mux::{TS_TIME_OFFSET, to_90k};

use super::{EgressError, Target, not_found, ok};
use crate::api::AppState;
use crate::model::{HlsManifest, HlsPackage, StreamOrder};
use crate::storage::ObjectRef;
use axum::http::StatusCode;

/// Segment duration when the configuration does not set one.
pub const DEFAULT_SEGMENT_SECONDS: u32 = 6;

const PLAYLIST: &str = "application/vnd.apple.mpegurl";
const MANIFEST_CACHE: &str = "public, max-age=300";
const SEGMENT_CACHE: &str = "public, max-age=31536000, immutable";

/// What a manifest lists: the tracks muxed into each variant's TS, and the audio-only
/// renditions when audio is in a rendition group.
struct Layout {
    variants: Vec<Vec<usize>>,
    audio: Vec<usize>,
}

/// Applies `streamSelection` (video bitrate bounds, order) and `useAudioRenditionGroup`.
fn layout(index: &MediaIndex, pkg: &HlsPackage, manifest: Option<&HlsManifest>) -> Layout {
    let kind = |k: TrackKind| -> Vec<usize> {
        (0..index.tracks.len())
            .filter(|i| index.tracks[*i].codec.kind() == k)
            .collect()
    };
    let mut videos = kind(TrackKind::Video);
    let audios = kind(TrackKind::Audio);
    if let Some(sel) = manifest.and_then(|m| m.stream_selection.as_ref()) {
        let rate = |i: &usize| index.tracks[*i].avg_bitrate;
        let min = sel.min_video_bits_per_second.map_or(0, |v| v.max(0) as u64);
        let max = sel
            .max_video_bits_per_second
            .map_or(u64::MAX, |v| v.max(0) as u64);
        videos.retain(|i| (min..=max).contains(&rate(i)));
        match sel.stream_order {
            Some(StreamOrder::VideoBitrateAscending) => videos.sort_by_key(rate),
            Some(StreamOrder::VideoBitrateDescending) => {
                videos.sort_by_key(|i| std::cmp::Reverse(rate(i)))
            }
            _ => {}
        }
    }
    if videos.is_empty() && manifest.and_then(|m| m.stream_selection.as_ref()).is_none() {
        return Layout {
            variants: audios.iter().map(|a| vec![*a]).collect(),
            audio: Vec::new(),
        };
    }
    if pkg.use_audio_rendition_group == Some(true) {
        return Layout {
            variants: videos.iter().map(|v| vec![*v]).collect(),
            audio: audios,
        };
    }
    Layout {
        variants: videos
            .iter()
            .map(|v| audios.first().map_or(vec![*v], |a| vec![*v, *a]))
            .collect(),
        audio: Vec::new(),
    }
}

fn unavailable(e: impl std::fmt::Display) -> EgressError {
    EgressError(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("cannot read the source: {e}"),
    )
}

/// The multivariant playlist.
fn master(index: &MediaIndex, name: &str, l: &Layout) -> String {
    const GROUP: &str = "audio";
    let group_audio = l.audio.first().map(|a| &index.tracks[*a]);
    let list: Vec<m3u8::Variant> = l
        .variants
        .iter()
        .enumerate()
        .map(|(v, tracks)| {
            let video = tracks
                .iter()
                .map(|t| &index.tracks[*t])
                .find(|t| t.codec.kind() == TrackKind::Video);
            let mut codecs: Vec<String> = tracks
                .iter()
                .map(|t| index.tracks[*t].codec_string.clone())
                .collect();
            let mut bandwidth: u64 = tracks.iter().map(|t| index.tracks[*t].peak_bitrate).sum();
            let mut average: u64 = tracks.iter().map(|t| index.tracks[*t].avg_bitrate).sum();
            if let Some(a) = group_audio {
                codecs.push(a.codec_string.clone());
                bandwidth += l
                    .audio
                    .iter()
                    .map(|a| index.tracks[*a].peak_bitrate)
                    .max()
                    .unwrap_or(0);
                average += a.avg_bitrate;
            }
            m3u8::Variant {
                uri: format!("{name}_{v}.m3u8"),
                bandwidth,
                average_bandwidth: average,
                codecs,
                resolution: video.map(|t| (t.width, t.height)),
                frame_rate: video
                    .and_then(|t| t.frame_rate)
                    .map(|(n, d)| f64::from(n) / f64::from(d.max(1))),
                audio_group: group_audio.map(|_| GROUP.to_string()),
            }
        })
        .collect();
    let audio: Vec<m3u8::AudioRendition> = l
        .audio
        .iter()
        .enumerate()
        .map(|(k, a)| {
            let t = &index.tracks[*a];
            m3u8::AudioRendition {
                group: GROUP.into(),
                name: t
                    .name
                    .clone()
                    .or_else(|| t.language.clone())
                    .unwrap_or_else(|| format!("Audio {}", k + 1)),
                language: t.language.clone(),
                default: k == 0,
                uri: format!("{name}_a{k}.m3u8"),
            }
        })
        .collect();
    m3u8::master(&list, &audio)
}

pub async fn serve(
    state: &AppState,
    target: &Target,
    pkg: &HlsPackage,
    index: &MediaIndex,
    file: &str,
) -> Result<Response, EgressError> {
    let name = &target.manifest_name;
    let manifest = pkg
        .hls_manifests
        .as_ref()
        .and_then(|m| m.get(target.manifest));
    let l = layout(index, pkg, manifest);
    let seconds = pkg
        .segment_duration_seconds
        .map_or(DEFAULT_SEGMENT_SECONDS, |d| d.max(1) as u32);
    let seg = state
        .egress
        .segmentation(&target.asset.egress_id, seconds, index)
        .await
        .ok_or_else(|| not_found("the asset has no segments"))?;

    if file == format!("{name}.m3u8") {
        return Ok(ok(PLAYLIST, MANIFEST_CACHE, master(index, name, &l)));
    }
    let rest = file
        .strip_prefix(name.as_str())
        .and_then(|r| r.strip_prefix('_'))
        .ok_or_else(|| not_found("no such file"))?;
    // `<v>` names a variant, `a<k>` an audio rendition.
    let pick = |id: &str| -> Option<(String, Vec<usize>)> {
        match id.strip_prefix('a') {
            Some(k) => l
                .audio
                .get(k.parse::<usize>().ok()?)
                .map(|a| (id.to_string(), vec![*a])),
            None => l
                .variants
                .get(id.parse::<usize>().ok()?)
                .map(|t| (id.to_string(), t.clone())),
        }
    };
    if let Some(id) = rest.strip_suffix(".m3u8") {
        let (id, _) = pick(id).ok_or_else(|| not_found("no such playlist"))?;
        let segments: Vec<(f64, String)> = (0..seg.count())
            .map(|s| (seg.duration_seconds(s), format!("{name}_{id}_{s}.ts")))
            .collect();
        // EXT-X-PROGRAM-DATE-TIME from the ingest (submission) time of the asset.
        let dates = manifest
            .and_then(|m| m.program_date_time_interval_seconds)
            .filter(|i| *i > 0)
            .and_then(|interval| {
                let start = chrono::DateTime::parse_from_rfc3339(&target.asset.created_at).ok()?;
                Some(m3u8::DateTimes {
                    start_ms: start.timestamp_millis(),
                    interval_seconds: interval as u32,
                })
            });
        return Ok(ok(
            PLAYLIST,
            MANIFEST_CACHE,
            m3u8::media_with_dates(&segments, dates),
        ));
    }
    let (id, s) = rest
        .strip_suffix(".ts")
        .and_then(|r| r.rsplit_once('_'))
        .and_then(|(v, s)| Some((v, s.parse::<usize>().ok()?)))
        .ok_or_else(|| not_found("no such file"))?;
    let (_, tracks) = pick(id).ok_or_else(|| not_found("no such rendition"))?;
    if s >= seg.count() {
        return Err(not_found("no such segment"));
    }
    let ranges: Vec<(usize, Range<usize>)> = tracks
        .iter()
        .map(|t| (*t, seg.samples(&index.tracks[*t], s)))
        .collect();
    let body = segment(state, target, index, &ranges).await?;
    Ok(ok("video/MP2T", SEGMENT_CACHE, body))
}

/// Reads the samples of a segment (one ranged read per object) and writes the TS.
async fn segment(
    state: &AppState,
    target: &Target,
    index: &MediaIndex,
    ranges: &[(usize, Range<usize>)],
) -> Result<Vec<u8>, EgressError> {
    let source = crate::ingest::source_object(&target.asset.source_arn).map_err(unavailable)?;
    // The byte span each object must supply.
    let mut spans: HashMap<u32, (u64, u64)> = HashMap::new();
    for (t, r) in ranges {
        let track = &index.tracks[*t];
        for i in r.clone() {
            let o = track.samples.object[i];
            let start = track.samples.offset[i];
            let end = start + u64::from(track.samples.size[i]);
            let e = spans.entry(o).or_insert((start, end));
            e.0 = e.0.min(start);
            e.1 = e.1.max(if track.ts_pid == 0 { end } else { u64::MAX });
        }
    }
    let mut buffers: HashMap<u32, (u64, Bytes)> = HashMap::new();
    for (o, (start, end)) in spans {
        let key = index
            .objects
            .get(o as usize)
            .ok_or_else(|| unavailable("index names no such object"))?;
        let obj = ObjectRef::new(&source.bucket, key).map_err(unavailable)?;
        let end = if end == u64::MAX {
            state
                .egress_storage()
                .size(&obj)
                .await
                .map_err(unavailable)?
        } else {
            end
        };
        let bytes = state
            .egress_storage()
            .read(&obj, start..end)
            .await
            .map_err(unavailable)?;
        buffers.insert(o, (start, bytes));
    }
    let codecs: Vec<_> = ranges.iter().map(|(t, _)| index.tracks[*t].codec).collect();
    let mut w = TsWriter::new(&codecs).map_err(unavailable)?;
    w.write_tables();
    let mut order: Vec<(i64, usize, usize)> = Vec::new();
    for (k, (t, r)) in ranges.iter().enumerate() {
        let track = &index.tracks[*t];
        for i in r.clone() {
            order.push((
                to_90k(
                    track.samples.dts[i] + track.presentation_offset,
                    track.timescale,
                ),
                k,
                i,
            ));
        }
    }
    order.sort_unstable();
    let preps = ranges
        .iter()
        .map(|(t, _)| TsPrep::new(&index.tracks[*t]))
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)?;
    for (dts90, k, i) in order {
        let track = &index.tracks[ranges[k].0];
        let o = track.samples.object[i];
        let (base, buf) = buffers.get(&o).ok_or_else(|| unavailable("missing read"))?;
        let off = track.samples.offset[i];
        let size = track.samples.size[i];
        let owned;
        let bytes: &[u8] = if track.ts_pid == 0 {
            let from = (off - base) as usize;
            buf.get(from..from + size as usize)
                .ok_or_else(|| unavailable("short read"))?
        } else {
            owned = vodpack_media::ts::read_sample(
                buf,
                *base,
                track.ts_pid,
                off,
                track.samples.skip[i],
                size,
            )
            .ok_or_else(|| unavailable("TS sample runs past its segment"))?;
            &owned
        };
        let key = track.samples.keyframe[i];
        let unit = preps[k].unit(bytes, key).map_err(unavailable)?;
        let pts = to_90k(track.pts(i), track.timescale) + TS_TIME_OFFSET;
        w.write_pes(k, pts, dts90 + TS_TIME_OFFSET, key, &unit)
            .map_err(unavailable)?;
    }
    Ok(w.out)
}
