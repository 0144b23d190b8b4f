//! Folds per-layer inventories into the image's inventory, the way an
//! overlay filesystem stacks layers.

use std::collections::{BTreeMap, HashSet};

use model::{ImageInventory, LayerInventory, OsInfo, Package, PackageKind};

type Identity<'a> = (PackageKind, &'a str, &'a str, Option<&'a str>);

/// Applies layers, bottom (index 0) to top, and returns what the final
/// filesystem holds.
///
/// - A file's final version is the one in the highest layer that has it,
///   unless a higher layer whited it out (the path or a parent directory) or
///   made a parent directory opaque. Opaque directories hide lower layers
///   only, not the layer's own content.
/// - Packages come from final file versions. Each keeps the layer that
///   introduced it: the lowest layer of the unbroken run of versions of its
///   file that all hold a package with the same [`Package::identity`]. The
///   dpkg status file is rewritten by every apt layer, yet a package keeps
///   the layer it was installed in until it is upgraded or removed.
/// - The OS is read from the highest visible os-release file, preferring
///   `etc/os-release` to `usr/lib/os-release` within one layer.
/// - Diagnostics of every layer are kept, each with its layer's diffID.
///
/// Packages are sorted by (kind, name, version, path), so the same layers
/// always give the same output.
pub fn apply_layers(layers: &[LayerInventory]) -> ImageInventory {
    let stack = Stack::new(layers);
    let mut packages = Vec::new();
    for (path, versions) in &stack.versions {
        let Some(&top) = versions.last() else {
            continue;
        };
        if stack.hidden_between(path, top, layers.len().saturating_sub(1)) {
            continue;
        }
        let Some(found) = stack.files[top].get(path) else {
            continue;
        };
        for package in &found.packages {
            let introduced = stack.introducing_layer(path, versions, package.identity());
            let mut package = (*package).clone();
            package.evidence.layer_index = u32::try_from(introduced).ok();
            package.evidence.layer_diff_id = Some(layers[introduced].diff_id.clone());
            packages.push(package);
        }
    }
    packages.sort_by(|a, b| {
        (a.kind, &a.name, &a.version, &a.evidence.path)
            .cmp(&(b.kind, &b.name, &b.version, &b.evidence.path))
            .then_with(|| a.cmp(b))
    });

    let mut diagnostics = Vec::new();
    for layer in layers {
        for diagnostic in &layer.diagnostics {
            let mut diagnostic = diagnostic.clone();
            if diagnostic.layer_diff_id.is_none() {
                diagnostic.layer_diff_id = Some(layer.diff_id.clone());
            }
            diagnostics.push(diagnostic);
        }
    }

    ImageInventory {
        os: stack.visible_os(),
        packages,
        diagnostics,
    }
}

/// What one layer's version of one file yielded.
#[derive(Default)]
struct FileVersion<'a> {
    packages: Vec<&'a Package>,
    identities: HashSet<Identity<'a>>,
}

struct Stack<'a> {
    layers: &'a [LayerInventory],
    /// Per layer: the file versions it holds, by path.
    files: Vec<BTreeMap<&'a str, FileVersion<'a>>>,
    /// Path → layers holding a version of it, ascending.
    versions: BTreeMap<&'a str, Vec<usize>>,
}

