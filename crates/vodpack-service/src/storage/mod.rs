//! Where source media lives: one interface ([`Storage`]) over the embedded local folder and any
//! S3-compatible store. Media is never copied: ingest reads headers and indexes by range, and
//! egress reads sample ranges.
//!
//! An object is named as in `sourceArn`: a bucket and a key. [`ObjectRef::resolve`] joins a
//! key relative to another (SMIL and playlist entries) and refuses anything that would leave
//! the bucket: absolute paths, `..` past the root, empty or `.` segments, NUL and backslashes.
//! The local backend additionally checks, after following symlinks, that the file is still
//! under the bucket's folder.

pub mod local;
pub mod mapped;
pub mod s3;
pub mod views;

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

pub use mapped::SourceFile;
pub use views::{Bounded, Pinned};
pub use vodpack_media::index::ObjectVersion;

use async_trait::async_trait;
use bytes::Bytes;

/// A source object: bucket and key as in `arn:aws:s3:::BUCKET/KEY`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    #[error("object s3://{bucket}/{key} does not exist")]
    NotFound { bucket: String, key: String },
    #[error("invalid object key '{key}': {reason}")]
    InvalidKey { key: String, reason: &'static str },
    #[error("object s3://{bucket}/{key} is larger than {limit} bytes")]
    TooLarge {
        bucket: String,
        key: String,
        limit: u64,
    },
    #[error("access to s3://{bucket}/{key} was denied")]
    Denied { bucket: String, key: String },
    #[error("storage error reading s3://{bucket}/{key}: {detail}")]
    Backend {
        bucket: String,
        key: String,
        detail: String,
    },
    /// The object is not the version that was indexed (replaced, rewritten, resized).
    #[error("object s3://{bucket}/{key} changed since it was indexed ({detail})")]
    Changed {
        bucket: String,
        key: String,
        detail: String,
    },
    /// The store did not answer in time.
    #[error("the store did not answer for s3://{bucket}/{key} within {millis} ms")]
    TimedOut {
        bucket: String,
        key: String,
        millis: u128,
    },
}

impl StorageError {
    /// Whether trying again later may succeed (the store was slow or failing), as opposed to
    /// an answer about the object itself (missing, refused, changed).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StorageError::TimedOut { .. } | StorageError::Backend { .. }
        )
    }

    /// What a client may be told: the kind of failure, without endpoints, paths or backend
    /// messages (those go to the log).
    pub fn public_reason(&self) -> &'static str {
        match self {
            StorageError::NotFound { .. } => "a source object of this asset is missing",
            StorageError::InvalidKey { .. } => "a source object name is invalid",
            StorageError::TooLarge { .. } => "a source object is too large",
            StorageError::Denied { .. } => "access to a source object was denied",
            StorageError::Backend { .. } => "the media store failed",
            StorageError::Changed { .. } => {
                "the source of this asset changed since it was ingested; it is being ingested again"
            }
            StorageError::TimedOut { .. } => "the media store did not answer in time",
        }
    }
}

/// How long storage may take. Every read of the egress path and of ingest runs under these,
/// so a store that goes silent (not refusing: silent) costs a request seconds, not minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Connecting to the store (S3), per attempt.
    pub connect: Duration,
    /// Longest silence while waiting for or reading a response (S3), per attempt.
    pub read: Duration,
    /// Attempts after the first for a failed S3 request (within the deadlines below).
    pub retries: usize,
    /// One read of an egress request (they run together: a segment's samples are read at
    /// once): past it the request answers 503 with `Retry-After`. Ingest has its own
    /// (`IngestSettings::read_timeout`).
    pub egress: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(2),
            read: Duration::from_secs(3),
            retries: 2,
            egress: Duration::from_secs(5),
        }
    }
}

/// `fut` (a storage call about `obj`), or [`StorageError::TimedOut`] after `limit`.
pub async fn within<T>(
    obj: &ObjectRef,
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, StorageError>>,
) -> Result<T, StorageError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(StorageError::TimedOut {
            bucket: obj.bucket.clone(),
            key: obj.key.clone(),
            millis: limit.as_millis(),
        }),
    }
}

/// Fails with [`StorageError::Changed`] unless `found` is the version `expected`.
pub fn check_version(
    obj: &ObjectRef,
    expected: &ObjectVersion,
    found: &ObjectVersion,
) -> Result<(), StorageError> {
    if expected == found {
        return Ok(());
    }
    let detail = if expected.size != found.size {
        format!("{} bytes, indexed with {}", found.size, expected.size)
    } else {
        format!("version {}, indexed as {}", found.tag, expected.tag)
    };
    Err(StorageError::Changed {
        bucket: obj.bucket.clone(),
        key: obj.key.clone(),
        detail,
    })
}

impl ObjectRef {
    /// An object from a bucket and an absolute key, checked.
    pub fn new(bucket: &str, key: &str) -> Result<ObjectRef, StorageError> {
        Ok(ObjectRef {
            bucket: bucket.to_string(),
            key: normalize(key, key)?,
        })
    }

