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
}

/// An audio rendition (`EXT-X-MEDIA:TYPE=AUDIO`).
#[derive(Debug, Clone, PartialEq)]
pub struct AudioRendition {
    pub group: String,
    pub name: String,
    pub language: Option<String>,
    pub default: bool,
    pub uri: String,
}

fn quoted(s: &str) -> String {
    // Attribute values may not contain quotes or line breaks (RFC 8216 §4.2).
    s.chars()
        .filter(|c| *c != '"' && *c != '\n' && *c != '\r')
        .collect()
}

/// The multivariant playlist.
pub fn master(variants: &[Variant], audio: &[AudioRendition]) -> String {
    let mut s = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for a in audio {
        let _ = write!(
            s,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{}\",NAME=\"{}\",",
            quoted(&a.group),
            quoted(&a.name)
        );
        if let Some(l) = &a.language {
            let _ = write!(s, "LANGUAGE=\"{}\",", quoted(l));
        }
        let d = if a.default { "YES" } else { "NO" };
        let _ = writeln!(s, "DEFAULT={d},AUTOSELECT=YES,URI=\"{}\"", quoted(&a.uri));
    }
    for v in variants {
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
        let _ = write!(s, "\n{}\n", v.uri);
    }
    s
}

/// A VOD media playlist of segments `(duration seconds, uri)`.
pub fn media(segments: &[(f64, String)]) -> String {
    let target = segments
        .iter()
        .map(|(d, _)| d.round() as u64)
        .max()
        .unwrap_or(1)
        .max(1);
    let mut s = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n"
    );
    for (d, uri) in segments {
        let _ = write!(s, "#EXTINF:{d:.5},\n{uri}\n");
    }
    s.push_str("#EXT-X-ENDLIST\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlists_parse_with_m3u8_rs() {
        let m = master(
            &[Variant {
                uri: "index_0.m3u8".into(),
                bandwidth: 600_000,
                average_bandwidth: 500_000,
                codecs: vec!["avc1.4d401e".into(), "mp4a.40.2".into()],
                resolution: Some((640, 360)),
                frame_rate: Some(25.0),
                audio_group: Some("aac".into()),
            }],
            &[AudioRendition {
                group: "aac".into(),
                name: "Fran\"çais".into(),
                language: Some("fra".into()),
                default: true,
                uri: "a.m3u8".into(),
            }],
        );
        let Ok(m3u8_rs::Playlist::MasterPlaylist(p)) = m3u8_rs::parse_playlist_res(m.as_bytes())
        else {
            panic!("{m}")
        };
        assert_eq!(p.variants[0].bandwidth, 600_000);
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
}
