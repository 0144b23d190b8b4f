//! On-disk layer cache: one file per (diffID, analyzer versions).
//!
//! A layer shared by many images is analysed once. The key covers the
//! analyzer list, so a new analyzer version misses the cache instead of
//! serving stale results. Entries are written atomically (temp file + rename)
//! and a corrupt or unreadable entry is treated as a miss and removed.

use std::fs;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use model::{AnalyzerId, DiffId, LayerInventory};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Bumped whenever the cached representation changes.
const CACHE_FORMAT: u32 = 1;
/// A cache entry larger than this is not trusted (a layer with millions of
/// packages is not real).
const MAX_ENTRY_BYTES: u64 = 512 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct LayerCache {
    dir: PathBuf,
}

/// The identity of a cached layer analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey(String);

impl CacheKey {
    pub fn new(diff_id: &DiffId, analyzers: &[AnalyzerId]) -> CacheKey {
        let mut ids: Vec<&AnalyzerId> = analyzers.iter().collect();
        ids.sort();
        let mut h = Sha256::new();
        h.update(format!("shipshape-layer-cache/{CACHE_FORMAT}\n{diff_id}\n"));
        for id in ids {
            h.update(format!("{}@{}\n", id.name, id.version));
        }
        CacheKey(hex::encode(h.finalize()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Serialize, Deserialize)]
struct Entry {
    format: u32,
    layer: LayerInventory,
}

impl LayerCache {
    /// Opens (creating if needed) a cache rooted at `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<LayerCache> {
        let dir = dir.into();
        fs::create_dir_all(dir.join("layers"))?;
        Ok(LayerCache { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &CacheKey) -> PathBuf {
        self.dir
            .join("layers")
            .join(format!("{}.json", key.as_str()))
    }

    /// Returns the cached analysis, or `None` on a miss. Corrupt entries are
    /// removed so the next scan rewrites them.
    pub fn get(&self, key: &CacheKey, diff_id: &DiffId) -> Option<LayerInventory> {
        let path = self.path(key);
        let file = fs::File::open(&path).ok()?;
        let reader = BufReader::new(file.take(MAX_ENTRY_BYTES));
        match serde_json::from_reader::<_, Entry>(reader) {
            Ok(entry) if entry.format == CACHE_FORMAT && &entry.layer.diff_id == diff_id => {
                Some(entry.layer)
            }
            Ok(_) | Err(_) => {
                tracing::warn!(path = %path.display(), "dropping unusable layer cache entry");
                let _ = fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores an analysis atomically.
    pub fn put(&self, key: &CacheKey, layer: &LayerInventory) -> io::Result<()> {
        let dir = self.dir.join("layers");
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
        {
            let mut w = BufWriter::new(tmp.as_file_mut());
            let entry = EntryRef {
                format: CACHE_FORMAT,
                layer,
            };
            serde_json::to_writer(&mut w, &entry).map_err(io::Error::other)?;
            w.flush()?;
        }
        tmp.persist(self.path(key)).map_err(|e| e.error)?;
        Ok(())
    }
}

#[derive(Serialize)]
struct EntryRef<'a> {
    format: u32,
    layer: &'a LayerInventory,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff_id(byte: u8) -> DiffId {
        DiffId(model::Digest::from_raw(
            model::DigestAlgorithm::Sha256,
            &[byte; 32],
        ))
    }

    #[test]
    fn key_depends_on_diff_id_and_analyzer_versions_not_order() {
        let a = AnalyzerId::new("dpkg", 1);
        let b = AnalyzerId::new("apk", 1);
        let base = CacheKey::new(&diff_id(1), &[a.clone(), b.clone()]);
        assert_eq!(base, CacheKey::new(&diff_id(1), &[b.clone(), a.clone()]));
        assert_ne!(base, CacheKey::new(&diff_id(2), &[a.clone(), b.clone()]));
        assert_ne!(
            base,
            CacheKey::new(&diff_id(1), &[AnalyzerId::new("dpkg", 2), b])
        );
    }

    #[test]
    fn round_trip_and_corrupt_entries_are_misses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LayerCache::open(dir.path()).unwrap();
        let key = CacheKey::new(&diff_id(7), &[AnalyzerId::new("dpkg", 1)]);
        assert!(cache.get(&key, &diff_id(7)).is_none());

        let mut layer = LayerInventory::new(diff_id(7));
        layer.packages.push(model::Package::new(
            model::PackageKind::Deb,
            "bash",
            "5.2.15-2+b2",
        ));
        cache.put(&key, &layer).unwrap();
        assert_eq!(cache.get(&key, &diff_id(7)), Some(layer));
        // An entry filed under the wrong diffID is not trusted.
        assert!(cache.get(&key, &diff_id(8)).is_none());

        cache.put(&key, &LayerInventory::new(diff_id(7))).unwrap();
        fs::write(cache.path(&key), b"{not json").unwrap();
        assert!(cache.get(&key, &diff_id(7)).is_none());
        assert!(!cache.path(&key).exists(), "corrupt entry removed");
    }
}
