//! MPEG-TS writer for HLS segments (ISO/IEC 13818-1): PAT and PMT at the start of every
//! segment, one PES per access unit or audio frame with PTS (and DTS when it differs), PCR on
//! the first packet of every PES of the PCR stream, per-PID continuity counters, adaptation-field
//! stuffing so every PES ends on a packet boundary.
//!
//! Hand-written (as the project's guide allows for TS muxing): packetisation, PCR placement and
//! the exact stuffing are what players are picky about, and SAMPLE-AES slots in between the
//! access-unit filter and this packetiser (its PMT signalling: [`TsWriter::protect`]). Output
//! is verified with ffprobe/ffmpeg, not against our own bytes.

use crc::{CRC_32_MPEG_2, Crc};

use super::access_unit::Parts;
use crate::error::MediaError;
use crate::index::Codec;

const PACKET: usize = 188;
const PAT_PID: u16 = 0;
const PMT_PID: u16 = 0x1000;
/// First elementary-stream PID.
const FIRST_PID: u16 = 0x100;
const CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_MPEG_2);
/// The PCR runs this far (90 kHz) behind the DTS, the decoder's buffering headroom.
const PCR_LEAD: i64 = 9_000;

/// One elementary stream of the output.
#[derive(Debug, Clone)]
struct Stream {
    pid: u16,
    stream_type: u8,
    stream_id: u8,
    cc: u8,
    /// ES descriptors in the PMT (SAMPLE-AES signalling; none for clear streams).
    descriptors: Vec<u8>,
}

/// Writes the packets of one TS segment.
pub struct TsWriter {
    streams: Vec<Stream>,
    pcr_stream: usize,
    pat_cc: u8,
    pmt_cc: u8,
    pub out: Vec<u8>,
}

/// PES header bytes: 9 fixed, and PTS, or PTS and DTS when they differ.
fn pes_header_len(pts: i64, dts: i64) -> usize {
    if dts != pts { 19 } else { 14 }
}

/// A 33-bit PES timestamp with its 4-bit prefix and marker bits.
fn ts_timestamp(prefix: u8, t: i64) -> [u8; 5] {
    let t = t.rem_euclid(1 << 33) as u64;
    [
        (prefix << 4) | (((t >> 30) as u8 & 0x07) << 1) | 1,
        (t >> 22) as u8,
        (((t >> 15) as u8) << 1) | 1,
        (t >> 7) as u8,
        ((t as u8) << 1) | 1,
    ]
}

impl TsWriter {
    /// A writer for these codecs, in order (stream `i` gets PID 0x100 + i). The PCR rides on
    /// the first video stream, or the first stream when there is no video.
    pub fn new(codecs: &[Codec]) -> Result<TsWriter, MediaError> {
        let mut streams = Vec::new();
        for (i, c) in codecs.iter().enumerate() {
            let (stream_type, stream_id) = match c {
                Codec::H264 => (0x1b, 0xe0),
                Codec::H265 => (0x24, 0xe0),
                Codec::Aac => (0x0f, 0xc0),
                Codec::Ac3 => (0x81, 0xbd),
                Codec::Eac3 => (0x87, 0xbd),
                other => {
                    return Err(MediaError::Unsupported(format!(
                        "{} cannot be carried in MPEG-TS",
                        other.name()
                    )));
                }
            };
            streams.push(Stream {
                pid: FIRST_PID + i as u16,
                stream_type,
                stream_id,
                cc: 0,
                descriptors: Vec::new(),
            });
        }
        let pcr_stream = codecs
            .iter()
            .position(|c| matches!(c, Codec::H264 | Codec::H265))
            .unwrap_or(0);
        Ok(TsWriter {
            streams,
            pcr_stream,
            pat_cc: 0,
            pmt_cc: 0,
            out: Vec::new(),
        })
    }

