//! Read-only mappings of local source files, and what keeps a truncated one from killing the
//! server.
//!
//! Egress reads sample bytes straight from mapped page-cache pages: no `pread` copy into a
//! buffer, no page-cache lookups per request, no reading through the bytes of other tracks
//! interleaved between the samples it needs (which is how a warm origin spent a third of its
//! CPU). Written by hand (over memmap2's mapping) because no crate guards the one hazard: a
//! file truncated in place while mapped makes every later read of its lost pages raise
//! SIGBUS, whose default action ends the process.
//!
//! The guard: the first mapping installs a process-wide SIGBUS handler, and every mapping is
//! entered in a fixed table of address ranges. When a fault lands in a registered mapping,
//! the handler maps a page of zeros over the faulting page (the interrupted read then
//! completes, reading zeros) and marks the mapping damaged; readers call
//! [`SourceFile::intact`] after using the bytes and throw away what they made from a damaged
//! file, and storage reopens it. A fault anywhere else is handed to the handler that was
//! there before (Rust's stack-overflow report, then the default action), as if this module did
//! not exist. Kernel reads of a mapping (a socket sending these bytes) never raise SIGBUS:
//! the system call fails with EFAULT instead.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Once, OnceLock};

use bytes::Bytes;

/// Mappings registered at once. Storage keeps at most this many files open; a mapping that
/// finds no free slot is not made (reads then take the copying path).
const SLOTS: usize = 4096;

struct Slot {
    /// Start address; 0 = free, `usize::MAX` = being filled in.
    start: AtomicUsize,
    end: AtomicUsize,
    damaged: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const FREE: Slot = Slot {
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    damaged: AtomicBool::new(false),
};
static TABLE: [Slot; SLOTS] = [FREE; SLOTS];
static PAGE: AtomicUsize = AtomicUsize::new(4096);
static INSTALL: Once = Once::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The SIGBUS disposition before ours, restored for faults that are not ours.
struct Previous(libc::sigaction);
// SAFETY: written once before the handler is installed, only read afterwards.
unsafe impl Sync for Previous {}
unsafe impl Send for Previous {}
static PREVIOUS: OnceLock<Previous> = OnceLock::new();

extern "C" fn on_sigbus(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // Async-signal-safe only: atomics, mmap, sigaction.
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Relaxed);
    for slot in TABLE.iter() {
        let start = slot.start.load(Ordering::Acquire);
        if start == 0 || start == usize::MAX {
            continue;
        }
        if addr >= start && addr < slot.end.load(Ordering::Acquire) {
            let at = addr & !(page - 1);
            // SAFETY: replaces one page inside a live mapping of ours with anonymous zeros;
            // nothing else owns that address range.
            let r = unsafe {
                libc::mmap(
                    at as *mut libc::c_void,
                    page,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if r != libc::MAP_FAILED {
                slot.damaged.store(true, Ordering::Release);
                return;
            }
            break;
        }
    }
    // Not ours (or not repairable): put the previous disposition back and return; the access
    // faults again and meets it.
    if let Some(prev) = PREVIOUS.get() {
        // SAFETY: restoring a disposition read from the kernel at installation.
        unsafe { libc::sigaction(libc::SIGBUS, &prev.0, std::ptr::null_mut()) };
    }
}

fn install() -> bool {
    INSTALL.call_once(|| {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if page > 0 {
            PAGE.store(page as usize, Ordering::Relaxed);
        }
        // SAFETY: zeroed sigaction structs are valid; the handler has the SA_SIGINFO
        // signature; the previous disposition is saved before ours takes effect.
        unsafe {
            let mut prev: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut prev) != 0 {
                return;
            }
            let _ = PREVIOUS.set(Previous(prev));
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_sigbus as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut act.sa_mask);
            if libc::sigaction(libc::SIGBUS, &act, std::ptr::null_mut()) == 0 {
                INSTALLED.store(true, Ordering::Release);
            }
        }
    });
    INSTALLED.load(Ordering::Acquire)
}

