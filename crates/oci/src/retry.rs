use std::time::{Duration, SystemTime};

/// How often and how patiently to retry transient registry failures
/// (429, 5xx, connection errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included; 1 disables retries.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubles each time.
    pub initial_backoff: Duration,
    /// Ceiling for the computed backoff.
    pub max_backoff: Duration,
    /// Ceiling for a registry's `Retry-After`: a hostile or confused registry
    /// must not park a scan for hours.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based): exponential,
    /// capped, with "equal jitter" (half fixed, half random) so many scanners
    /// hitting one registry spread out but never retry immediately.
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

    /// The wait a `Retry-After` value asks for, capped; `None` if unreadable.
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

/// Statuses worth another attempt: rate limiting and server-side trouble.
/// 501 and 505 say the server will never do it, so retrying is pointless.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    status == 429
        || status == 408
        || ((500..600).contains(&status) && status != 501 && status != 505)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(5),
        };
        // (attempt, lower bound ms, upper bound ms)
        let cases = [
            (1, 50, 100),
            (2, 100, 200),
            (3, 200, 400),
            (4, 400, 800),
            (5, 500, 1000),
            (40, 500, 1000),
        ];
        for (attempt, lo, hi) in cases {
            for _ in 0..50 {
                let d = policy.backoff(attempt).as_millis();
                assert!((lo..=hi).contains(&d), "attempt {attempt}: {d}ms");
            }
        }
    }

    #[test]
    fn retry_after_values() {
        let policy = RetryPolicy::default();
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let cases = [
            ("3", Some(3)),
            (" 0 ", Some(0)),
            ("100000", Some(60)),
            ("Wed, 21 Oct 2015 07:28:10 GMT", Some(10)),
            ("Wed, 21 Oct 2015 07:27:00 GMT", Some(0)),
            ("soon", None),
            ("-1", None),
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
    fn retryable_statuses() {
        for (status, retry) in [
            (429, true),
            (500, true),
            (502, true),
            (503, true),
            (504, true),
            (408, true),
            (501, false),
            (505, false),
            (404, false),
            (401, false),
            (200, false),
        ] {
            assert_eq!(is_retryable_status(status), retry, "{status}");
        }
    }
}
