//! What the report queries take: the scope filter (with the label selector
//! parser), sorting and pagination. Everything here comes from query
//! strings, so every piece is parsed into a bounded, checked value before a
//! query sees it.

use model::Severity;
use serde::{Deserialize, Serialize};

use crate::types::ScanStatus;

/// A label selector longer than this is refused (bytes).
pub const MAX_SELECTOR_LEN: usize = 1024;
/// At most this many requirements in one selector.
pub const MAX_LABEL_REQUIREMENTS: usize = 20;
/// At most this many clusters or namespaces in one filter.
pub const MAX_FILTER_VALUES: usize = 100;
/// A search text longer than this is refused (bytes).
pub const MAX_TEXT_LEN: usize = 256;
/// Pages never hold more rows than this, whatever is asked.
pub const MAX_PAGE_LIMIT: u32 = 500;
/// The page size when none is asked for.
pub const DEFAULT_PAGE_LIMIT: u32 = 50;
/// Offsets beyond this are refused (deep offsets cost a scan of everything before).
pub const MAX_OFFSET: u64 = 1_000_000;

/// Why a filter, selector, sort or page is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("label selector is longer than {MAX_SELECTOR_LEN} bytes")]
    SelectorTooLong,
    #[error("label selector has more than {MAX_LABEL_REQUIREMENTS} requirements")]
    TooManyRequirements,
    #[error("label selector requirement {position} is empty")]
    EmptyRequirement { position: usize },
    #[error("label selector requirement {position}: invalid label key {key:?}: {reason}")]
    InvalidKey {
        position: usize,
        key: String,
        reason: &'static str,
    },
    #[error("label selector requirement {position}: invalid label value {value:?}: {reason}")]
    InvalidValue {
        position: usize,
        value: String,
        reason: &'static str,
    },
    #[error("more than {MAX_FILTER_VALUES} {what} in one filter")]
    TooManyValues { what: &'static str },
    #[error("{what} must not be empty")]
    EmptyValue { what: &'static str },
    #[error("search text is longer than {MAX_TEXT_LEN} bytes")]
    TextTooLong,
    #[error("search text contains control characters")]
    TextControl,
    #[error("unknown sort field {0:?}")]
    UnknownSortField(String),
    #[error("offset beyond {MAX_OFFSET}")]
    OffsetTooLarge,
}

/// One requirement of a Kubernetes equality-based label selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LabelRequirement {
    /// `key=value` (also `key==value`).
    Equals { key: String, value: String },
    /// `key!=value`: as in Kubernetes, also matches objects without the key.
    NotEquals { key: String, value: String },
    /// `key`: the key is present, any value.
    Exists { key: String },
    /// `!key`: the key is absent.
    NotExists { key: String },
}

/// Parses `key=value,key!=value,key,!key` (Kubernetes equality-based
/// selector syntax; spaces around parts are ignored). Keys and values follow
/// Kubernetes' label syntax, so nothing odd reaches a query.
pub fn parse_selector(selector: &str) -> Result<Vec<LabelRequirement>, FilterError> {
    if selector.len() > MAX_SELECTOR_LEN {
        return Err(FilterError::SelectorTooLong);
    }
    if selector.trim().is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<&str> = selector.split(',').collect();
    if parts.len() > MAX_LABEL_REQUIREMENTS {
        return Err(FilterError::TooManyRequirements);
    }
    parts
        .iter()
        .enumerate()
        .map(|(index, part)| parse_requirement(index + 1, part.trim()))
        .collect()
}

fn parse_requirement(position: usize, part: &str) -> Result<LabelRequirement, FilterError> {
    if part.is_empty() {
        return Err(FilterError::EmptyRequirement { position });
    }
    let key = |k: &str| check_key(position, k.trim());
    let value = |v: &str| check_value(position, v.trim());
    if let Some((k, v)) = part.split_once("!=") {
        return Ok(LabelRequirement::NotEquals {
            key: key(k)?,
            value: value(v)?,
        });
    }
    if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return Ok(LabelRequirement::Equals {
            key: key(k)?,
            value: value(v)?,
        });
    }
    if let Some(k) = part.strip_prefix('!') {
        return Ok(LabelRequirement::NotExists { key: key(k)? });
    }
    Ok(LabelRequirement::Exists { key: key(part)? })
}

