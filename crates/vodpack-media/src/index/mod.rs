//! The packaging index: everything egress needs to cut any segment of an asset without reading
//! the source's metadata again.
//!
//! Written by hand because it is the core data structure of the packager: per track the codec
//! and its configuration record, and per sample where its bytes are (object, offset, size) and
//! when it plays (decode time, composition offset, key-frame flag). Samples are stored as
//! columns so a 2-hour ladder of ~1M samples stays in tens of megabytes and segment lookups are
//! binary searches. [`encode`] / [`decode`] give the compact, versioned binary form stored with
//! the asset.

mod codec;

pub use codec::{FORMAT_VERSION, decode, encode};

/// What the source of an asset was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A `.smil` listing MP4 renditions (and SRT subtitles).
    Smil,
    /// An HLS parent playlist with MPEG-TS media playlists.
    HlsTs,
    /// A single MP4 file.
    Mp4,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    Video,
    Audio,
    Subtitle,
}

/// Codecs the packager knows how to carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    H264,
    H265,
    Aac,
    Ac3,
    Eac3,
    /// SubRip text; each sample is one cue's text.
    Srt,
    /// WebVTT text; each sample is one cue's text.
    WebVtt,
}

impl Codec {
    pub fn kind(self) -> TrackKind {
        match self {
            Codec::H264 | Codec::H265 => TrackKind::Video,
            Codec::Aac | Codec::Ac3 | Codec::Eac3 => TrackKind::Audio,
            Codec::Srt | Codec::WebVtt => TrackKind::Subtitle,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::H264 => "h264",
            Codec::H265 => "h265",
            Codec::Aac => "aac",
            Codec::Ac3 => "ac-3",
            Codec::Eac3 => "e-ac-3",
            Codec::Srt => "srt",
            Codec::WebVtt => "webvtt",
        }
    }
}

/// Per-sample columns of one track. All vectors have the same length; times are in the track's
/// timescale.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Samples {
    /// Index into [`MediaIndex::objects`] of the object holding the sample.
    pub object: Vec<u32>,
    /// Byte offset of the sample in its object.
    pub offset: Vec<u64>,
    /// Size in bytes.
    pub size: Vec<u32>,
    /// Decode timestamp, non-decreasing.
    pub dts: Vec<i64>,
    /// Composition offset (PTS − DTS).
    pub cts_offset: Vec<i32>,
    /// Random-access point (IDR / sync sample).
    pub keyframe: Vec<bool>,
    /// MPEG-TS sources only (empty otherwise): the sample's bytes start this many bytes into
    /// the concatenated payloads of its PID's packets, counted from the packet at `offset`.
    pub skip: Vec<u32>,
}

impl Samples {
    pub fn len(&self) -> usize {
        self.dts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dts.is_empty()
    }

    pub fn push(
        &mut self,
        object: u32,
        offset: u64,
        size: u32,
        dts: i64,
        cts_offset: i32,
        keyframe: bool,
    ) {
        self.object.push(object);
        self.offset.push(offset);
        self.size.push(size);
        self.dts.push(dts);
        self.cts_offset.push(cts_offset);
        self.keyframe.push(keyframe);
    }

    /// Whether all columns have the same length (decoded indexes are checked with this).
    pub fn consistent(&self) -> bool {
        let n = self.dts.len();
        self.object.len() == n
            && self.offset.len() == n
            && self.size.len() == n
            && self.cts_offset.len() == n
            && self.keyframe.len() == n
            && (self.skip.is_empty() || self.skip.len() == n)
    }
}

/// One elementary stream of the asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub codec: Codec,
    /// Sample entry four-character code of the source (`avc1`, `hvc1`, `mp4a`, …).
    pub fourcc: [u8; 4],
    /// The codec configuration record: AVCDecoderConfigurationRecord, HEVCDecoderConfiguration-
    /// Record, AudioSpecificConfig, or the `dac3`/`dec3` payload. Empty for text.
    pub codec_config: Vec<u8>,
    /// RFC 6381 codec string (`avc1.64001f`, `mp4a.40.2`, `ec-3`, …).
    pub codec_string: String,
    /// ISO 639-2/T language, when known.
    pub language: Option<String>,
    /// Human name (SMIL `audioName` / `subtitleName`, HLS `NAME`).
    pub name: Option<String>,
    /// Which source stream (SMIL entry, HLS variant, MP4 file) the track came from, from 0.
    pub stream: u32,
    pub timescale: u32,
    /// Add to `dts + cts_offset` to get the presentation time (edit lists, priming).
    pub presentation_offset: i64,
    /// Duration of the last sample (the others follow from the decode times).
    pub last_sample_duration: u32,
    pub width: u32,
    pub height: u32,
    /// Frames per second as a fraction, video only.
    pub frame_rate: Option<(u32, u32)>,
    pub channels: u32,
    pub sample_rate: u32,
    /// MPEG-TS PID the track was read from (0 for MP4 and text sources).
    pub ts_pid: u16,
    /// Bits per second over the whole track.
    pub avg_bitrate: u64,
    /// Largest bits per second over any one-second window (at key-frame granularity for video).
    pub peak_bitrate: u64,
    pub samples: Samples,
}

