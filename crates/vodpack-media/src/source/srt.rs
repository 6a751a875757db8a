//! SubRip (SRT) subtitles, and the WebVTT segments of HLS sources, into text tracks. Each cue becomes a sample whose bytes are the cue
//! text in the source file; the end of a cue is an empty sample (as tx3g tracks mark gaps), so
//! the track needs no per-sample duration column. Overlapping cues are cut at the next start.

use crate::error::MediaError;
use crate::index::{Codec, Samples, Track};

/// Timescale of subtitle tracks: milliseconds.
pub const TIMESCALE: u32 = 1000;
/// Most cues accepted in one file.
pub const MAX_CUES: usize = 200_000;

/// A cue: times in milliseconds, text as a byte range of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    pub start: i64,
    pub end: i64,
    pub text_offset: usize,
    pub text_len: usize,
}

fn parse_time(s: &str) -> Option<i64> {
    // HH:MM:SS,mmm (also '.' before the milliseconds, and 1-3 millisecond digits). Every field
    // is unsigned digits with a bound, so the arithmetic below cannot overflow.
    let s = s.trim();
    let (hms, ms) = s.split_once([',', '.'])?;
    let num = |f: &str, max: i64| -> Option<i64> {
        if f.is_empty() || f.len() > 6 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        f.parse::<i64>().ok().filter(|v| *v < max)
    };
    // WebVTT may leave the hours out (MM:SS.mmm).
    let parts: Vec<&str> = hms.trim().split(':').collect();
    let (h, m, sec) = match parts.as_slice() {
        [h, m, s] => (num(h, 100_000)?, num(m, 60)?, num(s, 60)?),
        [m, s] => (0, num(m, 60)?, num(s, 60)?),
        _ => return None,
    };
    if ms.len() > 3 {
        return None;
    }
    let mut millis = num(ms, 1000)?;
    for _ in ms.len()..3 {
        millis *= 10;
    }
    Some(((h * 60 + m) * 60 + sec) * 1000 + millis)
}

/// Parses the cues of an SRT file.
pub fn parse(bytes: &[u8]) -> Result<Vec<Cue>, MediaError> {
    parse_blocks(bytes, false).map(|(cues, _)| cues)
}

/// `X-TIMESTAMP-MAP` of a WebVTT segment: MPEG-TS time (90 kHz) that the local time maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampMap {
    pub mpegts: i64,
    pub local_ms: i64,
}

/// Parses the cues of a WebVTT file (an HLS subtitle segment) and its `X-TIMESTAMP-MAP`.
pub fn parse_vtt(bytes: &[u8]) -> Result<(Vec<Cue>, Option<TimestampMap>), MediaError> {
    parse_blocks(bytes, true)
}

fn timestamp_map(line: &str) -> Option<TimestampMap> {
    let rest = line.strip_prefix("X-TIMESTAMP-MAP=")?;
    let mut mpegts = None;
    let mut local = None;
    for part in rest.split(',') {
        if let Some(v) = part.trim().strip_prefix("MPEGTS:") {
            mpegts = v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|v| (0..1 << 33).contains(v));
        } else if let Some(v) = part.trim().strip_prefix("LOCAL:") {
            local = parse_time(v);
        }
    }
    Some(TimestampMap {
        mpegts: mpegts?,
        local_ms: local?,
    })
}

fn parse_blocks(bytes: &[u8], vtt: bool) -> Result<(Vec<Cue>, Option<TimestampMap>), MediaError> {
    let kind = if vtt { "WebVTT" } else { "SRT" };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        MediaError::Subtitles(format!("{kind} is not UTF-8 (at byte {})", e.valid_up_to()))
    })?;
    let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
    // Lines with their byte offsets.
    let mut lines = Vec::new();
    let mut pos = bom;
    for line in text[bom..].split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        lines.push((pos, content));
        pos += line.len();
    }
    let mut cues: Vec<Cue> = Vec::new();
    let mut map = None;
    let mut i = 0;
    if vtt {
        // The header block: "WEBVTT", then header lines (X-TIMESTAMP-MAP) up to a blank line.
        if !lines.first().is_some_and(|l| l.1.starts_with("WEBVTT")) {
            return Err(MediaError::Subtitles(
                "WebVTT file does not start with WEBVTT".into(),
            ));
        }
        while i < lines.len() && !lines[i].1.trim().is_empty() {
            if let Some(m) = timestamp_map(lines[i].1.trim()) {
                map = Some(m);
            }
            i += 1;
        }
    }
    while i < lines.len() {
        if lines[i].1.trim().is_empty() {
            i += 1;
            continue;
        }
        if vtt
            && ["NOTE", "STYLE", "REGION"]
                .iter()
                .any(|k| lines[i].1.starts_with(k))
        {
            while i < lines.len() && !lines[i].1.trim().is_empty() {
                i += 1;
            }
            continue;
        }
        // Optional numeric counter line, then the timing line.
        let mut timing = lines[i].1;
        if !timing.contains("-->") {
            i += 1;
            timing = lines.get(i).map(|l| l.1).unwrap_or("");
        }
        let (a, b) = timing.split_once("-->").ok_or_else(|| {
            MediaError::Subtitles(format!("line {}: expected 'start --> end'", i + 1))
        })?;
        let b = b.split_whitespace().next().unwrap_or("");
        let (start, end) = match (parse_time(a), parse_time(b)) {
            (Some(s), Some(e)) => (s, e),
            _ => {
                return Err(MediaError::Subtitles(format!(
                    "line {}: bad timestamps '{}'",
                    i + 1,
                    timing.trim()
                )));
            }
        };
        if end < start {
            return Err(MediaError::Subtitles(format!(
                "line {}: cue ends before it starts",
                i + 1
            )));
        }
        i += 1;
        let first = i;
        while i < lines.len() && !lines[i].1.trim().is_empty() {
            i += 1;
        }
        let (text_offset, text_len) = if i > first {
            let start_off = lines[first].0;
            let (last_off, last) = lines[i - 1];
            (start_off, last_off + last.len() - start_off)
        } else {
            (lines.get(first).map_or(pos, |l| l.0), 0)
        };
        cues.push(Cue {
            start,
            end,
            text_offset,
            text_len,
        });
        if cues.len() > MAX_CUES {
            return Err(MediaError::Limit(format!(
                "more than {MAX_CUES} subtitle cues"
            )));
        }
    }
    Ok((cues, map))
}

