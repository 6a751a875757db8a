//! `vodpack inspect SOURCE`: runs the ingest path on a source without a server and prints what
//! it finds — tracks, codecs, durations, bitrates, GOP statistics, the segments egress serves
//! for a segment duration (egress's own `Segmentation`), and every warning or the error ingest
//! would raise.

use std::path::{Component, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::json;
use vodpack_media::index::{MediaIndex, TrackKind};
use vodpack_media::plan::{self, Segmentation};
use vodpack_service::StorageChoice;
use vodpack_service::ingest::source::index_source_with_progress;
use vodpack_service::storage::local::LocalStorage;
use vodpack_service::storage::s3::S3Storage;
use vodpack_service::storage::{ObjectRef, Storage};

use crate::{LimitArgs, StorageArgs};

#[derive(Args)]
pub struct InspectArgs {
    /// A local file (MP4, SMIL or HLS playlist), `s3://bucket/key`, or an asset's
    /// `arn:aws:s3:::bucket/key` (resolved like the server does: local buckets under the data
    /// directory, or S3 when configured).
    source: String,
    /// Segment duration to plan boundaries for, in seconds: a configuration's
    /// `segmentDurationSeconds` (egress cuts the same segments).
    #[arg(long, default_value_t = 6)]
    segment_duration: u32,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Also write the encoded index (the bytes stored with an asset) to this file.
    #[arg(long)]
    write_index: Option<PathBuf>,
    /// Region S3 requests are signed for, unless --s3-region is given.
    #[arg(long, env = "VODPACK_REGION", default_value = "us-east-1")]
    region: String,
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Storage and object of a source given on the command line: an asset's own
/// `arn:aws:s3:::BUCKET/KEY` (read through the same storage settings as `serve`: the local
/// buckets under the data directory unless S3 is configured), `s3://BUCKET/KEY` (always S3), or
/// a local file (the first folder below `/` plays the bucket).
pub fn open_source(
    source: &str,
    storage: &StorageArgs,
    region: &str,
) -> anyhow::Result<(Box<dyn Storage>, ObjectRef)> {
    if source.starts_with("arn:") {
        let obj = vodpack_service::ingest::source_object(source).map_err(anyhow::Error::msg)?;
        return match storage.choice(region)? {
            StorageChoice::S3(settings) => {
                Ok((Box::new(S3Storage::new(settings, Default::default())), obj))
            }
            StorageChoice::Local => {
                let root = storage.data_dir()?.join("buckets");
                let file = root.join(&obj.bucket).join(&obj.key);
                if !file.is_file() {
                    bail!(
                        "{source} is the local file {}, which does not exist (local buckets are \
                         folders of <data dir>/buckets: set --data-dir / VODPACK_DATA_DIR, or \
                         VODPACK_S3_ENDPOINT / VODPACK_STORAGE=s3 for S3)",
                        file.display()
                    );
                }
                let local = LocalStorage::new(&root)
                    .with_context(|| format!("cannot open {}", root.display()))?;
                Ok((Box::new(local), obj))
            }
        };
    }
    if let Some(rest) = source.strip_prefix("s3://") {
        let (bucket, key) = rest.split_once('/').context("expected s3://BUCKET/KEY")?;
        return Ok((
            Box::new(S3Storage::new(
                storage.s3_settings(region)?,
                Default::default(),
            )),
            ObjectRef::new(bucket, key)?,
        ));
    }
    // A local path: the first directory below / plays the bucket, the rest is the key.
    let path = std::fs::canonicalize(source).with_context(|| format!("cannot open {source}"))?;
    let parts: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().to_string()),
            _ => None,
        })
        .collect();
    if parts.len() < 2 {
        bail!("{} is too close to the root to inspect", path.display());
    }
    let storage = LocalStorage::new(&PathBuf::from("/"))?;
    Ok((
        Box::new(storage),
        ObjectRef::new(&parts[0], &parts[1..].join("/"))?,
    ))
}

/// The segments egress serves for a configuration with `segmentDurationSeconds` = `seconds`:
/// the same [`Segmentation`] egress computes (never a second segmenter, so what inspect prints
/// is what is served), with its nominal duration for display.
fn segment_plan(index: &MediaIndex, seconds: u32) -> Option<(Segmentation, plan::Nominal)> {
    Some((
        Segmentation::new(index, seconds)?,
        Segmentation::nominal(index, seconds)?,
    ))
}

