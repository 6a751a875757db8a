//! A fixed key source: `KID=KEY,...` in hex (UUID text or 32 hex digits for the KID, 32 hex
//! digits for the key), for `vodpack package --keys` and tests. One key encrypts every track;
//! with as many keys as the configuration's SPEKE 2.0 presets name, they are taken in preset
//! order (video keys first). No DRM system signalling comes with them.

use async_trait::async_trait;
use vodpack_media::package::keys::{ContentKey, KeySet, KeyUse, Kid, parse_uuid};

use super::{KeyError, KeyProvider, KeyRequest, cpix};

#[derive(Clone)]
pub struct StaticKeys {
    keys: Vec<(Kid, [u8; 16])>,
}

impl std::fmt::Debug for StaticKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StaticKeys({} keys)", self.keys.len())
    }
}

impl StaticKeys {
    /// Parses `KID=KEY[,KID=KEY...]`. Errors say which entry is wrong, never its key.
    pub fn parse(s: &str) -> Result<StaticKeys, KeyError> {
        let mut keys = Vec::new();
        for (i, part) in s.split(',').map(str::trim).enumerate() {
            if part.is_empty() {
                continue;
            }
            let bad = |what: &str| KeyError::Config(format!("--keys entry {}: {what}", i + 1));
            let (kid, key) = part
                .split_once('=')
                .ok_or_else(|| bad("expected KID=KEY"))?;
            let kid = parse_uuid(kid.trim()).ok_or_else(|| bad("the KID is not 32 hex digits"))?;
            let key = hex::decode(key.trim())
                .ok()
                .and_then(|v| <[u8; 16]>::try_from(v.as_slice()).ok())
                .ok_or_else(|| bad("the key is not 32 hex digits"))?;
            if keys.iter().any(|(k, _)| *k == kid) {
                return Err(bad("the KID is listed twice"));
            }
            keys.push((kid, key));
        }
        if keys.is_empty() {
            return Err(KeyError::Config("--keys: no KID=KEY given".into()));
        }
        Ok(StaticKeys { keys })
    }
}

#[async_trait]
impl KeyProvider for StaticKeys {
    async fn keys(&self, req: &KeyRequest<'_>) -> Result<KeySet, KeyError> {
        let enc = req
            .spec
            .encryption
            .as_ref()
            .ok_or(KeyError::Cpix(cpix::CpixError::NotEncrypted))?;
        let uses = match &enc.speke.presets {
            None => vec![KeyUse::all()],
            Some((v, a)) => cpix::preset_keys(v, a).map_err(KeyError::Cpix)?,
        };
        let key = |(kid, key): &(Kid, [u8; 16])| ContentKey {
            kid: *kid,
            key: *key,
            explicit_iv: None,
        };
        let keys = if self.keys.len() == 1 {
            vec![(KeyUse::all(), key(&self.keys[0]))]
        } else if self.keys.len() == uses.len() {
            uses.into_iter().zip(self.keys.iter().map(key)).collect()
        } else {
            return Err(KeyError::Config(format!(
                "--keys gives {} keys; the configuration's presets need 1 or {}",
                self.keys.len(),
                uses.len()
            )));
        };
        Ok(KeySet {
            keys,
            systems: Vec::new(),
        })
    }
}
