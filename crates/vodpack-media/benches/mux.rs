//! Micro-benchmarks of the egress hot path, through the packaging chain the server runs
//! (`vodpack_media::package`): one 6 s segment of the 720p rendition of the test media (H.264
//! high profile + AAC, MP4 source) as an MPEG-TS segment (`index_0_0.ts` of an HLS
//! configuration: plan → access-unit filter → TS writer, muxed a chunk at a time, its length
//! already known as on a repeat request), its size-only pass (the first request's exact
//! length), and as CMAF fragments (`index_v0_1.mp4`, `index_a0_1.mp4` of a DASH configuration:
//! plan → fMP4 filter → `moof` header, payloads as slices of the source), plus the per-request
//! set-up (`time_shift_us` + `Fmp4Track::new`). Throughput is in bytes of output. The
//! `_from_memory` variant reads its source from a different copy each time, so the source
//! bytes come from memory rather than the CPU's caches, as on a server.
//!
//!   cargo bench -p vodpack-media --bench mux
//!
//! The media comes from `scripts/make-test-media.sh` (cached; generated on first use).

use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vodpack_media::index::{MediaIndex, SourceKind, TrackKind};
use vodpack_media::mux::clock::time_shift_us;
use vodpack_media::mux::fmp4::{Fmp4Options, Fmp4Track};
use vodpack_media::package::chain::ts::TsSegment;
use vodpack_media::package::keys::{ContentKey, KeySet, KeyUse};
use vodpack_media::package::output::{HlsFile, OutputFile, Rendition};
use vodpack_media::package::spec::{
    CmafSpec, DashSpec, EncryptionSpec, Format, HlsMethod, HlsSpec, SegmentTemplateFormat,
    SpekeSpec,
};
use vodpack_media::package::{self, Input, Need, PackageSpec, Presentation, SourceBytes};
use vodpack_media::plan::Segmentation;

#[path = "../tests/common/mod.rs"]
mod common;

fn media_file(name: &str) -> Vec<u8> {
    std::fs::read(common::media_dir().join(name)).expect("test media")
}

fn mp4_index(data: &[u8]) -> MediaIndex {
    MediaIndex {
        source: SourceKind::Mp4,
        objects: vec!["ladder_720p.mp4".into()],
        versions: Vec::new(),
        tracks: common::mp4_tracks(data),
        warnings: Vec::new(),
    }
}

fn presentation(index: &Arc<MediaIndex>, format: Format) -> Presentation {
    let spec = PackageSpec {
        segment_seconds: 6,
        encryption: None,
        format,
    };
    Presentation {
        seg: Arc::new(Segmentation::new(index, 6).expect("segments")),
        index: index.clone(),
        spec: Arc::new(spec),
        manifest: 0,
        manifest_name: "index".into(),
        created_at_ms: None,
        keys: None,
    }
}

/// The whole source file as the bytes read for any of its samples.
fn source(data: &Bytes) -> SourceBytes {
    SourceBytes::new(vec![vec![(0, data.clone())]])
}

/// A media file through the chain, as the server makes it (`known_len`: the TS length cache).
fn make(p: &Presentation, name: &str, data: &Bytes, known_len: Option<u64>) -> Vec<Bytes> {
    let file = p.file(name).unwrap();
    let plan = package::plan(p, &file).unwrap();
    match &plan.need {
        Need::Ts(cut) => {
            let mut seg = TsSegment::new(p, cut, source(data), known_len).unwrap();
            let mut out = Vec::new();
            while let Some(chunk) = seg.next_chunk() {
                out.push(chunk.unwrap());
            }
            out
        }
        Need::Samples(_) => {
            package::make(p, &plan, Input::Samples(&source(data)))
                .unwrap()
                .body
        }
        _ => unreachable!("a media file"),
    }
}

fn len(parts: &[Bytes]) -> u64 {
    parts.iter().map(|b| b.len() as u64).sum()
}

