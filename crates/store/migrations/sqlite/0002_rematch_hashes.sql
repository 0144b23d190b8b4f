-- Schema 2: a re-match writes only what changed.

-- SHA-256 of the image's findings (fingerprint + content hash of each, in
-- fingerprint order) and of its package summaries as last written; NULL
-- until the first write under schema 2. A write with the same hash leaves
-- the rows alone and only records the database version.
ALTER TABLE image ADD COLUMN findings_hash BLOB;
ALTER TABLE image ADD COLUMN packages_hash BLOB;

-- The first 8 bytes of the SHA-256 of the finding's JSON body, as an
-- integer: rows with the same fingerprint and content hash are kept, the
-- others replaced. 0 (rows written before schema 2) matches no content.
ALTER TABLE finding ADD COLUMN content_hash INTEGER NOT NULL DEFAULT 0;
