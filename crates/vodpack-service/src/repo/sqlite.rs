//! SQLite implementation of [`Repository`], the embedded default.
//!
//! The database runs in WAL mode with `synchronous=FULL`, so a commit that returned is on disk
//! and survives `kill -9` or power loss. Every write runs in a `BEGIN IMMEDIATE` transaction:
//! SQLite then takes the write lock up front, which makes "check quota, then insert" and
//! "read tags, merge, write" atomic without any locking of our own. Migrations are the
//! numbered files in `migrations/sqlite`, embedded at build time and applied at start-up.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Connection, Row, SqliteConnection};

use super::*;

pub struct SqliteRepository {
    pool: SqlitePool,
}

/// A database failure as a [`RepoError`]: conditions that pass (a full disk, a busy or
/// locked database, an I/O error) become [`RepoError::Unavailable`] with a reason a client
/// may read; anything else is a [`RepoError::Backend`] bug. Takes any error so that every
/// `map_err(backend)` classifies what it can (sqlx errors, also inside migrations).
fn backend<E: std::fmt::Display + 'static>(e: E) -> RepoError {
    let any = &e as &dyn std::any::Any;
    let sqlx_error = any.downcast_ref::<sqlx::Error>().or_else(|| match any
        .downcast_ref::<sqlx::migrate::MigrateError>(
    ) {
        Some(sqlx::migrate::MigrateError::Execute(e)) => Some(e),
        _ => None,
    });
    if let Some(reason) = sqlx_error.and_then(unavailable_reason) {
        tracing::warn!(error = %e, "database unavailable");
        return RepoError::Unavailable(reason.to_string());
    }
    RepoError::Backend(e.to_string())
}

fn unavailable_reason(e: &sqlx::Error) -> Option<&'static str> {
    match e {
        sqlx::Error::Database(d) => {
            // Extended result codes carry the primary code in their low byte.
            let code: i32 = d.code()?.parse().ok()?;
            match code & 0xff {
                SQLITE_BUSY | SQLITE_LOCKED => Some("the database is busy"),
                SQLITE_FULL => Some("the disk holding the database is full"),
                SQLITE_IOERR => Some("the database cannot be read or written (I/O error)"),
                _ => None,
            }
        }
        sqlx::Error::Io(io) if io.raw_os_error() == Some(ENOSPC) => {
            Some("the disk holding the database is full")
        }
        sqlx::Error::Io(_) => Some("the database cannot be read or written (I/O error)"),
        sqlx::Error::PoolTimedOut => Some("the database is busy"),
        _ => None,
    }
}

/// SQLite primary result codes (sqlite3.h) and the errno of a full file system.
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_IOERR: i32 = 10;
const SQLITE_FULL: i32 = 13;
const ENOSPC: i32 = 28;

fn to_json<T: Serialize>(v: &T) -> RepoResult<String> {
    serde_json::to_string(v).map_err(backend)
}

fn opt_json<T: Serialize>(v: &Option<T>) -> RepoResult<Option<String>> {
    v.as_ref().map(to_json).transpose()
}

