//! `os-release(5)`: the distribution and its version.
//!
//! The format is a list of shell-compatible variable assignments. Values may
//! be double-quoted (with `\` escaping `$`, `"`, `\` and `` ` ``), single-quoted
//! (literal) or bare (with `\` escaping any character). Expansion, command
//! substitution and multi-line values are not part of the format and are
//! not interpreted.

use std::io::Read;

use model::{AnalyzerId, Diagnostic, OsFamily, OsInfo};

use crate::{AnalysisOutput, Analyzer, AnalyzerError, FileInput, FileMeta};

/// Real os-release files are well under 1 KiB.
const MAX_SIZE: u64 = 64 * 1024;

const PATHS: [&str; 2] = ["etc/os-release", "usr/lib/os-release"];

/// Reads `etc/os-release` and `usr/lib/os-release`. Debian testing and sid
/// carry no `VERSION_ID`; it stays `None` (`etc/debian_version` is not read).
pub struct OsReleaseAnalyzer;

impl Analyzer for OsReleaseAnalyzer {
    fn id(&self) -> AnalyzerId {
        AnalyzerId::new("os-release", 1)
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        PATHS.contains(&file.path)
    }

    fn analyze(&self, file: FileInput<'_>, out: &mut AnalysisOutput) -> Result<(), AnalyzerError> {
        let mut bytes = Vec::new();
        file.body.take(MAX_SIZE + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_SIZE {
            return Err(AnalyzerError::Limit(format!(
                "os-release larger than {MAX_SIZE} bytes"
            )));
        }
        let text = String::from_utf8_lossy(&bytes);
        let parsed = parse(&text);
        if parsed.bad_lines > 0 {
            out.diagnostics.push(Diagnostic::warning(
                "malformed-os-release-line",
                format!(
                    "{} line(s) are not KEY=value assignments; ignored (first: line {})",
                    parsed.bad_lines, parsed.first_bad_line
                ),
            ));
        }
        if parsed.vars.is_empty() {
            return Err(AnalyzerError::malformed(
                "os-release",
                "no KEY=value assignments",
            ));
        }
        out.os = Some(parsed.into_os_info(file.meta.path));
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Parsed {
    /// In file order; a later assignment wins, as in a shell.
    vars: Vec<(String, String)>,
    bad_lines: usize,
    first_bad_line: usize,
}

impl Parsed {
    fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn non_empty(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    fn into_os_info(self, path: &str) -> OsInfo {
        // os-release(5): "If not set, a default of ID=linux may be used."
        let id = self.non_empty("ID").unwrap_or_else(|| "linux".to_owned());
        let id_like: Vec<&str> = self
            .get("ID_LIKE")
            .map(|v| v.split_whitespace().collect())
            .unwrap_or_default();
        OsInfo {
            family: OsFamily::from_os_release(&id, &id_like),
            version_id: self.non_empty("VERSION_ID"),
            codename: self
                .non_empty("VERSION_CODENAME")
                .or_else(|| self.non_empty("UBUNTU_CODENAME")),
            pretty_name: self.non_empty("PRETTY_NAME"),
            id,
            path: path.to_owned(),
        }
    }
}

fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let assignment = line.split_once('=').and_then(|(key, raw)| {
            let key_ok = !key.is_empty()
                && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !key.as_bytes()[0].is_ascii_digit();
            if key_ok {
                parse_value(raw).map(|value| (key.to_owned(), value))
            } else {
                None
            }
        });
        match assignment {
            Some(pair) => parsed.vars.push(pair),
            None => {
                if parsed.bad_lines == 0 {
                    parsed.first_bad_line = index + 1;
                }
                parsed.bad_lines += 1;
            }
        }
    }
    parsed
}

/// Unquotes one shell word. `None` for an unterminated quote. Anything after
/// unquoted whitespace (a trailing comment) is ignored.
fn parse_value(raw: &str) -> Option<String> {
    enum State {
        Bare,
        Double,
        Single,
    }
    let mut value = String::new();
    let mut state = State::Bare;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match state {
            State::Bare => match c {
                '"' => state = State::Double,
                '\'' => state = State::Single,
                '\\' => value.extend(chars.next()),
                c if c.is_whitespace() => break,
                c => value.push(c),
            },
            State::Double => match c {
                '"' => state = State::Bare,
                '\\' => match chars.next() {
                    Some(e @ ('$' | '"' | '\\' | '`')) => value.push(e),
                    Some(other) => {
                        value.push('\\');
                        value.push(other);
                    }
                    None => return None,
                },
                c => value.push(c),
            },
            State::Single => match c {
                '\'' => state = State::Bare,
                c => value.push(c),
            },
        }
    }
    match state {
        State::Bare => Some(value),
        State::Double | State::Single => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyze(path: &str, text: &str) -> Result<AnalysisOutput, AnalyzerError> {
        crate::analyzer::run_on_bytes(&OsReleaseAnalyzer, path, text.as_bytes())
    }

    fn os(
        family: OsFamily,
        id: &str,
        version: Option<&str>,
        codename: Option<&str>,
        pretty: Option<&str>,
    ) -> OsInfo {
        OsInfo {
            family,
            id: id.into(),
            version_id: version.map(Into::into),
            codename: codename.map(Into::into),
            pretty_name: pretty.map(Into::into),
            path: "etc/os-release".into(),
        }
    }

    #[test]
    fn real_distributions() {
        let cases = [
            (
                "debian 12",
                "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
                 VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\n\
                 ID=debian\nHOME_URL=\"https://www.debian.org/\"\n",
                os(
                    OsFamily::Debian,
                    "debian",
                    Some("12"),
                    Some("bookworm"),
                    Some("Debian GNU/Linux 12 (bookworm)"),
                ),
            ),
            (
                "debian sid: no VERSION_ID",
                "PRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\nNAME=\"Debian GNU/Linux\"\n\
                 VERSION_CODENAME=trixie\nID=debian\n",
                os(
                    OsFamily::Debian,
                    "debian",
                    None,
                    Some("trixie"),
                    Some("Debian GNU/Linux trixie/sid"),
                ),
            ),
            (
                "alpine",
                "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n\
                 PRETTY_NAME=\"Alpine Linux v3.19\"\n",
                os(
                    OsFamily::Alpine,
                    "alpine",
                    Some("3.19.1"),
                    None,
                    Some("Alpine Linux v3.19"),
                ),
            ),
            (
                "ubuntu codename fallback",
                "NAME=\"Ubuntu\"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"22.04\"\n\
                 UBUNTU_CODENAME=jammy\n",
                os(
                    OsFamily::Ubuntu,
                    "ubuntu",
                    Some("22.04"),
                    Some("jammy"),
                    None,
                ),
            ),
            (
                "unknown id falls back through ID_LIKE",
                "ID=\"rhel-clone\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID='9.4'\n",
                os(OsFamily::RedHat, "rhel-clone", Some("9.4"), None, None),
            ),
            (
                "unknown id, no ID_LIKE",
                "ID=nixos\nVERSION_ID=\"24.05\"\n",
                os(
                    OsFamily::Other("nixos".into()),
                    "nixos",
                    Some("24.05"),
                    None,
                    None,
                ),
            ),
            (
                "missing ID defaults to linux",
                "NAME=Something\n",
                os(OsFamily::Other("linux".into()), "linux", None, None, None),
            ),
            (
                "comments, blank lines, indentation, empty values, later wins",
                "# a comment\n\n   ID=debian\nVERSION_ID=\nVERSION_ID=11\nPRETTY_NAME=\"\"\n",
                os(OsFamily::Debian, "debian", Some("11"), None, None),
            ),
        ];
        for (name, text, expected) in cases {
            let out = analyze("etc/os-release", text).unwrap();
            assert_eq!(out.os.as_ref(), Some(&expected), "{name}");
            assert!(out.diagnostics.is_empty(), "{name}: {:?}", out.diagnostics);
        }
    }

    #[test]
    fn shell_quoting() {
        let cases = [
            (r#""plain""#, Some("plain")),
            (
                r#""with \"quotes\" and \\ and \$x and \`""#,
                Some(r#"with "quotes" and \ and $x and `"#),
            ),
            (
                r#""keeps \n other escapes""#,
                Some(r"keeps \n other escapes"),
            ),
            (r"'single \ is literal'", Some(r"single \ is literal")),
            (r"bare\ escaped\ spaces", Some("bare escaped spaces")),
            ("bare # trailing comment", Some("bare")),
            (r#"con"cat"'en'ated"#, Some("concatenated")),
            (r#""unterminated"#, None),
            ("'unterminated", None),
            (r#""ends in backslash\"#, None),
            ("", Some("")),
        ];
        for (raw, expected) in cases {
            assert_eq!(parse_value(raw).as_deref(), expected, "{raw}");
        }
    }

    #[test]
    fn bad_lines_are_reported_not_fatal() {
        let out = analyze(
            "usr/lib/os-release",
            "ID=alpine\nnot an assignment\n1BAD=x\nNAME=\"open\nVERSION_ID=3.20.0\n",
        )
        .unwrap();
        let os = out.os.unwrap();
        assert_eq!(os.version_id.as_deref(), Some("3.20.0"));
        assert_eq!(os.path, "usr/lib/os-release");
        assert_eq!(out.diagnostics.len(), 1);
        assert_eq!(out.diagnostics[0].code, "malformed-os-release-line");
        assert!(out.diagnostics[0].message.starts_with("3 line(s)"));
        assert!(out.diagnostics[0].message.ends_with("line 2)"));
    }

    #[test]
    fn empty_and_oversized_files_are_errors() {
        assert!(matches!(
            analyze("etc/os-release", "# only a comment\n"),
            Err(AnalyzerError::Malformed { .. })
        ));
        let huge = "ID=debian\n".repeat(10_000);
        assert!(matches!(
            analyze("etc/os-release", &huge),
            Err(AnalyzerError::Limit(_))
        ));
    }

    #[test]
    fn wants_only_the_two_paths() {
        let cases = [
            ("etc/os-release", true),
            ("usr/lib/os-release", true),
            ("etc/os-release.bak", false),
            ("usr/etc/os-release", false),
            ("os-release", false),
        ];
        for (path, expected) in cases {
            let meta = FileMeta {
                path,
                size: 10,
                mode: 0o644,
            };
            assert_eq!(OsReleaseAnalyzer.wants(&meta), expected, "{path}");
        }
    }
}
