//! The rows the fleet remediation report reads (migration 0003), kept up to
//! date by every write that changes an image's findings, packages or
//! exception flags:
//!
//! - `image_upgrade`: per image, the fixable findings not excepted that each
//!   package upgrade (`upgrade`: kind, name, fix-all version) fixes;
//! - `upgrade_total`: the same summed over every image, adjusted by each
//!   image's change (a broad scope subtracts what it leaves out);
//! - `image_chain` / `image_base`: an image's layer chain prefixes (OCI
//!   ChainIDs) and its base image: the stored image with the longest chain
//!   that is a strict prefix of its own, with the findings its layers brought.
//!
//! The writers call [`image_written`] once per image write (complete_scan,
//! replace_findings) and [`findings_flagged`] after exception changes.

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest as _, Sha256};
use sqlx::SqliteConnection;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Result;
use crate::codec::Decoder;

/// An image's findings, packages or metadata were written: refreshes its
/// upgrade rows (and the totals), its layer chain (first write only) and
/// base image, and the base findings of the images built on it.
pub(crate) async fn image_written(conn: &mut SqliteConnection, image: i64) -> Result<()> {
    let known: Option<i64> =
        sqlx::query_scalar("SELECT image_id FROM image_base WHERE image_id = $1")
            .bind(image)
            .fetch_optional(&mut *conn)
            .await?;
    if known.is_none() {
        record_chain(conn, image).await?;
    }
    refresh_upgrades(conn, image).await?;
    refresh_base_findings(conn, image).await
}

/// Findings' exception flags changed: refreshes the images `selection`
/// names (an SQL expression giving image ids, using `$1` = `param`).
pub(crate) async fn findings_flagged(
    conn: &mut SqliteConnection,
    selection: &str,
    param: Option<i64>,
) -> Result<()> {
    let sql = format!("SELECT DISTINCT image_id FROM image_base WHERE image_id IN ({selection})");
    let mut query = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.as_str()));
    if let Some(param) = param {
        query = query.bind(param);
    }
    let images = query.fetch_all(&mut *conn).await?;
    for image in images {
        refresh_upgrades(conn, image).await?;
        refresh_base_findings(conn, image).await?;
    }
    Ok(())
}

/// Fills the rows of images stored before migration 0003 (or by a writer
/// that did not keep them). Does nothing when every image has its rows.
pub(crate) async fn backfill(conn: &mut SqliteConnection) -> Result<u64> {
    let missing: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM image WHERE id NOT IN (SELECT image_id FROM image_base) ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await?;
    for image in &missing {
        image_written(conn, *image).await?;
    }
    Ok(missing.len() as u64)
}

