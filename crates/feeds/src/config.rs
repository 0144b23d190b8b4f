use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::Url;

use crate::feed::{FeedId, RedHatCsafKind};

/// Where every feed lives and how patiently and how much to download.
/// [`Default`] gives the real public locations.
#[derive(Debug, Clone)]
pub struct FeedsConfig {
    pub osv: OsvConfig,
    pub debian_tracker: SimpleFeedConfig,
    pub alpine: AlpineConfig,
    pub nvd: NvdConfig,
    pub epss: SimpleFeedConfig,
    pub kev: SimpleFeedConfig,
    pub redhat_csaf: RedHatCsafConfig,
    pub http: HttpConfig,
    pub limits: SizeLimits,
}

#[derive(Debug, Clone)]
pub struct OsvConfig {
    pub enabled: bool,
    /// Holds `ecosystems.txt` and `<ECOSYSTEM>/{all.zip,modified_id.csv,<ID>.json}`.
    pub base_url: Url,
    /// Names as in OSV's `ecosystems.txt`; distro ecosystems by their base name.
    pub ecosystems: Vec<String>,
    /// More changed records than this since the cursor and one `all.zip` is
    /// cheaper than that many single requests.
    pub incremental_threshold: usize,
    /// Single-record downloads in flight at once during an incremental update.
    pub concurrency: usize,
}

/// Red Hat's CSAF data: `<base>/advisories/` and `<base>/vex/`, each with
/// `archive_latest.txt`, the archive it names, `changes.csv`,
/// `deletions.csv` and `<year>/<name>.json`.
#[derive(Debug, Clone)]
pub struct RedHatCsafConfig {
    pub base_url: Url,
    /// The RHSA errata: every fixed build per RHEL stream. On by default,
    /// the feed RHEL, CentOS and UBI images are matched against.
    pub advisories: bool,
    /// The per-CVE VEX documents: adds the unfixed, won't-fix and
    /// not-affected statuses. Off by default: the VEX set covers every CVE
    /// Red Hat ever assessed (over 100,000 documents, an archive several
    /// times the advisories' and a first import many minutes long), while
    /// the fixes a scan reports as fixable all come from the advisories.
    /// `--feed redhat-csaf/vex` fetches it on request.
    pub vex: bool,
    /// More documents changed since the cursor than this, and one archive is
    /// cheaper than that many single requests.
    pub incremental_threshold: usize,
    /// Single-document downloads in flight at once during an incremental update.
    pub concurrency: usize,
}

/// A feed that is one document at one URL.
#[derive(Debug, Clone)]
pub struct SimpleFeedConfig {
    pub enabled: bool,
    pub url: Url,
}

#[derive(Debug, Clone)]
pub struct AlpineConfig {
    pub enabled: bool,
    /// Holds `<branch>/<repository>.json`.
    pub base_url: Url,
    pub branches: Vec<String>,
    pub repositories: Vec<String>,
}

/// When the NVD feed is part of [`FeedsConfig::enabled_feeds`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NvdEnabled {
    Never,
    /// The default. Without a key NVD allows 5 requests per 30 s, so the first
    /// full download (~160 pages of 2,000 CVEs) takes over 15 minutes, and OSV
    /// and the distro feeds already carry most scores; with a key it takes
    /// about two minutes.
    #[default]
    WhenKeyConfigured,
    Always,
}

#[derive(Debug, Clone)]
pub struct NvdConfig {
    pub enabled: NvdEnabled,
    /// The CVE API 2.0 endpoint.
    pub url: Url,
    /// Sent as the `apiKey` header; never logged or shown in errors.
    pub api_key: Option<ApiKey>,
    /// Pause between consecutive requests; `None` = NVD's public rate limit
    /// (5 requests / 30 s without a key, 50 with), see [`NvdConfig::interval`].
    pub request_interval: Option<Duration>,
    /// At most 2,000 (the API's maximum).
    pub results_per_page: u32,
    /// The API refuses date windows longer than 120 days.
    pub max_window: Duration,
    /// A paging loop a hostile or confused server cannot keep going forever.
    pub max_pages: u32,
}

