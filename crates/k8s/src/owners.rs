//! Owner resolution: from a pod up its controller ownerReferences to the top
//! workload (Pod → ReplicaSet → Deployment, Pod → Job → CronJob, …).
//!
//! Only the *controller* reference is followed (`controller: true`): other
//! owner references are garbage-collection links, not "who made this pod".
//! Chains are bounded ([`MAX_OWNER_DEPTH`]) and cycles are detected, so a
//! hostile object graph yields a diagnostic, never a loop.

use std::collections::HashMap;

use time::OffsetDateTime;

use crate::types::{Diagnostic, Labels, WorkloadKind};

/// Real chains are two links long (Pod → ReplicaSet → Deployment); operators
/// add one or two.
pub const MAX_OWNER_DEPTH: usize = 8;

/// An ownerReference as written on an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRef {
    pub kind: String,
    pub name: String,
    pub uid: String,
}

/// What the collector keeps of an owner object (ReplicaSet, Deployment, Job, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerMeta {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub labels: Labels,
    pub created: Option<OffsetDateTime>,
    /// Its own controller reference, if any.
    pub controller: Option<OwnerRef>,
}

/// Owners by uid.
pub type OwnerIndex = HashMap<String, OwnerMeta>;

/// Finds an owner object by uid.
pub trait OwnerLookup {
    fn owner(&self, uid: &str) -> Option<&OwnerMeta>;
}

impl OwnerLookup for OwnerIndex {
    fn owner(&self, uid: &str) -> Option<&OwnerMeta> {
        self.get(uid)
    }
}

/// The top of an owner chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopOwner {
    pub kind: WorkloadKind,
    pub name: String,
    pub uid: String,
    pub labels: Labels,
    pub created: Option<OffsetDateTime>,
}

/// The kinds the collector watches: a reference to one of these that is not
/// in the index points at a deleted (dangling) owner. Other kinds (custom
/// resources) are not watched, so their absence says nothing.
fn is_watched_kind(kind: &str) -> bool {
    matches!(
        kind,
        "ReplicaSet"
            | "Deployment"
            | "StatefulSet"
            | "DaemonSet"
            | "Job"
            | "CronJob"
            | "ReplicationController"
    )
}

/// Resolves the top workload of a pod. `pod` is the pod itself as an
/// [`OwnerMeta`] (kind `Pod`); `object` names it in diagnostics.
pub fn resolve_top_owner(
    pod: &OwnerMeta,
    owners: &impl OwnerLookup,
    diagnostics: &mut Vec<Diagnostic>,
) -> TopOwner {
    let object = format!("Pod {}/{}", pod.namespace, pod.name);
    let mut current = pod;
    let mut visited: Vec<&str> = vec![pod.uid.as_str()];
    for _ in 0..MAX_OWNER_DEPTH {
        let Some(reference) = &current.controller else {
            return top_of(current);
        };
        if visited.contains(&reference.uid.as_str()) {
            diagnostics.push(Diagnostic::new(
                "owner-cycle",
                &object,
                format!(
                    "owner chain loops back to {} {} (uid {}); stopped at {} {}",
                    reference.kind, reference.name, reference.uid, current.kind, current.name
                ),
            ));
            return top_of(current);
        }
        match owners.owner(&reference.uid) {
            Some(owner) if owner.namespace == pod.namespace => {
                visited.push(&owner.uid);
                current = owner;
            }
            _ => {
                if is_watched_kind(&reference.kind) {
                    diagnostics.push(Diagnostic::new(
                        "dangling-owner",
                        &object,
                        format!(
                            "owner {} {} (uid {}) does not exist; kept as written",
                            reference.kind, reference.name, reference.uid
                        ),
                    ));
                }
                return TopOwner {
                    kind: WorkloadKind::from_kind(&reference.kind),
                    name: reference.name.clone(),
                    uid: reference.uid.clone(),
                    labels: Labels::default(),
                    created: None,
                };
            }
        }
    }
    diagnostics.push(Diagnostic::new(
        "owner-chain-too-deep",
        &object,
        format!(
            "owner chain longer than {MAX_OWNER_DEPTH} links; stopped at {} {}",
            current.kind, current.name
        ),
    ));
    top_of(current)
}