fn register(start: usize, len: usize) -> Option<usize> {
    for (i, slot) in TABLE.iter().enumerate() {
        if slot
            .start
            .compare_exchange(0, usize::MAX, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            slot.damaged.store(false, Ordering::Relaxed);
            slot.end.store(start + len, Ordering::Release);
            slot.start.store(start, Ordering::Release);
            return Some(i);
        }
    }
    None
}

/// What tells one version of a file from another: device, inode, size, modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileIdentity(u64, u64, u64, i64, i64);

/// The [`ObjectVersion`](super::ObjectVersion) of a local file: its size, and its inode and
/// modification time as the tag. A file renamed over the original has another inode; one
/// rewritten in place another modification time. (The device is left out: it can change when
/// the same disk is mounted elsewhere, and the file is still the same.)
pub fn version_of(meta: &std::fs::Metadata) -> super::ObjectVersion {
    use std::os::unix::fs::MetadataExt;
    super::ObjectVersion {
        size: meta.size(),
        tag: format!("{:x}-{}.{:09}", meta.ino(), meta.mtime(), meta.mtime_nsec()),
    }
}

impl FileIdentity {
    fn of(meta: &std::fs::Metadata) -> FileIdentity {
        use std::os::unix::fs::MetadataExt;
        FileIdentity(
            meta.dev(),
            meta.ino(),
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec(),
        )
    }
}

/// A local source file, open, and mapped read-only when possible.
#[derive(Debug)]
pub struct SourceFile {
    pub file: std::fs::File,
    map: Option<(memmap2::Mmap, usize)>,
    identity: Option<FileIdentity>,
}

impl SourceFile {
    pub fn new(file: std::fs::File) -> SourceFile {
        let identity = file.metadata().ok().map(|m| FileIdentity::of(&m));
        let map = if install() {
            // SAFETY: a read-only mapping; a file changed under it yields other bytes (which
            // every reader treats as untrusted input anyway) and one truncated under it is
            // caught by the SIGBUS guard above.
            unsafe { memmap2::Mmap::map(&file) }
                .ok()
                .filter(|m| !m.is_empty())
                .and_then(|m| register(m.as_ptr() as usize, m.len()).map(|slot| (m, slot)))
        } else {
            None
        };
        SourceFile {
            file,
            map,
            identity,
        }
    }

    /// Whether this is still the file at a path whose metadata is `meta`.
    pub fn is(&self, meta: &std::fs::Metadata) -> bool {
        self.identity == Some(FileIdentity::of(meta)) && self.intact()
    }

    /// The version of the open file now (`fstat`: one cheap system call), so a file rewritten
    /// in place since it was opened is caught too.
    pub fn version(&self) -> std::io::Result<super::ObjectVersion> {
        self.file.metadata().map(|m| version_of(&m))
    }

    /// Bytes mapped (the file's size when it was opened), 0 when not mapped.
    pub fn mapped_len(&self) -> u64 {
        self.map.as_ref().map_or(0, |(m, _)| m.len() as u64)
    }

    /// False once a read of the mapping found a page the file no longer has.
    pub fn intact(&self) -> bool {
        self.map
            .as_ref()
            .is_none_or(|(_, slot)| !TABLE[*slot].damaged.load(Ordering::Acquire))
    }

    /// Whether every page of `range` is in the page cache, so reading it from the mapping
    /// will not wait for a disk (an async worker must not).
    pub fn in_page_cache(&self, range: &Range<u64>) -> bool {
        in_page_cache(&self.file, range)
    }

    /// Bytes `range` of the mapping, sharing it (no copy); `None` outside it.
    pub fn slice(self: &Arc<Self>, range: Range<u64>) -> Option<Bytes> {
        let len = self.mapped_len();
        if range.start > range.end || range.end > len {
            return None;
        }
        Some(Bytes::from_owner(MappedRange {
            file: self.clone(),
            start: range.start as usize,
            end: range.end as usize,
        }))
    }
}

impl Drop for SourceFile {
    fn drop(&mut self) {
        // Unregister before the mapping goes (the field drops after this body).
        if let Some((_, slot)) = &self.map {
            TABLE[*slot].end.store(0, Ordering::Release);
            TABLE[*slot].start.store(0, Ordering::Release);
        }
    }
}

