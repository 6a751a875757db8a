//! Progressive (non-fragmented) MP4 sources: locating `moov` and turning it into index tracks.
//!
//! Box decoding is mp4-atom's; what is ours is the sample table expansion (stts, ctts, stss,
//! stsc + stco/co64, stsz into per-sample columns), edit-list handling, the codec mapping and
//! every consistency check, since a packager must refuse a table that points outside its file
//! rather than serve garbage. I/O stays with the caller: it reads top-level box headers with
//! [`parse_box_header`] to find `moov`, reads it whole (bounded by [`Limits::max_moov_bytes`]),
//! and hands the bytes to [`parse_moov`].

use crate::codec::codec_string;
mod tree;

use mp4_atom::{Codec as Entry, Encode, Trak};

use crate::error::MediaError;
use crate::index::{Codec, Samples, Track};

/// Caps that keep hostile or absurd files from exhausting memory or time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest `moov` box read (nginx-vod-module's default is 128 MiB).
    pub max_moov_bytes: u64,
    /// Most samples in one track (about 11 hours of 25 fps video at the default).
    pub max_samples_per_track: u64,
    /// AWS: at most 20 ingest streams per asset.
    pub max_streams: usize,
    /// AWS: at most 10 tracks per ingest stream.
    pub max_tracks_per_stream: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_moov_bytes: 128 * 1024 * 1024,
            max_samples_per_track: 1_000_000,
            max_streams: 20,
            max_tracks_per_stream: 10,
        }
    }
}

/// A top-level (or any) box header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxHeader {
    pub kind: [u8; 4],
    /// 8, or 16 with a 64-bit size.
    pub header_len: u64,
    /// Whole box size including the header; `None` when the box runs to the end of the file.
    pub size: Option<u64>,
}

/// Parses a box header from the start of `b`; `Ok(None)` when more bytes are needed.
pub fn parse_box_header(b: &[u8]) -> Result<Option<BoxHeader>, MediaError> {
    if b.len() < 8 {
        return Ok(None);
    }
    let size32 = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let kind = [b[4], b[5], b[6], b[7]];
    let (header_len, size) = match size32 {
        0 => (8, None),
        1 => {
            if b.len() < 16 {
                return Ok(None);
            }
            let mut s = [0u8; 8];
            s.copy_from_slice(&b[8..16]);
            (16, Some(u64::from_be_bytes(s)))
        }
        n => (8, Some(u64::from(n))),
    };
    if let Some(s) = size
        && s < header_len
    {
        return Err(MediaError::Corrupt(format!(
            "box '{}' declares {s} bytes, less than its own header",
            String::from_utf8_lossy(&kind)
        )));
    }
    Ok(Some(BoxHeader {
        kind,
        header_len,
        size,
    }))
}

/// Next step of the top-level box walk that looks for `moov`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopLevel {
    /// `moov` is at `offset` and has `size` bytes (header included): read it whole.
    Moov { offset: u64, size: u64 },
    /// Read the header of the box at this offset next.
    Next(u64),
}

/// How many bytes [`next_top_level`] wants at each step.
pub const TOP_LEVEL_HEADER_BYTES: u64 = 16;

