//! The packaging chain on whatever a (possibly damaged) stored index says: segment planning,
//! every layout (HLS-TS, CMAF, DASH, Smooth), the MPEG-TS and fMP4 writers with their sample
//! filters and size-only pass, and the WebVTT writer never panic, whatever the track
//! parameters, timestamps or sample bytes (taken from the input itself). Every layout also runs
//! encrypted with a fixed key set (one key for every track, a signal of each kind per DRM
//! system) in each scheme: AES-128 and SAMPLE-AES (HLS-TS), cbcs (CMAF), cenc (DASH) and PIFF
//! (Smooth), with and without a constant IV, so the encryption stages and the manifests'
//! signalling are fuzzed too (SAMPLE-AES's video slice encryption only when the input's bytes
//! read as H.264 samples the access-unit filter accepts: not reached from the seed corpus in a
//! 60 s run, where AES-128, SAMPLE-AES audio, cenc, cbcs and every signal were). It runs the same `vodpack_media::package` calls as the server,
//! with the input as every object's bytes.
#![no_main]
use std::sync::Arc;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use vodpack_media::index;
use vodpack_media::package::chain::source_bytes::{TO_END, spans};
use vodpack_media::package::chain::ts::TsSegment;
use vodpack_media::package::keys::{ContentKey, DrmSignal, KeySet, KeyUse};
use vodpack_media::package::spec::{
    CmafSpec, DashSpec, EncryptionSpec, Format, HlsMethod, HlsSpec, MssSpec, SegmentTemplateFormat,
    SpekeSpec,
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

const WIDEVINE: [u8; 16] = [
    0xed, 0xef, 0x8b, 0xa9, 0x79, 0xd6, 0x4a, 0xce, 0xa3, 0xc8, 0x27, 0xdc, 0xd5, 0x1d, 0x21, 0xed,
];
const PLAYREADY: [u8; 16] = [
    0x9a, 0x04, 0xf0, 0x79, 0x98, 0x40, 0x42, 0x86, 0xab, 0x92, 0xe6, 0x5b, 0xe0, 0x88, 0x5f, 0x95,
];
const KID: [u8; 16] = [0x11; 16];

/// One key for every track, and what a key server says about it for two DRM systems (a pssh
/// box, DASH and HLS signalling, a PlayReady header), as the service hands them to the chain.
fn key_set(explicit_iv: bool) -> KeySet {
    let mut pssh = vec![0, 0, 0, 32, b'p', b's', b's', b'h', 0, 0, 0, 0];
    pssh.extend_from_slice(&WIDEVINE);
    pssh.extend_from_slice(&[0, 0, 0, 0]);
    KeySet {
        keys: vec![(
            KeyUse::all(),
            ContentKey { kid: KID, key: [0x22; 16], explicit_iv: explicit_iv.then_some([0x33; 16]) },
        )],
        systems: vec![
            DrmSignal {
                system_id: WIDEVINE,
                kid: KID,
                pssh: Some(pssh),
                content_protection_data: Some("<cenc:pssh>AAAAIHBzc2g=</cenc:pssh>".into()),
                hls_media: Some("#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"data:text/plain;base64,AA==\",KEYFORMAT=\"urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed\"".into()),
                hls_master: Some("#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI=\"data:text/plain;base64,AA==\"".into()),
                ..Default::default()
            },
            DrmSignal {
                system_id: PLAYREADY,
                kid: KID,
                uri_ext_x_key: Some("skd://k".into()),
                key_format: Some("com.microsoft.playready".into()),
                key_format_versions: Some("1".into()),
                protection_header: Some("PABXAFIATQBIAEUAQQBEAEUAUgA+AA==".into()),
                ..Default::default()
            },
        ],
    }
}

/// The `encryption` block of a configuration (HLS-TS: `method`).
fn encryption(method: HlsMethod, constant_iv: bool) -> EncryptionSpec {
    EncryptionSpec {
        speke: SpekeSpec {
            url: "https://keys.example/speke".into(),
            role_arn: "arn:aws:iam::000000000000:role/speke".into(),
            system_ids: vec![WIDEVINE, PLAYREADY],
            presets: None,
        },
        hls_method: method,
        constant_iv: constant_iv.then_some([0x44; 16]),
    }
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
    // Clear, then each scheme the format has (HLS-TS: AES-128 and SAMPLE-AES), with keys.
    let keys = Arc::new(key_set(data.len() % 5 == 1));
    let constant_iv = data.len() % 4 < 2;
    let variants = |format: &Format| -> Vec<Option<EncryptionSpec>> {
        let mut v = vec![None, Some(encryption(HlsMethod::Aes128, constant_iv))];
        if matches!(format, Format::Hls(_)) {
            v.push(Some(encryption(HlsMethod::SampleAes, constant_iv)));
        }
        v
    };
    for seconds in [1u32, 6] {
        let Some(seg) = Segmentation::new(&idx, seconds) else {
            continue;
        };
        let seg = Arc::new(seg);
        for (format, encryption) in formats.iter().flat_map(|f| variants(f).into_iter().map(move |e| (f, e))) {
            let p = Presentation {
                index: idx.clone(),
                seg: seg.clone(),
                keys: encryption.is_some().then(|| keys.clone()),
                spec: Arc::new(PackageSpec { segment_seconds: seconds, encryption, format: format.clone() }),
                manifest: 0,
                manifest_name: "m".into(),
                created_at_ms: Some(0),
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