/// Adds `sign` × the image's upgrade rows to the fleet-wide totals.
async fn add_to_totals(conn: &mut SqliteConnection, image: i64, sign: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO upgrade_total (upgrade_id, findings, images) \
         SELECT upgrade_id, findings * $2, $2 FROM image_upgrade WHERE image_id = $1 \
         ON CONFLICT (upgrade_id) DO UPDATE SET findings = upgrade_total.findings + excluded.findings, \
         images = upgrade_total.images + excluded.images",
    )
    .bind(image)
    .bind(sign)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Rows per multi-row INSERT (3 parameters each; see images::INSERT_BATCH
/// for why batches stay small with sqlx-sqlite).
const INSERT_BATCH: usize = 50;

/// Recomputes an image's `image_upgrade` rows from its package rows and its
/// findings, and moves the totals by the difference. The pairing is done
/// here rather than in one SQL join: neither side has an index on (kind,
/// name, version), and SQLite's nested loop over an image's ~200 findings ×
/// ~200 packages cost 35 ms an image (the fleet example's scans).
async fn refresh_upgrades(conn: &mut SqliteConnection, image: i64) -> Result<()> {
    add_to_totals(conn, image, -1).await?;
    sqlx::query("DELETE FROM image_upgrade WHERE image_id = $1")
        .bind(image)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO upgrade (kind, name, fix_version) \
         SELECT DISTINCT kind, name, fix_all_version FROM image_package \
         WHERE image_id = $1 AND fix_all_version IS NOT NULL \
         ON CONFLICT (kind, name, fix_version) DO NOTHING",
    )
    .bind(image)
    .execute(&mut *conn)
    .await?;
    // (kind, name, version) → the upgrade ids of its package rows (copies
    // of one package at several paths share the fix-all version).
    let packages: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT DISTINCT p.kind, p.name, p.version, u.id FROM image_package p \
         JOIN upgrade u ON u.kind = p.kind AND u.name = p.name AND u.fix_version = p.fix_all_version \
         WHERE p.image_id = $1",
    )
    .bind(image)
    .fetch_all(&mut *conn)
    .await?;
    let mut upgrades_of: HashMap<(String, String, String), Vec<i64>> = HashMap::new();
    for (kind, name, version, upgrade) in packages {
        upgrades_of
            .entry((kind, name, version))
            .or_default()
            .push(upgrade);
    }
    let fixable: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT package_kind, package_name, package_version, COUNT(*) FROM finding \
         WHERE image_id = $1 AND fixable = TRUE AND excepted = FALSE \
         GROUP BY package_kind, package_name, package_version",
    )
    .bind(image)
    .fetch_all(&mut *conn)
    .await?;
    let mut findings: BTreeMap<i64, i64> = BTreeMap::new();
    for (kind, name, version, count) in fixable {
        for upgrade in upgrades_of
            .get(&(kind, name, version))
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            *findings.entry(*upgrade).or_default() += count;
        }
    }
    let rows: Vec<(i64, i64)> = findings.into_iter().collect();
    for batch in rows.chunks(INSERT_BATCH) {
        let mut sql =
            String::from("INSERT INTO image_upgrade (image_id, upgrade_id, findings) VALUES ");
        for row in 0..batch.len() {
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, ${}, ${})",
                row * 3 + 1,
                row * 3 + 2,
                row * 3 + 3
            ));
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
        for (upgrade, count) in batch {
            query = query.bind(image).bind(*upgrade).bind(*count);
        }
        query.execute(&mut *conn).await?;
    }
    add_to_totals(conn, image, 1).await?;
    // An upgrade no image needs any more leaves the totals.
    sqlx::query("DELETE FROM upgrade_total WHERE images <= 0")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// OCI ChainIDs of an image's layer prefixes: ChainID(L0) = DiffID(L0),
/// ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln)).
pub(crate) fn chain_ids(metadata: &model::ImageMetadata) -> Vec<String> {
    let mut chains: Vec<String> = Vec::with_capacity(metadata.layers.len());
    for layer in &metadata.layers {
        let diff_id = layer.diff_id.0.to_string();
        let chain = match chains.last() {
            None => diff_id,
            Some(parent) => {
                let mut hasher = Sha256::new();
                hasher.update(parent.as_bytes());
                hasher.update(b" ");
                hasher.update(diff_id.as_bytes());
                format!("sha256:{}", hex::encode(hasher.finalize()))
            }
        };
        chains.push(chain);
    }
    chains
}