    /// Announces stream `index` as encrypted: its PMT stream type and ES descriptors
    /// (SAMPLE-AES, `package::chain::encrypt_ts::sample_aes::pmt_entry`). Before
    /// [`TsWriter::write_tables`]; the PMT must still fit one packet.
    pub fn protect(
        &mut self,
        index: usize,
        stream_type: u8,
        descriptors: Vec<u8>,
    ) -> Result<(), MediaError> {
        let pmt: usize = 12
            + 4
            + self
                .streams
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    5 + if i == index {
                        descriptors.len()
                    } else {
                        s.descriptors.len()
                    }
                })
                .sum::<usize>();
        let stream = self
            .streams
            .get_mut(index)
            .ok_or_else(|| MediaError::Corrupt(format!("no output stream {index}")))?;
        if pmt > PACKET - 5 {
            return Err(MediaError::Unsupported(
                "too many encrypted streams for one PMT packet".into(),
            ));
        }
        stream.stream_type = stream_type;
        stream.descriptors = descriptors;
        Ok(())
    }

    fn section_packet(&mut self, pid: u16, cc: u8, section: &[u8]) {
        let start = self.out.len();
        self.out.extend_from_slice(&[
            0x47,
            0x40 | (pid >> 8) as u8,
            pid as u8,
            0x10 | (cc & 0x0f),
            0,
        ]);
        self.out.extend_from_slice(section);
        self.out.resize(start + PACKET, 0xff);
    }

    fn section(table_id: u8, id: u16, body: &[u8]) -> Vec<u8> {
        let len = 5 + body.len() + 4;
        let mut s = vec![
            table_id,
            0xb0 | (len >> 8) as u8,
            len as u8,
            (id >> 8) as u8,
            id as u8,
            0xc1,
            0,
            0,
        ];
        s.extend_from_slice(body);
        let crc = CRC32.checksum(&s);
        s.extend_from_slice(&crc.to_be_bytes());
        s
    }

    /// PAT and PMT; written first in every segment so each segment stands alone.
    pub fn write_tables(&mut self) {
        let pat = Self::section(0x00, 1, &[0, 1, 0xe0 | (PMT_PID >> 8) as u8, PMT_PID as u8]);
        let cc = self.pat_cc;
        self.pat_cc = (cc + 1) & 0x0f;
        self.section_packet(PAT_PID, cc, &pat);
        let pcr_pid = self.streams.get(self.pcr_stream).map_or(0x1fff, |s| s.pid);
        let mut body = vec![0xe0 | (pcr_pid >> 8) as u8, pcr_pid as u8, 0xf0, 0];
        for s in &self.streams {
            let info = s.descriptors.len();
            body.extend_from_slice(&[
                s.stream_type,
                0xe0 | (s.pid >> 8) as u8,
                s.pid as u8,
                0xf0 | (info >> 8) as u8,
                info as u8,
            ]);
            body.extend_from_slice(&s.descriptors);
        }
        let pmt = Self::section(0x02, 1, &body);
        let cc = self.pmt_cc;
        self.pmt_cc = (cc + 1) & 0x0f;
        self.section_packet(PMT_PID, cc, &pmt);
    }

    /// Bytes [`TsWriter::write_pes`] writes for a unit of `unit_len` bytes with these
    /// timestamps: a segment's length is known before it is muxed (and sent as it is).
    pub fn pes_size(&self, index: usize, pts: i64, dts: i64, key: bool, unit_len: usize) -> usize {
        let total = pes_header_len(pts, dts) + unit_len;
        let first_af = match self.first_af_len(index, key) {
            0 => 0,
            n => 1 + n, // and its length byte
        };
        let first_room = PACKET - 4 - first_af;
        let packets = if total <= first_room {
            1
        } else {
            1 + (total - first_room).div_ceil(PACKET - 4)
        };
        packets * PACKET
    }

    /// Adaptation-field bytes (after its length byte) in the first packet of a PES of stream
    /// `index`: the flags on key frames and on the PCR stream, the PCR on the PCR stream.
    fn first_af_len(&self, index: usize, key: bool) -> usize {
        if index == self.pcr_stream {
            7
        } else if key {
            1
        } else {
            0
        }
    }

    /// Writes one access unit / audio frame of stream `index` as a PES. Times are 90 kHz.
    pub fn write_pes(
        &mut self,
        index: usize,
        pts: i64,
        dts: i64,
        key: bool,
        unit: &Parts<'_>,
    ) -> Result<(), MediaError> {
        let pcr_stream = self.pcr_stream;
        let first_af_len = self.first_af_len(index, key);
        let stream = self
            .streams
            .get_mut(index)
            .ok_or_else(|| MediaError::Corrupt(format!("no output stream {index}")))?;
        let with_dts = dts != pts;
        // The PES header: 9 fixed bytes and one or two timestamps (on the stack: this runs once
        // per access unit and audio frame, hundreds of times per segment).
        let mut header = [0u8; 19];
        header[..9].copy_from_slice(&[
            0,
            0,
            1,
            stream.stream_id,
            0,
            0,
            0x80,
            if with_dts { 0xc0 } else { 0x80 },
            if with_dts { 10 } else { 5 },
        ]);
        header[9..14].copy_from_slice(&ts_timestamp(if with_dts { 3 } else { 2 }, pts));
        if with_dts {
            header[14..19].copy_from_slice(&ts_timestamp(1, dts));
        }
        let header_len = pes_header_len(pts, dts);
        let total = header_len + unit.len();
        let pes_len = total - 6;
        // Video PES may exceed 65535 bytes: length 0 means "unbounded" for video streams.
        let pes_len = if stream.stream_id == 0xe0 || pes_len > 0xffff {
            0
        } else {
            pes_len
        };
        header[4] = (pes_len >> 8) as u8;
        header[5] = pes_len as u8;

        // Adaptation-field content of the first packet: flags, and the PCR on the PCR stream.
        let mut first_af = [0u8; 7];
        if first_af_len > 0 {
            first_af[0] = if key { 0x40 } else { 0 }; // random_access_indicator
            if index == pcr_stream {
                first_af[0] |= 0x10; // PCR flag
                let pcr = (dts - PCR_LEAD).rem_euclid(1 << 33) as u64;
                first_af[1..7].copy_from_slice(&[
                    (pcr >> 25) as u8,
                    (pcr >> 17) as u8,
                    (pcr >> 9) as u8,
                    (pcr >> 1) as u8,
                    ((pcr as u8 & 1) << 7) | 0x7e,
                    0,
                ]);
            }
        }

        // The payload is the PES header, then the unit's parts, copied once, straight into
        // the packets (no intermediate PES buffer).
        let mut chunks =
            std::iter::once(&header[..header_len]).chain(unit.parts.iter().map(|p| &p[..]));
        let mut chunk: &[u8] = &[];
        // At most one packet more than the payload needs (the adaptation field's room).
        self.out.reserve((total / (PACKET - 4) + 2) * PACKET);
        let mut written = 0usize;
        let mut first = true;
        while written < total {
            let pid = stream.pid;
            let af = if first {
                &first_af[..first_af_len]
            } else {
                &[][..]
            };
            let remaining = total - written;
            let af_total = if af.is_empty() { 0 } else { 1 + af.len() };
            let room = PACKET - 4 - af_total;
            let take = remaining.min(room);
            // Stuff the adaptation field when the payload does not fill the packet.
            let short = room - take;
            let start = self.out.len();
            let afc = if af.is_empty() && short == 0 {
                0x10
            } else {
                0x30
            };
            self.out.extend_from_slice(&[
                0x47,
                (if first { 0x40 } else { 0 }) | (pid >> 8) as u8,
                pid as u8,
                afc | (stream.cc & 0x0f),
            ]);
            stream.cc = (stream.cc + 1) & 0x0f;
            if afc == 0x30 {
                if af.is_empty() {
                    // An adaptation field of its own: the length byte alone when one byte is
                    // short (length 0); otherwise a flags byte and 0xff stuffing.
                    self.out.push(short.saturating_sub(1) as u8);
                    if short > 1 {
                        self.out.push(0);
                        self.out.resize(self.out.len() + short - 2, 0xff);
                    }
                } else {
                    self.out.push((af.len() + short) as u8);
                    self.out.extend_from_slice(af);
                    self.out.resize(self.out.len() + short, 0xff);
                }
            }
            let mut left = take;
            while left > 0 {
                if chunk.is_empty() {
                    match chunks.next() {
                        Some(c) => chunk = c,
                        None => break,
                    }
                    continue;
                }
                let n = chunk.len().min(left);
                self.out.extend_from_slice(&chunk[..n]);
                chunk = &chunk[n..];
                left -= n;
            }
            debug_assert_eq!(self.out.len() - start, PACKET);
            written += take;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mux::access_unit::Parts;

    /// Every payload size from 0 to 600 bytes (all stuffing cases, 1-byte adaptation fields
    /// included) packs into whole packets whose PID payloads reassemble to the PES.
    #[test]
    fn packets_are_whole_and_payloads_reassemble() {
        for size in 0..600usize {
            let mut w = TsWriter::new(&[Codec::H264, Codec::Aac]).unwrap();
            w.write_tables();
            let data: Vec<u8> = (0..size).map(|i| i as u8).collect();
            let unit = Parts {
                parts: vec![
                    std::borrow::Cow::Borrowed(&data[..size / 2]),
                    std::borrow::Cow::Borrowed(&data[size / 2..]),
                ],
            };
            for (k, key) in [(0usize, true), (1, false)] {
                let before = w.out.len();
                w.write_pes(k, 90_000, 87_000, key, &unit).unwrap();
                assert_eq!(
                    w.out.len() - before,
                    w.pes_size(k, 90_000, 87_000, key, size),
                    "size {size} stream {k}"
                );
                // Without DTS, and a key frame off the PCR stream.
                let mut other = TsWriter::new(&[Codec::H264, Codec::Aac]).unwrap();
                other.write_pes(1, 90_000, 90_000, true, &unit).unwrap();
                assert_eq!(
                    other.out.len(),
                    other.pes_size(1, 90_000, 90_000, true, size)
                );
            }
            assert_eq!(w.out.len() % PACKET, 0, "size {size}");
            for pid in [FIRST_PID, FIRST_PID + 1] {
                let mut payload = Vec::new();
                let mut cc = Vec::new();
                for p in w.out.chunks_exact(PACKET) {
                    assert_eq!(p[0], 0x47);
                    if ((u16::from(p[1] & 0x1f) << 8) | u16::from(p[2])) != pid {
                        continue;
                    }
                    cc.push(p[3] & 0x0f);
                    let start = if p[3] & 0x20 != 0 {
                        5 + p[4] as usize
                    } else {
                        4
                    };
                    assert!(start <= PACKET, "size {size}: adaptation field overflows");
                    payload.extend_from_slice(&p[start..]);
                }
                assert!(
                    cc.iter().enumerate().all(|(i, c)| *c as usize == i % 16),
                    "size {size}: {cc:?}"
                );
                // PES header (19 bytes with PTS and DTS) then exactly the data.
                assert_eq!(&payload[..3], &[0, 0, 1]);
                assert_eq!(&payload[19..], &data[..], "size {size} pid {pid}");
            }
        }
    }
}
