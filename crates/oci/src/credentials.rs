use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use base64::Engine;
use serde::Deserialize;

use crate::OciError;
use crate::reference::normalize_registry;

/// Docker config files and pull secrets are small; anything bigger is not one.
const MAX_CONFIG_BYTES: usize = 1024 * 1024;

/// Credentials for one registry. `Debug` never shows secrets.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// User name and password (or a personal access token used as password).
    Basic { username: String, password: String },
    /// An OAuth2 refresh token (`identitytoken` in a docker config), exchanged
    /// at the registry's token service for access tokens.
    IdentityToken(String),
}

impl Credentials {
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials::Basic {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credentials::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

/// Credentials by registry (`docker.io`, `ghcr.io`, `localhost:5000`).
///
/// Later insertions replace earlier ones, so a caller loads files first and
/// explicit credentials (flags, environment) last. Credential helpers
/// (`credsStore`, `credHelpers`) are not run: they execute arbitrary programs.
#[derive(Clone, Default)]
pub struct CredentialStore {
    by_registry: HashMap<String, Credentials>,
}

impl fmt::Debug for CredentialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut registries: Vec<&String> = self.by_registry.keys().collect();
        registries.sort();
        f.debug_struct("CredentialStore")
            .field("registries", &registries)
            .finish()
    }
}

impl CredentialStore {
    pub fn new() -> CredentialStore {
        CredentialStore::default()
    }

    /// Sets the credentials for a registry, named in any of the spellings docker
    /// config keys use (`https://index.docker.io/v1/`, `host:port`, `https://host/v2/`).
    pub fn insert(&mut self, registry: &str, credentials: Credentials) -> Result<(), OciError> {
        let key = registry_key(registry).map_err(|reason| OciError::InvalidCredentials {
            origin: "explicit credentials".to_owned(),
            reason,
        })?;
        self.by_registry.insert(key, credentials);
        Ok(())
    }

    /// Credentials for a registry as named by [`Reference::registry`](crate::Reference::registry).
    pub fn get(&self, registry: &str) -> Option<&Credentials> {
        let key = registry_key(registry).ok()?;
        self.by_registry.get(&key)
    }

    pub fn is_empty(&self) -> bool {
        self.by_registry.is_empty()
    }

    /// Adds every entry of a docker `config.json`, a Kubernetes
    /// `.dockerconfigjson` payload (same shape) or a legacy `.dockercfg` payload
    /// (the `auths` map at the top level). `origin` names the source in errors.
    pub fn add_docker_config(&mut self, json: &[u8], origin: &str) -> Result<(), OciError> {
        for (registry, credentials) in parse_docker_config(json, origin)? {
            self.by_registry.insert(registry, credentials);
        }
        Ok(())
    }

    /// Reads and adds a docker `config.json` file.
    pub fn add_docker_config_file(&mut self, path: &Path) -> Result<(), OciError> {
        let bytes = read_small_file(path)?;
        self.add_docker_config(&bytes, &path.display().to_string())
    }
}

fn read_small_file(path: &Path) -> Result<Vec<u8>, OciError> {
    use std::io::Read;
    let io = |source| OciError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > MAX_CONFIG_BYTES {
        return Err(OciError::TooLarge {
            what: format!("docker config {}", path.display()),
            size: bytes.len() as u64,
            limit: MAX_CONFIG_BYTES as u64,
        });
    }
    Ok(bytes)
}

