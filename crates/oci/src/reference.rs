use std::fmt;
use std::str::FromStr;

use model::Digest;

use crate::OciError;

/// The registry name Docker Hub images are reported under.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that actually serves Docker Hub's registry API.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";

const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A checked image reference: `registry/repository[:tag][@digest]`.
///
/// Parsing applies Docker's defaults (`nginx` → `docker.io/library/nginx:latest`)
/// and folds Docker Hub's aliases into `docker.io`. When both a tag and a digest
/// are given both are kept, and the digest is what gets fetched.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Registry as written in reports: `docker.io`, `ghcr.io`, `localhost:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The `host[:port]` that serves the registry API (`registry-1.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API_HOST
        } else {
            &self.registry
        }
    }

    /// Repository path inside the registry: `library/nginx`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// Registry + path: `docker.io/library/nginx`.
    pub fn full_repository(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What to put after `/manifests/`: the digest when there is one, else the tag.
    pub fn manifest_selector(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_owned(),
        }
    }

    /// The same repository and tag, pinned to `digest`.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

impl FromStr for Reference {
    type Err = OciError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| OciError::InvalidReference {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        if input.is_empty() {
            return Err(fail("empty reference"));
        }
        if input.len() > 4 * MAX_NAME_LEN {
            return Err(fail("reference is too long"));
        }
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(fail("reference contains whitespace or control characters"));
        }

        let (rest, digest) = match input.split_once('@') {
            Some((rest, d)) => {
                let digest = d
                    .parse::<Digest>()
                    .map_err(|e| fail(&format!("bad digest: {e}")))?;
                (rest, Some(digest))
            }
            None => (input, None),
        };

        // A tag follows the last ':' that comes after the last '/'; any earlier ':'
        // belongs to a registry port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&rest[..at], Some(&rest[at + 1..]))
            }
            None => (rest, None),
        };
        if let Some(t) = tag {
            check_tag(t).map_err(|r| fail(&r))?;
        }
        if name.is_empty() {
            return Err(fail("missing repository name"));
        }

        let (registry, path) = split_registry(name);
        let registry = match registry {
            Some(r) => normalize_registry(r).map_err(|r| fail(&r))?,
            None => DOCKER_HUB.to_owned(),
        };
        if path.is_empty() {
            return Err(fail("missing repository name after the registry"));
        }
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_owned()
        };
        check_repository(&repository).map_err(|r| fail(&r))?;
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(fail("repository name is longer than 255 characters"));
        }

        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_owned()),
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

/// Splits `host[:port]/path` the way Docker does: the first component is a
/// registry only if it looks like a host (has a dot or a port, or is `localhost`).
fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.')
                || first.contains(':')
                || first == "localhost"
                || first.starts_with('[') =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

/// Lowercases a registry host and folds Docker Hub's aliases into `docker.io`.
/// Shared with credential keys, which name registries in many spellings.
pub(crate) fn normalize_registry(raw: &str) -> Result<String, String> {
    let lowered = raw.to_ascii_lowercase();
    let (host, port) = split_host_port(&lowered)?;
    let host_ok = if host.starts_with('[') {
        host.len() > 2
            && host.ends_with(']')
            && host[1..host.len() - 1]
                .parse::<std::net::Ipv6Addr>()
                .is_ok()
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    };
    if !host_ok {
        return Err(format!("invalid registry host {raw:?}"));
    }
    if let Some(p) = port
        && (p.is_empty()
            || p.len() > 5
            || !p.bytes().all(|b| b.is_ascii_digit())
            || p.parse::<u16>().is_err())
    {
        return Err(format!("invalid registry port in {raw:?}"));
    }
    if port.is_none()
        && matches!(
            host,
            "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com"
        )
    {
        return Ok(DOCKER_HUB.to_owned());
    }
    Ok(lowered)
}

/// Splits `host:port` / `[v6]:port` without validating either part.
pub(crate) fn split_host_port(s: &str) -> Result<(&str, Option<&str>), String> {
    if s.starts_with('[') {
        let close = s
            .find(']')
            .ok_or_else(|| format!("unclosed '[' in {s:?}"))?;
        let host = &s[..=close];
        let rest = &s[close + 1..];
        return match rest.strip_prefix(':') {
            Some(port) => Ok((host, Some(port))),
            None if rest.is_empty() => Ok((host, None)),
            None => Err(format!("unexpected text after ']' in {s:?}")),
        };
    }
    Ok(match s.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    })
}

