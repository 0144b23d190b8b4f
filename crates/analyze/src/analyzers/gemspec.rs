//! Installed Ruby gems: `specifications/*.gemspec` (also
//! `specifications/default/*.gemspec`, the gems bundled with Ruby).
//!
//! An installed gemspec is Ruby source written by RubyGems
//! (`Gem::Specification#to_ruby`), so its shape is regular:
//!
//! ```ruby
//! Gem::Specification.new do |s|
//!   s.name = "rack".freeze
//!   s.version = "2.2.22"
//!   s.licenses = ["MIT".freeze]
//! ```
//!
//! Like Trivy, we read it line by line instead of evaluating Ruby: find the
//! block variable, then `<var>.name`, `<var>.version`, `<var>.license(s)`.

use std::io::BufReader;

use model::{AnalyzerId, Package, PackageKind};

use super::lang_common::BoundedLines;
use crate::{AnalysisOutput, Analyzer, AnalyzerError, FileInput, FileMeta};

/// Installed gemspecs are a few KiB; default gems list all their files and
/// reach a few hundred KiB.
const MAX_GEMSPEC_BYTES: u64 = 4 << 20;

const FORMAT: &str = "gemspec";
const SPEC_NEW: &str = "Gem::Specification.new";

/// Finds installed Ruby gems from their specification files.
#[derive(Debug, Clone, Copy, Default)]
pub struct GemspecAnalyzer;

impl Analyzer for GemspecAnalyzer {
    fn id(&self) -> AnalyzerId {
        AnalyzerId::new("gemspec", 1)
    }

    /// Trivy's rule: `.*/specifications/.+\.gemspec`.
    fn wants(&self, file: &FileMeta<'_>) -> bool {
        let path = file.path;
        if !path.ends_with(".gemspec") {
            return false;
        }
        match path.find("/specifications/") {
            Some(at) => path.len() > at + "/specifications/".len() + ".gemspec".len(),
            None => false,
        }
    }

    fn analyze(&self, file: FileInput<'_>, out: &mut AnalysisOutput) -> Result<(), AnalyzerError> {
        let spec = parse(BufReader::new(file.body))?;
        let mut package = Package::new(PackageKind::Gem, spec.name, spec.version);
        package.licenses = spec.licenses;
        out.packages.push(package);
        Ok(())
    }
}

#[derive(Debug, PartialEq, Eq)]
struct GemSpec {
    name: String,
    version: String,
    licenses: Vec<String>,
}

fn parse(reader: impl std::io::BufRead) -> Result<GemSpec, AnalyzerError> {
    let mut lines = BoundedLines::new(reader, MAX_GEMSPEC_BYTES);
    let mut var: Option<String> = None;
    let mut name = None;
    let mut version = None;
    let mut licenses: Option<Vec<String>> = None;

    while let Some(line) = lines.next_line()? {
        let line = line.trim();
        if line.contains(SPEC_NEW) {
            var = block_variable(line);
        }
        let Some(v) = var.as_deref() else { continue };
        let Some(attr) = line.strip_prefix(v).and_then(|l| l.strip_prefix('.')) else {
            continue;
        };
        // `licenses` before `license`: the latter is a prefix of the former.
        if let Some(rhs) = assignment(attr, "licenses") {
            licenses = Some(parse_list(rhs));
        } else if let Some(rhs) = assignment(attr, "license") {
            licenses = Some(first_token(rhs).map(trim_literal).into_iter().collect());
        } else if let Some(rhs) = assignment(attr, "name") {
            name = first_token(rhs).map(trim_literal);
        } else if let Some(rhs) = assignment(attr, "version") {
            version = first_token(rhs).map(trim_version);
        }
        if name.is_some() && version.is_some() && licenses.is_some() {
            break;
        }
    }

    let name = name.filter(|n| !n.is_empty());
    let version = version.filter(|v| !v.is_empty());
    match (name, version) {
        (Some(name), Some(version)) => Ok(GemSpec {
            name,
            version,
            licenses: licenses
                .unwrap_or_default()
                .into_iter()
                .filter(|l| !l.is_empty())
                .collect(),
        }),
        _ if lines.hit_limit() => Err(AnalyzerError::Limit(format!(
            "no name and version in the first {MAX_GEMSPEC_BYTES} bytes"
        ))),
        _ if var.is_none() => Err(AnalyzerError::malformed(
            FORMAT,
            format!("no `{SPEC_NEW} do |var|` block"),
        )),
        _ => Err(AnalyzerError::malformed(FORMAT, "no name or version")),
    }
}

