//! Assembly, inventory state and wire format over hand-made objects (no cluster).

use k8s::objects::{MetaObject, NodeObject, PodObject, ServiceAccountObject};
use k8s::state::{Change, InventoryState};
use k8s::store::{
    ClusterStore, namespace_record, node_record, owner_record, pod_record, service_account_record,
};
use k8s::types::*;
use k8s::wire::{self, AgentMessage, Delta, MessageBody, SequenceCheck, Snapshot};
use kube::runtime::watcher::Event;
use serde_json::{Value, json};
use time::OffsetDateTime;

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_780_000_000 + seconds).expect("valid time")
}

fn owner_ref(kind: &str, name: &str) -> Value {
    json!([{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": format!("uid-{name}"), "controller": true}])
}

fn pod(
    ns: &str,
    name: &str,
    owner: Option<(&str, &str)>,
    image: &str,
    image_id: Option<&str>,
    node: Option<&str>,
) -> Value {
    let mut meta = json!({"name": name, "namespace": ns, "uid": format!("uid-{ns}-{name}"),
        "labels": {"pod": name}, "creationTimestamp": "2026-01-02T03:04:05Z"});
    if let Some((kind, owner)) = owner {
        meta["ownerReferences"] = owner_ref(kind, owner);
    }
    let mut status = json!({"phase": "Pending"});
    if let Some(id) = image_id {
        status = json!({"phase": "Running", "containerStatuses": [
            {"name": "app", "image": image, "imageID": id, "state": {"running": {"startedAt": "2026-01-02T03:04:06Z"}}}]});
    }
    json!({"metadata": meta, "spec": {"nodeName": node, "imagePullSecrets": [{"name": "pod-secret"}],
        "initContainers": [{"name": "init", "image": "busybox"}],
        "containers": [{"name": "app", "image": image}]}, "status": status})
}

fn owner(kind: &str, ns: &str, name: &str, parent: Option<(&str, &str)>) -> MetaObject {
    let mut meta = json!({"name": name, "namespace": ns, "uid": format!("uid-{name}"), "labels": {"app": name},
        "creationTimestamp": "2026-01-01T00:00:00Z"});
    if let Some((kind, parent)) = parent {
        meta["ownerReferences"] = owner_ref(kind, parent);
    }
    let _ = kind;
    serde_json::from_value(json!({"metadata": meta})).expect("owner json")
}

fn store_with(pods: &[Value]) -> ClusterStore {
    let mut store = ClusterStore::default();
    for p in pods {
        let object: PodObject = serde_json::from_value(p.clone()).expect("pod json");
        store.pods.apply(Event::Apply(pod_record(object)));
    }
    let rs = store.owners.entry("replicasets").or_default();
    rs.apply(Event::Apply(owner_record(
        "ReplicaSet",
        owner("ReplicaSet", "web", "web-5d4", Some(("Deployment", "web"))),
    )));
    let deploy = store.owners.entry("deployments").or_default();
    deploy.apply(Event::Apply(owner_record(
        "Deployment",
        owner("Deployment", "web", "web", None),
    )));
    let jobs = store.owners.entry("jobs").or_default();
    jobs.apply(Event::Apply(owner_record(
        "Job",
        owner("Job", "batch", "backup-1", Some(("CronJob", "backup"))),
    )));
    let cron = store.owners.entry("cronjobs").or_default();
    cron.apply(Event::Apply(owner_record(
        "CronJob",
        owner("CronJob", "batch", "backup", None),
    )));
    for (name, arch) in [("node-a", "amd64"), ("node-b", "arm64")] {
        let node: NodeObject = serde_json::from_value(json!({"metadata": {"name": name},
            "status": {"nodeInfo": {"operatingSystem": "linux", "architecture": arch}}}))
        .expect("node json");
        store.nodes.apply(Event::Apply(node_record(node)));
    }
    let sa: ServiceAccountObject =
        serde_json::from_value(json!({"metadata": {"name": "default", "namespace": "web"},
        "imagePullSecrets": [{"name": "sa-secret"}]}))
        .expect("sa json");
    store
        .service_accounts
        .apply(Event::Apply(service_account_record(sa)));
    for ns in ["web", "batch"] {
        let object: MetaObject =
            serde_json::from_value(json!({"metadata": {"name": ns, "labels": {"team": ns}}}))
                .expect("ns");
        store
            .namespaces
            .apply(Event::Apply(namespace_record(object)));
    }
    store
}

fn fleet() -> Vec<Value> {
    let id1 = format!("docker-pullable://nginx@{D1}");
    vec![
        pod(
            "web",
            "web-5d4-a",
            Some(("ReplicaSet", "web-5d4")),
            "nginx:1.25",
            Some(&id1),
            Some("node-a"),
        ),
        pod(
            "web",
            "web-5d4-b",
            Some(("ReplicaSet", "web-5d4")),
            "nginx:1.25",
            Some(&id1),
            Some("node-a"),
        ),
        pod(
            "web",
            "web-5d4-c",
            Some(("ReplicaSet", "web-5d4")),
            "nginx:1.25",
            Some(&id1),
            Some("node-b"),
        ),
        pod(
            "batch",
            "backup-1-x",
            Some(("Job", "backup-1")),
            "alpine:3.19",
            Some(&format!("docker.io/library/alpine@{D2}")),
            Some("node-a"),
        ),
        pod("batch", "loner", None, "alpine:3.19", None, None),
        pod(
            "batch",
            "bad",
            None,
            "Not A Ref",
            Some("garbage"),
            Some("node-z"),
        ),
        pod(
            "batch",
            "crd",
            Some(("Rollout", "canary")),
            "alpine:3.19",
            Some(&format!("docker://{D2}")),
            Some("node-a"),
        ),
    ]
}

#[test]
fn assembly_groups_by_top_workload() {
    let inventory = k8s::assemble("test", &store_with(&fleet()), ClusterStatus::Ok, at(0));
    // (namespace, kind, name) → [(container, type, pods, running_pods, digest, platform arch, state)]
    let got: Vec<(String, Vec<String>)> = inventory
        .workloads
        .iter()
        .map(|w| {
            (
                format!("{}/{}/{}", w.namespace, w.kind, w.name),
                w.containers
                    .iter()
                    .map(|c| {
                        format!(
                            "{}:{:?}:{}/{}:{}:{}:{:?}:{}",
                            c.container,
                            c.container_type,
                            c.running_pods,
                            c.pods,
                            c.digest
                                .as_ref()
                                .map_or("-".to_owned(), |d| d.short().to_owned()),
                            c.platform.as_ref().map_or("-", |p| p.architecture.as_str()),
                            c.state,
                            c.pull_secrets
                                .iter()
                                .map(|s| s.name.as_str())
                                .collect::<Vec<_>>()
                                .join("+"),
                        )
                    })
                    .collect(),
            )
        })
        .collect();
    let expected: Vec<(&str, Vec<&str>)> = vec![
        (
            "batch/CronJob/backup",
            vec![
                "init:Init:0/1:-:amd64:PendingResolution:pod-secret",
                "app:Regular:1/1:222222222222:amd64:Running:pod-secret",
            ],
        ),
        (
            "batch/Pod/bad",
            vec![
                "init:Init:0/1:-:-:PendingResolution:pod-secret",
                "app:Regular:1/1:-:-:Running:pod-secret",
            ],
        ),
        (
            "batch/Pod/loner",
            vec![
                "init:Init:0/1:-:-:PendingResolution:pod-secret",
                "app:Regular:0/1:-:-:PendingResolution:pod-secret",
            ],
        ),
        (
            "batch/Rollout/canary",
            vec![
                "init:Init:0/1:-:amd64:PendingResolution:pod-secret",
                "app:Regular:1/1:222222222222:amd64:Running:pod-secret",
            ],
        ),
        (
            "web/Deployment/web",
            vec![
                "init:Init:0/2:-:amd64:PendingResolution:pod-secret+sa-secret",
                "init:Init:0/1:-:arm64:PendingResolution:pod-secret+sa-secret",
                "app:Regular:2/2:111111111111:amd64:Running:pod-secret+sa-secret",
                "app:Regular:1/1:111111111111:arm64:Running:pod-secret+sa-secret",
            ],
        ),
    ];
    let expected: Vec<(String, Vec<String>)> = expected
        .into_iter()
        .map(|(w, c)| (w.to_owned(), c.into_iter().map(str::to_owned).collect()))
        .collect();
    assert_eq!(got, expected);

    let deployment = &inventory.workloads[4];
    assert_eq!(
        deployment.labels.get("app").map(String::as_str),
        Some("web")
    );
    assert!(deployment.created.is_some());
    let app = &deployment.containers[2];
    assert_eq!(
        app.pod, "web-5d4-a",
        "the representative pod is the smallest name"
    );
    assert_eq!(
        app.normalized_ref.as_deref(),
        Some("docker.io/library/nginx:1.25")
    );
    assert_eq!(app.digest_kind, Some(DigestKind::Manifest));
    let crd = &inventory.workloads[3].containers[1];
    assert_eq!(
        crd.digest_kind,
        Some(DigestKind::ImageId),
        "docker:// is an image ID"
    );

    let codes: Vec<(&str, &str)> = inventory
        .diagnostics
        .iter()
        .map(|d| (d.code.as_str(), d.object.as_str()))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("bad-image-id", "Pod batch/bad"),
            ("bad-image-reference", "Pod batch/bad"),
            ("unknown-node", "Pod batch/bad")
        ]
    );
    let names: Vec<&str> = inventory
        .namespaces
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(names, ["batch", "web"]);
}

fn images(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .map(|c| match c {
            Change::Appeared { key, record } => format!(
                "appeared {} {} {}",
                key.workload.name,
                &key.digest.hex()[..4],
                record.running
            ),
            Change::RunningAgain { key, .. } => format!(
                "running-again {} {}",
                key.workload.name,
                &key.digest.hex()[..4]
            ),
            Change::NoLongerRunning { key, .. } => {
                format!("gone {} {}", key.workload.name, &key.digest.hex()[..4])
            }
            Change::TagDrift {
                workload,
                image_ref,
                previous,
                current,
                ..
            } => {
                format!(
                    "drift {} {image_ref} {}->{}",
                    workload.name,
                    &previous.hex()[..4],
                    &current.hex()[..4]
                )
            }
            Change::ClusterStatus { status, .. } => format!(
                "status {}",
                serde_json::to_value(status).expect("json")["state"]
            ),
        })
        .collect()
}

#[test]
fn state_over_snapshots() {
    let id = |d: &str| format!("docker-pullable://nginx@{d}");
    let web = |name: &str, d: &str| {
        pod(
            "web",
            name,
            Some(("ReplicaSet", "web-5d4")),
            "nginx:1.25",
            Some(&id(d)),
            Some("node-a"),
        )
    };
    // (pods in the snapshot, status, expected changes)
    let steps: Vec<(Vec<Value>, ClusterStatus, Vec<&str>)> = vec![
        (
            vec![web("a", D1), web("b", D1)],
            ClusterStatus::Ok,
            vec!["status \"ok\"", "appeared web 1111 true"],
        ),
        (vec![web("a", D1)], ClusterStatus::Ok, vec![]),
        // Rollout: the same tag now resolves to D2.
        (
            vec![web("a", D1), web("c", D2)],
            ClusterStatus::Ok,
            vec!["drift web nginx:1.25 1111->2222", "appeared web 2222 true"],
        ),
        (vec![web("c", D2)], ClusterStatus::Ok, vec!["gone web 1111"]),
        // Pods unknown: nothing is declared gone.
        (
            vec![],
            ClusterStatus::Unreachable {
                reason: "no answer".into(),
            },
            vec!["status \"unreachable\""],
        ),
        (
            vec![],
            ClusterStatus::Degraded {
                reasons: vec!["list pods: forbidden (403)".into()],
                incomplete: vec!["pods".into()],
            },
            vec!["status \"degraded\""],
        ),
        (
            vec![web("a", D1)],
            ClusterStatus::Ok,
            vec!["status \"ok\"", "running-again web 1111", "gone web 2222"],
        ),
        (vec![], ClusterStatus::Ok, vec!["gone web 1111"]),
    ];
    let mut state = InventoryState::new();
    for (i, (pods, status, expected)) in steps.into_iter().enumerate() {
        let snapshot = k8s::assemble("test", &store_with(&pods), status, at(i as i64 * 60));
        let changes = state.apply(&snapshot);
        assert_eq!(images(&changes), expected, "step {i}");
    }
    // History is kept: both digests are still there, neither running, first_seen unchanged.
    let records: Vec<(String, bool, OffsetDateTime)> = state
        .images()
        .map(|(k, r)| (k.digest.hex()[..4].to_owned(), r.running, r.first_seen))
        .collect();
    assert_eq!(
        records,
        vec![
            ("1111".into(), false, at(0)),
            ("2222".into(), false, at(120))
        ]
    );
}

/// `touch` stands for a snapshot equal to the last one: the images it held
/// are seen again, an image already gone keeps its `last_seen`, and what a
/// later snapshot declares gone carries the touched time.
#[test]
fn touch_is_an_unchanged_snapshot() {
    let id = |d: &str| format!("docker-pullable://nginx@{d}");
    let web = |name: &str, d: &str| {
        pod(
            "web",
            name,
            None,
            "nginx:1.25",
            Some(&id(d)),
            Some("node-a"),
        )
    };
    let last_seen = |state: &InventoryState| -> Vec<(String, i64)> {
        state
            .images()
            .map(|(k, r)| {
                (
                    format!("{} {}", k.workload.name, &k.digest.hex()[..4]),
                    (r.last_seen - at(0)).whole_seconds(),
                )
            })
            .collect()
    };
    let snapshot = |pods: &[Value], status: ClusterStatus, t: i64| {
        k8s::assemble("test", &store_with(pods), status, at(t))
    };
    let mut state = InventoryState::new();
    // Before any complete snapshot there is nothing to touch.
    state.touch("test", at(5));
    assert_eq!(last_seen(&state), []);
    state.apply(&snapshot(
        &[web("a", D1), web("b", D2)],
        ClusterStatus::Ok,
        0,
    ));
    state.apply(&snapshot(&[web("a", D1)], ClusterStatus::Ok, 60));
    state.touch("test", at(120));
    state.touch("other-cluster", at(130));
    assert_eq!(
        last_seen(&state),
        [("a 1111".to_owned(), 120), ("b 2222".to_owned(), 0)]
    );
    // After an incomplete snapshot there is nothing to touch: the images
    // keep the time they were last seen in a complete one.
    state.apply(&snapshot(
        &[],
        ClusterStatus::Unreachable {
            reason: "no answer".into(),
        },
        150,
    ));
    state.touch("test", at(180));
    let changes = state.apply(&snapshot(&[], ClusterStatus::Ok, 240));
    assert_eq!(images(&changes), ["status \"ok\"", "gone a 1111"]);
    let gone_at = changes.iter().find_map(|c| match c {
        Change::NoLongerRunning { last_seen, .. } => Some(*last_seen),
        _ => None,
    });
    assert_eq!(gone_at, Some(at(120)));
}

/// Tag drift is found whichever way the old and new digests sort, and
/// another workload's or container's digests never count as "previous".
#[test]
fn drift_in_both_digest_orders() {
    let d3 = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
    let id = |d: &str| format!("docker-pullable://nginx@{d}");
    let bare = |name: &str, d: &str| {
        pod(
            "web",
            name,
            None,
            "nginx:1.25",
            Some(&id(d)),
            Some("node-a"),
        )
    };
    // (first digest of pod "a", then its new digest, expected changes of the second snapshot)
    let cases = [
        (
            D1,
            D2,
            vec![
                "drift a nginx:1.25 1111->2222",
                "appeared a 2222 true",
                "gone a 1111",
            ],
        ),
        (
            D2,
            D1,
            vec![
                "drift a nginx:1.25 2222->1111",
                "appeared a 1111 true",
                "gone a 2222",
            ],
        ),
    ];
    for (old, new, expected) in cases {
        let mut state = InventoryState::new();
        // Neighbours in key order: pod "b" runs the third digest all along.
        let first = k8s::assemble(
            "test",
            &store_with(&[bare("a", old), bare("b", d3)]),
            ClusterStatus::Ok,
            at(0),
        );
        state.apply(&first);
        let second = k8s::assemble(
            "test",
            &store_with(&[bare("a", new), bare("b", d3)]),
            ClusterStatus::Ok,
            at(60),
        );
        assert_eq!(images(&state.apply(&second)), expected, "{old} -> {new}");
    }
}

/// The platform comes from the pod's node or is recorded as unknown (None)
/// with the reason, never guessed.
#[test]
fn platform_from_the_node_or_unknown() {
    let id = format!("docker-pullable://nginx@{D1}");
    // (pod's node, expected architecture, expected diagnostic)
    let cases: [(Option<&str>, Option<&str>, Option<&str>); 5] = [
        (Some("node-a"), Some("amd64"), None),
        (Some("node-b"), Some("arm64"), None),
        (Some("node-bare"), None, Some("node-without-platform")),
        (Some("node-gone"), None, Some("unknown-node")),
        (None, None, None),
    ];
    for (node, arch, code) in cases {
        let mut store = store_with(&[pod("web", "p", None, "nginx:1.25", Some(&id), node)]);
        let bare: NodeObject =
            serde_json::from_value(json!({"metadata": {"name": "node-bare"}, "status": {}}))
                .expect("node json");
        store.nodes.apply(Event::Apply(node_record(bare)));
        let inventory = k8s::assemble("test", &store, ClusterStatus::Ok, at(0));
        let container = &inventory.workloads[0].containers[0];
        assert_eq!(
            container.platform.as_ref().map(|p| p.architecture.as_str()),
            arch,
            "{node:?}"
        );
        assert_eq!(
            container.platform.as_ref().map(|p| p.os.as_str()),
            arch.map(|_| "linux"),
            "{node:?}"
        );
        let codes: Vec<&str> = inventory
            .diagnostics
            .iter()
            .map(|d| d.code.as_str())
            .collect();
        assert_eq!(codes, code.into_iter().collect::<Vec<_>>(), "{node:?}");
    }
}

fn golden_messages() -> (AgentMessage, AgentMessage) {
    let pods = vec![pod(
        "web",
        "web-5d4-a",
        Some(("ReplicaSet", "web-5d4")),
        "nginx:1.25",
        Some(&format!("docker-pullable://nginx@{D1}")),
        Some("node-b"),
    )];
    let inventory = k8s::assemble("prod-eu", &store_with(&pods), ClusterStatus::Ok, at(0));
    let mut state = InventoryState::new();
    state.apply(&inventory);
    let snapshot = AgentMessage {
        version: wire::PROTOCOL_VERSION,
        cluster: "prod-eu".into(),
        run: "7f3a9c0e5b2d4e61a8c4f0b9d2e7a13c".into(),
        sequence: 1,
        body: MessageBody::Snapshot(Snapshot { inventory }),
    };
    let later = k8s::assemble("prod-eu", &store_with(&[]), ClusterStatus::Ok, at(60));
    let delta = AgentMessage {
        version: wire::PROTOCOL_VERSION,
        cluster: "prod-eu".into(),
        run: "7f3a9c0e5b2d4e61a8c4f0b9d2e7a13c".into(),
        sequence: 2,
        body: MessageBody::Delta(Delta {
            follows: 1,
            changes: state.apply(&later),
        }),
    };
    (snapshot, delta)
}

#[test]
fn wire_golden_and_round_trip() {
    let (snapshot, delta) = golden_messages();
    insta::assert_json_snapshot!("snapshot_message", snapshot);
    insta::assert_json_snapshot!("delta_message", delta);
    for message in [snapshot, delta] {
        let bytes = serde_json::to_vec(&message).expect("serialize");
        assert_eq!(wire::decode(&bytes).expect("decode"), message);
    }
}

#[test]
fn wire_rejects_other_versions_and_garbage() {
    let cases: Vec<(&[u8], &str)> = vec![
        (
            br#"{"version":2,"cluster":"c","sequence":1,"type":"delta","follows":0,"changes":[]}"#,
            "version 2 is not supported",
        ),
        (br#"{"cluster":"c"}"#, "malformed"),
        (b"\xff\x00", "malformed"),
        (
            br#"{"version":1,"cluster":"c","run":"r","sequence":1,"type":"gossip"}"#,
            "malformed",
        ),
        (
            br#"{"version":1,"cluster":"c","sequence":1,"type":"delta","follows":0,"changes":[]}"#,
            "missing field `run`",
        ),
        (
            br#"{"version":1,"cluster":"c","run":"","sequence":1,"type":"delta","follows":0,"changes":[]}"#,
            "the run id must be",
        ),
        (
            br#"{"version":1,"cluster":"c","run":"a b\n","sequence":1,"type":"delta","follows":0,"changes":[]}"#,
            "the run id must be",
        ),
    ];
    for (bytes, expected) in cases {
        let e = wire::decode(bytes).expect_err("must fail");
        assert!(e.to_string().contains(expected), "{e}");
    }
}

#[test]
fn sequence_checks() {
    let (snapshot, delta) = golden_messages();
    let mut gap = delta.clone();
    gap.sequence = 4;
    if let MessageBody::Delta(d) = &mut gap.body {
        d.follows = 3;
    }
    let run = snapshot.run.as_str();
    let same = |sequence| Some(wire::Applied { run, sequence });
    // A restarted agent: another run, counting from 1 again.
    let other = |sequence| {
        Some(wire::Applied {
            run: "previous-run",
            sequence,
        })
    };
    let cases = [
        (None, &snapshot, SequenceCheck::Apply),
        (None, &delta, SequenceCheck::Gap),
        (same(1), &delta, SequenceCheck::Apply),
        (same(2), &delta, SequenceCheck::Duplicate),
        (same(1), &gap, SequenceCheck::Gap),
        (same(0), &snapshot, SequenceCheck::Apply),
        (same(5), &snapshot, SequenceCheck::Duplicate),
        (other(5), &snapshot, SequenceCheck::Apply),
        (other(1), &delta, SequenceCheck::Gap),
        (other(0), &delta, SequenceCheck::Gap),
    ];
    for (last, message, expected) in cases {
        assert_eq!(
            wire::check_sequence(last, message),
            expected,
            "{last:?} {}",
            message.sequence
        );
    }
}

#[test]
fn protocol_document_shows_the_current_format() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/agent-protocol.md"
    ))
    .expect("docs/agent-protocol.md");
    let (snapshot, delta) = golden_messages();
    for message in [snapshot, delta] {
        let json = serde_json::to_string_pretty(&message).expect("json");
        assert!(
            doc.contains(&json),
            "docs/agent-protocol.md is out of date: it lacks\n{json}"
        );
    }
}