fn benches(c: &mut Criterion) {
    let raw = media_file("ladder/ladder_720p.mp4");
    let index = Arc::new(mp4_index(&raw));
    let data = Bytes::from(raw);
    let video = index
        .tracks
        .iter()
        .position(|t| t.codec.kind() == TrackKind::Video)
        .unwrap();
    let hls = presentation(
        &index,
        Format::Hls(HlsSpec {
            manifests: Vec::new(),
            use_audio_rendition_group: false,
            include_dvb_subtitles: false,
        }),
    );
    let dash = presentation(
        &index,
        Format::Dash(DashSpec {
            manifests: Vec::new(),
            include_encoder_configuration_in_segments: false,
            include_iframe_only_stream: false,
            period_on_ads: false,
            segment_template_format: SegmentTemplateFormat::NumberWithTimeline,
        }),
    );

    let mut g = c.benchmark_group("egress");
    g.sample_size(30);
    g.warm_up_time(std::time::Duration::from_millis(500));
    g.measurement_time(std::time::Duration::from_secs(2));

    let ts = "index_0_0.ts";
    let ts_len = len(&make(&hls, ts, &data, None));
    g.throughput(Throughput::Bytes(ts_len));
    g.bench_function("ts_segment_720p_aac_6s", |b| {
        b.iter(|| make(&hls, std::hint::black_box(ts), &data, Some(ts_len)))
    });
    // The first request of a segment: its exact length, filtering every unit without muxing.
    g.bench_function("ts_segment_length_720p_aac_6s", |b| {
        b.iter(|| {
            let file = hls.file(std::hint::black_box(ts)).unwrap();
            let plan = package::plan(&hls, &file).unwrap();
            let Need::Ts(cut) = &plan.need else {
                unreachable!()
            };
            TsSegment::new(&hls, cut, source(&data), None).unwrap().len
        })
    });

    // The same segment from one of 64 copies of the source in turn (160 MB, far more than the
    // CPU's caches): what a warm origin pays, its source pages coming from memory.
    let copies: Vec<Bytes> = (0..64).map(|_| Bytes::from(data.to_vec())).collect();
    let mut turn = 0usize;
    g.bench_function("ts_segment_720p_aac_6s_from_memory", |b| {
        b.iter(|| {
            turn = (turn + 1) % copies.len();
            make(&hls, std::hint::black_box(ts), &copies[turn], Some(ts_len))
        })
    });

    for (name, file) in [
        ("fmp4_fragment_720p_6s", "index_v0_1.mp4"),
        ("fmp4_fragment_aac_6s", "index_a0_1.mp4"),
    ] {
        g.throughput(Throughput::Bytes(len(&make(&dash, file, &data, None))));
        g.bench_function(name, |b| {
            b.iter(|| make(&dash, std::hint::black_box(file), &data, None))
        });
    }

    // The same video fragment encrypted (one fixed key): DASH `cenc` (AES-CTR of every
    // slice's body) and CMAF `cbcs` (1:9 pattern): the cost of the encryption stage.
    let key = Arc::new(KeySet {
        keys: vec![(
            KeyUse::all(),
            ContentKey {
                kid: [0x11; 16],
                key: [0x22; 16],
                explicit_iv: None,
            },
        )],
        systems: Vec::new(),
    });
    let cmaf = Format::Cmaf(CmafSpec {
        manifests: Vec::new(),
        include_encoder_configuration_in_segments: false,
    });
    // CMAF's name of the same first video segment.
    let cmaf_first =
        OutputFile::Hls(HlsFile::Segment(Rendition::Variant(0), 0)).name(&cmaf, "index");
    for (name, format, file) in [
        (
            "fmp4_fragment_720p_6s_cenc",
            dash.spec.format.clone(),
            "index_v0_1.mp4",
        ),
        (
            "fmp4_fragment_720p_6s_cbcs",
            cmaf.clone(),
            cmaf_first.as_str(),
        ),
    ] {
        let mut p = presentation(&index, format);
        p.spec = Arc::new(PackageSpec {
            encryption: Some(EncryptionSpec {
                speke: SpekeSpec {
                    url: String::new(),
                    role_arn: String::new(),
                    system_ids: Vec::new(),
                    presets: None,
                },
                hls_method: HlsMethod::Aes128,
                constant_iv: None,
            }),
            ..(*p.spec).clone()
        });
        p.keys = Some(key.clone());
        g.throughput(Throughput::Bytes(len(&make(&p, file, &data, None))));
        g.bench_function(name, |b| {
            b.iter(|| make(&p, std::hint::black_box(file), &data, None))
        });
    }

    g.throughput(Throughput::Elements(1));
    g.bench_function("fmp4_track_setup", |b| {
        b.iter(|| {
            Fmp4Track::new(
                &index.tracks[std::hint::black_box(video)],
                Fmp4Options {
                    shift_us: time_shift_us(&index),
                    ..Default::default()
                },
            )
            .unwrap()
            .timescale()
        })
    });
    g.finish();
}

criterion_group!(egress, benches);
criterion_main!(egress);
