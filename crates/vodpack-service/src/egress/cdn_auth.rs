//! CDN authorization: when a packaging group has `authorization`, every egress request must
//! carry `X-MediaPackage-CDNIdentifier` with the secret's current or previous value.
//!
//! AWS keeps the value in Secrets Manager; here the secret ARN resolves through a local JSON
//! file (`VODPACK_CDN_SECRETS_FILE`, default `<data dir>/cdn-secrets.json`) mapping each ARN
//! to its accepted values, current first: `{"arn:aws:secretsmanager:…:secret:cdn": ["new",
//! "old"]}`. The file is re-read when it changes, so rotation needs no restart. A group whose
//! secret is not in the file refuses every request, as AWS does when it cannot read the secret.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use subtle::ConstantTimeEq;

/// Header a CDN sends on every origin request.
pub const HEADER: &str = "x-mediapackage-cdnidentifier";

/// The file's modification time when read, and its contents: ARN → accepted values.
type Loaded = (Option<SystemTime>, HashMap<String, Vec<String>>);

pub struct CdnSecrets {
    path: PathBuf,
    loaded: Mutex<Loaded>,
}

impl CdnSecrets {
    pub fn new(path: PathBuf) -> CdnSecrets {
        CdnSecrets {
            path,
            loaded: Mutex::new((None, HashMap::new())),
        }
    }

    /// The accepted values for a secret ARN, reloading the file if it changed.
    fn values(&self, arn: &str) -> Vec<String> {
        let Ok(mut state) = self.loaded.lock() else {
            return Vec::new();
        };
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if modified != state.0 {
            let parsed: HashMap<String, Vec<String>> = std::fs::read(&self.path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_else(|| {
                    if modified.is_some() {
                        tracing::error!(path = %self.path.display(), "the CDN secrets file is not a JSON object of string lists");
                    }
                    HashMap::new()
                });
            *state = (modified, parsed);
        }
        state.1.get(arn).cloned().unwrap_or_default()
    }

    /// Whether `presented` is an accepted value of `arn` (constant-time per value).
    pub fn allows(&self, arn: &str, presented: Option<&str>) -> bool {
        let Some(p) = presented else { return false };
        self.values(arn)
            .iter()
            .take(2)
            .any(|v| !v.is_empty() && bool::from(v.as_bytes().ct_eq(p.as_bytes())))
    }
}
