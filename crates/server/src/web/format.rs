//! How values read on a page: relative times (exact value on hover),
//! sizes, short digests, severity names.

use model::Severity;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A moment as a page shows it: "3 hours ago", exact RFC 3339 in `title`.
#[derive(Debug, Clone)]
pub(crate) struct When {
    pub relative: String,
    pub exact: String,
}

impl When {
    pub(crate) fn new(at: OffsetDateTime, now: OffsetDateTime) -> When {
        When {
            relative: relative(at, now),
            exact: at.format(&Rfc3339).unwrap_or_else(|_| at.to_string()),
        }
    }
}

pub(crate) fn relative(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let seconds = (now - at).whole_seconds();
    let (amount, future) = (seconds.unsigned_abs(), seconds < 0);
    if amount < 45 {
        return "just now".to_owned();
    }
    let (n, unit) = match amount {
        s if s < 45 * 60 => ((s + 30) / 60, "minute"),
        s if s < 36 * 3600 => (((s + 1800) / 3600).max(1), "hour"),
        s if s < 45 * 86_400 => ((s + 43_200) / 86_400, "day"),
        s if s < 550 * 86_400 => ((s + 15 * 86_400) / (30 * 86_400), "month"),
        s => ((s + 182 * 86_400) / (365 * 86_400), "year"),
    };
    let unit = if n == 1 {
        unit.to_owned()
    } else {
        format!("{unit}s")
    };
    if future {
        format!("in {n} {unit}")
    } else {
        format!("{n} {unit} ago")
    }
}

/// Bytes in binary units with one decimal: `12.3 MiB`.
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `sha256:0123456789ab` — enough to tell digests apart on screen.
pub(crate) fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algorithm, hex)) => format!("{algorithm}:{}", hex.get(..12).unwrap_or(hex)),
        None => digest.to_owned(),
    }
}

pub(crate) const SEVERITIES: [Severity; 6] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Negligible,
    Severity::Unknown,
];

pub(crate) fn severity_label(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "Critical",
        Severity::High => "High",
        Severity::Medium => "Medium",
        Severity::Low => "Low",
        Severity::Negligible => "Negligible",
        Severity::Unknown => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_naturally() {
        let now = OffsetDateTime::from_unix_timestamp(1_000_000_000).unwrap();
        let cases: &[(i64, &str)] = &[
            (0, "just now"),
            (30, "just now"),
            (60, "1 minute ago"),
            (150, "3 minutes ago"),
            (50 * 60, "1 hour ago"),
            (3600, "1 hour ago"),
            (5 * 3600, "5 hours ago"),
            (2 * 86_400, "2 days ago"),
            (60 * 86_400, "2 months ago"),
            (800 * 86_400, "2 years ago"),
            (-3 * 86_400, "in 3 days"),
        ];
        for (ago, want) in cases {
            let at = now - time::Duration::seconds(*ago);
            assert_eq!(relative(at, now), *want, "{ago} s ago");
        }
    }

    #[test]
    fn sizes_and_digests() {
        for (bytes, want) in [
            (0, "0 B"),
            (1023, "1023 B"),
            (1536, "1.5 KiB"),
            (5 * 1024 * 1024, "5.0 MiB"),
        ] {
            assert_eq!(size(bytes), want);
        }
        assert_eq!(
            short_digest("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
            "sha256:0123456789ab"
        );
        assert_eq!(short_digest("weird"), "weird");
    }
}
