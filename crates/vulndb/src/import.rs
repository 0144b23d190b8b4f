//! `db import PATH...`: each path is planned ([`advisory::detect::plan`]),
//! each feed parsed on a blocking thread and streamed through one
//! [`crate::ImportTx`] in batches, so memory stays bounded whatever the feed's size. A
//! path that cannot be read fails the import and nothing is committed; bad
//! files inside a path are counted in their feed's report.

use std::path::{Path, PathBuf};

use advisory::ImportReport;
use advisory::ZipLimits;
use advisory::detect::{
    Format, PlannedFeed, SkippedPath, archive_limits, import_feed_files_with, plan,
};

use crate::{FeedInfo, FeedParser, KeepUnreadable, Result, VulnDb, VulnDbError};

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
            let streamed = tx
                .replace_feed_streamed(info.clone(), parser(feed), KeepUnreadable::Yes)
                .await?;
            let done = FeedSummary {
                name: info.name,
                format,
                files,
                advisories: streamed.advisories,
                enrichments: streamed.enrichments,
                report: streamed.report,
            };
            progress(ImportEvent::FeedDone { summary: &done });
            summary.feeds.push(done);
        }
    }
    progress(ImportEvent::Committing);
    summary.database_version = tx.commit().await?;
    Ok(summary)
}

/// Parses `feed`'s files, streaming each record to the sinks.
pub fn parser(feed: PlannedFeed) -> FeedParser {
    files_parser(feed.format, feed.files)
}

/// Parses `files` of `format`, streaming each record to the sinks.
pub fn files_parser(format: Format, files: Vec<PathBuf>) -> FeedParser {
    files_parser_with(format, files, archive_limits(format))
}

/// [`files_parser`] with other bounds for archives (see
/// `advisory::detect::import_feed_files_with`).
pub fn files_parser_with(format: Format, files: Vec<PathBuf>, limits: ZipLimits) -> FeedParser {
    Box::new(move |advisories, enrichments| {
        let mut report = ImportReport::default();
        import_feed_files_with(
            format,
            &files,
            &limits,
            &mut report,
            advisories,
            enrichments,
        );
        report
    })
}