/// `[prefix/]name`: prefix a DNS subdomain (≤ 253), name ≤ 63 of
/// `[A-Za-z0-9._-]`, starting and ending alphanumeric.
fn check_key(position: usize, key: &str) -> Result<String, FilterError> {
    let invalid = |reason| FilterError::InvalidKey {
        position,
        key: truncate(key),
        reason,
    };
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() || prefix.len() > 253 {
            return Err(invalid("the prefix must be 1 to 253 characters"));
        }
        let dns_ok = prefix.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
        if !dns_ok {
            return Err(invalid("the prefix must be a DNS subdomain"));
        }
    }
    if name.is_empty() {
        return Err(invalid("the name is empty"));
    }
    check_name(name).map_err(invalid)?;
    Ok(key.to_owned())
}

/// Empty, or a name as for keys.
fn check_value(position: usize, value: &str) -> Result<String, FilterError> {
    if value.is_empty() {
        return Ok(String::new());
    }
    check_name(value).map_err(|reason| FilterError::InvalidValue {
        position,
        value: truncate(value),
        reason,
    })?;
    Ok(value.to_owned())
}

fn check_name(name: &str) -> Result<(), &'static str> {
    if name.len() > 63 {
        return Err("longer than 63 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err("only letters, digits, '-', '_' and '.' are allowed");
    }
    let alnum = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    if !alnum(name.bytes().next()) || !alnum(name.bytes().last()) {
        return Err("must start and end with a letter or digit");
    }
    Ok(())
}

/// Bounded copy of hostile input for an error message.
fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// A search text: bounded, no control characters, matched as a
/// case-insensitive substring (never as a pattern).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SearchText(String);

impl SearchText {
    /// `None` for an empty (or all-space) text: no text filter.
    pub fn parse(text: &str) -> Result<Option<SearchText>, FilterError> {
        if text.len() > MAX_TEXT_LEN {
            return Err(FilterError::TextTooLong);
        }
        if text.chars().any(char::is_control) {
            return Err(FilterError::TextControl);
        }
        let trimmed = text.trim();
        Ok((!trimmed.is_empty()).then(|| SearchText(trimmed.to_lowercase())))
    }

    /// The lowercased text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A `LIKE` pattern matching the text anywhere, with `\` as the escape
    /// character for `%`, `_` and `\` in the text.
    pub(crate) fn like_pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.0.len() + 2);
        pattern.push('%');
        for c in self.0.chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        pattern
    }
}

impl TryFrom<String> for SearchText {
    type Error = FilterError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        SearchText::parse(&value)?.ok_or(FilterError::EmptyValue {
            what: "search text",
        })
    }
}

impl From<SearchText> for String {
    fn from(value: SearchText) -> String {
        value.0
    }
}

/// Whether an image runs anywhere in scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageStatus {
    Running,
    NotRunning,
}

/// The scope of the report: every statistic and list follows it. An empty
/// list means "no restriction" on that dimension.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportFilter {
    pub clusters: Vec<String>,
    pub namespaces: Vec<String>,
    /// Matched against the workloads' labels; all requirements must hold.
    pub labels: Vec<LabelRequirement>,
    pub image_status: Option<ImageStatus>,
    pub scan_statuses: Vec<ScanStatus>,
    /// Images with at least one (not excepted) finding of these severities;
    /// counts are restricted to them.
    pub severities: Vec<Severity>,
    /// Images with a fixable finding; counts are restricted to fixable findings.
    pub fixable_only: bool,
    /// Substring of the repository, a tag, the digest, or a vulnerability ID.
    pub text: Option<SearchText>,
    /// The Excepted view: excepted repositories instead of the active ones.
    pub excepted: bool,
}