/// `Gem::Specification.new do |s|` → `s`.
fn block_variable(line: &str) -> Option<String> {
    let start = line.find('|')?;
    let end = line.rfind('|')?;
    let var = line.get(start + 1..end)?.trim();
    (!var.is_empty()).then(|| var.to_owned())
}

/// For `attr` = `name = "x"` and `field` = `name`, the text after `=`; `None`
/// for another field (`name_x = …`) or a comparison (`name == …`).
fn assignment<'a>(attr: &'a str, field: &str) -> Option<&'a str> {
    let rest = attr.strip_prefix(field)?.trim_start();
    let rhs = rest.strip_prefix('=')?;
    if rhs.starts_with(['=', '~']) {
        return None;
    }
    Some(rhs.trim_start())
}

/// The first whitespace-separated token: the value, without a trailing
/// `if s.respond_to? …` modifier.
fn first_token(s: &str) -> Option<&str> {
    s.split_whitespace().next()
}

/// `"async".freeze` → `async`; also single quotes and the `%q{async}` that
/// RubyGems before 2.0 wrote.
fn trim_literal(s: &str) -> String {
    let s = s.trim();
    let s = s.strip_suffix(".freeze").unwrap_or(s);
    if let Some(inner) = s.strip_prefix("%q{").and_then(|r| r.strip_suffix('}')) {
        return inner.to_owned();
    }
    s.trim_matches(['"', '\'']).to_owned()
}

/// A literal, or `Gem::Version.new("1.2.3")` as older RubyGems wrote it.
fn trim_version(s: &str) -> String {
    let s = s.trim();
    let inner = s
        .strip_prefix("Gem::Version.new(")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or(s);
    trim_literal(inner)
}