fn top_of(meta: &OwnerMeta) -> TopOwner {
    TopOwner {
        kind: WorkloadKind::from_kind(&meta.kind),
        name: meta.name.clone(),
        uid: meta.uid.clone(),
        labels: meta.labels.clone(),
        created: meta.created,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(kind: &str, name: &str, owner: Option<(&str, &str)>) -> OwnerMeta {
        OwnerMeta {
            kind: kind.into(),
            namespace: "ns".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            labels: Labels::new(crate::types::LabelMap::from([(
                "app".to_owned(),
                name.to_owned(),
            )])),
            created: None,
            controller: owner.map(|(kind, name)| OwnerRef {
                kind: kind.into(),
                name: name.into(),
                uid: format!("uid-{name}"),
            }),
        }
    }

    #[test]
    fn chains() {
        // (owners in the index, the pod's controller, expected (kind, name), expected diagnostic code)
        type Case = (
            Vec<OwnerMeta>,
            Option<(&'static str, &'static str)>,
            (&'static str, &'static str),
            Option<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (vec![], None, ("Pod", "p"), None),
            (
                vec![
                    meta("ReplicaSet", "web-5d4", Some(("Deployment", "web"))),
                    meta("Deployment", "web", None),
                ],
                Some(("ReplicaSet", "web-5d4")),
                ("Deployment", "web"),
                None,
            ),
            (
                vec![meta("ReplicaSet", "lonely", None)],
                Some(("ReplicaSet", "lonely")),
                ("ReplicaSet", "lonely"),
                None,
            ),
            (
                vec![
                    meta("Job", "backup-123", Some(("CronJob", "backup"))),
                    meta("CronJob", "backup", None),
                ],
                Some(("Job", "backup-123")),
                ("CronJob", "backup"),
                None,
            ),
            (
                vec![meta("StatefulSet", "db", None)],
                Some(("StatefulSet", "db")),
                ("StatefulSet", "db"),
                None,
            ),
            (
                vec![meta("DaemonSet", "agent", None)],
                Some(("DaemonSet", "agent")),
                ("DaemonSet", "agent"),
                None,
            ),
            (
                vec![meta("ReplicationController", "old", None)],
                Some(("ReplicationController", "old")),
                ("ReplicationController", "old"),
                None,
            ),
            // A CRD operator's pod: the owner kind is kept as written, no diagnostic.
            (
                vec![],
                Some(("Rollout", "canary")),
                ("Rollout", "canary"),
                None,
            ),
            // A deleted ReplicaSet: kept as written, diagnosed.
            (
                vec![],
                Some(("ReplicaSet", "gone")),
                ("ReplicaSet", "gone"),
                Some("dangling-owner"),
            ),
            // ReplicaSet whose Deployment is gone.
            (
                vec![meta("ReplicaSet", "orphan", Some(("Deployment", "gone")))],
                Some(("ReplicaSet", "orphan")),
                ("Deployment", "gone"),
                Some("dangling-owner"),
            ),
            // a → b → a
            (
                vec![
                    meta("ReplicaSet", "a", Some(("Deployment", "b"))),
                    meta("Deployment", "b", Some(("ReplicaSet", "a"))),
                ],
                Some(("ReplicaSet", "a")),
                ("Deployment", "b"),
                Some("owner-cycle"),
            ),
            // Self-owned object.
            (
                vec![meta("ReplicaSet", "self", Some(("ReplicaSet", "self")))],
                Some(("ReplicaSet", "self")),
                ("ReplicaSet", "self"),
                Some("owner-cycle"),
            ),
            // The pod owning itself.
            (
                vec![],
                Some(("Pod", "p")),
                ("Pod", "p"),
                Some("owner-cycle"),
            ),
        ];
        for (owners, controller, (kind, name), diagnostic) in cases {
            let index: OwnerIndex = owners.into_iter().map(|o| (o.uid.clone(), o)).collect();
            let pod = meta("Pod", "p", controller);
            let mut diagnostics = Vec::new();
            let top = resolve_top_owner(&pod, &index, &mut diagnostics);
            assert_eq!(
                (top.kind.as_str(), top.name.as_str()),
                (kind, name),
                "{controller:?}"
            );
            assert_eq!(
                diagnostics.first().map(|d| d.code.as_str()),
                diagnostic,
                "{controller:?}: {diagnostics:?}"
            );
        }
    }

    #[test]
    fn long_chains_stop() {
        let mut index = OwnerIndex::new();
        for i in 0..20 {
            let next = format!("o{}", i + 1);
            let o = meta("Other", &format!("o{i}"), Some(("Other", next.as_str())));
            index.insert(o.uid.clone(), o);
        }
        let pod = meta("Pod", "p", Some(("Other", "o0")));
        let mut diagnostics = Vec::new();
        let top = resolve_top_owner(&pod, &index, &mut diagnostics);
        assert_eq!(top.name, format!("o{}", MAX_OWNER_DEPTH - 1));
        assert_eq!(diagnostics[0].code, "owner-chain-too-deep");
    }

    #[test]
    fn owners_in_another_namespace_are_not_followed() {
        let mut rs = meta("ReplicaSet", "rs", Some(("Deployment", "d")));
        rs.namespace = "other".into();
        let index = OwnerIndex::from([(rs.uid.clone(), rs)]);
        let pod = meta("Pod", "p", Some(("ReplicaSet", "rs")));
        let mut diagnostics = Vec::new();
        let top = resolve_top_owner(&pod, &index, &mut diagnostics);
        assert_eq!(
            (top.kind, top.name.as_str()),
            (WorkloadKind::ReplicaSet, "rs")
        );
        assert_eq!(diagnostics[0].code, "dangling-owner");
    }
}
