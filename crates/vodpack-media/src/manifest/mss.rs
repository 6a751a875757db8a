//! Microsoft Smooth Streaming client manifest ([MS-SSTR] 2.2.2) for MediaPackage VOD
//! `mssPackage` output, written with `write!` (attribute values XML-escaped). Pure: the caller
//! supplies fragment timelines, bitrates and `CodecPrivateData` bytes.
//!
//! What it owns: `SmoothStreamingMedia MajorVersion="2" MinorVersion="2"` with `Duration` and
//! `TimeScale` (no `IsLive`: VOD); one `StreamIndex` per input stream with `Type`, `Name`,
//! `Language`, `Chunks`, `QualityLevels`, `TimeScale`, `Url` =
//! `QualityLevels({bitrate})/Fragments(<Name>={start time})` and, for video, `MaxWidth`,
//! `MaxHeight`, `DisplayWidth`, `DisplayHeight`; `QualityLevel`s with `Index`, `Bitrate`,
//! `FourCC`, `CodecPrivateData` (upper-case hex) and `MaxWidth`/`MaxHeight` (video) or
//! `SamplingRate`, `Channels`, `BitsPerSample`, `PacketSize`, `AudioTag` (audio); `c`
//! elements with `t` on the first fragment and after any discontinuity, `d` always.
//!
//! What players read (dash.js `MssParser`, Shaka `mss_parser`, ExoPlayer `SsManifestParser`):
//! `Duration`, `TimeScale` (SmoothStreamingMedia and StreamIndex), `StreamIndex@Type`,
//! `@Name`, `@Language`, `@Url` (they substitute `{bitrate}` and `{start time}` — with a space;
//! only ExoPlayer also accepts `{start_time}`), `QualityLevel@Bitrate`, `@FourCC`,
//! `@CodecPrivateData` (dash.js/Shaka derive `avc1.PPCCLL` from the SPS after a `00000001`
//! start code and `mp4a.40.N` from the first AudioSpecificConfig byte), `@MaxWidth`,
//! `@MaxHeight`, `@SamplingRate`, `@Channels`, and `c@t`/`c@d`. `BitsPerSample`,
//! `PacketSize` and `AudioTag` are required by [MS-SSTR] for audio and ignored by those
//! players. FourCC support: dash.js and Shaka accept `H264`/`AVC1` video and `AAC`/`AACL`/
//! `AACH` audio only; ExoPlayer adds `ac-3` and `ec-3` (case-insensitive). No web player
//! accepts HEVC in Smooth; we write `HVC1` (the sample-entry name) for it.
//!
//! `c@r` (MinorVersion 2 repeat compression) is opt-in because players disagree on it:
//! dash.js reads `r` as the number of fragments in the run, Shaka and ExoPlayer as the number
//! of *extra* repeats (like DASH `S@r`). When enabled we write the DASH-like meaning
//! (`r` = extra fragments), matching Shaka and ExoPlayer.

use std::fmt::Write;

use quick_xml::escape::escape;

/// The default Smooth timescale (100 ns units); players assume it when `TimeScale` is absent.
pub const DEFAULT_TIMESCALE: u64 = 10_000_000;

/// Codec of a QualityLevel; decides `FourCC` (and `AudioTag` for audio).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// `H264`; `CodecPrivateData` = Annex B SPS and PPS, each after a `00000001` start code.
    H264,
    /// `HVC1`; `CodecPrivateData` = Annex B VPS, SPS, PPS.
    Hevc,
    /// `AACL`, `AudioTag` 255; `CodecPrivateData` = AudioSpecificConfig.
    Aac,
    /// `AC-3`, `AudioTag` 8192 (WAVE_FORMAT_DOLBY_AC3).
    Ac3,
    /// `EC-3`, `AudioTag` 65534; `CodecPrivateData` is the `dec3` payload as the service
    /// passes it (no WAVEFORMATEXTENSIBLE header: web players do not play E-AC-3 in Smooth,
    /// ExoPlayer configures its decoder from the stream itself).
    Ec3,
}

