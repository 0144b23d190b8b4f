use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One challenge from a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
    /// A scheme we do not speak, by name.
    Other(String),
}

/// Parses a `WWW-Authenticate` header value into its challenges.
///
/// The grammar (RFC 9110 §11.6.1) allows several challenges in one header,
/// separated by commas like the parameters are: a new challenge starts where a
/// token is followed by whitespace instead of `=`.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out = Vec::new();
    let mut current: Option<(String, Vec<(String, String)>)> = None;
    let mut rest = header.trim();

    while !rest.is_empty() {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        if rest.is_empty() {
            break;
        }
        let token_end = rest
            .find(|c: char| c == '=' || c == ',' || c.is_whitespace())
            .unwrap_or(rest.len());
        let token = &rest[..token_end];
        let after = rest[token_end..].trim_start();
        if let Some(value_part) = after.strip_prefix('=')
            && current.is_some()
            && !token.is_empty()
        {
            let value_part = value_part.trim_start();
            let (value, remaining) = read_param_value(value_part);
            if let Some((_, params)) = current.as_mut() {
                params.push((token.to_ascii_lowercase(), value));
            }
            rest = remaining;
        } else {
            if let Some((scheme, params)) = current.take() {
                out.push(to_challenge(&scheme, params));
            }
            if token.is_empty() {
                // Stray '=' or similar: skip one character to make progress.
                let mut chars = rest.chars();
                chars.next();
                rest = chars.as_str();
                continue;
            }
            current = Some((token.to_owned(), Vec::new()));
            rest = &rest[token_end..];
        }
    }
    if let Some((scheme, params)) = current.take() {
        out.push(to_challenge(&scheme, params));
    }
    out
}

/// Reads a token or quoted-string value; returns it and the remaining input.
fn read_param_value(s: &str) -> (String, &str) {
    if let Some(quoted) = s.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                }
                '"' => return (value, &quoted[i + 1..]),
                _ => value.push(c),
            }
        }
        // Unterminated quote: take what there is.
        (value, "")
    } else {
        let end = s.find(',').unwrap_or(s.len());
        (s[..end].trim().to_owned(), &s[end..])
    }
}

fn to_challenge(scheme: &str, params: Vec<(String, String)>) -> Challenge {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Challenge::Basic,
        "bearer" => match get("realm") {
            Some(realm) if !realm.is_empty() => Challenge::Bearer {
                realm,
                service: get("service"),
                scope: get("scope"),
            },
            _ => Challenge::Other(scheme.to_owned()),
        },
        _ => Challenge::Other(scheme.to_owned()),
    }
}

/// How a registry wants to be authenticated, learnt from its last challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RegistryScheme {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

#[derive(Clone)]
struct CachedToken {
    token: String,
    expires_at: Instant,
}

/// What the client has learnt per registry: its scheme and bearer tokens by scope.
#[derive(Default)]
pub(crate) struct AuthCache {
    schemes: HashMap<String, RegistryScheme>,
    tokens: HashMap<(String, String), CachedToken>,
}

/// Tokens are dropped a little before they expire so a request does not race the expiry.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// The distribution spec says a token without `expires_in` lasts 60 seconds.
pub(crate) const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

impl AuthCache {
    pub(crate) fn scheme(&self, registry: &str) -> Option<&RegistryScheme> {
        self.schemes.get(registry)
    }

    pub(crate) fn set_scheme(&mut self, registry: &str, scheme: RegistryScheme) {
        self.schemes.insert(registry.to_owned(), scheme);
    }

    pub(crate) fn token(&self, registry: &str, scope: &str, now: Instant) -> Option<&str> {
        self.tokens
            .get(&(registry.to_owned(), scope.to_owned()))
            .filter(|t| t.expires_at > now)
            .map(|t| t.token.as_str())
    }

    pub(crate) fn store_token(
        &mut self,
        registry: &str,
        scope: &str,
        token: String,
        lifetime: Duration,
        now: Instant,
    ) {
        let expires_at = now + lifetime.saturating_sub(EXPIRY_MARGIN);
        self.tokens.retain(|_, t| t.expires_at > now);
        self.tokens.insert(
            (registry.to_owned(), scope.to_owned()),
            CachedToken { token, expires_at },
        );
    }
}

