//! `db import PATH...`: each path is planned ([`advisory::detect::plan`]),
//! each feed parsed on a blocking thread and written through one
//! [`crate::ImportTx`], one feed at a time so only one feed is in memory. A
//! path that cannot be read fails the import and nothing is committed; bad
//! files inside a path are counted in their feed's report.

use std::path::{Path, PathBuf};

use advisory::ImportReport;
use advisory::detect::{PlannedFeed, SkippedPath, import_feed_files, plan};
use model::{Advisory, CveEnrichment};

use crate::{FeedInfo, Result, VulnDb, VulnDbError};

/// What one feed's import did.
#[derive(Debug, Clone)]
pub struct FeedSummary {
    pub name: String,
    pub format: &'static str,
    pub files: usize,
    pub advisories: u64,
    pub enrichments: u64,
    /// Skipped records and files, with the first reasons, and ecosystems seen.
    pub report: ImportReport,
}

/// What a whole import did.
#[derive(Debug, Clone, Default)]
pub struct ImportSummary {
    pub feeds: Vec<FeedSummary>,
    /// Parts of the import paths that were not imported, and why.
    pub skipped_paths: Vec<SkippedPath>,
    /// The version the import committed.
    pub database_version: i64,
}

/// Progress, for a display.
#[derive(Debug)]
pub enum ImportEvent<'a> {
    /// `path` was walked: `feeds` feeds will be imported from it.
    Planned {
        path: &'a Path,
        feeds: usize,
    },
    FeedStarted {
        name: &'a str,
        files: usize,
    },
    FeedDone {
        summary: &'a FeedSummary,
    },
    /// All feeds are written; committing.
    Committing,
}

/// Imports `paths` into `db` in one transaction; see the module docs.
pub async fn import_paths(
    db: &VulnDb,
    paths: &[PathBuf],
    progress: &mut (dyn FnMut(ImportEvent<'_>) + Send),
) -> Result<ImportSummary> {
    let mut tx = db.begin_import().await?;
    let mut summary = ImportSummary::default();
    for path in paths {
        let planned = {
            let owned = path.clone();
            tokio::task::spawn_blocking(move || plan(&owned))
                .await
                .map_err(|e| VulnDbError::Worker(e.to_string()))?
                .map_err(|source| VulnDbError::Import {
                    path: path.clone(),
                    source,
                })?
        };
        progress(ImportEvent::Planned {
            path,
            feeds: planned.feeds.len(),
        });
        summary.skipped_paths.extend(planned.skipped);
        for feed in planned.feeds {
            progress(ImportEvent::FeedStarted {
                name: &feed.name,
                files: feed.files.len(),
            });
            let files = feed.files.len();
            let info = FeedInfo {
                name: feed.name.clone(),
                kind: feed.format.as_str().to_owned(),
                origin: feed.origin.display().to_string(),
                cursor: None,
            };
            let format = feed.format.as_str();
            let (advisories, enrichments, report) =
                tokio::task::spawn_blocking(move || read(&feed))
                    .await
                    .map_err(|e| VulnDbError::Worker(e.to_string()))?;
            let (advisories, enrichments) = tx
                .replace_feed(info.clone(), advisories, enrichments, &report)
                .await?;
            let done = FeedSummary {
                name: info.name,
                format,
                files,
                advisories,
                enrichments,
                report,
            };
            progress(ImportEvent::FeedDone { summary: &done });
            summary.feeds.push(done);
        }
    }
    progress(ImportEvent::Committing);
    summary.database_version = tx.commit().await?;
    Ok(summary)
}

fn read(feed: &PlannedFeed) -> (Vec<Advisory>, Vec<CveEnrichment>, ImportReport) {
    let mut report = ImportReport::default();
    let mut advisories = Vec::new();
    let mut enrichments = Vec::new();
    import_feed_files(
        feed.format,
        &feed.files,
        &mut report,
        &mut |advisory| advisories.push(advisory),
        &mut |enrichment| enrichments.push(enrichment),
    );
    (advisories, enrichments, report)
}
