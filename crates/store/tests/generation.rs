//! `Store::data_generation`: moves after each committed write that changed
//! report data, and only then.

use k8s::{ClusterStatus, DigestKind};
use store::fixtures::{at, container, digest, inventory, workload};
use store::{InventorySource, NewToken, Role, SqliteStore, Store};

#[tokio::test]
async fn the_generation_moves_with_report_writes_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    let prod = inventory(
        "prod",
        at(100),
        ClusterStatus::Ok,
        vec![workload(
            "web",
            "frontend",
            &[("app", "frontend")],
            vec![container(
                "nginx",
                "nginx:1.27",
                Some((digest("nginx"), DigestKind::Manifest)),
                "linux/amd64",
                true,
            )],
        )],
    );
    let start = store.data_generation();

    // (what, moves the generation)
    let token = NewToken {
        name: "ci".into(),
        token_hash: "0".repeat(64),
        role: Role::Viewer,
        user: None,
        cluster: None,
    };
    let id = store.create_token(&token, at(100)).await.unwrap();
    assert_eq!(store.data_generation(), start, "creating a token");
    store.touch_token(id, at(101)).await.unwrap();
    assert_eq!(store.data_generation(), start, "recording a token's use");

    store
        .apply_snapshot(&prod, InventorySource::Local, at(100))
        .await
        .unwrap();
    let after_snapshot = store.data_generation();
    assert!(after_snapshot > start, "a snapshot");

    let jobs = store.claim_scan_jobs(10, at(110)).await.unwrap();
    assert_eq!(jobs.len(), 1);
    let after_claim = store.data_generation();
    assert!(after_claim > after_snapshot, "a claim that took a job");

    assert!(store.claim_scan_jobs(10, at(120)).await.unwrap().is_empty());
    assert_eq!(
        store.data_generation(),
        after_claim,
        "a claim that found nothing"
    );

    // A transaction that changes no row leaves it alone.
    assert!(
        store
            .create_exceptions(&[], at(130))
            .await
            .is_ok_and(|ids| ids.is_empty())
    );
    assert_eq!(
        store.data_generation(),
        after_claim,
        "an empty batch of exceptions"
    );
}