impl NvdConfig {
    /// The pause between requests: the configured one, else NVD's rate limit
    /// spread evenly (30 s / 5 without a key, 30 s / 50 with one).
    pub fn interval(&self) -> Duration {
        self.request_interval.unwrap_or(if self.api_key.is_some() {
            Duration::from_millis(600)
        } else {
            Duration::from_secs(6)
        })
    }
}

/// An NVD API key. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> ApiKey {
        ApiKey(key.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// Until the response headers arrive, and the longest silence between
    /// two pieces of a body.
    pub request_timeout: Duration,
    /// The whole of one download, body included (an OSV `all.zip` is large).
    pub download_timeout: Duration,
    pub retry: RetryPolicy,
}

/// How often and how patiently to retry transient failures (429, 5xx,
/// connection errors, bodies cut short).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included; 1 disables retries.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubles each time.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Ceiling for a server's `Retry-After`, so a confused server cannot
    /// park an update for hours.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based): exponential, capped,
    /// half fixed and half random so that many installs spread out.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let base = self
            .initial_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff);
        let half = base / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(fastrand::u64(0..=jitter_ms))
    }

    /// The wait a `Retry-After` value (seconds or an HTTP date) asks for,
    /// capped; `None` when unreadable.
    pub fn retry_after(&self, value: &str, now: SystemTime) -> Option<Duration> {
        let value = value.trim();
        let wanted = match value.parse::<u64>() {
            Ok(secs) => Duration::from_secs(secs),
            Err(_) => {
                let at = httpdate::parse_http_date(value).ok()?;
                at.duration_since(now).unwrap_or(Duration::ZERO)
            }
        };
        Some(wanted.min(self.max_retry_after))
    }
}

/// Caps on what one download may bring, so a hostile or broken mirror cannot
/// fill the disk or the memory. Larger bodies fail with
/// [`crate::FetchError::TooLarge`].
#[derive(Debug, Clone)]
pub struct SizeLimits {
    /// One OSV `all.zip` (Ubuntu's and Debian's are the largest, a few hundred MB).
    pub osv_archive: u64,
    /// One OSV record fetched on its own.
    pub osv_record: u64,
    /// The part of `modified_id.csv` read (reading stops at the cursor).
    pub osv_modified_csv: u64,
    /// `ecosystems.txt`.
    pub osv_ecosystems: u64,
    pub debian_tracker: u64,
    pub alpine_secdb: u64,
    /// One NVD page (2,000 CVEs are tens of MB), held in memory to read its totals.
    pub nvd_page: u64,
    /// The compressed EPSS file.
    pub epss: u64,
    pub kev: u64,
    /// Red Hat's advisories archive (`csaf_advisories_*.tar.zst`; a few
    /// hundred MB compressed today).
    pub redhat_advisories_archive: u64,
    /// Red Hat's VEX archive (`csaf_vex_*.tar.zst`; several times larger).
    pub redhat_vex_archive: u64,
    /// `changes.csv` / `deletions.csv` (one line per document ever changed:
    /// a few MB for advisories, tens for VEX).
    pub redhat_csv: u64,
    /// One CSAF document fetched on its own (the importer's own cap per
    /// document is 64 MiB too).
    pub redhat_document: u64,
}

impl Default for SizeLimits {
    fn default() -> SizeLimits {
        const MIB: u64 = 1024 * 1024;
        SizeLimits {
            osv_archive: 4 * 1024 * MIB,
            osv_record: 16 * MIB,
            osv_modified_csv: 256 * MIB,
            osv_ecosystems: MIB,
            debian_tracker: 1024 * MIB,
            alpine_secdb: 64 * MIB,
            nvd_page: 256 * MIB,
            epss: 256 * MIB,
            kev: 64 * MIB,
            redhat_advisories_archive: 4 * 1024 * MIB,
            redhat_vex_archive: 16 * 1024 * MIB,
            redhat_csv: 256 * MIB,
            redhat_document: 64 * MIB,
        }
    }
}

/// The ecosystems we match, as OSV names them.
pub const DEFAULT_OSV_ECOSYSTEMS: &[&str] = &[
    "Go",
    "crates.io",
    "PyPI",
    "npm",
    "Maven",
    "RubyGems",
    "Debian",
    "Ubuntu",
    "Alpine",
    "AlmaLinux",
    "Rocky Linux",
    "Wolfi",
    "Chainguard",
];

