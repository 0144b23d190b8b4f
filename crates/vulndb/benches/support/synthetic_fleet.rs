//! The synthetic fleet both re-match benchmarks use (`vulndb`'s `rematch`
//! bench and `engine`'s `rematch_fleet` example include this file with
//! `#[path]`): image inventories generated from the advisory database's own
//! package names and versions, with a fixed seed, so matching has real work.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use futures_util::TryStreamExt;
use model::{
    Advisory, Evidence, ImageInventory, OsFamily, OsInfo, Package, PackageKind, RangeEvent,
    RequirementKind, SourcePackage,
};
use sqlx::Row;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Real package names and versions by ecosystem, taken from the advisories:
/// every version an advisory names for a package (range bounds, listed
/// versions, patched floors), so generated images sit at versions the data
/// knows, below some fixes and above others, as real fleets do.
#[derive(Default)]
pub struct Pools {
    /// Advisory ecosystem (`Debian:11`) → package name → versions.
    by_ecosystem: BTreeMap<String, Vec<(String, Vec<String>)>>,
}

impl Pools {
    pub async fn read(advisory_db: &Path) -> Result<Pools, BoxError> {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(advisory_db)
            .read_only(true);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        let mut names: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
        let mut rows = sqlx::query("SELECT body FROM advisory ORDER BY id").fetch(&pool);
        while let Some(row) = rows.try_next().await? {
            let body: &[u8] = row.try_get(0)?;
            let json = zstd::decode_all(body)?;
            let advisory: Advisory = serde_json::from_slice(&json)?;
            for affected in &advisory.affected {
                let versions = names
                    .entry(affected.ecosystem.clone())
                    .or_default()
                    .entry(affected.name.clone())
                    .or_default();
                for event in affected.ranges.iter().flat_map(|r| &r.events) {
                    match event {
                        RangeEvent::Introduced(v) if v == "0" => {}
                        RangeEvent::Introduced(v)
                        | RangeEvent::Fixed(v)
                        | RangeEvent::LastAffected(v) => {
                            versions.insert(v.clone());
                        }
                        RangeEvent::Limit(_) => {}
                    }
                }
                versions.extend(affected.versions.iter().cloned());
                for requirement in &affected.unaffected_requirements {
                    if requirement.kind != RequirementKind::Patched {
                        continue;
                    }
                    // RubySec `>= 1.2.3, < 2` / `~> 1.2.3` → `1.2.3`.
                    for constraint in requirement.requirement.split(',') {
                        let floor = constraint.trim().trim_start_matches(['>', '=', '~', ' ']);
                        if !floor.is_empty() && !constraint.trim().starts_with('<') {
                            versions.insert(floor.to_owned());
                        }
                    }
                }
            }
        }
        drop(rows);
        pool.close().await;
        let by_ecosystem = names
            .into_iter()
            .map(|(ecosystem, names)| {
                let names = names
                    .into_iter()
                    .filter(|(_, versions)| !versions.is_empty())
                    .map(|(name, versions)| (name, versions.into_iter().collect()))
                    .collect();
                (ecosystem, names)
            })
            .collect();
        Ok(Pools { by_ecosystem })
    }

    fn names(&self, ecosystem: &str) -> &[(String, Vec<String>)] {
        self.by_ecosystem.get(ecosystem).map_or(&[], Vec::as_slice)
    }
}

/// Language packages without advisories in the snapshot (npm, Maven):
/// common real names, so images carry them and matching looks them up.
const NPM: [(&str, &str); 8] = [
    ("lodash", "4.17.20"),
    ("express", "4.17.1"),
    ("minimist", "1.2.5"),
    ("axios", "0.21.1"),
    ("semver", "7.3.5"),
    ("debug", "2.6.9"),
    ("qs", "6.7.0"),
    ("ws", "7.4.5"),
];
const MAVEN: [(&str, &str); 6] = [
    ("org.apache.logging.log4j:log4j-core", "2.14.1"),
    ("com.fasterxml.jackson.core:jackson-databind", "2.12.3"),
    ("org.springframework:spring-core", "5.3.8"),
    ("org.yaml:snakeyaml", "1.29"),
    ("commons-io:commons-io", "2.6"),
    ("com.google.guava:guava", "30.1-jre"),
];

/// One kind of image in the generated fleet.
#[derive(Clone, Copy)]
enum Base {
    Debian11,
    Debian12,
    Ubuntu2204,
    Alpine(u8),
    AlmaLinux(u8),
}

impl Base {
    /// Roughly a Kubernetes fleet: mostly Debian-based images, then
    /// Alpine, then enterprise Linux and Ubuntu.
    fn pick(rng: &mut fastrand::Rng) -> Base {
        match rng.u32(0..100) {
            0..30 => Base::Debian11,
            30..45 => Base::Debian12,
            45..55 => Base::Ubuntu2204,
            55..80 => Base::Alpine(rng.u8(3..=11)),
            80..92 => Base::AlmaLinux(8),
            _ => Base::AlmaLinux(9),
        }
    }

