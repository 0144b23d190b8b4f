-- The advisory database, schema 1. Bodies are zstd-compressed serde JSON of
-- model::Advisory / model::CveEnrichment; the other columns exist to find them.

CREATE TABLE meta (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) WITHOUT ROWID;

INSERT INTO meta (key, value) VALUES ('database_version', '0');

CREATE TABLE feed (
    name TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    origin TEXT NOT NULL,
    -- Unix seconds.
    imported_at INTEGER NOT NULL,
    advisories INTEGER NOT NULL,
    enrichments INTEGER NOT NULL,
    skipped INTEGER NOT NULL,
    cursor TEXT
) WITHOUT ROWID;

-- (feed, advisory_id) is not unique: the Debian tracker and secdb importers
-- emit one record per package and release under the same ID.
CREATE TABLE advisory (
    id INTEGER PRIMARY KEY,
    feed TEXT NOT NULL REFERENCES feed (name) ON DELETE CASCADE,
    advisory_id TEXT NOT NULL,
    modified TEXT,
    body BLOB NOT NULL
);
CREATE INDEX advisory_by_feed ON advisory (feed, advisory_id);

CREATE TABLE affected (
    advisory INTEGER NOT NULL REFERENCES advisory (id) ON DELETE CASCADE,
    ecosystem TEXT NOT NULL,
    ecosystem_key TEXT NOT NULL,
    name_key TEXT NOT NULL
);
CREATE INDEX affected_by_key ON affected (ecosystem_key, name_key);
-- Cascading deletes find an advisory's rows through this.
CREATE INDEX affected_by_advisory ON affected (advisory);

CREATE TABLE enrichment (
    feed TEXT NOT NULL REFERENCES feed (name) ON DELETE CASCADE,
    cve TEXT NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (feed, cve)
) WITHOUT ROWID;
CREATE INDEX enrichment_by_cve ON enrichment (cve);
