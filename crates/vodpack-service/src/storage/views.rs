//! Views of a [`Storage`] that ingest reads through.
//!
//! - [`Pinned`] pins every object to the version it had when first touched: every later read
//!   of it is checked against that version, so an index describes one version of each object
//!   (a file replaced half-way through an ingest fails it instead of mixing two), and the
//!   versions are recorded in the index for egress to check against.
//! - [`Bounded`] puts a deadline on every call, so a store that goes silent fails an ingest
//!   with a reason instead of holding it forever.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::{ObjectRef, ObjectVersion, SourceFile, Storage, StorageError, within};

pub struct Pinned<'a> {
    inner: &'a dyn Storage,
    seen: Mutex<HashMap<ObjectRef, ObjectVersion>>,
}

impl<'a> Pinned<'a> {
    pub fn new(inner: &'a dyn Storage) -> Pinned<'a> {
        Pinned {
            inner,
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn known(&self, obj: &ObjectRef) -> Option<ObjectVersion> {
        self.seen.lock().ok().and_then(|m| m.get(obj).cloned())
    }

    /// The version `obj` is pinned to, stat-ing it the first time.
    async fn pin(&self, obj: &ObjectRef) -> Result<ObjectVersion, StorageError> {
        if let Some(v) = self.known(obj) {
            return Ok(v);
        }
        let v = self.inner.stat(obj).await?;
        if let Ok(mut m) = self.seen.lock() {
            return Ok(m.entry(obj.clone()).or_insert(v).clone());
        }
        Ok(v)
    }

    /// The pinned versions of `keys` (objects of `bucket`), in order: the index's `versions`.
    pub async fn versions(
        &self,
        bucket: &str,
        keys: &[String],
    ) -> Result<Vec<ObjectVersion>, StorageError> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.pin(&ObjectRef::new(bucket, key)?).await?);
        }
        Ok(out)
    }
}

#[async_trait]
impl Storage for Pinned<'_> {
    async fn stat(&self, obj: &ObjectRef) -> Result<ObjectVersion, StorageError> {
        self.pin(obj).await
    }

    async fn read_checked(
        &self,
        obj: &ObjectRef,
        range: Range<u64>,
        expect: Option<&ObjectVersion>,
    ) -> Result<Bytes, StorageError> {
        let pinned = self.pin(obj).await?;
        if let Some(expected) = expect {
            super::check_version(obj, &pinned, expected)?;
        }
        self.inner.read_checked(obj, range, Some(&pinned)).await
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// A storage whose every call fails with [`StorageError::TimedOut`] after `limit`.
pub struct Bounded {
    inner: Arc<dyn Storage>,
    limit: Duration,
}

impl Bounded {
    pub fn new(inner: Arc<dyn Storage>, limit: Duration) -> Bounded {
        Bounded { inner, limit }
    }
}

#[async_trait]
impl Storage for Bounded {
    async fn stat(&self, obj: &ObjectRef) -> Result<ObjectVersion, StorageError> {
        within(obj, self.limit, self.inner.stat(obj)).await
    }

    async fn read_checked(
        &self,
        obj: &ObjectRef,
        range: Range<u64>,
        expect: Option<&ObjectVersion>,
    ) -> Result<Bytes, StorageError> {
        within(obj, self.limit, self.inner.read_checked(obj, range, expect)).await
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn local_file(&self, obj: &ObjectRef) -> Option<Arc<SourceFile>> {
        self.inner.local_file(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::local::LocalStorage;

    #[tokio::test]
    async fn pinned_reads_refuse_a_replaced_object() {
        let dir = std::env::temp_dir().join(format!("vodpack-pinned-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("b")).unwrap();
        std::fs::write(dir.join("b/k"), b"first version").unwrap();
        let local = LocalStorage::new(&dir).unwrap();
        let pinned = Pinned::new(&local);
        let obj = ObjectRef::new("b", "k").unwrap();
        assert_eq!(pinned.read(&obj, 0..5).await.unwrap(), &b"first"[..]);
        // Replaced by rename, as the README advises: another inode.
        std::fs::write(dir.join("b/k.new"), b"second version!").unwrap();
        std::fs::rename(dir.join("b/k.new"), dir.join("b/k")).unwrap();
        // The local backend reuses a checked path for a moment; wait it out.
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let err = pinned.read(&obj, 0..5).await.unwrap_err();
        assert!(matches!(err, StorageError::Changed { .. }), "{err}");
        let versions = pinned.versions("b", &["k".to_string()]).await.unwrap();
        assert_eq!(versions[0].size, 13, "the pinned version is the first one");
        std::fs::remove_dir_all(&dir).ok();
    }
}
