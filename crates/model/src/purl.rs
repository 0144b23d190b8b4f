//! Package URLs (purl, <https://github.com/package-url/purl-spec>) for
//! packages found in images.
//!
//! The per-type conventions follow Trivy's `pkg/purl` so that SBOMs from both
//! tools name the same package the same way (and vulnerability databases keyed
//! on Trivy's purls match ours): the namespace of OS packages is the distro,
//! the `distro` qualifier is `<id>-<version>` for deb/rpm and the bare version
//! for apk, and a dpkg/rpm epoch moves out of the version into an `epoch`
//! qualifier. The `upstream` qualifier (source package) follows Syft.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use crate::{Digest, OsInfo, Package, PackageKind};

/// A package URL. Invariants: the type is lowercase, qualifiers are keyed by
/// lowercase keys (kept sorted) and never hold empty values, so `Display`
/// yields the canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageUrl {
    ty: String,
    namespace: Vec<String>,
    name: String,
    version: Option<String>,
    qualifiers: BTreeMap<String, String>,
    subpath: Vec<String>,
}

impl PackageUrl {
    pub fn new(ty: &str, name: impl Into<String>) -> PackageUrl {
        PackageUrl {
            ty: ty.to_ascii_lowercase(),
            namespace: Vec::new(),
            name: name.into(),
            version: None,
            qualifiers: BTreeMap::new(),
            subpath: Vec::new(),
        }
    }

    /// Sets the namespace from a `/`-separated path; empty segments are dropped
    /// as the spec requires.
    pub fn with_namespace(mut self, namespace: &str) -> PackageUrl {
        self.namespace = split_segments(namespace);
        self
    }

    pub fn with_version(mut self, version: impl Into<String>) -> PackageUrl {
        let version = version.into();
        self.version = (!version.is_empty()).then_some(version);
        self
    }

    /// Adds a qualifier; an empty value means "absent" in purl, so it is dropped.
    pub fn with_qualifier(mut self, key: &str, value: impl Into<String>) -> PackageUrl {
        let value = value.into();
        if !value.is_empty() {
            self.qualifiers.insert(key.to_ascii_lowercase(), value);
        }
        self
    }

    pub fn with_subpath(mut self, subpath: &str) -> PackageUrl {
        self.subpath = split_segments(subpath)
            .into_iter()
            .filter(|s| s != "." && s != "..")
            .collect();
        self
    }

    pub fn ty(&self) -> &str {
        &self.ty
    }

