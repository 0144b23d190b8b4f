//! Inventory state over time: per (cluster, workload, container, digest) first
//! seen / last seen and whether it still runs. Nothing is ever deleted: an image
//! that went away is "no longer running" (history matters). `apply(snapshot)`
//! returns the [`Change`]s — exactly what the agent sends as deltas.
//!
//! Only containers with a digest are tracked: a container pending resolution
//! has no identity yet (it appears in snapshots with its spec reference).
//! `last_seen` of a running entry advances with every snapshot without a
//! change; the `NoLongerRunning` change carries the final `last_seen`.

use std::collections::BTreeMap;

use model::{Digest, Platform};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::types::{ClusterInventory, ClusterStatus, WorkloadKey};

/// Identifies one tracked image use.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ImageKey {
    pub cluster: String,
    pub workload: WorkloadKey,
    pub container: String,
    pub digest: Digest,
}

/// What is known about one [`ImageKey`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub image_ref: String,
    pub platform: Option<Platform>,
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
    pub running: bool,
}

/// One change between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// A (workload, container, digest) never seen before.
    Appeared { key: ImageKey, record: ImageRecord },
    /// Seen before, not running at the last snapshot, running now.
    RunningAgain {
        key: ImageKey,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// Ran at the last snapshot, not any more (pods deleted, scaled down, finished).
    NoLongerRunning {
        key: ImageKey,
        #[serde(with = "time::serde::rfc3339")]
        last_seen: OffsetDateTime,
    },
    /// The same spec reference (tag) now resolves to a new digest.
    TagDrift {
        cluster: String,
        workload: WorkloadKey,
        container: String,
        image_ref: String,
        previous: Digest,
        current: Digest,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// The cluster's status changed (degraded, unreachable, back to ok).
    ClusterStatus {
        cluster: String,
        status: ClusterStatus,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
}

/// The state the agent keeps between snapshots (and the server rebuilds from deltas).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryState {
    images: BTreeMap<ImageKey, ImageRecord>,
    statuses: BTreeMap<String, ClusterStatus>,
    /// Per cluster, the time of the last complete snapshot applied (or
    /// [`touch`](Self::touch)ed): the `last_seen` its images carry. Not
    /// serialized: a restored state touches nothing until its next snapshot.
    #[serde(skip)]
    seen_at: BTreeMap<String, OffsetDateTime>,
}

impl InventoryState {
    pub fn new() -> InventoryState {
        InventoryState::default()
    }

    pub fn get(&self, key: &ImageKey) -> Option<&ImageRecord> {
        self.images.get(key)
    }

    pub fn images(&self) -> impl Iterator<Item = (&ImageKey, &ImageRecord)> {
        self.images.iter()
    }

    /// Folds one cluster snapshot in and returns what changed.
    pub fn apply(&mut self, snapshot: &ClusterInventory) -> Vec<Change> {
        let cluster = &snapshot.cluster;
        let at = snapshot.collected_at;
        let mut changes = Vec::new();
        if self.statuses.get(cluster) != Some(&snapshot.status) {
            self.statuses
                .insert(cluster.clone(), snapshot.status.clone());
            changes.push(Change::ClusterStatus {
                cluster: cluster.clone(),
                status: snapshot.status.clone(),
                at,
            });
        }
        // Absence in an incomplete snapshot says nothing about what runs.
        if !snapshot.status.pods_complete() {
            // Nor does it say the images are still there: nothing to touch.
            self.seen_at.remove(cluster);
            return changes;
        }

        let mut present: BTreeMap<ImageKey, (bool, &str, Option<&Platform>)> = BTreeMap::new();
        for workload in &snapshot.workloads {
            let workload_key = workload.key();
            for c in &workload.containers {
                let Some(digest) = &c.digest else { continue };
                let key = ImageKey {
                    cluster: cluster.clone(),
                    workload: workload_key.clone(),
                    container: c.container.clone(),
                    digest: digest.clone(),
                };
                let slot = present
                    .entry(key)
                    .or_insert((false, &c.image_ref, c.platform.as_ref()));
                slot.0 |= c.running;
            }
        }

        for (key, (running, image_ref, platform)) in &present {
            match self.images.get_mut(key) {
                None => {
                    if let Some(previous) = self.drifted_from(key, image_ref) {
                        changes.push(Change::TagDrift {
                            cluster: cluster.clone(),
                            workload: key.workload.clone(),
                            container: key.container.clone(),
                            image_ref: (*image_ref).to_owned(),
                            previous,
                            current: key.digest.clone(),
                            at,
                        });
                    }
                    let record = ImageRecord {
                        image_ref: (*image_ref).to_owned(),
                        platform: platform.cloned(),
                        first_seen: at,
                        last_seen: at,
                        running: *running,
                    };
                    self.images.insert(key.clone(), record.clone());
                    changes.push(Change::Appeared {
                        key: key.clone(),
                        record,
                    });
                }
                Some(record) => {
                    record.last_seen = at;
                    if *running && !record.running {
                        changes.push(Change::RunningAgain {
                            key: key.clone(),
                            at,
                        });
                    } else if !*running && record.running {
                        changes.push(Change::NoLongerRunning {
                            key: key.clone(),
                            last_seen: at,
                        });
                    }
                    record.running = *running;
                }
            }
        }

        for (key, record) in self.images.iter_mut() {
            if &key.cluster == cluster && record.running && !present.contains_key(key) {
                record.running = false;
                changes.push(Change::NoLongerRunning {
                    key: key.clone(),
                    last_seen: record.last_seen,
                });
            }
        }
        self.seen_at.insert(cluster.clone(), at);
        changes
    }

    /// What [`apply`](Self::apply) would do with a complete snapshot equal
    /// to the last one, taken at `at`: the images it held are seen again
    /// (`last_seen` advances), nothing else changes. For a caller that knows
    /// nothing changed (the agent, when the collector reported no event), so
    /// it need not assemble a snapshot. No-op when the cluster's last
    /// snapshot was incomplete, or before its first.
    pub fn touch(&mut self, cluster: &str, at: OffsetDateTime) {
        let Some(previous) = self.seen_at.get_mut(cluster) else {
            return;
        };
        let was = std::mem::replace(previous, at);
        for (key, record) in self.images.iter_mut() {
            if key.cluster == cluster && record.last_seen == was {
                record.last_seen = at;
            }
        }
    }

    /// The newest other digest seen for the same workload, container and spec reference.
    ///
    /// Keys order by cluster, workload, container, then digest, so the other
    /// digests of the same (workload, container) sit right next to `key`:
    /// only they are looked at. (Scanning every image made the first
    /// snapshot of 10,000 pods quadratic: 6 s in a debug build.)
    fn drifted_from(&self, key: &ImageKey, image_ref: &str) -> Option<Digest> {
        use std::ops::Bound::{Excluded, Unbounded};
        let same_use = |k: &ImageKey| {
            k.cluster == key.cluster && k.workload == key.workload && k.container == key.container
        };
        let mut before: Vec<(&ImageKey, &ImageRecord)> = self
            .images
            .range::<ImageKey, _>((Unbounded, Excluded(key)))
            .rev()
            .take_while(|(k, _)| same_use(k))
            .collect();
        before.reverse();
        let after = self
            .images
            .range::<ImageKey, _>((Excluded(key), Unbounded))
            .take_while(|(k, _)| same_use(k));
        // In key order, as a scan of the whole map would meet them (ties on
        // last_seen go to the last).
        before
            .into_iter()
            .chain(after)
            .filter(|(k, r)| k.digest != key.digest && r.image_ref == image_ref)
            .max_by_key(|(_, r)| r.last_seen)
            .map(|(k, _)| k.digest.clone())
    }
}
