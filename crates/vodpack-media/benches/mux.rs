//! Micro-benchmarks of the egress hot path: one 6 s segment of the 720p rendition of the test
//! media (H.264 high profile + AAC, MP4 source), muxed as MPEG-TS (access-unit filter + TS
//! writer, what `/…/index_2_0.ts` costs without I/O) and as a CMAF fragment (sample filter +
//! `moof`/`mdat` writer, what a DASH or CMAF segment costs), plus the per-request set-up
//! (`time_shift_us` + `Fmp4Track::new`). Throughput is in bytes of output. The
//! `_from_memory` variant reads its source from a different copy each time, so the source
//! bytes come from memory rather than the CPU's caches, as on a server.
//!
//!   cargo bench -p vodpack-media --bench mux
//!
//! The media comes from `scripts/make-test-media.sh` (cached; generated on first use).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vodpack_media::index::{MediaIndex, SourceKind, Track, TrackKind};
use vodpack_media::mux::access_unit::TsPrep;
use vodpack_media::mux::clock::time_shift_us;
use vodpack_media::mux::clock::{TS_TIME_OFFSET, to_90k};
use vodpack_media::mux::fmp4::{Fmp4Options, Fmp4Track, FragmentKind};
use vodpack_media::mux::ts::TsWriter;
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

fn sample<'a>(data: &'a [u8], t: &Track, i: usize) -> &'a [u8] {
    let off = t.samples.offset[i] as usize;
    &data[off..off + t.samples.size[i] as usize]
}

/// One TS segment of `tracks`, as `egress::segments::ts_segment` muxes it.
fn ts_segment(index: &MediaIndex, seg: &Segmentation, data: &[u8], s: usize) -> Vec<u8> {
    let tracks: Vec<&Track> = index.tracks.iter().collect();
    let ranges: Vec<_> = tracks.iter().map(|t| seg.samples(t, s)).collect();
    let codecs: Vec<_> = tracks.iter().map(|t| t.codec).collect();
    let mut w = TsWriter::new(&codecs).unwrap();
    w.write_tables();
    let mut order = Vec::new();
    for (k, (t, r)) in tracks.iter().zip(&ranges).enumerate() {
        for i in r.clone() {
            let dts = to_90k(t.samples.dts[i] + t.presentation_offset, t.timescale);
            order.push((dts, k, i));
        }
    }
    order.sort_unstable();
    let preps: Vec<TsPrep> = tracks.iter().map(|t| TsPrep::new(t).unwrap()).collect();
    for (dts, k, i) in order {
        let t = tracks[k];
        let key = t.samples.keyframe[i];
        let unit = preps[k].unit(sample(data, t, i), key).unwrap();
        let pts = to_90k(t.pts(i), t.timescale) + TS_TIME_OFFSET;
        w.write_pes(k, pts, dts + TS_TIME_OFFSET, key, &unit)
            .unwrap();
    }
    w.out
}

/// One CMAF fragment of track `t`, as `egress::segments::fmp4_fragment` builds it.
fn fmp4_fragment(
    index: &MediaIndex,
    seg: &Segmentation,
    data: &[u8],
    t: usize,
    s: usize,
) -> Vec<u8> {
    let track = &index.tracks[t];
    let range = seg.samples(track, s);
    let out = Fmp4Track::new(
        track,
        Fmp4Options {
            shift_us: time_shift_us(index),
            ..Default::default()
        },
    )
    .unwrap();
    let payloads: Vec<_> = range
        .clone()
        .map(|i| {
            out.sample(sample(data, track, i), track.samples.keyframe[i])
                .unwrap()
        })
        .collect();
    out.fragment(track, s as u32 + 1, range, &payloads, FragmentKind::Cmaf)
        .unwrap()
}

fn benches(c: &mut Criterion) {
    let data = media_file("ladder/ladder_720p.mp4");
    let index = mp4_index(&data);
    let seg = Segmentation::new(&index, 6).expect("segments");
    let video = index
        .tracks
        .iter()
        .position(|t| t.codec.kind() == TrackKind::Video)
        .unwrap();
    let audio = index
        .tracks
        .iter()
        .position(|t| t.codec.kind() == TrackKind::Audio)
        .unwrap();

    let mut g = c.benchmark_group("egress");
    g.sample_size(30);
    g.warm_up_time(std::time::Duration::from_millis(500));
    g.measurement_time(std::time::Duration::from_secs(2));

    let ts_len = ts_segment(&index, &seg, &data, 0).len();
    g.throughput(Throughput::Bytes(ts_len as u64));
    g.bench_function("ts_segment_720p_aac_6s", |b| {
        b.iter(|| ts_segment(&index, &seg, &data, std::hint::black_box(0)))
    });

    // The same segment from one of 64 copies of the source in turn (160 MB, far more than the
    // CPU's caches): what a warm origin pays, its source pages coming from memory.
    let copies: Vec<Vec<u8>> = (0..64).map(|_| data.clone()).collect();
    let mut turn = 0usize;
    g.bench_function("ts_segment_720p_aac_6s_from_memory", |b| {
        b.iter(|| {
            turn = (turn + 1) % copies.len();
            ts_segment(&index, &seg, &copies[turn], std::hint::black_box(0))
        })
    });

    let v_len = fmp4_fragment(&index, &seg, &data, video, 0).len();
    g.throughput(Throughput::Bytes(v_len as u64));
    g.bench_function("fmp4_fragment_720p_6s", |b| {
        b.iter(|| fmp4_fragment(&index, &seg, &data, video, std::hint::black_box(0)))
    });

    let a_len = fmp4_fragment(&index, &seg, &data, audio, 0).len();
    g.throughput(Throughput::Bytes(a_len as u64));
    g.bench_function("fmp4_fragment_aac_6s", |b| {
        b.iter(|| fmp4_fragment(&index, &seg, &data, audio, std::hint::black_box(0)))
    });

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
