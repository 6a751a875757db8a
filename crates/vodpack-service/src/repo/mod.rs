//! Persistence of control-plane resources behind one interface.
//!
//! The API handlers see only [`Repository`]; SQLite ([`sqlite::SqliteRepository`]) is the
//! embedded default and a PostgreSQL implementation can be added beside it without touching
//! them. Implementations guarantee:
//! - ids are unique per resource type: of two concurrent creates of one id exactly one wins,
//!   the other gets [`RepoError::AlreadyExists`];
//! - quota checks and inserts are atomic (a quota is never exceeded by a race);
//! - every resource has a creation sequence number, strictly increasing and never reused, that
//!   orders lists and anchors pagination tokens;
//! - a write that returned `Ok` is durable (it survives `kill -9`).
//!
//! `contract.rs` (tests only) holds these rules and those of the methods below as one test
//! suite that every implementation runs against itself.

#[cfg(test)]
mod contract;
pub mod sqlite;

use async_trait::async_trait;

use crate::keys::StoredKeySet;
use crate::model::{Authorization, EgressAccessLogs, Package, Tags};

#[derive(Debug, Clone, PartialEq)]
pub struct GroupRecord {
    pub id: String,
    pub created_at: String,
    pub authorization: Option<Authorization>,
    pub egress_access_logs: Option<EgressAccessLogs>,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigRecord {
    pub id: String,
    pub packaging_group_id: String,
    pub created_at: String,
    pub package: Package,
    /// 32 hex characters naming this configuration in egress URLs; fixed at creation.
    pub egress_id: String,
    pub tags: Tags,
}

/// Where an asset is in ingest: QUEUED → PROCESSING → PLAYABLE | FAILED (FAILED and PLAYABLE
/// go back to QUEUED when the asset is ingested again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetStatus {
    Queued,
    Processing,
    Playable,
    Failed,
}

impl AssetStatus {
    /// The status as stored in the database and shown on the wire (`egressEndpoints[].status`).
    pub fn as_str(self) -> &'static str {
        match self {
            AssetStatus::Queued => "QUEUED",
            AssetStatus::Processing => "PROCESSING",
            AssetStatus::Playable => "PLAYABLE",
            AssetStatus::Failed => "FAILED",
        }
    }

    /// The status named by `s` (as [`AssetStatus::as_str`] writes it).
    pub fn parse(s: &str) -> Option<AssetStatus> {
        [
            AssetStatus::Queued,
            AssetStatus::Processing,
            AssetStatus::Playable,
            AssetStatus::Failed,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for AssetStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AssetRecord {
    pub id: String,
    pub packaging_group_id: String,
    pub created_at: String,
    pub source_arn: String,
    pub source_role_arn: String,
    pub resource_id: Option<String>,
    /// 32 hex characters naming this asset in egress URLs; fixed at creation.
    pub egress_id: String,
    pub status: AssetStatus,
    /// Why ingest failed, when it did.
    pub ingest_error: Option<String>,
    pub tags: Tags,
    /// Which ingest of the asset this is: 1 at creation, bumped when the asset is ingested
    /// again (its source changed). Egress caches and validators are keyed by it.
    pub incarnation: i64,
    /// When the current incarnation began (RFC 3339); `None` for the first (`created_at`).
    pub incarnated_at: Option<String>,
    /// Ingest attempts of this incarnation that ended in a transient failure.
    pub ingest_attempts: u32,
}

impl AssetRecord {
    /// Names this incarnation of this asset (egress id and incarnation): the key of egress
    /// caches, and part of every ETag.
    pub fn incarnation_key(&self) -> String {
        format!("{}.{}", self.egress_id, self.incarnation)
    }

    /// When the outputs of this incarnation began to exist (RFC 3339).
    pub fn outputs_since(&self) -> &str {
        self.incarnated_at.as_deref().unwrap_or(&self.created_at)
    }
}

/// How an ingest ended.
#[derive(Debug, Clone, Copy)]
pub enum IngestOutcome<'a> {
    /// The encoded index, and its format version.
    Playable {
        index: &'a [u8],
        format_version: u16,
    },
    Failed {
        reason: &'a str,
    },
    /// A transient failure (the store did not answer): FAILED with the reason, and queued
    /// again at `retry_at` (unix seconds) by [`Repository::requeue_due`].
    Retry {
        reason: &'a str,
        retry_at: i64,
    },
}

/// The three taggable resource types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    PackagingGroup,
    PackagingConfiguration,
    Asset,
}

