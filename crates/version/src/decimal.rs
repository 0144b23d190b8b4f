//! Helpers shared by the language-ecosystem schemes: exact comparison of
//! decimal numbers of any length (ecosystems disagree on integer widths, and
//! real data holds 30-digit components) and the input length cap.

use std::cmp::Ordering;

use crate::{Scheme, VersionError};

/// Longest version (or range/requirement) string we parse. Real versions are
/// far shorter; the cap bounds the work hostile input can cause.
pub(crate) const MAX_LEN: usize = 1024;

pub(crate) fn check_len(scheme: Scheme, value: &str) -> Result<(), VersionError> {
    if value.len() > MAX_LEN {
        return Err(VersionError::new(
            scheme,
            &value[..value.floor_char_boundary(64)],
            format!("longer than {MAX_LEN} bytes"),
        ));
    }
    Ok(())
}

/// A non-negative integer of any length, compared by value. Values that fit a
/// `u64` stay unboxed so the common case compares without indirection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Decimal {
    Small(u64),
    /// Digits without leading zeros, with a value above `u64::MAX`.
    Big(Box<str>),
}

impl Decimal {
    pub(crate) const ZERO: Decimal = Decimal::Small(0);

    /// `digits` must be non-empty ASCII digits (callers scan them first).
    pub(crate) fn from_digits(digits: &str) -> Decimal {
        let trimmed = digits.trim_start_matches('0');
        match trimmed.parse::<u64>() {
            Ok(value) => Decimal::Small(value),
            Err(_) if trimmed.is_empty() => Decimal::Small(0),
            Err(_) => Decimal::Big(trimmed.into()),
        }
    }

    pub(crate) fn is_zero(&self) -> bool {
        matches!(self, Decimal::Small(0))
    }

    pub(crate) fn as_u64(&self) -> Option<u64> {
        match self {
            Decimal::Small(value) => Some(*value),
            Decimal::Big(_) => None,
        }
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Decimal::Small(a), Decimal::Small(b)) => a.cmp(b),
            (Decimal::Small(_), Decimal::Big(_)) => Ordering::Less,
            (Decimal::Big(_), Decimal::Small(_)) => Ordering::Greater,
            // Same length without leading zeros: lexical order is numeric order.
            (Decimal::Big(a), Decimal::Big(b)) => a.len().cmp(&b.len()).then_with(|| a.cmp(b)),
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_compare_by_value() {
        let cases = [
            ("0", "000", Ordering::Equal),
            ("9", "10", Ordering::Less),
            (
                "18446744073709551615",
                "18446744073709551616",
                Ordering::Less,
            ),
            (
                "018446744073709551616",
                "18446744073709551616",
                Ordering::Equal,
            ),
            (
                "99999999999999999999",
                "100000000000000000000",
                Ordering::Less,
            ),
            (
                "999999999999999999999999999991",
                "999999999999999999999999999999",
                Ordering::Less,
            ),
        ];
        for (a, b, expected) in cases {
            let (a_num, b_num) = (Decimal::from_digits(a), Decimal::from_digits(b));
            assert_eq!(a_num.cmp(&b_num), expected, "{a} vs {b}");
            assert_eq!(b_num.cmp(&a_num), expected.reverse(), "{b} vs {a}");
        }
    }
}
