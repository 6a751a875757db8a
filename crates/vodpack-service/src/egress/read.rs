//! Source bytes of the samples an output needs. From a local file whose bytes are in the page
//! cache, they are slices of its mapping ([`SourceFile`]): nothing is copied or read ahead of
//! use. Otherwise (S3, or a cold local file) in as few ranged reads as possible: samples of
//! one object closer than [`MAX_GAP`] share a read (a SMIL rendition's video and audio sit in
//! one MP4; an HLS-TS variant's video and audio in the same TS segment), farther ones get their
//! own, so an audio fragment does not read the video interleaved between its samples.
//!
//! Whoever uses the bytes calls [`SampleBytes::intact`] once done with them: a mapped file
//! truncated meanwhile reads as zeros, and what was made from them must be thrown away.
//!
//! Every object is checked to be the version the index describes (the open file's inode,
//! modification time and size; `If-Match` on S3) before any byte of it is used: an index
//! never cuts another file's bytes. A mismatch fails the request with
//! [`EgressError::source_changed`] set, which starts a re-ingest.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use vodpack_media::index::{MediaIndex, Track};

use super::EgressError;
use super::error::Failure;
use crate::storage::{ObjectRef, ObjectVersion, SourceFile, Storage, StorageError, check_version};

/// A TS sample's payload may continue in the packet that holds the next sample's start.
const TS_PACKET: u64 = 188;

/// Bytes between two samples of one object worth reading through rather than issuing another
/// read.
const MAX_GAP: u64 = 64 << 10;

