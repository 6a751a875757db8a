//! The content keys a presentation is encrypted with and what the key server said about each
//! DRM system, as the packaging chain and the manifest writers use them. The service's key
//! providers (SPEKE, a fixed key list) produce a [`KeySet`] per asset × packaging
//! configuration; everything below only reads it.
//!
//! Key bytes and IVs never appear in `Debug` output (the manual impls below), so they cannot
//! leak into logs or error messages by formatting.

use std::fmt;

use crate::index::{Track, TrackKind};

/// A key ID: 16 bytes in UUID text order (big-endian fields), as in `tenc.default_KID`.
pub type Kid = [u8; 16];

/// How a configuration's output is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// HLS-TS: AES-128-CBC over whole segments (PKCS#7).
    Aes128,
    /// HLS-TS: SAMPLE-AES (Apple's MPEG-2 stream encryption).
    SampleAes,
    /// CMAF: ISO 23001-7 `cbcs`.
    Cbcs,
    /// DASH: ISO 23001-7 `cenc` (AES-CTR).
    Cenc,
    /// Smooth: PlayReady PIFF (AES-CTR, 8-byte IVs).
    Piff,
}

/// One content key.
#[derive(Clone, PartialEq, Eq)]
pub struct ContentKey {
    pub kid: Kid,
    pub key: [u8; 16],
    /// The key server's `explicitIV`.
    pub explicit_iv: Option<[u8; 16]>,
}

impl fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContentKey")
            .field("kid", &uuid_text(&self.kid))
            .field("key", &"<redacted>")
            .field("explicit_iv", &self.explicit_iv.map(|_| "<redacted>"))
            .finish()
    }
}

/// A SPEKE v2 usage-rule filter: which tracks a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// Video tracks with `min_pixels <= width × height <= max_pixels`.
    Video {
        min_pixels: Option<u64>,
        max_pixels: Option<u64>,
    },
    /// Audio tracks with `min_channels <= channels <= max_channels`.
    Audio {
        min_channels: Option<u32>,
        max_channels: Option<u32>,
    },
}

impl Filter {
    fn matches(&self, track: &Track) -> bool {
        let within = |v: u64, lo: Option<u64>, hi: Option<u64>| {
            lo.is_none_or(|lo| v >= lo) && hi.is_none_or(|hi| v <= hi)
        };
        match (self, track.codec.kind()) {
            (
                Filter::Video {
                    min_pixels,
                    max_pixels,
                },
                TrackKind::Video,
            ) => within(
                u64::from(track.width) * u64::from(track.height),
                *min_pixels,
                *max_pixels,
            ),
            (
                Filter::Audio {
                    min_channels,
                    max_channels,
                },
                TrackKind::Audio,
            ) => within(
                u64::from(track.channels),
                min_channels.map(u64::from),
                max_channels.map(u64::from),
            ),
            _ => false,
        }
    }
}

/// Which tracks a key is for: SPEKE v2's `intendedTrackType` and its filters (`ALL` with a
/// video and an audio filter without bounds for SPEKE v1 and SHARED presets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUse {
    pub track_type: String,
    pub filters: Vec<Filter>,
}

impl KeyUse {
    /// One key for every track.
    pub fn all() -> KeyUse {
        KeyUse {
            track_type: "ALL".into(),
            filters: vec![
                Filter::Video {
                    min_pixels: None,
                    max_pixels: None,
                },
                Filter::Audio {
                    min_channels: None,
                    max_channels: None,
                },
            ],
        }
    }
}

/// What the key server returned for one DRM system and one key (decoded from base64).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrmSignal {
    pub system_id: [u8; 16],
    pub kid: Kid,
    /// A whole `pssh` box, to put in `moov` as is.
    pub pssh: Option<Vec<u8>>,
    /// XML to put under a DASH `ContentProtection` element.
    pub content_protection_data: Option<String>,
    /// SPEKE v2 `HLSSignalingData`: whole `#EXT-X-KEY` (media) and `#EXT-X-SESSION-KEY`
    /// (master) lines.
    pub hls_media: Option<String>,
    pub hls_master: Option<String>,
    /// SPEKE v1: the `URI`, `KEYFORMAT` and `KEYFORMATVERSIONS` of `EXT-X-KEY`.
    pub uri_ext_x_key: Option<String>,
    pub key_format: Option<String>,
    pub key_format_versions: Option<String>,
    /// The base64 PlayReady Object for Smooth's `ProtectionHeader`.
    pub protection_header: Option<String>,
}

/// The keys of one asset × packaging configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    /// In the order the key server listed them: a track takes the first whose use matches.
    pub keys: Vec<(KeyUse, ContentKey)>,
    pub systems: Vec<DrmSignal>,
}

impl KeySet {
    /// The key that encrypts `track`; `None` leaves it clear (an UNENCRYPTED preset, or no
    /// usage rule matches it: "MediaPackage does not use that key"). Text tracks are never
    /// encrypted.
    pub fn key_for(&self, track: &Track) -> Option<&ContentKey> {
        self.keys
            .iter()
            .find(|(u, _)| u.filters.iter().any(|f| f.matches(track)))
            .map(|(_, k)| k)
    }

    /// What the key server said about `kid`, one entry per DRM system.
    pub fn signals_for<'a>(&'a self, kid: &'a Kid) -> impl Iterator<Item = &'a DrmSignal> + 'a {
        self.systems.iter().filter(move |s| &s.kid == kid)
    }
}

/// A KID (or system ID) as UUID text: `00112233-4455-6677-8899-aabbccddeeff`.
pub fn uuid_text(b: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*b).hyphenated().to_string()
}

/// Parses UUID text (hyphenated or 32 hex digits, any case; also 16-byte hex values such as
/// IVs).
pub fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    uuid::Uuid::try_parse(s).ok().map(|u| *u.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_round_trip_and_keys_stay_out_of_debug() {
        let kid = parse_uuid("00112233-4455-6677-8899-AABBCCDDEEFF").unwrap();
        assert_eq!(uuid_text(&kid), "00112233-4455-6677-8899-aabbccddeeff");
        assert_eq!(parse_uuid("0011"), None);
        let k = ContentKey {
            kid,
            key: [0x0f; 16],
            explicit_iv: Some([7; 16]),
        };
        let text = format!("{k:?}");
        // Neither the key's bytes (15 = 0x0f) nor the IV's (7) in any form.
        assert!(
            !text.contains("15") && !text.contains("0f0f") && !text.contains("7, 7"),
            "{text}"
        );
        assert!(text.contains("<redacted>"), "{text}");
    }
}
