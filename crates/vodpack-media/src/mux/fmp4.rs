//! Fragmented-MP4 writer (ISO/IEC 14496-12 movie fragments) for CMAF outputs — HLS fMP4 and
//! DASH — and for Microsoft Smooth Streaming fragments. One track per output, as CMAF and
//! Smooth both require.
//!
//! What this module owns:
//! - each track's output clock, through [`super::clock::TrackClock`] (the rule lives there);
//! - the sample filter ([`Fmp4Track::sample`]): MP4 samples pass through; TS samples (Annex B
//!   video, ADTS AAC) are turned into length-prefixed NAL units and raw AAC frames; parameter
//!   sets go in band on key frames when asked (`avc3`/`hev1`);
//! - the init segment (`ftyp` + `moov` with an empty sample table and `mvex`) and the media
//!   fragments (`styp` + `moof` + `mdat` for CMAF; `moof` with a `tfxd` box + `mdat` for Smooth).
//!
//! Boxes are encoded with `mp4-atom`. Written by hand, because the crate cannot express them:
//! the payload of Smooth's `tfxd` box (a version-1 full box inside a `uuid` box, which mp4-atom
//! frames) and its place inside the `traf` (mp4-atom's `Traf` has no slot for it); and the
//! framing of the init segment's containers (`moov`, `trak`, `mdia`, `minf`), because mp4-atom
//! writes required children before optional ones (`mvex` before `trak`, `vmhd` after `stbl`)
//! where ISO/IEC 14496-12 and strict validators expect the usual order. Every child box and
//! every header is still encoded by mp4-atom (`Header` frames the containers and the `mdat`,
//! so payloads are appended once instead of being copied into an `Mdat` value first).

use std::ops::Range;

use mp4_atom::{
    Ac3, Ac3SpecificBox, Atom, Audio, Avc1, Avc3, Avcc, Codec as Entry, Dinf, Dref, DrefEntry,
    Eac3, Ec3SpecificBox, Encode, Esds, ExtendedType, FixedPoint, FourCC, Ftyp, Hdlr, Header, Hev1,
    Hvc1, Hvcc, Mdhd, Mdia, Mfhd, Minf, Moof, Moov, Mp4a, Mvex, Mvhd, Smhd, Stbl, Stco, Stsd, Styp,
    Tfdt, Tfhd, Tkhd, Traf, Trak, Trex, Trun, TrunEntry, TrunSamples, Url, Uuid, Visual, Vmhd,
    esds::{DecoderConfig, DecoderSpecific, EsDescriptor, SLConfig},
};

use super::access_unit::{Parts, parameter_set_slices};
use super::clock::TrackClock;
use crate::codec::nal::{AnnexB, LengthPrefixed};
use crate::codec::params::{avcc_sets, hvcc_sets};
use crate::error::MediaError;
use crate::index::{Codec, Track, TrackKind};

/// Sample flags: `sample_depends_on` = 2 (an I-frame / independent audio frame).
const SYNC: u32 = 0x0200_0000;
/// Sample flags: `sample_depends_on` = 1, `sample_is_non_sync_sample` = 1.
const NON_SYNC: u32 = 0x0101_0000;

/// Smooth Streaming's `TfxdBox` extended type, 6d1d9b05-42d5-44e6-80e2-141daff757b2.
pub const TFXD_UUID: [u8; 16] = [
    0x6d, 0x1d, 0x9b, 0x05, 0x42, 0xd5, 0x44, 0xe6, 0x80, 0xe2, 0x14, 0x1d, 0xaf, 0xf7, 0x57, 0xb2,
];

/// How one track is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fmp4Options {
    /// `track_ID` in `tkhd`/`trex`/`tfhd`: 1 in CMAF (one track per file).
    pub track_id: u32,
    /// Asset-wide shift from [`super::clock::time_shift_us`].
    pub shift_us: u64,
    /// `includeEncoderConfigurationInSegments`: `avc3`/`hev1` sample entry without parameter
    /// sets, and SPS/PPS (VPS) in band at the start of every key frame.
    pub in_band_parameter_sets: bool,
    /// Output timescale (Smooth uses 10 000 000); `None` keeps the track's.
    pub timescale: Option<u32>,
}

