//! HLS playlists (RFC 8216), written with `write!` for byte-exact control of tag order and
//! attribute quoting. VOD only: `EXT-X-PLAYLIST-TYPE:VOD` and `EXT-X-ENDLIST`.

use std::fmt::Write;

/// One variant stream of a multivariant (master) playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub uri: String,
    /// Peak bits per second of everything in the variant.
    pub bandwidth: u64,
    pub average_bandwidth: u64,
    pub codecs: Vec<String>,
    pub resolution: Option<(u32, u32)>,
    pub frame_rate: Option<f64>,
    /// GROUP-ID of the audio renditions this variant plays with.
    pub audio_group: Option<String>,
    /// GROUP-ID of the subtitle renditions this variant plays with.
    pub subtitles_group: Option<String>,
}

/// What an `EXT-X-MEDIA` rendition carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenditionType {
    Audio,
    Subtitles,
}

/// An alternative rendition (`EXT-X-MEDIA`).
#[derive(Debug, Clone, PartialEq)]
pub struct Rendition {
    pub kind: RenditionType,
    pub group: String,
    pub name: String,
    pub language: Option<String>,
    pub default: bool,
    /// Audio channel count (`CHANNELS`), audio only.
    pub channels: Option<u32>,
    pub uri: String,
}

/// An I-frame-only stream (`EXT-X-I-FRAME-STREAM-INF`).
#[derive(Debug, Clone, PartialEq)]
pub struct IframeStream {
    pub uri: String,
    pub bandwidth: u64,
    pub codecs: Vec<String>,
    pub resolution: Option<(u32, u32)>,
}

/// Everything a multivariant playlist lists.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Master {
    pub variants: Vec<Variant>,
    pub renditions: Vec<Rendition>,
    pub iframe_streams: Vec<IframeStream>,
    /// Whole `#EXT-X-SESSION-KEY:…` lines (encrypted outputs).
    pub session_keys: Vec<String>,
}

fn quoted(s: &str) -> String {
    // Attribute values may not contain quotes or line breaks (RFC 8216 §4.2).
    s.chars()
        .filter(|c| *c != '"' && *c != '\n' && *c != '\r')
        .collect()
}

/// The multivariant playlist.
pub fn master(m: &Master) -> String {
    let version = if m.iframe_streams.is_empty() { 3 } else { 4 };
    let version = version.max(key_version(&m.session_keys));
    let mut s = format!("#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for k in &m.session_keys {
        let _ = writeln!(s, "{k}");
    }
    for a in &m.renditions {
        let kind = match a.kind {
            RenditionType::Audio => "AUDIO",
            RenditionType::Subtitles => "SUBTITLES",
        };
        let _ = write!(
            s,
            "#EXT-X-MEDIA:TYPE={kind},GROUP-ID=\"{}\",NAME=\"{}\",",
            quoted(&a.group),
            quoted(&a.name)
        );
        if let Some(l) = &a.language {
            let _ = write!(s, "LANGUAGE=\"{}\",", quoted(l));
        }
        let d = if a.default { "YES" } else { "NO" };
        let _ = write!(s, "DEFAULT={d},AUTOSELECT=YES,");
        if let Some(c) = a.channels.filter(|c| *c > 0) {
            let _ = write!(s, "CHANNELS=\"{c}\",");
        }
        let _ = writeln!(s, "URI=\"{}\"", quoted(&a.uri));
    }
    for v in &m.variants {
        let _ = write!(
            s,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{}\"",
            v.bandwidth,
            v.average_bandwidth,
            v.codecs.join(",")
        );
        if let Some((w, h)) = v.resolution {
            let _ = write!(s, ",RESOLUTION={w}x{h}");
        }
        if let Some(f) = v.frame_rate {
            let _ = write!(s, ",FRAME-RATE={f:.3}");
        }
        if let Some(g) = &v.audio_group {
            let _ = write!(s, ",AUDIO=\"{}\"", quoted(g));
        }
        if let Some(g) = &v.subtitles_group {
            let _ = write!(s, ",SUBTITLES=\"{}\"", quoted(g));
        }
        let _ = write!(s, "\n{}\n", v.uri);
    }
    for i in &m.iframe_streams {
        let _ = write!(
            s,
            "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH={},CODECS=\"{}\"",
            i.bandwidth,
            i.codecs.join(",")
        );
        if let Some((w, h)) = i.resolution {
            let _ = write!(s, ",RESOLUTION={w}x{h}");
        }
        let _ = writeln!(s, ",URI=\"{}\"", quoted(&i.uri));
    }
    s
}