    pub fn namespace(&self) -> &[String] {
        &self.namespace
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    pub fn qualifiers(&self) -> &BTreeMap<String, String> {
        &self.qualifiers
    }

    pub fn qualifier(&self, key: &str) -> Option<&str> {
        self.qualifiers.get(key).map(String::as_str)
    }

    /// The purl of a package as found in an image whose OS is `os`.
    ///
    /// `None` when the package cannot be identified by a purl: an empty name,
    /// or a Go module replaced by a local directory (`./x`, `../x`).
    pub fn for_package(pkg: &Package, os: Option<&OsInfo>) -> Option<PackageUrl> {
        if pkg.name.trim().is_empty() {
            return None;
        }
        let purl = match pkg.kind {
            PackageKind::Deb => os_package("deb", pkg, os, distro_with_id),
            PackageKind::Rpm => os_package("rpm", pkg, os, distro_with_id),
            PackageKind::Apk => {
                let mut pkg = pkg.clone();
                // apk names are lowercase by construction; the spec requires it.
                pkg.name = pkg.name.to_lowercase();
                os_package("apk", &pkg, os, |os| os.version_id.clone())
            }
            PackageKind::Python => {
                PackageUrl::new("pypi", pkg.name.to_lowercase().replace('_', "-"))
                    .with_version(pkg.version.clone())
            }
            PackageKind::Npm => {
                let (namespace, name) = split_last(&pkg.name.to_lowercase());
                PackageUrl::new("npm", name)
                    .with_namespace(&namespace)
                    .with_version(pkg.version.clone())
            }
            PackageKind::GoModule => {
                if pkg.name.starts_with("./") || pkg.name.starts_with("../") {
                    return None;
                }
                let (namespace, name) = split_last(&pkg.name.to_lowercase());
                // `(devel)` is what Go records for an unversioned main
                // module: not a version anything can be matched against.
                let version = if pkg.version == "(devel)" {
                    String::new()
                } else {
                    pkg.version.clone()
                };
                PackageUrl::new("golang", name)
                    .with_namespace(&namespace)
                    .with_version(version)
            }
            PackageKind::Maven => {
                let (namespace, name) = split_last(&pkg.name.replace(':', "/"));
                PackageUrl::new("maven", name)
                    .with_namespace(&namespace)
                    .with_version(pkg.version.clone())
            }
            PackageKind::Gem => {
                PackageUrl::new("gem", pkg.name.clone()).with_version(pkg.version.clone())
            }
            PackageKind::Cargo => {
                PackageUrl::new("cargo", pkg.name.clone()).with_version(pkg.version.clone())
            }
        };
        let purl = match (&pkg.arch, pkg.kind.is_os()) {
            (Some(arch), true) => purl.with_qualifier("arch", arch.clone()),
            _ => purl,
        };
        (!purl.name.is_empty()).then_some(purl)
    }

    /// The purl of an image (`pkg:oci/<name>@<digest>`), per the purl `oci` type:
    /// the name is the last path segment of the repository, lowercased, and
    /// the full repository goes to `repository_url`.
    pub fn for_image(repository: &str, manifest_digest: &Digest, arch: Option<&str>) -> PackageUrl {
        let name = repository
            .rsplit('/')
            .next()
            .unwrap_or(repository)
            .to_ascii_lowercase();
        let purl = PackageUrl::new("oci", name)
            .with_version(manifest_digest.to_string())
            .with_qualifier("repository_url", repository);
        match arch {
            Some(arch) => purl.with_qualifier("arch", arch),
            None => purl,
        }
    }
}

/// Builds a deb/rpm/apk purl: distro namespace, epoch qualifier, distro and
/// upstream qualifiers.
fn os_package(
    ty: &str,
    pkg: &Package,
    os: Option<&OsInfo>,
    distro: impl Fn(&OsInfo) -> Option<String>,
) -> PackageUrl {
    let (epoch, version) = split_epoch(&pkg.version);
    let mut purl = PackageUrl::new(ty, pkg.name.clone()).with_version(version);
    if ty != "apk"
        && let Some(epoch) = epoch
    {
        purl = purl.with_qualifier("epoch", epoch);
    }
    if let Some(os) = os {
        purl = purl.with_namespace(&os.id.to_ascii_lowercase());
        if let Some(distro) = distro(os) {
            purl = purl.with_qualifier("distro", distro);
        }
    }
    if let Some(upstream) = upstream(ty, pkg) {
        purl = purl.with_qualifier("upstream", upstream);
    }
    // Red Hat's own purls name a modular build's stream this way
    // (`rpmmod=ruby:2.7`), so tools reading the SBOM can match the stream.
    if ty == "rpm"
        && let Some(module) = &pkg.module
    {
        purl = purl.with_qualifier("rpmmod", module.clone());
    }
    purl
}

/// `<id>-<VERSION_ID>`; rolling releases without a version use the codename.
fn distro_with_id(os: &OsInfo) -> Option<String> {
    let id = os.id.to_ascii_lowercase();
    os.version_id
        .as_deref()
        .or(os.codename.as_deref())
        .filter(|v| !v.is_empty())
        .map(|v| format!("{id}-{v}"))
}

/// Syft's `upstream` qualifier: the source package, omitted when it says
/// nothing new (same name, no other version), as dpkg itself omits `Source:`.
fn upstream(ty: &str, pkg: &Package) -> Option<String> {
    let source = pkg.source.as_ref()?;
    if source.name.is_empty() {
        return None;
    }
    let version = source.version.as_deref().filter(|v| !v.is_empty());
    let redundant = source.name == pkg.name && version.is_none_or(|v| v == pkg.version);
    if redundant {
        return None;
    }
    Some(match (ty, version) {
        // rpm names its source by the file name of the source rpm (no epoch in it).
        ("rpm", Some(v)) => format!("{}-{}.src.rpm", source.name, split_epoch(v).1),
        ("apk", _) | (_, None) => source.name.clone(),
        (_, Some(v)) => format!("{}@{v}", source.name),
    })
}

/// Splits a dpkg/rpm `epoch:version`; a prefix that is not all digits is
/// not an epoch and stays in the version.
fn split_epoch(version: &str) -> (Option<&str>, &str) {
    match version.split_once(':') {
        Some((epoch, rest)) if !epoch.is_empty() && epoch.bytes().all(|b| b.is_ascii_digit()) => {
            // An epoch of 0 is the default and carries no information.
            let epoch = epoch.trim_start_matches('0');
            ((!epoch.is_empty()).then_some(epoch), rest)
        }
        _ => (None, version),
    }
}

fn split_last(path: &str) -> (String, String) {
    match path.rsplit_once('/') {
        Some((namespace, name)) => (namespace.to_owned(), name.to_owned()),
        None => (String::new(), path.to_owned()),
    }
}

fn split_segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Percent-encodes everything but the RFC 3986 unreserved characters, as the
/// purl test suite's canonical forms do (`sha256%3A…`, `%40scope`, `libstdc%2B%2B6`).
fn encode(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(b as char);
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
}

impl fmt::Display for PackageUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::with_capacity(64);
        out.push_str("pkg:");
        out.push_str(&self.ty);
        out.push('/');
        for segment in &self.namespace {
            encode(&mut out, segment);
            out.push('/');
        }
        encode(&mut out, &self.name);
        if let Some(version) = &self.version {
            out.push('@');
            encode(&mut out, version);
        }
        for (i, (key, value)) in self.qualifiers.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            encode(&mut out, key);
            out.push('=');
            encode(&mut out, value);
        }
        if !self.subpath.is_empty() {
            out.push('#');
            for (i, segment) in self.subpath.iter().enumerate() {
                if i > 0 {
                    out.push('/');
                }
                encode(&mut out, segment);
            }
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OsFamily, SourcePackage};

    fn os(id: &str, version_id: Option<&str>) -> OsInfo {
        OsInfo {
            family: OsFamily::from_os_release(id, &[]),
            id: id.to_owned(),
            version_id: version_id.map(str::to_owned),
            codename: None,
            pretty_name: None,
            path: "etc/os-release".to_owned(),
        }
    }

    fn pkg(kind: PackageKind, name: &str, version: &str) -> Package {
        Package::new(kind, name, version)
    }

    fn with_arch(mut p: Package, arch: &str) -> Package {
        p.arch = Some(arch.to_owned());
        p
    }

    fn with_module(mut p: Package, module: &str) -> Package {
        p.module = Some(module.to_owned());
        p
    }

    fn with_source(mut p: Package, name: &str, version: Option<&str>) -> Package {
        p.source = Some(SourcePackage {
            name: name.to_owned(),
            version: version.map(str::to_owned),
        });
        p
    }

    #[test]
    fn package_purls() {
        use PackageKind::*;
        let debian = os("debian", Some("12"));
        let ubuntu = os("ubuntu", Some("22.04"));
        let alpine = os("alpine", Some("3.18.4"));
        let rhel = os("rhel", Some("9.4"));
        let rhel8 = os("rhel", Some("8.8"));
        let cases: Vec<(Package, Option<&OsInfo>, &str)> = vec![
            (
                with_arch(pkg(Deb, "openssl", "3.0.11-1~deb12u2"), "amd64"),
                Some(&debian),
                "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12",
            ),
            // Epoch moves to a qualifier; `+` is percent-encoded.
            (
                with_arch(pkg(Deb, "libstdc++6", "1:12.2.0+dfsg-14"), "amd64"),
                Some(&debian),
                "pkg:deb/debian/libstdc%2B%2B6@12.2.0%2Bdfsg-14?arch=amd64&distro=debian-12&epoch=1",
            ),
            // Source package with its own version.
            (
                with_source(
                    with_arch(pkg(Deb, "libssl3", "3.0.11-1~deb12u2"), "amd64"),
                    "openssl",
                    None,
                ),
                Some(&debian),
                "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl",
            ),
            (
                with_source(
                    pkg(Deb, "libgcc-s1", "12.2.0-14"),
                    "gcc-12",
                    Some("12.2.0-14"),
                ),
                Some(&ubuntu),
                "pkg:deb/ubuntu/libgcc-s1@12.2.0-14?distro=ubuntu-22.04&upstream=gcc-12%4012.2.0-14",
            ),
            // A source identical to the binary says nothing.
            (
                with_source(pkg(Deb, "bash", "5.2.15-2+b2"), "bash", Some("5.2.15-2+b2")),
                Some(&debian),
                "pkg:deb/debian/bash@5.2.15-2%2Bb2?distro=debian-12",
            ),
            // No OS known: no namespace, no distro.
            (
                pkg(Deb, "zlib1g", "1:1.2.13.dfsg-1"),
                None,
                "pkg:deb/zlib1g@1.2.13.dfsg-1?epoch=1",
            ),
            (
                with_arch(pkg(Apk, "musl", "1.2.4-r2"), "x86_64"),
                Some(&alpine),
                "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=3.18.4",
            ),
            (
                with_source(
                    with_arch(pkg(Apk, "libcrypto3", "3.1.4-r1"), "x86_64"),
                    "openssl",
                    Some("3.1.4-r1"),
                ),
                Some(&alpine),
                "pkg:apk/alpine/libcrypto3@3.1.4-r1?arch=x86_64&distro=3.18.4&upstream=openssl",
            ),
            (
                with_arch(pkg(Rpm, "openssl-libs", "1:3.0.7-27.el9"), "x86_64"),
                Some(&rhel),
                "pkg:rpm/rhel/openssl-libs@3.0.7-27.el9?arch=x86_64&distro=rhel-9.4&epoch=1",
            ),
            (
                with_source(
                    pkg(Rpm, "openssl-libs", "1:3.0.7-27.el9"),
                    "openssl",
                    Some("1:3.0.7-27.el9"),
                ),
                Some(&rhel),
                "pkg:rpm/rhel/openssl-libs@3.0.7-27.el9?distro=rhel-9.4&epoch=1&upstream=openssl-3.0.7-27.el9.src.rpm",
            ),
            // A modular build names its stream as Red Hat's purls do.
            (
                with_module(
                    pkg(Rpm, "ruby-libs", "2.7.8-139.module+el8.8.0+18745+f1bef313"),
                    "ruby:2.7",
                ),
                Some(&rhel8),
                "pkg:rpm/rhel/ruby-libs@2.7.8-139.module%2Bel8.8.0%2B18745%2Bf1bef313?distro=rhel-8.8&rpmmod=ruby%3A2.7",
            ),
            // The stream is an rpm notion: other kinds never carry it.
            (
                with_module(pkg(Deb, "ruby2.7", "2.7.4-1"), "ruby:2.7"),
                Some(&debian),
                "pkg:deb/debian/ruby2.7@2.7.4-1?distro=debian-12",
            ),
            // Epoch 0 is the default: not written.
            (
                pkg(Rpm, "bash", "0:5.1.8-9.el9"),
                Some(&rhel),
                "pkg:rpm/rhel/bash@5.1.8-9.el9?distro=rhel-9.4",
            ),
            (
                pkg(Python, "Typing_Extensions", "4.9.0"),
                Some(&debian),
                "pkg:pypi/typing-extensions@4.9.0",
            ),
            (
                pkg(Npm, "@Babel/core", "7.23.7"),
                None,
                "pkg:npm/%40babel/core@7.23.7",
            ),
            (
                pkg(Npm, "lodash", "4.17.21"),
                None,
                "pkg:npm/lodash@4.17.21",
            ),
            (
                pkg(GoModule, "github.com/Sirupsen/logrus", "v1.9.3"),
                None,
                "pkg:golang/github.com/sirupsen/logrus@v1.9.3",
            ),
            (
                pkg(GoModule, "stdlib", "v1.21.5"),
                None,
                "pkg:golang/stdlib@v1.21.5",
            ),
            (
                pkg(GoModule, "github.com/acme/shop-api", "(devel)"),
                None,
                "pkg:golang/github.com/acme/shop-api",
            ),
            (
                pkg(
                    GoModule,
                    "golang.org/x/net",
                    "v0.0.0-20231006140011-7918f672742d+incompatible",
                ),
                None,
                "pkg:golang/golang.org/x/net@v0.0.0-20231006140011-7918f672742d%2Bincompatible",
            ),
            (
                pkg(Cargo, "serde_json", "1.0.111"),
                None,
                "pkg:cargo/serde_json@1.0.111",
            ),
            (
                pkg(Maven, "org.apache.logging.log4j:log4j-core", "2.14.1"),
                None,
                "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
            ),
            (pkg(Gem, "rack", "3.0.8"), None, "pkg:gem/rack@3.0.8"),
            // Arch is an OS-package qualifier only.
            (
                with_arch(pkg(Gem, "nokogiri", "1.15.5"), "x86_64-linux"),
                None,
                "pkg:gem/nokogiri@1.15.5",
            ),
            // Hostile characters are encoded, not interpreted as separators.
            (
                pkg(Python, "evil?x=1#frag@v", "1.0/../2"),
                None,
                "pkg:pypi/evil%3Fx%3D1%23frag%40v@1.0%2F..%2F2",
            ),
            (pkg(Cargo, "crate", ""), None, "pkg:cargo/crate"),
            (
                pkg(Cargo, "caf\u{e9}", "1.0.0"),
                None,
                "pkg:cargo/caf%C3%A9@1.0.0",
            ),
        ];
        for (p, os, expected) in cases {
            let got = PackageUrl::for_package(&p, os).map(|u| u.to_string());
            assert_eq!(got.as_deref(), Some(expected), "{p:?}");
        }
    }

    #[test]
    fn unidentifiable_packages_have_no_purl() {
        for p in [
            pkg(PackageKind::GoModule, "./internal/tool", "(devel)"),
            pkg(PackageKind::GoModule, "../sibling", ""),
            pkg(PackageKind::Npm, "", "1.0.0"),
            pkg(PackageKind::Npm, "@scope/", "1.0.0"),
            pkg(PackageKind::Deb, "  ", "1.0"),
        ] {
            assert_eq!(PackageUrl::for_package(&p, None), None, "{p:?}");
        }
    }

    #[test]
    fn epoch_split() {
        let cases = [
            ("1:2.3-4", (Some("1"), "2.3-4")),
            ("2.3-4", (None, "2.3-4")),
            ("0:2.3", (None, "2.3")),
            ("a:2.3", (None, "a:2.3")),
            (":2.3", (None, ":2.3")),
            ("10:1:2", (Some("10"), "1:2")),
        ];
        for (input, expected) in cases {
            assert_eq!(split_epoch(input), expected, "{input}");
        }
    }

    #[test]
    fn builder_normalises() {
        let purl = PackageUrl::new("GENERIC", "n")
            .with_namespace("/a//b/")
            .with_qualifier("Z", "1")
            .with_qualifier("a", "x y")
            .with_qualifier("empty", "")
            .with_subpath("/lib/../x/");
        assert_eq!(purl.to_string(), "pkg:generic/a/b/n?a=x%20y&z=1#lib/x");
        assert_eq!(purl.qualifier("z"), Some("1"));
    }

    #[test]
    fn image_purl() {
        let digest: Digest =
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                .parse()
                .unwrap();
        let purl = PackageUrl::for_image("docker.io/Library/Nginx", &digest, Some("amd64"));
        assert_eq!(
            purl.to_string(),
            "pkg:oci/nginx@sha256%3Ae3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855?arch=amd64&repository_url=docker.io%2FLibrary%2FNginx"
        );
    }

    /// Decodes one percent-encoded purl component.
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    proptest::proptest! {
        /// Whatever a package is called, its purl splits back into the
        /// components it was built from: no input can forge a separator.
        #[test]
        fn components_survive_any_input(name in "\\PC{1,20}", version in "\\PC{0,20}", arch in "\\PC{0,8}") {
            let mut p = Package::new(PackageKind::Cargo, name.clone(), version.clone());
            p.arch = Some(arch);
            let Some(purl) = PackageUrl::for_package(&p, None) else {
                proptest::prop_assert!(name.trim().is_empty());
                return Ok(());
            };
            let s = purl.to_string();
            proptest::prop_assert!(s.is_ascii());
            let rest = s.strip_prefix("pkg:cargo/").unwrap();
            proptest::prop_assert!(!rest.contains(['?', '#', '/']));
            let (encoded_name, encoded_version) = match rest.split_once('@') {
                Some((n, v)) => (n, Some(v)),
                None => (rest, None),
            };
            proptest::prop_assert_eq!(decode(encoded_name), name);
            proptest::prop_assert_eq!(encoded_version.map(decode).unwrap_or_default(), version);
        }
    }
}