    fn os(self) -> OsInfo {
        let (family, id, version, codename) = match self {
            Base::Debian11 => (
                OsFamily::Debian,
                "debian",
                "11".to_owned(),
                Some("bullseye"),
            ),
            Base::Debian12 => (
                OsFamily::Debian,
                "debian",
                "12".to_owned(),
                Some("bookworm"),
            ),
            Base::Ubuntu2204 => (
                OsFamily::Ubuntu,
                "ubuntu",
                "22.04".to_owned(),
                Some("jammy"),
            ),
            Base::Alpine(minor) => (OsFamily::Alpine, "alpine", format!("3.{minor}.2"), None),
            Base::AlmaLinux(major) => {
                (OsFamily::AlmaLinux, "almalinux", format!("{major}.4"), None)
            }
        };
        OsInfo {
            family,
            id: id.to_owned(),
            version_id: Some(version),
            codename: codename.map(str::to_owned),
            pretty_name: None,
            path: "etc/os-release".to_owned(),
        }
    }

    /// Where its OS package names and versions come from: the release's
    /// own advisories, or (for releases the snapshot has no data for) the
    /// nearest one's, which is what such an image's packages look like.
    fn pool(self) -> (PackageKind, String) {
        match self {
            Base::Debian11 | Base::Debian12 | Base::Ubuntu2204 => {
                (PackageKind::Deb, "Debian:11".to_owned())
            }
            Base::Alpine(minor) => (PackageKind::Apk, format!("Alpine:v3.{minor}")),
            Base::AlmaLinux(major) => (PackageKind::Rpm, format!("AlmaLinux:{major}")),
        }
    }
}

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> Option<&'a T> {
    if items.is_empty() {
        return None;
    }
    items.get(rng.usize(..items.len()))
}

fn package(kind: PackageKind, name: &str, version: String, layer: u32) -> Package {
    let mut package = Package::new(kind, name, version);
    package.evidence = Evidence {
        path: match kind {
            PackageKind::Deb => "var/lib/dpkg/status".to_owned(),
            PackageKind::Apk => "lib/apk/db/installed".to_owned(),
            PackageKind::Rpm => "var/lib/rpm/rpmdb.sqlite".to_owned(),
            _ => format!("app/{name}"),
        },
        layer_index: Some(layer),
        layer_diff_id: None,
        analyzer: None,
    };
    package
}

/// One image: 100–400 OS packages of its base, and in about half of the
/// fleet an application layer of language packages.
pub fn inventory(rng: &mut fastrand::Rng, pools: &Pools) -> ImageInventory {
    let base = Base::pick(rng);
    let (kind, ecosystem) = base.pool();
    let os_names = pools.names(&ecosystem);
    let mut packages = Vec::new();
    let mut seen = BTreeSet::new();
    let wanted = rng.usize(100..=400);
    // Small pools (Debian 11 has ~190 source packages with advisories)
    // give every name at most once.
    for _ in 0..wanted.min(os_names.len()) {
        let Some((name, versions)) = pick(rng, os_names) else {
            break;
        };
        if !seen.insert(name.as_str()) {
            continue;
        }
        let Some(version) = pick(rng, versions) else {
            continue;
        };
        let mut os_package = package(kind, name, version.clone(), 0);
        if kind == PackageKind::Deb {
            // Debian advisories name source packages.
            os_package.source = Some(SourcePackage {
                name: name.clone(),
                version: None,
            });
        }
        packages.push(os_package);
    }
    if rng.bool() {
        let ecosystems = rng.usize(1..=2);
        for _ in 0..ecosystems {
            let count = rng.usize(20..=200);
            match rng.u8(0..6) {
                0 => language(
                    rng,
                    pools,
                    &mut packages,
                    "PyPI",
                    PackageKind::Python,
                    count,
                ),
                1 => language(
                    rng,
                    pools,
                    &mut packages,
                    "Go",
                    PackageKind::GoModule,
                    count,
                ),
                2 => language(
                    rng,
                    pools,
                    &mut packages,
                    "crates.io",
                    PackageKind::Cargo,
                    count,
                ),
                3 => language(
                    rng,
                    pools,
                    &mut packages,
                    "RubyGems",
                    PackageKind::Gem,
                    count,
                ),
                4 => fixed_list(&mut packages, PackageKind::Npm, &NPM),
                _ => fixed_list(&mut packages, PackageKind::Maven, &MAVEN),
            }
        }
    }
    packages.sort_by(|a, b| {
        (a.kind, &a.name, &a.version, &a.evidence.path).cmp(&(
            b.kind,
            &b.name,
            &b.version,
            &b.evidence.path,
        ))
    });
    ImageInventory {
        os: Some(base.os()),
        packages,
        diagnostics: Vec::new(),
    }
}

fn language(
    rng: &mut fastrand::Rng,
    pools: &Pools,
    packages: &mut Vec<Package>,
    ecosystem: &str,
    kind: PackageKind,
    count: usize,
) {
    let names = pools.names(ecosystem);
    for _ in 0..count {
        let Some((name, versions)) = pick(rng, names) else {
            return;
        };
        let Some(version) = pick(rng, versions) else {
            continue;
        };
        let version = match kind {
            PackageKind::GoModule if name == "stdlib" => format!("go{version}"),
            PackageKind::GoModule => format!("v{version}"),
            _ => version.clone(),
        };
        packages.push(package(kind, name, version, 1));
    }
}

fn fixed_list(packages: &mut Vec<Package>, kind: PackageKind, list: &[(&str, &str)]) {
    for (name, version) in list {
        packages.push(package(kind, name, (*version).to_owned(), 1));
    }
}
