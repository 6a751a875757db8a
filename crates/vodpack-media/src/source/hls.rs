//! HLS parent (master) and media playlists of TS sources, through m3u8-rs. This module only
//! says what to read; [`crate::source::ts`] reads the segments.

use m3u8_rs::{AlternativeMediaType, KeyMethod, Playlist};

use crate::error::MediaError;

/// A rendition to read: a media playlist and what the parent playlist says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    /// URI of the media playlist, relative to the parent; empty when the parent is itself the
    /// media playlist.
    pub uri: String,
    pub language: Option<String>,
    pub name: Option<String>,
}

/// What a parent playlist lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parent {
    /// Variant streams (video, maybe with muxed audio), I-frame playlists excluded.
    pub variants: Vec<Rendition>,
    /// Separate audio renditions (EXT-X-MEDIA TYPE=AUDIO with a URI).
    pub audio: Vec<Rendition>,
    /// WebVTT subtitle renditions (EXT-X-MEDIA TYPE=SUBTITLES).
    pub subtitles: Vec<Rendition>,
    pub warnings: Vec<String>,
}

/// A media segment: its URI (relative to the media playlist) and byte range if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub uri: String,
    /// (start, length) within the object, for EXT-X-BYTERANGE.
    pub range: Option<(u64, u64)>,
    pub duration: f64,
}

fn bad(msg: impl Into<String>) -> MediaError {
    MediaError::Unsupported(msg.into())
}

fn parse(bytes: &[u8]) -> Result<Playlist, MediaError> {
    if !bytes.starts_with(b"#EXTM3U") && !bytes.starts_with(b"\xef\xbb\xbf#EXTM3U") {
        return Err(MediaError::NotMedia(
            "not an HLS playlist (no #EXTM3U)".into(),
        ));
    }
    m3u8_rs::parse_playlist_res(bytes).map_err(|e| {
        MediaError::Corrupt(format!(
            "cannot parse the playlist: {}",
            e.to_string().chars().take(200).collect::<String>()
        ))
    })
}

/// Parses the playlist an asset names. A media playlist given directly counts as a parent
/// with one variant.
pub fn parse_parent(bytes: &[u8]) -> Result<Parent, MediaError> {
    match parse(bytes)? {
        Playlist::MediaPlaylist(_) => Ok(Parent {
            variants: vec![Rendition {
                uri: String::new(),
                language: None,
                name: None,
            }],
            ..Parent::default()
        }),
        Playlist::MasterPlaylist(m) => {
            let mut p = Parent::default();
            for v in m.variants.iter().filter(|v| !v.is_i_frame) {
                if v.uri.is_empty() {
                    return Err(MediaError::Corrupt("a variant stream has no URI".into()));
                }
                p.variants.push(Rendition {
                    uri: v.uri.clone(),
                    language: None,
                    name: None,
                });
            }
            for a in &m.alternatives {
                match (&a.media_type, &a.uri) {
                    (AlternativeMediaType::Audio, Some(uri))
                        if !p.audio.iter().any(|r| &r.uri == uri) =>
                    {
                        p.audio.push(Rendition {
                            uri: uri.clone(),
                            language: a.language.clone(),
                            name: Some(a.name.clone()).filter(|n| !n.is_empty()),
                        });
                    }
                    (AlternativeMediaType::Subtitles, Some(uri))
                        if !p.subtitles.iter().any(|r| &r.uri == uri) =>
                    {
                        p.subtitles.push(Rendition {
                            uri: uri.clone(),
                            language: a.language.clone(),
                            name: Some(a.name.clone()).filter(|n| !n.is_empty()),
                        });
                    }
                    _ => {}
                }
            }
            if p.variants.is_empty() {
                return Err(MediaError::Corrupt(
                    "the parent playlist lists no variant streams".into(),
                ));
            }
            Ok(p)
        }
    }
}

/// Parses a media playlist into its segments.
pub fn parse_media(bytes: &[u8]) -> Result<Vec<Segment>, MediaError> {
    let Playlist::MediaPlaylist(m) = parse(bytes)? else {
        return Err(MediaError::Corrupt(
            "expected a media playlist, found a parent playlist".into(),
        ));
    };
    if !m.end_list {
        return Err(bad(
            "the media playlist has no EXT-X-ENDLIST: live or event playlists cannot be ingested",
        ));
    }
    let mut out = Vec::with_capacity(m.segments.len());
    let mut next_offset = 0u64;
    for s in &m.segments {
        if let Some(k) = &s.key
            && k.method != KeyMethod::None
        {
            return Err(MediaError::Encrypted(format!(
                "segment '{}' is encrypted (EXT-X-KEY)",
                s.uri
            )));
        }
        if s.map.is_some() {
            return Err(bad(
                "fragmented MP4 (EXT-X-MAP) HLS sources are not supported; use MPEG-TS",
            ));
        }
        let range = s.byte_range.as_ref().map(|r| {
            let start = r.offset.unwrap_or(next_offset);
            next_offset = start + r.length;
            (start, r.length)
        });
        out.push(Segment {
            uri: s.uri.clone(),
            range,
            duration: f64::from(s.duration),
        });
    }
    if out.is_empty() {
        return Err(MediaError::Corrupt(
            "the media playlist has no segments".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_and_media() {
        let p = parse_parent(b"#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"Fr\",LANGUAGE=\"fra\",URI=\"fr/a.m3u8\"\n#EXT-X-STREAM-INF:BANDWIDTH=1000,AUDIO=\"a\"\nv1.m3u8\n#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=10,URI=\"i.m3u8\"\n").unwrap();
        assert_eq!(p.variants.len(), 1);
        assert_eq!(p.audio[0].language.as_deref(), Some("fra"));
        let s = parse_media(b"#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.0,\na.ts\n#EXT-X-BYTERANGE:100@0\n#EXTINF:6.0,\nb.ts\n#EXT-X-BYTERANGE:50\n#EXTINF:2.0,\nb.ts\n#EXT-X-ENDLIST\n").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[1].range, Some((0, 100)));
        assert_eq!(s[2].range, Some((100, 50)));
        assert!(
            parse_media(b"#EXTM3U\n#EXTINF:6.0,\na.ts\n").is_err(),
            "no ENDLIST"
        );
        assert!(parse_media(b"#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"k\"\n#EXTINF:6.0,\na.ts\n#EXT-X-ENDLIST\n").is_err());
        assert!(parse_parent(b"garbage").is_err());
    }
}