impl<'a> Stack<'a> {
    fn new(layers: &'a [LayerInventory]) -> Stack<'a> {
        let mut files = Vec::with_capacity(layers.len());
        let mut versions: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (index, layer) in layers.iter().enumerate() {
            let mut by_path: BTreeMap<&str, FileVersion<'_>> = BTreeMap::new();
            for path in &layer.analyzed_paths {
                by_path.entry(path.as_str()).or_default();
            }
            for os in &layer.os {
                by_path.entry(os.path.as_str()).or_default();
            }
            for package in &layer.packages {
                let file = file_key(layer, &package.evidence.path);
                let version = by_path.entry(file).or_default();
                version.packages.push(package);
                version.identities.insert(package.identity());
            }
            for path in by_path.keys() {
                versions.entry(path).or_default().push(index);
            }
            files.push(by_path);
        }
        Stack {
            layers,
            files,
            versions,
        }
    }

    /// Whether a layer in `lower + 1 ..= upper` removes what lower layers have
    /// at `path`: a whiteout of the path or of a parent directory, or an
    /// opaque parent directory.
    fn hidden_between(&self, path: &str, lower: usize, upper: usize) -> bool {
        let Some(range) = self.layers.get(lower + 1..=upper) else {
            return false;
        };
        range.iter().any(|layer| {
            if layer.whiteouts.is_empty() && layer.opaque_dirs.is_empty() {
                return false;
            }
            layer.whiteouts.contains(path)
                || layer.opaque_dirs.contains("")
                || ancestors(path)
                    .any(|dir| layer.whiteouts.contains(dir) || layer.opaque_dirs.contains(dir))
        })
    }

    /// Walks down from the final version of `path` while each lower version
    /// still shows the package and nothing in between removed the file.
    fn introducing_layer(&self, path: &str, versions: &[usize], identity: Identity<'_>) -> usize {
        let Some((&top, lower)) = versions.split_last() else {
            return 0;
        };
        let mut introduced = top;
        for &below in lower.iter().rev() {
            if self.hidden_between(path, below, introduced) {
                break;
            }
            let has_it = self.files[below]
                .get(path)
                .is_some_and(|v| v.identities.contains(&identity));
            if !has_it {
                break;
            }
            introduced = below;
        }
        introduced
    }

    fn visible_os(&self) -> Option<OsInfo> {
        let top = self.layers.len().saturating_sub(1);
        let mut best: Option<((usize, u8), &OsInfo)> = None;
        for (index, layer) in self.layers.iter().enumerate() {
            for os in &layer.os {
                let is_final =
                    self.versions.get(os.path.as_str()).and_then(|v| v.last()) == Some(&index);
                if !is_final || self.hidden_between(&os.path, index, top) {
                    continue;
                }
                let rank = (index, os_path_preference(&os.path));
                if best.as_ref().is_none_or(|(r, _)| rank > *r) {
                    best = Some((rank, os));
                }
            }
        }
        best.map(|(_, os)| os.clone())
    }
}

/// `etc/os-release` is what tools read first; `usr/lib/os-release` is its fallback.
fn os_path_preference(path: &str) -> u8 {
    match path {
        "etc/os-release" => 2,
        "usr/lib/os-release" => 1,
        _ => 0,
    }
}

/// The file a package came from. Archive analyzers write paths into the
/// archive (`app.jar!/lib/x.jar`); a file name may itself contain `!/`, so
/// the analysed path that the evidence starts with is preferred.
fn file_key<'a>(layer: &LayerInventory, evidence_path: &'a str) -> &'a str {
    if layer.analyzed_paths.contains(evidence_path) {
        return evidence_path;
    }
    evidence_path
        .match_indices("!/")
        .map(|(at, _)| &evidence_path[..at])
        .find(|prefix| layer.analyzed_paths.contains(*prefix))
        .unwrap_or_else(|| crate::walker::file_of_evidence(evidence_path))
}

