-- Fleet remediation, schema 3 (SQLite). Per-image rows that the remediation
-- report adds up instead of grouping every package row in scope, fleet-wide
-- totals a broad scope starts from, and each image's layer chain, from which
-- base images are found. Kept by store::sqlite::remediation on every write of
-- findings, packages or exceptions; filled for existing images at open.
-- Queries against these tables run on PostgreSQL as well.

-- One package upgrade: (kind, name) to the version that fixes all of the
-- package's fixable findings.
CREATE TABLE upgrade (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    fix_version TEXT NOT NULL,
    UNIQUE (kind, name, fix_version)
);

-- The fixable findings, not excepted by a vulnerability exception, that an
-- upgrade fixes in one image.
CREATE TABLE image_upgrade (
    image_id INTEGER NOT NULL REFERENCES image (id),
    upgrade_id INTEGER NOT NULL REFERENCES upgrade (id),
    findings INTEGER NOT NULL,
    PRIMARY KEY (image_id, upgrade_id)
) WITHOUT ROWID;
CREATE INDEX image_upgrade_by_upgrade ON image_upgrade (upgrade_id, image_id);

-- image_upgrade summed over every image: a scope holding most of the fleet
-- subtracts the images it leaves out rather than adding up the ones it holds.
CREATE TABLE upgrade_total (
    upgrade_id INTEGER PRIMARY KEY REFERENCES upgrade (id),
    findings INTEGER NOT NULL,
    images INTEGER NOT NULL
);

-- An image's layer chain, one row per prefix: the OCI ChainID of layers
-- 0..layers-1. Image A is built on image B when B's whole chain is a strict
-- prefix of A's.
CREATE TABLE image_chain (
    image_id INTEGER NOT NULL REFERENCES image (id),
    layers INTEGER NOT NULL,
    chain_id TEXT NOT NULL,
    PRIMARY KEY (image_id, layers)
) WITHOUT ROWID;
CREATE INDEX image_chain_by_chain ON image_chain (chain_id, layers);

-- Per image: its whole chain, its config's creation time, and its base image
-- (the stored image with the longest chain that is a strict prefix of its
-- own) with the findings, not excepted, that the base's layers introduced.
CREATE TABLE image_base (
    image_id INTEGER PRIMARY KEY REFERENCES image (id),
    layers INTEGER NOT NULL,
    -- '' for an image without layers.
    top_chain TEXT NOT NULL,
    -- The config's `created`, Unix seconds; NULL when absent or unreadable.
    created INTEGER,
    base_image_id INTEGER REFERENCES image (id),
    base_layers INTEGER,
    base_findings INTEGER NOT NULL
);
CREATE INDEX image_base_by_top ON image_base (top_chain, layers);
CREATE INDEX image_base_by_base ON image_base (base_image_id);