    /// The object at `relative` next to this one (`a/b.smil` + `c/d.mp4` = `a/c/d.mp4`).
    pub fn resolve(&self, relative: &str) -> Result<ObjectRef, StorageError> {
        if relative.starts_with('/') || relative.contains("://") {
            return Err(StorageError::InvalidKey {
                key: relative.to_string(),
                reason: "must be a path relative to the manifest",
            });
        }
        let dir = self.key.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let joined = if dir.is_empty() {
            relative.to_string()
        } else {
            format!("{dir}/{relative}")
        };
        Ok(ObjectRef {
            bucket: self.bucket.clone(),
            key: normalize(&joined, relative)?,
        })
    }
}

/// Lexically normalises a key, refusing anything that would leave the bucket.
fn normalize(key: &str, shown: &str) -> Result<String, StorageError> {
    let bad = |reason| StorageError::InvalidKey {
        key: shown.to_string(),
        reason,
    };
    if key.is_empty() || key.len() > 1024 {
        return Err(bad("must be 1 to 1024 bytes"));
    }
    if key.starts_with('/') {
        return Err(bad("absolute paths are not allowed"));
    }
    if key
        .chars()
        .any(|c| c == '\0' || c == '\\' || c.is_control())
    {
        return Err(bad("contains NUL, backslash or control characters"));
    }
    let mut out: Vec<&str> = Vec::new();
    for seg in key.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if out.pop().is_none() {
                    return Err(bad("'..' would leave the bucket"));
                }
            }
            s => out.push(s),
        }
    }
    if out.is_empty() {
        return Err(bad("names no object"));
    }
    Ok(out.join("/"))
}

/// Read access to source objects.
#[async_trait]
pub trait Storage: Send + Sync {
    /// The object's current version (size and backend tag).
    async fn stat(&self, obj: &ObjectRef) -> Result<ObjectVersion, StorageError>;
    /// The bytes in `range` (which must lie inside the object), refused with
    /// [`StorageError::Changed`] unless the object is still version `expect` (when given):
    /// checked on the open file for local sources, by `If-Match` on S3.
    async fn read_checked(
        &self,
        obj: &ObjectRef,
        range: Range<u64>,
        expect: Option<&ObjectVersion>,
    ) -> Result<Bytes, StorageError>;

    /// Size of the object in bytes.
    async fn size(&self, obj: &ObjectRef) -> Result<u64, StorageError> {
        Ok(self.stat(obj).await?.size)
    }
    /// The bytes in `range`, whatever the object's version.
    async fn read(&self, obj: &ObjectRef, range: Range<u64>) -> Result<Bytes, StorageError> {
        self.read_checked(obj, range, None).await
    }
    /// Human description for logs and start-up output.
    fn describe(&self) -> String;

    /// The object as an open, mapped local file, when this backend has one (`None` otherwise,
    /// errors included: the caller falls back to [`Storage::read`], which reports them).
    /// Egress reads sample bytes from the mapping instead of copying them into buffers.
    fn local_file(&self, _obj: &ObjectRef) -> Option<Arc<SourceFile>> {
        None
    }

    /// A whole small object (manifests, subtitles), refused past `limit` bytes.
    async fn read_small(&self, obj: &ObjectRef, limit: u64) -> Result<Bytes, StorageError> {
        let version = self.stat(obj).await?;
        let size = version.size;
        if size > limit {
            return Err(StorageError::TooLarge {
                bucket: obj.bucket.clone(),
                key: obj.key.clone(),
                limit,
            });
        }
        if size == 0 {
            return Ok(Bytes::new());
        }
        self.read_checked(obj, 0..size, Some(&version)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_in_the_bucket() {
        let smil = ObjectRef::new("b", "a/x/list.smil").unwrap();
        assert_eq!(smil.resolve("v.mp4").unwrap().key, "a/x/v.mp4");
        assert_eq!(smil.resolve("../v.mp4").unwrap().key, "a/v.mp4");
        assert_eq!(smil.resolve("./sub//v.mp4").unwrap().key, "a/x/sub/v.mp4");
        assert!(smil.resolve("../../../etc/passwd").is_err());
        assert!(smil.resolve("/etc/passwd").is_err());
        assert!(smil.resolve("s3://other/v.mp4").is_err());
        assert!(smil.resolve("a\\..\\b").is_err());
        assert!(smil.resolve("a\0b").is_err());
        // Percent signs are literal: "%2e%2e" is a file name, not "..".
        assert_eq!(
            smil.resolve("%2e%2e/v.mp4").unwrap().key,
            "a/x/%2e%2e/v.mp4"
        );
        assert!(ObjectRef::new("b", "../x").is_err());
        assert!(ObjectRef::new("b", "/x").is_err());
        assert!(ObjectRef::new("b", "x/..").is_err());
        assert_eq!(ObjectRef::new("b", "x/./y").unwrap().key, "x/y");
    }
}