/// Alpine branches still receiving security fixes, and edge.
pub const DEFAULT_ALPINE_BRANCHES: &[&str] = &["v3.18", "v3.19", "v3.20", "v3.21", "v3.22", "edge"];
pub const DEFAULT_ALPINE_REPOSITORIES: &[&str] = &["main", "community"];

fn known_url(url: &str) -> Url {
    // The defaults are constants of this crate, checked by a unit test.
    Url::parse(url).expect("built-in feed URL")
}

impl Default for FeedsConfig {
    fn default() -> FeedsConfig {
        FeedsConfig {
            osv: OsvConfig {
                enabled: true,
                base_url: known_url("https://storage.googleapis.com/osv-vulnerabilities/"),
                ecosystems: DEFAULT_OSV_ECOSYSTEMS
                    .iter()
                    .map(|e| (*e).to_owned())
                    .collect(),
                incremental_threshold: 2_000,
                concurrency: 8,
            },
            debian_tracker: SimpleFeedConfig {
                enabled: true,
                url: known_url("https://security-tracker.debian.org/tracker/data/json"),
            },
            alpine: AlpineConfig {
                enabled: true,
                base_url: known_url("https://secdb.alpinelinux.org/"),
                branches: DEFAULT_ALPINE_BRANCHES
                    .iter()
                    .map(|b| (*b).to_owned())
                    .collect(),
                repositories: DEFAULT_ALPINE_REPOSITORIES
                    .iter()
                    .map(|r| (*r).to_owned())
                    .collect(),
            },
            nvd: NvdConfig {
                enabled: NvdEnabled::default(),
                url: known_url("https://services.nvd.nist.gov/rest/json/cves/2.0"),
                api_key: None,
                request_interval: None,
                results_per_page: 2_000,
                max_window: Duration::from_secs(120 * 24 * 3600),
                max_pages: 2_000,
            },
            epss: SimpleFeedConfig {
                enabled: true,
                url: known_url("https://epss.empiricalsecurity.com/epss_scores-current.csv.gz"),
            },
            kev: SimpleFeedConfig {
                enabled: true,
                url: known_url(
                    "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json",
                ),
            },
            redhat_csaf: RedHatCsafConfig {
                base_url: known_url("https://security.access.redhat.com/data/csaf/v2/"),
                advisories: true,
                vex: false,
                incremental_threshold: 2_000,
                concurrency: 8,
            },
            http: HttpConfig {
                user_agent: concat!("shipshape/", env!("CARGO_PKG_VERSION")).to_owned(),
                connect_timeout: Duration::from_secs(30),
                request_timeout: Duration::from_secs(60),
                download_timeout: Duration::from_secs(3600),
                retry: RetryPolicy::default(),
            },
            limits: SizeLimits::default(),
        }
    }
}

impl FeedsConfig {
    /// The same layout under other roots (a mirror, or a test server):
    /// `<base>/osv/`, `<base>/debian-tracker/json`, `<base>/alpine/`,
    /// `<base>/nvd/rest/json/cves/2.0`, `<base>/epss/epss_scores-current.csv.gz`,
    /// `<base>/kev/known_exploited_vulnerabilities.json`, `<base>/redhat-csaf/`.
    pub fn with_mirror(base: &Url) -> Result<FeedsConfig, url::ParseError> {
        let mut config = FeedsConfig::default();
        let base = if base.path().ends_with('/') {
            base.clone()
        } else {
            let mut with_slash = base.clone();
            with_slash.set_path(&format!("{}/", base.path()));
            with_slash
        };
        config.osv.base_url = base.join("osv/")?;
        config.debian_tracker.url = base.join("debian-tracker/json")?;
        config.alpine.base_url = base.join("alpine/")?;
        config.nvd.url = base.join("nvd/rest/json/cves/2.0")?;
        config.epss.url = base.join("epss/epss_scores-current.csv.gz")?;
        config.kev.url = base.join("kev/known_exploited_vulnerabilities.json")?;
        config.redhat_csaf.base_url = base.join("redhat-csaf/")?;
        Ok(config)
    }

