use std::fmt;
use std::str::FromStr;

/// One downloadable feed, with a stable name (`osv/Go`, `debian-tracker`,
/// `alpine-secdb/v3.19/main`, `nvd`, `epss`, `kev`, `redhat-csaf/advisories`,
/// `redhat-csaf/vex`) that the database keeps
/// its cursor under. [`FromStr`] and [`fmt::Display`] round-trip.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FeedId {
    /// One ecosystem of the OSV bulk export, named as in OSV's `ecosystems.txt`
    /// (`Go`, `crates.io`, `Rocky Linux`).
    Osv {
        ecosystem: String,
    },
    DebianTracker,
    /// One secdb document: `<branch>/<repository>.json` (`v3.19`, `main`).
    AlpineSecdb {
        branch: String,
        repository: String,
    },
    Nvd,
    Epss,
    Kev,
    /// Red Hat's CSAF documents of one kind (RHSA errata or per-CVE VEX).
    RedHatCsaf {
        kind: RedHatCsafKind,
    },
}

/// The two document sets Red Hat publishes as CSAF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RedHatCsafKind {
    /// Security advisories (RHSA): the fixed builds per stream.
    Advisories,
    /// One VEX document per CVE: also the unfixed, won't-fix and
    /// not-affected statuses.
    Vex,
}

impl RedHatCsafKind {
    /// The directory under the CSAF base, and the feed name's suffix.
    pub fn as_str(self) -> &'static str {
        match self {
            RedHatCsafKind::Advisories => "advisories",
            RedHatCsafKind::Vex => "vex",
        }
    }
}

/// Which importer reads the files a fetch produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedFormat {
    /// An OSV bulk archive (`all.zip`): `advisory::import_osv_zip_file`.
    OsvZip,
    /// Single OSV JSON records (`<ID>.json`): `advisory::import_osv_dir` / `parse_osv_json`.
    OsvJson,
    /// The Debian security tracker JSON: `advisory::import_debian_tracker_file`.
    DebianTrackerJson,
    /// One Alpine secdb JSON document: `advisory::import_alpine_secdb_file`.
    AlpineSecdbJson,
    /// NVD CVE API 2.0 pages: `advisory::import_nvd_page_file` / `import_nvd_dir`.
    NvdApiPages,
    /// EPSS scores, gzip-compressed CSV: `advisory::import_epss_file`.
    EpssCsvGz,
    /// The CISA KEV catalog JSON: `advisory::import_kev_file`.
    KevJson,
    /// Red Hat's bulk CSAF archive (`csaf_*.tar.zst`): `advisory::import_redhat_csaf_archive`.
    RedHatCsafArchive,
    /// Single Red Hat CSAF documents (`rhsa-*.json`, `cve-*.json`): `advisory::import_redhat_csaf_file`.
    RedHatCsafJson,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid feed name {name:?}: {reason}")]
pub struct FeedIdError {
    pub name: String,
    pub reason: &'static str,
}

impl FeedId {
    pub fn osv(ecosystem: impl Into<String>) -> FeedId {
        FeedId::Osv {
            ecosystem: ecosystem.into(),
        }
    }

    pub fn alpine_secdb(branch: impl Into<String>, repository: impl Into<String>) -> FeedId {
        FeedId::AlpineSecdb {
            branch: branch.into(),
            repository: repository.into(),
        }
    }

    /// The importer format of the files a full download of this feed yields
    /// (an incremental OSV fetch yields [`FeedFormat::OsvJson`], a Red Hat
    /// one [`FeedFormat::RedHatCsafJson`] instead).
    pub fn full_format(&self) -> FeedFormat {
        match self {
            FeedId::Osv { .. } => FeedFormat::OsvZip,
            FeedId::DebianTracker => FeedFormat::DebianTrackerJson,
            FeedId::AlpineSecdb { .. } => FeedFormat::AlpineSecdbJson,
            FeedId::Nvd => FeedFormat::NvdApiPages,
            FeedId::Epss => FeedFormat::EpssCsvGz,
            FeedId::Kev => FeedFormat::KevJson,
            FeedId::RedHatCsaf { .. } => FeedFormat::RedHatCsafArchive,
        }
    }

