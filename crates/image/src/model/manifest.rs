//! Image manifests (OCI and Docker schema2 share one shape), indexes / manifest lists, and platform
//! selection.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{media, Descriptor};

/// An image manifest: a config and layers, bottom first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An index / manifest list: manifests for several platforms (or several images, in a layout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// A platform, as in an index entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform Berth runs images for: linux and this machine's architecture in Go's spelling.
    pub fn host() -> Self {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            architecture: architecture.to_string(),
            os: "linux".to_string(),
            os_version: None,
            variant: None,
        }
    }
}

/// A manifest-or-index blob, told apart by its media type or, failing that, its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestOrIndex {
    Manifest(Box<Manifest>),
    Index(Index),
}

/// Why a manifest blob could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest {digest}: {source}")]
    Json {
        digest: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("manifest {digest}: unsupported media type {media_type:?} (schema 1 and artifacts cannot be run)")]
    MediaType { digest: String, media_type: String },
    #[error("manifest {digest}: schema version {version} is not supported, expected 2")]
    Schema { digest: String, version: u32 },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    schema_version: u32,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
}

impl ManifestOrIndex {
    /// Parses a manifest or index blob; `hint` is the media type from the referring descriptor.
    pub fn parse(digest: &str, hint: Option<&str>, bytes: &[u8]) -> Result<Self, ManifestError> {
        let json = |source| ManifestError::Json {
            digest: digest.to_string(),
            source,
        };
        let probe: Probe = serde_json::from_slice(bytes).map_err(json)?;
        if probe.schema_version != 2 {
            return Err(ManifestError::Schema {
                digest: digest.to_string(),
                version: probe.schema_version,
            });
        }
        let mt = probe.media_type.as_deref().or(hint);
        let is_index = match mt {
            Some(m) if media::is_index(m) => true,
            Some(m) if media::is_manifest(m) => false,
            Some(m) => {
                return Err(ManifestError::MediaType {
                    digest: digest.to_string(),
                    media_type: m.to_string(),
                })
            }
            None => probe.manifests.is_some(),
        };
        Ok(if is_index {
            ManifestOrIndex::Index(serde_json::from_slice(bytes).map_err(json)?)
        } else {
            ManifestOrIndex::Manifest(Box::new(serde_json::from_slice(bytes).map_err(json)?))
        })
    }
}

/// Picks the entry of an index for `want`: same os and architecture, preferring an exact variant, and
/// skipping attestation entries (`unknown/unknown`). An index whose entries carry no platform at all
/// and has exactly one entry yields that entry.
pub fn select_platform<'a>(index: &'a Index, want: &Platform) -> Option<&'a Descriptor> {
    let candidates: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| media::is_manifest(&d.media_type) || media::is_index(&d.media_type))
        .collect();
    let matching = candidates.iter().copied().filter(|d| {
        d.platform
            .as_ref()
            .is_some_and(|p| p.os == want.os && p.architecture == want.architecture)
    });
    let mut best: Option<&Descriptor> = None;
    for d in matching {
        let variant = d.platform.as_ref().and_then(|p| p.variant.as_deref());
        if variant == want.variant.as_deref() {
            return Some(d);
        }
        best = best.or(Some(d));
    }
    best.or_else(|| match candidates.as_slice() {
        [only] if only.platform.is_none() => Some(*only),
        _ => None,
    })
}