/// `EXT-X-PROGRAM-DATE-TIME` placement: the wall-clock time of the first segment, and how
/// often (seconds of media) to repeat the tag.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DateTimes {
    /// Milliseconds since the Unix epoch at the start of the first segment.
    pub start_ms: i64,
    pub interval_seconds: u32,
}

fn rfc3339_ms(ms: i64) -> String {
    // Civil-from-days (H. Hinnant), UTC; no calendar crate needed in the media core.
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// One entry of a media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub duration: f64,
    pub uri: String,
    /// `EXT-X-BYTERANGE` as (length, offset).
    pub byte_range: Option<(u64, u64)>,
}

/// A VOD media playlist.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaPlaylist {
    pub segments: Vec<Segment>,
    /// `EXT-X-MAP` URI of the initialization section (fMP4 segments).
    pub map: Option<String>,
    /// `EXT-X-I-FRAMES-ONLY`.
    pub iframes_only: bool,
    pub dates: Option<DateTimes>,
    /// Whole `#EXT-X-KEY:…` lines (encrypted outputs), written before the first segment.
    pub keys: Vec<String>,
    /// `repeatExtXKey`: the key lines before every segment too.
    pub repeat_keys: bool,
}

/// The lowest `EXT-X-VERSION` key lines need: `KEYFORMAT`/`KEYFORMATVERSIONS` need 5
/// (RFC 8216 §7), `IV` needs 2.
fn key_version(lines: &[String]) -> u32 {
    if lines.iter().any(|l| l.contains("KEYFORMAT")) {
        5
    } else if lines.is_empty() {
        1
    } else {
        2
    }
}

/// Writes a VOD media playlist (`EXT-X-PLAYLIST-TYPE:VOD`, `EXT-X-ENDLIST`).
pub fn media_playlist(p: &MediaPlaylist) -> String {
    // EXTINF is written with 5 decimals; the target is the largest of those values rounded
    // (RFC 8216 §4.3.3.1), computed from the written text so they can never disagree.
    let target = p
        .segments
        .iter()
        .map(|seg| {
            format!("{:.5}", seg.duration)
                .parse::<f64>()
                .map_or(1, |d| d.round() as u64)
        })
        .max()
        .unwrap_or(1)
        .max(1);
    // EXT-X-MAP needs version 6, or 5 in an I-frame playlist; byte ranges and I-frames need 4.
    let version = if p.map.is_some() && !p.iframes_only {
        6
    } else if p.map.is_some() {
        5
    } else if p.iframes_only || p.segments.iter().any(|x| x.byte_range.is_some()) {
        4
    } else {
        3
    };
    let version = version.max(key_version(&p.keys));
    let mut s = format!(
        "#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n"
    );
    if p.iframes_only {
        s.push_str("#EXT-X-I-FRAMES-ONLY\n");
    } else {
        s.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    }
    if let Some(m) = &p.map {
        let _ = writeln!(s, "#EXT-X-MAP:URI=\"{}\"", quoted(m));
    }
    let mut keyed = false;
    let dates = p.dates.filter(|d| d.interval_seconds > 0);
    let mut elapsed = 0.0f64;
    let mut next_tag = 0.0f64;
    for seg in &p.segments {
        if let Some(dt) = dates
            && elapsed + 1e-6 >= next_tag
        {
            let ms = dt.start_ms + (elapsed * 1000.0).round() as i64;
            let _ = writeln!(s, "#EXT-X-PROGRAM-DATE-TIME:{}", rfc3339_ms(ms));
            // The next tag is due one interval after this one.
            next_tag = elapsed + f64::from(dt.interval_seconds);
        }
        if !keyed || p.repeat_keys {
            for k in &p.keys {
                let _ = writeln!(s, "{k}");
            }
            keyed = true;
        }
        let _ = writeln!(s, "#EXTINF:{:.5},", seg.duration);
        if let Some((len, off)) = seg.byte_range {
            let _ = writeln!(s, "#EXT-X-BYTERANGE:{len}@{off}");
        }
        let _ = writeln!(s, "{}", seg.uri);
        elapsed += seg.duration;
    }
    s.push_str("#EXT-X-ENDLIST\n");
    s
}

/// A VOD media playlist of segments `(duration seconds, uri)`, with program date-times when
/// `dates` is given.
pub fn media_with_dates(segments: &[(f64, String)], dates: Option<DateTimes>) -> String {
    media_playlist(&MediaPlaylist {
        segments: segments
            .iter()
            .map(|(d, u)| Segment {
                duration: *d,
                uri: u.clone(),
                byte_range: None,
            })
            .collect(),
        dates,
        ..Default::default()
    })
}