/// One step of the walk over top-level boxes: `header` holds up to
/// [`TOP_LEVEL_HEADER_BYTES`] bytes read at `pos` of a file of `file_size` bytes.
pub fn next_top_level(
    header: &[u8],
    pos: u64,
    file_size: u64,
    limits: &Limits,
) -> Result<TopLevel, MediaError> {
    if pos >= file_size {
        return Err(if pos == 0 {
            MediaError::NotMedia("the file is empty".into())
        } else {
            MediaError::Truncated("no moov box: the file ends before its index".into())
        });
    }
    let h = match parse_box_header(header) {
        Ok(Some(h)) => h,
        Ok(None) | Err(_) if pos == 0 => {
            return Err(MediaError::NotMedia(
                "the file does not start with an MP4 box".into(),
            ));
        }
        Ok(None) => {
            return Err(MediaError::Truncated(format!(
                "the file ends inside a box header at byte {pos}"
            )));
        }
        Err(e) => return Err(e),
    };
    let kind = String::from_utf8_lossy(&h.kind).to_string();
    if pos == 0
        && !matches!(
            &h.kind,
            b"ftyp" | b"moov" | b"mdat" | b"free" | b"skip" | b"wide" | b"pnot" | b"uuid"
        )
    {
        return Err(MediaError::NotMedia(format!(
            "the file does not start with an MP4 box (first bytes read as '{}')",
            kind.escape_default()
        )));
    }
    let size = h.size.unwrap_or(file_size - pos);
    let end = pos
        .checked_add(size)
        .ok_or_else(|| MediaError::Corrupt(format!("box '{kind}' size overflows")))?;
    if end > file_size {
        return Err(MediaError::Truncated(format!(
            "box '{kind}' at byte {pos} needs {size} bytes but the file ends at {file_size}"
        )));
    }
    match &h.kind {
        b"moov" => {
            if size > limits.max_moov_bytes {
                return Err(MediaError::Limit(format!(
                    "the moov box has {size} bytes, more than the limit of {}",
                    limits.max_moov_bytes
                )));
            }
            Ok(TopLevel::Moov { offset: pos, size })
        }
        b"moof" => Err(MediaError::Unsupported(
            "fragmented MP4 (moof before any moov); provide a progressive MP4".into(),
        )),
        _ if end >= file_size => Err(MediaError::Truncated(
            "no moov box: the file ends before its index".into(),
        )),
        _ => Ok(TopLevel::Next(end)),
    }
}

/// Tracks found in one MP4 file, and what was skipped.
#[derive(Debug, Clone, Default)]
pub struct Mp4Tracks {
    pub tracks: Vec<Track>,
    pub warnings: Vec<String>,
}