    /// Checks the parts that end up in URLs. Enum fields are public, so a
    /// value built in code is checked again before anything is fetched.
    pub fn validate(&self) -> Result<(), FeedIdError> {
        let fail = |reason| {
            Err(FeedIdError {
                name: self.to_string(),
                reason,
            })
        };
        match self {
            FeedId::Osv { ecosystem } => {
                // Ecosystem names contain spaces and dots (`Rocky Linux`,
                // `crates.io`) but never path separators or control characters.
                if ecosystem.is_empty() || ecosystem.len() > 64 {
                    return fail("the OSV ecosystem must be 1 to 64 characters");
                }
                if ecosystem.contains(['/', '\\'])
                    || ecosystem.chars().any(char::is_control)
                    || ecosystem == "."
                    || ecosystem == ".."
                    || ecosystem.trim() != ecosystem
                {
                    return fail("the OSV ecosystem is not a plain name");
                }
                Ok(())
            }
            FeedId::AlpineSecdb { branch, repository } => {
                if !is_token(branch) || !is_token(repository) {
                    return fail("branch and repository must be names like v3.19 and main");
                }
                Ok(())
            }
            FeedId::DebianTracker
            | FeedId::Nvd
            | FeedId::Epss
            | FeedId::Kev
            | FeedId::RedHatCsaf { .. } => Ok(()),
        }
    }
}

/// `[A-Za-z0-9._-]`, 1–32 characters, not starting with a dot.
fn is_token(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 32
        && !value.starts_with('.')
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl fmt::Display for FeedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeedId::Osv { ecosystem } => write!(f, "osv/{ecosystem}"),
            FeedId::DebianTracker => f.write_str("debian-tracker"),
            FeedId::AlpineSecdb { branch, repository } => {
                write!(f, "alpine-secdb/{branch}/{repository}")
            }
            FeedId::Nvd => f.write_str("nvd"),
            FeedId::Epss => f.write_str("epss"),
            FeedId::Kev => f.write_str("kev"),
            FeedId::RedHatCsaf { kind } => write!(f, "redhat-csaf/{}", kind.as_str()),
        }
    }
}

impl FromStr for FeedId {
    type Err = FeedIdError;

    fn from_str(name: &str) -> Result<FeedId, FeedIdError> {
        let feed = match name {
            "debian-tracker" => FeedId::DebianTracker,
            "nvd" => FeedId::Nvd,
            "epss" => FeedId::Epss,
            "kev" => FeedId::Kev,
            "redhat-csaf/advisories" => FeedId::RedHatCsaf {
                kind: RedHatCsafKind::Advisories,
            },
            "redhat-csaf/vex" => FeedId::RedHatCsaf {
                kind: RedHatCsafKind::Vex,
            },
            _ => {
                if let Some(ecosystem) = name.strip_prefix("osv/") {
                    FeedId::osv(ecosystem)
                } else if let Some(rest) = name.strip_prefix("alpine-secdb/") {
                    let Some((branch, repository)) = rest.split_once('/') else {
                        return Err(FeedIdError {
                            name: name.to_owned(),
                            reason: "expected alpine-secdb/<branch>/<repository>",
                        });
                    };
                    FeedId::alpine_secdb(branch, repository)
                } else {
                    return Err(FeedIdError {
                        name: name.to_owned(),
                        reason: "unknown feed (expected osv/<ecosystem>, debian-tracker, alpine-secdb/<branch>/<repository>, nvd, epss, kev, redhat-csaf/advisories or redhat-csaf/vex)",
                    });
                }
            }
        };
        feed.validate()?;
        Ok(feed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let cases = [
            ("osv/Go", Some(FeedId::osv("Go"))),
            ("osv/Rocky Linux", Some(FeedId::osv("Rocky Linux"))),
            ("osv/crates.io", Some(FeedId::osv("crates.io"))),
            ("debian-tracker", Some(FeedId::DebianTracker)),
            (
                "alpine-secdb/v3.19/main",
                Some(FeedId::alpine_secdb("v3.19", "main")),
            ),
            ("nvd", Some(FeedId::Nvd)),
            ("epss", Some(FeedId::Epss)),
            ("kev", Some(FeedId::Kev)),
            (
                "redhat-csaf/advisories",
                Some(FeedId::RedHatCsaf {
                    kind: RedHatCsafKind::Advisories,
                }),
            ),
            (
                "redhat-csaf/vex",
                Some(FeedId::RedHatCsaf {
                    kind: RedHatCsafKind::Vex,
                }),
            ),
            ("redhat-csaf", None),
            ("redhat-csaf/oval", None),
            ("osv/", None),
            ("osv/..", None),
            ("osv/a/b", None),
            ("osv/ Go", None),
            ("osv/Go\n", None),
            ("alpine-secdb/v3.19", None),
            ("alpine-secdb/v3.19/main/x", None),
            ("alpine-secdb/../main", None),
            ("alpine-secdb/v3.19/ma in", None),
            ("NVD", None),
            ("", None),
        ];
        for (name, expected) in cases {
            let parsed = name.parse::<FeedId>().ok();
            assert_eq!(parsed, expected, "{name:?}");
            if let Some(feed) = parsed {
                assert_eq!(feed.to_string(), name);
            }
        }
    }
}