fn from_json<T: DeserializeOwned>(s: &str) -> RepoResult<T> {
    serde_json::from_str(s).map_err(backend)
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// The SQL texts that differ only by table, kept as literals (sqlx accepts only static SQL).
struct KindSql {
    exists: &'static str,
    select_tags: &'static str,
    update_tags: &'static str,
}

fn sql_for(kind: ResourceKind) -> KindSql {
    match kind {
        ResourceKind::PackagingGroup => KindSql {
            exists: "SELECT COUNT(*) FROM packaging_groups WHERE id = ?",
            select_tags: "SELECT tags_json FROM packaging_groups WHERE id = ?",
            update_tags: "UPDATE packaging_groups SET tags_json = ? WHERE id = ?",
        },
        ResourceKind::PackagingConfiguration => KindSql {
            exists: "SELECT COUNT(*) FROM packaging_configurations WHERE id = ?",
            select_tags: "SELECT tags_json FROM packaging_configurations WHERE id = ?",
            update_tags: "UPDATE packaging_configurations SET tags_json = ? WHERE id = ?",
        },
        ResourceKind::Asset => KindSql {
            exists: "SELECT COUNT(*) FROM assets WHERE id = ?",
            select_tags: "SELECT tags_json FROM assets WHERE id = ?",
            update_tags: "UPDATE assets SET tags_json = ? WHERE id = ?",
        },
    }
}

fn group_row(r: &SqliteRow) -> RepoResult<(i64, GroupRecord)> {
    let auth: Option<String> = r.try_get("authorization_json").map_err(backend)?;
    let logs: Option<String> = r.try_get("egress_access_logs_json").map_err(backend)?;
    let tags: String = r.try_get("tags_json").map_err(backend)?;
    Ok((
        r.try_get("seq").map_err(backend)?,
        GroupRecord {
            id: r.try_get("id").map_err(backend)?,
            created_at: r.try_get("created_at").map_err(backend)?,
            authorization: auth.as_deref().map(from_json).transpose()?,
            egress_access_logs: logs.as_deref().map(from_json).transpose()?,
            tags: from_json(&tags)?,
        },
    ))
}

fn config_row(r: &SqliteRow) -> RepoResult<(i64, ConfigRecord)> {
    let package: String = r.try_get("package_json").map_err(backend)?;
    let tags: String = r.try_get("tags_json").map_err(backend)?;
    Ok((
        r.try_get("seq").map_err(backend)?,
        ConfigRecord {
            id: r.try_get("id").map_err(backend)?,
            packaging_group_id: r.try_get("packaging_group_id").map_err(backend)?,
            created_at: r.try_get("created_at").map_err(backend)?,
            package: from_json(&package)?,
            egress_id: r.try_get("egress_id").map_err(backend)?,
            tags: from_json(&tags)?,
        },
    ))
}

fn asset_status(s: &str) -> RepoResult<AssetStatus> {
    AssetStatus::parse(s).ok_or_else(|| backend(format!("unknown asset status '{s}'")))
}

fn asset_row(r: &SqliteRow) -> RepoResult<(i64, AssetRecord)> {
    let tags: String = r.try_get("tags_json").map_err(backend)?;
    Ok((
        r.try_get("seq").map_err(backend)?,
        AssetRecord {
            id: r.try_get("id").map_err(backend)?,
            packaging_group_id: r.try_get("packaging_group_id").map_err(backend)?,
            created_at: r.try_get("created_at").map_err(backend)?,
            source_arn: r.try_get("source_arn").map_err(backend)?,
            source_role_arn: r.try_get("source_role_arn").map_err(backend)?,
            resource_id: r.try_get("resource_id").map_err(backend)?,
            egress_id: r.try_get("egress_id").map_err(backend)?,
            status: asset_status(&r.try_get::<String, _>("status").map_err(backend)?)?,
            ingest_error: r.try_get("ingest_error").map_err(backend)?,
            tags: from_json(&tags)?,
            incarnation: r.try_get("incarnation").map_err(backend)?,
            incarnated_at: r.try_get("incarnated_at").map_err(backend)?,
            ingest_attempts: u32::try_from(
                r.try_get::<i64, _>("ingest_attempts").map_err(backend)?,
            )
            .unwrap_or(0),
        },
    ))
}

fn page<T>(
    rows: Vec<SqliteRow>,
    limit: u32,
    conv: fn(&SqliteRow) -> RepoResult<(i64, T)>,
) -> RepoResult<Page<T>> {
    let more = rows.len() > limit as usize;
    let items = rows
        .iter()
        .take(limit as usize)
        .map(conv)
        .collect::<RepoResult<Vec<_>>>()?;
    Ok(Page { items, more })
}

async fn count(conn: &mut SqliteConnection, sql: &'static str, arg: &str) -> RepoResult<u64> {
    let n: i64 = sqlx::query_scalar(sql)
        .bind(arg)
        .fetch_one(conn)
        .await
        .map_err(backend)?;
    Ok(n.max(0) as u64)
}

async fn exists(conn: &mut SqliteConnection, kind: ResourceKind, id: &str) -> RepoResult<bool> {
    Ok(count(conn, sql_for(kind).exists, id).await? > 0)
}

impl SqliteRepository {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn open(path: &Path) -> RepoResult<Self> {
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(backend)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            // A write that fails with SQLITE_FULL, IOERR or BUSY inside a transaction makes
            // SQLite roll the transaction back by itself; sqlx does not see that, its own
            // ROLLBACK then fails, and the connection would go back to the pool believing it is
            // still inside a transaction (every later `BEGIN` on it fails: the pool wedges
            // until restart). So a connection is only reused once its queued rollback has run
            // (the ping flushes it) and it is out of any transaction; otherwise it is closed
            // and the pool opens a fresh one.
            .after_release(|conn, _| {
                Box::pin(async move {
                    conn.ping().await?;
                    Ok(!conn.is_in_transaction())
                })
            })
            .connect_with(options)
            .await
            .map_err(backend)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(backend)?;
        Ok(SqliteRepository { pool })
    }

    async fn write_tx(&self) -> RepoResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)
    }

    /// The one row `sql` (with one bound text argument) selects, converted.
    async fn one<T>(
        &self,
        sql: &'static str,
        arg: &str,
        conv: fn(&SqliteRow) -> RepoResult<(i64, T)>,
    ) -> RepoResult<Option<T>> {
        let row = sqlx::query(sql)
            .bind(arg)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref()
            .map(conv)
            .transpose()
            .map(|o| o.map(|(_, v)| v))
    }

    /// Sets one JSON column of a group (`sql` binds the value, then the id) and returns the
    /// updated group.
    async fn update_group(
        &self,
        sql: &'static str,
        value: Option<String>,
        id: &str,
    ) -> RepoResult<GroupRecord> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(sql)
            .bind(value)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(RepoError::NotFound {
                kind: ResourceKind::PackagingGroup,
                id: id.to_string(),
            });
        }
        let g = Self::fetch_group(&mut tx, id).await?;
        tx.commit().await.map_err(backend)?;
        g.ok_or_else(|| backend("group vanished inside its own transaction"))
    }

    async fn fetch_group(conn: &mut SqliteConnection, id: &str) -> RepoResult<Option<GroupRecord>> {
        let row = sqlx::query("SELECT * FROM packaging_groups WHERE id = ?")
            .bind(id)
            .fetch_optional(conn)
            .await
            .map_err(backend)?;
        row.as_ref()
            .map(group_row)
            .transpose()
            .map(|o| o.map(|(_, g)| g))
    }

    /// Inserts a resource of a group after checking, in one write transaction, that its id is
    /// free, that the group exists and that the group's quota (`count_sql` < `limit`) has room.
    async fn insert_checked(
        &self,
        kind: ResourceKind,
        id: &str,
        (group_id, count_sql, what, limit): (&str, &'static str, &'static str, u32),
        insert: sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    ) -> RepoResult<()> {
        let mut tx = self.write_tx().await?;
        if exists(&mut tx, kind, id).await? {
            return Err(RepoError::AlreadyExists {
                kind,
                id: id.to_string(),
            });
        }
        if !exists(&mut tx, ResourceKind::PackagingGroup, group_id).await? {
            return Err(RepoError::GroupNotFound(group_id.to_string()));
        }
        if count(&mut tx, count_sql, group_id).await? >= u64::from(limit) {
            return Err(RepoError::QuotaExceeded { what, limit });
        }
        if let Err(e) = insert.execute(&mut *tx).await {
            return Err(if is_unique_violation(&e) {
                RepoError::AlreadyExists {
                    kind,
                    id: id.to_string(),
                }
            } else {
                backend(e)
            });
        }
        tx.commit().await.map_err(backend)
    }
}

