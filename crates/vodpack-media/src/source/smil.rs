//! SMIL manifests as MediaPackage VOD accepts them: a `<switch>` of `<video>` MP4 renditions
//! (`src`|`name`, `systemLanguage`|`language`, `audioName`, `includeAudio`, comma-separated
//! lists for files with several audio tracks) and `<textstream>` SRT subtitles
//! (`src`, `systemLanguage`, `subtitleName`). Paths are relative to the SMIL; resolving them
//! safely is the caller's job.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::error::MediaError;

/// One `<video>` entry: an MP4 file with video and possibly several audio tracks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmilVideo {
    pub src: String,
    /// Languages of the file's audio tracks, in track order.
    pub languages: Vec<String>,
    /// Names of the file's audio tracks, in track order.
    pub audio_names: Vec<String>,
    /// Whether to use each audio track; a single value applies to all. Default: all used.
    pub include_audio: Vec<bool>,
}

impl SmilVideo {
    /// Whether the `i`-th audio track of the file is to be used.
    pub fn includes_audio(&self, i: usize) -> bool {
        match self.include_audio.as_slice() {
            [] => true,
            [one] => *one,
            many => many.get(i).copied().unwrap_or(true),
        }
    }
}

/// One `<textstream>` entry: an SRT file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmilText {
    pub src: String,
    pub language: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Smil {
    pub videos: Vec<SmilVideo>,
    pub texts: Vec<SmilText>,
}

fn attrs(e: &BytesStart<'_>) -> Result<Vec<(String, String)>, MediaError> {
    let mut out = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| MediaError::Smil(format!("bad attribute: {err}")))?;
        let key = a.key.local_name().as_ref().to_string();
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| MediaError::Smil(format!("bad attribute value: {err}")))?
            .to_string();
        out.push((key, value));
    }
    Ok(out)
}

fn get<'a>(attrs: &'a [(String, String)], names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|n| {
        attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    })
}

fn list(v: Option<&str>) -> Vec<String> {
    v.map(|s| s.split(',').map(|p| p.trim().to_string()).collect())
        .unwrap_or_default()
}

fn bools(v: Option<&str>) -> Result<Vec<bool>, MediaError> {
    list(v)
        .iter()
        .map(|s| match s.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(MediaError::Smil(format!(
                "includeAudio value '{other}' is not true or false"
            ))),
        })
        .collect()
}

/// Parses a SMIL document.
pub fn parse(bytes: &[u8]) -> Result<Smil, MediaError> {
    let mut reader = Reader::from_reader(bytes);
    reader.config_mut().trim_text(true);
    let mut smil = Smil::default();
    let mut saw_root = false;
    let mut buf = Vec::new();
    loop {
        let ev = reader.read_event_into(&mut buf).map_err(|e| {
            MediaError::Smil(format!(
                "not well-formed XML at byte {}: {e}",
                reader.buffer_position()
            ))
        })?;
        match ev {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.local_name().as_ref().to_ascii_lowercase();
                match name.as_str() {
                    "smil" => saw_root = true,
                    "video" => {
                        let a = attrs(&e)?;
                        let src = get(&a, &["src", "name"]).ok_or_else(|| {
                            MediaError::Smil("a <video> has no src or name".into())
                        })?;
                        smil.videos.push(SmilVideo {
                            src: src.to_string(),
                            languages: list(get(&a, &["systemLanguage", "language"])),
                            audio_names: list(get(&a, &["audioName"])),
                            include_audio: bools(get(&a, &["includeAudio"]))?,
                        });
                    }
                    "textstream" => {
                        let a = attrs(&e)?;
                        let src = get(&a, &["src", "name"]).ok_or_else(|| {
                            MediaError::Smil("a <textstream> has no src or name".into())
                        })?;
                        smil.texts.push(SmilText {
                            src: src.to_string(),
                            language: get(&a, &["systemLanguage", "language"]).map(str::to_string),
                            name: get(&a, &["subtitleName"]).map(str::to_string),
                        });
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !saw_root {
        return Err(MediaError::Smil("no <smil> root element".into()));
    }
    if smil.videos.is_empty() {
        return Err(MediaError::Smil("no <video> entries".into()));
    }
    Ok(smil)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_example() {
        let s = parse(br#"<?xml version="1.0"?><smil><body><alias value="x"/><switch>
            <video name="a.mp4" systemLanguage="eng,fra,spa" audioName="English,French,Spanish" includeAudio="true,false,true"/>
            <video src="b.mp4" language="eng"/>
            <textstream src="subs/x.srt" systemLanguage="eng" subtitleName="English" includeAudio="false"/>
            </switch></body></smil>"#).unwrap();
        assert_eq!(s.videos.len(), 2);
        assert_eq!(s.videos[0].src, "a.mp4");
        assert_eq!(s.videos[0].languages, ["eng", "fra", "spa"]);
        assert!(!s.videos[0].includes_audio(1));
        assert!(s.videos[0].includes_audio(2));
        assert!(s.videos[1].includes_audio(0));
        assert_eq!(s.texts[0].name.as_deref(), Some("English"));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse(b"<smil><body><switch><video/></switch></body></smil>").is_err());
        assert!(parse(b"<smil></smil>").is_err());
        assert!(parse(b"not xml <<<").is_err());
        assert!(parse(b"<html><video src='a.mp4'/></html>").is_err());
        assert!(parse(b"<smil><video src='a.mp4' includeAudio='maybe'/></smil>").is_err());
    }
}
