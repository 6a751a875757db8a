//! The embedded default: each bucket is a folder, `<root>/<bucket>/<key>`. A newcomer copies
//! files in and creates an asset. Written on `std::fs` (positional reads on a blocking thread)
//! rather than object_store's LocalFileSystem so that the symlink-escape check and the error
//! mapping are ours.

use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;

use super::{ObjectRef, Storage, StorageError};

pub struct LocalStorage {
    root: PathBuf,
}

impl LocalStorage {
    /// Storage rooted at `root` (created if missing).
    pub fn new(root: &Path) -> std::io::Result<LocalStorage> {
        std::fs::create_dir_all(root)?;
        Ok(LocalStorage {
            root: root.to_path_buf(),
        })
    }

    /// The file of an object, after checking that it exists and is inside its bucket folder.
    fn path(&self, obj: &ObjectRef) -> Result<PathBuf, StorageError> {
        let not_found = || StorageError::NotFound {
            bucket: obj.bucket.clone(),
            key: obj.key.clone(),
        };
        // Keys were normalised by ObjectRef; build the path segment by segment all the same.
        let bucket_dir = self.root.join(&obj.bucket);
        let mut p = bucket_dir.clone();
        for seg in obj.key.split('/') {
            if seg.is_empty() || seg == "." || seg == ".." {
                return Err(StorageError::InvalidKey {
                    key: obj.key.clone(),
                    reason: "bad path segment",
                });
            }
            p.push(seg);
        }
        let real = std::fs::canonicalize(&p).map_err(|_| not_found())?;
        let real_bucket = std::fs::canonicalize(&bucket_dir).map_err(|_| not_found())?;
        if !real.starts_with(&real_bucket) {
            return Err(StorageError::Denied {
                bucket: obj.bucket.clone(),
                key: obj.key.clone(),
            });
        }
        if !real.is_file() {
            return Err(not_found());
        }
        Ok(real)
    }
}

fn backend(obj: &ObjectRef, e: impl std::fmt::Display) -> StorageError {
    StorageError::Backend {
        bucket: obj.bucket.clone(),
        key: obj.key.clone(),
        detail: e.to_string(),
    }
}

#[async_trait]
impl Storage for LocalStorage {
    async fn size(&self, obj: &ObjectRef) -> Result<u64, StorageError> {
        let path = self.path(obj)?;
        let meta = tokio::fs::metadata(&path)
            .await
            .map_err(|e| backend(obj, e))?;
        Ok(meta.len())
    }

    async fn read(&self, obj: &ObjectRef, range: Range<u64>) -> Result<Bytes, StorageError> {
        let path = self.path(obj)?;
        let len = usize::try_from(range.end.saturating_sub(range.start))
            .map_err(|_| backend(obj, "range too large"))?;
        let o = obj.clone();
        tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&path).map_err(|e| backend(&o, e))?;
            let mut buf = vec![0u8; len];
            file.read_exact_at(&mut buf, range.start).map_err(|e| {
                backend(
                    &o,
                    format!("reading bytes {}..{}: {e}", range.start, range.end),
                )
            })?;
            Ok(Bytes::from(buf))
        })
        .await
        .map_err(|e| backend(obj, e))?
    }

    fn describe(&self) -> String {
        format!(
            "local folder {} (one sub-folder per bucket)",
            self.root.display()
        )
    }
}