#[async_trait]
impl Repository for SqliteRepository {
    async fn create_group(&self, g: &GroupRecord, quotas: Quotas) -> RepoResult<()> {
        let mut tx = self.write_tx().await?;
        if exists(&mut tx, ResourceKind::PackagingGroup, &g.id).await? {
            return Err(RepoError::AlreadyExists {
                kind: ResourceKind::PackagingGroup,
                id: g.id.clone(),
            });
        }
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM packaging_groups")
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        if n >= i64::from(quotas.packaging_groups) {
            return Err(RepoError::QuotaExceeded {
                what: "packaging groups",
                limit: quotas.packaging_groups,
            });
        }
        let res = sqlx::query(
            "INSERT INTO packaging_groups (id, created_at, authorization_json, egress_access_logs_json, tags_json) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&g.id)
        .bind(&g.created_at)
        .bind(opt_json(&g.authorization)?)
        .bind(opt_json(&g.egress_access_logs)?)
        .bind(to_json(&g.tags)?)
        .execute(&mut *tx)
        .await;
        if let Err(e) = res {
            return Err(if is_unique_violation(&e) {
                RepoError::AlreadyExists {
                    kind: ResourceKind::PackagingGroup,
                    id: g.id.clone(),
                }
            } else {
                backend(e)
            });
        }
        tx.commit().await.map_err(backend)
    }

    async fn get_group(&self, id: &str) -> RepoResult<Option<GroupRecord>> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        Self::fetch_group(&mut conn, id).await
    }

