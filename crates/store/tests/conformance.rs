//! The store conformance suite: every case is written against the `Store`
//! trait and runs on a fresh `SqliteStore` (a temp file). With
//! `SHIPSHAPE_TEST_DATABASE_URL` set, cases run against that backend
//! instead: `sqlite://DIR` puts each case's file in DIR; a scheme without a
//! backend yet (postgres) skips with a message.

// Case tables read best as tuples.
#![allow(clippy::type_complexity)]

use std::path::PathBuf;

use k8s::wire::{AgentMessage, Delta, IngestResponse, MessageBody, PROTOCOL_VERSION, Snapshot};
use k8s::{ClusterInventory, ClusterStatus, DigestKind, WorkloadKey, WorkloadKind};
use model::{Digest, Severity};
use store::fixtures::*;
use store::*;
use time::OffsetDateTime;

/// A fresh store for one case, or `None` (skip) when the configured URL
/// has no backend yet. The guard keeps the temp dir alive.
async fn open(case: &str) -> Option<(SqliteStore, Option<tempfile::TempDir>)> {
    match std::env::var("SHIPSHAPE_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => match url.split_once("://") {
            Some(("sqlite", dir)) => {
                let path = PathBuf::from(dir).join(format!("{case}.sqlite"));
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
                Some((
                    open_url(&format!("sqlite://{}", path.display()))
                        .await
                        .unwrap(),
                    None,
                ))
            }
            _ => {
                skip(&url);
                None
            }
        },
        _ => {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(dir.path()).await.unwrap();
            Some((store, Some(dir)))
        }
    }
}

#[allow(clippy::print_stderr)]
fn skip(url: &str) {
    let scheme = url.split("://").next().unwrap_or("?");
    eprintln!("SHIPSHAPE_TEST_DATABASE_URL: no store backend for {scheme:?} yet; case skipped");
}

/// Declares a `#[tokio::test]` running a generic case on a fresh store.
macro_rules! conformance {
    ($($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some((store, _guard)) = open(stringify!($name)).await else { return };
                cases::$name(&store).await;
            }
        )+
    };
}

conformance!(
    snapshot_apply_and_resnapshot,
    incomplete_snapshot_declares_nothing_gone,
    agent_sequence_table,
    delta_changes,
    tag_drift_history,
    targets_dedup,
    queue_lifecycle,
    requeue_on_analyzer_change,
    rematch_new_since,
    exceptions_and_summaries,
    exception_validation_and_history,
    filter_dimensions,
    sorting_and_pagination,
    fleet_snapshots,
    image_views,
    users_tokens_sessions,
    password_change_revokes_other_sessions,
    user_updates_and_last_admin,
    rematch_batches,
    rematch_writes_only_changes,
);

fn d(label: &str) -> Digest {
    digest(label)
}

fn manifest(label: &str) -> Option<(Digest, DigestKind)> {
    Some((d(label), DigestKind::Manifest))
}

/// The agent run the conformance messages come from.
const AGENT_RUN: &str = "conformance-run";

fn snapshot_message(cluster: &str, sequence: u64, inventory: ClusterInventory) -> AgentMessage {
    AgentMessage {
        version: PROTOCOL_VERSION,
        cluster: cluster.to_owned(),
        run: AGENT_RUN.to_owned(),
        sequence,
        body: MessageBody::Snapshot(Snapshot { inventory }),
    }
}

fn delta_message(
    cluster: &str,
    sequence: u64,
    follows: u64,
    changes: Vec<k8s::Change>,
) -> AgentMessage {
    AgentMessage {
        version: PROTOCOL_VERSION,
        cluster: cluster.to_owned(),
        run: AGENT_RUN.to_owned(),
        sequence,
        body: MessageBody::Delta(Delta { follows, changes }),
    }
}

fn image_key(
    cluster: &str,
    namespace: &str,
    name: &str,
    container: &str,
    digest: &Digest,
) -> k8s::state::ImageKey {
    k8s::state::ImageKey {
        cluster: cluster.to_owned(),
        workload: WorkloadKey {
            namespace: namespace.to_owned(),
            kind: WorkloadKind::Deployment,
            name: name.to_owned(),
        },
        container: container.to_owned(),
        digest: digest.clone(),
    }
}

/// Claims every due target and scans it with `record_for` (None: fail it).
async fn scan_all<S: Store>(
    store: &S,
    now: OffsetDateTime,
    record_for: impl Fn(&ScanTarget) -> Option<ScanRecord>,
) -> Vec<ScanJob> {
    let jobs = store.claim_scan_jobs(100, now).await.unwrap();
    for job in &jobs {
        match record_for(&job.target) {
            Some(record) => {
                store
                    .complete_scan(job.target.id, &record, now)
                    .await
                    .unwrap();
            }
            None => store
                .fail_scan(
                    job.target.id,
                    "registry said no",
                    now + time::Duration::hours(1),
                    now,
                )
                .await
                .unwrap(),
        }
    }
    jobs
}

fn reference_digest(target: &ScanTarget) -> Digest {
    match &target.reference {
        TargetReference::Digest { digest } => digest.clone(),
        TargetReference::Tag {
            expected_config, ..
        } => expected_config.clone(),
    }
}

async fn all_targets<S: Store>(store: &S) -> Vec<TargetState> {
    store.targets(Page::first(500)).await.unwrap().items
}

async fn resources<S: Store>(store: &S, digest: &Digest) -> Vec<ResourceRow> {
    store
        .image_resources(digest, Page::first(500))
        .await
        .unwrap()
        .items
}

/// The small fleet the filter, sort and snapshot cases share: two
/// clusters, labelled workloads, scanned / pending / failed targets.
mod fleet {
    use super::*;

    pub const NGINX: &str = "docker.io/library/nginx";
    pub const API: &str = "registry.example.com/team/api";
    pub const PYTHON: &str = "docker.io/library/python";
    pub const LEGACY: &str = "registry.example.com/team/legacy";
    pub const BROKEN: &str = "registry.example.com/team/broken";

    pub fn prod() -> ClusterInventory {
        inventory(
            "prod",
            at(0),
            ClusterStatus::Ok,
            vec![
                workload(
                    "web",
                    "frontend",
                    &[("app", "web"), ("tier", "front")],
                    vec![container(
                        "nginx",
                        "nginx:1.25",
                        manifest("nginx-1.25"),
                        "linux/amd64",
                        true,
                    )],
                ),
                workload(
                    "web",
                    "api",
                    &[("app", "api"), ("tier", "back")],
                    vec![container(
                        "api",
                        "registry.example.com/team/api:v2",
                        manifest("api-v2"),
                        "linux/amd64",
                        true,
                    )],
                ),
                workload(
                    "batch",
                    "report",
                    &[("app", "report")],
                    vec![container(
                        "report",
                        "python:3.12",
                        manifest("python"),
                        "linux/amd64",
                        false,
                    )],
                ),
            ],
        )
    }

    pub fn dev() -> ClusterInventory {
        inventory(
            "dev",
            at(0),
            ClusterStatus::Ok,
            vec![
                workload(
                    "web",
                    "frontend",
                    &[("app", "web"), ("tier", "front")],
                    vec![container(
                        "nginx",
                        "nginx:1.26",
                        manifest("nginx-1.26"),
                        "linux/amd64",
                        true,
                    )],
                ),
                workload(
                    "tools",
                    "debug",
                    &[("app", "debug")],
                    vec![container("debug", "busybox", None, "linux/amd64", false)],
                ),
                workload(
                    "tools",
                    "legacy",
                    &[],
                    vec![
                        container(
                            "legacy",
                            "registry.example.com/team/legacy:1",
                            manifest("legacy"),
                            "linux/amd64",
                            true,
                        ),
                        container(
                            "broken",
                            "registry.example.com/team/broken:1",
                            manifest("broken"),
                            "linux/amd64",
                            true,
                        ),
                    ],
                ),
            ],
        )
    }

    pub fn record(target: &ScanTarget) -> Option<ScanRecord> {
        let digest = reference_digest(target);
        let (tag, findings) = if digest == d("nginx-1.25") {
            (
                "1.25",
                vec![
                    finding(
                        "CVE-2024-0001",
                        Severity::Critical,
                        Some(9.8),
                        ("openssl", "3.0.1"),
                        0,
                        Some("3.0.9"),
                    ),
                    finding(
                        "CVE-2024-0002",
                        Severity::High,
                        Some(7.5),
                        ("zlib", "1.2.13"),
                        0,
                        None,
                    ),
                    finding(
                        "CVE-2024-0003",
                        Severity::Medium,
                        Some(5.0),
                        ("nginx", "1.25.0"),
                        1,
                        Some("1.25.4"),
                    ),
                ],
            )
        } else if digest == d("nginx-1.26") {
            (
                "1.26",
                vec![finding(
                    "CVE-2024-0002",
                    Severity::High,
                    Some(7.5),
                    ("zlib", "1.2.13"),
                    0,
                    None,
                )],
            )
        } else if digest == d("api-v2") {
            (
                "v2",
                vec![
                    finding(
                        "CVE-2024-0004",
                        Severity::Low,
                        Some(3.1),
                        ("curl", "8.0.0"),
                        2,
                        Some("8.5.0"),
                    ),
                    finding(
                        "CVE-2024-0001",
                        Severity::Critical,
                        Some(9.8),
                        ("openssl", "3.0.1"),
                        0,
                        Some("3.0.9"),
                    ),
                ],
            )
        } else if digest == d("python") {
            ("3.12", Vec::new())
        } else {
            // legacy stays pending (never claimed here); broken fails.
            return None;
        };
        Some(scan_record(
            metadata(&target.repository, Some(tag), &digest, 3),
            findings,
            1,
        ))
    }

    /// Applies both clusters and scans everything but legacy (left
    /// pending) and broken (failed).
    pub async fn load<S: Store>(store: &S) {
        store
            .apply_snapshot(&prod(), InventorySource::Agent, at(0))
            .await
            .unwrap();
        store
            .apply_snapshot(&dev(), InventorySource::Local, at(0))
            .await
            .unwrap();
        let jobs = store.claim_scan_jobs(100, at(10)).await.unwrap();
        for job in jobs {
            if job.target.repository == LEGACY {
                continue;
            }
            match record(&job.target) {
                Some(r) => {
                    store
                        .complete_scan(job.target.id, &r, at(10))
                        .await
                        .unwrap();
                }
                None => store
                    .fail_scan(job.target.id, "manifest unknown", at(3600), at(10))
                    .await
                    .unwrap(),
            }
        }
        // legacy back to pending, as after a restart.
        store.requeue_interrupted().await.unwrap();
    }
}

mod cases {
    use super::fleet::*;
    use super::*;

    pub async fn snapshot_apply_and_resnapshot<S: Store>(store: &S) {
        let first = inventory(
            "c1",
            at(0),
            ClusterStatus::Ok,
            vec![
                workload(
                    "web",
                    "a",
                    &[("app", "a")],
                    vec![container(
                        "app",
                        "nginx:1.25",
                        manifest("n1"),
                        "linux/amd64",
                        true,
                    )],
                ),
                workload(
                    "web",
                    "b",
                    &[("app", "b")],
                    vec![container(
                        "app",
                        "redis:7",
                        manifest("r1"),
                        "linux/amd64",
                        true,
                    )],
                ),
            ],
        );
        let outcome = store
            .apply_snapshot(&first, InventorySource::Local, at(0))
            .await
            .unwrap();
        assert_eq!(
            outcome,
            SnapshotOutcome {
                workloads: 2,
                containers: 2,
                stopped: 0,
                new_targets: 2
            }
        );
        // The same snapshot again: nothing new, nothing stopped.
        let mut first_again = first.clone();
        first_again.collected_at = at(5);
        let again = store
            .apply_snapshot(&first_again, InventorySource::Local, at(5))
            .await
            .unwrap();
        assert_eq!(
            again,
            SnapshotOutcome {
                workloads: 2,
                containers: 2,
                stopped: 0,
                new_targets: 0
            }
        );

        // b disappears: its container becomes not running, and is kept.
        let mut second = first.clone();
        second.collected_at = at(60);
        second.workloads.truncate(1);
        let outcome = store
            .apply_snapshot(&second, InventorySource::Local, at(60))
            .await
            .unwrap();
        assert_eq!(outcome.stopped, 1);
        scan_all(store, at(70), |t| {
            Some(scan_record(
                metadata(&t.repository, None, &reference_digest(t), 1),
                Vec::new(),
                1,
            ))
        })
        .await;
        let redis = resources(store, &d("r1")).await;
        assert_eq!(redis.len(), 1);
        assert!(!redis[0].running);
        assert_eq!((redis[0].first_seen, redis[0].last_seen), (at(0), at(5)));
        let nginx = resources(store, &d("n1")).await;
        assert!(nginx[0].running);
        assert_eq!(nginx[0].last_seen, at(60));
        assert_eq!(nginx[0].labels.get("app").map(String::as_str), Some("a"));
        let clusters = store.clusters().await.unwrap();
        assert_eq!(clusters.len(), 1);
        assert_eq!(clusters[0].source, InventorySource::Local);
        assert_eq!(clusters[0].last_sequence, None);
    }

