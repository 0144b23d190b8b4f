//! Inventory writes: snapshots, agent messages (deltas), and the scan
//! targets they create.

use std::collections::HashMap;

use k8s::state::{Change, ImageKey};
use k8s::wire::{
    AgentMessage, Applied, IngestResponse, MessageBody, SequenceCheck, check_sequence,
};
use k8s::{ClusterInventory, ClusterStatus, ContainerImage, DigestKind, LabelMap, WorkloadKey};
use model::Digest;
use sqlx::{Row, SqliteConnection};
use time::OffsetDateTime;

use super::{platform_text, ts};
use crate::{ClusterRecord, InventorySource, Result, SnapshotOutcome, StoreError};

fn source_text(source: InventorySource) -> &'static str {
    match source {
        InventorySource::Agent => "agent",
        InventorySource::Local => "local",
    }
}

fn status_json(status: &ClusterStatus) -> Result<String> {
    serde_json::to_string(status).map_err(|e| StoreError::Encode {
        what: "cluster status",
        message: e.to_string(),
    })
}

/// A normalised reference split into repository, tag and digest:
/// `docker.io/library/nginx:1.25@sha256:…` → (`docker.io/library/nginx`,
/// `1.25`, the digest). The tag's colon is the one after the last `/` (a
/// registry port has a colon too).
pub(crate) fn split_reference(reference: &str) -> (String, Option<String>, Option<Digest>) {
    let (name, digest) = match reference.split_once('@') {
        Some((name, digest)) => (name, digest.parse().ok()),
        None => (reference, None),
    };
    let last_segment = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_segment..].find(':') {
        Some(colon) => {
            let colon = last_segment + colon;
            (
                name[..colon].to_owned(),
                Some(name[colon + 1..].to_owned()),
                digest,
            )
        }
        None => (name.to_owned(), None, digest),
    }
}

/// How a container is scanned: (repository, kind, reference, expected config).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TargetKey {
    repository: String,
    kind: &'static str,
    reference: String,
    expected_config: String,
    platform: String,
}

/// The target of a container, or `None` when it cannot be pulled yet
/// (pending resolution, an unparseable reference, an image ID with neither
/// a tag nor a digest in the spec).
fn target_key(
    normalized_ref: Option<&str>,
    digest: Option<&Digest>,
    kind: Option<DigestKind>,
    platform: &str,
) -> Option<TargetKey> {
    let digest = digest?;
    let (repository, tag, ref_digest) = split_reference(normalized_ref?);
    let (kind, reference, expected_config) = match kind.unwrap_or(DigestKind::Manifest) {
        DigestKind::Manifest => ("digest", digest.to_string(), String::new()),
        // A local image ID cannot be pulled by: pull what the spec names
        // (its digest if pinned, else its tag) and check the config.
        DigestKind::ImageId => match (ref_digest, tag) {
            (Some(pinned), _) => ("digest", pinned.to_string(), String::new()),
            (None, Some(tag)) => ("tag", tag, digest.to_string()),
            (None, None) => return None,
        },
    };
    Some(TargetKey {
        repository,
        kind,
        reference,
        expected_config,
        platform: platform.to_owned(),
    })
}

/// Target ids (and the image each resolved to) met during one write.
#[derive(Default)]
struct TargetCache {
    targets: HashMap<TargetKey, (i64, Option<i64>)>,
    created: u64,
}

impl TargetCache {
    async fn get_or_create(
        &mut self,
        conn: &mut SqliteConnection,
        key: TargetKey,
        now: i64,
    ) -> Result<(i64, Option<i64>)> {
        if let Some(found) = self.targets.get(&key) {
            return Ok(*found);
        }
        let existing = sqlx::query(
            "SELECT id, image_id FROM scan_target WHERE repository = $1 AND reference_kind = $2 \
             AND reference = $3 AND expected_config = $4 AND platform = $5",
        )
        .bind(&key.repository)
        .bind(key.kind)
        .bind(&key.reference)
        .bind(&key.expected_config)
        .bind(&key.platform)
        .fetch_optional(&mut *conn)
        .await?;
        let found = match existing {
            Some(row) => (row.try_get(0)?, row.try_get(1)?),
            None => {
                // A digest target whose image is already stored (another
                // platform's index entry, another repository's copy) still
                // needs its own scan: the platform decides the image.
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO scan_target (repository, reference_kind, reference, expected_config, \
                     platform, status, attempts, created, updated) \
                     VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6) RETURNING id",
                )
                .bind(&key.repository)
                .bind(key.kind)
                .bind(&key.reference)
                .bind(&key.expected_config)
                .bind(&key.platform)
                .bind(now)
                .fetch_one(&mut *conn)
                .await?;
                self.created += 1;
                (id, None)
            }
        };
        self.targets.insert(key, found);
        Ok(found)
    }
}