    async fn list_groups(&self, after_seq: i64, limit: u32) -> RepoResult<Page<GroupRecord>> {
        let rows = sqlx::query("SELECT * FROM packaging_groups WHERE seq > ? ORDER BY seq LIMIT ?")
            .bind(after_seq)
            .bind(i64::from(limit) + 1)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        page(rows, limit, group_row)
    }

    async fn set_group_authorization(
        &self,
        id: &str,
        authorization: Option<Authorization>,
    ) -> RepoResult<GroupRecord> {
        self.update_group(
            "UPDATE packaging_groups SET authorization_json = ? WHERE id = ?",
            opt_json(&authorization)?,
            id,
        )
        .await
    }

    async fn set_group_logs(
        &self,
        id: &str,
        logs: Option<EgressAccessLogs>,
    ) -> RepoResult<GroupRecord> {
        self.update_group(
            "UPDATE packaging_groups SET egress_access_logs_json = ? WHERE id = ?",
            opt_json(&logs)?,
            id,
        )
        .await
    }

    async fn delete_group(&self, id: &str) -> RepoResult<()> {
        let mut tx = self.write_tx().await?;
        if !exists(&mut tx, ResourceKind::PackagingGroup, id).await? {
            return Err(RepoError::NotFound {
                kind: ResourceKind::PackagingGroup,
                id: id.to_string(),
            });
        }
        let configurations = count(
            &mut tx,
            "SELECT COUNT(*) FROM packaging_configurations WHERE packaging_group_id = ?",
            id,
        )
        .await?;
        let assets = count(
            &mut tx,
            "SELECT COUNT(*) FROM assets WHERE packaging_group_id = ?",
            id,
        )
        .await?;
        if configurations > 0 || assets > 0 {
            return Err(RepoError::GroupNotEmpty {
                id: id.to_string(),
                configurations,
                assets,
            });
        }
        sqlx::query("DELETE FROM packaging_groups WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn count_assets(&self, group_id: &str) -> RepoResult<u64> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        count(
            &mut conn,
            "SELECT COUNT(*) FROM assets WHERE packaging_group_id = ?",
            group_id,
        )
        .await
    }