    pub async fn incomplete_snapshot_declares_nothing_gone<S: Store>(store: &S) {
        let full = inventory(
            "c1",
            at(0),
            ClusterStatus::Ok,
            vec![workload(
                "web",
                "a",
                &[],
                vec![container(
                    "app",
                    "nginx:1.25",
                    manifest("n1"),
                    "linux/amd64",
                    true,
                )],
            )],
        );
        store
            .apply_snapshot(&full, InventorySource::Local, at(0))
            .await
            .unwrap();
        // (status, whether absence stops the container)
        let table = [
            (
                ClusterStatus::Unreachable {
                    reason: "timeout".into(),
                },
                0,
            ),
            (
                ClusterStatus::Degraded {
                    reasons: vec!["list pods: forbidden".into()],
                    incomplete: vec!["pods".into()],
                },
                0,
            ),
            (
                ClusterStatus::Degraded {
                    reasons: vec!["list cronjobs: forbidden".into()],
                    incomplete: vec!["cronjobs".into()],
                },
                1,
            ),
        ];
        for (status, stopped) in table {
            store
                .apply_snapshot(&full, InventorySource::Local, at(1))
                .await
                .unwrap();
            let empty = inventory("c1", at(2), status.clone(), Vec::new());
            let outcome = store
                .apply_snapshot(&empty, InventorySource::Local, at(2))
                .await
                .unwrap();
            assert_eq!(outcome.stopped, stopped, "{status:?}");
            let clusters = store.clusters().await.unwrap();
            assert_eq!(clusters[0].status, status);
        }
    }

    pub async fn agent_sequence_table<S: Store>(store: &S) {
        let snap = |sequence, running| {
            snapshot_message(
                "edge",
                sequence,
                inventory(
                    "edge",
                    at(sequence as i64),
                    ClusterStatus::Ok,
                    vec![workload(
                        "web",
                        "a",
                        &[],
                        vec![container(
                            "app",
                            "nginx:1.25",
                            manifest("n1"),
                            "linux/amd64",
                            running,
                        )],
                    )],
                ),
            )
        };
        let key = image_key("edge", "web", "a", "app", &d("n1"));
        let stop = |sequence, follows| {
            delta_message(
                "edge",
                sequence,
                follows,
                vec![k8s::Change::NoLongerRunning {
                    key: key.clone(),
                    last_seen: at(sequence as i64),
                }],
            )
        };
        let again = |sequence, follows| {
            delta_message(
                "edge",
                sequence,
                follows,
                vec![k8s::Change::RunningAgain {
                    key: key.clone(),
                    at: at(sequence as i64),
                }],
            )
        };
        let restarted = |mut message: AgentMessage| {
            message.run = "after-restart".to_owned();
            message
        };
        enum Want {
            Accepted(u64),
            Resnapshot,
        }
        // (case, message, response, running afterwards, stored sequence)
        let table: Vec<(&str, AgentMessage, Want, Option<bool>, Option<u64>)> = vec![
            (
                "delta before any snapshot",
                stop(1, 0),
                Want::Resnapshot,
                None,
                None,
            ),
            (
                "first snapshot",
                snap(1, true),
                Want::Accepted(1),
                Some(true),
                Some(1),
            ),
            (
                "delta follows",
                stop(2, 1),
                Want::Accepted(2),
                Some(false),
                Some(2),
            ),
            (
                "retried delta is a duplicate",
                stop(2, 1),
                Want::Accepted(2),
                Some(false),
                Some(2),
            ),
            (
                "old sequence is a duplicate, not applied",
                again(1, 0),
                Want::Accepted(1),
                Some(false),
                Some(2),
            ),
            ("gap", again(4, 3), Want::Resnapshot, Some(false), Some(2)),
            (
                "snapshot after a gap",
                snap(5, true),
                Want::Accepted(5),
                Some(true),
                Some(5),
            ),
            (
                "delta follows the snapshot",
                stop(6, 5),
                Want::Accepted(6),
                Some(false),
                Some(6),
            ),
            (
                "running again",
                again(7, 6),
                Want::Accepted(7),
                Some(true),
                Some(7),
            ),
            (
                "a restarted agent's delta needs its snapshot first",
                restarted(stop(2, 1)),
                Want::Resnapshot,
                Some(true),
                Some(7),
            ),
            (
                "a restarted agent's snapshot applies, its sequence starting again",
                restarted(snap(1, false)),
                Want::Accepted(1),
                Some(false),
                Some(1),
            ),
            (
                "and its deltas follow",
                restarted(again(2, 1)),
                Want::Accepted(2),
                Some(true),
                Some(2),
            ),
        ];
        for (case, message, want, running, sequence) in table {
            let response = store.apply_agent_message(&message, at(100)).await.unwrap();
            match (want, response) {
                (Want::Accepted(n), IngestResponse::Accepted { sequence }) => {
                    assert_eq!(n, sequence, "{case}")
                }
                (Want::Resnapshot, IngestResponse::Resnapshot { reason }) => {
                    assert!(reason.contains("snapshot"), "{case}: {reason}")
                }
                (_, other) => panic!("{case}: {other:?}"),
            }
            let clusters = store.clusters().await.unwrap();
            assert_eq!(
                clusters.first().and_then(|c| c.last_sequence),
                sequence,
                "{case}"
            );
            if let Some(running) = running {
                let rows = store.targets(Page::first(10)).await.unwrap();
                assert_eq!(rows.total, 1, "{case}");
                // The container's running flag, through the statistics.
                let stats = store
                    .statistics(
                        &ReportFilter {
                            image_status: Some(ImageStatus::Running),
                            ..Default::default()
                        },
                        at(100),
                    )
                    .await
                    .unwrap();
                assert_eq!(stats.scan_coverage.targets, u64::from(running), "{case}");
            }
        }
        // A message whose snapshot names another cluster is refused.
        let mut wrong = snap(8, true);
        wrong.cluster = "other".into();
        assert!(store.apply_agent_message(&wrong, at(100)).await.is_err());
    }

