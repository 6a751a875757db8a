-- Ingest: the queue is the assets table itself (status QUEUED → PROCESSING → PLAYABLE|FAILED,
-- claimed in creation order); the index of a PLAYABLE asset lives beside it, keyed by the
-- asset's never-reused seq so a re-created asset id can never see an old index.

ALTER TABLE assets ADD COLUMN ingest_error TEXT;
CREATE INDEX assets_by_status ON assets (status, seq);

CREATE TABLE asset_indexes (
    asset_seq      INTEGER PRIMARY KEY REFERENCES assets (seq) ON DELETE CASCADE,
    format_version INTEGER NOT NULL,
    bytes          BLOB NOT NULL
);