    /// The feeds `db update` fetches, in a stable order.
    pub fn enabled_feeds(&self) -> Vec<FeedId> {
        let mut feeds = Vec::new();
        if self.osv.enabled {
            feeds.extend(self.osv.ecosystems.iter().map(FeedId::osv));
        }
        if self.debian_tracker.enabled {
            feeds.push(FeedId::DebianTracker);
        }
        if self.alpine.enabled {
            for branch in &self.alpine.branches {
                for repository in &self.alpine.repositories {
                    feeds.push(FeedId::alpine_secdb(branch, repository));
                }
            }
        }
        let nvd = match self.nvd.enabled {
            NvdEnabled::Never => false,
            NvdEnabled::WhenKeyConfigured => self.nvd.api_key.is_some(),
            NvdEnabled::Always => true,
        };
        if nvd {
            feeds.push(FeedId::Nvd);
        }
        if self.epss.enabled {
            feeds.push(FeedId::Epss);
        }
        if self.kev.enabled {
            feeds.push(FeedId::Kev);
        }
        if self.redhat_csaf.advisories {
            feeds.push(FeedId::RedHatCsaf {
                kind: RedHatCsafKind::Advisories,
            });
        }
        if self.redhat_csaf.vex {
            feeds.push(FeedId::RedHatCsaf {
                kind: RedHatCsafKind::Vex,
            });
        }
        feeds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_real_locations() {
        let config = FeedsConfig::default();
        let names: Vec<String> = config
            .enabled_feeds()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names.first().map(String::as_str), Some("osv/Go"));
        assert!(names.contains(&"osv/Rocky Linux".to_owned()));
        assert!(names.contains(&"alpine-secdb/v3.22/community".to_owned()));
        assert!(names.contains(&"alpine-secdb/edge/main".to_owned()));
        assert!(
            !names.contains(&"nvd".to_owned()),
            "NVD needs a key by default"
        );
        assert!(names.contains(&"redhat-csaf/advisories".to_owned()));
        assert!(
            !names.contains(&"redhat-csaf/vex".to_owned()),
            "VEX only on request"
        );
        assert_eq!(names.len(), 13 + 1 + 12 + 2 + 1);
        for feed in config.enabled_feeds() {
            feed.validate().unwrap();
        }
        assert_eq!(config.nvd.interval(), Duration::from_secs(6));

        let mut keyed = FeedsConfig::default();
        keyed.nvd.api_key = Some(ApiKey::new("secret"));
        assert!(keyed.enabled_feeds().contains(&FeedId::Nvd));
        assert_eq!(keyed.nvd.interval(), Duration::from_millis(600));
        assert!(!format!("{keyed:?}").contains("secret"));
        keyed.nvd.enabled = NvdEnabled::Never;
        assert!(!keyed.enabled_feeds().contains(&FeedId::Nvd));
    }

    #[test]
    fn mirror_layout() {
        let base = Url::parse("http://127.0.0.1:9/m").unwrap();
        let config = FeedsConfig::with_mirror(&base).unwrap();
        assert_eq!(config.osv.base_url.as_str(), "http://127.0.0.1:9/m/osv/");
        assert_eq!(
            config.nvd.url.as_str(),
            "http://127.0.0.1:9/m/nvd/rest/json/cves/2.0"
        );
        assert_eq!(
            config.redhat_csaf.base_url.as_str(),
            "http://127.0.0.1:9/m/redhat-csaf/"
        );
    }

    #[test]
    fn retry_after_values() {
        let policy = RetryPolicy::default();
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let cases = [
            ("3", Some(3)),
            ("100000", Some(120)),
            ("Wed, 21 Oct 2015 07:28:10 GMT", Some(10)),
            ("Wed, 21 Oct 2015 07:27:00 GMT", Some(0)),
            ("soon", None),
        ];
        for (value, expected) in cases {
            assert_eq!(
                policy.retry_after(value, now).map(|d| d.as_secs()),
                expected,
                "{value}"
            );
        }
    }

    #[test]
    fn backoff_grows_and_caps() {
        let policy = RetryPolicy {
            max_attempts: 9,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(1),
        };
        for (attempt, lo, hi) in [(1, 50, 100), (2, 100, 200), (4, 400, 800), (40, 500, 1000)] {
            for _ in 0..20 {
                let ms = policy.backoff(attempt).as_millis();
                assert!((lo..=hi).contains(&ms), "attempt {attempt}: {ms}ms");
            }
        }
    }
}
