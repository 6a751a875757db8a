//! Decoded indexes in memory for the egress path: loaded from the repository on first use,
//! shared (`Arc`) by every request for the asset, bounded by the total number of samples held
//! (moka's weigher), and loaded once when many requests miss together (`try_get_with`).
//! Keyed by the asset's incarnation key (egress id and incarnation): a re-ingested asset never
//! sees its old index.

use std::sync::Arc;

use vodpack_media::index::{self, MediaIndex};

use crate::repo::{AssetRecord, Repository};

#[derive(Debug, Clone, thiserror::Error)]
pub enum CacheError {
    #[error("cannot read the index: {0}")]
    Repo(String),
    #[error("the stored index is unreadable ({0}); re-ingest the asset")]
    Decode(String),
}

pub struct IndexCache {
    repo: Arc<dyn Repository>,
    cache: moka::future::Cache<String, Arc<MediaIndex>>,
}

impl IndexCache {
    /// A cache holding indexes totalling at most `max_samples` samples (about 30 bytes each).
    pub fn new(repo: Arc<dyn Repository>, max_samples: u64) -> IndexCache {
        let cache = moka::future::Cache::builder()
            .max_capacity(max_samples)
            .weigher(|_k: &String, v: &Arc<MediaIndex>| {
                u32::try_from(v.sample_count().max(1)).unwrap_or(u32::MAX)
            })
            .build();
        IndexCache { repo, cache }
    }

    /// The index of a PLAYABLE asset; `None` when it has none (not ingested yet, or deleted).
    /// `key` is the asset's [`AssetRecord::incarnation_key`] (made once per resolution).
    pub async fn get(
        &self,
        asset: &AssetRecord,
        key: &str,
    ) -> Result<Option<Arc<MediaIndex>>, CacheError> {
        if let Some(hit) = self.cache.get(key).await {
            return Ok(Some(hit));
        }
        let repo = self.repo.clone();
        let id = asset.id.clone();
        let loaded = self
            .cache
            .try_get_with(key.to_string(), async move {
                let stored = repo
                    .get_index(&id)
                    .await
                    .map_err(|e| CacheError::Repo(e.to_string()))?;
                let Some((_version, bytes)) = stored else {
                    return Err(CacheError::Repo("no index".into()));
                };
                index::decode(&bytes)
                    .map(Arc::new)
                    .map_err(|e| CacheError::Decode(e.to_string()))
            })
            .await;
        match loaded {
            Ok(idx) => Ok(Some(idx)),
            Err(e) => match e.as_ref() {
                CacheError::Repo(m) if m == "no index" => Ok(None),
                other => Err(other.clone()),
            },
        }
    }

    /// Drops an asset's index (after DeleteAsset, or when it is ingested again), by
    /// [`AssetRecord::incarnation_key`].
    pub async fn invalidate(&self, incarnation_key: &str) {
        self.cache.invalidate(incarnation_key).await;
    }

    /// Samples held, for metrics and tests.
    pub async fn weighted_size(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.weighted_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::sqlite::SqliteRepository;
    use crate::repo::{GroupRecord, IngestOutcome, Quotas};
    use vodpack_media::index::{Codec, SourceKind, Track};

    fn tiny_index(samples: usize) -> MediaIndex {
        let mut s = vodpack_media::index::Samples::default();
        for i in 0..samples {
            s.push(0, i as u64 * 10, 10, i as i64 * 100, 0, i == 0);
        }
        MediaIndex {
            source: SourceKind::Mp4,
            objects: vec!["k.mp4".into()],
            versions: Vec::new(),
            warnings: vec![],
            tracks: vec![Track {
                codec: Codec::Aac,
                fourcc: *b"mp4a",
                codec_config: vec![0x11, 0x90],
                codec_string: "mp4a.40.2".into(),
                language: None,
                name: None,
                stream: 0,
                timescale: 1000,
                presentation_offset: 0,
                last_sample_duration: 100,
                width: 0,
                height: 0,
                frame_rate: None,
                channels: 2,
                sample_rate: 48000,
                ts_pid: 0,
                avg_bitrate: 0,
                peak_bitrate: 0,
                samples: s,
            }],
        }
    }

    #[tokio::test]
    async fn loads_once_then_shares() {
        let dir = std::env::temp_dir().join(format!("vodpack-cache-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let repo: Arc<dyn Repository> = Arc::new(
            SqliteRepository::open(&dir.join("db.sqlite3"))
                .await
                .unwrap(),
        );
        repo.create_group(
            &GroupRecord {
                id: "g".into(),
                created_at: "t".into(),
                authorization: None,
                egress_access_logs: None,
                tags: Default::default(),
            },
            Quotas::default(),
        )
        .await
        .unwrap();
        let asset = AssetRecord {
            id: "a".into(),
            packaging_group_id: "g".into(),
            created_at: "t".into(),
            source_arn: "arn:aws:s3:::b/k.mp4".into(),
            source_role_arn: "arn:aws:iam::111122223333:role/r".into(),
            resource_id: None,
            egress_id: "e1".into(),
            status: crate::repo::AssetStatus::Queued,
            ingest_error: None,
            incarnation: 1,
            incarnated_at: None,
            ingest_attempts: 0,
            tags: Default::default(),
        };
        repo.create_asset(&asset, Quotas::default()).await.unwrap();
        let cache = IndexCache::new(repo.clone(), 1000);
        assert!(
            cache
                .get(&asset, &asset.incarnation_key())
                .await
                .unwrap()
                .is_none(),
            "not ingested yet"
        );
        repo.claim_next_queued().await.unwrap();
        let idx = tiny_index(50);
        let bytes = index::encode(&idx);
        repo.finish_ingest(
            "a",
            "e1",
            IngestOutcome::Playable {
                index: &bytes,
                format_version: index::FORMAT_VERSION,
            },
        )
        .await
        .unwrap();
        let a = cache
            .get(&asset, &asset.incarnation_key())
            .await
            .unwrap()
            .unwrap();
        let b = cache
            .get(&asset, &asset.incarnation_key())
            .await
            .unwrap()
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b), "the second get is a hit");
        assert_eq!(*a, idx);
        assert_eq!(cache.weighted_size().await, 50);
        cache.invalidate(&asset.incarnation_key()).await;
        assert_eq!(cache.weighted_size().await, 0);
        std::fs::remove_dir_all(&dir).ok();
    }
}