/// The bytes read for some samples: per object, (start offset, bytes) runs sorted by offset.
pub struct SampleBytes {
    /// Indexed by object number (the index's `objects`).
    buffers: Vec<Vec<(u64, Bytes)>>,
    /// The mapped files some buffers are slices of.
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

impl SampleBytes {
    /// Reads every sample of `ranges` (track index, sample range) from `bucket`.
    pub async fn read(
        storage: &dyn Storage,
        bucket: &str,
        index: &MediaIndex,
        ranges: &[(usize, Range<usize>)],
    ) -> Result<SampleBytes, EgressError> {
        // The byte spans each object must supply, by object number (a few objects, hundreds
        // of samples: no hashing per sample); u64::MAX = up to the end of the object.
        let mut wanted: Vec<Vec<(u64, u64)>> = vec![Vec::new(); index.objects.len()];
        for (t, r) in ranges {
            let track = &index.tracks[*t];
            let s = &track.samples;
            for i in r.clone() {
                let o = s.object[i];
                let start = s.offset[i];
                let end = if track.ts_pid == 0 {
                    start + u64::from(s.size[i])
                } else {
                    // The sample ends before the packet after the one holding the next sample
                    // of the same object; the last one of an object runs to its end.
                    match (s.object.get(i + 1), s.offset.get(i + 1)) {
                        (Some(next_o), Some(next)) if *next_o == o => {
                            (next + TS_PACKET).max(start + TS_PACKET)
                        }
                        _ => u64::MAX,
                    }
                };
                wanted
                    .get_mut(o as usize)
                    .ok_or_else(|| EgressError::bug("the index names no such object"))?
                    .push((start, end));
            }
        }
        let mut reads = Vec::new();
        let mut buffers: Vec<Vec<(u64, Bytes)>> = vec![Vec::new(); index.objects.len()];
        let mut mapped = Vec::new();
        for (o, (key, mut spans)) in index.objects.iter().zip(wanted).enumerate() {
            if spans.is_empty() {
                continue;
            }
            let o = o as u32;
            let obj = ObjectRef::new(bucket, key).map_err(EgressError::bug)?;
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
                        (u64::MAX, Some(v)) => v.size,
                        (u64::MAX, None) => storage.size(&obj).await.map_err(storage_failed)?,
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
        for runs in buffers.iter_mut() {
            runs.sort_unstable_by_key(|r| r.0);
        }
        Ok(SampleBytes { buffers, mapped })
    }

    /// Fails when a mapped file lost bytes while they were in use (truncated in place): what
    /// was made from them must not be served.
    pub fn intact(&self) -> Result<(), EgressError> {
        if self.mapped.iter().all(|f| f.intact()) {
            Ok(())
        } else {
            // The next request finds the new version and starts a re-ingest.
            Err(EgressError::source_changed(
                "cannot read the source: the source file was truncated while being read; try again",
                None,
            ))
        }
    }

    /// The bytes at addresses `start..end` as a shared slice of the read buffer holding them.
    fn slice_at(&self, start: usize, end: usize) -> Option<Bytes> {
        self.buffers.iter().flatten().find_map(|(_, buf)| {
            let base = buf.as_ptr() as usize;
            (start >= base && end <= base + buf.len()).then(|| buf.slice(start - base..end - base))
        })
    }

    /// `part` as a shared slice of the buffer it lies in, or a copy when it lies in none
    /// (bytes a filter made). Adjacent slices of one buffer can then be merged and sent
    /// without copying.
    pub fn share(&self, part: &[u8]) -> Bytes {
        let start = part.as_ptr() as usize;
        (!part.is_empty())
            .then(|| self.slice_at(start, start + part.len()))
            .flatten()
            .unwrap_or_else(|| Bytes::copy_from_slice(part))
    }

    /// `a` and `b` as one slice, when `b` continues `a` in the same read buffer.
    pub fn merge(&self, a: &Bytes, b: &Bytes) -> Option<Bytes> {
        let a_start = a.as_ptr() as usize;
        if a_start + a.len() != b.as_ptr() as usize {
            return None;
        }
        self.slice_at(a_start, b.as_ptr() as usize + b.len())
    }

    /// The buffer of object `o` that starts at or before byte `off`, and where it starts.
    fn run_at(&self, o: u32, off: u64) -> Result<(u64, &Bytes), EgressError> {
        let outside = || EgressError::bug("a sample outside the bytes read for it");
        let runs = self.buffers.get(o as usize).ok_or_else(outside)?;
        let at = runs.partition_point(|r| r.0 <= off);
        let (base, buf) = at
            .checked_sub(1)
            .and_then(|k| runs.get(k))
            .ok_or_else(outside)?;
        Ok((*base, buf))
    }

    /// Bytes `start..end` of object `o` as a shared slice of the buffer holding them.
    pub fn range(&self, o: u32, start: u64, end: u64) -> Result<Bytes, EgressError> {
        let (base, buf) = self.run_at(o, start)?;
        let from = (start - base) as usize;
        let to = usize::try_from(end - base).unwrap_or(usize::MAX);
        if from > to || to > buf.len() {
            return Err(EgressError::damaged(
                "the source is shorter than its index says",
            ));
        }
        Ok(buf.slice(from..to))
    }

    /// The stored bytes of sample `i` of `track` (borrowed for MP4 and text sources; TS
    /// samples are gathered from their packets' payloads).
    pub fn get<'a>(&'a self, track: &Track, i: usize) -> Result<Cow<'a, [u8]>, EgressError> {
        let s = &track.samples;
        let off = s.offset[i];
        let (base, buf) = self.run_at(s.object[i], off)?;
        let size = s.size[i];
        if track.ts_pid == 0 {
            let from = off
                .checked_sub(base)
                .ok_or_else(|| EgressError::bug("a sample outside the bytes read for it"))?
                as usize;
            return buf
                .get(from..from + size as usize)
                .map(Cow::Borrowed)
                .ok_or_else(|| EgressError::damaged("the source is shorter than its index says"));
        }
        vodpack_media::source::ts::read_sample(buf, base, track.ts_pid, off, s.skip[i], size)
            .map(Cow::Owned)
            .ok_or_else(|| EgressError::damaged("a TS sample runs past its segment"))
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

    /// Our own data disagreeing with itself is a bug: 500, not a 503 to retry.
    #[test]
    fn a_sample_outside_the_bytes_read_is_a_bug() {
        let none = SampleBytes {
            buffers: vec![Vec::new()],
            mapped: Vec::new(),
        };
        err(500, none.range(0, 0, 10).unwrap_err());
        err(500, none.range(7, 0, 10).unwrap_err());
        let short = SampleBytes {
            buffers: vec![vec![(100, Bytes::from_static(b"abcd"))]],
            mapped: Vec::new(),
        };
        assert_eq!(&short.range(0, 101, 103).unwrap()[..], b"bc");
        // The store gave fewer bytes than the index promises: the source, not us.
        err(502, short.range(0, 101, 200).unwrap_err());
    }
}