fn to_json(index: &MediaIndex, segment: u32) -> serde_json::Value {
    let tracks: Vec<_> = index
        .tracks
        .iter()
        .map(|t| {
            let gop = plan::gop_stats(t);
            json!({
                "kind": format!("{:?}", t.codec.kind()).to_lowercase(),
                "codec": t.codec.name(),
                "codecString": t.codec_string,
                "stream": t.stream,
                "object": index.objects.get(t.samples.object.first().copied().unwrap_or(0) as usize),
                "language": t.language,
                "name": t.name,
                "width": (t.width > 0).then_some(t.width),
                "height": (t.height > 0).then_some(t.height),
                "frameRate": t.frame_rate.map(|(n, d)| f64::from(n) / f64::from(d.max(1))),
                "channels": (t.channels > 0).then_some(t.channels),
                "sampleRate": (t.sample_rate > 0).then_some(t.sample_rate),
                "timescale": t.timescale,
                "samples": t.samples.len(),
                "startSeconds": (0..t.samples.len()).map(|i| t.pts(i)).min().unwrap_or(0) as f64
                    / f64::from(t.timescale.max(1)),
                "durationSeconds": t.duration_seconds(),
                "averageBitrate": t.avg_bitrate,
                "peakBitrate": t.peak_bitrate,
                "keyframes": t.samples.keyframe.iter().filter(|k| **k).count(),
                "gop": gop.map(|g| json!({
                    "count": g.count, "minSeconds": g.min_seconds,
                    "maxSeconds": g.max_seconds, "medianSeconds": g.median_seconds,
                })),
            })
        })
        .collect();
    let segments = segment_plan(index, segment).map(|(seg, nominal)| {
        json!({
            "requestedSeconds": segment,
            "gopSeconds": nominal.gop_seconds,
            "segmentSeconds": nominal.segment_seconds,
            "count": seg.count(),
            "starts": (0..seg.count()).map(|i| seg.start_seconds(i)).collect::<Vec<_>>(),
            "durations": (0..seg.count()).map(|i| seg.duration_seconds(i)).collect::<Vec<_>>(),
            // Exact, in the ticks of the track segments are cut on.
            "timescale": seg.timescale,
            "startTicks": seg.starts,
            "endTicks": seg.end,
        })
    });
    json!({
        "source": format!("{:?}", index.source),
        "durationSeconds": index.duration_seconds(),
        "sampleCount": index.sample_count(),
        "indexBytes": vodpack_media::index::encode(index).len(),
        "objects": index.objects,
        "tracks": tracks,
        "segments": segments,
        "warnings": index.warnings,
    })
}

fn print_text(index: &MediaIndex, segment: u32) {
    println!(
        "source: {:?}, {:.3} s, {} track(s), {} sample(s)",
        index.source,
        index.duration_seconds(),
        index.tracks.len(),
        index.sample_count()
    );
    for (i, t) in index.tracks.iter().enumerate() {
        let what = match t.codec.kind() {
            TrackKind::Video => format!(
                "{}x{} @ {}",
                t.width,
                t.height,
                t.frame_rate
                    .map(|(n, d)| format!("{:.3} fps", f64::from(n) / f64::from(d.max(1))))
                    .unwrap_or_else(|| "? fps".into())
            ),
            TrackKind::Audio => format!("{} ch, {} Hz", t.channels, t.sample_rate),
            TrackKind::Subtitle => "text".to_string(),
        };
        println!(
            "  #{i} {:?} {} ({}) {what}; lang {}{}; {:.3} s, {} samples; {} kb/s avg, {} kb/s peak",
            t.codec.kind(),
            t.codec.name(),
            t.codec_string,
            t.language.as_deref().unwrap_or("-"),
            t.name
                .as_deref()
                .map(|n| format!(", \"{n}\""))
                .unwrap_or_default(),
            t.duration_seconds(),
            t.samples.len(),
            t.avg_bitrate / 1000,
            t.peak_bitrate / 1000
        );
        println!(
            "     from {}",
            index
                .objects
                .get(t.samples.object.first().copied().unwrap_or(0) as usize)
                .map_or("?", |s| s.as_str())
        );
        if let Some(g) = plan::gop_stats(t).filter(|_| t.codec.kind() == TrackKind::Video) {
            println!(
                "     GOPs: {} (min {:.3} s, median {:.3} s, max {:.3} s)",
                g.count, g.min_seconds, g.median_seconds, g.max_seconds
            );
        }
    }
    if let Some((seg, nominal)) = segment_plan(index, segment) {
        println!(
            "segments for {segment} s: {} of {:.3} s (GOP {:.3} s); starts: {}",
            seg.count(),
            nominal.segment_seconds,
            nominal.gop_seconds,
            (0..seg.count())
                .map(|i| format!("{:.3}", seg.start_seconds(i)))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    if index.warnings.is_empty() {
        println!("warnings: none");
    }
    for w in &index.warnings {
        println!("warning: {w}");
    }
}

pub async fn run(args: InspectArgs) -> anyhow::Result<()> {
    crate::init_logging("text");
    let (storage, obj) = open_source(&args.source, &args.storage, &args.region)?;
    let limits = args.limits.limits();
    // A spinner with the bytes scanned, shown once scanning takes more than a moment (HLS-TS
    // sources are read whole); nothing when stderr is not a terminal.
    let started = std::time::Instant::now();
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} scanning {msg} ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let mut progress = |bytes: u64| {
        if started.elapsed() > std::time::Duration::from_millis(500) {
            bar.set_message(format!("{} MB of TS", bytes / 1_000_000));
            bar.tick();
        }
    };
    let result = index_source_with_progress(storage.as_ref(), &obj, &limits, &mut progress).await;
    bar.finish_and_clear();
    match result {
        Ok(index) => {
            if let Some(path) = &args.write_index {
                std::fs::write(path, vodpack_media::index::encode(&index))
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&to_json(&index, args.segment_duration))?
                );
            } else {
                print_text(&index, args.segment_duration);
            }
            Ok(())
        }
        Err(e) => {
            if args.json {
                println!("{}", json!({ "error": e.to_string() }));
            }
            bail!("ingest would fail: {e}")
        }
    }
}
