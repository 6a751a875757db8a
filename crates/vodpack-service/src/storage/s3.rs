//! AWS S3 or any S3-compatible store, through object_store (signed ranged GETs, retries with
//! backoff). Credentials and region come from [`S3Settings`] (vodpack's own `VODPACK_S3_*`
//! settings), never from the `AWS_*` variables API clients use, so exporting a client's key pair
//! cannot change which key reads sources.
//!
//! An object's version is its ETag; checked reads send it as `If-Match`, so a replaced object
//! answers 412 instead of other bytes. Connect and read timeouts per attempt, and few retries,
//! keep a silent store from holding a request for minutes ([`Timeouts`]).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as StorePath;
use object_store::{ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, RetryConfig};

use super::{ObjectRef, ObjectVersion, Storage, StorageError, Timeouts, check_version};

/// Where the S3 API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// `http(s)://host:port` of an S3-compatible server; `None` for AWS S3 itself.
    pub endpoint: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`) instead of virtual-hosted style.
    pub path_style: bool,
    /// Region requests are signed for.
    pub default_region: String,
    /// Key pair sources are read with; `None`: the machine's role (web identity, container or
    /// instance credentials).
    pub credentials: Option<S3Credentials>,
}

/// A static S3 key pair.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

// Settings are logged and printed; the secret and token never are.
impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Variables the platform sets for the machine's role (EKS, ECS), as opposed to a user's keys.
const ROLE_VARIABLES: [&str; 6] = [
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
];

pub struct S3Storage {
    settings: S3Settings,
    timeouts: Timeouts,
    buckets: Mutex<HashMap<String, Arc<AmazonS3>>>,
}

impl S3Storage {
    pub fn new(settings: S3Settings, timeouts: Timeouts) -> S3Storage {
        S3Storage {
            settings,
            timeouts,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn store(&self, obj: &ObjectRef) -> Result<Arc<AmazonS3>, StorageError> {
        let mut buckets = self
            .buckets
            .lock()
            .map_err(|_| backend(obj, "lock poisoned"))?;
        if let Some(s) = buckets.get(&obj.bucket) {
            return Ok(s.clone());
        }
        // Client options first: `with_allow_http` below is one of them.
        let t = &self.timeouts;
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&obj.bucket)
            .with_region(&self.settings.default_region)
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(t.connect)
                    .with_read_timeout(t.read),
            )
            .with_retry(RetryConfig {
                max_retries: t.retries,
                retry_timeout: t.egress,
                ..RetryConfig::default()
            });
        if let Some(c) = &self.settings.credentials {
            b = b
                .with_access_key_id(&c.access_key_id)
                .with_secret_access_key(&c.secret_access_key);
            if let Some(t) = &c.session_token {
                b = b.with_token(t);
            }
        } else {
            for name in ROLE_VARIABLES {
                if let (Ok(v), Ok(key)) = (std::env::var(name), name.to_ascii_lowercase().parse()) {
                    b = b.with_config(key, v);
                }
            }
        }
        if let Some(endpoint) = &self.settings.endpoint {
            b = b
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        b = b.with_virtual_hosted_style_request(!self.settings.path_style);
        let store = Arc::new(b.build().map_err(|e| backend(obj, e))?);
        buckets.insert(obj.bucket.clone(), store.clone());
        Ok(store)
    }
}

fn backend(obj: &ObjectRef, e: impl std::fmt::Display) -> StorageError {
    StorageError::Backend {
        bucket: obj.bucket.clone(),
        key: obj.key.clone(),
        detail: e.to_string(),
    }
}

fn map_err(obj: &ObjectRef, e: object_store::Error) -> StorageError {
    match e {
        object_store::Error::NotFound { .. } => StorageError::NotFound {
            bucket: obj.bucket.clone(),
            key: obj.key.clone(),
        },
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => StorageError::Denied {
            bucket: obj.bucket.clone(),
            key: obj.key.clone(),
        },
        object_store::Error::Precondition { .. } => StorageError::Changed {
            bucket: obj.bucket.clone(),
            key: obj.key.clone(),
            detail: "its ETag is no longer the indexed one".to_string(),
        },
        other => backend(obj, other),
    }
}

#[async_trait]
impl Storage for S3Storage {
    async fn stat(&self, obj: &ObjectRef) -> Result<ObjectVersion, StorageError> {
        let store = self.store(obj)?;
        let meta = store
            .head(&StorePath::from(obj.key.as_str()))
            .await
            .map_err(|e| map_err(obj, e))?;
        Ok(ObjectVersion {
            size: meta.size,
            // Without an ETag (rare S3-compatible servers) only the size is checked.
            tag: meta.e_tag.unwrap_or_default(),
        })
    }

    async fn read_checked(
        &self,
        obj: &ObjectRef,
        range: Range<u64>,
        expect: Option<&ObjectVersion>,
    ) -> Result<Bytes, StorageError> {
        let store = self.store(obj)?;
        let path = StorePath::from(obj.key.as_str());
        let Some(expected) = expect else {
            return store
                .get_range(&path, range)
                .await
                .map_err(|e| map_err(obj, e));
        };
        let options = GetOptions {
            if_match: (!expected.tag.is_empty()).then(|| expected.tag.clone()),
            range: Some(GetRange::Bounded(range)),
            ..GetOptions::default()
        };
        let got = store
            .get_opts(&path, options)
            .await
            .map_err(|e| map_err(obj, e))?;
        // A server that ignores If-Match is caught by the ETag it answers with (compared
        // without quotes or a weak marker, which servers add inconsistently).
        let bare = |t: &str| t.trim_start_matches("W/").trim_matches('"').to_string();
        let found_tag = got.meta.e_tag.as_deref().map(bare).unwrap_or_default();
        let same_tag =
            expected.tag.is_empty() || found_tag.is_empty() || bare(&expected.tag) == found_tag;
        if !same_tag || got.meta.size != expected.size {
            check_version(
                obj,
                expected,
                &ObjectVersion {
                    size: got.meta.size,
                    tag: if same_tag {
                        expected.tag.clone()
                    } else {
                        found_tag
                    },
                },
            )?;
        }
        got.bytes().await.map_err(|e| map_err(obj, e))
    }

    fn describe(&self) -> String {
        match &self.settings.endpoint {
            Some(e) => format!(
                "S3-compatible server {e} ({} addressing)",
                if self.settings.path_style {
                    "path-style"
                } else {
                    "virtual-hosted"
                }
            ),
            None => "AWS S3".to_string(),
        }
    }
}