impl ReportFilter {
    /// Checks the parts that are plain lists (sizes, empty names); the
    /// selector and text are checked when parsed.
    pub fn check(&self) -> Result<(), FilterError> {
        for (what, values) in [
            ("clusters", &self.clusters),
            ("namespaces", &self.namespaces),
        ] {
            if values.len() > MAX_FILTER_VALUES {
                return Err(FilterError::TooManyValues { what });
            }
            if values.iter().any(|v| v.is_empty() || v.len() > 253) {
                return Err(FilterError::EmptyValue { what });
            }
        }
        if self.labels.len() > MAX_LABEL_REQUIREMENTS {
            return Err(FilterError::TooManyRequirements);
        }
        Ok(())
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Ascending,
    #[default]
    Descending,
}

/// A sort: a whitelisted field and a direction. Ties are broken by a
/// stable key (the row's identity), so pages never overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sort<F> {
    pub field: F,
    pub direction: Direction,
}

/// Fields the repository list sorts by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepositorySortField {
    Repository,
    Images,
    /// Critical first, then high, … (lexicographic over the severity counts).
    #[default]
    Severity,
    Critical,
    High,
    Fixable,
    Clusters,
    Resources,
    LastScanned,
}

/// Fields an image's vulnerability list sorts by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VulnerabilitySortField {
    #[default]
    Cvss,
    Severity,
    Id,
    Package,
    Epss,
    Layer,
}

macro_rules! parse_field {
    ($ty:ty, $($name:literal => $variant:expr),+ $(,)?) => {
        impl std::str::FromStr for $ty {
            type Err = FilterError;
            fn from_str(s: &str) -> Result<Self, FilterError> {
                match s {
                    $($name => Ok($variant),)+
                    other => Err(FilterError::UnknownSortField(truncate(other))),
                }
            }
        }
    };
}

parse_field!(RepositorySortField,
    "repository" => RepositorySortField::Repository,
    "images" => RepositorySortField::Images,
    "severity" => RepositorySortField::Severity,
    "critical" => RepositorySortField::Critical,
    "high" => RepositorySortField::High,
    "fixable" => RepositorySortField::Fixable,
    "clusters" => RepositorySortField::Clusters,
    "resources" => RepositorySortField::Resources,
    "last_scanned" => RepositorySortField::LastScanned,
);

parse_field!(VulnerabilitySortField,
    "cvss" => VulnerabilitySortField::Cvss,
    "severity" => VulnerabilitySortField::Severity,
    "id" => VulnerabilitySortField::Id,
    "package" => VulnerabilitySortField::Package,
    "epss" => VulnerabilitySortField::Epss,
    "layer" => VulnerabilitySortField::Layer,
);

/// One page of a list: `limit` is capped at [`MAX_PAGE_LIMIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Page {
    limit: u32,
    offset: u64,
}

impl Page {
    pub fn new(limit: u32, offset: u64) -> Result<Page, FilterError> {
        if offset > MAX_OFFSET {
            return Err(FilterError::OffsetTooLarge);
        }
        Ok(Page {
            limit: limit.clamp(1, MAX_PAGE_LIMIT),
            offset,
        })
    }