#[derive(Deserialize)]
struct RawAuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// Parses the credentials of a docker config / pull secret into `(registry, credentials)`.
///
/// Entries that carry no credentials (helpers only, empty `auth`) are skipped;
/// an entry that is present but broken is an error, so a typo is not silently
/// turned into an anonymous pull.
pub fn parse_docker_config(
    json: &[u8],
    origin: &str,
) -> Result<Vec<(String, Credentials)>, OciError> {
    let fail = |reason: String| OciError::InvalidCredentials {
        origin: origin.to_owned(),
        reason,
    };
    if json.len() > MAX_CONFIG_BYTES {
        return Err(fail(format!("larger than {MAX_CONFIG_BYTES} bytes")));
    }
    let value: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| fail(format!("not valid JSON: {e}")))?;
    let serde_json::Value::Object(top) = value else {
        return Err(fail("expected a JSON object".to_owned()));
    };
    let auths = match top.get("auths") {
        Some(serde_json::Value::Object(auths)) => auths.clone(),
        Some(serde_json::Value::Null) => serde_json::Map::new(),
        Some(_) => return Err(fail("\"auths\" is not an object".to_owned())),
        // Legacy `.dockercfg`: the registry map is the whole document. Non-object
        // members (`credsStore`, `HttpHeaders`…) are not registries.
        None => top.into_iter().filter(|(_, v)| v.is_object()).collect(),
    };

    let mut out = BTreeMap::new();
    for (key, entry) in auths {
        let registry =
            registry_key(&key).map_err(|reason| fail(format!("registry key {key:?}: {reason}")))?;
        let entry: RawAuthEntry = serde_json::from_value(entry)
            .map_err(|e| fail(format!("entry for {registry}: {e}")))?;
        if let Some(credentials) = entry_credentials(entry)
            .map_err(|reason| fail(format!("entry for {registry}: {reason}")))?
        {
            out.insert(registry, credentials);
        }
    }
    Ok(out.into_iter().collect())
}

fn entry_credentials(entry: RawAuthEntry) -> Result<Option<Credentials>, String> {
    if let Some(token) = entry.identitytoken.filter(|t| !t.is_empty()) {
        return Ok(Some(Credentials::IdentityToken(token)));
    }
    if let Some(auth) = entry.auth.filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| "\"auth\" is not valid base64".to_owned())?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| "\"auth\" does not decode to UTF-8".to_owned())?;
        let (user, pass) = decoded
            .split_once(':')
            .ok_or_else(|| "\"auth\" does not decode to user:password".to_owned())?;
        return Ok(Some(Credentials::basic(user, pass)));
    }
    match (entry.username, entry.password) {
        (Some(u), Some(p)) if !u.is_empty() => Ok(Some(Credentials::basic(u, p))),
        (Some(u), None) if !u.is_empty() => Err("\"username\" without \"password\"".to_owned()),
        _ => Ok(None),
    }
}