    pub async fn delta_changes<S: Store>(store: &S) {
        let base = inventory("edge", at(0), ClusterStatus::Ok, Vec::new());
        store
            .apply_agent_message(&snapshot_message("edge", 1, base), at(0))
            .await
            .unwrap();
        let key = image_key("edge", "jobs", "nightly", "run", &d("job-1"));
        let record = k8s::state::ImageRecord {
            image_ref: "registry.example.com/jobs/nightly:5".into(),
            platform: Some(platform("linux/arm64")),
            first_seen: at(10),
            last_seen: at(20),
            running: true,
        };
        let changes = vec![
            k8s::Change::Appeared {
                key: key.clone(),
                record,
            },
            k8s::Change::ClusterStatus {
                cluster: "edge".into(),
                status: ClusterStatus::Degraded {
                    reasons: vec!["watch jobs: forbidden".into()],
                    incomplete: vec!["jobs".into()],
                },
                at: at(20),
            },
        ];
        let response = store
            .apply_agent_message(&delta_message("edge", 2, 1, changes), at(30))
            .await
            .unwrap();
        assert_eq!(response, IngestResponse::Accepted { sequence: 2 });
        // The workload named only by key exists now, with a target to scan.
        let targets = all_targets(store).await;
        assert_eq!(targets.len(), 1);
        assert_eq!(
            targets[0].target.repository,
            "registry.example.com/jobs/nightly"
        );
        assert_eq!(targets[0].target.platform, Some(platform("linux/arm64")));
        assert_eq!(
            targets[0].target.reference,
            TargetReference::Digest { digest: d("job-1") }
        );
        let clusters = store.clusters().await.unwrap();
        assert!(matches!(clusters[0].status, ClusterStatus::Degraded { .. }));
        scan_all(store, at(40), |t| {
            Some(scan_record(
                metadata(&t.repository, Some("5"), &reference_digest(t), 1),
                Vec::new(),
                1,
            ))
        })
        .await;
        let rows = resources(store, &d("job-1")).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].first_seen, rows[0].last_seen, rows[0].running),
            (at(10), at(20), true)
        );
        assert_eq!(
            (rows[0].namespace.as_str(), rows[0].name.as_str()),
            ("jobs", "nightly")
        );
        // A change naming another cluster is refused, and nothing of the message is applied.
        let foreign = image_key("other", "jobs", "nightly", "run", &d("job-1"));
        let bad = delta_message(
            "edge",
            3,
            2,
            vec![
                k8s::Change::NoLongerRunning {
                    key: key.clone(),
                    last_seen: at(50),
                },
                k8s::Change::NoLongerRunning {
                    key: foreign,
                    last_seen: at(50),
                },
            ],
        );
        assert!(store.apply_agent_message(&bad, at(50)).await.is_err());
        assert!(resources(store, &d("job-1")).await[0].running);
        assert_eq!(store.clusters().await.unwrap()[0].last_sequence, Some(2));
    }

    pub async fn tag_drift_history<S: Store>(store: &S) {
        let with = |digest: &str, t| {
            inventory(
                "c1",
                at(t),
                ClusterStatus::Ok,
                vec![workload(
                    "web",
                    "a",
                    &[],
                    vec![container(
                        "app",
                        "nginx:stable",
                        manifest(digest),
                        "linux/amd64",
                        true,
                    )],
                )],
            )
        };
        store
            .apply_snapshot(&with("old", 0), InventorySource::Local, at(0))
            .await
            .unwrap();
        store
            .apply_snapshot(&with("new", 100), InventorySource::Local, at(100))
            .await
            .unwrap();
        scan_all(store, at(110), |t| {
            Some(scan_record(
                metadata(&t.repository, Some("stable"), &reference_digest(t), 1),
                Vec::new(),
                1,
            ))
        })
        .await;
        let old = resources(store, &d("old")).await;
        let new = resources(store, &d("new")).await;
        assert_eq!(
            (old[0].running, old[0].first_seen, old[0].last_seen),
            (false, at(0), at(0))
        );
        assert_eq!(
            (new[0].running, new[0].first_seen, new[0].last_seen),
            (true, at(100), at(100))
        );
        // Both digests carry the tag; the newer is listed as another digest of the older.
        let details = store.image(&d("old"), at(120)).await.unwrap().unwrap();
        assert_eq!(
            details
                .tags
                .iter()
                .map(|t| t.tag.as_str())
                .collect::<Vec<_>>(),
            ["stable"]
        );
        assert_eq!(details.other_digests.len(), 1);
        assert_eq!(details.other_digests[0].digest, d("new"));
        assert_eq!(details.other_digests[0].tags, ["stable"]);
        assert!(!details.running);
    }

    pub async fn targets_dedup<S: Store>(store: &S) {
        let mut shared = container("app", "nginx:1.25", manifest("n1"), "linux/amd64", true);
        shared.pull_secrets = vec![secret("web", "pull-a")];
        let mut shared_b = shared.clone();
        shared_b.pull_secrets = vec![secret("web", "pull-b")];
        let arm = container("app", "nginx:1.25", manifest("n1"), "linux/arm64", true);
        let image_id = container(
            "local",
            "registry.example.com/team/app:v1",
            Some((d("config-1"), DigestKind::ImageId)),
            "linux/amd64",
            true,
        );
        let pinned_id = container(
            "pinned",
            &format!("registry.example.com/team/app@{}", d("pinned")),
            Some((d("config-2"), DigestKind::ImageId)),
            "linux/amd64",
            true,
        );
        let pending = container("wait", "busybox", None, "linux/amd64", false);
        let a = inventory(
            "a",
            at(0),
            ClusterStatus::Ok,
            vec![
                workload(
                    "web",
                    "one",
                    &[],
                    vec![shared.clone(), image_id, pinned_id, pending],
                ),
                workload("web", "two", &[], vec![shared]),
                workload("web", "arm", &[], vec![arm]),
            ],
        );
        let b = inventory(
            "b",
            at(0),
            ClusterStatus::Ok,
            vec![workload("web", "one", &[], vec![shared_b])],
        );
        assert_eq!(
            store
                .apply_snapshot(&a, InventorySource::Local, at(0))
                .await
                .unwrap()
                .new_targets,
            4
        );
        assert_eq!(
            store
                .apply_snapshot(&b, InventorySource::Agent, at(0))
                .await
                .unwrap()
                .new_targets,
            0
        );
        let mut targets: Vec<(String, TargetReference, Option<String>)> = all_targets(store)
            .await
            .into_iter()
            .map(|t| {
                (
                    t.target.repository,
                    t.target.reference,
                    t.target.platform.map(|p| p.to_string()),
                )
            })
            .collect();
        targets.sort_by_key(|t| format!("{t:?}"));
        let mut want = vec![
            (
                "docker.io/library/nginx".to_owned(),
                TargetReference::Digest { digest: d("n1") },
                Some("linux/amd64".to_owned()),
            ),
            (
                "docker.io/library/nginx".to_owned(),
                TargetReference::Digest { digest: d("n1") },
                Some("linux/arm64".to_owned()),
            ),
            (
                "registry.example.com/team/app".to_owned(),
                TargetReference::Tag {
                    tag: "v1".into(),
                    expected_config: d("config-1"),
                },
                Some("linux/amd64".to_owned()),
            ),
            (
                "registry.example.com/team/app".to_owned(),
                TargetReference::Digest {
                    digest: d("pinned"),
                },
                Some("linux/amd64".to_owned()),
            ),
        ];
        want.sort_by_key(|t| format!("{t:?}"));
        assert_eq!(targets, want);
        // The shared target carries the union of both clusters' secrets.
        let jobs = store.claim_scan_jobs(10, at(1)).await.unwrap();
        let nginx_amd = jobs
            .iter()
            .find(|j| {
                j.target.platform == Some(platform("linux/amd64"))
                    && j.target.repository.ends_with("nginx")
            })
            .unwrap();
        let secrets: Vec<(String, String)> = nginx_amd
            .pull_secrets
            .iter()
            .map(|s| (s.cluster.clone(), s.secret.name.clone()))
            .collect();
        assert_eq!(
            secrets,
            [
                ("a".to_owned(), "pull-a".to_owned()),
                ("b".to_owned(), "pull-b".to_owned())
            ]
        );
    }

    pub async fn queue_lifecycle<S: Store>(store: &S) {
        let inv = inventory(
            "c1",
            at(0),
            ClusterStatus::Ok,
            vec![workload(
                "web",
                "a",
                &[],
                vec![
                    container("one", "nginx:1", manifest("q1"), "linux/amd64", true),
                    container("two", "nginx:2", manifest("q2"), "linux/amd64", true),
                    container("three", "nginx:3", manifest("q3"), "linux/amd64", true),
                ],
            )],
        );
        store
            .apply_snapshot(&inv, InventorySource::Local, at(0))
            .await
            .unwrap();
        let jobs = store.claim_scan_jobs(2, at(1)).await.unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!(
            store.claim_scan_jobs(10, at(1)).await.unwrap().len(),
            1,
            "only the third is left"
        );
        assert!(store.claim_scan_jobs(10, at(1)).await.unwrap().is_empty());
        let (first, second) = (&jobs[0].target, &jobs[1].target);
        store
            .fail_scan(first.id, "registry timeout", at(60), at(2))
            .await
            .unwrap();
        store
            .mark_unsupported(second.id, "no linux/amd64 manifest", at(2))
            .await
            .unwrap();
        // (time, claimed) — a failed target is due at its next attempt.
        for (t, claimed) in [(30, 0), (60, 1)] {
            let jobs = store.claim_scan_jobs(10, at(t)).await.unwrap();
            assert_eq!(jobs.len(), claimed, "at {t}");
        }
        let state = store.target(first.id).await.unwrap().unwrap();
        assert_eq!((state.status, state.attempts), (ScanStatus::Scanning, 1));
        assert_eq!(state.reason.as_deref(), Some("registry timeout"));
        let unsupported = store.target(second.id).await.unwrap().unwrap();
        assert_eq!(unsupported.status, ScanStatus::Unsupported);
        // A restart resumes what was scanning.
        assert_eq!(store.requeue_interrupted().await.unwrap(), 2);
        let jobs = store.claim_scan_jobs(10, at(70)).await.unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!(
            jobs.iter()
                .find(|j| j.target.id == first.id)
                .map(|j| j.attempts),
            Some(1)
        );
        let record = scan_record(
            metadata(&first.repository, Some("1"), &reference_digest(first), 2),
            Vec::new(),
            3,
        );
        let image = store
            .complete_scan(first.id, &record, at(80))
            .await
            .unwrap();
        let state = store.target(first.id).await.unwrap().unwrap();
        assert_eq!(
            (state.status, state.image.as_ref(), state.reason),
            (ScanStatus::Scanned, Some(&d("q1")), None)
        );
        let details = store.image(&d("q1"), at(80)).await.unwrap().unwrap();
        assert_eq!(
            (details.id, details.db_version, details.status),
            (image, Some(3), ScanStatus::Scanned)
        );
        // Unknown targets are errors, not silent no-ops.
        assert!(matches!(
            store.fail_scan(TargetId(9999), "x", at(1), at(1)).await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            store.fail_scan(first.id, "  ", at(1), at(1)).await,
            Err(StoreError::Invalid { .. })
        ));
    }

    pub async fn requeue_on_analyzer_change<S: Store>(store: &S) {
        fleet::load(store).await;
        let scanned = |targets: Vec<TargetState>| {
            targets
                .iter()
                .filter(|t| t.status == ScanStatus::Scanned)
                .count()
        };
        assert_eq!(scanned(all_targets(store).await), 4);
        assert_eq!(
            store.requeue_stale_analyzers(&analyzers()).await.unwrap(),
            0
        );
        let mut newer = analyzers();
        newer.insert("dpkg".into(), 2);
        assert_eq!(store.requeue_stale_analyzers(&newer).await.unwrap(), 4);
        assert_eq!(scanned(all_targets(store).await), 0);
        // The stored results stay readable while the rescan is queued.
        assert!(
            store
                .image(&d("nginx-1.25"), at(20))
                .await
                .unwrap()
                .is_some()
        );
    }

    pub async fn rematch_new_since<S: Store>(store: &S) {
        fleet::load(store).await;
        let image = store
            .image(&d("nginx-1.25"), at(20))
            .await
            .unwrap()
            .unwrap();
        let a = finding(
            "CVE-2024-0001",
            Severity::Critical,
            Some(9.8),
            ("openssl", "3.0.1"),
            0,
            Some("3.0.9"),
        );
        let c = finding(
            "CVE-2024-0003",
            Severity::Medium,
            Some(5.0),
            ("nginx", "1.25.0"),
            1,
            Some("1.25.4"),
        );
        let e = finding(
            "CVE-2025-0005",
            Severity::High,
            Some(8.1),
            ("libxml2", "2.9.14"),
            2,
            Some("2.9.15"),
        );
        // (db version, findings, added, removed, first seen by id)
        let table: Vec<(i64, Vec<model::Finding>, u64, u64, Vec<(&str, i64)>)> = vec![
            (
                2,
                vec![a.clone(), c.clone(), e.clone()],
                1,
                1,
                vec![
                    ("CVE-2024-0001", 1),
                    ("CVE-2024-0003", 1),
                    ("CVE-2025-0005", 2),
                ],
            ),
            (
                3,
                vec![a.clone(), e.clone()],
                0,
                1,
                vec![("CVE-2024-0001", 1), ("CVE-2025-0005", 2)],
            ),
            (
                4,
                vec![a.clone(), c.clone(), e.clone()],
                1,
                0,
                vec![
                    ("CVE-2024-0001", 1),
                    ("CVE-2024-0003", 4),
                    ("CVE-2025-0005", 2),
                ],
            ),
        ];
        for (version, findings, added, removed, first_seen) in table {
            let packages = package_summaries(&findings);
            let outcome = store
                .replace_findings(image.id, &findings, &packages, version, at(30))
                .await
                .unwrap();
            assert_eq!(outcome, RematchOutcome { added, removed }, "db {version}");
            let rows = store
                .image_vulnerabilities(
                    &d("nginx-1.25"),
                    &None,
                    Sort {
                        field: VulnerabilitySortField::Id,
                        direction: Direction::Ascending,
                    },
                    Page::default(),
                    false,
                )
                .await
                .unwrap();
            let got: Vec<(&str, i64)> = rows
                .items
                .iter()
                .map(|r| (r.finding.id.as_str(), r.first_seen_db_version))
                .collect();
            assert_eq!(got, first_seen, "db {version}");
            let details = store
                .image(&d("nginx-1.25"), at(30))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(details.db_version, Some(version));
            assert_eq!(
                details.counts.total(),
                findings.len() as u64,
                "summary follows the findings"
            );
        }
        assert!(matches!(
            store
                .replace_findings(ImageId(9999), &[], &[], 5, at(30))
                .await,
            Err(StoreError::NotFound { .. })
        ));
    }

    fn stats_filter() -> ReportFilter {
        ReportFilter::default()
    }

    async fn repository_names<S: Store>(store: &S, filter: &ReportFilter) -> Vec<String> {
        let sort = Sort {
            field: RepositorySortField::Repository,
            direction: Direction::Ascending,
        };
        store
            .repositories(filter, sort, Page::first(100), at(20))
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|r| r.repository)
            .collect()
    }

    pub async fn exceptions_and_summaries<S: Store>(store: &S) {
        fleet::load(store).await;
        let now = at(20);
        let crit = |s: Statistics| {
            (
                s.vulnerabilities.critical,
                s.vulnerabilities.high,
                s.vulnerabilities.medium,
                s.vulnerabilities.low,
                s.fixable,
            )
        };
        let base = store.statistics(&stats_filter(), now).await.unwrap();
        assert_eq!(crit(base.clone()), (2, 2, 1, 1, 4));
        let vuln =
            |id: &str, repository: Option<&str>, expires: Option<OffsetDateTime>| NewException {
                scope: ExceptionScope::Vulnerability {
                    vulnerability: id.into(),
                    repository: repository.map(str::to_owned),
                },
                reason: "not reachable".into(),
                author: "alice".into(),
                expires,
            };
        // (case, exceptions to add, expected (critical, high, medium, low, fixable))
        let table: Vec<(&str, Vec<NewException>, (u64, u64, u64, u64, u64))> = vec![
            (
                "vulnerability in another repository",
                vec![vuln("CVE-2024-0001", Some(PYTHON), None)],
                (2, 2, 1, 1, 4),
            ),
            (
                "vulnerability in nginx only",
                vec![vuln("CVE-2024-0001", Some(NGINX), None)],
                (1, 2, 1, 1, 3),
            ),
            (
                "vulnerability everywhere",
                vec![vuln("CVE-2024-0002", None, None)],
                (1, 0, 1, 1, 3),
            ),
        ];
        let mut created = Vec::new();
        for (case, exceptions, want) in table {
            created.extend(store.create_exceptions(&exceptions, now).await.unwrap());
            assert_eq!(
                crit(store.statistics(&stats_filter(), now).await.unwrap()),
                want,
                "{case}"
            );
        }
        // Excepted findings leave the list unless asked for.
        let list = |include| async move {
            store
                .image_vulnerabilities(
                    &d("nginx-1.25"),
                    &None,
                    Sort {
                        field: VulnerabilitySortField::Cvss,
                        direction: Direction::Descending,
                    },
                    Page::default(),
                    include,
                )
                .await
                .unwrap()
        };
        assert_eq!(list(false).await.total, 1);
        let all = list(true).await;
        assert_eq!(all.total, 3);
        assert_eq!(all.items.iter().filter(|r| r.excepted).count(), 2);
        // The python exception matches nothing stored: stale.
        let stale = store.stale_exceptions(now).await.unwrap();
        assert_eq!(stale.iter().map(|e| e.id).collect::<Vec<_>>(), [created[0]]);

        // Cancel the nginx one: its counts come back.
        store
            .cancel_exceptions(&[created[1]], "reachable after all", "bob", at(30))
            .await
            .unwrap();
        assert_eq!(
            crit(store.statistics(&stats_filter(), at(30)).await.unwrap()),
            (2, 0, 1, 1, 4)
        );
        // Cancelling twice is refused (nothing half-done).
        assert!(
            store
                .cancel_exceptions(&[created[2], created[1]], "again", "bob", at(31))
                .await
                .is_err()
        );
        assert_eq!(
            crit(store.statistics(&stats_filter(), at(31)).await.unwrap()),
            (2, 0, 1, 1, 4)
        );

        // An expiring exception lapses on its own.
        let expiring = store
            .create_exceptions(&[vuln("CVE-2024-0004", None, Some(at(100)))], at(40))
            .await
            .unwrap();
        assert_eq!(
            crit(store.statistics(&stats_filter(), at(40)).await.unwrap()),
            (2, 0, 1, 0, 3)
        );
        assert_eq!(store.lapse_expired(at(99)).await.unwrap(), 0);
        assert_eq!(store.lapse_expired(at(100)).await.unwrap(), 1);
        assert_eq!(
            store.lapse_expired(at(101)).await.unwrap(),
            0,
            "an expiry is recorded once"
        );
        assert_eq!(
            crit(store.statistics(&stats_filter(), at(100)).await.unwrap()),
            (2, 0, 1, 1, 4)
        );

        // A repository exception hides the repository from the list and the
        // statistics, and shows it in the Excepted view with its reason.
        let repo = store
            .create_exceptions(
                &[NewException {
                    scope: ExceptionScope::Repository {
                        repository: NGINX.into(),
                    },
                    reason: "vendor image".into(),
                    author: "carol".into(),
                    expires: None,
                }],
                at(110),
            )
            .await
            .unwrap();
        let stats = store.statistics(&stats_filter(), at(110)).await.unwrap();
        assert_eq!((stats.repositories, stats.images), (4, 2));
        assert_eq!(crit(stats), (1, 0, 0, 1, 2));
        assert!(
            !repository_names(store, &stats_filter())
                .await
                .contains(&NGINX.to_owned())
        );
        let excepted_view = ReportFilter {
            excepted: true,
            ..Default::default()
        };
        let rows = store
            .repositories(
                &excepted_view,
                Sort {
                    field: RepositorySortField::Repository,
                    direction: Direction::Ascending,
                },
                Page::default(),
                at(110),
            )
            .await
            .unwrap();
        assert_eq!(rows.total, 1);
        let exception = rows.items[0].exception.clone().unwrap();
        assert_eq!(
            (
                exception.id,
                exception.reason.as_str(),
                exception.author.as_str()
            ),
            (repo[0], "vendor image", "carol")
        );
        let details = store
            .image(&d("nginx-1.26"), at(110))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(details.repository_exception.map(|e| e.id), Some(repo[0]));

        // Lists by state.
        let count = |filter| async move {
            store
                .exceptions(filter, Page::default(), at(120))
                .await
                .unwrap()
                .total
        };
        assert_eq!(count(ExceptionListFilter::Active).await, 3);
        assert_eq!(count(ExceptionListFilter::Cancelled).await, 1);
        assert_eq!(count(ExceptionListFilter::Expired).await, 1);
        assert_eq!(count(ExceptionListFilter::All).await, 5);
        let history = store
            .exception_history(Some(expiring[0]), Page::default())
            .await
            .unwrap();
        let kinds: Vec<ExceptionEventKind> = history.items.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [ExceptionEventKind::Created, ExceptionEventKind::Expired]
        );
        assert_eq!(history.items[1].actor, "system");
        let all = store
            .exception_history(None, Page::default())
            .await
            .unwrap();
        assert_eq!(all.total, 7);
    }

    pub async fn exception_validation_and_history<S: Store>(store: &S) {
        let ok = NewException {
            scope: ExceptionScope::Repository {
                repository: "docker.io/library/nginx".into(),
            },
            reason: "vendor".into(),
            author: "alice".into(),
            expires: None,
        };
        let long = "x".repeat(MAX_REASON_LEN + 1);
        // (case, exception) — each refused, and nothing of its batch written.
        let table: Vec<(&str, NewException)> = vec![
            (
                "empty reason",
                NewException {
                    reason: "   ".into(),
                    ..ok.clone()
                },
            ),
            (
                "reason too long",
                NewException {
                    reason: long,
                    ..ok.clone()
                },
            ),
            (
                "no author",
                NewException {
                    author: String::new(),
                    ..ok.clone()
                },
            ),
            (
                "expiry in the past",
                NewException {
                    expires: Some(at(-1)),
                    ..ok.clone()
                },
            ),
            (
                "empty repository",
                NewException {
                    scope: ExceptionScope::Repository {
                        repository: String::new(),
                    },
                    ..ok.clone()
                },
            ),
            (
                "empty vulnerability",
                NewException {
                    scope: ExceptionScope::Vulnerability {
                        vulnerability: " ".into(),
                        repository: None,
                    },
                    ..ok.clone()
                },
            ),
            (
                "control characters",
                NewException {
                    reason: "a\u{0}b".into(),
                    ..ok.clone()
                },
            ),
        ];
        for (case, bad) in table {
            let result = store.create_exceptions(&[ok.clone(), bad], at(0)).await;
            assert!(
                matches!(result, Err(StoreError::Invalid { .. })),
                "{case}: {result:?}"
            );
            assert_eq!(
                store
                    .exceptions(ExceptionListFilter::All, Page::default(), at(0))
                    .await
                    .unwrap()
                    .total,
                0,
                "{case}"
            );
        }
        let ids = store
            .create_exceptions(&[ok.clone(), ok.clone()], at(0))
            .await
            .unwrap();
        assert_eq!(ids.len(), 2);
        assert!(
            store
                .cancel_exceptions(&ids, "", "bob", at(1))
                .await
                .is_err(),
            "cancel needs a reason"
        );
        assert!(
            store
                .cancel_exceptions(&[ExceptionId(999)], "gone", "bob", at(1))
                .await
                .is_err()
        );
        store
            .cancel_exceptions(&ids, "done", "bob", at(1))
            .await
            .unwrap();
        let cancelled = store
            .exceptions(ExceptionListFilter::Cancelled, Page::default(), at(2))
            .await
            .unwrap();
        assert_eq!(cancelled.total, 2);
        assert_eq!(cancelled.items[0].cancelled_by.as_deref(), Some("bob"));
        assert_eq!(cancelled.items[0].state, ExceptionState::Cancelled);
    }

    pub async fn filter_dimensions<S: Store>(store: &S) {
        fleet::load(store).await;
        let label = |s: &str| parse_selector(s).unwrap();
        let text = |s: &str| SearchText::parse(s).unwrap();
        let python_hex = d("python").hex()[..12].to_owned();
        // (case, filter, repositories in scope)
        let table: Vec<(&str, ReportFilter, Vec<&str>)> = vec![
            (
                "everything",
                ReportFilter::default(),
                vec![PYTHON, NGINX, BROKEN, API, LEGACY],
            ),
            (
                "cluster",
                ReportFilter {
                    clusters: vec!["prod".into()],
                    ..Default::default()
                },
                vec![PYTHON, NGINX, API],
            ),
            (
                "two clusters",
                ReportFilter {
                    clusters: vec!["prod".into(), "dev".into()],
                    ..Default::default()
                },
                vec![PYTHON, NGINX, BROKEN, API, LEGACY],
            ),
            (
                "unknown cluster",
                ReportFilter {
                    clusters: vec!["nope".into()],
                    ..Default::default()
                },
                vec![],
            ),
            (
                "namespace",
                ReportFilter {
                    namespaces: vec!["batch".into()],
                    ..Default::default()
                },
                vec![PYTHON],
            ),
            (
                "cluster and namespace",
                ReportFilter {
                    clusters: vec!["dev".into()],
                    namespaces: vec!["web".into()],
                    ..Default::default()
                },
                vec![NGINX],
            ),
            (
                "label equals",
                ReportFilter {
                    labels: label("tier=front"),
                    ..Default::default()
                },
                vec![NGINX],
            ),
            (
                "label double equals",
                ReportFilter {
                    labels: label("tier==back"),
                    ..Default::default()
                },
                vec![API],
            ),
            (
                "label not equals",
                ReportFilter {
                    labels: label("tier!=front"),
                    ..Default::default()
                },
                vec![PYTHON, BROKEN, API, LEGACY],
            ),
            (
                "label exists",
                ReportFilter {
                    labels: label("tier"),
                    ..Default::default()
                },
                vec![NGINX, API],
            ),
            (
                "label absent",
                ReportFilter {
                    labels: label("!tier"),
                    ..Default::default()
                },
                vec![PYTHON, BROKEN, LEGACY],
            ),
            (
                "labels combined",
                ReportFilter {
                    labels: label("app, tier!=front"),
                    ..Default::default()
                },
                vec![PYTHON, API],
            ),
            (
                "running",
                ReportFilter {
                    image_status: Some(ImageStatus::Running),
                    ..Default::default()
                },
                vec![NGINX, BROKEN, API, LEGACY],
            ),
            (
                "not running",
                ReportFilter {
                    image_status: Some(ImageStatus::NotRunning),
                    ..Default::default()
                },
                vec![PYTHON],
            ),
            (
                "scan pending",
                ReportFilter {
                    scan_statuses: vec![ScanStatus::Pending],
                    ..Default::default()
                },
                vec![LEGACY],
            ),
            (
                "scan failed",
                ReportFilter {
                    scan_statuses: vec![ScanStatus::Failed],
                    ..Default::default()
                },
                vec![BROKEN],
            ),
            (
                "scanned",
                ReportFilter {
                    scan_statuses: vec![ScanStatus::Scanned],
                    ..Default::default()
                },
                vec![PYTHON, NGINX, API],
            ),
            (
                "critical",
                ReportFilter {
                    severities: vec![Severity::Critical],
                    ..Default::default()
                },
                vec![NGINX, API],
            ),
            (
                "medium",
                ReportFilter {
                    severities: vec![Severity::Medium],
                    ..Default::default()
                },
                vec![NGINX],
            ),
            (
                "low or medium",
                ReportFilter {
                    severities: vec![Severity::Low, Severity::Medium],
                    ..Default::default()
                },
                vec![NGINX, API],
            ),
            (
                "fixable",
                ReportFilter {
                    fixable_only: true,
                    ..Default::default()
                },
                vec![NGINX, API],
            ),
            (
                "fixable high",
                ReportFilter {
                    fixable_only: true,
                    severities: vec![Severity::High],
                    ..Default::default()
                },
                vec![],
            ),
            (
                "text: vulnerability id",
                ReportFilter {
                    text: text("cve-2024-0004"),
                    ..Default::default()
                },
                vec![API],
            ),
            (
                "text: tag",
                ReportFilter {
                    text: text("1.26"),
                    ..Default::default()
                },
                vec![NGINX],
            ),
            (
                "text: repository",
                ReportFilter {
                    text: text("TEAM"),
                    ..Default::default()
                },
                vec![BROKEN, API, LEGACY],
            ),
            (
                "text: digest",
                ReportFilter {
                    text: text(&python_hex),
                    ..Default::default()
                },
                vec![PYTHON],
            ),
            (
                "text: LIKE wildcards are literal",
                ReportFilter {
                    text: text("%"),
                    ..Default::default()
                },
                vec![],
            ),
            (
                "text: underscore is literal",
                ReportFilter {
                    text: text("cve_2024"),
                    ..Default::default()
                },
                vec![],
            ),
            (
                "excepted view, nothing excepted",
                ReportFilter {
                    excepted: true,
                    ..Default::default()
                },
                vec![],
            ),
        ];
        let mut sorted_table = table;
        for (_, _, want) in &mut sorted_table {
            want.sort_unstable();
        }
        for (case, filter, want) in &sorted_table {
            assert_eq!(repository_names(store, filter).await, *want, "{case}");
            let stats = store.statistics(filter, at(20)).await.unwrap();
            assert_eq!(
                stats.repositories,
                want.len() as u64,
                "{case}: statistics follow the filter"
            );
        }
        // Counts are restricted to the selected severities / fixable ones.
        let high = store
            .statistics(
                &ReportFilter {
                    severities: vec![Severity::High],
                    ..Default::default()
                },
                at(20),
            )
            .await
            .unwrap();
        assert_eq!(
            high.vulnerabilities,
            SeverityCounts {
                high: 2,
                ..Default::default()
            }
        );
        assert_eq!(high.fixable, 0);
        let fixable = store
            .statistics(
                &ReportFilter {
                    fixable_only: true,
                    ..Default::default()
                },
                at(20),
            )
            .await
            .unwrap();
        assert_eq!(
            fixable.vulnerabilities,
            SeverityCounts {
                critical: 2,
                medium: 1,
                low: 1,
                ..Default::default()
            }
        );
        let prod = store
            .statistics(
                &ReportFilter {
                    clusters: vec!["prod".into()],
                    ..Default::default()
                },
                at(20),
            )
            .await
            .unwrap();
        assert_eq!(
            (prod.clusters, prod.running_resources, prod.images),
            (1, 2, 3)
        );
        assert_eq!(
            prod.scan_coverage,
            ScanCoverage {
                scanned: 3,
                targets: 3
            }
        );
        // Filter limits.
        let too_many = ReportFilter {
            clusters: (0..=filter::MAX_FILTER_VALUES)
                .map(|i| format!("c{i}"))
                .collect(),
            ..Default::default()
        };
        assert!(matches!(
            store.statistics(&too_many, at(20)).await,
            Err(StoreError::Filter(FilterError::TooManyValues { .. }))
        ));
        let empty_name = ReportFilter {
            namespaces: vec![String::new()],
            ..Default::default()
        };
        assert!(store.statistics(&empty_name, at(20)).await.is_err());
    }

    pub async fn sorting_and_pagination<S: Store>(store: &S) {
        fleet::load(store).await;
        let sorted = |field, direction| async move {
            store
                .repositories(
                    &ReportFilter::default(),
                    Sort { field, direction },
                    Page::first(100),
                    at(20),
                )
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|r| r.repository)
                .collect::<Vec<_>>()
        };
        // (field, direction, expected order)
        let table: Vec<(RepositorySortField, Direction, Vec<&str>)> = vec![
            // Ties fall back to the repository name, ascending.
            (
                RepositorySortField::Severity,
                Direction::Descending,
                vec![NGINX, API, PYTHON, BROKEN, LEGACY],
            ),
            (
                RepositorySortField::Severity,
                Direction::Ascending,
                vec![PYTHON, BROKEN, LEGACY, API, NGINX],
            ),
            (
                RepositorySortField::Critical,
                Direction::Descending,
                vec![NGINX, API, PYTHON, BROKEN, LEGACY],
            ),
            (
                RepositorySortField::Images,
                Direction::Descending,
                vec![NGINX, PYTHON, API, BROKEN, LEGACY],
            ),
            (
                RepositorySortField::Repository,
                Direction::Descending,
                vec![LEGACY, BROKEN, API, PYTHON, NGINX],
            ),
            (
                RepositorySortField::Fixable,
                Direction::Descending,
                vec![NGINX, API, PYTHON, BROKEN, LEGACY],
            ),
            (
                RepositorySortField::Clusters,
                Direction::Descending,
                vec![NGINX, PYTHON, API, BROKEN, LEGACY],
            ),
            (
                RepositorySortField::LastScanned,
                Direction::Ascending,
                vec![BROKEN, LEGACY, NGINX, PYTHON, API],
            ),
        ];
        for (field, direction, want) in table {
            assert_eq!(
                sorted(field, direction).await,
                want,
                "{field:?} {direction:?}"
            );
        }
        // Pages: the total is always there, pages do not overlap.
        let sort = Sort {
            field: RepositorySortField::Repository,
            direction: Direction::Ascending,
        };
        let mut seen = Vec::new();
        for offset in [0, 2, 4, 6] {
            let page = store
                .repositories(
                    &ReportFilter::default(),
                    sort,
                    Page::new(2, offset).unwrap(),
                    at(20),
                )
                .await
                .unwrap();
            assert_eq!(page.total, 5, "offset {offset}");
            seen.extend(page.items.into_iter().map(|r| r.repository));
        }
        let mut all = sorted(RepositorySortField::Repository, Direction::Ascending).await;
        assert_eq!(seen, all);
        all.dedup();
        assert_eq!(all.len(), 5);
        assert_eq!(
            Page::new(10_000, 0).unwrap().limit(),
            filter::MAX_PAGE_LIMIT
        );
        assert!(Page::new(10, filter::MAX_OFFSET + 1).is_err());
        // Vulnerabilities: CVSS descending by default, then by other fields.
        let order = |field, direction| async move {
            store
                .image_vulnerabilities(
                    &d("nginx-1.25"),
                    &None,
                    Sort { field, direction },
                    Page::default(),
                    false,
                )
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|r| r.finding.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            order(VulnerabilitySortField::Cvss, Direction::Descending).await,
            ["CVE-2024-0001", "CVE-2024-0002", "CVE-2024-0003"]
        );
        assert_eq!(
            order(VulnerabilitySortField::Cvss, Direction::Ascending).await,
            ["CVE-2024-0003", "CVE-2024-0002", "CVE-2024-0001"]
        );
        assert_eq!(
            order(VulnerabilitySortField::Package, Direction::Ascending).await,
            ["CVE-2024-0003", "CVE-2024-0001", "CVE-2024-0002"]
        );
        assert_eq!(
            order(VulnerabilitySortField::Layer, Direction::Descending).await,
            ["CVE-2024-0003", "CVE-2024-0001", "CVE-2024-0002"]
        );
        let page = store
            .image_vulnerabilities(
                &d("nginx-1.25"),
                &None,
                Sort {
                    field: VulnerabilitySortField::Cvss,
                    direction: Direction::Descending,
                },
                Page::new(2, 10).unwrap(),
                false,
            )
            .await
            .unwrap();
        assert_eq!(
            (page.total, page.items.len()),
            (3, 0),
            "a page past the end still has the total"
        );
    }

    pub async fn fleet_snapshots<S: Store>(store: &S) {
        fleet::load(store).await;
        let stats = store
            .statistics(&ReportFilter::default(), at(20))
            .await
            .unwrap();
        insta::assert_json_snapshot!("fleet_statistics", stats);
        let repositories = store
            .repositories(
                &ReportFilter::default(),
                Sort {
                    field: RepositorySortField::Severity,
                    direction: Direction::Descending,
                },
                Page::default(),
                at(20),
            )
            .await
            .unwrap();
        insta::assert_json_snapshot!("fleet_repositories", repositories);
        let remediation = store
            .remediation(&ReportFilter::default(), Page::default(), at(20))
            .await
            .unwrap();
        insta::assert_json_snapshot!("fleet_remediation", remediation);
    }

    pub async fn image_views<S: Store>(store: &S) {
        fleet::load(store).await;
        let details = store
            .image(&d("nginx-1.25"), at(20))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(details.repository, NGINX);
        assert_eq!(details.metadata.layers.len(), 3);
        assert_eq!(details.metadata.history.len(), 3);
        assert_eq!(details.os.as_ref().map(|o| o.id.as_str()), Some("debian"));
        assert_eq!(details.size, 3_000_003);
        assert_eq!(
            details.counts,
            SeverityCounts {
                critical: 1,
                high: 1,
                medium: 1,
                ..Default::default()
            }
        );
        assert_eq!(details.fixable, 2);
        assert!(details.running);
        assert_eq!(details.analyzer_versions, analyzers());
        assert!(store.image(&d("missing"), at(20)).await.unwrap().is_none());
        // Layers filter the vulnerabilities and the packages.
        // (layers, vulnerabilities, packages)
        let table: Vec<(Option<Vec<u32>>, u64, u64)> = vec![
            (None, 3, 3),
            (Some(vec![0]), 2, 2),
            (Some(vec![1, 2]), 1, 1),
            (Some(vec![]), 0, 0),
        ];
        for (layers, vulns, packages) in table {
            let v = store
                .image_vulnerabilities(
                    &d("nginx-1.25"),
                    &layers,
                    Sort {
                        field: VulnerabilitySortField::Cvss,
                        direction: Direction::Descending,
                    },
                    Page::default(),
                    false,
                )
                .await
                .unwrap();
            assert_eq!(v.total, vulns, "{layers:?}");
            let p = store
                .image_packages(&d("nginx-1.25"), &layers, Page::default())
                .await
                .unwrap();
            assert_eq!(p.total, packages, "{layers:?}");
        }
        let packages = store
            .image_packages(&d("nginx-1.25"), &None, Page::default())
            .await
            .unwrap();
        let openssl = packages
            .items
            .iter()
            .find(|p| p.package.name == "openssl")
            .unwrap();
        assert_eq!(
            (
                openssl.package.vulnerabilities,
                openssl.package.fix_all_version.as_deref()
            ),
            (1, Some("3.0.9"))
        );
        let rows = resources(store, &d("nginx-1.25")).await;
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(
            (
                row.cluster.as_str(),
                row.namespace.as_str(),
                row.name.as_str(),
                row.container.as_str()
            ),
            ("prod", "web", "frontend", "nginx")
        );
        assert_eq!(row.labels.get("tier").map(String::as_str), Some("front"));
        assert!(row.created.is_some());
        // Unknown digests are errors for the lists.
        assert!(matches!(
            store
                .image_packages(&d("missing"), &None, Page::default())
                .await,
            Err(StoreError::NotFound { .. })
        ));
        let too_many_layers = Some((0..1000).collect::<Vec<u32>>());
        assert!(
            store
                .image_packages(&d("nginx-1.25"), &too_many_layers, Page::default())
                .await
                .is_err()
        );
        // Remediation ranks upgrades by findings fixed.
        let remediation = store
            .remediation(&ReportFilter::default(), Page::default(), at(20))
            .await
            .unwrap();
        let first = &remediation.items[0];
        assert_eq!(
            (
                first.name.as_str(),
                first.to_version.as_str(),
                first.findings,
                first.images,
                first.workloads
            ),
            ("openssl", "3.0.9", 2, 2, 2)
        );
        let scoped = store
            .remediation(
                &ReportFilter {
                    clusters: vec!["dev".into()],
                    ..Default::default()
                },
                Page::default(),
                at(20),
            )
            .await
            .unwrap();
        assert_eq!(scoped.total, 0, "nginx 1.26's only finding has no fix");
    }

    pub async fn users_tokens_sessions<S: Store>(store: &S) {
        let admin = store
            .create_user(
                &NewUser {
                    name: "admin".into(),
                    role: Role::Admin,
                    password_hash: "$argon2id$v=19$secret".into(),
                    must_change_password: true,
                },
                at(0),
            )
            .await
            .unwrap();
        assert!(matches!(
            store
                .create_user(
                    &NewUser {
                        name: "admin".into(),
                        role: Role::Viewer,
                        password_hash: "x".into(),
                        must_change_password: false,
                    },
                    at(0)
                )
                .await,
            Err(StoreError::Conflict { .. })
        ));
        let user = store.user_by_name("admin").await.unwrap().unwrap();
        assert_eq!(
            (user.id, user.role, user.disabled, user.must_change_password),
            (admin, Role::Admin, false, true)
        );
        assert!(
            !format!("{user:?}").contains("argon2"),
            "Debug leaves the hash out"
        );
        store
            .set_password(
                admin,
                &PasswordChange {
                    password_hash: "new-hash".into(),
                    must_change_password: false,
                    keep_session: None,
                },
            )
            .await
            .unwrap();
        let changed = store.user(admin).await.unwrap().unwrap();
        assert_eq!(
            (changed.password_hash.as_str(), changed.must_change_password),
            ("new-hash", false)
        );

        let hash = "a".repeat(64);
        let token = store
            .create_token(
                &NewToken {
                    name: "ci".into(),
                    token_hash: hash.clone(),
                    role: Role::Viewer,
                    user: Some(admin),
                    cluster: None,
                },
                at(0),
            )
            .await
            .unwrap();
        let agent = store
            .create_token(
                &NewToken {
                    name: "agent-prod".into(),
                    token_hash: "b".repeat(64),
                    role: Role::Viewer,
                    user: None,
                    cluster: Some("prod".into()),
                },
                at(0),
            )
            .await
            .unwrap();
        assert!(
            store
                .create_token(
                    &NewToken {
                        name: "bad".into(),
                        token_hash: "not-hex".into(),
                        role: Role::Viewer,
                        user: None,
                        cluster: None
                    },
                    at(0)
                )
                .await
                .is_err()
        );
        let found = store
            .token_by_hash(&hash.to_uppercase())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (found.id, found.role, found.user),
            (token, Role::Viewer, Some(admin))
        );
        assert_eq!(
            store
                .token_by_hash(&"b".repeat(64))
                .await
                .unwrap()
                .unwrap()
                .cluster
                .as_deref(),
            Some("prod")
        );
        store.touch_token(token, at(5)).await.unwrap();
        assert_eq!(
            store.token_by_hash(&hash).await.unwrap().unwrap().last_used,
            Some(at(5))
        );
        store.revoke_token(agent, at(6)).await.unwrap();
        assert!(
            store
                .token_by_hash(&"b".repeat(64))
                .await
                .unwrap()
                .is_none(),
            "revoked tokens do not authenticate"
        );
        assert_eq!(store.tokens().await.unwrap().len(), 2);

        store
            .create_session(
                &NewSession {
                    session_hash: "s1".into(),
                    user: admin,
                    csrf_hash: "c1".into(),
                    expires: at(100),
                },
                at(0),
            )
            .await
            .unwrap();
        assert!(store.session_by_hash("s1", at(50)).await.unwrap().is_some());
        assert!(
            store
                .session_by_hash("s1", at(100))
                .await
                .unwrap()
                .is_none(),
            "expired"
        );
        assert_eq!(store.delete_expired_sessions(at(100)).await.unwrap(), 1);
        store.delete_session("s1").await.unwrap();
        assert_eq!(store.users().await.unwrap().len(), 1);
    }

    async fn session<S: Store>(store: &S, hash: &str, user: UserId) {
        store
            .create_session(
                &NewSession {
                    session_hash: hash.into(),
                    user,
                    csrf_hash: format!("csrf-{hash}"),
                    expires: at(1000),
                },
                at(0),
            )
            .await
            .unwrap();
    }

    async fn user<S: Store>(store: &S, name: &str, role: Role) -> UserId {
        store
            .create_user(
                &NewUser {
                    name: name.into(),
                    role,
                    password_hash: "h".into(),
                    must_change_password: false,
                },
                at(0),
            )
            .await
            .unwrap()
    }

    async fn live_sessions<S: Store>(store: &S, hashes: &[&str]) -> Vec<String> {
        let mut live = Vec::new();
        for hash in hashes {
            if store.session_by_hash(hash, at(10)).await.unwrap().is_some() {
                live.push((*hash).to_owned());
            }
        }
        live
    }

    /// A password change keeps the session that made it and deletes the
    /// user's other sessions (not other users').
    pub async fn password_change_revokes_other_sessions<S: Store>(store: &S) {
        let alice = user(store, "alice", Role::Editor).await;
        let bob = user(store, "bob", Role::Viewer).await;
        for (hash, who) in [("a1", alice), ("a2", alice), ("a3", alice), ("b1", bob)] {
            session(store, hash, who).await;
        }
        let all = ["a1", "a2", "a3", "b1"];
        // (session kept, must change afterwards, sessions alive afterwards)
        let cases: [(Option<&str>, bool, &[&str]); 2] =
            [(Some("a2"), false, &["a2", "b1"]), (None, true, &["b1"])];
        for (keep, must_change, alive) in cases {
            store
                .set_password(
                    alice,
                    &PasswordChange {
                        password_hash: format!("hash-{keep:?}"),
                        must_change_password: must_change,
                        keep_session: keep.map(str::to_owned),
                    },
                )
                .await
                .unwrap();
            assert_eq!(live_sessions(store, &all).await, alive, "keeping {keep:?}");
            let now = store.user(alice).await.unwrap().unwrap();
            assert_eq!(now.must_change_password, must_change);
            assert_eq!(now.password_hash, format!("hash-{keep:?}"));
        }
        assert!(matches!(
            store
                .set_password(
                    UserId(9999),
                    &PasswordChange {
                        password_hash: "x".into(),
                        must_change_password: false,
                        keep_session: None,
                    }
                )
                .await,
            Err(StoreError::NotFound { .. })
        ));
    }

    /// Role and disabled changes: a disabled user's sessions and tokens stop
    /// at once, a user's token is capped at the user's role, and the last
    /// enabled admin can be neither disabled nor demoted.
    pub async fn user_updates_and_last_admin<S: Store>(store: &S) {
        let root = user(store, "root", Role::Admin).await;
        let ops = user(store, "ops", Role::Admin).await;
        session(store, "root-s", root).await;
        session(store, "ops-s", ops).await;
        let ops_token = "c".repeat(64);
        store
            .create_token(
                &NewToken {
                    name: "ops-ci".into(),
                    token_hash: ops_token.clone(),
                    role: Role::Admin,
                    user: Some(ops),
                    cluster: None,
                },
                at(0),
            )
            .await
            .unwrap();
        let token_role = async || {
            store
                .token_by_hash(&ops_token)
                .await
                .unwrap()
                .map(|t| t.role)
        };
        let update = |role: Option<Role>, disabled: Option<bool>| UserUpdate { role, disabled };

        // (user, change, outcome: Ok(role, disabled) or last-admin refusal,
        //  ops token's role afterwards, sessions alive afterwards)
        type Outcome = std::result::Result<(Role, bool), ()>;
        let cases: Vec<(UserId, UserUpdate, Outcome, Option<Role>, &[&str])> = vec![
            (
                ops,
                update(Some(Role::Viewer), None),
                Ok((Role::Viewer, false)),
                Some(Role::Viewer),
                &["root-s", "ops-s"],
            ),
            (
                root,
                update(Some(Role::Editor), None),
                Err(()),
                Some(Role::Viewer),
                &["root-s", "ops-s"],
            ),
            (
                root,
                update(None, Some(true)),
                Err(()),
                Some(Role::Viewer),
                &["root-s", "ops-s"],
            ),
            (
                ops,
                update(Some(Role::Admin), None),
                Ok((Role::Admin, false)),
                Some(Role::Admin),
                &["root-s", "ops-s"],
            ),
            (
                ops,
                update(None, Some(true)),
                Ok((Role::Admin, true)),
                None,
                &["root-s"],
            ),
            // ops is disabled: root is the last enabled admin again.
            (root, update(None, Some(true)), Err(()), None, &["root-s"]),
            (
                ops,
                update(None, Some(false)),
                Ok((Role::Admin, false)),
                Some(Role::Admin),
                &["root-s"],
            ),
            (
                root,
                update(Some(Role::Viewer), Some(true)),
                Ok((Role::Viewer, true)),
                Some(Role::Admin),
                &[],
            ),
            (
                ops,
                update(Some(Role::Editor), None),
                Err(()),
                Some(Role::Admin),
                &[],
            ),
        ];
        for (i, (id, change, outcome, role_after, alive)) in cases.into_iter().enumerate() {
            let result = store.update_user(id, &change).await;
            match (result, outcome) {
                (Ok(user), Ok(want)) => assert_eq!((user.role, user.disabled), want, "case {i}"),
                (Err(StoreError::LastAdmin), Err(())) => {}
                (got, want) => panic!("case {i}: got {got:?}, want {want:?}"),
            }
            assert_eq!(token_role().await, role_after, "case {i}: token");
            assert_eq!(
                live_sessions(store, &["root-s", "ops-s"]).await,
                alive,
                "case {i}: sessions"
            );
        }
        let root_now = store.user(root).await.unwrap().unwrap();
        assert_eq!((root_now.role, root_now.disabled), (Role::Viewer, true));
        assert!(matches!(
            store
                .update_user(UserId(9999), &update(None, Some(true)))
                .await,
            Err(StoreError::NotFound { .. })
        ));
    }

    /// (id, first seen, EPSS probability) of an image's findings, by id.
    async fn first_seen_rows<S: Store>(store: &S, image: &str) -> Vec<(String, i64, Option<f64>)> {
        store
            .image_vulnerabilities(
                &d(image),
                &None,
                Sort {
                    field: VulnerabilitySortField::Id,
                    direction: Direction::Ascending,
                },
                Page::default(),
                true,
            )
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|r| {
                (
                    r.finding.id,
                    r.first_seen_db_version,
                    r.finding.epss.map(|(probability, _)| probability),
                )
            })
            .collect()
    }

    /// Re-matches of two images where the data changes for one of them:
    /// the other's outcome is empty, every image records the version, and
    /// first-seen versions and changed content (EPSS) follow.
    pub async fn rematch_writes_only_changes<S: Store>(store: &S) {
        fleet::load(store).await;
        let one = store
            .image(&d("nginx-1.25"), at(20))
            .await
            .unwrap()
            .unwrap();
        let two = store.image(&d("api-v2"), at(20)).await.unwrap().unwrap();
        let a = finding(
            "CVE-2024-0001",
            Severity::Critical,
            Some(9.8),
            ("openssl", "3.0.1"),
            0,
            Some("3.0.9"),
        );
        let mut a_rescored = a.clone();
        a_rescored.epss = Some((0.42, 0.97));
        let c = finding(
            "CVE-2024-0003",
            Severity::Medium,
            Some(5.0),
            ("nginx", "1.25.0"),
            1,
            Some("1.25.4"),
        );
        let e = finding(
            "CVE-2025-0005",
            Severity::High,
            Some(8.1),
            ("libxml2", "2.9.14"),
            2,
            None,
        );
        type Expected = (
            Option<RematchOutcome>,
            Vec<(&'static str, i64, Option<f64>)>,
        );
        // (db version, findings of one, of two, expected of one, of two)
        let table: Vec<(
            i64,
            Vec<model::Finding>,
            Vec<model::Finding>,
            Expected,
            Expected,
        )> = vec![
            (
                2,
                vec![a.clone(), c.clone()],
                vec![a.clone(), c.clone()],
                (
                    None,
                    vec![("CVE-2024-0001", 1), ("CVE-2024-0003", 1)]
                        .into_iter()
                        .map(|(id, v)| (id, v, None))
                        .collect(),
                ),
                (
                    None,
                    vec![("CVE-2024-0001", 1, None), ("CVE-2024-0003", 2, None)],
                ),
            ),
            // Nothing changed: nothing added or removed, the version recorded.
            (
                3,
                vec![a.clone(), c.clone()],
                vec![c.clone(), a.clone()],
                (
                    Some(RematchOutcome::default()),
                    vec![("CVE-2024-0001", 1, None), ("CVE-2024-0003", 1, None)],
                ),
                (
                    Some(RematchOutcome::default()),
                    vec![("CVE-2024-0001", 1, None), ("CVE-2024-0003", 2, None)],
                ),
            ),
            // One advisory added, affecting image one only.
            (
                4,
                vec![a.clone(), c.clone(), e.clone()],
                vec![a.clone(), c.clone()],
                (
                    Some(RematchOutcome {
                        added: 1,
                        removed: 0,
                    }),
                    vec![
                        ("CVE-2024-0001", 1, None),
                        ("CVE-2024-0003", 1, None),
                        ("CVE-2025-0005", 4, None),
                    ],
                ),
                (
                    Some(RematchOutcome::default()),
                    vec![("CVE-2024-0001", 1, None), ("CVE-2024-0003", 2, None)],
                ),
            ),
            // Changed content under the same fingerprint keeps first seen.
            (
                5,
                vec![a_rescored.clone(), c.clone(), e.clone()],
                vec![a.clone(), c.clone()],
                (
                    Some(RematchOutcome::default()),
                    vec![
                        ("CVE-2024-0001", 1, Some(0.42)),
                        ("CVE-2024-0003", 1, None),
                        ("CVE-2025-0005", 4, None),
                    ],
                ),
                (
                    Some(RematchOutcome::default()),
                    vec![("CVE-2024-0001", 1, None), ("CVE-2024-0003", 2, None)],
                ),
            ),
            // One advisory withdrawn.
            (
                6,
                vec![a_rescored.clone(), e.clone()],
                vec![a.clone(), c.clone()],
                (
                    Some(RematchOutcome {
                        added: 0,
                        removed: 1,
                    }),
                    vec![("CVE-2024-0001", 1, Some(0.42)), ("CVE-2025-0005", 4, None)],
                ),
                (
                    Some(RematchOutcome::default()),
                    vec![("CVE-2024-0001", 1, None), ("CVE-2024-0003", 2, None)],
                ),
            ),
        ];
        for (version, one_findings, two_findings, one_expected, two_expected) in table {
            let one_packages = package_summaries(&one_findings);
            let two_packages = package_summaries(&two_findings);
            let one_hashes = FindingsHashes::of(&one_findings, &one_packages).unwrap();
            let two_hashes = FindingsHashes::of(&two_findings, &two_packages).unwrap();
            // Odd versions write both images in one batch, even ones singly.
            let outcomes = if version % 2 == 1 {
                store
                    .replace_findings_batch(
                        &[
                            FindingsWrite {
                                image: one.id,
                                findings: &one_findings,
                                packages: &one_packages,
                                hashes: &one_hashes,
                            },
                            FindingsWrite {
                                image: two.id,
                                findings: &two_findings,
                                packages: &two_packages,
                                hashes: &two_hashes,
                            },
                        ],
                        version,
                        at(30),
                    )
                    .await
                    .unwrap()
            } else {
                let mut outcomes = Vec::new();
                for (image, findings, packages) in [
                    (&one, &one_findings, &one_packages),
                    (&two, &two_findings, &two_packages),
                ] {
                    outcomes.push(
                        store
                            .replace_findings(image.id, findings, packages, version, at(30))
                            .await
                            .unwrap(),
                    );
                }
                outcomes
            };
            for ((name, findings, packages, (outcome, rows)), got) in [
                ("nginx-1.25", &one_findings, one_packages, one_expected),
                ("api-v2", &two_findings, two_packages, two_expected),
            ]
            .into_iter()
            .zip(outcomes)
            {
                if let Some(outcome) = outcome {
                    assert_eq!(got, outcome, "{name} at db {version}");
                }
                let got_rows = first_seen_rows(store, name).await;
                let want: Vec<(String, i64, Option<f64>)> = rows
                    .into_iter()
                    .map(|(id, v, epss)| (id.to_owned(), v, epss))
                    .collect();
                assert_eq!(got_rows, want, "{name} at db {version}");
                let details = store.image(&d(name), at(30)).await.unwrap().unwrap();
                assert_eq!(details.db_version, Some(version), "{name} at db {version}");
                assert_eq!(details.counts.total(), findings.len() as u64, "{name}");
                let packages_stored = store
                    .image_packages(&d(name), &None, Page::default())
                    .await
                    .unwrap();
                let mut got_packages: Vec<_> = packages_stored
                    .items
                    .into_iter()
                    .map(|p| p.package)
                    .collect();
                got_packages.sort_by(|x, y| (&x.name, &x.version).cmp(&(&y.name, &y.version)));
                assert_eq!(got_packages, packages, "{name} packages at db {version}");
            }
        }
        // A batch is all or none: an unknown image leaves the others as they were.
        let findings = vec![c.clone()];
        let packages = package_summaries(&findings);
        let hashes = FindingsHashes::of(&findings, &packages).unwrap();
        let other_hashes = FindingsHashes::of(&[], &[]).unwrap();
        let result = store
            .replace_findings_batch(
                &[
                    FindingsWrite {
                        image: one.id,
                        findings: &findings,
                        packages: &packages,
                        hashes: &hashes,
                    },
                    FindingsWrite {
                        image: ImageId(9999),
                        findings: &findings,
                        packages: &packages,
                        hashes: &hashes,
                    },
                ],
                7,
                at(30),
            )
            .await;
        assert!(
            matches!(result, Err(StoreError::NotFound { .. })),
            "{result:?}"
        );
        // Hashes of other findings are refused.
        let result = store
            .replace_findings_batch(
                &[FindingsWrite {
                    image: one.id,
                    findings: &findings,
                    packages: &packages,
                    hashes: &other_hashes,
                }],
                7,
                at(30),
            )
            .await;
        assert!(
            matches!(result, Err(StoreError::Invalid { .. })),
            "{result:?}"
        );
        let details = store
            .image(&d("nginx-1.25"), at(30))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(details.db_version, Some(6));
        assert_eq!(details.counts.total(), 2);
    }

    pub async fn rematch_batches<S: Store>(store: &S) {
        fleet::load(store).await;
        let mut after = None;
        let mut seen = Vec::new();
        loop {
            let batch = store.inventories_for_rematch(after, 2).await.unwrap();
            let Some(last) = batch.last() else { break };
            after = Some(last.image);
            seen.extend(
                batch
                    .into_iter()
                    .map(|i| (i.digest, i.inventory.packages.len(), i.db_version)),
            );
        }
        seen.sort_by_key(|s| s.0.to_string());
        let mut want = vec![
            (d("nginx-1.25"), 3, Some(1)),
            (d("nginx-1.26"), 1, Some(1)),
            (d("api-v2"), 2, Some(1)),
            (d("python"), 0, Some(1)),
        ];
        want.sort_by_key(|s| s.0.to_string());
        assert_eq!(seen, want);
    }
}