/// `["MIT".freeze, "Ruby".freeze]` → `MIT`, `Ruby`.
fn parse_list(rhs: &str) -> Vec<String> {
    let Some(open) = rhs.find('[') else {
        return Vec::new();
    };
    let Some(close) = rhs.rfind(']').filter(|&c| c > open) else {
        return Vec::new();
    };
    rhs[open + 1..close]
        .split(',')
        .map(trim_literal)
        .filter(|l| !l.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyze(bytes: &[u8]) -> Result<AnalysisOutput, AnalyzerError> {
        let path = "usr/local/bundle/specifications/x.gemspec";
        crate::analyzer::run_on_bytes(&GemspecAnalyzer, path, bytes)
    }

    #[test]
    fn wants_table() {
        let cases = [
            ("usr/local/bundle/specifications/rack-2.2.8.gemspec", true),
            ("var/lib/gems/3.1.0/specifications/json-2.6.3.gemspec", true),
            (
                "usr/local/lib/ruby/gems/3.3.0/specifications/default/json-2.7.1.gemspec",
                true,
            ),
            ("app/rack.gemspec", false),
            ("specifications/x.gemspec", false),
            ("usr/local/bundle/specifications/.gemspec", false),
            ("usr/local/bundle/specifications/rack.rb", false),
            ("usr/local/bundle/gems/rack-2.2.8/rack.gemspec", false),
        ];
        for (path, want) in cases {
            let meta = FileMeta {
                path,
                size: 1,
                mode: 0o644,
            };
            assert_eq!(GemspecAnalyzer.wants(&meta), want, "{path}");
        }
    }

    #[test]
    fn gemspec_table() {
        let cases: &[(&str, &str, &str, &[&str])] = &[
            (
                "Gem::Specification.new do |s|\n  s.name = \"async\".freeze\n  s.version = \"2.6.5\"\n  s.licenses = [\"MIT\".freeze]\nend\n",
                "async",
                "2.6.5",
                &["MIT"],
            ),
            // Another block variable, single quotes, `license` singular,
            // Gem::Version.new, a trailing modifier.
            (
                "Gem::Specification.new do |spec|\n  spec.name = 'nokogiri'\n  spec.version = Gem::Version.new(\"1.15.4\") if true\n  spec.license = 'MIT'\nend\n",
                "nokogiri",
                "1.15.4",
                &["MIT"],
            ),
            (
                "Gem::Specification.new do |s|\n  s.name = \"json\".freeze\n  s.version = \"2.6.3\"\n  s.licenses = [\"Ruby\".freeze, \"BSD-2-Clause\".freeze]\nend\n",
                "json",
                "2.6.3",
                &["Ruby", "BSD-2-Clause"],
            ),
            // RubyGems 1.x style.
            (
                "Gem::Specification.new do |s|\n  s.name = %q{rake}\n  s.version = \"0.8.7\"\nend\n",
                "rake",
                "0.8.7",
                &[],
            ),
            // Lines before the block and other `name`-prefixed fields are ignored.
            (
                "s.name = \"wrong\"\nGem::Specification.new do |s|\n  s.name_tag = \"no\"\n  s.name = \"right\".freeze\n  s.version = \"1.0\"\nend\n",
                "right",
                "1.0",
                &[],
            ),
        ];
        for (input, name, version, licenses) in cases {
            let out = analyze(input.as_bytes()).unwrap();
            assert_eq!(out.packages.len(), 1, "{input}");
            let p = &out.packages[0];
            assert_eq!(p.kind, PackageKind::Gem);
            assert_eq!(
                (p.name.as_str(), p.version.as_str()),
                (*name, *version),
                "{input}"
            );
            assert_eq!(p.licenses, *licenses, "{input}");
        }
    }

    #[test]
    fn malformed_gemspecs_are_errors() {
        let cases: &[&[u8]] = &[
            b"",
            b"s.name = \"x\"\ns.version = \"1\"\n",
            b"Gem::Specification.new do |s|\n  s.name = \"x\"\nend\n",
            b"Gem::Specification.new do |s|\n  s.version = \"1\"\nend\n",
            b"Gem::Specification.new do\n  s.name = \"x\"\n  s.version = \"1\"\nend\n",
            b"\x7fELF\x02\x01\x01\x00\x00\xff\xfe|",
        ];
        for input in cases {
            let err = analyze(input).unwrap_err();
            assert!(
                matches!(err, AnalyzerError::Malformed { .. }),
                "{:?}: {err}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn oversized_gemspec_without_fields_hits_the_limit() {
        let mut input = b"Gem::Specification.new do |s|\n".to_vec();
        input.resize(MAX_GEMSPEC_BYTES as usize + 100, b'#');
        let err = analyze(&input).unwrap_err();
        assert!(matches!(err, AnalyzerError::Limit(_)), "{err}");
    }

    /// Installed specifications from Debian's ruby-rack and ruby-json.
    #[test]
    fn real_fixtures() {
        let cases: &[(&str, &str, &str, &[&str])] = &[
            ("rack-2.2.22.gemspec", "rack", "2.2.22", &["MIT"]),
            ("json-2.6.3.gemspec", "json", "2.6.3", &["Ruby"]),
        ];
        for (fixture, name, version, licenses) in cases {
            let path = format!(
                "{}/tests/fixtures/gemspec/{fixture}",
                env!("CARGO_MANIFEST_DIR")
            );
            let out = analyze(&std::fs::read(path).unwrap()).unwrap();
            let p = &out.packages[0];
            assert_eq!((p.name.as_str(), p.version.as_str()), (*name, *version));
            assert_eq!(p.licenses, *licenses);
        }
    }
}
