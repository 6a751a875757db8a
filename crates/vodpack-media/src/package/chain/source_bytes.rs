//! The source bytes of the samples a file is made from, as the caller read them: per source
//! object, runs of bytes at known offsets (slices of a mapped file, or ranged reads). The chain
//! says which bytes it needs ([`spans`]); the caller reads them however its storage does best
//! and hands them over; the chain takes each sample out of them ([`SourceBytes::get`]) and
//! sends payloads as shared slices of them ([`SourceBytes::share`]), never copies.

use std::borrow::Cow;
use std::ops::Range;

use bytes::Bytes;

use crate::index::{MediaIndex, Track};
use crate::package::PackageError;

/// A TS sample's payload may continue in the packet that holds the next sample's start.
const TS_PACKET: u64 = 188;

/// `u64::MAX` as a span's end: up to the end of the object.
pub const TO_END: u64 = u64::MAX;

/// The byte spans each source object must supply for the samples of `ranges` (track, sample
/// range), by object number (the index's `objects`), unsorted; an end of [`TO_END`] runs to
/// the end of the object.
pub fn spans(
    index: &MediaIndex,
    ranges: &[(usize, Range<usize>)],
) -> Result<Vec<Vec<(u64, u64)>>, PackageError> {
    // A few objects, hundreds of samples: no hashing per sample.
    let mut wanted: Vec<Vec<(u64, u64)>> = vec![Vec::new(); index.objects.len()];
    for (t, r) in ranges {
        let track = index
            .tracks
            .get(*t)
            .ok_or_else(|| PackageError::Bug("no such track".into()))?;
        let s = &track.samples;
        for i in r.clone() {
            let o = s.object[i];
            let start = s.offset[i];
            let end = if !track.in_ts() {
                start + u64::from(s.size[i])
            } else {
                // The sample ends before the packet after the one holding the next sample of
                // the same object; the last one of an object runs to its end.
                match (s.object.get(i + 1), s.offset.get(i + 1)) {
                    (Some(next_o), Some(next)) if *next_o == o => {
                        (next + TS_PACKET).max(start + TS_PACKET)
                    }
                    _ => TO_END,
                }
            };
            wanted
                .get_mut(o as usize)
                .ok_or_else(|| PackageError::Bug("the index names no such object".into()))?
                .push((start, end));
        }
    }
    Ok(wanted)
}

/// The bytes read for some samples.
#[derive(Default)]
pub struct SourceBytes {
    /// Indexed by object number: (start offset, bytes) runs sorted by offset.
    buffers: Vec<Vec<(u64, Bytes)>>,
}

fn outside() -> PackageError {
    PackageError::Bug("a sample outside the bytes read for it".into())
}

fn short() -> PackageError {
    PackageError::Damaged("the source is shorter than its index says".into())
}

impl SourceBytes {
    /// Runs of bytes by object number, in any order.
    pub fn new(mut buffers: Vec<Vec<(u64, Bytes)>>) -> SourceBytes {
        for runs in buffers.iter_mut() {
            runs.sort_unstable_by_key(|r| r.0);
        }
        SourceBytes { buffers }
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
    fn run_at(&self, o: u32, off: u64) -> Result<(u64, &Bytes), PackageError> {
        let runs = self.buffers.get(o as usize).ok_or_else(outside)?;
        let at = runs.partition_point(|r| r.0 <= off);
        let (base, buf) = at
            .checked_sub(1)
            .and_then(|k| runs.get(k))
            .ok_or_else(outside)?;
        Ok((*base, buf))
    }

    /// Bytes `start..end` of object `o` as a shared slice of the buffer holding them.
    pub fn range(&self, o: u32, start: u64, end: u64) -> Result<Bytes, PackageError> {
        let (base, buf) = self.run_at(o, start)?;
        let from = (start - base) as usize;
        let to = usize::try_from(end - base).unwrap_or(usize::MAX);
        if from > to || to > buf.len() {
            return Err(short());
        }
        Ok(buf.slice(from..to))
    }

    /// The stored bytes of sample `i` of `track` (borrowed for MP4 and text sources; TS
    /// samples are gathered from their packets' payloads).
    pub fn get<'a>(&'a self, track: &Track, i: usize) -> Result<Cow<'a, [u8]>, PackageError> {
        let s = &track.samples;
        let off = s.offset[i];
        let (base, buf) = self.run_at(s.object[i], off)?;
        let size = s.size[i];
        if !track.in_ts() {
            let from = off.checked_sub(base).ok_or_else(outside)? as usize;
            return buf
                .get(from..from + size as usize)
                .map(Cow::Borrowed)
                .ok_or_else(short);
        }
        // An index may leave out `skip` (MP4 sources have none); a TS track without it is
        // damaged, not a reason to panic.
        let skip = s.skip.get(i).copied().ok_or_else(|| {
            PackageError::Damaged("a TS track without packet skips in its index".into())
        })?;
        crate::source::ts::read_sample(buf, base, track.ts_pid, off, skip, size)
            .map(Cow::Owned)
            .ok_or_else(|| PackageError::Damaged("a TS sample runs past its segment".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our own data disagreeing with itself is a bug; a store giving fewer bytes than the
    /// index promises is the source's fault.
    #[test]
    fn a_sample_outside_the_bytes_read_is_a_bug() {
        let none = SourceBytes::new(vec![Vec::new()]);
        assert!(matches!(none.range(0, 0, 10), Err(PackageError::Bug(_))));
        assert!(matches!(none.range(7, 0, 10), Err(PackageError::Bug(_))));
        let short = SourceBytes::new(vec![vec![(100, Bytes::from_static(b"abcd"))]]);
        assert_eq!(&short.range(0, 101, 103).unwrap()[..], b"bc");
        assert!(matches!(
            short.range(0, 101, 200),
            Err(PackageError::Damaged(_))
        ));
    }
}