/// Turns a config key (`https://index.docker.io/v1/`, `HOST:PORT`, `https://host/v2/`)
/// into the registry name a [`Reference`](crate::Reference) carries.
fn registry_key(key: &str) -> Result<String, String> {
    let trimmed = key.trim();
    let without_scheme = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .unwrap_or(trimmed);
    let host = without_scheme.split('/').next().unwrap_or(without_scheme);
    normalize_registry(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn registry_keys_normalise() {
        let cases = [
            ("https://index.docker.io/v1/", "docker.io"),
            ("index.docker.io", "docker.io"),
            ("docker.io", "docker.io"),
            ("registry-1.docker.io", "docker.io"),
            ("https://registry-1.docker.io/v2/", "docker.io"),
            ("localhost:5000", "localhost:5000"),
            ("http://localhost:5000", "localhost:5000"),
            ("https://ghcr.io/v2/", "ghcr.io"),
            ("GHCR.io", "ghcr.io"),
            ("[::1]:5000", "[::1]:5000"),
        ];
        for (key, expected) in cases {
            assert_eq!(registry_key(key).as_deref(), Ok(expected), "{key}");
        }
        assert!(registry_key("https://").is_err());
        assert!(registry_key("bad host").is_err());
    }

    #[test]
    fn parses_docker_config_shapes() {
        let auth = b64("alice:s3cr:et");
        let config = format!(
            r#"{{
              "auths": {{
                "https://index.docker.io/v1/": {{"auth": "{auth}"}},
                "ghcr.io": {{"username": "bob", "password": "pw"}},
                "localhost:5000": {{"identitytoken": "refresh"}},
                "https://quay.io/v2/": {{"auth": "", "email": "x@y"}},
                "helper-only.example": {{}}
              }},
              "credsStore": "desktop",
              "credHelpers": {{"gcr.io": "gcloud"}}
            }}"#
        );
        let parsed = parse_docker_config(config.as_bytes(), "config.json").unwrap();
        assert_eq!(
            parsed,
            vec![
                (
                    "docker.io".to_owned(),
                    Credentials::basic("alice", "s3cr:et")
                ),
                ("ghcr.io".to_owned(), Credentials::basic("bob", "pw")),
                (
                    "localhost:5000".to_owned(),
                    Credentials::IdentityToken("refresh".to_owned())
                ),
            ]
        );

        // Legacy .dockercfg: no "auths" wrapper.
        let legacy =
            format!(r#"{{"https://index.docker.io/v1/": {{"auth": "{auth}", "email": "a@b"}}}}"#);
        let parsed = parse_docker_config(legacy.as_bytes(), ".dockercfg").unwrap();
        assert_eq!(
            parsed,
            vec![(
                "docker.io".to_owned(),
                Credentials::basic("alice", "s3cr:et")
            )]
        );

        // Empty and helper-only configs carry nothing.
        for empty in [
            r#"{}"#,
            r#"{"auths": {}}"#,
            r#"{"auths": null, "credsStore": "x"}"#,
        ] {
            assert!(
                parse_docker_config(empty.as_bytes(), "x")
                    .unwrap()
                    .is_empty(),
                "{empty}"
            );
        }
    }

    #[test]
    fn rejects_broken_configs_without_leaking_secrets() {
        let no_colon = b64("justauser");
        let cases: Vec<(String, &str)> = vec![
            ("not json".to_owned(), "not valid JSON"),
            ("[]".to_owned(), "expected a JSON object"),
            (r#"{"auths": []}"#.to_owned(), "\"auths\" is not an object"),
            (
                r#"{"auths": {"ghcr.io": {"auth": "%%%secret%%%"}}}"#.to_owned(),
                "not valid base64",
            ),
            (
                format!(r#"{{"auths": {{"ghcr.io": {{"auth": "{no_colon}"}}}}}}"#),
                "user:password",
            ),
            (
                r#"{"auths": {"ghcr.io": {"username": "u"}}}"#.to_owned(),
                "without \"password\"",
            ),
            (
                r#"{"auths": {"ghcr.io": {"auth": 5}}}"#.to_owned(),
                "entry for ghcr.io",
            ),
            (
                r#"{"auths": {"bad host": {"auth": ""}}}"#.to_owned(),
                "registry key",
            ),
        ];
        for (json, reason) in cases {
            let err = parse_docker_config(json.as_bytes(), "secret")
                .expect_err(&json)
                .to_string();
            assert!(err.contains(reason), "{json}: {err}");
            assert!(
                !err.contains("%%%secret%%%") && !err.contains("justauser"),
                "{err}"
            );
        }
    }

    #[test]
    fn debug_redacts_secrets() {
        let basic = format!("{:?}", Credentials::basic("alice", "hunter2"));
        assert!(
            basic.contains("alice") && !basic.contains("hunter2"),
            "{basic}"
        );
        let token = format!("{:?}", Credentials::IdentityToken("tok-123".into()));
        assert!(!token.contains("tok-123"), "{token}");
        let mut store = CredentialStore::new();
        store
            .insert("ghcr.io", Credentials::basic("alice", "hunter2"))
            .unwrap();
        let dbg = format!("{store:?}");
        assert!(dbg.contains("ghcr.io") && !dbg.contains("hunter2"), "{dbg}");
    }

    #[test]
    fn store_lookup_and_precedence() {
        let mut store = CredentialStore::new();
        let config = format!(
            r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{}"}}}}}}"#,
            b64("file:pw")
        );
        store
            .add_docker_config(config.as_bytes(), "config.json")
            .unwrap();
        assert_eq!(
            store.get("docker.io"),
            Some(&Credentials::basic("file", "pw"))
        );
        assert_eq!(
            store.get("index.docker.io"),
            Some(&Credentials::basic("file", "pw"))
        );
        assert_eq!(store.get("ghcr.io"), None);
        // Explicit credentials inserted later win.
        store
            .insert("docker.io", Credentials::basic("flag", "pw2"))
            .unwrap();
        assert_eq!(
            store.get("registry-1.docker.io"),
            Some(&Credentials::basic("flag", "pw2"))
        );
        assert!(
            store
                .insert("not a host", Credentials::basic("a", "b"))
                .is_err()
        );
    }
}
