//! The demo fleet behind `shipshape serve --demo`: with no cluster and no
//! internet, everything a full report needs, built by the program itself.
//!
//! [`build`] writes into one directory:
//! * `images/`: one OCI image layout with the demo images (ten repositories,
//!   sixteen per-platform images), each built layer by layer with real
//!   package-database files (dpkg `status` and `status.d`, apk `installed`,
//!   Python `METADATA`, npm `package.json`, gemspecs) and the package versions
//!   those images really shipped. Each image is named in `index.json` by an
//!   `org.opencontainers.image.ref.name` annotation (`nginx-1.27.1`, see
//!   [`DemoImage::ref_name`]), so `shipshape scan --oci-layout DIR/images:nginx-1.27.1`
//!   works too;
//! * `advisories/`: a small advisory set in upstream formats (compiled into the
//!   binary), for `vulndb::import_paths`;
//!
//! and returns the cluster inventories that say where those images run.
//! `serve --demo` then only has to scan the images, import the advisories and
//! ingest the fleet.
//!
//! Everything is deterministic given `now`. Image creation times are whole
//! days before `now`'s date (UTC), so the image digests stay the same for a
//! whole day: a demo restarted on the same day finds the same images.

mod advisories;
mod fleet;
mod images;
mod packages;

use std::path::{Path, PathBuf};

use imagebuild::{ImageBuildError, IndexBuilder, LayoutWriter};
use k8s::ClusterInventory;
use model::{Digest, Platform};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, Time, UtcOffset};

/// What [`build`] wrote and the fleet that runs it.
#[derive(Debug, Clone)]
pub struct DemoSet {
    /// The OCI image layout holding every demo image.
    pub layout: PathBuf,
    /// Every per-platform image in the layout, in build order (a repository's
    /// older tags first).
    pub images: Vec<DemoImage>,
    /// The advisory files, one per feed, for `vulndb::import_paths`.
    pub advisory_files: Vec<PathBuf>,
    /// Three clusters: `prod-eu-1`, `prod-us-1` (degraded) and `staging`.
    pub clusters: Vec<ClusterInventory>,
}

/// One per-platform image of the demo layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoImage {
    /// As a cluster reports it: `docker.io/library/nginx`, `ghcr.io/acme/billing`.
    pub repository: String,
    pub tag: String,
    /// The `org.opencontainers.image.ref.name` the image (or its multi-platform
    /// index) has in the layout: `<last path segment>-<tag>`, with no `/` or
    /// `:` so that a CLI `DIR:NAME` argument can name it.
    pub ref_name: String,
    /// The per-platform manifest digest: the image's identity.
    pub manifest_digest: Digest,
    pub platform: Platform,
    pub created: OffsetDateTime,
}

impl DemoImage {
    /// `repository:tag`.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.repository, self.tag)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("building the demo images: {0}")]
    Build(#[from] ImageBuildError),
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `now` is so far from today that a creation date cannot be written.
    #[error("cannot date the demo images {days} days before {now}: {reason}")]
    Clock {
        now: OffsetDateTime,
        days: i64,
        reason: String,
    },
    /// The fleet names an image the demo does not build: a bug in this crate.
    #[error("the demo fleet runs {reference} for {platform}, which the demo does not build")]
    MissingImage { reference: String, platform: String },
}

/// Builds the demo into `dir` (created if missing; files of an earlier build
/// are overwritten) and returns what it wrote; see the crate docs.
pub fn build(dir: &Path, now: OffsetDateTime) -> Result<DemoSet, DemoError> {
    let layout_dir = dir.join("images");
    let mut layout = LayoutWriter::create(&layout_dir)?;
    let day = now.to_offset(UtcOffset::UTC).replace_time(Time::MIDNIGHT);
    let mut images = Vec::new();
    for recipe in images::RECIPES {
        let created = day
            .checked_sub(Duration::days(recipe.days_old))
            .ok_or_else(|| DemoError::Clock {
                now,
                days: recipe.days_old,
                reason: "out of range".to_owned(),
            })?;
        let created_text = created.format(&Rfc3339).map_err(|e| DemoError::Clock {
            now,
            days: recipe.days_old,
            reason: e.to_string(),
        })?;
        let name = recipe
            .repository
            .rsplit('/')
            .next()
            .unwrap_or(recipe.repository);
        let ref_name = format!("{name}-{}", recipe.tag);
        let mut built = Vec::new();
        for &arch in recipe.archs {
            let image = (recipe.build)(arch)
                .created(created_text.as_str())
                .manifest_annotation("org.opencontainers.image.created", &created_text)
                .manifest_annotation("org.opencontainers.image.version", recipe.tag)
                .build()?;
            images.push(DemoImage {
                repository: recipe.repository.to_owned(),
                tag: recipe.tag.to_owned(),
                ref_name: ref_name.clone(),
                manifest_digest: image.manifest.digest.clone(),
                platform: image.platform.clone(),
                created,
            });
            built.push(image);
        }
        if built.len() == 1 {
            layout.add(&built[0], Some(&ref_name))?;
        } else {
            let index = built
                .into_iter()
                .fold(
                    IndexBuilder::new(imagebuild::Flavor::Oci),
                    |index, image| index.image(image),
                )
                .build()?;
            layout.add(&index, Some(&ref_name))?;
        }
    }

    let advisory_dir = dir.join("advisories");
    std::fs::create_dir_all(&advisory_dir).map_err(|source| DemoError::Io {
        path: advisory_dir.clone(),
        source,
    })?;
    let mut advisory_files = Vec::new();
    for (name, contents) in advisories::FILES {
        let path = advisory_dir.join(name);
        std::fs::write(&path, contents).map_err(|source| DemoError::Io {
            path: path.clone(),
            source,
        })?;
        advisory_files.push(path);
    }

    let clusters = fleet::clusters(&images, now)?;
    Ok(DemoSet {
        layout: layout_dir,
        images,
        advisory_files,
        clusters,
    })
}