/// The config's `created` as Unix seconds; `None` when absent or not RFC 3339
/// (such an image is never "newer" than another).
pub(crate) fn created_seconds(metadata: &model::ImageMetadata) -> Option<i64> {
    let created = metadata.config.created.as_deref()?;
    OffsetDateTime::parse(created, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// Records an image's chain and base row, then finds its base and
/// re-finds the base of every stored image its chain is a prefix of.
async fn record_chain(conn: &mut SqliteConnection, image: i64) -> Result<()> {
    let body: Vec<u8> = sqlx::query_scalar("SELECT metadata FROM image WHERE id = $1")
        .bind(image)
        .fetch_one(&mut *conn)
        .await?;
    let metadata: model::ImageMetadata = Decoder::new()?.decode("image metadata", &body)?;
    let chains = chain_ids(&metadata);
    for (index, chain) in chains.iter().enumerate() {
        sqlx::query(
            "INSERT INTO image_chain (image_id, layers, chain_id) VALUES ($1, $2, $3) \
             ON CONFLICT (image_id, layers) DO UPDATE SET chain_id = excluded.chain_id",
        )
        .bind(image)
        .bind(index as i64 + 1)
        .bind(chain)
        .execute(&mut *conn)
        .await?;
    }
    let top = chains.last().cloned().unwrap_or_default();
    sqlx::query(
        "INSERT INTO image_base (image_id, layers, top_chain, created, base_findings) \
         VALUES ($1, $2, $3, $4, 0) ON CONFLICT (image_id) DO UPDATE SET layers = excluded.layers, \
         top_chain = excluded.top_chain, created = excluded.created",
    )
    .bind(image)
    .bind(chains.len() as i64)
    .bind(&top)
    .bind(created_seconds(&metadata))
    .execute(&mut *conn)
    .await?;
    find_base(conn, image).await?;
    if chains.is_empty() {
        return Ok(());
    }
    // Images built on this one: their chain at this image's length is its top.
    let built_on: Vec<i64> = sqlx::query_scalar(
        "SELECT c.image_id FROM image_chain c JOIN image_base b ON b.image_id = c.image_id \
         WHERE c.chain_id = $1 AND c.layers = $2 AND b.layers > $2",
    )
    .bind(&top)
    .bind(chains.len() as i64)
    .fetch_all(&mut *conn)
    .await?;
    for other in built_on {
        find_base(conn, other).await?;
    }
    Ok(())
}

/// Sets an image's base: the stored image (another one) whose whole chain is
/// the longest strict prefix of this image's chain; the lowest id among
/// images with the same layers. Then refreshes its base findings.
async fn find_base(conn: &mut SqliteConnection, image: i64) -> Result<()> {
    let base: Option<(i64, i64)> = sqlx::query_as(
        "SELECT b.image_id, b.layers FROM image_chain c \
         JOIN image_base me ON me.image_id = c.image_id \
         JOIN image_base b ON b.top_chain = c.chain_id AND b.layers = c.layers \
         WHERE c.image_id = $1 AND c.layers < me.layers AND b.image_id <> $1 \
         ORDER BY b.layers DESC, b.image_id LIMIT 1",
    )
    .bind(image)
    .fetch_optional(&mut *conn)
    .await?;
    sqlx::query("UPDATE image_base SET base_image_id = $1, base_layers = $2 WHERE image_id = $3")
        .bind(base.map(|(id, _)| id))
        .bind(base.map(|(_, layers)| layers))
        .bind(image)
        .execute(&mut *conn)
        .await?;
    refresh_base_findings(conn, image).await
}

/// The image's findings, not excepted, in its base image's layers.
async fn refresh_base_findings(conn: &mut SqliteConnection, image: i64) -> Result<()> {
    sqlx::query(
        "UPDATE image_base SET base_findings = COALESCE((SELECT COUNT(*) FROM finding f \
         WHERE f.image_id = image_base.image_id AND f.excepted = FALSE \
         AND f.layer_index < image_base.base_layers), 0) WHERE image_id = $1",
    )
    .bind(image)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata_with(diff_ids: &[&str], created: Option<&str>) -> model::ImageMetadata {
        let manifest = crate::fixtures::digest("m");
        let mut metadata = crate::fixtures::metadata("r", None, &manifest, 0);
        metadata.layers = diff_ids
            .iter()
            .enumerate()
            .map(|(index, label)| model::LayerDescriptor {
                index: index as u32,
                diff_id: model::DiffId(crate::fixtures::digest(label)),
                blob_digest: crate::fixtures::digest(&format!("blob-{label}")),
                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".to_owned(),
                compressed_size: 1,
                uncompressed_size: None,
            })
            .collect();
        metadata.config.created = created.map(str::to_owned);
        metadata
    }

    #[test]
    fn chain_ids_follow_the_oci_definition() {
        let a = metadata_with(&["a", "b", "c"], None);
        let chains = chain_ids(&a);
        assert_eq!(chains.len(), 3);
        // ChainID of one layer is its DiffID.
        assert_eq!(chains[0], crate::fixtures::digest("a").to_string());
        let mut hasher = Sha256::new();
        hasher.update(format!("{} {}", chains[0], crate::fixtures::digest("b")).as_bytes());
        assert_eq!(
            chains[1],
            format!("sha256:{}", hex::encode(hasher.finalize()))
        );
        // A prefix image shares the prefix's chains; another order does not.
        assert_eq!(chain_ids(&metadata_with(&["a", "b"], None)), chains[..2]);
        assert_ne!(chain_ids(&metadata_with(&["b", "a"], None))[1], chains[1]);
        assert!(chain_ids(&metadata_with(&[], None)).is_empty());
    }

    /// A database whose images lack the rows (stored before migration 0003)
    /// gets them when opened, and answers as before.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_backfills_missing_rows() {
        use crate::fixtures::{
            at, container, digest, finding, inventory, metadata, scan_record, workload,
        };
        use crate::{InventorySource, Page, ReportFilter, Store, TargetReference};
        let dir = tempfile::tempdir().unwrap();
        let store = crate::SqliteStore::open(dir.path()).await.unwrap();
        let cluster = inventory(
            "prod",
            at(0),
            k8s::ClusterStatus::Ok,
            vec![workload(
                "web",
                "frontend",
                &[],
                vec![container(
                    "nginx",
                    "nginx:1.25",
                    Some((digest("nginx"), k8s::DigestKind::Manifest)),
                    "linux/amd64",
                    true,
                )],
            )],
        );
        store
            .apply_snapshot(&cluster, InventorySource::Agent, at(0))
            .await
            .unwrap();
        for job in store.claim_scan_jobs(10, at(1)).await.unwrap() {
            let TargetReference::Digest { digest } = &job.target.reference else {
                panic!("a manifest digest")
            };
            let findings = vec![finding(
                "CVE-1",
                model::Severity::High,
                Some(7.5),
                ("openssl", "3.0.1"),
                0,
                Some("3.0.9"),
            )];
            let record = scan_record(
                metadata(&job.target.repository, None, digest, 2),
                findings,
                1,
            );
            store
                .complete_scan(job.target.id, &record, at(2))
                .await
                .unwrap();
        }
        let before = store
            .remediation(&ReportFilter::default(), Page::default(), at(3))
            .await
            .unwrap();
        assert_eq!(before.total, 1);
        for table in [
            "image_upgrade",
            "upgrade_total",
            "image_chain",
            "image_base",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
                .execute(&store.writer)
                .await
                .unwrap();
        }
        let emptied = store
            .remediation(&ReportFilter::default(), Page::default(), at(3))
            .await
            .unwrap();
        assert_eq!(emptied.total, 0, "the rows are what the report reads");
        store.close().await;
        let store = crate::SqliteStore::open(dir.path()).await.unwrap();
        let after = store
            .remediation(&ReportFilter::default(), Page::default(), at(3))
            .await
            .unwrap();
        assert_eq!(after, before);
    }

    #[test]
    fn created_seconds_table() {
        let table: Vec<(Option<&str>, Option<i64>)> = vec![
            (Some("2026-01-01T00:00:00Z"), Some(1_767_225_600)),
            (Some("2026-01-01T00:00:00.5+01:00"), Some(1_767_222_000)),
            (Some("yesterday"), None),
            (Some(""), None),
            (None, None),
        ];
        for (created, expected) in table {
            assert_eq!(
                created_seconds(&metadata_with(&["a"], created)),
                expected,
                "{created:?}"
            );
        }
    }
}