    pub fn first(limit: u32) -> Page {
        Page {
            limit: limit.clamp(1, MAX_PAGE_LIMIT),
            offset: 0,
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl Default for Page {
    fn default() -> Page {
        Page::first(DEFAULT_PAGE_LIMIT)
    }
}

/// A page of rows and the total number of rows in scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paged<T> {
    pub total: u64,
    pub items: Vec<T>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(key: &str, value: &str) -> LabelRequirement {
        LabelRequirement::Equals {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn selector_table() {
        let ne = |key: &str, value: &str| LabelRequirement::NotEquals {
            key: key.into(),
            value: value.into(),
        };
        let exists = |key: &str| LabelRequirement::Exists { key: key.into() };
        let absent = |key: &str| LabelRequirement::NotExists { key: key.into() };
        // (input, parsed)
        let good: Vec<(&str, Vec<LabelRequirement>)> = vec![
            ("", vec![]),
            ("   ", vec![]),
            ("app=web", vec![eq("app", "web")]),
            ("app==web", vec![eq("app", "web")]),
            ("app!=web", vec![ne("app", "web")]),
            ("app", vec![exists("app")]),
            ("!app", vec![absent("app")]),
            ("app=", vec![eq("app", "")]),
            (
                " app = web , tier!=db,team ",
                vec![eq("app", "web"), ne("tier", "db"), exists("team")],
            ),
            (
                "app.kubernetes.io/name=nginx",
                vec![eq("app.kubernetes.io/name", "nginx")],
            ),
            ("a-b_c.d=v1.2_x-y", vec![eq("a-b_c.d", "v1.2_x-y")]),
        ];
        for (input, want) in good {
            assert_eq!(parse_selector(input), Ok(want), "{input:?}");
        }
    }

    #[test]
    fn hostile_selectors() {
        let long_value = format!("app={}", "v".repeat(64));
        let long_key = format!("{}=v", "k".repeat(64));
        let huge = "a=b,".repeat(300);
        let many = vec!["a=b"; MAX_LABEL_REQUIREMENTS + 1].join(",");
        let long_prefix = format!("{}/name=v", "a".repeat(254));
        // (input, expected error)
        let bad: Vec<(&str, FilterError)> = vec![
            (&huge, FilterError::SelectorTooLong),
            (&many, FilterError::TooManyRequirements),
            ("app=web,", FilterError::EmptyRequirement { position: 2 }),
            (",app", FilterError::EmptyRequirement { position: 1 }),
        ];
        for (input, want) in bad {
            assert_eq!(parse_selector(input), Err(want), "{input:?}");
        }
        // Inputs refused with a key or value error naming the position.
        let refused = [
            "app=web' OR '1'='1",
            "app=%",
            "app=web;DROP TABLE workload",
            "=web",
            "!",
            "!=x",
            "-app=web",
            "app-=web",
            "app=-web",
            "a/b/c=d",
            "/name=v",
            "Prefix.Upper/name=v",
            "app=we b",
            "app=\u{0}",
            "app=é",
            "app in (a,b)",
            long_value.as_str(),
            long_key.as_str(),
            long_prefix.as_str(),
        ];
        for input in refused {
            let error = parse_selector(input).expect_err(input);
            assert!(
                matches!(
                    error,
                    FilterError::InvalidKey { .. } | FilterError::InvalidValue { .. }
                ),
                "{input:?}: {error:?}"
            );
            // The message quotes at most 64 characters of the input.
            assert!(error.to_string().len() < 200, "{input:?}: {error}");
        }
    }

    /// The lowercased text and its LIKE pattern, `None` for no filter.
    type Parsed = Result<Option<(&'static str, &'static str)>, FilterError>;

    #[test]
    fn search_text_table() {
        let table: Vec<(String, Parsed)> = vec![
            ("".into(), Ok(None)),
            ("  ".into(), Ok(None)),
            ("CVE-2024".into(), Ok(Some(("cve-2024", "%cve-2024%")))),
            (
                "50%_off\\".into(),
                Ok(Some(("50%_off\\", "%50\\%\\_off\\\\%"))),
            ),
            ("x".repeat(MAX_TEXT_LEN + 1), Err(FilterError::TextTooLong)),
            ("a\nb".into(), Err(FilterError::TextControl)),
        ];
        for (input, want) in table {
            let got = SearchText::parse(&input)
                .map(|t| t.map(|t| (t.as_str().to_owned(), t.like_pattern())));
            let want = want.map(|w| w.map(|(a, b)| (a.to_owned(), b.to_owned())));
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[test]
    fn filter_limits_and_sort_fields() {
        let mut filter = ReportFilter::default();
        assert_eq!(filter.check(), Ok(()));
        filter.namespaces = vec!["a".repeat(254)];
        assert_eq!(
            filter.check(),
            Err(FilterError::EmptyValue { what: "namespaces" })
        );
        filter.namespaces = Vec::new();
        filter.labels = vec![eq("a", "b"); MAX_LABEL_REQUIREMENTS + 1];
        assert_eq!(filter.check(), Err(FilterError::TooManyRequirements));
        assert_eq!(
            "critical".parse::<RepositorySortField>(),
            Ok(RepositorySortField::Critical)
        );
        assert!(matches!(
            "name; DROP".parse::<RepositorySortField>(),
            Err(FilterError::UnknownSortField(_))
        ));
        assert_eq!(
            "cvss".parse::<VulnerabilitySortField>(),
            Ok(VulnerabilitySortField::Cvss)
        );
        assert_eq!(Page::new(0, 0).map(|p| p.limit()), Ok(1));
    }
}