impl Default for Fmp4Options {
    fn default() -> Self {
        Fmp4Options {
            track_id: 1,
            shift_us: 0,
            in_band_parameter_sets: false,
            timescale: None,
        }
    }
}

/// Which fragment layout [`Fmp4Track::fragment`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragmentKind {
    /// `styp` + `moof(mfhd, traf(tfhd, tfdt, trun))` + `mdat`; `tfhd` has default-base-is-moof.
    Cmaf,
    /// `moof(mfhd, traf(tfhd, trun, uuid tfxd))` + `mdat`, no `styp`: the Smooth (PIFF) form.
    /// `tfxd` (version 1) carries the fragment's absolute time and duration.
    Smooth,
}

/// Per-track facts the sample filter needs.
#[derive(Debug, Clone)]
enum Prep {
    Video(VideoPrep),
    /// AAC from a TS source: strip the ADTS header.
    Adts,
    /// Samples are already in their MP4 form.
    Raw,
}

#[derive(Debug, Clone)]
struct VideoPrep {
    h265: bool,
    /// Samples are Annex B (TS sources): re-framed with 4-byte lengths.
    annexb: bool,
    /// Length-prefix size of MP4 source samples.
    nal_length_size: usize,
    /// The configuration record's parameter sets, each with an output-sized length prefix,
    /// ready to put in front of a key frame.
    sets: Vec<u8>,
}

/// One output track of fragmented MP4: its init segment, sample filter, output clock and
/// fragments. Cheap to build (no per-sample work); borrows the track for its sample times.
#[derive(Debug, Clone)]
pub struct Fmp4Track<'t> {
    track: &'t Track,
    opts: Fmp4Options,
    clock: TrackClock<'t>,
    entry: Entry,
    prep: Prep,
}

fn enc_err(e: mp4_atom::Error) -> MediaError {
    MediaError::Corrupt(format!("fMP4 box encoding: {e}"))
}

fn config_err(track: &Track, what: &str) -> MediaError {
    MediaError::Corrupt(format!(
        "{} codec configuration: {what}",
        track.codec.name()
    ))
}

fn language(track: &Track) -> String {
    match &track.language {
        Some(l) if l.len() == 3 && l.bytes().all(|b| b.is_ascii_lowercase()) => l.clone(),
        _ => "und".to_string(),
    }
}

