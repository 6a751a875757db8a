//! What one output needs, independent of HTTP: the asset's index and segment plan, where its
//! source bytes are, the packaging configuration (as its validated [`PackageSpec`]) and which
//! of its manifests. The server builds
//! a [`Job`] per request; `vodpack package` builds one per manifest and asks for every file.

use std::sync::Arc;

use bytes::Bytes;
use vodpack_media::index::{MediaIndex, TrackKind};
use vodpack_media::package::PackageSpec;
use vodpack_media::package::spec::{StreamOrder, StreamSelection};
use vodpack_media::plan::Segmentation;

use super::EgressError;
use super::segments::TsSegment;
use crate::storage::Storage;

pub struct Job {
    pub storage: Arc<dyn Storage>,
    /// The bucket of the asset's source (index objects are keys in it).
    pub bucket: String,
    pub index: Arc<MediaIndex>,
    pub seg: Arc<Segmentation>,
    /// Asset creation time (RFC 3339): the origin of `EXT-X-PROGRAM-DATE-TIME`.
    pub created_at: String,
    /// The packaging configuration, validated, defaults applied.
    pub spec: Arc<PackageSpec>,
    /// Lengths of TS segments already worked out for this asset incarnation (its egress id):
    /// a repeat request muxes without the sizing pass.
    pub ts_lengths: Option<(super::segments::TsLengths, String)>,
    /// Position of the manifest in the configuration's list, and its name.
    pub manifest: usize,
    pub manifest_name: String,
}

/// How long a client or CDN may keep a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// Manifests: short-lived, so configuration changes show up.
    Manifest,
    /// Segments and init sections: immutable for the life of the asset.
    Media,
}

/// One output file.
pub struct Rendered {
    pub content_type: &'static str,
    pub caching: Caching,
    pub body: Body,
}

/// An output file's bytes.
pub enum Body {
    /// In one or more pieces, in order: segment payloads stay in the buffers (or source
    /// mappings) they were read into and go to the socket from there.
    Parts(Vec<Bytes>),
    /// Made as it is sent (MPEG-TS segments), its length known in advance.
    Stream(Box<TsSegment>),
}

impl Rendered {
    pub fn manifest(content_type: &'static str, body: impl Into<Bytes>) -> Rendered {
        Rendered {
            content_type,
            caching: Caching::Manifest,
            body: Body::Parts(vec![body.into()]),
        }
    }
    pub fn media(content_type: &'static str, body: impl Into<Bytes>) -> Rendered {
        Rendered::media_parts(content_type, vec![body.into()])
    }
    pub fn media_parts(content_type: &'static str, body: Vec<Bytes>) -> Rendered {
        Rendered {
            content_type,
            caching: Caching::Media,
            body: Body::Parts(body),
        }
    }
    pub fn media_stream(content_type: &'static str, body: TsSegment) -> Rendered {
        Rendered {
            content_type,
            caching: Caching::Media,
            body: Body::Stream(Box::new(body)),
        }
    }
    pub fn len(&self) -> u64 {
        self.body.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn into_bytes(self) -> Result<Bytes, EgressError> {
        self.body.into_bytes()
    }
}

impl Body {
    /// Bytes in the file.
    pub fn len(&self) -> u64 {
        match self {
            Body::Parts(parts) => parts.iter().map(|p| p.len() as u64).sum(),
            Body::Stream(s) => s.len,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The whole file as one buffer (copies only when it is in several pieces).
    pub fn into_bytes(self) -> Result<Bytes, EgressError> {
        match self {
            Body::Parts(parts) => Ok(concat(&parts)),
            Body::Stream(mut s) => {
                let mut out = Vec::with_capacity(s.len as usize);
                while let Some(chunk) = s.next_chunk() {
                    out.extend_from_slice(&chunk?);
                }
                Ok(Bytes::from(out))
            }
        }
    }
}

/// Pieces as one buffer (no copy for a single piece).
pub fn concat(parts: &[Bytes]) -> Bytes {
    match parts {
        [one] => one.clone(),
        parts => {
            let mut v = Vec::with_capacity(parts.iter().map(Bytes::len).sum());
            for p in parts {
                v.extend_from_slice(p);
            }
            Bytes::from(v)
        }
    }
}

/// The tracks a manifest presents, after its `streamSelection`: video renditions within the
/// bitrate bounds in the requested order; every audio and text track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Streams {
    pub videos: Vec<usize>,
    pub audios: Vec<usize>,
    pub texts: Vec<usize>,
}

pub fn select(index: &MediaIndex, sel: StreamSelection) -> Streams {
    let kind = |k: TrackKind| -> Vec<usize> {
        (0..index.tracks.len())
            .filter(|i| index.tracks[*i].codec.kind() == k)
            .collect()
    };
    let mut videos = kind(TrackKind::Video);
    let rate = |i: &usize| index.tracks[*i].avg_bitrate;
    let bounds = sel.min_video_bits_per_second..=sel.max_video_bits_per_second;
    videos.retain(|i| bounds.contains(&rate(i)));
    match sel.order {
        StreamOrder::VideoBitrateAscending => videos.sort_by_key(rate),
        StreamOrder::VideoBitrateDescending => videos.sort_by_key(|i| std::cmp::Reverse(rate(i))),
        StreamOrder::Original => {}
    }
    Streams {
        videos,
        audios: kind(TrackKind::Audio),
        texts: kind(TrackKind::Subtitle),
    }
}

impl Job {
    pub fn streams(&self) -> Streams {
        select(&self.index, self.spec.stream_selection(self.manifest))
    }

    /// A human name for a track in manifests: its SMIL/HLS name, else its language, else a
    /// numbered default.
    pub fn track_name(&self, t: usize, fallback: &str, n: usize) -> String {
        let track = &self.index.tracks[t];
        track
            .name
            .clone()
            .or_else(|| track.language.clone())
            .unwrap_or_else(|| format!("{fallback} {}", n + 1))
    }
}
