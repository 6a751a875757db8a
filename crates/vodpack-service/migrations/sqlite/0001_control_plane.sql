-- Control-plane resources. `seq` orders lists and anchors pagination tokens; AUTOINCREMENT
-- guarantees a deleted row's number is never handed out again, so tokens stay stable.
-- JSON columns hold the wire shapes (serde of crate::model), validated before they get here.

CREATE TABLE packaging_groups (
    seq                     INTEGER PRIMARY KEY AUTOINCREMENT,
    id                      TEXT NOT NULL UNIQUE,
    created_at              TEXT NOT NULL,
    authorization_json      TEXT,
    egress_access_logs_json TEXT,
    tags_json               TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE packaging_configurations (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT,
    id                 TEXT NOT NULL UNIQUE,
    packaging_group_id TEXT NOT NULL REFERENCES packaging_groups (id),
    created_at         TEXT NOT NULL,
    package_json       TEXT NOT NULL,
    egress_id          TEXT NOT NULL UNIQUE,
    tags_json          TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX packaging_configurations_by_group ON packaging_configurations (packaging_group_id, seq);

CREATE TABLE assets (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT,
    id                 TEXT NOT NULL UNIQUE,
    packaging_group_id TEXT NOT NULL REFERENCES packaging_groups (id),
    created_at         TEXT NOT NULL,
    source_arn         TEXT NOT NULL,
    source_role_arn    TEXT NOT NULL,
    resource_id        TEXT,
    egress_id          TEXT NOT NULL UNIQUE,
    status             TEXT NOT NULL,
    tags_json          TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX assets_by_group ON assets (packaging_group_id, seq);
