//! The packaging chain on whatever a (possibly damaged) stored index says: segment planning,
//! every layout (HLS-TS, CMAF, DASH, Smooth), the MPEG-TS and fMP4 writers with their sample
//! filters and size-only pass, and the WebVTT writer never panic, whatever the track
//! parameters, timestamps or sample bytes (taken from the input itself). It runs the same
//! `vodpack_media::package` calls as the server, with the input as every object's bytes.
#![no_main]
use std::sync::Arc;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use vodpack_media::index;
use vodpack_media::package::chain::source_bytes::{TO_END, spans};
use vodpack_media::package::chain::ts::TsSegment;
use vodpack_media::package::spec::{
    CmafSpec, DashSpec, Format, HlsSpec, MssSpec, SegmentTemplateFormat,
};
use vodpack_media::package::{self, Input, Need, PackageSpec, Presentation, SourceBytes};
use vodpack_media::plan::Segmentation;

/// Files made per presentation (the first ones listed: manifests, then early segments).
const FILES: usize = 40;
/// Longest span of source bytes given to the chain.
const SPAN: u64 = 1 << 20;

/// Source bytes for `ranges`: each span the chain asks for, filled from the input cyclically.
fn bytes_for(idx: &index::MediaIndex, data: &[u8], ranges: &[(usize, std::ops::Range<usize>)]) -> Option<SourceBytes> {
    let wanted = spans(idx, ranges).ok()?;
    let mut buffers = Vec::with_capacity(wanted.len());
    for spans in wanted {
        let mut runs = Vec::new();
        for (start, end) in spans {
            let end = if end == TO_END { start.saturating_add(4096) } else { end };
            let len = end.checked_sub(start)?;
            if len > SPAN {
                return None;
            }
            let buf: Vec<u8> = (0..len as usize)
                .map(|k| data.get((start as usize).wrapping_add(k) % data.len().max(1)).copied().unwrap_or(0))
                .collect();
            runs.push((start, Bytes::from(buf)));
        }
        buffers.push(runs);
    }
    Some(SourceBytes::new(buffers))
}

fuzz_target!(|data: &[u8]| {
    let Ok(idx) = index::decode(data) else {
        return;
    };
    if idx.tracks.iter().any(|t| t.samples.len() > 20_000) {
        return;
    }
    let idx = Arc::new(idx);
    let formats = [
        Format::Hls(HlsSpec { manifests: Vec::new(), use_audio_rendition_group: data.len() % 2 == 0, include_dvb_subtitles: false }),
        Format::Cmaf(CmafSpec { manifests: Vec::new(), include_encoder_configuration_in_segments: data.len() % 3 == 0 }),
        Format::Dash(DashSpec {
            manifests: Vec::new(),
            include_encoder_configuration_in_segments: false,
            include_iframe_only_stream: true,
            period_on_ads: false,
            segment_template_format: SegmentTemplateFormat::TimeWithTimeline,
        }),
        Format::Mss(MssSpec { manifests: Vec::new() }),
    ];
    for seconds in [1u32, 6] {
        let Some(seg) = Segmentation::new(&idx, seconds) else {
            continue;
        };
        let seg = Arc::new(seg);
        for format in &formats {
            let p = Presentation {
                index: idx.clone(),
                seg: seg.clone(),
                spec: Arc::new(PackageSpec { segment_seconds: seconds, encryption: None, format: format.clone() }),
                manifest: 0,
                manifest_name: "m".into(),
                created_at_ms: Some(0),
                keys: None,
            };
            let Ok(files) = package::files(&p) else {
                continue;
            };
            for file in files.iter().take(FILES) {
                // Names round-trip.
                assert_eq!(p.file(&p.name(file)).as_ref(), Ok(file));
                let Ok(plan) = package::plan(&p, file) else {
                    continue;
                };
                match &plan.need {
                    Need::Index => {
                        let _ = package::make(&p, &plan, Input::Index);
                    }
                    Need::Samples(ranges) => {
                        if let Some(bytes) = bytes_for(&idx, data, ranges) {
                            let _ = package::make(&p, &plan, Input::Samples(&bytes));
                        }
                    }
                    Need::Ts(cut) => {
                        let Ok(ranges) = cut.ranges(&p) else { continue };
                        if let Some(bytes) = bytes_for(&idx, data, &ranges)
                            && let Ok(mut ts) = TsSegment::new(&p, cut, bytes, None)
                        {
                            while let Some(Ok(_)) = ts.next_chunk() {}
                        }
                    }
                    Need::TsLengths(cuts) => {
                        let lengths = vec![0; cuts.len()];
                        let _ = package::make(&p, &plan, Input::TsLengths(&lengths));
                    }
                }
            }
        }
    }
});