/// A fleet for remediation: Debian base images (12.0, 12.1, 12.5) and
/// applications built on them (their layers are a strict prefix).
mod layered {
    use super::*;

    pub const DEBIAN: &str = "docker.io/library/debian";
    pub const APP_A: &str = "registry.example.com/team/app-a";
    pub const APP_B: &str = "registry.example.com/team/app-b";
    pub const APP_C: &str = "registry.example.com/team/app-c";

    pub struct Image {
        pub label: &'static str,
        pub repository: &'static str,
        pub tag: &'static str,
        pub layers: &'static [&'static str],
        pub created: &'static str,
        /// (id, package, layer, fixed)
        pub findings: &'static [(&'static str, &'static str, u32, Option<&'static str>)],
    }

    const D0_LAYERS: &[&str] = &["deb120-0", "deb120-1"];
    const D1_LAYERS: &[&str] = &["deb121-0", "deb121-1"];
    const D5_LAYERS: &[&str] = &["deb125-0", "deb125-1"];

    pub const IMAGES: &[Image] = &[
        Image {
            label: "debian-12.0",
            repository: DEBIAN,
            tag: "12.0",
            layers: D0_LAYERS,
            created: "2025-01-01T00:00:00Z",
            findings: &[],
        },
        Image {
            label: "debian-12.1",
            repository: DEBIAN,
            tag: "12.1",
            layers: D1_LAYERS,
            created: "2025-02-01T00:00:00Z",
            findings: &[
                ("CVE-1", "openssl", 0, Some("3.0.9")),
                ("CVE-2", "zlib", 1, None),
                ("CVE-5", "libc6", 1, Some("2.36-9")),
            ],
        },
        Image {
            label: "debian-12.5",
            repository: DEBIAN,
            tag: "12.5",
            layers: D5_LAYERS,
            created: "2025-06-01T00:00:00Z",
            findings: &[("CVE-2", "zlib", 1, None)],
        },
        Image {
            label: "app-a",
            repository: APP_A,
            tag: "1",
            layers: &["deb121-0", "deb121-1", "a-0"],
            created: "2026-01-01T00:00:00Z",
            findings: &[
                ("CVE-1", "openssl", 0, Some("3.0.9")),
                ("CVE-2", "zlib", 1, None),
                ("CVE-5", "libc6", 1, Some("2.36-9")),
                ("CVE-4", "curl", 2, Some("8.5.0")),
            ],
        },
        Image {
            label: "app-b",
            repository: APP_B,
            tag: "1",
            layers: &["deb121-0", "deb121-1", "b-0", "b-1"],
            created: "2026-01-01T00:00:00Z",
            findings: &[
                ("CVE-1", "openssl", 0, Some("3.0.9")),
                ("CVE-2", "zlib", 1, None),
                ("CVE-5", "libc6", 1, Some("2.36-9")),
                ("CVE-6", "django", 3, Some("4.2.1")),
            ],
        },
        Image {
            label: "app-c",
            repository: APP_C,
            tag: "1",
            layers: &["deb125-0", "deb125-1", "c-0"],
            created: "2026-01-01T00:00:00Z",
            findings: &[
                ("CVE-2", "zlib", 1, None),
                ("CVE-4", "curl", 2, Some("8.5.0")),
            ],
        },
    ];

    fn image(label: &str) -> &'static Image {
        IMAGES
            .iter()
            .find(|i| i.label == label)
            .expect("a fixture image")
    }

    fn run(name: &str, label: &str, running: bool) -> k8s::ContainerImage {
        let image = image(label);
        container(
            name,
            &format!("{}:{}", image.repository, image.tag),
            manifest(label),
            "linux/amd64",
            running,
        )
    }

    pub fn clusters() -> Vec<ClusterInventory> {
        vec![
            inventory(
                "prod",
                at(0),
                ClusterStatus::Ok,
                vec![
                    workload(
                        "web",
                        "frontend",
                        &[("app", "web")],
                        vec![run("a", "app-a", true)],
                    ),
                    workload(
                        "web",
                        "api",
                        &[("app", "api")],
                        vec![run("b", "app-b", true)],
                    ),
                    workload(
                        "batch",
                        "job",
                        &[("team", "data")],
                        vec![run("c", "app-c", false)],
                    ),
                    workload("infra", "base", &[], vec![run("d", "debian-12.1", true)]),
                ],
            ),
            inventory(
                "dev",
                at(0),
                ClusterStatus::Ok,
                vec![
                    workload(
                        "web",
                        "frontend",
                        &[("app", "web")],
                        vec![run("a", "app-a", true)],
                    ),
                    workload("tools", "new", &[], vec![run("d", "debian-12.5", true)]),
                    workload("tools", "old", &[], vec![run("d", "debian-12.0", true)]),
                ],
            ),
        ]
    }

    pub fn record(target: &ScanTarget) -> Option<ScanRecord> {
        let manifest = reference_digest(target);
        let image = IMAGES.iter().find(|i| d(i.label) == manifest)?;
        let mut metadata = metadata(image.repository, Some(image.tag), &manifest, 0);
        metadata.layers = image
            .layers
            .iter()
            .enumerate()
            .map(|(index, label)| model::LayerDescriptor {
                index: index as u32,
                diff_id: model::DiffId(d(label)),
                blob_digest: d(&format!("blob-{label}")),
                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".to_owned(),
                compressed_size: 100,
                uncompressed_size: None,
            })
            .collect();
        metadata.config.created = Some(image.created.to_owned());
        let findings = image
            .findings
            .iter()
            .map(|(id, package, layer, fixed)| {
                finding(
                    id,
                    Severity::High,
                    Some(7.0),
                    (package, "1.0"),
                    *layer,
                    *fixed,
                )
            })
            .collect();
        Some(scan_record(metadata, findings, 1))
    }

    /// Applies both clusters and scans every image; with `bases_last`, the
    /// applications are scanned before their base images.
    pub async fn load<S: Store>(store: &S, bases_last: bool) {
        for cluster in clusters() {
            store
                .apply_snapshot(&cluster, InventorySource::Agent, at(0))
                .await
                .unwrap();
        }
        scan_all(store, at(10), |target| {
            if bases_last && target.repository == DEBIAN {
                None
            } else {
                record(target)
            }
        })
        .await;
        if bases_last {
            scan_all(store, at(7200), record).await;
        }
    }
}