/// Strict ancestors of a path: `a/b/c` → `a`, `a/b`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(at, _)| &path[..at])
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use model::{AnalyzerId, Diagnostic, DiffId, Digest, DigestAlgorithm, OsFamily};

    use super::*;

    fn diff_id(n: u8) -> DiffId {
        DiffId(Digest::from_raw(DigestAlgorithm::Sha256, &[n; 32]))
    }

    /// A compact layer description: `files` are (path, [(name, version)]).
    #[derive(Default, Clone)]
    struct L {
        files: Vec<(&'static str, Vec<(&'static str, &'static str)>)>,
        whiteouts: Vec<&'static str>,
        opaque: Vec<&'static str>,
        os: Vec<(&'static str, &'static str)>,
    }

    fn files(files: &[(&'static str, &[(&'static str, &'static str)])]) -> L {
        L {
            files: files.iter().map(|(p, pk)| (*p, pk.to_vec())).collect(),
            ..L::default()
        }
    }

    fn build(layers: &[L]) -> Vec<LayerInventory> {
        layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let mut inv = LayerInventory::new(diff_id(i as u8));
                for (path, packages) in &l.files {
                    inv.analyzed_paths.insert((*path).to_owned());
                    for (name, version) in packages {
                        let mut p = Package::new(PackageKind::Deb, *name, *version);
                        p.evidence.path = (*path).to_owned();
                        p.evidence.analyzer = Some(AnalyzerId::new("dpkg", 1));
                        inv.packages.push(p);
                    }
                }
                inv.whiteouts = l.whiteouts.iter().map(|s| (*s).to_owned()).collect();
                inv.opaque_dirs = l.opaque.iter().map(|s| (*s).to_owned()).collect();
                for (path, version) in &l.os {
                    inv.analyzed_paths.insert((*path).to_owned());
                    inv.os.push(OsInfo {
                        family: OsFamily::Debian,
                        id: "debian".into(),
                        version_id: Some((*version).into()),
                        codename: None,
                        pretty_name: None,
                        path: (*path).into(),
                    });
                }
                inv
            })
            .collect()
    }

    /// (name, version, path, introducing layer) of every visible package.
    fn summary(inventory: &ImageInventory) -> Vec<(String, String, String, u32)> {
        inventory
            .packages
            .iter()
            .map(|p| {
                let layer = p.evidence.layer_index.unwrap_or(u32::MAX);
                assert_eq!(
                    p.evidence.layer_diff_id,
                    Some(diff_id(layer as u8)),
                    "diffID must match the layer index"
                );
                (
                    p.name.clone(),
                    p.version.clone(),
                    p.evidence.path.clone(),
                    layer,
                )
            })
            .collect()
    }

    const STATUS: &str = "var/lib/dpkg/status";

    #[test]
    fn layering_rules() {
        type Expected = &'static [(&'static str, &'static str, &'static str, u32)];
        let cases: Vec<(&str, Vec<L>, Expected)> = vec![
            (
                "single layer",
                vec![files(&[(STATUS, &[("a", "1"), ("b", "1")])])],
                &[("a", "1", STATUS, 0), ("b", "1", STATUS, 0)],
            ),
            (
                "rewrite keeps the first layer; new package takes its layer",
                vec![
                    files(&[(STATUS, &[("a", "1")])]),
                    files(&[(STATUS, &[("a", "1"), ("b", "1")])]),
                    files(&[(STATUS, &[("a", "1"), ("b", "1"), ("c", "1")])]),
                ],
                &[
                    ("a", "1", STATUS, 0),
                    ("b", "1", STATUS, 1),
                    ("c", "1", STATUS, 2),
                ],
            ),
            (
                "upgrade takes the upgrade's layer",
                vec![
                    files(&[(STATUS, &[("a", "1"), ("b", "1")])]),
                    files(&[(STATUS, &[("a", "2"), ("b", "1")])]),
                ],
                &[("a", "2", STATUS, 1), ("b", "1", STATUS, 0)],
            ),
            (
                "untouched middle layer does not break the run",
                vec![
                    files(&[(STATUS, &[("a", "1")])]),
                    files(&[("other/file", &[])]),
                    files(&[(STATUS, &[("a", "1"), ("b", "1")])]),
                ],
                &[("a", "1", STATUS, 0), ("b", "1", STATUS, 2)],
            ),
            (
                "removed then re-added: the run is broken",
                vec![
                    files(&[(STATUS, &[("a", "1"), ("b", "1")])]),
                    files(&[(STATUS, &[("b", "1")])]),
                    files(&[(STATUS, &[("a", "1"), ("b", "1")])]),
                ],
                &[("a", "1", STATUS, 2), ("b", "1", STATUS, 0)],
            ),
            (
                "removed in the top layer",
                vec![
                    files(&[(STATUS, &[("a", "1"), ("b", "1")])]),
                    files(&[(STATUS, &[("b", "1")])]),
                ],
                &[("b", "1", STATUS, 0)],
            ),
            (
                "whiteout of a file",
                vec![
                    files(&[("x/p.json", &[("x", "1")]), ("y/p.json", &[("y", "1")])]),
                    L {
                        whiteouts: vec!["x/p.json"],
                        ..L::default()
                    },
                ],
                &[("y", "1", "y/p.json", 0)],
            ),
            (
                "whiteout of a parent directory",
                vec![
                    files(&[
                        ("app/lib/x/p.json", &[("x", "1")]),
                        ("apps/p.json", &[("y", "1")]),
                    ]),
                    L {
                        whiteouts: vec!["app"],
                        ..L::default()
                    },
                ],
                &[("y", "1", "apps/p.json", 0)],
            ),
            (
                "opaque dir hides lower layers but not its own layer",
                vec![
                    files(&[
                        ("app/old/p.json", &[("old", "1")]),
                        ("keep/p.json", &[("k", "1")]),
                    ]),
                    L {
                        opaque: vec!["app"],
                        ..files(&[("app/new/p.json", &[("new", "1")])])
                    },
                ],
                &[
                    ("k", "1", "keep/p.json", 0),
                    ("new", "1", "app/new/p.json", 1),
                ],
            ),
            (
                "opaque dir does not hide the dir's sibling with a shared prefix",
                vec![
                    files(&[("app2/p.json", &[("a2", "1")])]),
                    L {
                        opaque: vec!["app"],
                        ..L::default()
                    },
                ],
                &[("a2", "1", "app2/p.json", 0)],
            ),
            (
                "opaque root hides everything below",
                vec![
                    files(&[(STATUS, &[("a", "1")])]),
                    L {
                        opaque: vec![""],
                        ..L::default()
                    },
                ],
                &[],
            ),
            (
                "opaque dir in the same layer as a rewrite restarts the run",
                vec![
                    files(&[(STATUS, &[("a", "1")])]),
                    L {
                        opaque: vec!["var/lib/dpkg"],
                        ..files(&[(STATUS, &[("a", "1")])])
                    },
                ],
                &[("a", "1", STATUS, 1)],
            ),
            (
                "re-added above a whiteout: visible, introduced by the re-add",
                vec![
                    files(&[(STATUS, &[("a", "1")])]),
                    L {
                        whiteouts: vec![STATUS],
                        ..L::default()
                    },
                    files(&[(STATUS, &[("a", "1")])]),
                ],
                &[("a", "1", STATUS, 2)],
            ),
            (
                "whiteout above a re-add hides it again",
                vec![
                    files(&[(STATUS, &[("a", "1")])]),
                    files(&[(STATUS, &[("a", "1")])]),
                    L {
                        whiteouts: vec!["var/lib"],
                        ..L::default()
                    },
                ],
                &[],
            ),
            (
                "a file replaced by one without packages hides the lower packages",
                vec![files(&[(STATUS, &[("a", "1")])]), files(&[(STATUS, &[])])],
                &[],
            ),
            (
                "whiteout in a lower layer does not hide a higher layer's file",
                vec![
                    L {
                        whiteouts: vec!["x/p.json"],
                        ..L::default()
                    },
                    files(&[("x/p.json", &[("x", "1")])]),
                ],
                &[("x", "1", "x/p.json", 1)],
            ),
        ];
        for (name, layers, expected) in cases {
            let inventory = apply_layers(&build(&layers));
            let expected: Vec<(String, String, String, u32)> = expected
                .iter()
                .map(|(n, v, p, l)| ((*n).into(), (*v).into(), (*p).into(), *l))
                .collect();
            assert_eq!(summary(&inventory), expected, "{name}");
        }
    }

    #[test]
    fn os_release_rules() {
        let os = |layers: Vec<L>| {
            apply_layers(&build(&layers))
                .os
                .map(|o| (o.path, o.version_id.unwrap_or_default()))
        };
        let l = |os: &[(&'static str, &'static str)]| L {
            os: os.to_vec(),
            ..L::default()
        };
        type Case = (&'static str, Vec<L>, Option<(&'static str, &'static str)>);
        let cases: Vec<Case> = vec![
            ("none", vec![files(&[(STATUS, &[])])], None),
            (
                "etc preferred within a layer",
                vec![l(&[("usr/lib/os-release", "11"), ("etc/os-release", "12")])],
                Some(("etc/os-release", "12")),
            ),
            (
                "higher layer overrides",
                vec![
                    l(&[("etc/os-release", "11")]),
                    l(&[("etc/os-release", "12")]),
                ],
                Some(("etc/os-release", "12")),
            ),
            (
                "higher usr/lib beats lower etc",
                vec![
                    l(&[("etc/os-release", "11")]),
                    l(&[("usr/lib/os-release", "12")]),
                ],
                Some(("usr/lib/os-release", "12")),
            ),
            (
                "whited-out os-release falls back to the other path",
                vec![
                    l(&[("etc/os-release", "11"), ("usr/lib/os-release", "10")]),
                    L {
                        whiteouts: vec!["etc/os-release"],
                        ..L::default()
                    },
                ],
                Some(("usr/lib/os-release", "10")),
            ),
            (
                "replaced by a file without OS facts (a symlink)",
                vec![
                    l(&[("etc/os-release", "11"), ("usr/lib/os-release", "12")]),
                    files(&[("etc/os-release", &[])]),
                ],
                Some(("usr/lib/os-release", "12")),
            ),
        ];
        for (name, layers, expected) in cases {
            assert_eq!(
                os(layers),
                expected.map(|(p, v)| (p.to_owned(), v.to_owned())),
                "{name}"
            );
        }
    }

    #[test]
    fn archive_evidence_follows_its_file() {
        let mut lower = LayerInventory::new(diff_id(0));
        lower.analyzed_paths.insert("app.jar".into());
        let mut p = Package::new(PackageKind::Maven, "g:a", "1");
        p.evidence.path = "app.jar!/BOOT-INF/lib/a.jar".into();
        lower.packages.push(p);
        let mut upper = LayerInventory::new(diff_id(1));
        upper.whiteouts.insert("app.jar".into());
        assert!(apply_layers(&[lower.clone(), upper]).packages.is_empty());
        let inventory = apply_layers(&[lower]);
        assert_eq!(inventory.packages.len(), 1);
        assert_eq!(inventory.packages[0].evidence.layer_index, Some(0));
    }

    #[test]
    fn output_is_sorted_and_diagnostics_keep_their_layer() {
        let mut layers = build(&[
            files(&[
                ("b/p", &[("zlib", "1")]),
                ("a/p", &[("zlib", "1"), ("acl", "2")]),
            ]),
            files(&[("c/p", &[("acl", "1")])]),
        ]);
        layers[0].packages[0].kind = PackageKind::Npm;
        layers[1]
            .diagnostics
            .push(Diagnostic::warning("x", "from layer 1"));
        let stamped = Diagnostic::warning("y", "already stamped").with_layer(diff_id(9));
        layers[0].diagnostics.push(stamped.clone());
        let inventory = apply_layers(&layers);
        let order: Vec<(PackageKind, &str, &str, &str)> = inventory
            .packages
            .iter()
            .map(|p| {
                (
                    p.kind,
                    p.name.as_str(),
                    p.version.as_str(),
                    p.evidence.path.as_str(),
                )
            })
            .collect();
        assert_eq!(
            order,
            [
                (PackageKind::Deb, "acl", "1", "c/p"),
                (PackageKind::Deb, "acl", "2", "a/p"),
                (PackageKind::Deb, "zlib", "1", "a/p"),
                (PackageKind::Npm, "zlib", "1", "b/p"),
            ]
        );
        assert_eq!(inventory.diagnostics.len(), 2);
        assert_eq!(inventory.diagnostics[0], stamped);
        assert_eq!(inventory.diagnostics[1].layer_diff_id, Some(diff_id(1)));
        let paths: BTreeSet<&str> = inventory
            .packages
            .iter()
            .map(|p| p.evidence.path.as_str())
            .collect();
        assert_eq!(paths.len(), 3);
    }

    #[test]
    fn empty_image() {
        let inventory = apply_layers(&[]);
        assert!(inventory.packages.is_empty() && inventory.os.is_none());
    }
}
