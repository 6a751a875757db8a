//! Source bytes of the samples an output needs, read for the packaging chain (which says
//! what it needs: `vodpack_media::package::chain::spans`). From a local file whose bytes are
//! in the page cache, they are slices of its mapping ([`SourceFile`]): nothing is copied or
//! read ahead of use. Otherwise (S3, or a cold local file) in as few ranged reads as possible:
//! spans of one object closer than [`MAX_GAP`] share a read (a SMIL rendition's video and
//! audio sit in one MP4; an HLS-TS variant's video and audio in the same TS segment), farther
//! ones get their own, so an audio fragment does not read the video interleaved between its
//! samples.
//!
//! Whoever uses the bytes calls [`Read::intact`] once done with them: a mapped file truncated
//! meanwhile reads as zeros, and what was made from them must be thrown away.
//!
//! Every object is checked to be the version the index describes (the open file's inode,
//! modification time and size; `If-Match` on S3) before any byte of it is used: an index
//! never cuts another file's bytes. A mismatch fails the request with
//! [`EgressError::source_changed`] set, which starts a re-ingest.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use vodpack_media::index::MediaIndex;
use vodpack_media::package::SourceBytes;
use vodpack_media::package::chain::source_bytes::{TO_END, spans};

use super::EgressError;
use super::error::Failure;
use crate::storage::{ObjectRef, ObjectVersion, SourceFile, Storage, StorageError, check_version};

/// Bytes between two samples of one object worth reading through rather than issuing another
/// read.
const MAX_GAP: u64 = 64 << 10;

/// Where an asset's source objects are: the store and the bucket (the index names keys).
#[derive(Clone)]
pub struct Sources {
    pub storage: Arc<dyn Storage>,
    pub bucket: String,
}

/// The bytes read for some samples, and the mapped files some of them are slices of.
pub struct Read {
    pub bytes: SourceBytes,
    mapped: Vec<Arc<SourceFile>>,
}

/// A storage failure as a client sees it, with the kind of failure (the details, which may
/// name endpoints and paths, go to the log): a missing object 404; a changed one 503 with
/// `Retry-After` and a re-ingest; a slow or failing store 503 with `Retry-After`; a refused,
/// invalid or oversized object 502 (see [`super::error`]).
pub fn storage_failed(e: StorageError) -> EgressError {
    tracing::warn!(error = %e, "egress cannot read a source object");
    let message = format!("cannot read the source: {}", e.public_reason());
    match &e {
        StorageError::NotFound { .. } => EgressError::new(Failure::SourceMissing, message),
        StorageError::Changed { .. } => EgressError::source_changed(message, Some(e.to_string())),
        StorageError::TimedOut { .. } | StorageError::Backend { .. } => {
            EgressError::unavailable(message)
        }
        StorageError::InvalidKey { .. }
        | StorageError::TooLarge { .. }
        | StorageError::Denied { .. } => EgressError::new(Failure::DamagedSource, message),
    }
}