mod remediation_cases {
    use super::layered::*;
    use super::*;

    fn vulnerability(id: &str, repository: Option<&str>) -> NewException {
        NewException {
            scope: ExceptionScope::Vulnerability {
                vulnerability: id.into(),
                repository: repository.map(str::to_owned),
            },
            reason: "not reachable".into(),
            author: "alice".into(),
            expires: None,
        }
    }

    fn repository(repository: &str) -> NewException {
        NewException {
            scope: ExceptionScope::Repository {
                repository: repository.into(),
            },
            reason: "vendor image".into(),
            author: "alice".into(),
            expires: None,
        }
    }

    fn filter(query: &[(&str, &str)]) -> ReportFilter {
        let mut filter = ReportFilter::default();
        for (key, value) in query {
            match *key {
                "cluster" => filter.clusters.push((*value).to_owned()),
                "labels" => filter.labels = parse_selector(value).unwrap(),
                "running" => filter.image_status = Some(ImageStatus::Running),
                "excepted" => filter.excepted = true,
                other => panic!("no filter {other}"),
            }
        }
        filter
    }

    /// (case, exceptions, filter, upgrades as "name to_version findings images workloads clusters")
    fn package_table() -> Vec<(
        &'static str,
        Vec<NewException>,
        ReportFilter,
        Vec<&'static str>,
    )> {
        vec![
            (
                "unfiltered (broad: from the fleet totals)",
                vec![],
                filter(&[]),
                vec![
                    "libc6 2.36-9 3 3 4 2",
                    "openssl 3.0.9 3 3 4 2",
                    "curl 8.5.0 2 2 3 2",
                    "django 4.2.1 1 1 1 1",
                ],
            ),
            (
                "prod (4 of 6 images: fleet totals minus the rest)",
                vec![],
                filter(&[("cluster", "prod")]),
                vec![
                    "libc6 2.36-9 3 3 3 1",
                    "openssl 3.0.9 3 3 3 1",
                    "curl 8.5.0 2 2 2 1",
                    "django 4.2.1 1 1 1 1",
                ],
            ),
            (
                "dev (3 of 6 images: added up)",
                vec![],
                filter(&[("cluster", "dev")]),
                vec![
                    "curl 8.5.0 1 1 1 1",
                    "libc6 2.36-9 1 1 1 1",
                    "openssl 3.0.9 1 1 1 1",
                ],
            ),
            (
                "label",
                vec![],
                filter(&[("labels", "team=data")]),
                vec!["curl 8.5.0 1 1 1 1"],
            ),
            (
                "running only",
                vec![],
                filter(&[("running", "")]),
                vec![
                    "libc6 2.36-9 3 3 4 2",
                    "openssl 3.0.9 3 3 4 2",
                    "curl 8.5.0 1 1 2 2",
                    "django 4.2.1 1 1 1 1",
                ],
            ),
            (
                "a vulnerability excepted everywhere leaves",
                vec![vulnerability("CVE-1", None)],
                filter(&[]),
                vec![
                    "libc6 2.36-9 3 3 4 2",
                    "curl 8.5.0 2 2 3 2",
                    "django 4.2.1 1 1 1 1",
                ],
            ),
            (
                "a vulnerability excepted for one repository",
                vec![vulnerability("CVE-5", Some(APP_A))],
                filter(&[]),
                vec![
                    "openssl 3.0.9 3 3 4 2",
                    "curl 8.5.0 2 2 3 2",
                    "libc6 2.36-9 2 2 2 1",
                    "django 4.2.1 1 1 1 1",
                ],
            ),
            (
                "an excepted repository leaves the broad scope",
                vec![repository(APP_B)],
                filter(&[]),
                vec![
                    "curl 8.5.0 2 2 3 2",
                    "libc6 2.36-9 2 2 3 2",
                    "openssl 3.0.9 2 2 3 2",
                ],
            ),
            (
                "an excepted repository leaves the narrow scope",
                vec![repository(APP_A)],
                filter(&[("cluster", "dev")]),
                vec![],
            ),
            (
                "the excepted view holds only the excepted repository",
                vec![repository(APP_B)],
                filter(&[("excepted", "")]),
                vec![
                    "django 4.2.1 1 1 1 1",
                    "libc6 2.36-9 1 1 1 1",
                    "openssl 3.0.9 1 1 1 1",
                ],
            ),
        ]
    }

