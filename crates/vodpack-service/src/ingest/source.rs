//! Reading a source into a [`MediaIndex`]: which format it is, which objects to read, and the
//! asset-level checks (stream counts, rendition alignment). The parsing itself is
//! vodpack-media's; this module does the ranged reads it needs.

use futures::StreamExt;
use vodpack_media::index::{MediaIndex, SourceKind, Track, TrackKind};
use vodpack_media::source::mp4::{self, Limits, TOP_LEVEL_HEADER_BYTES, TopLevel};
use vodpack_media::source::{hls, smil, srt, ts};
use vodpack_media::{MediaError, plan};

use crate::storage::{ObjectRef, Pinned, Storage, StorageError};

/// Largest manifest (SMIL, playlist) or subtitle file read.
pub const MAX_TEXT_BYTES: u64 = 16 * 1024 * 1024;
/// TS segments read ahead of the scan.
const SEGMENT_READ_AHEAD: usize = 4;
/// Largest TS segment read.
pub const MAX_SEGMENT_BYTES: u64 = 512 * 1024 * 1024;

/// Why an ingest failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{object}: {error}")]
    Media { object: String, error: MediaError },
    #[error("{0}")]
    Source(String),
    #[error("the ingest did not finish within {seconds} s")]
    Deadline { seconds: u64 },
}

impl IngestError {
    /// Whether the same ingest may succeed later (the store was slow or failing).
    pub fn is_transient(&self) -> bool {
        match self {
            IngestError::Storage(e) => e.is_transient(),
            IngestError::Deadline { .. } => true,
            _ => false,
        }
    }
}

fn media(obj: &ObjectRef, error: MediaError) -> IngestError {
    IngestError::Media {
        object: obj.key.clone(),
        error,
    }
}

/// Reads the top-level boxes of an MP4 until `moov`, then parses it.
pub async fn index_mp4(
    storage: &dyn Storage,
    obj: &ObjectRef,
    stream: u32,
    object: u32,
    limits: &Limits,
) -> Result<mp4::Mp4Tracks, IngestError> {
    let size = storage.size(obj).await?;
    // Most files have ftyp then moov (faststart) or ftyp, free, mdat, moov: a first read of
    // 64 KiB usually holds moov's header, and often moov itself.
    let prefix = if size == 0 {
        bytes::Bytes::new()
    } else {
        storage.read(obj, 0..size.min(64 * 1024)).await?
    };
    let mut pos = 0u64;
    loop {
        let header_end = (pos + TOP_LEVEL_HEADER_BYTES).min(size);
        let header = if pos >= size {
            bytes::Bytes::new()
        } else if header_end <= prefix.len() as u64 {
            prefix.slice(pos as usize..header_end as usize)
        } else {
            storage.read(obj, pos..header_end).await?
        };
        match mp4::next_top_level(&header, pos, size, limits).map_err(|e| media(obj, e))? {
            TopLevel::Next(next) => pos = next,
            TopLevel::Moov {
                offset,
                size: moov_size,
            } => {
                let end = offset + moov_size;
                let moov = if end <= prefix.len() as u64 {
                    prefix.slice(offset as usize..end as usize)
                } else {
                    storage.read(obj, offset..end).await?
                };
                return mp4::parse_moov(&moov, stream, object, size, limits)
                    .map_err(|e| media(obj, e));
            }
        }
    }
}

/// AWS's limit on ingest streams per asset.
fn check_streams(obj: &ObjectRef, streams: usize, limits: &Limits) -> Result<(), IngestError> {
    if streams > limits.max_streams {
        return Err(media(
            obj,
            MediaError::Limit(format!(
                "the source lists {streams} streams, more than {} allowed",
                limits.max_streams
            )),
        ));
    }
    Ok(())
}

