//! The embedded default: each bucket is a folder, `<root>/<bucket>/<key>`. A newcomer copies
//! files in and creates an asset. Written on `std::fs` (ranged reads on a blocking thread)
//! rather than object_store's LocalFileSystem so that the symlink-escape check, the error
//! mapping, page-cache reads on the async worker and open, mapped files for egress are ours.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;

use super::mapped::version_of;
use super::{ObjectRef, ObjectVersion, SourceFile, Storage, StorageError, check_version};

/// How long a checked file path is reused. Resolving one follows every path component twice
/// (`canonicalize` of the file and of the bucket folder: a `readlink` per component), which
/// cost egress as much CPU as reading a small segment. A file replaced by a symlink in the
/// meantime is checked again after at most this long (reads of the path that was checked are
/// not affected: it has no symlinks left).
const RESOLVED_TTL: Duration = Duration::from_secs(2);
/// Most checked paths kept (the map is emptied when full: it refills at the next requests).
const RESOLVED_MAX: usize = 4096;

pub struct LocalStorage {
    root: PathBuf,
    resolved: Mutex<HashMap<ObjectRef, (PathBuf, Instant)>>,
    /// Open (and mapped) files of checked paths, reused for [`RESOLVED_TTL`] too: an `open`
    /// per read was a path walk per request. A file replaced or changed under its name is
    /// reopened after at most twice that (path check, then file); one truncated in place fails
    /// the reads and sends that need the missing bytes.
    files: Mutex<HashMap<ObjectRef, (Arc<SourceFile>, Instant)>>,
}

impl LocalStorage {
    /// Storage rooted at `root` (created if missing).
    pub fn new(root: &Path) -> std::io::Result<LocalStorage> {
        std::fs::create_dir_all(root)?;
        Ok(LocalStorage {
            root: root.to_path_buf(),
            resolved: Mutex::new(HashMap::new()),
            files: Mutex::new(HashMap::new()),
        })
    }

    /// The file of an object, after checking that it exists and is inside its bucket folder
    /// (checked at most [`RESOLVED_TTL`] ago).
    fn path(&self, obj: &ObjectRef) -> Result<PathBuf, StorageError> {
        let now = Instant::now();
        if let Ok(map) = self.resolved.lock()
            && let Some((path, at)) = map.get(obj)
            && now.duration_since(*at) < RESOLVED_TTL
        {
            return Ok(path.clone());
        }
        let real = self.check(obj)?;
        if let Ok(mut map) = self.resolved.lock() {
            if map.len() >= RESOLVED_MAX {
                map.clear();
            }
            map.insert(obj.clone(), (real.clone(), now));
        }
        Ok(real)
    }

    /// The object's file, open and mapped (checked at most [`RESOLVED_TTL`] ago). After that
    /// the same open file is kept if its path still names it unchanged, so its mapping (and
    /// the page-table entries the kernel filled in) lives on.
    fn open(&self, obj: &ObjectRef) -> Result<Arc<SourceFile>, StorageError> {
        let now = Instant::now();
        let previous = match self.files.lock() {
            Ok(map) => match map.get(obj) {
                Some((file, at)) if now.duration_since(*at) < RESOLVED_TTL => {
                    return Ok(file.clone());
                }
                Some((file, _)) => Some(file.clone()),
                None => None,
            },
            Err(_) => None,
        };
        let path = self.path(obj)?;
        let unchanged = previous.filter(|old| {
            std::fs::metadata(&path)
                .map(|meta| old.is(&meta))
                .unwrap_or(false)
        });
        let file = match unchanged {
            Some(old) => old,
            None => Arc::new(SourceFile::new(File::open(&path).map_err(|e| {
                self.forget(obj);
                io_error(obj, e)
            })?)),
        };
        if let Ok(mut map) = self.files.lock() {
            if map.len() >= RESOLVED_MAX {
                map.clear();
            }
            map.insert(obj.clone(), (file.clone(), now));
        }
        Ok(file)
    }

    /// Forgets a checked path and its open file (the file went away).
    fn forget(&self, obj: &ObjectRef) {
        if let Ok(mut map) = self.resolved.lock() {
            map.remove(obj);
        }
        if let Ok(mut map) = self.files.lock() {
            map.remove(obj);
        }
    }

