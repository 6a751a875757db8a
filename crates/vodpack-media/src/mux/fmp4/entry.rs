//! Sample entries: the `stsd` child of each output track (`avc1`/`avc3`, `hvc1`/`hev1`,
//! `mp4a`, `ac-3`, `ec-3`) with its codec configuration box (`avcC`, `hvcC`, `esds`, `dac3`,
//! `dec3`) rebuilt from the index's configuration record, and the `mdhd` language.

use mp4_atom::{
    Ac3, Ac3SpecificBox, Atom, Audio, Avc1, Avc3, Avcc, Codec as Entry, Eac3, Ec3SpecificBox, Esds,
    FixedPoint, Hev1, Hvc1, Hvcc, Mp4a, Visual,
    esds::{DecoderConfig, DecoderSpecific, EsDescriptor, SLConfig},
};

use super::config_err;
use crate::error::MediaError;
use crate::index::{Codec, Track};

/// The `mdhd` language: the track's ISO 639-2/T code when it is one, else `und`.
pub(super) fn language(track: &Track) -> String {
    match &track.language {
        Some(l) if l.len() == 3 && l.bytes().all(|b| b.is_ascii_lowercase()) => l.clone(),
        _ => "und".to_string(),
    }
}

/// The output sample entry (`stsd` child) of a track.
pub(super) fn sample_entry(track: &Track, in_band: bool) -> Result<Entry, MediaError> {
    let ts_source = track.ts_pid != 0;
    let cfg = track.codec_config.as_slice();
    let dim = |v: u32, what: &str| {
        u16::try_from(v)
            .map_err(|_| MediaError::Unsupported(format!("video {what} {v} does not fit in MP4")))
    };
    let visual = || -> Result<Visual, MediaError> {
        Ok(Visual {
            data_reference_index: 1,
            width: dim(track.width, "width")?,
            height: dim(track.height, "height")?,
            ..Default::default()
        })
    };
    let audio = |channels: u32| Audio {
        data_reference_index: 1,
        channel_count: u16::try_from(channels).unwrap_or(2),
        sample_size: 16,
        // 16.16 fixed point: rates above 65535 Hz cannot be written and are left 0 (the
        // decoder configuration carries the real rate).
        sample_rate: FixedPoint::from(u16::try_from(track.sample_rate).unwrap_or(0)),
    };
    Ok(match track.codec {
        Codec::H264 => {
            let mut avcc =
                Avcc::decode_body(&mut &cfg[..]).map_err(|e| config_err(track, &e.to_string()))?;
            if ts_source {
                avcc.length_size = 4;
            }
            if in_band {
                avcc.sequence_parameter_sets.clear();
                avcc.picture_parameter_sets.clear();
                if let Some(ext) = avcc.ext.as_mut() {
                    ext.sequence_parameter_sets_ext.clear();
                }
            }
            let visual = visual()?;
            if in_band || &track.fourcc == b"avc3" {
                Entry::Avc3(Avc3 {
                    visual,
                    avcc,
                    ..Default::default()
                })
            } else {
                Entry::Avc1(Avc1 {
                    visual,
                    avcc,
                    ..Default::default()
                })
            }
        }
        Codec::H265 => {
            let mut hvcc =
                Hvcc::decode_body(&mut &cfg[..]).map_err(|e| config_err(track, &e.to_string()))?;
            if ts_source {
                hvcc.length_size_minus_one = 3;
            }
            if in_band {
                hvcc.arrays.clear();
            }
            let visual = visual()?;
            if in_band || &track.fourcc == b"hev1" {
                Entry::Hev1(Hev1 {
                    visual,
                    hvcc,
                    ..Default::default()
                })
            } else {
                Entry::Hvc1(Hvc1 {
                    visual,
                    hvcc,
                    ..Default::default()
                })
            }
        }
        Codec::Aac => {
            let (&a, &b) = match (cfg.first(), cfg.get(1)) {
                (Some(a), Some(b)) => (a, b),
                _ => return Err(config_err(track, "AudioSpecificConfig too short")),
            };
            let (profile, freq_index, chan_conf) =
                (a >> 3, ((a & 7) << 1) | (b >> 7), (b >> 3) & 15);
            if profile == 0 {
                return Err(config_err(track, "AAC object type 0"));
            }
            let channels = if track.channels > 0 {
                track.channels
            } else if (1..=6).contains(&chan_conf) {
                u32::from(chan_conf)
            } else {
                2
            };
            Entry::Mp4a(Mp4a {
                audio: audio(channels),
                esds: Esds {
                    es_desc: EsDescriptor {
                        es_id: 1,
                        dec_config: DecoderConfig {
                            object_type_indication: 0x40,
                            stream_type: 5,
                            up_stream: 0,
                            buffer_size_db: Default::default(),
                            max_bitrate: u32::try_from(track.peak_bitrate).unwrap_or(u32::MAX),
                            avg_bitrate: u32::try_from(track.avg_bitrate).unwrap_or(u32::MAX),
                            dec_specific: Some(DecoderSpecific {
                                profile,
                                freq_index,
                                chan_conf,
                                raw: cfg.to_vec(),
                            }),
                        },
                        sl_config: SLConfig {},
                        ..Default::default()
                    },
                },
                btrt: None,
                taic: None,
            })
        }
        Codec::Ac3 => Entry::Ac3(Ac3 {
            audio: audio(if track.channels > 0 {
                track.channels
            } else {
                2
            }),
            dac3: Ac3SpecificBox::decode_body(&mut &cfg[..])
                .map_err(|e| config_err(track, &e.to_string()))?,
        }),
        Codec::Eac3 => Entry::Eac3(Eac3 {
            audio: audio(if track.channels > 0 {
                track.channels
            } else {
                2
            }),
            dec3: Ec3SpecificBox::decode_body(&mut &cfg[..])
                .map_err(|e| config_err(track, &e.to_string()))?,
        }),
        Codec::Srt | Codec::WebVtt => {
            return Err(MediaError::Unsupported(
                "text tracks are not written as fragmented MP4 yet".into(),
            ));
        }
    })
}