fn atom_bytes<T: Encode>(atom: &T) -> Result<Vec<u8>, MediaError> {
    let mut buf = Vec::new();
    atom.encode(&mut buf)
        .map_err(|e| MediaError::Corrupt(format!("cannot re-encode a configuration box: {e}")))?;
    // Strip the 8-byte box header: the index keeps the bare configuration record.
    Ok(buf.get(8..).unwrap_or_default().to_vec())
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

struct CodecInfo {
    codec: Codec,
    fourcc: [u8; 4],
    config: Vec<u8>,
    codec_string: String,
    width: u32,
    height: u32,
    channels: u32,
    sample_rate: u32,
}

fn codec_info(entry: &Entry, label: &str) -> Result<CodecInfo, MediaError> {
    let video = |codec, fourcc: &[u8; 4], config: Vec<u8>, cs: String, w: u16, h: u16| CodecInfo {
        codec,
        fourcc: *fourcc,
        config,
        codec_string: cs,
        width: u32::from(w),
        height: u32::from(h),
        channels: 0,
        sample_rate: 0,
    };
    let audio =
        |codec, fourcc: &[u8; 4], config: Vec<u8>, cs: String, a: &mp4_atom::Audio| CodecInfo {
            codec,
            fourcc: *fourcc,
            config,
            codec_string: cs,
            width: 0,
            height: 0,
            channels: u32::from(a.channel_count),
            sample_rate: u32::from(a.sample_rate.integer()),
        };
    Ok(match entry {
        Entry::Avc1(e) => video(
            Codec::H264,
            b"avc1",
            atom_bytes(&e.avcc)?,
            codec_string::avc("avc1", &e.avcc),
            e.visual.width,
            e.visual.height,
        ),
        Entry::Avc3(e) => video(
            Codec::H264,
            b"avc3",
            atom_bytes(&e.avcc)?,
            codec_string::avc("avc3", &e.avcc),
            e.visual.width,
            e.visual.height,
        ),
        Entry::Hvc1(e) => video(
            Codec::H265,
            b"hvc1",
            atom_bytes(&e.hvcc)?,
            codec_string::hevc("hvc1", &e.hvcc),
            e.visual.width,
            e.visual.height,
        ),
        Entry::Hev1(e) => video(
            Codec::H265,
            b"hev1",
            atom_bytes(&e.hvcc)?,
            codec_string::hevc("hev1", &e.hvcc),
            e.visual.width,
            e.visual.height,
        ),
        Entry::Mp4a(e) => {
            let dc = &e.esds.es_desc.dec_config;
            // 0x40 MPEG-4 audio; 0x66-0x68 MPEG-2 AAC profiles.
            if !matches!(dc.object_type_indication, 0x40 | 0x66..=0x68) {
                return Err(MediaError::Unsupported(format!(
                    "{label}: mp4a with object type 0x{:02x} (only AAC is supported)",
                    dc.object_type_indication
                )));
            }
            let asc = dc
                .dec_specific
                .as_ref()
                .map(|d| d.raw.clone())
                .filter(|r| r.len() >= 2)
                .ok_or_else(|| {
                    MediaError::Corrupt(format!(
                        "{label}: AAC track without an AudioSpecificConfig"
                    ))
                })?;
            let cs = codec_string::aac(&asc);
            audio(Codec::Aac, b"mp4a", asc, cs, &e.audio)
        }
        Entry::Ac3(e) => audio(
            Codec::Ac3,
            b"ac-3",
            atom_bytes(&e.dac3)?,
            "ac-3".into(),
            &e.audio,
        ),
        Entry::Eac3(e) => audio(
            Codec::Eac3,
            b"ec-3",
            atom_bytes(&e.dec3)?,
            "ec-3".into(),
            &e.audio,
        ),
        Entry::Unknown(fourcc, _) => {
            let cc: [u8; 4] = (*fourcc).into();
            let name = String::from_utf8_lossy(&cc).to_string();
            if matches!(&cc, b"encv" | b"enca" | b"encs" | b"enct") {
                return Err(MediaError::Encrypted(format!(
                    "{label} has a protected sample entry ('{name}')"
                )));
            }
            return Err(MediaError::Unsupported(format!(
                "{label}: codec '{name}' (supported: H.264, H.265, AAC, AC-3, E-AC-3)"
            )));
        }
        other => {
            let name = format!("{other:?}");
            let name = name.split('(').next().unwrap_or("?").to_ascii_lowercase();
            return Err(MediaError::Unsupported(format!(
                "{label}: codec '{name}' (supported: H.264, H.265, AAC, AC-3, E-AC-3)"
            )));
        }
    })
}

/// Longest plausible sample duration and composition offset, in seconds.
const MAX_SAMPLE_SECONDS: i64 = 10;
/// Highest plausible average video frame rate.
const MAX_FRAME_RATE: i64 = 1000;

/// Expands one track's sample tables.
fn samples(
    trak: &Trak,
    object: u32,
    file_size: u64,
    limits: &Limits,
    label: &str,
) -> Result<(Samples, u32), MediaError> {
    let stbl = &trak.mdia.minf.stbl;
    let sizes: Vec<u32> = match &stbl.stsz.samples {
        mp4_atom::StszSamples::Identical { count, size } => {
            if u64::from(*count) > limits.max_samples_per_track {
                return Err(MediaError::Limit(format!(
                    "{label} has {count} samples, more than the limit of {}",
                    limits.max_samples_per_track
                )));
            }
            vec![*size; *count as usize]
        }
        mp4_atom::StszSamples::Different { sizes } => sizes.clone(),
    };
    let n = sizes.len();
    if n as u64 > limits.max_samples_per_track {
        return Err(MediaError::Limit(format!(
            "{label} has {n} samples, more than the limit of {}",
            limits.max_samples_per_track
        )));
    }
    let corrupt = |what: String| MediaError::Corrupt(format!("{label}: {what}"));

    // Decode times (stts).
    let mut dts = Vec::with_capacity(n);
    let mut t = 0i64;
    let mut last_delta = 0u32;
    for e in &stbl.stts.entries {
        for _ in 0..e.sample_count {
            if dts.len() == n {
                return Err(corrupt(format!(
                    "stts describes more samples than stsz ({n})"
                )));
            }
            dts.push(t);
            t += i64::from(e.sample_delta);
            last_delta = e.sample_delta;
        }
    }
    if dts.len() != n {
        return Err(corrupt(format!(
            "stts describes {} samples, stsz {n}",
            dts.len()
        )));
    }
    // Every output cuts and names segments and fragments by decode time: two samples at one
    // time (an stts delta of 0 before the last sample) would give files no request can name.
    if let Some(i) = dts.windows(2).position(|w| w[1] <= w[0]) {
        return Err(corrupt(format!(
            "sample {} lasts 0 ticks (stts delta 0): sample {} has the same decode time {}; decode times must increase",
            i + 1,
            i + 2,
            dts[i]
        )));
    }

    // A timeline no output can follow is damage: one sample lasting longer than
    // `MAX_SAMPLE_SECONDS`, or video faster than `MAX_FRAME_RATE` (all frames in an instant).
    // Outputs cut every track at the same plan boundaries; such a track would make manifests
    // list segments that cannot be cut (404) or none at all.
    let timescale = i64::from(trak.mdia.mdhd.timescale.max(1));
    let max_delta = MAX_SAMPLE_SECONDS * timescale;
    if let Some(i) = dts
        .windows(2)
        .position(|w| w[1] - w[0] > max_delta)
        .or_else(|| (i64::from(last_delta) > max_delta).then(|| n.saturating_sub(1)))
    {
        return Err(corrupt(format!(
            "sample {} lasts more than {MAX_SAMPLE_SECONDS} s (stts delta above {max_delta} at timescale {timescale})",
            i + 1
        )));
    }
    let handler: [u8; 4] = trak.mdia.hdlr.handler.into();
    let span = t.max(1);
    if &handler == b"vide" && n > 1 && (n as i64 - 1) * timescale > MAX_FRAME_RATE * span {
        return Err(corrupt(format!(
            "{n} frames in {span} ticks at timescale {timescale}: more than {MAX_FRAME_RATE} frames per second (stts deltas too small)"
        )));
    }

    // Composition offsets (ctts, v0 unsigned or v1 signed; mp4-atom gives both as i64).
    let mut cts = Vec::with_capacity(n);
    if let Some(ctts) = &stbl.ctts {
        for e in &ctts.entries {
            for _ in 0..e.sample_count {
                if cts.len() == n {
                    break;
                }
                let off = i32::try_from(e.sample_offset)
                    .ok()
                    .filter(|o| i64::from(*o).abs() <= max_delta)
                    .ok_or_else(|| {
                        corrupt(format!(
                            "composition offset {} out of range (more than {MAX_SAMPLE_SECONDS} s) at sample {}",
                            e.sample_offset,
                            cts.len() + 1
                        ))
                    })?;
                cts.push(off);
            }
        }
        if cts.len() != n {
            return Err(corrupt(format!(
                "ctts describes {} samples, stsz {n}",
                cts.len()
            )));
        }
    } else {
        cts.resize(n, 0);
    }

    // Sync samples (stss); absent means every sample is a sync sample.
    let keyframe = match &stbl.stss {
        None => vec![true; n],
        Some(stss) => {
            let mut k = vec![false; n];
            for &s in &stss.entries {
                let i = (s as usize)
                    .checked_sub(1)
                    .filter(|i| *i < n)
                    .ok_or_else(|| corrupt(format!("stss names sample {s}, the track has {n}")))?;
                k[i] = true;
            }
            k
        }
    };

    // Chunk offsets (stco / co64) and samples per chunk (stsc).
    let chunks: Vec<u64> = match (&stbl.stco, &stbl.co64) {
        (Some(stco), _) => stco.entries.iter().map(|o| u64::from(*o)).collect(),
        (None, Some(co64)) => co64.entries.clone(),
        (None, None) => return Err(corrupt("no chunk offset table (stco/co64)".into())),
    };
    let stsc = &stbl.stsc.entries;
    // The chunk runs must hold exactly the samples stsz lists: room for more (a huge
    // samples-per-chunk) would place samples over other data.
    let mut room = 0u64;
    for (ei, e) in stsc.iter().enumerate() {
        let first = u64::from(e.first_chunk.saturating_sub(1)).min(chunks.len() as u64);
        let end = stsc.get(ei + 1).map_or(chunks.len() as u64, |next| {
            u64::from(next.first_chunk.saturating_sub(1)).min(chunks.len() as u64)
        });
        room = room.saturating_add(
            end.saturating_sub(first)
                .saturating_mul(u64::from(e.samples_per_chunk)),
        );
    }
    if room > n as u64 {
        return Err(corrupt(format!(
            "stsc and the chunk offsets describe room for {room} samples, stsz has {n}"
        )));
    }
    let mut offsets = Vec::with_capacity(n);
    for (ei, e) in stsc.iter().enumerate() {
        if e.first_chunk == 0 || e.samples_per_chunk == 0 {
            return Err(corrupt(
                "stsc has a zero chunk index or an empty chunk run".into(),
            ));
        }
        let first = (e.first_chunk - 1) as usize;
        let end = match stsc.get(ei + 1) {
            Some(next) if next.first_chunk > e.first_chunk => (next.first_chunk - 1) as usize,
            Some(_) => return Err(corrupt("stsc chunk runs are not increasing".into())),
            None => chunks.len(),
        };
        for &chunk_offset in chunks.get(first..end.min(chunks.len())).unwrap_or_default() {
            let mut off = chunk_offset;
            for _ in 0..e.samples_per_chunk {
                let i = offsets.len();
                if i == n {
                    break;
                }
                offsets.push(off);
                off = off
                    .checked_add(u64::from(sizes[i]))
                    .ok_or_else(|| corrupt("sample offset overflows".into()))?;
            }
        }
    }
    if offsets.len() != n {
        return Err(corrupt(format!(
            "the chunk tables place {} samples, stsz has {n}",
            offsets.len()
        )));
    }
    for i in 0..n {
        let end = offsets[i].saturating_add(u64::from(sizes[i]));
        if end > file_size {
            return Err(MediaError::Truncated(format!(
                "{label}: sample {} spans bytes {}..{end} but the file has only {file_size} bytes",
                i + 1,
                offsets[i]
            )));
        }
    }

    let s = Samples {
        object: vec![object; n],
        offset: offsets,
        size: sizes,
        dts,
        cts_offset: cts,
        keyframe,
        skip: Vec::new(),
    };
    Ok((s, last_delta))
}

/// Presentation offset from the edit list: empty edits delay the track, the first media edit's
/// `media_time` is where presentation starts (B-frame delay, AAC priming).
fn presentation_offset(
    trak: &Trak,
    movie_timescale: u32,
    timescale: u32,
    warnings: &mut Vec<String>,
    label: &str,
) -> i64 {
    let Some(edts) = &trak.edts else { return 0 };
    let Some(elst) = &edts.elst else { return 0 };
    let mut offset = 0i64;
    let mut media_edits = 0;
    for e in &elst.entries {
        match e.media_time {
            None => {
                if media_edits == 0 && movie_timescale > 0 {
                    let delay = i128::from(e.segment_duration) * i128::from(timescale)
                        / i128::from(movie_timescale);
                    offset = offset.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
                }
            }
            Some(t) => {
                media_edits += 1;
                if media_edits == 1 {
                    offset = offset.saturating_sub(i64::try_from(t).unwrap_or(i64::MAX));
                }
            }
        }
    }
    if media_edits > 1 {
        warnings.push(format!(
            "{label}: edit list has {media_edits} media edits; only the first is applied"
        ));
    }
    // An edit that shifts by more than a day is damage, not intent.
    let limit = 86_400 * i64::from(timescale);
    if offset.abs() > limit {
        warnings.push(format!(
            "{label}: edit list offset {offset} ignored (out of range)"
        ));
        return 0;
    }
    offset
}

/// Turns a `moov` box (its whole bytes, header included) into index tracks. `stream` and
/// `object` tag the tracks and samples; `file_size` bounds every sample.
pub fn parse_moov(
    moov: &[u8],
    stream: u32,
    object: u32,
    file_size: u64,
    limits: &Limits,
) -> Result<Mp4Tracks, MediaError> {
    let moov = tree::decode_moov(moov)?;
    let mut out = Mp4Tracks::default();
    let mut labels = Vec::new();
    for trak in &moov.trak {
        let handler: [u8; 4] = trak.mdia.hdlr.handler.into();
        let label = format!(
            "track {} ({})",
            trak.tkhd.track_id,
            String::from_utf8_lossy(&handler)
        );
        if !matches!(&handler, b"vide" | b"soun") {
            out.warnings
                .push(format!("{label}: not audio or video; ignored"));
            continue;
        }
        let codecs = &trak.mdia.minf.stbl.stsd.codecs;
        let entry = match codecs.as_slice() {
            [one] => one,
            [] => {
                return Err(MediaError::Corrupt(format!(
                    "{label}: no sample description"
                )));
            }
            _ => {
                return Err(MediaError::Unsupported(format!(
                    "{label}: {} sample descriptions in one track",
                    codecs.len()
                )));
            }
        };
        let info = codec_info(entry, &label)?;
        let timescale = trak.mdia.mdhd.timescale;
        if timescale == 0 {
            return Err(MediaError::Corrupt(format!("{label}: timescale is 0")));
        }
        let (samples, last_delta) = samples(trak, object, file_size, limits, &label)?;
        if samples.is_empty() {
            out.warnings.push(format!("{label}: no samples; ignored"));
            continue;
        }
        let presentation_offset = presentation_offset(
            trak,
            moov.mvhd.timescale,
            timescale,
            &mut out.warnings,
            &label,
        );
        let language = Some(trak.mdia.mdhd.language.clone())
            .filter(|l| l.len() == 3 && l != "und" && l.chars().all(|c| c.is_ascii_lowercase()));
        let (mut width, mut height) = (info.width, info.height);
        if width == 0 || height == 0 {
            width = u32::from(trak.tkhd.width.integer());
            height = u32::from(trak.tkhd.height.integer());
        }
        let mut track = Track {
            codec: info.codec,
            fourcc: info.fourcc,
            codec_config: info.config,
            codec_string: info.codec_string,
            language,
            name: None,
            stream,
            timescale,
            presentation_offset,
            last_sample_duration: last_delta,
            width,
            height,
            frame_rate: None,
            channels: info.channels,
            sample_rate: if info.sample_rate > 0 {
                info.sample_rate
            } else {
                timescale
            },
            ts_pid: 0,
            avg_bitrate: 0,
            peak_bitrate: 0,
            samples,
        };
        if track.codec == Codec::H264 || track.codec == Codec::H265 {
            track.frame_rate = frame_rate(trak, &track);
        }
        track.compute_bitrates();
        out.tracks.push(track);
        labels.push(label);
    }
    check_overlaps(&out.tracks, &labels)?;
    if out.tracks.len() > limits.max_tracks_per_stream {
        return Err(MediaError::Limit(format!(
            "the file has {} tracks, more than {} per ingest stream",
            out.tracks.len(),
            limits.max_tracks_per_stream
        )));
    }
    if out.tracks.is_empty() {
        return Err(MediaError::Unsupported(
            "the file has no audio or video track".into(),
        ));
    }
    Ok(out)
}

/// Refuses sample tables whose samples share bytes, within a track or with another track of
/// the same file: one of them is read from the wrong place, and a packager must not serve
/// it. One sort of (offset, end) spans, so about a second for a million samples at worst.
fn check_overlaps(tracks: &[Track], labels: &[String]) -> Result<(), MediaError> {
    let total: usize = tracks.iter().map(|t| t.samples.len()).sum();
    let mut spans: Vec<(u64, u64, u32, u32)> = Vec::with_capacity(total);
    for (ti, t) in tracks.iter().enumerate() {
        let s = &t.samples;
        for i in 0..s.len() {
            if s.size[i] > 0 {
                spans.push((
                    s.offset[i],
                    s.offset[i] + u64::from(s.size[i]),
                    ti as u32,
                    i as u32,
                ));
            }
        }
    }
    spans.sort_unstable_by_key(|s| (s.0, s.1));
    let label = |ti: u32| labels.get(ti as usize).map_or("?", String::as_str);
    // The span reaching furthest so far: any later start before its end overlaps it.
    let mut reach: Option<(u64, u64, u32, u32)> = None;
    for &span in &spans {
        if let Some(r) = reach {
            if span.0 < r.1 {
                return Err(MediaError::Corrupt(format!(
                    "{} sample {} (bytes {}..{}) overlaps {} sample {} (bytes {}..{}): the sample tables place two samples on the same bytes",
                    label(span.2),
                    span.3 + 1,
                    span.0,
                    span.1,
                    label(r.2),
                    r.3 + 1,
                    r.0,
                    r.1
                )));
            }
            if span.1 > r.1 {
                reach = Some(span);
            }
        } else {
            reach = Some(span);
        }
    }
    Ok(())
}

fn frame_rate(trak: &Trak, track: &Track) -> Option<(u32, u32)> {
    let entries = &trak.mdia.minf.stbl.stts.entries;
    let ts = u64::from(track.timescale);
    // Constant frame rate: one delta for (almost) all samples.
    let main = entries.iter().max_by_key(|e| e.sample_count)?;
    if main.sample_delta > 0 && u64::from(main.sample_count) * 10 >= track.samples.len() as u64 * 9
    {
        let d = u64::from(main.sample_delta);
        let g = gcd(ts, d);
        return Some(((ts / g) as u32, (d / g) as u32));
    }
    let dur = track.duration();
    if dur <= 0 {
        return None;
    }
    let fps_milli = (track.samples.len() as u64 * ts * 1000) / dur as u64;
    let g = gcd(fps_milli, 1000);
    Some(((fps_milli / g) as u32, (1000 / g) as u32))
}
