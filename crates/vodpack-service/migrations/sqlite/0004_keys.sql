-- Content keys of an asset × packaging configuration (issue #11): the key server's first answer,
-- kept so restarts and every node encrypt with the same keys. Keyed by the never-reused `seq`
-- of both rows, so a re-created asset or configuration never sees old keys; deleted with
-- either by ON DELETE CASCADE, in the same statement (and transaction) as the delete.
-- `key_set` is the service's stored form (keys::stored::StoredKeySet, serde JSON).

CREATE TABLE content_keys (
    asset_seq         INTEGER NOT NULL REFERENCES assets (seq) ON DELETE CASCADE,
    configuration_seq INTEGER NOT NULL REFERENCES packaging_configurations (seq) ON DELETE CASCADE,
    configuration_id  TEXT NOT NULL,
    key_set           TEXT NOT NULL,
    PRIMARY KEY (asset_seq, configuration_seq)
);
CREATE INDEX content_keys_by_configuration ON content_keys (configuration_seq);
