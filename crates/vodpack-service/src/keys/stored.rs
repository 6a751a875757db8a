//! The stored form of a [`KeySet`]: what the repository keeps per asset × packaging
//! configuration (serde JSON; keys and IVs as hex, PSSH boxes as base64) so that restarts and
//! every node use the keys the key server gave first.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use vodpack_media::package::keys::{
    ContentKey, DrmSignal, Filter, KeySet, KeyUse, parse_uuid, uuid_text,
};

/// Version of this form; a set of another version is fetched again.
pub const STORED_VERSION: u32 = 1;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKeySet {
    pub version: u32,
    pub keys: Vec<StoredKey>,
    pub systems: Vec<StoredSignal>,
}

impl std::fmt::Debug for StoredKeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKeySet")
            .field("version", &self.version)
            .field(
                "kids",
                &self.keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    pub track_type: String,
    pub filters: Vec<StoredFilter>,
    pub kid: String,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explicit_iv: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum StoredFilter {
    Video {
        min_pixels: Option<u64>,
        max_pixels: Option<u64>,
    },
    Audio {
        min_channels: Option<u32>,
        max_channels: Option<u32>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StoredSignal {
    pub system_id: String,
    pub kid: String,
    pub pssh: Option<String>,
    pub content_protection_data: Option<String>,
    pub hls_media: Option<String>,
    pub hls_master: Option<String>,
    pub uri_ext_x_key: Option<String>,
    pub key_format: Option<String>,
    pub key_format_versions: Option<String>,
    pub protection_header: Option<String>,
}

/// A stored set that does not decode (another version, a damaged row).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored keys are not readable: {0}")]
pub struct StoredError(pub &'static str);

fn hex16(s: &str, what: &'static str) -> Result<[u8; 16], StoredError> {
    let v = hex::decode(s).map_err(|_| StoredError(what))?;
    <[u8; 16]>::try_from(v.as_slice()).map_err(|_| StoredError(what))
}

impl StoredKeySet {
    pub fn from_key_set(k: &KeySet) -> StoredKeySet {
        StoredKeySet {
            version: STORED_VERSION,
            keys: k
                .keys
                .iter()
                .map(|(u, c)| StoredKey {
                    track_type: u.track_type.clone(),
                    filters: u
                        .filters
                        .iter()
                        .map(|f| match *f {
                            Filter::Video {
                                min_pixels,
                                max_pixels,
                            } => StoredFilter::Video {
                                min_pixels,
                                max_pixels,
                            },
                            Filter::Audio {
                                min_channels,
                                max_channels,
                            } => StoredFilter::Audio {
                                min_channels,
                                max_channels,
                            },
                        })
                        .collect(),
                    kid: uuid_text(&c.kid),
                    key: hex::encode(c.key),
                    explicit_iv: c.explicit_iv.map(hex::encode),
                })
                .collect(),
            systems: k
                .systems
                .iter()
                .map(|s| StoredSignal {
                    system_id: uuid_text(&s.system_id),
                    kid: uuid_text(&s.kid),
                    pssh: s.pssh.as_ref().map(|p| B64.encode(p)),
                    content_protection_data: s.content_protection_data.clone(),
                    hls_media: s.hls_media.clone(),
                    hls_master: s.hls_master.clone(),
                    uri_ext_x_key: s.uri_ext_x_key.clone(),
                    key_format: s.key_format.clone(),
                    key_format_versions: s.key_format_versions.clone(),
                    protection_header: s.protection_header.clone(),
                })
                .collect(),
        }
    }

    pub fn to_key_set(&self) -> Result<KeySet, StoredError> {
        if self.version != STORED_VERSION {
            return Err(StoredError("unknown version"));
        }
        let mut keys = Vec::new();
        for k in &self.keys {
            let filters = k
                .filters
                .iter()
                .map(|f| match *f {
                    StoredFilter::Video {
                        min_pixels,
                        max_pixels,
                    } => Filter::Video {
                        min_pixels,
                        max_pixels,
                    },
                    StoredFilter::Audio {
                        min_channels,
                        max_channels,
                    } => Filter::Audio {
                        min_channels,
                        max_channels,
                    },
                })
                .collect();
            keys.push((
                KeyUse {
                    track_type: k.track_type.clone(),
                    filters,
                },
                ContentKey {
                    kid: parse_uuid(&k.kid).ok_or(StoredError("kid"))?,
                    key: hex16(&k.key, "key")?,
                    explicit_iv: k
                        .explicit_iv
                        .as_deref()
                        .map(|v| hex16(v, "explicit IV"))
                        .transpose()?,
                },
            ));
        }
        let mut systems = Vec::new();
        for s in &self.systems {
            systems.push(DrmSignal {
                system_id: parse_uuid(&s.system_id).ok_or(StoredError("system id"))?,
                kid: parse_uuid(&s.kid).ok_or(StoredError("kid"))?,
                pssh: s
                    .pssh
                    .as_deref()
                    .map(|p| B64.decode(p).map_err(|_| StoredError("pssh")))
                    .transpose()?,
                content_protection_data: s.content_protection_data.clone(),
                hls_media: s.hls_media.clone(),
                hls_master: s.hls_master.clone(),
                uri_ext_x_key: s.uri_ext_x_key.clone(),
                key_format: s.key_format.clone(),
                key_format_versions: s.key_format_versions.clone(),
                protection_header: s.protection_header.clone(),
            });
        }
        Ok(KeySet { keys, systems })
    }
}