async fn upsert_cluster(
    conn: &mut SqliteConnection,
    name: &str,
    source: InventorySource,
    status: &ClusterStatus,
    now: i64,
    new_generation: bool,
) -> Result<(i64, i64)> {
    let row = sqlx::query(
        "INSERT INTO cluster (name, source, status, generation, last_seen) VALUES ($1, $2, $3, 1, $4) \
         ON CONFLICT (name) DO UPDATE SET source = excluded.source, status = excluded.status, \
         generation = cluster.generation + $5, last_seen = excluded.last_seen \
         RETURNING id, generation",
    )
    .bind(name)
    .bind(source_text(source))
    .bind(status_json(status)?)
    .bind(now)
    .bind(i64::from(new_generation))
    .fetch_one(&mut *conn)
    .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

async fn replace_labels(
    conn: &mut SqliteConnection,
    table: &'static str,
    owner_column: &'static str,
    owner: i64,
    labels: &LabelMap,
) -> Result<()> {
    // Compare first: most snapshots change no labels, and a read is cheaper
    // than rewriting the rows.
    let stored: Vec<(String, String)> = sqlx::query_as(sql_text!(
        "SELECT key, value FROM {table} WHERE {owner_column} = $1 ORDER BY key"
    ))
    .bind(owner)
    .fetch_all(&mut *conn)
    .await?;
    if stored.len() == labels.len()
        && stored
            .iter()
            .zip(labels.iter())
            .all(|((k, v), (lk, lv))| k == lk && v == lv)
    {
        return Ok(());
    }
    sqlx::query(sql_text!("DELETE FROM {table} WHERE {owner_column} = $1"))
        .bind(owner)
        .execute(&mut *conn)
        .await?;
    for (key, value) in labels {
        sqlx::query(sql_text!(
            "INSERT INTO {table} ({owner_column}, key, value) VALUES ($1, $2, $3)"
        ))
        .bind(owner)
        .bind(key)
        .bind(value)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn upsert_workload(
    conn: &mut SqliteConnection,
    cluster_id: i64,
    key: &WorkloadKey,
    uid: Option<&str>,
    created: Option<OffsetDateTime>,
    seen: i64,
) -> Result<i64> {
    // A delta names a workload only by key: keep what a snapshot wrote.
    let id = sqlx::query_scalar(
        "INSERT INTO workload (cluster_id, namespace, kind, name, uid, created, first_seen, last_seen) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
         ON CONFLICT (cluster_id, namespace, kind, name) DO UPDATE SET \
         uid = CASE WHEN excluded.uid = '' THEN workload.uid ELSE excluded.uid END, \
         created = COALESCE(excluded.created, workload.created), \
         last_seen = CASE WHEN excluded.last_seen > workload.last_seen THEN excluded.last_seen ELSE workload.last_seen END \
         RETURNING id",
    )
    .bind(cluster_id)
    .bind(&key.namespace)
    .bind(key.kind.as_str())
    .bind(&key.name)
    .bind(uid.unwrap_or(""))
    .bind(created.map(ts))
    .bind(seen)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

fn state_text(state: k8s::ContainerState) -> &'static str {
    match state {
        k8s::ContainerState::Running => "running",
        k8s::ContainerState::PendingResolution => "pending-resolution",
        k8s::ContainerState::Waiting => "waiting",
        k8s::ContainerState::Terminated => "terminated",
    }
}

pub(crate) fn parse_state(text: &str) -> Result<k8s::ContainerState> {
    Ok(match text {
        "running" => k8s::ContainerState::Running,
        "pending-resolution" => k8s::ContainerState::PendingResolution,
        "waiting" => k8s::ContainerState::Waiting,
        "terminated" => k8s::ContainerState::Terminated,
        other => return Err(StoreError::decode("container state", other)),
    })
}

pub(crate) fn container_type_text(t: k8s::ContainerType) -> &'static str {
    match t {
        k8s::ContainerType::Init => "init",
        k8s::ContainerType::Regular => "regular",
        k8s::ContainerType::Ephemeral => "ephemeral",
    }
}

pub(crate) fn parse_container_type(text: &str) -> Result<k8s::ContainerType> {
    Ok(match text {
        "init" => k8s::ContainerType::Init,
        "regular" => k8s::ContainerType::Regular,
        "ephemeral" => k8s::ContainerType::Ephemeral,
        other => return Err(StoreError::decode("container type", other)),
    })
}

fn digest_kind_text(kind: DigestKind) -> &'static str {
    match kind {
        DigestKind::Manifest => "manifest",
        DigestKind::ImageId => "image_id",
    }
}

async fn record_tag(
    conn: &mut SqliteConnection,
    image_id: i64,
    tag: &str,
    seen: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO image_tag (image_id, tag, first_seen, last_seen) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (image_id, tag) DO UPDATE SET last_seen = \
         CASE WHEN excluded.last_seen > image_tag.last_seen THEN excluded.last_seen ELSE image_tag.last_seen END",
    )
    .bind(image_id)
    .bind(tag)
    .bind(seen)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The store's half of a container's identity and its target.
#[allow(clippy::too_many_arguments)]
async fn upsert_container(
    conn: &mut SqliteConnection,
    targets: &mut TargetCache,
    cluster_id: i64,
    generation: i64,
    workload_id: i64,
    namespace: &str,
    c: &ContainerImage,
    seen: i64,
    now: i64,
) -> Result<()> {
    let platform = platform_text(c.platform.as_ref());
    let (repository, tag) = match c.normalized_ref.as_deref().map(split_reference) {
        Some((repository, tag, _)) => (Some(repository), tag),
        None => (None, None),
    };
    let target = match target_key(
        c.normalized_ref.as_deref(),
        c.digest.as_ref(),
        c.digest_kind,
        &platform,
    ) {
        Some(key) => Some(targets.get_or_create(conn, key, now).await?),
        None => None,
    };
    let pod_labels = serde_json::to_string(&*c.pod_labels).map_err(|e| StoreError::Encode {
        what: "pod labels",
        message: e.to_string(),
    })?;
    let pull_secrets = serde_json::to_string(&c.pull_secrets).map_err(|e| StoreError::Encode {
        what: "pull secret references",
        message: e.to_string(),
    })?;
    sqlx::query(
        "INSERT INTO container (workload_id, cluster_id, namespace, container, container_type, image_ref, \
         repository, tag, digest, digest_kind, platform, state, running, pods, running_pods, pod, node, \
         pod_labels, pull_secrets, target_id, generation, first_seen, last_seen) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $22) \
         ON CONFLICT (workload_id, container, digest, platform) DO UPDATE SET \
         container_type = excluded.container_type, image_ref = excluded.image_ref, \
         repository = excluded.repository, tag = excluded.tag, digest_kind = excluded.digest_kind, \
         state = excluded.state, running = excluded.running, pods = excluded.pods, \
         running_pods = excluded.running_pods, pod = excluded.pod, node = excluded.node, \
         pod_labels = excluded.pod_labels, pull_secrets = excluded.pull_secrets, \
         target_id = excluded.target_id, generation = excluded.generation, \
         last_seen = CASE WHEN excluded.last_seen > container.last_seen THEN excluded.last_seen ELSE container.last_seen END",
    )
    .bind(workload_id)
    .bind(cluster_id)
    .bind(namespace)
    .bind(&c.container)
    .bind(container_type_text(c.container_type))
    .bind(&c.image_ref)
    .bind(&repository)
    .bind(&tag)
    .bind(c.digest.as_ref().map(Digest::to_string).unwrap_or_default())
    .bind(c.digest_kind.map(digest_kind_text))
    .bind(&platform)
    .bind(state_text(c.state))
    .bind(c.running)
    .bind(i64::from(c.pods))
    .bind(i64::from(c.running_pods))
    .bind(&c.pod)
    .bind(&c.node)
    .bind(pod_labels)
    .bind(pull_secrets)
    .bind(target.map(|(id, _)| id))
    .bind(generation)
    .bind(seen)
    .execute(&mut *conn)
    .await?;
    if let (Some((_, Some(image_id))), Some(tag)) = (target, tag.as_deref()) {
        record_tag(conn, image_id, tag, seen).await?;
    }
    Ok(())
}

/// Applies a snapshot inside the caller's transaction.
pub(crate) async fn apply_snapshot(
    conn: &mut SqliteConnection,
    inventory: &ClusterInventory,
    source: InventorySource,
    now: OffsetDateTime,
) -> Result<SnapshotOutcome> {
    let now = ts(now);
    let seen = ts(inventory.collected_at);
    let (cluster_id, generation) = upsert_cluster(
        conn,
        &inventory.cluster,
        source,
        &inventory.status,
        now,
        true,
    )
    .await?;
    for namespace in &inventory.namespaces {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO namespace (cluster_id, name, last_seen) VALUES ($1, $2, $3) \
             ON CONFLICT (cluster_id, name) DO UPDATE SET last_seen = excluded.last_seen RETURNING id",
        )
        .bind(cluster_id)
        .bind(&namespace.name)
        .bind(seen)
        .fetch_one(&mut *conn)
        .await?;
        replace_labels(
            conn,
            "namespace_label",
            "namespace_id",
            id,
            &namespace.labels,
        )
        .await?;
    }
    let mut outcome = SnapshotOutcome::default();
    let mut targets = TargetCache::default();
    for workload in &inventory.workloads {
        let workload_id = upsert_workload(
            conn,
            cluster_id,
            &workload.key(),
            Some(&workload.uid),
            workload.created,
            seen,
        )
        .await?;
        replace_labels(
            conn,
            "workload_label",
            "workload_id",
            workload_id,
            &workload.labels,
        )
        .await?;
        outcome.workloads += 1;
        for container in &workload.containers {
            upsert_container(
                conn,
                &mut targets,
                cluster_id,
                generation,
                workload_id,
                &workload.namespace,
                container,
                seen,
                now,
            )
            .await?;
            outcome.containers += 1;
        }
    }
    if inventory.status.pods_complete() {
        outcome.stopped = sqlx::query(
            "UPDATE container SET running = FALSE, running_pods = 0, \
             state = CASE WHEN state = 'running' THEN 'terminated' ELSE state END \
             WHERE cluster_id = $1 AND running = TRUE AND generation <> $2",
        )
        .bind(cluster_id)
        .bind(generation)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    outcome.new_targets = targets.created;
    Ok(outcome)
}

/// The cluster's last applied agent run and sequence (`None`: never applied one).
async fn last_applied(conn: &mut SqliteConnection, cluster: &str) -> Result<Option<(String, u64)>> {
    let stored: Option<(Option<String>, Option<i64>)> =
        sqlx::query_as("SELECT agent_run, last_sequence FROM cluster WHERE name = $1")
            .bind(cluster)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(match stored {
        Some((Some(run), Some(sequence))) => u64::try_from(sequence).ok().map(|s| (run, s)),
        _ => None,
    })
}

fn sequence_value(sequence: u64) -> Result<i64> {
    i64::try_from(sequence).map_err(|_| StoreError::invalid("agent sequence", "beyond 2^63"))
}

/// Applies an agent message inside the caller's transaction.
pub(crate) async fn apply_agent_message(
    conn: &mut SqliteConnection,
    message: &AgentMessage,
    now: OffsetDateTime,
) -> Result<IngestResponse> {
    let sequence = sequence_value(message.sequence)?;
    let stored = last_applied(conn, &message.cluster).await?;
    let applied = stored.as_ref().map(|(run, sequence)| Applied {
        run,
        sequence: *sequence,
    });
    let last = applied.filter(|a| a.run == message.run).map(|a| a.sequence);
    match check_sequence(applied, message) {
        SequenceCheck::Duplicate => {
            return Ok(IngestResponse::Accepted {
                sequence: message.sequence,
            });
        }
        SequenceCheck::Gap => {
            let reason = match last {
                None => format!(
                    "no snapshot of cluster {:?} from this agent run is stored; send a snapshot",
                    message.cluster
                ),
                Some(last) => format!(
                    "delta {} does not follow the last applied message {last}; send a snapshot",
                    message.sequence
                ),
            };
            return Ok(IngestResponse::Resnapshot { reason });
        }
        SequenceCheck::Apply => {}
    }
    match &message.body {
        MessageBody::Snapshot(snapshot) => {
            if snapshot.inventory.cluster != message.cluster {
                return Err(StoreError::invalid(
                    "agent message",
                    format!(
                        "the snapshot is of cluster {:?}, the message names {:?}",
                        snapshot.inventory.cluster, message.cluster
                    ),
                ));
            }
            apply_snapshot(conn, &snapshot.inventory, InventorySource::Agent, now).await?;
        }
        MessageBody::Delta(delta) => {
            // Last applied exists (check_sequence), so the cluster row does.
            let cluster_id: i64 = sqlx::query_scalar("SELECT id FROM cluster WHERE name = $1")
                .bind(&message.cluster)
                .fetch_one(&mut *conn)
                .await?;
            let mut targets = TargetCache::default();
            for change in &delta.changes {
                apply_change(
                    conn,
                    &mut targets,
                    cluster_id,
                    &message.cluster,
                    change,
                    now,
                )
                .await?;
            }
            sqlx::query("UPDATE cluster SET last_seen = $1 WHERE id = $2")
                .bind(ts(now))
                .bind(cluster_id)
                .execute(&mut *conn)
                .await?;
        }
    }
    sqlx::query("UPDATE cluster SET last_sequence = $1, agent_run = $2 WHERE name = $3")
        .bind(sequence)
        .bind(&message.run)
        .bind(&message.cluster)
        .execute(&mut *conn)
        .await?;
    Ok(IngestResponse::Accepted {
        sequence: message.sequence,
    })
}

fn check_key_cluster(key_cluster: &str, cluster: &str) -> Result<()> {
    if key_cluster != cluster {
        return Err(StoreError::invalid(
            "agent message",
            format!("a change names cluster {key_cluster:?} in a message of cluster {cluster:?}"),
        ));
    }
    Ok(())
}

async fn apply_change(
    conn: &mut SqliteConnection,
    targets: &mut TargetCache,
    cluster_id: i64,
    cluster: &str,
    change: &Change,
    now: OffsetDateTime,
) -> Result<()> {
    match change {
        Change::Appeared { key, record } => {
            check_key_cluster(&key.cluster, cluster)?;
            let first = ts(record.first_seen);
            let last = ts(record.last_seen);
            let workload_id =
                upsert_workload(conn, cluster_id, &key.workload, None, None, last).await?;
            // A delta does not say whether the digest is a manifest digest;
            // kubelets with containerd report manifest digests, and the next
            // snapshot corrects the kind.
            let normalized = k8s::normalize_reference(&record.image_ref)
                .ok()
                .map(|r| r.to_string());
            let generation: i64 =
                sqlx::query_scalar("SELECT generation FROM cluster WHERE id = $1")
                    .bind(cluster_id)
                    .fetch_one(&mut *conn)
                    .await?;
            let container = ContainerImage {
                pod: String::new(),
                container: key.container.clone(),
                container_type: k8s::ContainerType::Regular,
                image_ref: record.image_ref.clone(),
                normalized_ref: normalized,
                image_id: String::new(),
                digest: Some(key.digest.clone()),
                digest_kind: None,
                digest_is_index: None,
                node: None,
                platform: record.platform.clone(),
                running: record.running,
                state: if record.running {
                    k8s::ContainerState::Running
                } else {
                    k8s::ContainerState::Terminated
                },
                pods: 0,
                running_pods: 0,
                pod_labels: Default::default(),
                pull_secrets: Vec::new(),
            };
            upsert_container(
                conn,
                targets,
                cluster_id,
                generation,
                workload_id,
                &key.workload.namespace,
                &container,
                last,
                ts(now),
            )
            .await?;
            // Keep the agent's first sighting, not the server's.
            sqlx::query(
                "UPDATE container SET first_seen = $1 WHERE workload_id = $2 AND container = $3 \
                 AND digest = $4 AND platform = $5 AND first_seen > $1",
            )
            .bind(first)
            .bind(workload_id)
            .bind(&key.container)
            .bind(key.digest.to_string())
            .bind(platform_text(record.platform.as_ref()))
            .execute(&mut *conn)
            .await?;
        }
        Change::RunningAgain { key, at } => {
            check_key_cluster(&key.cluster, cluster)?;
            set_running(conn, cluster_id, key, true, ts(*at)).await?;
        }
        Change::NoLongerRunning { key, last_seen } => {
            check_key_cluster(&key.cluster, cluster)?;
            set_running(conn, cluster_id, key, false, ts(*last_seen)).await?;
        }
        // The history is in the container rows already: the old digest's
        // row keeps its last_seen, the new one arrives as `Appeared`.
        Change::TagDrift { cluster: c, .. } => check_key_cluster(c, cluster)?,
        Change::ClusterStatus {
            cluster: c, status, ..
        } => {
            check_key_cluster(c, cluster)?;
            sqlx::query("UPDATE cluster SET status = $1 WHERE id = $2")
                .bind(status_json(status)?)
                .bind(cluster_id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

async fn set_running(
    conn: &mut SqliteConnection,
    cluster_id: i64,
    key: &ImageKey,
    running: bool,
    at: i64,
) -> Result<()> {
    let workload_id = upsert_workload(conn, cluster_id, &key.workload, None, None, at).await?;
    let state = if running { "running" } else { "terminated" };
    sqlx::query(
        "UPDATE container SET running = $1, state = $2, \
         running_pods = CASE WHEN $1 THEN running_pods ELSE 0 END, \
         last_seen = CASE WHEN $3 > last_seen THEN $3 ELSE last_seen END \
         WHERE workload_id = $4 AND container = $5 AND digest = $6",
    )
    .bind(running)
    .bind(state)
    .bind(at)
    .bind(workload_id)
    .bind(&key.container)
    .bind(key.digest.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn clusters(conn: &mut SqliteConnection) -> Result<Vec<ClusterRecord>> {
    let rows = sqlx::query(
        "SELECT name, source, status, last_sequence, last_seen FROM cluster ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let source: String = row.try_get(1)?;
            let status: String = row.try_get(2)?;
            let last_sequence: Option<i64> = row.try_get(3)?;
            Ok(ClusterRecord {
                name: row.try_get(0)?,
                source: match source.as_str() {
                    "agent" => InventorySource::Agent,
                    "local" => InventorySource::Local,
                    other => return Err(StoreError::decode("cluster source", other)),
                },
                status: serde_json::from_str(&status)
                    .map_err(|e| StoreError::decode("cluster status", e))?,
                last_sequence: last_sequence.and_then(|s| u64::try_from(s).ok()),
                last_seen: super::from_ts("cluster last seen", row.try_get(4)?)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::split_reference;

    #[test]
    fn split_reference_table() {
        let digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
        let cases = [
            (
                "docker.io/library/nginx:1.25",
                ("docker.io/library/nginx", Some("1.25"), false),
            ),
            (
                "registry:5000/team/app",
                ("registry:5000/team/app", None, false),
            ),
            (
                "registry:5000/team/app:v1",
                ("registry:5000/team/app", Some("v1"), false),
            ),
        ];
        for (input, (repository, tag, has_digest)) in cases {
            let (r, t, d) = split_reference(input);
            assert_eq!(
                (r.as_str(), t.as_deref(), d.is_some()),
                (repository, tag, has_digest),
                "{input}"
            );
        }
        let pinned = format!("docker.io/library/nginx:1.25@{digest}");
        let (r, t, d) = split_reference(&pinned);
        assert_eq!(r, "docker.io/library/nginx");
        assert_eq!(t.as_deref(), Some("1.25"));
        assert_eq!(d.map(|d| d.to_string()).as_deref(), Some(digest));
    }
}
