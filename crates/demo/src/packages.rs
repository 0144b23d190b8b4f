//! Package databases in the formats the analyzers read: dpkg `status`, apk
//! `installed`, Python `METADATA`, npm `package.json` and installed gemspecs.

use std::fmt::Write as _;

/// One Debian binary package as dpkg records it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deb {
    pub name: &'static str,
    pub version: &'static str,
    /// The source package when its name differs (`libssl3` comes from `openssl`).
    pub source: Option<&'static str>,
    pub section: &'static str,
    pub installed_kib: u32,
    pub description: &'static str,
}

pub(crate) const fn deb(
    name: &'static str,
    version: &'static str,
    source: Option<&'static str>,
    section: &'static str,
    installed_kib: u32,
    description: &'static str,
) -> Deb {
    Deb {
        name,
        version,
        source,
        section,
        installed_kib,
        description,
    }
}

/// `var/lib/dpkg/status` for `packages`, as dpkg writes it.
pub(crate) fn dpkg_status(packages: &[Deb], arch: &str) -> String {
    let mut out = String::new();
    for (index, p) in packages.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        dpkg_stanza(&mut out, p, arch);
    }
    out
}

/// One stanza, as dpkg writes it in `status` and distroless in `status.d/<name>`.
pub(crate) fn dpkg_stanza(out: &mut String, p: &Deb, arch: &str) {
    let _ = writeln!(out, "Package: {}", p.name);
    out.push_str("Status: install ok installed\n");
    out.push_str("Priority: optional\n");
    let _ = writeln!(out, "Section: {}", p.section);
    let _ = writeln!(out, "Installed-Size: {}", p.installed_kib);
    out.push_str("Maintainer: Debian Developers <debian-devel@lists.debian.org>\n");
    let _ = writeln!(out, "Architecture: {arch}");
    if let Some(source) = p.source {
        let _ = writeln!(out, "Source: {source}");
    }
    let _ = writeln!(out, "Version: {}", p.version);
    let _ = writeln!(out, "Description: {}", p.description);
}

/// One Alpine package as apk records it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Apk {
    pub name: &'static str,
    pub version: &'static str,
    pub origin: &'static str,
    pub license: &'static str,
    pub description: &'static str,
}

pub(crate) const fn apk(
    name: &'static str,
    version: &'static str,
    origin: &'static str,
    license: &'static str,
    description: &'static str,
) -> Apk {
    Apk {
        name,
        version,
        origin,
        license,
        description,
    }
}

/// `lib/apk/db/installed` for `packages`.
pub(crate) fn apk_installed(packages: &[Apk], arch: &str) -> String {
    let mut out = String::new();
    for p in packages {
        let _ = writeln!(out, "P:{}", p.name);
        let _ = writeln!(out, "V:{}", p.version);
        let _ = writeln!(out, "A:{arch}");
        let _ = writeln!(out, "T:{}", p.description);
        out.push_str("U:https://alpinelinux.org\n");
        let _ = writeln!(out, "L:{}", p.license);
        let _ = writeln!(out, "o:{}", p.origin);
        out.push_str("m:Natanael Copa <ncopa@alpinelinux.org>\n\n");
    }
    out
}

/// A Python distribution's `METADATA` (core metadata 2.1).
pub(crate) fn python_metadata(name: &str, version: &str, license: &str, summary: &str) -> String {
    format!(
        "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {summary}\n\
         License: {license}\nRequires-Python: >=3.8\n\n{summary}\n"
    )
}

/// A `package.json` as npm installs it.
pub(crate) fn npm_package_json(name: &str, version: &str, license: &str) -> String {
    format!(
        "{{\n  \"name\": \"{name}\",\n  \"version\": \"{version}\",\n  \"license\": \"{license}\",\n  \"main\": \"index.js\"\n}}\n"
    )
}

/// An installed gemspec as RubyGems writes it (`Gem::Specification#to_ruby`).
pub(crate) fn gemspec(name: &str, version: &str, license: &str, summary: &str) -> String {
    format!(
        "# -*- encoding: utf-8 -*-\n# stub: {name} {version} ruby lib\n\n\
         Gem::Specification.new do |s|\n  s.name = \"{name}\".freeze\n  s.version = \"{version}\"\n\n  \
         s.required_rubygems_version = Gem::Requirement.new(\">= 0\".freeze) if s.respond_to? :required_rubygems_version=\n  \
         s.require_paths = [\"lib\".freeze]\n  s.summary = \"{summary}\".freeze\n  \
         s.licenses = [\"{license}\".freeze]\n  s.rubygems_version = \"3.4.19\".freeze\nend\n"
    )
}
