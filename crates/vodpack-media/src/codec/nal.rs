//! The one NAL unit walker, for both framings H.264/H.265 samples come in: Annex B (start codes,
//! TS sources) and length-prefixed (MP4 sources, the `avcC`/`hvcC` length size). Both are lazy,
//! so a caller that stops at the first slice never scans the rest of the access unit.

use crate::error::MediaError;

/// NAL units of an Annex B access unit, start codes removed. Zero bytes before a start code
/// and at the end (`trailing_zero_8bits`; a NAL unit never ends in 0x00) are not part of the
/// unit. A start code at the very end gives an empty unit, so "no start code at all" is
/// exactly "no item".
///
/// Kept from the two former copies (the TS scanner's lazy `NalIter` and the fMP4 filter's
/// `annexb_nals`): the lazy walk of the first, the trimming rule of the second.
pub struct AnnexB<'a> {
    au: &'a [u8],
    /// Index just past the start code of the next unit; `None` before the first search.
    pos: Option<usize>,
}

impl<'a> AnnexB<'a> {
    pub fn new(au: &'a [u8]) -> Self {
        AnnexB { au, pos: None }
    }

    /// Index just past the next 00 00 01 at or after `from`.
    fn next_start(&self, from: usize) -> Option<usize> {
        let a = self.au;
        let mut i = from;
        while i + 3 <= a.len() {
            // Skip ahead two at a time while the middle byte cannot be part of a start code.
            if a[i + 1] != 0 {
                i += 2;
                continue;
            }
            if a[i] == 0 && a[i + 2] == 1 {
                return Some(i + 3);
            }
            i += 1;
        }
        None
    }
}

impl<'a> Iterator for AnnexB<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let start = match self.pos {
            None => self.next_start(0)?,
            Some(p) if p > self.au.len() => return None,
            Some(p) => p,
        };
        let (mut end, pos) = match self.next_start(start) {
            Some(next) => (next - 3, next),
            None => (self.au.len(), self.au.len() + 1),
        };
        self.pos = Some(pos);
        while end > start && self.au[end - 1] == 0 {
            end -= 1;
        }
        self.au.get(start..end)
    }
}

/// NAL units of a length-prefixed sample (`n`-byte big-endian lengths). A length that runs
/// past the sample is an error item, after which the walk stops.
pub struct LengthPrefixed<'a> {
    sample: &'a [u8],
    n: usize,
    pos: usize,
}

impl<'a> LengthPrefixed<'a> {
    pub fn new(sample: &'a [u8], n: usize) -> Self {
        LengthPrefixed { sample, n, pos: 0 }
    }
}

impl<'a> Iterator for LengthPrefixed<'a> {
    type Item = Result<&'a [u8], MediaError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (s, i, n) = (self.sample, self.pos, self.n);
        if i >= s.len() {
            return None;
        }
        let Some(len) = s.get(i..i + n) else {
            self.pos = s.len();
            return Some(Err(MediaError::Corrupt(
                "NAL length runs past the sample".into(),
            )));
        };
        let len = len.iter().fold(0usize, |a, b| (a << 8) | usize::from(*b));
        let end = (i + n).saturating_add(len);
        let Some(nal) = s.get(i + n..end) else {
            self.pos = s.len();
            return Some(Err(MediaError::Corrupt(
                "NAL unit runs past the sample".into(),
            )));
        };
        self.pos = end;
        Some(Ok(nal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annex_b_units() {
        let au = [0, 0, 0, 1, 9, 0xf0, 0, 0, 1, 0x65, 1, 2, 0, 0, 0, 1];
        let v: Vec<&[u8]> = AnnexB::new(&au).collect();
        assert_eq!(v, vec![&[9, 0xf0][..], &[0x65, 1, 2][..], &[][..]]);
        assert_eq!(AnnexB::new(&[1, 2, 3]).count(), 0);
        let v: Vec<&[u8]> = AnnexB::new(&[0, 0, 1, 7, 0, 0]).collect();
        assert_eq!(v, vec![&[7][..]]);
    }

    #[test]
    fn length_prefixed_units() {
        let s = [0, 2, 0x65, 1, 0, 1, 9];
        let v: Vec<&[u8]> = LengthPrefixed::new(&s, 2).map(Result::unwrap).collect();
        assert_eq!(v, vec![&[0x65, 1][..], &[9][..]]);
        assert!(LengthPrefixed::new(&[0, 3, 1], 2).next().unwrap().is_err());
        assert!(LengthPrefixed::new(&[0], 2).next().unwrap().is_err());
    }
}