/// A VOD media playlist of segments `(duration seconds, uri)`.
pub fn media(segments: &[(f64, String)]) -> String {
    media_with_dates(segments, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlists_parse_with_m3u8_rs() {
        let m = master(&Master {
            session_keys: Vec::new(),
            variants: vec![Variant {
                uri: "index_0.m3u8".into(),
                bandwidth: 600_000,
                average_bandwidth: 500_000,
                codecs: vec!["avc1.4d401e".into(), "mp4a.40.2".into()],
                resolution: Some((640, 360)),
                frame_rate: Some(25.0),
                audio_group: Some("aac".into()),
                subtitles_group: Some("subs".into()),
            }],
            renditions: vec![
                Rendition {
                    kind: RenditionType::Audio,
                    group: "aac".into(),
                    name: "Fran\"çais".into(),
                    language: Some("fra".into()),
                    default: true,
                    channels: Some(2),
                    uri: "a.m3u8".into(),
                },
                Rendition {
                    kind: RenditionType::Subtitles,
                    group: "subs".into(),
                    name: "English".into(),
                    language: Some("eng".into()),
                    default: false,
                    channels: None,
                    uri: "s.m3u8".into(),
                },
            ],
            iframe_streams: vec![IframeStream {
                uri: "index_0_iframes.m3u8".into(),
                bandwidth: 90_000,
                codecs: vec!["avc1.4d401e".into()],
                resolution: Some((640, 360)),
            }],
        });
        let Ok(m3u8_rs::Playlist::MasterPlaylist(p)) = m3u8_rs::parse_playlist_res(m.as_bytes())
        else {
            panic!("{m}")
        };
        assert_eq!(p.variants.len(), 2, "{m}");
        assert_eq!(p.variants[0].bandwidth, 600_000);
        assert!(p.variants[1].is_i_frame);
        assert_eq!(p.variants[1].uri, "index_0_iframes.m3u8");
        assert_eq!(p.alternatives.len(), 2);
        assert_eq!(p.variants[0].subtitles.as_deref(), Some("subs"));
        assert_eq!(
            p.variants[0].codecs.as_deref(),
            Some("avc1.4d401e,mp4a.40.2")
        );
        let media = media(&[(6.0, "a.ts".into()), (5.52, "b.ts".into())]);
        let Ok(m3u8_rs::Playlist::MediaPlaylist(p)) = m3u8_rs::parse_playlist_res(media.as_bytes())
        else {
            panic!("{media}")
        };
        assert_eq!(p.target_duration, 6);
        assert!(p.end_list);
        assert_eq!(p.segments.len(), 2);
    }

    #[test]
    fn versions_and_target_duration() {
        let seg = |d: f64| Segment {
            duration: d,
            uri: "s.mp4".into(),
            byte_range: None,
        };
        let iframes = media_playlist(&MediaPlaylist {
            keys: Vec::new(),
            repeat_keys: false,
            segments: vec![seg(4.0)],
            map: Some("init.mp4".into()),
            iframes_only: true,
            dates: None,
        });
        assert!(iframes.contains("#EXT-X-VERSION:5\n"), "{iframes}");
        let fmp4 = media_playlist(&MediaPlaylist {
            keys: Vec::new(),
            repeat_keys: false,
            segments: vec![seg(4.0)],
            map: Some("init.mp4".into()),
            ..Default::default()
        });
        assert!(fmp4.contains("#EXT-X-VERSION:6\n"));
        // 4.499996 is written as 4.50000, which rounds to 5: the target must say 5.
        let p = media_playlist(&MediaPlaylist {
            keys: Vec::new(),
            repeat_keys: false,
            segments: vec![seg(4.499996)],
            ..Default::default()
        });
        assert!(
            p.contains("#EXTINF:4.50000,") && p.contains("#EXT-X-TARGETDURATION:5\n"),
            "{p}"
        );
    }

    #[test]
    fn program_date_times() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        // Expected values from Python's datetime, independently.
        assert_eq!(rfc3339_ms(1_795_579_200_123), "2026-11-25T04:00:00.123Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        let segs: Vec<(f64, String)> = (0..5).map(|i| (4.0, format!("s{i}.ts"))).collect();
        let text = media_with_dates(
            &segs,
            Some(DateTimes {
                start_ms: 0,
                interval_seconds: 8,
            }),
        );
        let tags: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("#EXT-X-PROGRAM-DATE-TIME"))
            .collect();
        assert_eq!(
            tags,
            [
                "#EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:00.000Z",
                "#EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:08.000Z",
                "#EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:16.000Z",
            ]
        );
        let Ok(m3u8_rs::Playlist::MediaPlaylist(p)) = m3u8_rs::parse_playlist_res(text.as_bytes())
        else {
            panic!("{text}")
        };
        assert!(p.segments[2].program_date_time.is_some());
        assert!(p.segments[1].program_date_time.is_none());
    }
}