/// Text samples from cues (each with its object): a sample per cue at its start, and an empty
/// sample where it ends; overlapping cues are cut at the next start.
pub fn samples_from_cues(mut cues: Vec<(u32, Cue)>) -> Samples {
    cues.sort_by_key(|(_, c)| c.start);
    let mut s = Samples::default();
    for i in 0..cues.len() {
        let (object, c) = &cues[i];
        let end = match cues.get(i + 1) {
            Some((_, next)) if next.start < c.end => next.start,
            _ => c.end,
        };
        if s.dts
            .last()
            .is_some_and(|last| *last == c.start && s.size.last() == Some(&0))
        {
            // The previous cue's end marker sits where this cue starts: replace it.
            s.object.pop();
            s.offset.pop();
            s.size.pop();
            s.dts.pop();
            s.cts_offset.pop();
            s.keyframe.pop();
        }
        s.push(
            *object,
            c.text_offset as u64,
            c.text_len as u32,
            c.start,
            0,
            true,
        );
        s.push(
            *object,
            (c.text_offset + c.text_len) as u64,
            0,
            end,
            0,
            true,
        );
    }
    s
}

/// A subtitle track from an SRT file stored as index object `object`.
pub fn track(
    bytes: &[u8],
    object: u32,
    stream: u32,
    language: Option<String>,
    name: Option<String>,
) -> Result<Track, MediaError> {
    let cues = parse(bytes)?;
    let samples = samples_from_cues(cues.into_iter().map(|c| (object, c)).collect());
    Ok(text_track(Codec::Srt, samples, stream, language, name))
}

/// A text track (millisecond timescale) around its samples.
pub fn text_track(
    codec: Codec,
    samples: Samples,
    stream: u32,
    language: Option<String>,
    name: Option<String>,
) -> Track {
    Track {
        codec,
        fourcc: if codec == Codec::WebVtt {
            *b"wvtt"
        } else {
            *b"srt "
        },
        codec_config: Vec::new(),
        codec_string: "wvtt".into(),
        language,
        name,
        stream,
        timescale: TIMESCALE,
        presentation_offset: 0,
        last_sample_duration: 0,
        width: 0,
        height: 0,
        frame_rate: None,
        channels: 0,
        sample_rate: 0,
        ts_pid: 0,
        avg_bitrate: 0,
        peak_bitrate: 0,
        samples,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cues_and_gaps() {
        let srt = "\u{feff}1\r\n00:00:00,500 --> 00:00:02,000\r\nHello\r\n\r\n2\r\n00:00:03.000 --> 00:00:05,250 X1:0\r\nTwo\r\nlines\r\n";
        let cues = parse(srt.as_bytes()).unwrap();
        assert_eq!(cues.len(), 2);
        assert_eq!((cues[0].start, cues[0].end), (500, 2000));
        assert_eq!(
            &srt[cues[0].text_offset..cues[0].text_offset + cues[0].text_len],
            "Hello"
        );
        assert_eq!(
            &srt[cues[1].text_offset..cues[1].text_offset + cues[1].text_len],
            "Two\r\nlines"
        );
        let t = track(srt.as_bytes(), 0, 0, None, None).unwrap();
        assert_eq!(t.samples.dts, [500, 2000, 3000, 5250]);
        assert_eq!(t.samples.size[1], 0);
    }

    #[test]
    fn rejects_bad_timing() {
        // Found by the fuzzer: an hour count that overflowed the millisecond arithmetic.
        assert!(parse(b"1\n0111111111111111111:00:00,2 -->0:0H10").is_err());
        assert!(parse(b"z\n5:-0002222222222222221:03,0-->a").is_err());
        assert!(parse(b"1\n00:00:01,000 -> 00:00:02,000\nx\n").is_err());
        assert!(parse(b"1\n00:00:03,000 --> 00:00:02,000\nx\n").is_err());
        assert!(parse(&[0xff, 0xfe, 0x00]).is_err());
    }

    #[test]
    fn webvtt_segments() {
        let vtt = "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:126000,LOCAL:00:00:00.000\n\nNOTE a comment\n\nc1\n00:01.500 --> 00:03.000 align:start\nHi\n\n00:00:04.000 --> 00:00:05.000\nThere\n";
        let (cues, map) = parse_vtt(vtt.as_bytes()).unwrap();
        assert_eq!(
            map,
            Some(TimestampMap {
                mpegts: 126000,
                local_ms: 0
            })
        );
        assert_eq!(cues.len(), 2);
        assert_eq!((cues[0].start, cues[0].end), (1500, 3000));
        assert_eq!(
            &vtt[cues[1].text_offset..cues[1].text_offset + cues[1].text_len],
            "There"
        );
        assert!(parse_vtt(b"not vtt").is_err());
    }
}
