//! Making one output file: the media crate's packaging chain plans it (what it is made from),
//! this module reads the source bytes the plan needs (under the egress deadline, versions
//! checked, [`read`](super::read)), and the chain makes it. An MPEG-TS segment is handed over
//! unmade, to be muxed a chunk at a time as it is sent ([`TsStream`]).

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{StreamExt, TryStreamExt};
use vodpack_media::package::chain::ts::{self, TsCut, TsSegment};
use vodpack_media::package::{self, Input, Need, OutputFile, Presentation};

use super::EgressError;
use super::read::{Sources, intact};
use super::rendered::{Caching, Rendered};
use crate::storage::SourceFile;

/// Lengths of TS segments by asset incarnation, segment duration, tracks, segment and cut:
/// outputs are deterministic, so the size-only pass (which walks every sample once more, a
/// cache miss or more each) runs once per segment, not per request.
pub type TsLengths = moka::future::Cache<String, u64>;

/// An MPEG-TS segment being muxed as it is sent, with the mapped files its bytes are slices
/// of (checked after every chunk: a file truncated meanwhile cuts the response off).
pub struct TsStream {
    segment: TsSegment,
    mapped: Vec<Arc<SourceFile>>,
}

impl TsStream {
    pub fn len(&self) -> u64 {
        self.segment.len
    }

    /// The next chunk; an error means the source changed under the segment: the response
    /// must be cut off.
    pub fn next_chunk(&mut self) -> Option<Result<Bytes, EgressError>> {
        let chunk = self.segment.next_chunk()?;
        Some(
            chunk
                .map_err(EgressError::from)
                .and_then(|b| intact(&self.mapped).map(|()| b)),
        )
    }
}

/// A presentation as egress renders it: where its sources are, and (for the server, not
/// `vodpack package`) the lengths of TS segments worked out before for this asset incarnation.
pub struct Renderer<'a> {
    pub sources: &'a Sources,
    pub presentation: &'a Presentation,
    /// The cache and the key of the asset incarnation × configuration in it.
    pub ts_lengths: Option<(&'a TsLengths, &'a str)>,
}

impl Renderer<'_> {
    /// Renders `file`.
    pub async fn render(&self, file: &OutputFile) -> Result<Rendered, EgressError> {
        let p = self.presentation;
        let caching = if file.is_manifest() {
            Caching::Manifest
        } else {
            Caching::Media
        };
        let plan = package::plan(p, file)?;
        let made = match &plan.need {
            Need::Index => package::make(p, &plan, Input::Index)?,
            Need::Samples(ranges) => {
                let read = self.sources.read(&p.index, ranges).await?;
                let made = package::make(p, &plan, Input::Samples(&read.bytes))?;
                read.intact()?;
                made
            }
            Need::Ts(cut) => {
                let segment = self.ts_segment(cut).await?;
                return Ok(Rendered::media_stream(ts::CONTENT_TYPE, segment));
            }
            Need::TsLengths(cuts) => {
                // A few at a time, in order.
                let lengths: Vec<_> = cuts.iter().map(|cut| self.ts_length(cut)).collect();
                let lengths: Vec<u64> = futures::stream::iter(lengths)
                    .buffered(8)
                    .try_collect()
                    .await?;
                package::make(p, &plan, Input::TsLengths(&lengths))?
            }
        };
        Ok(Rendered {
            content_type: made.content_type,
            caching,
            body: super::rendered::Body::Parts(made.body),
        })
    }

    fn length_key(&self, cut: &TsCut) -> Option<String> {
        self.ts_lengths
            .map(|(_, asset)| format!("{asset}/{}", cut.key(self.presentation)))
    }

    async fn known_length(&self, key: &Option<String>) -> Option<u64> {
        match (self.ts_lengths, key) {
            (Some((cache, _)), Some(key)) => cache.get(key).await,
            _ => None,
        }
    }

    /// The exact length of a TS cut: cached, or from the size-only pass.
    async fn ts_length(&self, cut: &TsCut) -> Result<u64, EgressError> {
        let key = self.length_key(cut);
        if let Some(len) = self.known_length(&key).await {
            return Ok(len);
        }
        Ok(self.ts_segment(cut).await?.len())
    }

    /// Reads a TS cut's samples and prepares it (its length from the cache, or worked out and
    /// cached).
    async fn ts_segment(&self, cut: &TsCut) -> Result<TsStream, EgressError> {
        let p = self.presentation;
        let ranges = cut.ranges(p)?;
        let key = self.length_key(cut);
        let known = self.known_length(&key).await;
        let (bytes, mapped) = self.sources.read(&p.index, &ranges).await?.into_parts();
        let segment = TsSegment::new(p, cut, bytes, known)?;
        if known.is_none()
            && let (Some((cache, _)), Some(key)) = (self.ts_lengths, key)
        {
            cache.insert(key, segment.len).await;
        }
        Ok(TsStream { segment, mapped })
    }
}