/// The token service's reply: `token` (Docker) or `access_token` (OAuth2).
#[derive(serde::Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TokenResponse {
    /// The token and how long it lives; `None` if the reply carries no token.
    pub(crate) fn into_token(self) -> Option<(String, Duration)> {
        let token = self
            .token
            .filter(|t| !t.is_empty())
            .or(self.access_token.filter(|t| !t.is_empty()))?;
        let lifetime = self
            .expires_in
            .filter(|s| *s > 0)
            // A day is longer than any registry issues; cap hostile values.
            .map(|s| Duration::from_secs(s.min(86_400)))
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        Some((token, lifetime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(realm: &str, service: Option<&str>, scope: Option<&str>) -> Challenge {
        Challenge::Bearer {
            realm: realm.into(),
            service: service.map(Into::into),
            scope: scope.map(Into::into),
        }
    }

    #[test]
    fn parses_challenge_headers() {
        let cases: Vec<(&str, Vec<Challenge>)> = vec![
            (
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
                vec![bearer(
                    "https://auth.docker.io/token",
                    Some("registry.docker.io"),
                    Some("repository:library/nginx:pull"),
                )],
            ),
            (
                r#"bearer Realm="http://127.0.0.1:1/t", Service="svc""#,
                vec![bearer("http://127.0.0.1:1/t", Some("svc"), None)],
            ),
            (
                r#"Bearer realm="https://r/t",scope="repository:a/b:pull,push""#,
                vec![bearer(
                    "https://r/t",
                    None,
                    Some("repository:a/b:pull,push"),
                )],
            ),
            (r#"Basic realm="Registry Realm""#, vec![Challenge::Basic]),
            ("Basic", vec![Challenge::Basic]),
            (
                r#"Basic realm="x", Bearer realm="https://r/t",service=s"#,
                vec![Challenge::Basic, bearer("https://r/t", Some("s"), None)],
            ),
            (
                r#"Bearer realm="https://r/t\"q""#,
                vec![bearer("https://r/t\"q", None, None)],
            ),
            (
                "Bearer service=\"x\"",
                vec![Challenge::Other("Bearer".into())],
            ),
            ("Negotiate", vec![Challenge::Other("Negotiate".into())]),
            ("", vec![]),
            ("=,=,", vec![]),
            (
                r#"Bearer realm="unterminated"#,
                vec![bearer("unterminated", None, None)],
            ),
        ];
        for (header, expected) in cases {
            assert_eq!(parse_challenges(header), expected, "{header}");
        }
    }

    #[test]
    fn token_response_shapes() {
        let cases: &[(&str, Option<(&str, u64)>)] = &[
            (r#"{"token":"t1","expires_in":300}"#, Some(("t1", 300))),
            (r#"{"access_token":"t2"}"#, Some(("t2", 60))),
            (
                r#"{"token":"","access_token":"t3","expires_in":0}"#,
                Some(("t3", 60)),
            ),
            (
                r#"{"token":"t4","expires_in":99999999}"#,
                Some(("t4", 86_400)),
            ),
            (r#"{}"#, None),
        ];
        for (json, expected) in cases {
            let parsed: TokenResponse = serde_json::from_str(json).unwrap();
            let got = parsed.into_token().map(|(t, d)| (t, d.as_secs()));
            assert_eq!(got, expected.map(|(t, s)| (t.to_owned(), s)), "{json}");
        }
    }

    #[test]
    fn token_cache_expires() {
        let mut cache = AuthCache::default();
        let now = Instant::now();
        cache.store_token("r", "s", "tok".into(), Duration::from_secs(60), now);
        assert_eq!(cache.token("r", "s", now), Some("tok"));
        assert_eq!(cache.token("r", "other", now), None);
        assert_eq!(cache.token("r", "s", now + Duration::from_secs(51)), None);
        cache.store_token("r", "s", "newer".into(), Duration::from_secs(60), now);
        assert_eq!(cache.token("r", "s", now), Some("newer"));
    }
}