/// Set once `cachestat` turns out to be missing (Linux before 6.5) or forbidden (seccomp).
static NO_CACHESTAT: AtomicBool = AtomicBool::new(false);

/// Whether every page of `range` of `file` is in the page cache (`cachestat(2)`, Linux 6.5+;
/// `false` where it is missing, so callers take the reading path). Pages past the end of a
/// file that shrank are not cached, so a truncated source is caught here too.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
fn in_page_cache(file: &std::fs::File, range: &Range<u64>) -> bool {
    use std::os::fd::AsRawFd;
    /// The syscall number is the same on every architecture (added after the tables merged).
    const SYS_CACHESTAT: libc::c_long = 451;
    #[repr(C)]
    struct CachestatRange {
        off: u64,
        len: u64,
    }
    #[repr(C)]
    #[derive(Default)]
    struct Cachestat {
        nr_cache: u64,
        nr_dirty: u64,
        nr_writeback: u64,
        nr_evicted: u64,
        nr_recently_evicted: u64,
    }
    if range.is_empty() || NO_CACHESTAT.load(Ordering::Relaxed) {
        return false;
    }
    let query = CachestatRange {
        off: range.start,
        len: range.end - range.start,
    };
    let mut stat = Cachestat::default();
    // SAFETY: both pointers are to live, properly laid out structs of the kernel ABI
    // (struct cachestat_range, struct cachestat); the kernel writes only `stat`.
    let rc = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            file.as_raw_fd(),
            &query as *const CachestatRange,
            &mut stat as *mut Cachestat,
            0u32,
        )
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error().raw_os_error();
        if matches!(err, Some(libc::ENOSYS) | Some(libc::EPERM)) {
            NO_CACHESTAT.store(true, Ordering::Relaxed);
        }
        return false;
    }
    let page = PAGE.load(Ordering::Relaxed) as u64;
    let pages = (range.end - 1) / page - range.start / page + 1;
    stat.nr_cache >= pages
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
fn in_page_cache(_file: &std::fs::File, _range: &Range<u64>) -> bool {
    let _ = &NO_CACHESTAT;
    false
}

/// The owner behind a [`Bytes`] that points into a mapping: keeps the file mapped.
struct MappedRange {
    file: Arc<SourceFile>,
    start: usize,
    end: usize,
}

impl AsRef<[u8]> for MappedRange {
    fn as_ref(&self) -> &[u8] {
        match &self.file.map {
            Some((m, _)) => &m[self.start..self.end],
            None => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file truncated under its mapping: reading the lost pages gives zeros and marks the
    /// mapping damaged, instead of killing the process with SIGBUS.
    #[test]
    fn truncation_under_a_mapping_is_survived_and_reported() {
        let path = std::env::temp_dir().join(format!("vodpack-map-{}", uuid::Uuid::new_v4()));
        let content: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 251) as u8 + 1).collect();
        std::fs::write(&path, &content).expect("write");
        let f = Arc::new(SourceFile::new(std::fs::File::open(&path).expect("open")));
        let all = f.slice(0..content.len() as u64).expect("mapped");
        assert_eq!(&all[..], &content[..]);
        assert!(f.intact());
        // Truncate in place to one page.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|w| w.set_len(4096))
            .expect("truncate");
        let tail: u64 = all[8192..16384].iter().map(|b| u64::from(*b)).sum();
        assert_eq!(tail, 0, "lost pages read as zeros");
        assert!(!f.intact(), "the mapping is marked damaged");
        assert_eq!(&all[..4096], &content[..4096], "kept pages are intact");
        drop(all);
        drop(f);
        std::fs::remove_file(&path).expect("remove");
        // A new mapping of another file starts undamaged.
        let path2 = std::env::temp_dir().join(format!("vodpack-map-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path2, b"fresh").expect("write");
        let g = Arc::new(SourceFile::new(std::fs::File::open(&path2).expect("open")));
        assert!(g.intact());
        assert_eq!(&g.slice(0..5).expect("mapped")[..], b"fresh");
        std::fs::remove_file(&path2).expect("remove");
    }
}