    async fn create_config(&self, c: &ConfigRecord, quotas: Quotas) -> RepoResult<()> {
        let package = to_json(&c.package)?;
        let tags = to_json(&c.tags)?;
        let insert = sqlx::query(
            "INSERT INTO packaging_configurations (id, packaging_group_id, created_at, package_json, egress_id, tags_json) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&c.id)
        .bind(&c.packaging_group_id)
        .bind(&c.created_at)
        .bind(package)
        .bind(&c.egress_id)
        .bind(tags);
        self.insert_checked(
            ResourceKind::PackagingConfiguration,
            &c.id,
            (
                &c.packaging_group_id,
                "SELECT COUNT(*) FROM packaging_configurations WHERE packaging_group_id = ?",
                "packaging configurations per packaging group",
                quotas.configurations_per_group,
            ),
            insert,
        )
        .await
    }

    async fn get_config_by_egress_id(&self, egress_id: &str) -> RepoResult<Option<ConfigRecord>> {
        self.one(
            "SELECT * FROM packaging_configurations WHERE egress_id = ?",
            egress_id,
            config_row,
        )
        .await
    }

    async fn get_config(&self, id: &str) -> RepoResult<Option<ConfigRecord>> {
        self.one(
            "SELECT * FROM packaging_configurations WHERE id = ?",
            id,
            config_row,
        )
        .await
    }

    async fn list_configs(
        &self,
        group_id: Option<&str>,
        after_seq: i64,
        limit: u32,
    ) -> RepoResult<Page<ConfigRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM packaging_configurations WHERE seq > ? AND (? IS NULL OR packaging_group_id = ?) ORDER BY seq LIMIT ?",
        )
        .bind(after_seq)
        .bind(group_id)
        .bind(group_id)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        page(rows, limit, config_row)
    }

    async fn configs_of_group(&self, group_id: &str) -> RepoResult<Vec<ConfigRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM packaging_configurations WHERE packaging_group_id = ? ORDER BY seq",
        )
        .bind(group_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(|r| config_row(r).map(|(_, c)| c)).collect()
    }

    async fn delete_config(&self, id: &str) -> RepoResult<()> {
        let done = sqlx::query("DELETE FROM packaging_configurations WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(RepoError::NotFound {
                kind: ResourceKind::PackagingConfiguration,
                id: id.to_string(),
            });
        }
        Ok(())
    }

    async fn create_asset(&self, a: &AssetRecord, quotas: Quotas) -> RepoResult<()> {
        let tags = to_json(&a.tags)?;
        let insert = sqlx::query(
            "INSERT INTO assets (id, packaging_group_id, created_at, source_arn, source_role_arn, resource_id, egress_id, status, tags_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&a.id)
        .bind(&a.packaging_group_id)
        .bind(&a.created_at)
        .bind(&a.source_arn)
        .bind(&a.source_role_arn)
        .bind(&a.resource_id)
        .bind(&a.egress_id)
        .bind(a.status.as_str())
        .bind(tags);
        self.insert_checked(
            ResourceKind::Asset,
            &a.id,
            (
                &a.packaging_group_id,
                "SELECT COUNT(*) FROM assets WHERE packaging_group_id = ?",
                "assets per packaging group",
                quotas.assets_per_group,
            ),
            insert,
        )
        .await
    }

    async fn get_asset_by_egress_id(&self, egress_id: &str) -> RepoResult<Option<AssetRecord>> {
        self.one(
            "SELECT * FROM assets WHERE egress_id = ?",
            egress_id,
            asset_row,
        )
        .await
    }

    async fn get_asset(&self, id: &str) -> RepoResult<Option<AssetRecord>> {
        self.one("SELECT * FROM assets WHERE id = ?", id, asset_row)
            .await
    }

    async fn list_assets(
        &self,
        group_id: Option<&str>,
        after_seq: i64,
        limit: u32,
    ) -> RepoResult<Page<AssetRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM assets WHERE seq > ? AND (? IS NULL OR packaging_group_id = ?) ORDER BY seq LIMIT ?",
        )
        .bind(after_seq)
        .bind(group_id)
        .bind(group_id)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        page(rows, limit, asset_row)
    }

    async fn delete_asset(&self, id: &str) -> RepoResult<()> {
        let done = sqlx::query("DELETE FROM assets WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(RepoError::NotFound {
                kind: ResourceKind::Asset,
                id: id.to_string(),
            });
        }
        Ok(())
    }

    async fn requeue_interrupted(&self) -> RepoResult<u64> {
        let done = sqlx::query("UPDATE assets SET status = 'QUEUED' WHERE status = 'PROCESSING'")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn claim_next_queued(&self) -> RepoResult<Option<AssetRecord>> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "UPDATE assets SET status = 'PROCESSING' WHERE seq = (SELECT seq FROM assets WHERE status = 'QUEUED' ORDER BY seq LIMIT 1) RETURNING *",
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let asset = row.as_ref().map(asset_row).transpose()?.map(|(_, a)| a);
        tx.commit().await.map_err(backend)?;
        Ok(asset)
    }

    async fn finish_ingest(
        &self,
        id: &str,
        egress_id: &str,
        outcome: IngestOutcome<'_>,
    ) -> RepoResult<bool> {
        let mut tx = self.write_tx().await?;
        let (status, reason, retry_at) = match outcome {
            IngestOutcome::Playable { .. } => (AssetStatus::Playable, None, None),
            IngestOutcome::Failed { reason } => (AssetStatus::Failed, Some(reason), None),
            IngestOutcome::Retry { reason, retry_at } => {
                (AssetStatus::Failed, Some(reason), Some(retry_at))
            }
        };
        // A transient failure counts an attempt; an ingest that ends for good resets them.
        let seq: Option<i64> = sqlx::query_scalar(
            "UPDATE assets SET status = ?, ingest_error = ?, retry_at = ?, ingest_attempts = CASE WHEN ? IS NULL THEN 0 ELSE ingest_attempts + 1 END WHERE id = ? AND egress_id = ? AND status = 'PROCESSING' RETURNING seq",
        )
        .bind(status.as_str())
        .bind(reason)
        .bind(retry_at)
        .bind(retry_at)
        .bind(id)
        .bind(egress_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some(seq) = seq else {
            return Ok(false);
        };
        if let IngestOutcome::Playable {
            index,
            format_version,
        } = outcome
        {
            sqlx::query(
                "INSERT OR REPLACE INTO asset_indexes (asset_seq, format_version, bytes) VALUES (?, ?, ?)",
            )
            .bind(seq)
            .bind(i64::from(format_version))
            .bind(index)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn restart_ingest(
        &self,
        id: &str,
        incarnation: i64,
        now: &str,
    ) -> RepoResult<Option<AssetRecord>> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "UPDATE assets SET status = 'QUEUED', incarnation = incarnation + 1, incarnated_at = ?, ingest_error = NULL, ingest_attempts = 0, retry_at = NULL WHERE id = ? AND incarnation = ? AND status IN ('PLAYABLE', 'FAILED') RETURNING *",
        )
        .bind(now)
        .bind(id)
        .bind(incarnation)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some((seq, asset)) = row.as_ref().map(asset_row).transpose()? else {
            return Ok(None);
        };
        sqlx::query("DELETE FROM asset_indexes WHERE asset_seq = ?")
            .bind(seq)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(Some(asset))
    }

    async fn requeue_due(&self, now: i64) -> RepoResult<u64> {
        let done = sqlx::query(
            "UPDATE assets SET status = 'QUEUED', retry_at = NULL WHERE retry_at IS NOT NULL AND retry_at <= ? AND status = 'FAILED'",
        )
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn get_index(&self, id: &str) -> RepoResult<Option<(u16, Vec<u8>)>> {
        let row = sqlx::query(
            "SELECT i.format_version, i.bytes FROM asset_indexes i JOIN assets a ON a.seq = i.asset_seq WHERE a.id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        match row {
            None => Ok(None),
            Some(r) => {
                let v: i64 = r.try_get("format_version").map_err(backend)?;
                let bytes: Vec<u8> = r.try_get("bytes").map_err(backend)?;
                Ok(Some((u16::try_from(v).unwrap_or(0), bytes)))
            }
        }
    }

    async fn get_keys(&self, asset_id: &str, config_id: &str) -> RepoResult<Option<StoredKeySet>> {
        let text: Option<String> = sqlx::query_scalar(
            "SELECT k.key_set FROM content_keys k JOIN assets a ON a.seq = k.asset_seq JOIN packaging_configurations c ON c.seq = k.configuration_seq WHERE a.id = ? AND c.id = ?",
        )
        .bind(asset_id)
        .bind(config_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        text.as_deref().map(from_json).transpose()
    }

    async fn put_keys(
        &self,
        asset_id: &str,
        config_id: &str,
        keys: &StoredKeySet,
    ) -> RepoResult<StoredKeySet> {
        let json = to_json(keys)?;
        let mut tx = self.write_tx().await?;
        let asset_seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM assets WHERE id = ?")
            .bind(asset_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        let Some(asset_seq) = asset_seq else {
            return Err(RepoError::NotFound {
                kind: ResourceKind::Asset,
                id: asset_id.to_string(),
            });
        };
        let config_seq: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM packaging_configurations WHERE id = ?")
                .bind(config_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        let Some(config_seq) = config_seq else {
            return Err(RepoError::NotFound {
                kind: ResourceKind::PackagingConfiguration,
                id: config_id.to_string(),
            });
        };
        sqlx::query(
            "INSERT INTO content_keys (asset_seq, configuration_seq, configuration_id, key_set) VALUES (?, ?, ?, ?) ON CONFLICT (asset_seq, configuration_seq) DO NOTHING",
        )
        .bind(asset_seq)
        .bind(config_seq)
        .bind(config_id)
        .bind(json)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let stored: String = sqlx::query_scalar(
            "SELECT key_set FROM content_keys WHERE asset_seq = ? AND configuration_seq = ?",
        )
        .bind(asset_seq)
        .bind(config_seq)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        from_json(&stored)
    }

    async fn get_tags(&self, kind: ResourceKind, id: &str) -> RepoResult<Option<Tags>> {
        let tags: Option<String> = sqlx::query_scalar(sql_for(kind).select_tags)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        tags.as_deref().map(from_json).transpose()
    }

    async fn add_tags(
        &self,
        kind: ResourceKind,
        id: &str,
        tags: &Tags,
        max_tags: usize,
    ) -> RepoResult<()> {
        self.rewrite_tags(kind, id, |current| {
            current.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            if current.len() > max_tags {
                return Err(RepoError::TooManyTags {
                    limit: max_tags,
                    would_have: current.len(),
                });
            }
            Ok(())
        })
        .await
    }

    async fn remove_tags(&self, kind: ResourceKind, id: &str, keys: &[String]) -> RepoResult<()> {
        self.rewrite_tags(kind, id, |current| {
            for k in keys {
                current.remove(k);
            }
            Ok(())
        })
        .await
    }
}

impl SqliteRepository {
    async fn rewrite_tags(
        &self,
        kind: ResourceKind,
        id: &str,
        change: impl FnOnce(&mut Tags) -> RepoResult<()> + Send,
    ) -> RepoResult<()> {
        let mut tx = self.write_tx().await?;
        let current: Option<String> = sqlx::query_scalar(sql_for(kind).select_tags)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        let Some(current) = current else {
            return Err(RepoError::NotFound {
                kind,
                id: id.to_string(),
            });
        };
        let mut tags: Tags = from_json(&current)?;
        change(&mut tags)?;
        sqlx::query(sql_for(kind).update_tags)
            .bind(to_json(&tags)?)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(id: &str, egress: &str) -> AssetRecord {
        AssetRecord {
            id: id.into(),
            packaging_group_id: "g".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            source_arn: "arn:aws:s3:::b/k.mp4".into(),
            source_role_arn: "arn:aws:iam::111122223333:role/r".into(),
            resource_id: None,
            egress_id: egress.into(),
            status: AssetStatus::Queued,
            ingest_error: None,
            incarnation: 1,
            incarnated_at: None,
            ingest_attempts: 0,
            tags: Tags::new(),
        }
    }

    /// Deleting an asset deletes its index row (`ON DELETE CASCADE` on the never-reused `seq`).
    /// What the trait answers is checked for every backend by `repo::contract`.
    #[tokio::test]
    async fn deleting_an_asset_deletes_its_index_row() {
        let dir = std::env::temp_dir().join(format!("vodpack-repo-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let repo = SqliteRepository::open(&dir.join("db.sqlite3"))
            .await
            .unwrap();
        let group = GroupRecord {
            id: "g".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            authorization: None,
            egress_access_logs: None,
            tags: Tags::new(),
        };
        repo.create_group(&group, Quotas::default()).await.unwrap();
        repo.create_asset(&asset("a", "e2"), Quotas::default())
            .await
            .unwrap();
        let ok = IngestOutcome::Playable {
            index: b"x",
            format_version: 1,
        };
        repo.claim_next_queued().await.unwrap().unwrap();
        assert!(repo.finish_ingest("a", "e2", ok).await.unwrap());
        assert_eq!(repo.get_index("a").await.unwrap(), Some((1, b"x".to_vec())));
        repo.delete_asset("a").await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM asset_indexes")
            .fetch_one(&repo.pool)
            .await
            .unwrap();
        assert_eq!(n, 0);
        std::fs::remove_dir_all(&dir).ok();
    }

    fn group(id: &str, tag_bytes: usize) -> GroupRecord {
        let mut tags = Tags::new();
        tags.insert("pad".into(), "x".repeat(tag_bytes));
        GroupRecord {
            id: id.into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            authorization: None,
            egress_access_logs: None,
            tags,
        }
    }

    /// Sets `PRAGMA max_page_count` on every pooled connection (a per-connection limit):
    /// `Some(0)` caps the database at its current size, which makes growing writes fail with
    /// SQLITE_FULL as on a full disk; `None` lifts the cap.
    async fn cap_pages(repo: &SqliteRepository, cap: bool) {
        let mut held = Vec::new();
        for _ in 0..8 {
            let mut c = repo.pool.acquire().await.unwrap();
            let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
                .fetch_one(&mut *c)
                .await
                .unwrap();
            let limit = if cap { pages } else { 1 << 30 };
            let set: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "PRAGMA max_page_count = {limit}"
            )))
            .fetch_one(&mut *c)
            .await
            .unwrap();
            assert_eq!(set, limit);

            held.push(c);
        }
        drop(held);
        // Released connections go back to the pool asynchronously; wait until they are idle.
        while repo.pool.num_idle() < repo.pool.size() as usize {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_full_database_is_unavailable_and_recovers_on_every_connection() {
        let dir = std::env::temp_dir().join(format!("vodpack-repo-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let repo = SqliteRepository::open(&dir.join("db.sqlite3"))
            .await
            .unwrap();
        repo.create_group(&group("g", 10), Quotas::default())
            .await
            .unwrap();
        // More failed writes than pooled connections: each may leave its connection behind.
        // (A connection the pool replaced is uncapped, so every round caps them all again.)
        for i in 0..20 {
            cap_pages(&repo, true).await;
            let e = repo
                .create_group(&group(&format!("full{i}"), 64 * 1024), Quotas::default())
                .await
                .expect_err("a growing write on a capped database");
            assert!(
                matches!(&e, RepoError::Unavailable(r) if r.contains("full")),
                "{e:?}"
            );
        }
        // Reads still work.
        assert!(repo.get_group("g").await.unwrap().is_some());
        cap_pages(&repo, false).await;
        let quotas = Quotas {
            packaging_groups: 100,
            ..Quotas::default()
        };
        for i in 0..20 {
            repo.create_group(&group(&format!("after{i}"), 64 * 1024), quotas)
                .await
                .unwrap_or_else(|e| panic!("write {i} once space is back: {e}"));
        }
        let page = repo.list_groups(0, 100).await.unwrap();
        assert_eq!(page.items.len(), 21);
        std::fs::remove_dir_all(&dir).ok();
    }
}