fn ext(key: &str) -> String {
    key.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

/// Builds the index of the source named by `obj`.
pub async fn index_source(
    storage: &dyn Storage,
    obj: &ObjectRef,
    limits: &Limits,
) -> Result<MediaIndex, IngestError> {
    index_source_with_progress(storage, obj, limits, &mut |_| {}).await
}

/// [`index_source`], reporting the bytes of TS scanned so far (HLS sources are read whole).
///
/// Every object is read at one version (the first it is seen at; a change half-way fails the
/// ingest with [`StorageError::Changed`]), and the index records those versions.
pub async fn index_source_with_progress(
    storage: &dyn Storage,
    obj: &ObjectRef,
    limits: &Limits,
    progress: Progress<'_>,
) -> Result<MediaIndex, IngestError> {
    let pinned = Pinned::new(storage);
    let storage: &dyn Storage = &pinned;
    let mut index = match ext(&obj.key).as_str() {
        "smil" => index_smil(storage, obj, limits).await?,
        "m3u8" | "m3u" => index_hls(storage, obj, limits, progress).await?,
        _ => {
            let t = index_mp4(storage, obj, 0, 0, limits).await?;
            MediaIndex {
                source: SourceKind::Mp4,
                objects: vec![obj.key.clone()],
                versions: Vec::new(),
                tracks: t.tracks,
                warnings: t.warnings,
            }
        }
    };
    index.versions = pinned.versions(&obj.bucket, &index.objects).await?;
    Ok(index)
}

async fn index_smil(
    storage: &dyn Storage,
    obj: &ObjectRef,
    limits: &Limits,
) -> Result<MediaIndex, IngestError> {
    let text = storage.read_small(obj, MAX_TEXT_BYTES).await?;
    let doc = smil::parse(&text).map_err(|e| media(obj, e))?;
    check_streams(obj, doc.videos.len() + doc.texts.len(), limits)?;
    let mut index = MediaIndex {
        source: SourceKind::Smil,
        objects: Vec::new(),
        versions: Vec::new(),
        tracks: Vec::new(),
        warnings: Vec::new(),
    };
    let mut names = Vec::new();
    for (i, v) in doc.videos.iter().enumerate() {
        let file = obj.resolve(&v.src)?;
        let object = index.objects.len() as u32;
        index.objects.push(file.key.clone());
        names.push(v.src.clone());
        let found = index_mp4(storage, &file, i as u32, object, limits).await?;
        index.warnings.extend(
            found
                .warnings
                .into_iter()
                .map(|w| format!("{}: {w}", v.src)),
        );
        let mut audio_n = 0;
        for mut t in found.tracks {
            if t.codec.kind() == TrackKind::Audio {
                let j = audio_n;
                audio_n += 1;
                if !v.includes_audio(j) {
                    continue;
                }
                if let Some(lang) = v.languages.get(j).filter(|l| !l.is_empty()) {
                    t.language = Some(lang.clone());
                }
                t.name = v.audio_names.get(j).cloned().filter(|n| !n.is_empty());
            } else if let Some(lang) = v.languages.first() {
                t.language.get_or_insert_with(|| lang.clone());
            }
            index.tracks.push(t);
        }
    }
    for (k, t) in doc.texts.iter().enumerate() {
        let file = obj.resolve(&t.src)?;
        let bytes = storage.read_small(&file, MAX_TEXT_BYTES).await?;
        let object = index.objects.len() as u32;
        index.objects.push(file.key.clone());
        names.push(t.src.clone());
        let stream = (doc.videos.len() + k) as u32;
        let track: Track = srt::track(&bytes, object, stream, t.language.clone(), t.name.clone())
            .map_err(|e| media(&file, e))?;
        index.tracks.push(track);
    }
    plan::check_alignment(&index, &names).map_err(|e| media(obj, e))?;
    Ok(index)
}

/// Progress of an HLS scan: bytes of TS read so far.
pub type Progress<'a> = &'a mut (dyn FnMut(u64) + Send);

/// Indexes an HLS parent playlist with MPEG-TS media playlists: every variant's video, the
/// first variant's muxed audio, and every separate audio rendition.
pub async fn index_hls(
    storage: &dyn Storage,
    obj: &ObjectRef,
    limits: &Limits,
    progress: Progress<'_>,
) -> Result<MediaIndex, IngestError> {
    let text = storage.read_small(obj, MAX_TEXT_BYTES).await?;
    let parent = hls::parse_parent(&text).map_err(|e| media(obj, e))?;
    check_streams(
        obj,
        parent.variants.len() + parent.audio.len() + parent.subtitles.len(),
        limits,
    )?;
    let mut index = MediaIndex {
        source: SourceKind::HlsTs,
        objects: Vec::new(),
        versions: Vec::new(),
        tracks: Vec::new(),
        warnings: parent.warnings.clone(),
    };
    let mut names = Vec::new();
    let mut scanned = 0u64;
    let mut object_ids: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    let renditions = parent
        .variants
        .iter()
        .map(|r| (r, true))
        .chain(parent.audio.iter().map(|r| (r, false)));
    for (stream, (rendition, is_variant)) in renditions.enumerate() {
        let playlist = if rendition.uri.is_empty() {
            obj.clone()
        } else {
            obj.resolve(&rendition.uri)?
        };
        let label = if rendition.uri.is_empty() {
            obj.key.clone()
        } else {
            rendition.uri.clone()
        };
        names.push(label.clone());
        let text = storage.read_small(&playlist, MAX_TEXT_BYTES).await?;
        let segments = hls::parse_media(&text).map_err(|e| media(&playlist, e))?;
        let mut scanner = ts::TsScanner::new(stream as u32, &label, limits.max_samples_per_track);
        let files = segments
            .iter()
            .map(|seg| playlist.resolve(&seg.uri))
            .collect::<Result<Vec<_>, _>>()?;
        // Segments are read a few at a time ahead of the scan (S3 round trips overlap), and
        // scanned strictly in playlist order.
        let jobs: Vec<(Option<(u64, u64)>, ObjectRef)> = segments
            .iter()
            .zip(&files)
            .map(|(seg, file)| (seg.range, file.clone()))
            .collect();
        let mut reads = futures::stream::iter(jobs.into_iter().map(|(range, file)| async move {
            match range {
                Some((start, len)) => storage
                    .read(&file, start..start + len)
                    .await
                    .map(|b| (start, b)),
                None => storage
                    .read_small(&file, MAX_SEGMENT_BYTES)
                    .await
                    .map(|b| (0, b)),
            }
        }))
        .buffered(SEGMENT_READ_AHEAD);
        let mut i = 0;
        while let Some(read) = reads.next().await {
            let (base, bytes) = read?;
            let file = &files[i];
            i += 1;
            let object = match object_ids.get(&file.key) {
                Some(o) => *o,
                None => {
                    let o = index.objects.len() as u32;
                    index.objects.push(file.key.clone());
                    object_ids.insert(file.key.clone(), o);
                    o
                }
            };
            scanned += bytes.len() as u64;
            progress(scanned);
            scanner
                .feed(&bytes, object, base, &file.key)
                .map_err(|e| media(file, e))?;
        }
        index.warnings.append(&mut scanner.warnings);
        let tracks = scanner.finish().map_err(|e| media(&playlist, e))?;
        if tracks.len() > limits.max_tracks_per_stream {
            return Err(media(
                &playlist,
                MediaError::Limit(format!(
                    "{} tracks, more than {} per ingest stream",
                    tracks.len(),
                    limits.max_tracks_per_stream
                )),
            ));
        }
        for mut t in tracks {
            match t.codec.kind() {
                TrackKind::Audio if is_variant && stream > 0 => continue,
                TrackKind::Audio => {
                    t.language = rendition.language.clone();
                    t.name = rendition.name.clone();
                }
                _ => {}
            }
            index.tracks.push(t);
        }
    }
    for (k, rendition) in parent.subtitles.iter().enumerate() {
        let stream = (parent.variants.len() + parent.audio.len() + k) as u32;
        let track = index_webvtt(
            storage,
            obj,
            rendition,
            stream,
            &mut index.objects,
            &mut object_ids,
        )
        .await?;
        names.push(rendition.uri.clone());
        index.tracks.push(track);
    }
    ts::rebase(&mut index.tracks);
    plan::check_alignment(&index, &names).map_err(|e| media(obj, e))?;
    Ok(index)
}

/// A WebVTT subtitle rendition: every segment's cues, placed on the MPEG-TS clock by its
/// `X-TIMESTAMP-MAP` (cues repeated in consecutive segments are kept once).
async fn index_webvtt(
    storage: &dyn Storage,
    parent: &ObjectRef,
    rendition: &hls::Rendition,
    stream: u32,
    objects: &mut Vec<String>,
    object_ids: &mut std::collections::HashMap<String, u32>,
) -> Result<Track, IngestError> {
    let playlist = parent.resolve(&rendition.uri)?;
    let text = storage.read_small(&playlist, MAX_TEXT_BYTES).await?;
    let segments = hls::parse_media(&text).map_err(|e| media(&playlist, e))?;
    let mut cues = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for seg in &segments {
        let file = playlist.resolve(&seg.uri)?;
        let bytes = storage.read_small(&file, MAX_TEXT_BYTES).await?;
        let (found, map) = srt::parse_vtt(&bytes).map_err(|e| media(&file, e))?;
        // Cue times are local; the map says which MPEG-TS time (90 kHz) local time `local_ms`
        // is. Without a map, local time is taken as MPEG-TS time 0.
        let shift_ms = map.map_or(0, |m| m.mpegts / 90 - m.local_ms);
        let object = *object_ids.entry(file.key.clone()).or_insert_with(|| {
            objects.push(file.key.clone());
            (objects.len() - 1) as u32
        });
        for mut c in found {
            c.start += shift_ms;
            c.end += shift_ms;
            let text = bytes
                .get(c.text_offset..c.text_offset + c.text_len)
                .unwrap_or_default()
                .to_vec();
            if seen.insert((c.start, c.end, text)) {
                cues.push((object, c));
            }
        }
    }
    Ok(srt::text_track(
        vodpack_media::index::Codec::WebVtt,
        srt::samples_from_cues(cues),
        stream,
        rendition.language.clone(),
        rendition.name.clone(),
    ))
}
