//! Secrets the server hands out (API tokens, session ids, one-time passwords)
//! and how they are kept at rest.
//!
//! Handed-out secrets are 32 random bytes, so a fast hash (SHA-256) is enough
//! to store them: there is nothing to brute-force. Passwords are chosen by
//! people and get Argon2id.

use std::fmt;

use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// What a handed-out secret looks like: a prefix saying what it is for (so a
/// leaked one is recognisable in a scan of logs or repositories), then 43
/// characters of URL-safe base64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    /// `ssp_`: an API token (user or agent).
    ApiToken,
    /// `sss_`: a browser session id (a cookie).
    Session,
    /// `ssc_`: a CSRF token bound to a session.
    Csrf,
}

impl SecretKind {
    fn prefix(self) -> &'static str {
        match self {
            SecretKind::ApiToken => "ssp_",
            SecretKind::Session => "sss_",
            SecretKind::Csrf => "ssc_",
        }
    }
}

/// A secret in clear, held only long enough to hand it out once. Its `Debug`
/// output is redacted so it cannot leak through logs or error chains.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn generate(kind: SecretKind) -> Result<Secret, SecretError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| SecretError::Random(e.to_string()))?;
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        Ok(Secret(format!("{}{encoded}", kind.prefix())))
    }

    /// Wraps a secret received from a client.
    pub fn from_client(text: &str) -> Secret {
        Secret(text.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps and looks up by: SHA-256, hex.
    pub fn hash(&self) -> String {
        hash_secret(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

pub fn hash_secret(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A one-time password for the first admin: readable, 24 characters from an
/// alphabet without look-alikes (~140 bits).
pub fn one_time_password() -> Result<Secret, SecretError> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY3479";
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| SecretError::Random(e.to_string()))?;
    // 256 % 49 != 0: reject the top values so every character is equally likely.
    let mut out = String::with_capacity(24);
    let limit = 256 - (256 % ALPHABET.len());
    let mut pool = bytes.to_vec();
    while out.len() < 24 {
        let Some(byte) = pool.pop() else {
            let mut more = [0u8; 16];
            getrandom::fill(&mut more).map_err(|e| SecretError::Random(e.to_string()))?;
            pool.extend_from_slice(&more);
            continue;
        };
        if usize::from(byte) < limit {
            out.push(char::from(ALPHABET[usize::from(byte) % ALPHABET.len()]));
        }
    }
    Ok(Secret(out))
}

/// Argon2id with the crate's default parameters (19 MiB, 2 passes: OWASP's
/// minimum), PHC string out.
pub fn hash_password(password: &Secret) -> Result<String, SecretError> {
    argon2::Argon2::default()
        .hash_password(password.expose().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| SecretError::Hash(e.to_string()))
}

/// Whether `password` matches a stored PHC hash. A malformed stored hash is
/// an error, not a mismatch, so it shows up in the logs.
pub fn verify_password(password: &Secret, stored: &str) -> Result<bool, SecretError> {
    let parsed = PasswordHash::new(stored).map_err(|e| SecretError::Hash(e.to_string()))?;
    match argon2::Argon2::default().verify_password(password.expose().as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(e) => Err(SecretError::Hash(e.to_string())),
    }
}

/// Compares two strings in time independent of where they differ (for CSRF
/// tokens compared against a session's).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the system random number generator failed: {0}")]
    Random(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_and_redacted() {
        let a = Secret::generate(SecretKind::ApiToken).unwrap();
        let b = Secret::generate(SecretKind::ApiToken).unwrap();
        assert!(a.expose().starts_with("ssp_"));
        assert_eq!(a.expose().len(), 4 + 43);
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "Secret(<redacted>)");
        assert_eq!(a.hash(), hash_secret(a.expose()));
        assert_eq!(a.hash().len(), 64);
    }

    #[test]
    fn passwords_verify_only_themselves() {
        let password = one_time_password().unwrap();
        assert_eq!(password.expose().len(), 24);
        let stored = hash_password(&password).unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify_password(&password, &stored).unwrap());
        assert!(!verify_password(&Secret::from_client("wrong"), &stored).unwrap());
        assert!(verify_password(&password, "not a phc string").is_err());
    }

    #[test]
    fn constant_time_comparison() {
        for (a, b, equal) in [
            ("abc", "abc", true),
            ("abc", "abd", false),
            ("abc", "ab", false),
            ("", "", true),
        ] {
            assert_eq!(constant_time_eq(a, b), equal, "{a} vs {b}");
        }
    }
}