impl Sources {
    /// Reads every sample of `ranges` (track index, sample range).
    pub async fn read(
        &self,
        index: &MediaIndex,
        ranges: &[(usize, Range<usize>)],
    ) -> Result<Read, EgressError> {
        let storage = self.storage.as_ref();
        let wanted = spans(index, ranges)?;
        let mut reads = Vec::new();
        let mut buffers: Vec<Vec<(u64, Bytes)>> = vec![Vec::new(); index.objects.len()];
        let mut mapped = Vec::new();
        for (o, (key, mut spans)) in index.objects.iter().zip(wanted).enumerate() {
            if spans.is_empty() {
                continue;
            }
            let o = o as u32;
            let obj = ObjectRef::new(&self.bucket, key).map_err(EgressError::bug)?;
            let expect: Option<&ObjectVersion> = index.versions.get(o as usize);
            // The whole span as one slice of the mapping, when it is there and cached.
            if let Some(file) = storage.local_file(&obj) {
                if let Some(expected) = expect {
                    let found = file.version().map_err(|e| {
                        tracing::warn!(error = %e, "egress cannot check a source file");
                        EgressError::unavailable("cannot check the source; try again")
                    })?;
                    check_version(&obj, expected, &found).map_err(storage_failed)?;
                }
                let lo = spans.iter().map(|s| s.0).min().unwrap_or(0);
                let hi = spans
                    .iter()
                    .map(|s| s.1)
                    .max()
                    .unwrap_or(0)
                    .min(file.mapped_len());
                if lo < hi
                    && file.in_page_cache(&(lo..hi))
                    && let Some(bytes) = file.slice(lo..hi)
                {
                    buffers[o as usize] = vec![(lo, bytes)];
                    mapped.push(file);
                    continue;
                }
            }
            spans.sort_unstable();
            let mut runs: Vec<(u64, u64)> = Vec::new();
            for (start, end) in spans {
                match runs.last_mut() {
                    Some(last) if start <= last.1.saturating_add(MAX_GAP) => {
                        last.1 = last.1.max(end)
                    }
                    _ => runs.push((start, end)),
                }
            }
            for (start, end) in runs {
                let obj = obj.clone();
                reads.push(async move {
                    let end = match (end, expect) {
                        (TO_END, Some(v)) => v.size,
                        (TO_END, None) => storage.size(&obj).await.map_err(storage_failed)?,
                        _ => end,
                    };
                    let bytes = storage
                        .read_checked(&obj, start..end.max(start), expect)
                        .await
                        .map_err(storage_failed)?;
                    Ok::<_, EgressError>((o, start, bytes))
                });
            }
        }
        for (o, start, bytes) in futures::future::try_join_all(reads).await? {
            buffers[o as usize].push((start, bytes));
        }
        Ok(Read {
            bytes: SourceBytes::new(buffers),
            mapped,
        })
    }
}

impl Read {
    /// Fails when a mapped file lost bytes while they were in use (truncated in place): what
    /// was made from them must not be served.
    pub fn intact(&self) -> Result<(), EgressError> {
        intact(&self.mapped)
    }

    /// The bytes, and what [`Read::intact`] checks (for a TS segment muxed as it is sent).
    pub fn into_parts(self) -> (SourceBytes, Vec<Arc<SourceFile>>) {
        (self.bytes, self.mapped)
    }
}

/// See [`Read::intact`].
pub fn intact(mapped: &[Arc<SourceFile>]) -> Result<(), EgressError> {
    if mapped.iter().all(|f| f.intact()) {
        Ok(())
    } else {
        // The next request finds the new version and starts a re-ingest.
        Err(EgressError::source_changed(
            "cannot read the source: the source file was truncated while being read; try again",
            None,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, e: EgressError) -> EgressError {
        assert_eq!(e.status().as_u16(), status, "{}", e.message);
        e
    }

    /// Each kind of storage failure has its status (see `egress/error.rs`).
    #[test]
    fn storage_failures_have_their_own_statuses() {
        let (bucket, key) = ("b".to_string(), "k".to_string());
        let e = err(
            404,
            storage_failed(StorageError::NotFound {
                bucket: bucket.clone(),
                key: key.clone(),
            }),
        );
        assert!(e.retry_after.is_none() && e.source_changed.is_none());
        let e = err(
            503,
            storage_failed(StorageError::Changed {
                bucket: bucket.clone(),
                key: key.clone(),
                detail: "size".into(),
            }),
        );
        assert!(e.retry_after.is_some() && e.source_changed.is_some());
        let e = err(
            503,
            storage_failed(StorageError::TimedOut {
                bucket: bucket.clone(),
                key: key.clone(),
                millis: 2000,
            }),
        );
        assert!(e.retry_after.is_some() && e.source_changed.is_none());
        let e = err(
            502,
            storage_failed(StorageError::Denied {
                bucket: bucket.clone(),
                key: key.clone(),
            }),
        );
        assert!(e.retry_after.is_none());
        assert!(!e.message.contains("s3://"), "{}", e.message);
    }
}