impl ResourceKind {
    pub fn label(self) -> &'static str {
        match self {
            ResourceKind::PackagingGroup => "PackagingGroup",
            ResourceKind::PackagingConfiguration => "PackagingConfiguration",
            ResourceKind::Asset => "Asset",
        }
    }
}

/// Resource quotas, enforced atomically with the insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    pub packaging_groups: u32,
    pub configurations_per_group: u32,
    pub assets_per_group: u32,
}

impl Default for Quotas {
    /// The AWS default quotas (user guide `vod-quotas`).
    fn default() -> Self {
        Quotas {
            packaging_groups: 10,
            configurations_per_group: 10,
            assets_per_group: 10_000,
        }
    }
}

/// One page of a list, in creation order.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// Items with their creation sequence numbers.
    pub items: Vec<(i64, T)>,
    /// Whether items exist after the last one returned.
    pub more: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{kind:?} '{id}' already exists")]
    AlreadyExists { kind: ResourceKind, id: String },
    #[error("{kind:?} '{id}' not found")]
    NotFound { kind: ResourceKind, id: String },
    #[error("PackagingGroup '{0}' not found")]
    GroupNotFound(String),
    #[error("quota exceeded: {what} (limit {limit})")]
    QuotaExceeded { what: &'static str, limit: u32 },
    #[error(
        "PackagingGroup '{id}' still has {configurations} packaging configurations and {assets} assets"
    )]
    GroupNotEmpty {
        id: String,
        configurations: u64,
        assets: u64,
    },
    #[error("a resource can have at most {limit} tags; this change would give it {would_have}")]
    TooManyTags { limit: usize, would_have: usize },
    /// The database cannot take the request now (disk full, busy/locked, I/O error); the
    /// text says why, without paths. The request was not acknowledged; clients retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("storage error: {0}")]
    Backend(String),
}

pub type RepoResult<T> = Result<T, RepoError>;