    /// Resolves an object to its file and checks that it exists inside its bucket folder.
    fn check(&self, obj: &ObjectRef) -> Result<PathBuf, StorageError> {
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

/// An I/O error on a checked path: a file that went away since is not found.
fn io_error(obj: &ObjectRef, e: std::io::Error) -> StorageError {
    if e.kind() == std::io::ErrorKind::NotFound {
        StorageError::NotFound {
            bucket: obj.bucket.clone(),
            key: obj.key.clone(),
        }
    } else {
        backend(obj, e)
    }
}

fn backend(obj: &ObjectRef, e: impl std::fmt::Display) -> StorageError {
    StorageError::Backend {
        bucket: obj.bucket.clone(),
        key: obj.key.clone(),
        detail: e.to_string(),
    }
}

/// Reads `len` bytes at `offset` only if the page cache holds all of them (`preadv2` with
/// `RWF_NOWAIT`, Linux 4.14+): never waits for the disk, so it can run on an async worker.
/// `None` means "go the blocking way" (not cached, short, or not supported).
#[cfg(target_os = "linux")]
fn read_cached(file: &File, offset: u64, len: usize) -> Option<Bytes> {
    use std::os::fd::AsRawFd;
    if len == 0 || len > 64 << 20 {
        return None;
    }
    let mut buf: Vec<u8> = Vec::with_capacity(len);
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: len,
    };
    // SAFETY: the iovec points at `len` bytes of `buf`'s spare capacity, which outlives the
    // call; the kernel writes at most `len` bytes there, and only the count it returns is
    // marked initialised below.
    let n = unsafe {
        libc::preadv2(
            file.as_raw_fd(),
            &iov,
            1,
            i64::try_from(offset).ok()?,
            libc::RWF_NOWAIT,
        )
    };
    if n < 0 || n as usize != len {
        return None;
    }
    // SAFETY: the kernel initialised exactly `n == len` bytes.
    unsafe { buf.set_len(len) };
    Some(Bytes::from(buf))
}

#[cfg(not(target_os = "linux"))]
fn read_cached(_file: &File, _offset: u64, _len: usize) -> Option<Bytes> {
    None
}

#[async_trait]
impl Storage for LocalStorage {
    async fn stat(&self, obj: &ObjectRef) -> Result<ObjectVersion, StorageError> {
        let path = self.path(obj)?;
        let meta = tokio::fs::metadata(&path).await.map_err(|e| {
            self.forget(obj);
            io_error(obj, e)
        })?;
        Ok(version_of(&meta))
    }

    async fn read_checked(
        &self,
        obj: &ObjectRef,
        range: Range<u64>,
        expect: Option<&ObjectVersion>,
    ) -> Result<Bytes, StorageError> {
        let len = usize::try_from(range.end.saturating_sub(range.start))
            .map_err(|_| backend(obj, "range too large"))?;
        // Fast path: bytes already in the page cache (a warm origin's usual case) are read on
        // this task, without the thread hand-off of `spawn_blocking`.
        let open = self.open(obj)?;
        if let Some(expected) = expect {
            check_version(
                obj,
                expected,
                &open.version().map_err(|e| io_error(obj, e))?,
            )?;
        }
        if let Some(bytes) = read_cached(&open.file, range.start, len) {
            return Ok(bytes);
        }
        let path = self.path(obj)?;
        let o = obj.clone();
        let expect = expect.cloned();
        let read = tokio::task::spawn_blocking(move || {
            let mut file = std::fs::File::open(&path).map_err(|e| io_error(&o, e))?;
            // The path may name another file than the one checked above by now.
            if let Some(expected) = &expect {
                let meta = file.metadata().map_err(|e| io_error(&o, e))?;
                check_version(&o, expected, &version_of(&meta))?;
            }
            let short = |e: std::io::Error| {
                backend(
                    &o,
                    format!("reading bytes {}..{}: {e}", range.start, range.end),
                )
            };
            // Egress reads a segment's samples (about a megabyte) per request: `read_to_end`
            // fills the buffer's spare capacity without zeroing it first (`vec![0; len]` +
            // `read_exact_at` spent as long in memset as in the read itself). The file is
            // ours alone, so seeking it is as positional as `read_at`.
            file.seek(SeekFrom::Start(range.start)).map_err(short)?;
            let mut buf = Vec::with_capacity(len);
            file.take(len as u64).read_to_end(&mut buf).map_err(short)?;
            if buf.len() != len {
                return Err(short(std::io::ErrorKind::UnexpectedEof.into()));
            }
            Ok(Bytes::from(buf))
        })
        .await
        .map_err(|e| backend(obj, e))?;
        if let Err(StorageError::NotFound { .. }) = &read {
            self.forget(obj);
        }
        read
    }

    fn local_file(&self, obj: &ObjectRef) -> Option<Arc<SourceFile>> {
        self.open(obj).ok()
    }

    fn describe(&self) -> String {
        format!(
            "local folder {} (one sub-folder per bucket)",
            self.root.display()
        )
    }
}