impl Track {
    /// Whether the samples are stored in MPEG-TS packets (an HLS-TS source): their bytes are
    /// gathered from packet payloads, and they are already in elementary-stream form (Annex B
    /// video, ADTS AAC).
    pub fn in_ts(&self) -> bool {
        self.ts_pid != 0
    }

    /// Total duration in timescale units.
    pub fn duration(&self) -> i64 {
        match (self.samples.dts.first(), self.samples.dts.last()) {
            (Some(first), Some(last)) => last - first + i64::from(self.last_sample_duration),
            _ => 0,
        }
    }

    pub fn duration_seconds(&self) -> f64 {
        if self.timescale == 0 {
            0.0
        } else {
            self.duration() as f64 / f64::from(self.timescale)
        }
    }

    /// Presentation time of sample `i`, in timescale units.
    pub fn pts(&self, i: usize) -> i64 {
        // Saturating: a damaged stored index must not overflow (clamped times are refused or
        // written as nonsense, never a panic).
        self.samples.dts[i]
            .saturating_add(i64::from(self.samples.cts_offset[i]))
            .saturating_add(self.presentation_offset)
    }

    /// Presentation times of the key frames, in seconds.
    pub fn keyframe_times(&self) -> Vec<f64> {
        let ts = f64::from(self.timescale.max(1));
        (0..self.samples.len())
            .filter(|i| self.samples.keyframe[*i])
            .map(|i| self.pts(i) as f64 / ts)
            .collect()
    }

    /// Fills `avg_bitrate` and `peak_bitrate` from the samples.
    pub fn compute_bitrates(&mut self) {
        let secs = self.duration_seconds();
        let total: u64 = self.samples.size.iter().map(|s| u64::from(*s)).sum();
        self.avg_bitrate = if secs > 0.0 {
            (total as f64 * 8.0 / secs).round() as u64
        } else {
            0
        };
        // Peak: bytes in each one-second window of decode time, windows aligned to whole seconds.
        let ts = i64::from(self.timescale.max(1));
        let mut peak = 0u64;
        let mut window_start = i64::MIN;
        let mut bytes = 0u64;
        for i in 0..self.samples.len() {
            let sec = self.samples.dts[i].div_euclid(ts);
            if sec != window_start {
                peak = peak.max(bytes * 8);
                window_start = sec;
                bytes = 0;
            }
            bytes += u64::from(self.samples.size[i]);
        }
        peak = peak.max(bytes * 8);
        self.peak_bitrate = peak.max(self.avg_bitrate);
    }
}

/// Which version of a source object an index describes: its size and a tag the storage
/// backend gives it (local files: inode and modification time; S3: the ETag). Egress refuses
/// to read an object whose version differs, so an index never cuts another file's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectVersion {
    pub size: u64,
    pub tag: String,
}

/// The index of a whole asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaIndex {
    pub source: SourceKind,
    /// Object keys (within the source bucket) that samples point into.
    pub objects: Vec<String>,
    /// The version of each object when it was indexed, in the order of `objects`; empty when
    /// not recorded (indexes built in memory, e.g. by tests and benches), which egress takes
    /// as "do not check".
    pub versions: Vec<ObjectVersion>,
    pub tracks: Vec<Track>,
    /// Things worth telling the operator that did not stop ingest.
    pub warnings: Vec<String>,
}

impl MediaIndex {
    pub fn sample_count(&self) -> usize {
        self.tracks.iter().map(|t| t.samples.len()).sum()
    }

    /// Duration of the longest track, in seconds.
    pub fn duration_seconds(&self) -> f64 {
        self.tracks
            .iter()
            .map(Track::duration_seconds)
            .fold(0.0, f64::max)
    }
}