impl Codec {
    pub fn fourcc(self) -> &'static str {
        match self {
            Codec::H264 => "H264",
            Codec::Hevc => "HVC1",
            Codec::Aac => "AACL",
            Codec::Ac3 => "AC-3",
            Codec::Ec3 => "EC-3",
        }
    }

    /// `AudioTag` (a WAVEFORMATEX `wFormatTag`); 0 for video codecs.
    pub fn audio_tag(self) -> u32 {
        match self {
            Codec::Aac => 255,
            Codec::Ac3 => 8192,
            Codec::Ec3 => 65534,
            Codec::H264 | Codec::Hevc => 0,
        }
    }
}

/// Per-track properties of a QualityLevel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    Video {
        width: u32,
        height: u32,
    },
    Audio {
        sampling_rate: u32,
        channels: u32,
        /// `BitsPerSample` (16 for compressed audio by convention).
        bits_per_sample: u32,
        /// `PacketSize` (WAVEFORMATEX `nBlockAlign`; 4 by convention for AAC).
        packet_size: u32,
    },
}

/// One `QualityLevel` (one bitrate of a stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualityLevel {
    /// Bits per second; also the `{bitrate}` of fragment URLs, so unique within a stream.
    pub bitrate: u32,
    pub codec: Codec,
    /// Written as upper-case hex.
    pub codec_private_data: Vec<u8>,
    pub track: Track,
}

/// `StreamIndex@Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamType {
    Video,
    Audio,
}

/// One `StreamIndex`: the QualityLevels that share one fragment timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    pub kind: StreamType,
    /// `Name`, also the key in `Fragments(<Name>={start time})`: unique in the manifest,
    /// and URL-safe (no `(`, `)`, `=`, `/`, `{`, `}` or white space).
    pub name: String,
    /// RFC 5646 / ISO 639 language (`Language`).
    pub language: Option<String>,
    pub levels: Vec<QualityLevel>,
    /// Fragments as (start time, duration) in the manifest timescale, in order.
    pub fragments: Vec<(u64, u64)>,
}

/// Everything one client manifest shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmoothManifest {
    /// Ticks per second of every time value (`TimeScale` on SmoothStreamingMedia and on each
    /// StreamIndex); normally [`DEFAULT_TIMESCALE`].
    pub timescale: u64,
    /// `Duration` in `timescale` ticks.
    pub duration: u64,
    pub streams: Vec<Stream>,
    /// Write `c@r` run-length compression (see the module doc); off = one `c` per fragment.
    pub compress_repeats: bool,
    /// PlayReady protection ([MS-SSTR] 2.2.2.2): (system ID as UUID text, the header as the
    /// key server gave it: base64 of the PlayReady Object).
    pub protection: Option<(String, String)>,
}

fn hex_upper(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02X}");
    }
    s
}

fn element(s: &mut String, depth: usize, name: &str, attrs: &[(&str, String)], close: bool) {
    for _ in 0..depth {
        s.push_str("  ");
    }
    s.push('<');
    s.push_str(name);
    for (k, v) in attrs {
        let _ = write!(s, " {k}=\"{}\"", escape(v.as_str()));
    }
    s.push_str(if close { "/>\n" } else { ">\n" });
}

/// `c` entries as (t if written, d, extra repeats).
fn chunk_runs(fragments: &[(u64, u64)], compress: bool) -> Vec<(Option<u64>, u64, u64)> {
    let mut runs: Vec<(Option<u64>, u64, u64)> = Vec::new();
    let mut expected: Option<u64> = None;
    for &(t, d) in fragments {
        let contiguous = expected == Some(t);
        match runs.last_mut() {
            Some(last) if compress && contiguous && last.1 == d => last.2 += 1,
            _ => runs.push((if contiguous { None } else { Some(t) }, d, 0)),
        }
        expected = Some(t.saturating_add(d));
    }
    runs
}