/// The output sample entry (`stsd` child) of a track.
fn sample_entry(track: &Track, in_band: bool) -> Result<Entry, MediaError> {
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

fn prep(track: &Track) -> Result<Prep, MediaError> {
    let ts_source = track.ts_pid != 0;
    Ok(match track.codec {
        Codec::H264 | Codec::H265 => {
            let h265 = track.codec == Codec::H265;
            let len = if h265 {
                hvcc_sets(&track.codec_config)?.0
            } else {
                avcc_sets(&track.codec_config)?.0
            };
            let sets = parameter_set_slices(track)?;
            let out_len = if ts_source { 4 } else { len };
            let mut prefixed = Vec::new();
            for s in sets {
                if out_len < 4 && s.len() >> (8 * out_len) != 0 {
                    return Err(config_err(
                        track,
                        "parameter set longer than the NAL length field allows",
                    ));
                }
                let l = (s.len() as u64).to_be_bytes();
                prefixed.extend_from_slice(&l[8 - out_len..]);
                prefixed.extend_from_slice(s);
            }
            Prep::Video(VideoPrep {
                h265,
                annexb: ts_source,
                nal_length_size: len,
                sets: prefixed,
            })
        }
        Codec::Aac if ts_source => Prep::Adts,
        _ => Prep::Raw,
    })
}

impl<'t> Fmp4Track<'t> {
    /// Prepares `track` for output: parses its configuration record and works out its clock
    /// mapping from the first samples only.
    pub fn new(track: &'t Track, opts: Fmp4Options) -> Result<Fmp4Track<'t>, MediaError> {
        if track.timescale == 0 {
            return Err(MediaError::Corrupt(format!(
                "{} track with timescale 0",
                track.codec.name()
            )));
        }
        if !track.samples.consistent() {
            return Err(MediaError::Corrupt(format!(
                "{} track: sample columns of different lengths",
                track.codec.name()
            )));
        }
        let timescale = opts.timescale.unwrap_or(track.timescale);
        if timescale == 0 {
            return Err(MediaError::Unsupported("output timescale 0".into()));
        }
        let entry = sample_entry(track, opts.in_band_parameter_sets)?;
        let prep = prep(track)?;
        Ok(Fmp4Track {
            track,
            opts,
            clock: TrackClock::new(track, timescale, opts.shift_us),
            entry,
            prep,
        })
    }

    /// The output timescale (`mdhd`, `tfdt`, `trun` durations, `tfxd`).
    pub fn timescale(&self) -> u32 {
        self.clock.timescale()
    }

    /// Output decode time of sample `i` in the output timescale: what `tfdt` carries for a
    /// fragment starting at `i`. Indexes past the end give [`Self::end_time`].
    pub fn decode_time(&self, i: usize) -> u64 {
        self.clock.decode_time(i)
    }

    /// Output time just past the last sample.
    pub fn end_time(&self) -> u64 {
        self.decode_time(self.track.samples.len())
    }

    /// Output presentation time of sample `i` (decode time + composition offset); may be
    /// below [`Self::decode_time`] for reordered video. DASH `SegmentTimeline` times are the
    /// presentation times of each segment's first sample in presentation order.
    pub fn presentation_time(&self, i: usize) -> i64 {
        self.clock.presentation_time(i)
    }

    /// Init segment: `ftyp` + `moov(mvhd, trak, mvex(trex))` with an empty sample table.
    pub fn init_segment(&self) -> Result<Vec<u8>, MediaError> {
        let t = self.track;
        let video = t.codec.kind() == TrackKind::Video;
        let ftyp = Ftyp {
            major_brand: FourCC::new(b"iso6"),
            minor_version: 0,
            compatible_brands: vec![
                FourCC::new(b"iso6"),
                FourCC::new(b"cmfc"),
                FourCC::new(b"dash"),
            ],
        };
        let (handler, name) = if video {
            (b"vide", "VideoHandler")
        } else {
            (b"soun", "SoundHandler")
        };
        let dim = |v: u32| FixedPoint::from(u16::try_from(v).unwrap_or(0));
        let mvhd = Mvhd {
            creation_time: 0,
            modification_time: 0,
            timescale: self.clock.timescale(),
            duration: 0,
            rate: FixedPoint::from(1u16),
            volume: FixedPoint::from(1u8),
            matrix: Default::default(),
            next_track_id: self.opts.track_id.saturating_add(1),
        };
        let tkhd = Tkhd {
            track_id: self.opts.track_id,
            enabled: true,
            in_movie: true,
            volume: FixedPoint::from(if video { 0u8 } else { 1u8 }),
            width: dim(if video { t.width } else { 0 }),
            height: dim(if video { t.height } else { 0 }),
            ..Default::default()
        };
        let mdhd = Mdhd {
            timescale: self.clock.timescale(),
            language: language(t),
            ..Default::default()
        };
        let hdlr = Hdlr {
            handler: FourCC::new(handler),
            name: name.to_string(),
        };
        let media_header = if video {
            encode(&Vmhd::default())?
        } else {
            encode(&Smhd::default())?
        };
        let dinf = Dinf {
            dref: Dref {
                entries: vec![DrefEntry::Url(Url::default())],
            },
        };
        let stbl = Stbl {
            stsd: Stsd {
                codecs: vec![self.entry.clone()],
            },
            stco: Some(Stco::default()),
            ..Default::default()
        };
        let mvex = Mvex {
            mehd: None,
            trex: vec![Trex {
                track_id: self.opts.track_id,
                default_sample_description_index: 1,
                ..Default::default()
            }],
        };
        // The containers are framed here so their children come in the order of ISO/IEC
        // 14496-12's box table (mp4-atom writes required children before optional ones:
        // `mvex` before `trak`, `vmhd` after `stbl`), which strict validators expect.
        let minf = container(Minf::KIND, &[media_header, encode(&dinf)?, encode(&stbl)?])?;
        let mdia = container(Mdia::KIND, &[encode(&mdhd)?, encode(&hdlr)?, minf])?;
        let trak = container(Trak::KIND, &[encode(&tkhd)?, mdia])?;
        let moov = container(Moov::KIND, &[encode(&mvhd)?, trak, encode(&mvex)?])?;
        let mut out = encode(&ftyp)?;
        out.extend_from_slice(&moov);
        Ok(out)
    }

    /// Whether [`Fmp4Track::sample`] returns every sample as it is stored (MP4 sources
    /// without parameter sets in band): the fragment's sample data is then the source bytes
    /// themselves, sized by the index, and can be sent from wherever they lie.
    pub fn passes_through(&self) -> bool {
        match &self.prep {
            Prep::Video(v) => v.passes_through(self.opts.in_band_parameter_sets),
            Prep::Adts => false,
            Prep::Raw => true,
        }
    }

    /// Sample filter: the stored source bytes of a sample → the fMP4 sample as byte parts
    /// (borrowing the source where possible). MP4 sources pass through untouched; with
    /// parameter sets in band, those are put in front of key frames (unless the sample has an
    /// SPS already), after checking the sample's NAL lengths. TS sources: Annex B → 4-byte
    /// length-prefixed NAL units without access unit delimiters (and without VPS/SPS/PPS
    /// unless in band); one ADTS frame → the raw AAC frame; AC-3/E-AC-3 frames pass through.
    pub fn sample<'a>(&self, bytes: &'a [u8], key: bool) -> Result<Parts<'a>, MediaError> {
        let mut out = Parts::default();
        match &self.prep {
            Prep::Video(v) => v.filter(bytes, key, self.opts.in_band_parameter_sets, &mut out)?,
            Prep::Adts => strip_adts(bytes, &mut out)?,
            Prep::Raw => out.borrowed(bytes),
        }
        Ok(out)
    }

    /// One fragment of samples `range` (decode order; the first should be a key frame for
    /// video), with `payloads` the filtered samples in the same order. `track` must be the
    /// track this writer was built for. Sample durations come from the next sample's output
    /// decode time (the track's last sample uses `last_sample_duration`), so consecutive
    /// fragments tile exactly.
    pub fn fragment(
        &self,
        track: &Track,
        seq: u32,
        range: Range<usize>,
        payloads: &[Parts<'_>],
        kind: FragmentKind,
    ) -> Result<Vec<u8>, MediaError> {
        let sizes: Vec<usize> = payloads.iter().map(Parts::len).collect();
        let mut out = self.fragment_header(track, seq, range, &sizes, kind)?;
        out.reserve(sizes.iter().sum());
        for p in payloads {
            for part in &p.parts {
                out.extend_from_slice(part);
            }
        }
        Ok(out)
    }

    /// Everything of [`Fmp4Track::fragment`] before the sample data (`styp`, `moof`, the
    /// `mdat` header), for payloads of `sizes` bytes: the sample data can then be sent from
    /// where it already is, without copying it into one buffer.
    pub fn fragment_header(
        &self,
        track: &Track,
        seq: u32,
        range: Range<usize>,
        sizes: &[usize],
        kind: FragmentKind,
    ) -> Result<Vec<u8>, MediaError> {
        let s = &self.track.samples;
        let n = s.len();
        if !std::ptr::eq(track, self.track)
            && (track.samples.len() != n
                || track.timescale != self.track.timescale
                || track.codec != self.track.codec)
        {
            return Err(MediaError::Corrupt(
                "fMP4 fragment: not the track the writer was built for".into(),
            ));
        }
        if range.start >= range.end || range.end > n {
            return Err(MediaError::Corrupt(format!(
                "fMP4 fragment: samples {range:?} of a track of {n}"
            )));
        }
        if sizes.len() != range.len() {
            return Err(MediaError::Corrupt(format!(
                "fMP4 fragment: {} payloads for {} samples",
                sizes.len(),
                range.len()
            )));
        }
        let video = self.track.codec.kind() == TrackKind::Video;
        let mut entries = Vec::with_capacity(range.len());
        let mut total = 0usize;
        let mut any_cts = false;
        let mut next = self.clock.time(range.start);
        for (i, payload_len) in range.clone().zip(sizes.iter().copied()) {
            let t0 = next;
            next = self.clock.time(i + 1);
            let duration = u32::try_from(next.saturating_sub(t0)).map_err(|_| {
                MediaError::Corrupt(format!(
                    "sample {i}: duration {} cannot be written",
                    next.saturating_sub(t0)
                ))
            })?;
            let size = u32::try_from(payload_len)
                .map_err(|_| MediaError::Corrupt(format!("sample {i}: larger than 4 GiB")))?;
            total += payload_len;
            let key = !video || s.keyframe.get(i).copied().unwrap_or(false);
            let cts = self.clock.presentation_time(i).saturating_sub(t0);
            any_cts |= cts != 0;
            entries.push(TrunEntry {
                duration: Some(duration),
                size: Some(size),
                flags: Some(if key { SYNC } else { NON_SYNC }),
                cts: Some(cts),
            });
        }
        if !any_cts {
            entries.iter_mut().for_each(|e| e.cts = None);
        }
        let start = self.decode_time(range.start);
        let smooth = kind == FragmentKind::Smooth;
        let mut moof = Moof {
            mfhd: Mfhd {
                sequence_number: seq,
            },
            traf: vec![Traf {
                tfhd: Tfhd {
                    track_id: self.opts.track_id,
                    default_base_is_moof: !smooth,
                    ..Default::default()
                },
                tfdt: (!smooth).then_some(Tfdt {
                    base_media_decode_time: start,
                }),
                trun: vec![Trun {
                    data_offset: Some(0),
                    samples: TrunSamples::Explicit(entries),
                }],
                ..Default::default()
            }],
        };
        let tfxd = if smooth {
            let duration = self.decode_time(range.end).saturating_sub(start);
            let mut payload = vec![1, 0, 0, 0];
            payload.extend_from_slice(&start.to_be_bytes());
            payload.extend_from_slice(&duration.to_be_bytes());
            let mut b = Vec::new();
            Uuid::Unknown(ExtendedType::new(&TFXD_UUID), payload)
                .encode(&mut b)
                .map_err(enc_err)?;
            b
        } else {
            Vec::new()
        };
        let mut mdat = Vec::new();
        Header {
            kind: FourCC::new(b"mdat"),
            size: Some(total),
        }
        .encode(&mut mdat)
        .map_err(enc_err)?;
        // In both layouts the data offset counts from the first byte of the moof (explicitly
        // with default-base-is-moof; for Smooth, as the first traf without a base offset).
        let moof_len = encode_moof(&moof, &tfxd)?.len();
        let offset = i32::try_from(moof_len + mdat.len())
            .map_err(|_| MediaError::Corrupt("fMP4 fragment header too large".into()))?;
        if let Some(run) = moof.traf.first_mut().and_then(|t| t.trun.first_mut()) {
            run.data_offset = Some(offset);
        }
        let moof = encode_moof(&moof, &tfxd)?;
        let mut out = Vec::with_capacity(64 + moof.len() + mdat.len());
        if !smooth {
            Styp {
                major_brand: FourCC::new(b"msdh"),
                minor_version: 0,
                compatible_brands: vec![FourCC::new(b"msdh"), FourCC::new(b"cmfs")],
            }
            .encode(&mut out)
            .map_err(enc_err)?;
        }
        out.extend_from_slice(&moof);
        out.extend_from_slice(&mdat);
        Ok(out)
    }
}

fn encode<T: Encode>(atom: &T) -> Result<Vec<u8>, MediaError> {
    let mut out = Vec::new();
    atom.encode(&mut out).map_err(enc_err)?;
    Ok(out)
}

/// A box of type `kind` holding the already encoded `children`, in order.
fn container(kind: FourCC, children: &[Vec<u8>]) -> Result<Vec<u8>, MediaError> {
    let size = children.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(size + 16);
    Header {
        kind,
        size: Some(size),
    }
    .encode(&mut out)
    .map_err(enc_err)?;
    for c in children {
        out.extend_from_slice(c);
    }
    Ok(out)
}

/// Encodes a one-`traf` `moof`, with `extra` (an encoded box) appended inside the `traf`.
fn encode_moof(moof: &Moof, extra: &[u8]) -> Result<Vec<u8>, MediaError> {
    if extra.is_empty() {
        return encode(moof);
    }
    let mut children = vec![encode(&moof.mfhd)?];
    for traf in &moof.traf {
        // mp4-atom frames the traf with an 8-byte header: keep its body, add `extra`.
        let mut body = encode(traf)?.get(8..).unwrap_or_default().to_vec();
        body.extend_from_slice(extra);
        children.push(container(Traf::KIND, &[body])?);
    }
    container(Moof::KIND, &children)
}

/// The raw AAC frame of one ADTS frame (7-byte header, or 9 with CRC).
fn strip_adts<'a>(b: &'a [u8], out: &mut Parts<'a>) -> Result<(), MediaError> {
    if b.len() < 7 || b[0] != 0xff || b[1] & 0xf6 != 0xf0 {
        return Err(MediaError::Corrupt(
            "AAC sample of a TS source is not an ADTS frame".into(),
        ));
    }
    let header = if b[1] & 1 == 1 { 7 } else { 9 };
    let len = (usize::from(b[3] & 0x03) << 11) | (usize::from(b[4]) << 3) | usize::from(b[5] >> 5);
    if len != b.len() {
        return Err(MediaError::Corrupt(format!(
            "ADTS frame of {len} bytes in a sample of {}",
            b.len()
        )));
    }
    if b[6] & 0x03 != 0 {
        return Err(MediaError::Unsupported(
            "ADTS frames with several raw data blocks".into(),
        ));
    }
    let payload = b
        .get(header..)
        .ok_or_else(|| MediaError::Corrupt("ADTS frame shorter than its header".into()))?;
    out.borrowed(payload);
    Ok(())
}