fn check_tag(tag: &str) -> Result<(), String> {
    let mut bytes = tag.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !first_ok || tag.len() > MAX_TAG_LEN {
        return Err(format!(
            "invalid tag {tag:?}: a tag is 1 to 128 of [A-Za-z0-9_.-] and cannot start with '.' or '-'"
        ));
    }
    if !bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
        return Err(format!(
            "invalid tag {tag:?}: a tag is 1 to 128 of [A-Za-z0-9_.-] and cannot start with '.' or '-'"
        ));
    }
    Ok(())
}

/// Path components are `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`.
fn check_repository(repo: &str) -> Result<(), String> {
    if repo.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!("repository name {repo:?} must be lowercase"));
    }
    for component in repo.split('/') {
        if !valid_path_component(component) {
            return Err(format!(
                "invalid repository path component {component:?}: use lowercase letters, digits and single '.', '_', '__' or '-' separators"
            ));
        }
    }
    Ok(())
}

fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_valid_references() {
        // (input, registry, api host, repository, tag, display)
        type Case = (
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            Option<&'static str>,
            &'static str,
        );
        let cases: &[Case] = &[
            (
                "nginx",
                "docker.io",
                "registry-1.docker.io",
                "library/nginx",
                Some("latest"),
                "docker.io/library/nginx:latest",
            ),
            (
                "nginx:1.25",
                "docker.io",
                "registry-1.docker.io",
                "library/nginx",
                Some("1.25"),
                "docker.io/library/nginx:1.25",
            ),
            (
                "user/app",
                "docker.io",
                "registry-1.docker.io",
                "user/app",
                Some("latest"),
                "docker.io/user/app:latest",
            ),
            (
                "docker.io/nginx",
                "docker.io",
                "registry-1.docker.io",
                "library/nginx",
                Some("latest"),
                "docker.io/library/nginx:latest",
            ),
            (
                "index.docker.io/library/nginx:1",
                "docker.io",
                "registry-1.docker.io",
                "library/nginx",
                Some("1"),
                "docker.io/library/nginx:1",
            ),
            (
                "registry-1.docker.io/user/app:v2",
                "docker.io",
                "registry-1.docker.io",
                "user/app",
                Some("v2"),
                "docker.io/user/app:v2",
            ),
            (
                "Docker.IO/user/app",
                "docker.io",
                "registry-1.docker.io",
                "user/app",
                Some("latest"),
                "docker.io/user/app:latest",
            ),
            (
                "localhost:5000/a/b:tag",
                "localhost:5000",
                "localhost:5000",
                "a/b",
                Some("tag"),
                "localhost:5000/a/b:tag",
            ),
            (
                "localhost/a",
                "localhost",
                "localhost",
                "a",
                Some("latest"),
                "localhost/a:latest",
            ),
            (
                "127.0.0.1:5000/x",
                "127.0.0.1:5000",
                "127.0.0.1:5000",
                "x",
                Some("latest"),
                "127.0.0.1:5000/x:latest",
            ),
            (
                "[::1]:5000/x:1",
                "[::1]:5000",
                "[::1]:5000",
                "x",
                Some("1"),
                "[::1]:5000/x:1",
            ),
            (
                "ghcr.io/org/team/app:1.0.0-rc.1",
                "ghcr.io",
                "ghcr.io",
                "org/team/app",
                Some("1.0.0-rc.1"),
                "ghcr.io/org/team/app:1.0.0-rc.1",
            ),
            (
                "quay.io/a__b/c--d.e_f",
                "quay.io",
                "quay.io",
                "a__b/c--d.e_f",
                Some("latest"),
                "quay.io/a__b/c--d.e_f:latest",
            ),
            (
                "docker.io/library/nginx:docker.io",
                "docker.io",
                "registry-1.docker.io",
                "library/nginx",
                Some("docker.io"),
                "docker.io/library/nginx:docker.io",
            ),
            (
                "registry:5000/app",
                "registry:5000",
                "registry:5000",
                "app",
                Some("latest"),
                "registry:5000/app:latest",
            ),
            (
                "docker.io:443/app",
                "docker.io:443",
                "docker.io:443",
                "app",
                Some("latest"),
                "docker.io:443/app:latest",
            ),
        ];
        for &(input, registry, api, repo, tag, display) in cases {
            let r: Reference = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.registry(), registry, "{input}");
            assert_eq!(r.api_host(), api, "{input}");
            assert_eq!(r.repository(), repo, "{input}");
            assert_eq!(r.tag(), tag, "{input}");
            assert_eq!(r.digest(), None, "{input}");
            assert_eq!(r.to_string(), display, "{input}");
            // Display must round-trip.
            assert_eq!(display.parse::<Reference>().unwrap(), r, "{input}");
        }
    }

    #[test]
    fn digests_are_kept_and_win_for_fetching() {
        let cases: &[(String, Option<&str>, String)] = &[
            (
                format!("nginx@{D}"),
                None,
                format!("docker.io/library/nginx@{D}"),
            ),
            (
                format!("nginx:1.25@{D}"),
                Some("1.25"),
                format!("docker.io/library/nginx:1.25@{D}"),
            ),
            (
                format!("localhost:5000/a/b@{D}"),
                None,
                format!("localhost:5000/a/b@{D}"),
            ),
            (
                format!("localhost:5000/a/b:t@{D}"),
                Some("t"),
                format!("localhost:5000/a/b:t@{D}"),
            ),
        ];
        for (input, tag, display) in cases {
            let r: Reference = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.tag(), *tag, "{input}");
            assert_eq!(
                r.digest().map(ToString::to_string).as_deref(),
                Some(D),
                "{input}"
            );
            assert_eq!(r.manifest_selector(), D, "{input}");
            assert_eq!(&r.to_string(), display, "{input}");
        }
        let tagged: Reference = "nginx:1.25".parse().unwrap();
        assert_eq!(tagged.manifest_selector(), "1.25");
        let pinned = tagged.with_digest(D.parse().unwrap());
        assert_eq!(
            pinned.to_string(),
            format!("docker.io/library/nginx:1.25@{D}")
        );
    }

    #[test]
    fn rejects_invalid_references_with_a_reason() {
        let long = format!("a/{}", "b".repeat(300));
        let long_tag = format!("app:{}", "t".repeat(129));
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("Nginx", "lowercase"),
            ("ghcr.io/Org/app", "lowercase"),
            ("nginx:", "invalid tag"),
            ("nginx:-x", "invalid tag"),
            ("nginx:a/b", "invalid registry port"),
            ("nginx@sha256:abc", "bad digest"),
            ("nginx@md5:d41d8cd98f00b204e9800998ecf8427e", "bad digest"),
            ("nginx@", "bad digest"),
            ("ng inx", "whitespace"),
            ("a//b", "invalid repository path"),
            ("a/b/", "invalid repository path"),
            ("-a", "invalid repository path"),
            ("a..b", "invalid repository path"),
            ("a___b", "invalid repository path"),
            ("localhost:99999/a", "invalid registry port"),
            ("localhost:abc/a", "invalid registry port"),
            ("localhost:/a", "invalid registry port"),
            ("exa_mple.com/a", "invalid registry host"),
            ("[::1/a", "unclosed"),
            ("[zz]:5000/a", "invalid registry host"),
            ("ghcr.io/", "missing repository name after"),
            (":tag", "missing repository name"),
            (&long, "longer than 255"),
            (&long_tag, "invalid tag"),
        ];
        for (input, reason) in cases {
            let err = input.parse::<Reference>().expect_err(input).to_string();
            assert!(err.contains(reason), "{input:?}: {err}");
        }
    }

    #[test]
    fn path_component_grammar() {
        let cases = [
            ("a", true),
            ("a.b", true),
            ("a_b", true),
            ("a__b", true),
            ("a---b", true),
            ("a.-b", false),
            ("a_.b", false),
            ("a.", false),
            ("_a", false),
            ("", false),
        ];
        for (c, ok) in cases {
            assert_eq!(valid_path_component(c), ok, "{c}");
        }
    }
}