/// Writes the client manifest.
pub fn client_manifest(m: &SmoothManifest) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    element(
        &mut s,
        0,
        "SmoothStreamingMedia",
        &[
            ("MajorVersion", "2".into()),
            ("MinorVersion", "2".into()),
            ("Duration", m.duration.to_string()),
            ("TimeScale", m.timescale.to_string()),
        ],
        false,
    );
    for st in &m.streams {
        let video = st.kind == StreamType::Video;
        let mut attrs = vec![
            ("Type", if video { "video" } else { "audio" }.to_string()),
            ("Name", st.name.clone()),
        ];
        if let Some(l) = &st.language {
            attrs.push(("Language", l.clone()));
        }
        attrs.push(("Chunks", st.fragments.len().to_string()));
        attrs.push(("QualityLevels", st.levels.len().to_string()));
        attrs.push(("TimeScale", m.timescale.to_string()));
        attrs.push((
            "Url",
            format!(
                "QualityLevels({{bitrate}})/Fragments({}={{start time}})",
                st.name
            ),
        ));
        if video {
            let sizes = || {
                st.levels.iter().filter_map(|q| match q.track {
                    Track::Video { width, height } => Some((width, height)),
                    Track::Audio { .. } => None,
                })
            };
            let w = sizes().map(|x| x.0).max().unwrap_or(0);
            let h = sizes().map(|x| x.1).max().unwrap_or(0);
            attrs.push(("MaxWidth", w.to_string()));
            attrs.push(("MaxHeight", h.to_string()));
            attrs.push(("DisplayWidth", w.to_string()));
            attrs.push(("DisplayHeight", h.to_string()));
        }
        element(&mut s, 1, "StreamIndex", &attrs, false);
        for (index, q) in st.levels.iter().enumerate() {
            let mut a = vec![
                ("Index", index.to_string()),
                ("Bitrate", q.bitrate.to_string()),
                ("FourCC", q.codec.fourcc().to_string()),
            ];
            match q.track {
                Track::Video { width, height } => {
                    a.push(("MaxWidth", width.to_string()));
                    a.push(("MaxHeight", height.to_string()));
                }
                Track::Audio {
                    sampling_rate,
                    channels,
                    bits_per_sample,
                    packet_size,
                } => {
                    a.push(("SamplingRate", sampling_rate.to_string()));
                    a.push(("Channels", channels.to_string()));
                    a.push(("BitsPerSample", bits_per_sample.to_string()));
                    a.push(("PacketSize", packet_size.to_string()));
                    a.push(("AudioTag", q.codec.audio_tag().to_string()));
                }
            }
            a.push(("CodecPrivateData", hex_upper(&q.codec_private_data)));
            element(&mut s, 2, "QualityLevel", &a, true);
        }
        for (t, d, r) in chunk_runs(&st.fragments, m.compress_repeats) {
            let mut a = Vec::with_capacity(3);
            if let Some(t) = t {
                a.push(("t", t.to_string()));
            }
            a.push(("d", d.to_string()));
            if r > 0 {
                a.push(("r", r.to_string()));
            }
            element(&mut s, 2, "c", &a, true);
        }
        s.push_str("  </StreamIndex>\n");
    }
    if let Some((system_id, header)) = &m.protection {
        // The last child of SmoothStreamingMedia; the bare UUID form (dash.js and Bento4).
        s.push_str("  <Protection>\n");
        element(
            &mut s,
            2,
            "ProtectionHeader",
            &[("SystemID", system_id.clone())],
            false,
        );
        s.pop();
        s.push_str(&escape(header.trim()));
        s.push_str("</ProtectionHeader>\n  </Protection>\n");
    }
    s.push_str("</SmoothStreamingMedia>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs() {
        let f = [(0, 20), (20, 20), (40, 20), (60, 7), (100, 7)];
        assert_eq!(
            chunk_runs(&f, false),
            vec![
                (Some(0), 20, 0),
                (None, 20, 0),
                (None, 20, 0),
                (None, 7, 0),
                (Some(100), 7, 0)
            ]
        );
        assert_eq!(
            chunk_runs(&f, true),
            vec![(Some(0), 20, 2), (None, 7, 0), (Some(100), 7, 0)]
        );
    }

    #[test]
    fn hex() {
        assert_eq!(hex_upper(&[0x12, 0x10, 0xab]), "1210AB");
    }
}
