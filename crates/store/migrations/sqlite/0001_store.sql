-- The report store, schema 1 (SQLite). Times are Unix seconds; booleans are
-- 0/1 (BOOLEAN in PostgreSQL); bodies are zstd-compressed serde JSON.
-- Queries against these tables are written to run on PostgreSQL as well; only
-- this DDL (INTEGER PRIMARY KEY, triggers) is per backend.

-- ---- Inventory --------------------------------------------------------------

CREATE TABLE cluster (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    -- serde JSON of k8s::ClusterStatus.
    status TEXT NOT NULL,
    last_sequence INTEGER,
    -- The agent run last_sequence counts in (k8s::wire: a restarted agent is a new run).
    agent_run TEXT,
    -- Bumped by every snapshot: containers not stamped with the current
    -- generation were absent from the last snapshot.
    generation INTEGER NOT NULL DEFAULT 0,
    last_seen INTEGER NOT NULL
);

CREATE TABLE namespace (
    id INTEGER PRIMARY KEY,
    cluster_id INTEGER NOT NULL REFERENCES cluster (id),
    name TEXT NOT NULL,
    last_seen INTEGER NOT NULL,
    UNIQUE (cluster_id, name)
);

CREATE TABLE namespace_label (
    namespace_id INTEGER NOT NULL REFERENCES namespace (id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (namespace_id, key)
);

CREATE TABLE workload (
    id INTEGER PRIMARY KEY,
    cluster_id INTEGER NOT NULL REFERENCES cluster (id),
    namespace TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    -- Empty for a workload a delta named before any snapshot described it.
    uid TEXT NOT NULL,
    created INTEGER,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    UNIQUE (cluster_id, namespace, kind, name)
);

-- Labels as rows, so selectors are index lookups rather than JSON scans.
CREATE TABLE workload_label (
    workload_id INTEGER NOT NULL REFERENCES workload (id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (workload_id, key)
);
CREATE INDEX workload_label_by_pair ON workload_label (key, value, workload_id);

-- What the engine pulls: (repository, manifest digest, platform), or for a
-- local image ID (repository, tag, platform) + the config digest expected.
CREATE TABLE scan_target (
    id INTEGER PRIMARY KEY,
    repository TEXT NOT NULL,
    -- 'digest' or 'tag'.
    reference_kind TEXT NOT NULL,
    reference TEXT NOT NULL,
    -- '' for digest targets.
    expected_config TEXT NOT NULL,
    -- 'os/arch[/variant]', '' when not reported.
    platform TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    reason TEXT,
    next_attempt INTEGER,
    image_id INTEGER REFERENCES image (id),
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    UNIQUE (repository, reference_kind, reference, expected_config, platform)
);
CREATE INDEX scan_target_by_status ON scan_target (status, next_attempt);
CREATE INDEX scan_target_by_image ON scan_target (image_id);

-- One (workload, container, digest, platform) of a cluster; never deleted.
-- A container pending resolution has digest '' (one row per container name).
CREATE TABLE container (
    id INTEGER PRIMARY KEY,
    workload_id INTEGER NOT NULL REFERENCES workload (id),
    -- Copies of the workload's, for the report's scope filter.
    cluster_id INTEGER NOT NULL REFERENCES cluster (id),
    namespace TEXT NOT NULL,
    container TEXT NOT NULL,
    container_type TEXT NOT NULL,
    image_ref TEXT NOT NULL,
    repository TEXT,
    tag TEXT,
    digest TEXT NOT NULL,
    digest_kind TEXT,
    platform TEXT NOT NULL,
    state TEXT NOT NULL,
    running BOOLEAN NOT NULL,
    pods INTEGER NOT NULL,
    running_pods INTEGER NOT NULL,
    pod TEXT NOT NULL,
    node TEXT,
    -- serde JSON (display only; selectors use workload_label).
    pod_labels TEXT NOT NULL,
    -- serde JSON of Vec<k8s::SecretRef>: references, never contents.
    pull_secrets TEXT NOT NULL,
    target_id INTEGER REFERENCES scan_target (id),
    generation INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    UNIQUE (workload_id, container, digest, platform)
);
CREATE INDEX container_by_cluster ON container (cluster_id, namespace);
-- Covers the report's scope scan (container rows are wide: labels, secrets).
CREATE INDEX container_scope ON container (target_id, running, cluster_id, workload_id, namespace)
    WHERE target_id IS NOT NULL;
CREATE INDEX container_by_target ON container (target_id);

-- ---- Images and findings ------------------------------------------------------

CREATE TABLE image (
    id INTEGER PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    repository TEXT NOT NULL,
    config_digest TEXT NOT NULL,
    platform TEXT NOT NULL,
    -- serde JSON of model::OsInfo.
    os TEXT,
    size INTEGER NOT NULL,
    created TEXT,
    status TEXT NOT NULL,
    scanned_at INTEGER,
    scan_error TEXT,
    -- serde JSON of {name: version}.
    analyzer_versions TEXT NOT NULL,
    db_version INTEGER,
    first_seen INTEGER NOT NULL,
    -- The bodies last: a column after a big value is read through its
    -- overflow pages.
    -- zstd JSON of model::ImageMetadata (layers, history, config).
    metadata BLOB NOT NULL,
    -- zstd JSON of model::ImageInventory (the SBOM, for re-matching).
    inventory BLOB NOT NULL
);
CREATE INDEX image_by_repository ON image (repository, first_seen);

CREATE TABLE image_tag (
    image_id INTEGER NOT NULL REFERENCES image (id),
    tag TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (image_id, tag)
);

-- Vulnerability IDs once, so a text search scans thousands of names, not
-- millions of findings.
CREATE TABLE vulnerability (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

-- Severity: 0 critical … 5 unknown (model::Severity's order).
CREATE TABLE finding (
    id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES image (id),
    fingerprint TEXT NOT NULL,
    vulnerability_id INTEGER NOT NULL REFERENCES vulnerability (id),
    severity INTEGER NOT NULL,
    cvss REAL,
    package_kind TEXT NOT NULL,
    package_name TEXT NOT NULL,
    package_version TEXT NOT NULL,
    layer_index INTEGER,
    fixed_version TEXT,
    fix_state TEXT NOT NULL,
    fixable BOOLEAN NOT NULL,
    epss REAL,
    kev BOOLEAN NOT NULL,
    -- An active vulnerability exception covers it (kept up to date by every
    -- exception change and by lapse_expired).
    excepted BOOLEAN NOT NULL,
    first_seen_db_version INTEGER NOT NULL,
    -- zstd JSON of model::Finding.
    body BLOB NOT NULL
);
CREATE INDEX finding_by_image ON finding (image_id, cvss);
CREATE INDEX finding_by_vulnerability ON finding (vulnerability_id, image_id);

CREATE TABLE image_package (
    image_id INTEGER NOT NULL REFERENCES image (id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    layer_index INTEGER,
    path TEXT NOT NULL,
    vulnerabilities INTEGER NOT NULL,
    fix_all_version TEXT
);
CREATE INDEX image_package_by_image ON image_package (image_id);
CREATE INDEX image_package_fixes ON image_package (kind, name, fix_all_version)
    WHERE fix_all_version IS NOT NULL;

-- Per-image counts of findings not excepted by a vulnerability exception:
-- what statistics and lists add up instead of scanning findings.
CREATE TABLE image_summary (
    image_id INTEGER PRIMARY KEY REFERENCES image (id),
    critical INTEGER NOT NULL,
    high INTEGER NOT NULL,
    medium INTEGER NOT NULL,
    low INTEGER NOT NULL,
    negligible INTEGER NOT NULL,
    unknown INTEGER NOT NULL,
    fixable INTEGER NOT NULL,
    fixable_critical INTEGER NOT NULL,
    fixable_high INTEGER NOT NULL,
    fixable_medium INTEGER NOT NULL,
    fixable_low INTEGER NOT NULL,
    fixable_negligible INTEGER NOT NULL,
    fixable_unknown INTEGER NOT NULL
);

-- ---- Exceptions -------------------------------------------------------------

CREATE TABLE exception (
    id INTEGER PRIMARY KEY,
    -- 'repository' or 'vulnerability'.
    scope TEXT NOT NULL,
    -- NULL: a vulnerability exception everywhere.
    repository TEXT,
    vulnerability TEXT,
    reason TEXT NOT NULL,
    author TEXT NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER,
    cancelled_at INTEGER,
    cancelled_by TEXT,
    cancel_reason TEXT,
    -- When lapse_expired recorded the expiry.
    lapsed_at INTEGER
);
CREATE INDEX exception_by_repository ON exception (scope, repository);
CREATE INDEX exception_by_vulnerability ON exception (vulnerability);

-- Append-only: no API edits or deletes it, and these triggers refuse it.
CREATE TABLE exception_event (
    id INTEGER PRIMARY KEY,
    exception_id INTEGER NOT NULL REFERENCES exception (id),
    -- 'created', 'cancelled', 'expired'.
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    at INTEGER NOT NULL,
    reason TEXT
);
CREATE INDEX exception_event_by_exception ON exception_event (exception_id);
CREATE TRIGGER exception_event_no_update BEFORE UPDATE ON exception_event
BEGIN
    SELECT RAISE(ABORT, 'exception history is append-only');
END;
CREATE TRIGGER exception_event_no_delete BEFORE DELETE ON exception_event
BEGIN
    SELECT RAISE(ABORT, 'exception history is append-only');
END;

-- ---- Users, tokens, sessions --------------------------------------------------

CREATE TABLE app_user (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created INTEGER NOT NULL,
    disabled BOOLEAN NOT NULL
);

CREATE TABLE api_token (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    -- SHA-256 hex of the token.
    token_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    user_id INTEGER REFERENCES app_user (id),
    cluster TEXT,
    created INTEGER NOT NULL,
    last_used INTEGER,
    revoked INTEGER
);

CREATE TABLE session (
    session_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES app_user (id),
    csrf_hash TEXT NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL
);
CREATE INDEX session_by_expiry ON session (expires);