    pub async fn remediation_packages<S: Store>(store: &S) {
        // Each case on its own store state: exceptions are cancelled after.
        layered::load(store, false).await;
        for (case, exceptions, filter, expected) in package_table() {
            let ids = if exceptions.is_empty() {
                Vec::new()
            } else {
                store.create_exceptions(&exceptions, at(20)).await.unwrap()
            };
            let page = store
                .remediation(&filter, Page::default(), at(30))
                .await
                .unwrap();
            let got: Vec<String> = page
                .items
                .iter()
                .map(|r| {
                    format!(
                        "{} {} {} {} {} {}",
                        r.name, r.to_version, r.findings, r.images, r.workloads, r.clusters
                    )
                })
                .collect();
            assert_eq!(got, expected, "{case}");
            assert_eq!(page.total, expected.len() as u64, "{case}");
            if !ids.is_empty() {
                store
                    .cancel_exceptions(&ids, "case done", "alice", at(40))
                    .await
                    .unwrap();
            }
        }
        // A page: the second upgrade alone, with the total.
        let page = store
            .remediation(&ReportFilter::default(), Page::new(1, 1).unwrap(), at(50))
            .await
            .unwrap();
        assert_eq!(page.total, 4);
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].name, "openssl");
        // A re-match that fixes openssl in app-a moves the totals.
        let stored = store.image_inventory(&d("app-a")).await.unwrap().unwrap();
        let findings: Vec<model::Finding> = vec![finding(
            "CVE-4",
            Severity::High,
            Some(7.0),
            ("curl", "1.0"),
            2,
            Some("8.5.0"),
        )];
        let packages = package_summaries(&findings);
        store
            .replace_findings(stored.image, &findings, &packages, 2, at(60))
            .await
            .unwrap();
        let page = store
            .remediation(&ReportFilter::default(), Page::default(), at(60))
            .await
            .unwrap();
        let got: Vec<(String, u64, u64)> = page
            .items
            .iter()
            .map(|r| (r.name.clone(), r.findings, r.images))
            .collect();
        assert_eq!(
            got,
            vec![
                ("curl".to_owned(), 2, 2),
                ("libc6".to_owned(), 2, 2),
                ("openssl".to_owned(), 2, 2),
                ("django".to_owned(), 1, 1),
            ]
        );
    }

    /// (case, exceptions, filter, bases as
    /// "tag own findings images workloads clusters -> suggested tag (findings)")
    fn base_table() -> Vec<(
        &'static str,
        Vec<NewException>,
        ReportFilter,
        Vec<&'static str>,
    )> {
        vec![
            (
                "unfiltered",
                vec![],
                filter(&[]),
                vec!["12.1 3 6 2 3 2 -> 12.5 (1)", "12.5 1 1 1 1 1 -> -"],
            ),
            (
                "dev",
                vec![],
                filter(&[("cluster", "dev")]),
                vec!["12.1 3 3 1 1 1 -> 12.5 (1)"],
            ),
            (
                "label",
                vec![],
                filter(&[("labels", "team=data")]),
                vec!["12.5 1 1 1 1 1 -> -"],
            ),
            (
                "an exception lowers base findings and own findings",
                vec![vulnerability("CVE-2", None)],
                filter(&[]),
                vec!["12.1 2 4 2 3 2 -> 12.5 (0)", "12.5 0 0 1 1 1 -> -"],
            ),
            (
                "an excepted repository's images leave",
                vec![repository(APP_A)],
                filter(&[]),
                vec!["12.1 3 3 1 1 1 -> 12.5 (1)", "12.5 1 1 1 1 1 -> -"],
            ),
        ]
    }

    async fn base_rows<S: Store>(store: &S, filter: &ReportFilter) -> Vec<String> {
        let page = store
            .base_image_remediation(filter, Page::default(), at(30))
            .await
            .unwrap();
        assert_eq!(page.total, page.items.len() as u64);
        page.items
            .iter()
            .map(|b| {
                assert_eq!(b.repository, DEBIAN);
                let suggested = match &b.suggested {
                    Some(s) => format!("{} ({})", s.tags.join(","), s.findings),
                    None => "-".to_owned(),
                };
                format!(
                    "{} {} {} {} {} {} -> {suggested}",
                    b.tags.join(","),
                    b.own_findings,
                    b.findings,
                    b.images,
                    b.workloads,
                    b.clusters
                )
            })
            .collect()
    }

    pub async fn remediation_base_images<S: Store>(store: &S) {
        layered::load(store, false).await;
        for (case, exceptions, filter, expected) in base_table() {
            let ids = if exceptions.is_empty() {
                Vec::new()
            } else {
                store.create_exceptions(&exceptions, at(20)).await.unwrap()
            };
            assert_eq!(base_rows(store, &filter).await, expected, "{case}");
            if !ids.is_empty() {
                store
                    .cancel_exceptions(&ids, "case done", "alice", at(40))
                    .await
                    .unwrap();
            }
        }
        let page = store
            .base_image_remediation(&ReportFilter::default(), Page::default(), at(30))
            .await
            .unwrap();
        let first = &page.items[0];
        assert_eq!(first.digest, d("debian-12.1"));
        assert_eq!(first.layers, 2);
        assert_eq!(
            first.created.map(|c| c.unix_timestamp()),
            Some(1_738_368_000),
            "2025-02-01"
        );
        assert_eq!(
            first.suggested.as_ref().map(|s| s.digest.clone()),
            Some(d("debian-12.5"))
        );
    }

    /// Bases scanned after the images built on them are found all the same.
    pub async fn remediation_base_images_scanned_last<S: Store>(store: &S) {
        layered::load(store, true).await;
        assert_eq!(
            base_rows(store, &ReportFilter::default()).await,
            vec!["12.1 3 6 2 3 2 -> 12.5 (1)", "12.5 1 1 1 1 1 -> -"]
        );
        let page = store
            .remediation(&ReportFilter::default(), Page::default(), at(30))
            .await
            .unwrap();
        insta::assert_json_snapshot!("layered_remediation", page);
        let bases = store
            .base_image_remediation(&ReportFilter::default(), Page::default(), at(30))
            .await
            .unwrap();
        insta::assert_json_snapshot!("layered_base_images", bases);
    }
}

macro_rules! remediation_conformance {
    ($($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some((store, _guard)) = open(stringify!($name)).await else { return };
                remediation_cases::$name(&store).await;
            }
        )+
    };
}

remediation_conformance!(
    remediation_packages,
    remediation_base_images,
    remediation_base_images_scanned_last,
);
