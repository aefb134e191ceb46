//! Image references (`[registry/][repository/]name[:tag][@digest]`), parsed and normalised like Docker.
//!
//! The grammar is Docker's (`distribution/reference`):
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] path
//! domain     := host [ ":" port ]          host := label ("." label)* | "[" ipv6 "]"
//! path       := component ( "/" component )*
//! component  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! ```
//!
//! Normalisation: the first path element is a registry only if it contains `.` or `:` or is
//! `localhost` (or has upper case); otherwise the registry is `docker.io`, and a one-element Docker Hub
//! path gets `library/`. `index.docker.io` becomes `docker.io`. The whole name (registry + path) is at
//! most 255 characters. [`Reference::parse`] adds the `latest` tag when neither a tag nor a digest is
//! given; [`Reference::parse_exact`] keeps a bare name bare (for `push` of all tags, image filters).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::{Digest, DigestError};

/// The registry of unqualified names.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// The tag of names given without tag or digest.
pub const DEFAULT_TAG: &str = "latest";
/// Longest registry + path, in bytes.
pub const NAME_MAX: usize = 255;
/// Longest tag, in bytes.
pub const TAG_MAX: usize = 128;

const LEGACY_REGISTRY: &str = "index.docker.io";
const OFFICIAL_PREFIX: &str = "library/";

/// Why a string is not an image reference. Messages follow Docker's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format: repository name must have at least one component")]
    Empty,
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexName(String),
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    #[error(
        "invalid reference format: repository name ({name}) must not be more than 255 characters"
    )]
    NameTooLong { name: String },
    #[error("invalid reference format: tag {tag:?} in {reference:?} must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}")]
    Tag { reference: String, tag: String },
    #[error("invalid reference format: {source} in {reference:?}")]
    Digest {
        reference: String,
        source: DigestError,
    },
    #[error("invalid reference format: {reason} in {reference:?}")]
    Format { reference: String, reason: String },
}

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses `s`, normalises it and adds the `latest` tag to a bare name.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        Ok(Reference::parse_exact(s)?.with_default_tag())
    }

    /// Parses and normalises `s`, keeping a bare name without tag.
    pub fn parse_exact(s: &str) -> Result<Reference, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ReferenceError::HexName(s.to_string()));
        }
        let format = |reason: &str| ReferenceError::Format {
            reference: s.to_string(),
            reason: reason.to_string(),
        };
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => {
                let digest = Digest::parse(d).map_err(|source| ReferenceError::Digest {
                    reference: s.to_string(),
                    source,
                })?;
                (n, Some(digest))
            }
            None => (s, None),
        };
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => {
                let i = last_slash + i;
                (&name_tag[..i], Some(&name_tag[i + 1..]))
            }
            None => (name_tag, None),
        };
        if let Some(tag) = tag {
            if !valid_tag(tag) {
                return Err(ReferenceError::Tag {
                    reference: s.to_string(),
                    tag: tag.to_string(),
                });
            }
        }
        if name.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let (registry, repository) = split_registry(name);
        if repository.to_lowercase() != repository {
            return Err(ReferenceError::Uppercase(repository));
        }
        if !valid_registry(&registry) {
            return Err(format(&format!(
                "registry {registry:?} is not a host[:port]"
            )));
        }
        if repository.split('/').any(|c| !valid_component(c)) {
            return Err(format(&format!(
                "repository {repository:?} needs lower-case alphanumeric components separated by '/'"
            )));
        }
        let full_len = registry.len() + 1 + repository.len();
        if full_len > NAME_MAX {
            return Err(ReferenceError::NameTooLong {
                name: format!("{registry}/{repository}"),
            });
        }
        Ok(Reference {
            registry,
            repository,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The registry host (and port), e.g. `docker.io` or `localhost:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry, e.g. `library/busybox`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Registry and repository, e.g. `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Docker's short name, e.g. `busybox` or `localhost:5000/team/app` (the `REPOSITORY` column).
    pub fn familiar_name(&self) -> String {
        if self.registry != DEFAULT_REGISTRY {
            return self.name();
        }
        match self.repository.strip_prefix(OFFICIAL_PREFIX) {
            Some(rest) if !rest.contains('/') => rest.to_string(),
            _ => self.repository.clone(),
        }
    }

    /// Docker's short form with tag and digest, e.g. `busybox:latest`.
    pub fn familiar(&self) -> String {
        self.with_suffix(self.familiar_name())
    }

    /// The fully qualified form, e.g. `docker.io/library/busybox:latest`.
    pub fn full(&self) -> String {
        self.with_suffix(self.name())
    }

    /// A copy with the `latest` tag if it has neither tag nor digest.
    pub fn with_default_tag(&self) -> Reference {
        let mut r = self.clone();
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        r
    }

    /// A copy with `tag` (validated) and without digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !valid_tag(tag) {
            return Err(ReferenceError::Tag {
                reference: self.name(),
                tag: tag.to_string(),
            });
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }

    /// A copy pinned to `digest` (the tag is kept for display).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// A copy with neither tag nor digest.
    pub fn name_only(&self) -> Reference {
        Reference {
            tag: None,
            digest: None,
            ..self.clone()
        }
    }

    fn with_suffix(&self, mut s: String) -> String {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(digest.as_str());
        }
        s
    }
}

/// Splits a name into registry and repository the way Docker does.
fn split_registry(name: &str) -> (String, String) {
    let (registry, rest) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first, rest)
        }
        _ => (DEFAULT_REGISTRY, name),
    };
    let registry = if registry == LEGACY_REGISTRY {
        DEFAULT_REGISTRY
    } else {
        registry
    };
    let repository = if registry == DEFAULT_REGISTRY && !rest.contains('/') {
        format!("{OFFICIAL_PREFIX}{rest}")
    } else {
        rest.to_string()
    };
    (registry.to_string(), repository)
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    match bytes.first() {
        Some(&first) if is_word(first) => {}
        _ => return false,
    }
    bytes.len() <= TAG_MAX && bytes.iter().all(|&b| is_word(b) || b == b'.' || b == b'-')
}

/// `[a-z0-9]+ (sep [a-z0-9]+)*` with `sep` one of `.`, `_`, `__`, `-+`.
fn valid_component(c: &str) -> bool {
    let is_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && is_alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        let sep_start = i;
        while i < bytes.len() && !is_alnum(bytes[i]) {
            i += 1;
        }
        match &c[sep_start..i] {
            "." | "_" | "__" => {}
            sep if sep.bytes().all(|b| b == b'-') => {}
            _ => return false,
        }
    }
}

/// `host[:port]`; host is dot-separated labels of alphanumerics with interior hyphens, or `[ipv6]`.
fn valid_registry(registry: &str) -> bool {
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.is_empty() || !v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("v6", Some(port)),
                None => return false,
            },
        }
    } else {
        match registry.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (registry, None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    host.split('.').all(|label| {
        let b = label.as_bytes();
        !b.is_empty()
            && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    })
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

impl Serialize for Reference {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.full())
    }
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Reference::parse_exact(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
#[path = "reference_tests.rs"]
mod tests;