#[async_trait]
pub trait Repository: Send + Sync + 'static {
    async fn create_group(&self, group: &GroupRecord, quotas: Quotas) -> RepoResult<()>;
    async fn get_group(&self, id: &str) -> RepoResult<Option<GroupRecord>>;
    async fn list_groups(&self, after_seq: i64, limit: u32) -> RepoResult<Page<GroupRecord>>;
    /// Replaces the CDN authorization; `None` clears it. Returns the updated group.
    async fn set_group_authorization(
        &self,
        id: &str,
        authorization: Option<Authorization>,
    ) -> RepoResult<GroupRecord>;
    /// Replaces the egress access log settings; `None` disables logging.
    async fn set_group_logs(
        &self,
        id: &str,
        logs: Option<EgressAccessLogs>,
    ) -> RepoResult<GroupRecord>;
    /// Deletes an empty group; [`RepoError::GroupNotEmpty`] otherwise.
    async fn delete_group(&self, id: &str) -> RepoResult<()>;
    async fn count_assets(&self, group_id: &str) -> RepoResult<u64>;

    async fn create_config(&self, config: &ConfigRecord, quotas: Quotas) -> RepoResult<()>;
    async fn get_config(&self, id: &str) -> RepoResult<Option<ConfigRecord>>;
    /// The configuration an egress URL names.
    async fn get_config_by_egress_id(&self, egress_id: &str) -> RepoResult<Option<ConfigRecord>>;
    async fn list_configs(
        &self,
        group_id: Option<&str>,
        after_seq: i64,
        limit: u32,
    ) -> RepoResult<Page<ConfigRecord>>;
    /// All configurations of a group, in creation order.
    async fn configs_of_group(&self, group_id: &str) -> RepoResult<Vec<ConfigRecord>>;
    async fn delete_config(&self, id: &str) -> RepoResult<()>;

    async fn create_asset(&self, asset: &AssetRecord, quotas: Quotas) -> RepoResult<()>;
    async fn get_asset(&self, id: &str) -> RepoResult<Option<AssetRecord>>;
    /// The asset an egress URL names.
    async fn get_asset_by_egress_id(&self, egress_id: &str) -> RepoResult<Option<AssetRecord>>;
    async fn list_assets(
        &self,
        group_id: Option<&str>,
        after_seq: i64,
        limit: u32,
    ) -> RepoResult<Page<AssetRecord>>;
    async fn delete_asset(&self, id: &str) -> RepoResult<()>;

    /// Puts assets left PROCESSING by a previous run back in the queue; returns how many.
    async fn requeue_interrupted(&self) -> RepoResult<u64>;
    /// Moves the oldest QUEUED asset to PROCESSING and returns it.
    async fn claim_next_queued(&self) -> RepoResult<Option<AssetRecord>>;
    /// Records the end of an ingest, if the asset (this incarnation: id and egress id) still
    /// exists and is PROCESSING. Returns whether it was recorded.
    async fn finish_ingest(
        &self,
        id: &str,
        egress_id: &str,
        outcome: IngestOutcome<'_>,
    ) -> RepoResult<bool>;
    /// Starts a new incarnation of an asset whose index no longer describes its source (or is
    /// of an older format): if the asset is at `incarnation` and PLAYABLE or FAILED, it goes
    /// back to QUEUED with the incarnation bumped, `incarnated_at` = `now`, its index dropped.
    /// Returns the updated asset, `None` when it was not at that incarnation (another request
    /// already did it) or is being ingested.
    async fn restart_ingest(
        &self,
        id: &str,
        incarnation: i64,
        now: &str,
    ) -> RepoResult<Option<AssetRecord>>;
    /// Queues again the assets whose transient failure is due for a retry (`retry_at` <=
    /// `now`, unix seconds); returns how many.
    async fn requeue_due(&self, now: i64) -> RepoResult<u64>;
    /// The stored index of a PLAYABLE asset, with its format version.
    async fn get_index(&self, id: &str) -> RepoResult<Option<(u16, Vec<u8>)>>;

    /// The stored content keys of asset `asset_id` × configuration `config_id`, if any.
    async fn get_keys(&self, asset_id: &str, config_id: &str) -> RepoResult<Option<StoredKeySet>>;
    /// Stores content keys unless the pair has some already (first writer wins); returns the
    /// stored set, so every caller (and node) goes on with the same keys.
    /// [`RepoError::NotFound`] when the asset or the configuration does not exist. Keys are
    /// deleted with the asset or the configuration, in the same transaction.
    async fn put_keys(
        &self,
        asset_id: &str,
        config_id: &str,
        keys: &StoredKeySet,
    ) -> RepoResult<StoredKeySet>;

    /// Tags of a resource, `None` when it does not exist.
    async fn get_tags(&self, kind: ResourceKind, id: &str) -> RepoResult<Option<Tags>>;
    /// Adds or overwrites tags; fails with [`RepoError::TooManyTags`] past `max_tags`.
    async fn add_tags(
        &self,
        kind: ResourceKind,
        id: &str,
        tags: &Tags,
        max_tags: usize,
    ) -> RepoResult<()>;
    /// Removes the named keys (absent keys are ignored).
    async fn remove_tags(&self, kind: ResourceKind, id: &str, keys: &[String]) -> RepoResult<()>;
}

#[cfg(test)]
mod status_tests {
    use super::AssetStatus;

    #[test]
    fn asset_status_round_trips_through_its_stored_form() {
        let all = [
            (AssetStatus::Queued, "QUEUED"),
            (AssetStatus::Processing, "PROCESSING"),
            (AssetStatus::Playable, "PLAYABLE"),
            (AssetStatus::Failed, "FAILED"),
        ];
        for (status, text) in all {
            assert_eq!(status.as_str(), text);
            assert_eq!(status.to_string(), text);
            assert_eq!(AssetStatus::parse(text), Some(status));
        }
        assert_eq!(AssetStatus::parse("playable"), None);
        assert_eq!(AssetStatus::parse(""), None);
    }
}
