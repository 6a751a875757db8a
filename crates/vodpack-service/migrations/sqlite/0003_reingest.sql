-- Re-ingest: an asset whose source changed since it was indexed (or whose stored index is of an
-- older format) is ingested again as a new incarnation; egress caches and ETags are keyed by
-- it, so nothing served before is contradicted under the same validator. Ingests that failed
-- for a transient reason (the store timed out) are retried at `retry_at` (unix seconds), at
-- most a few times (`ingest_attempts` counts them).
ALTER TABLE assets ADD COLUMN incarnation INTEGER NOT NULL DEFAULT 1;
ALTER TABLE assets ADD COLUMN incarnated_at TEXT;
ALTER TABLE assets ADD COLUMN ingest_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE assets ADD COLUMN retry_at INTEGER;
CREATE INDEX assets_by_retry ON assets (retry_at) WHERE retry_at IS NOT NULL;