impl VideoPrep {
    fn nal_type(&self, nal: &[u8]) -> Option<u8> {
        let h = *nal.first()?;
        Some(if self.h265 { (h >> 1) & 0x3f } else { h & 0x1f })
    }

    fn is_aud(&self, t: u8) -> bool {
        t == if self.h265 { 35 } else { 9 }
    }

    fn is_sps(&self, t: u8) -> bool {
        t == if self.h265 { 33 } else { 7 }
    }

    fn is_parameter_set(&self, t: u8) -> bool {
        if self.h265 {
            (32..=34).contains(&t)
        } else {
            t == 7 || t == 8
        }
    }

    /// Length-prefixed samples (MP4 sources) without parameter sets to add go out as stored.
    fn passes_through(&self, in_band: bool) -> bool {
        !self.annexb && !in_band
    }

    fn filter<'a>(
        &self,
        sample: &'a [u8],
        key: bool,
        in_band: bool,
        out: &mut Parts<'a>,
    ) -> Result<(), MediaError> {
        if self.passes_through(in_band) {
            // Passed through as stored, as a static copy of the file would send it: walking
            // the NAL lengths touches every sample (a cache miss or more each, an eighth of a
            // warm DASH origin's CPU) only to refuse the segment when they are wrong.
            out.borrowed(sample);
            return Ok(());
        }
        if !self.annexb {
            // Length-prefixed already, parameter sets to add: check the lengths, note whether
            // an SPS is present.
            let mut has_sps = false;
            for nal in LengthPrefixed::new(sample, self.nal_length_size) {
                has_sps |= self.nal_type(nal?).is_some_and(|t| self.is_sps(t));
            }
            if in_band && key && !has_sps && !self.sets.is_empty() {
                out.owned(self.sets.clone());
            }
            out.borrowed(sample);
            return Ok(());
        }
        let nals: Vec<&[u8]> = AnnexB::new(sample).collect();
        if nals.is_empty() && !sample.is_empty() {
            return Err(MediaError::Corrupt(
                "video sample of a TS source has no Annex B start code".into(),
            ));
        }
        let nals: Vec<&[u8]> = nals
            .into_iter()
            .filter(|nal| match self.nal_type(nal) {
                None => false,
                Some(t) => !self.is_aud(t) && (in_band || !self.is_parameter_set(t)),
            })
            .collect();
        let has_sps = nals
            .iter()
            .any(|nal| self.nal_type(nal).is_some_and(|t| self.is_sps(t)));
        if in_band && key && !has_sps && !self.sets.is_empty() {
            out.owned(self.sets.clone());
        }
        for nal in nals {
            let len = u32::try_from(nal.len())
                .map_err(|_| MediaError::Corrupt("NAL unit larger than 4 GiB".into()))?;
            out.owned(len.to_be_bytes().to_vec());
            out.borrowed(nal);
        }
        Ok(())
    }
}
