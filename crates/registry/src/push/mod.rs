//! Pushing local images to a registry.
//!
//! 1. Read the image's stored manifest and check its config and layer blobs are in the content
//!    store.
//! 2. Per blob (at most [`PushOptions::max_concurrent`] at once), in [`blob`]: `HEAD` skips what
//!    the registry has; a cross-repository mount (`?mount=&from=`) is tried from another
//!    repository of the same registry the image came from; otherwise the blob is uploaded: small
//!    ones in one monolithic `PUT`, others streamed in one `PATCH` (as Docker does) or in
//!    `Content-Range` chunks of [`PushOptions::chunk_size`], then closed with `PUT ?digest=`.
//!    A layer stored as a plain tar (images made here) is gzip-compressed on the way
//!    ([`compressed`]): compressed on every core, streamed to the registry and into the local
//!    content store at once, and the manifest pushed names the compressed blobs.
//! 3. `PUT` the manifest by tag; the `Docker-Content-Digest` the registry returns must equal the
//!    digest of the bytes sent.
//! 4. Record what was pushed on the image: the repo digest (`repo@sha256:…`) and, when layers were
//!    compressed, the pushed manifest as the image's own (same image ID, the layers' blobs now
//!    the compressed ones), so the next push finds every layer already there without compressing
//!    again.
//!
//! [`push_tags`] pushes several tags of one repository under one "The push refers to repository"
//! line (`docker push --all-tags`).

mod blob;
mod compressed;

use std::collections::HashMap;
use std::sync::Arc;

use berth_image::formats::{LayerSource, PendingImage};
use berth_image::model::{media, Descriptor, ManifestOrIndex};
use berth_image::ImageStore;
use berth_oci::{Digest, Reference};
use bytes::Bytes;
use tokio::sync::Semaphore;

use crate::auth::Credentials;
use crate::client::{Client, Repo};
use crate::compress;
use crate::error::RegistryError;
use crate::progress::{short_id, Progress, ProgressSink};

/// Blobs uploaded at once by default (Docker's `max-concurrent-uploads`).
pub const DEFAULT_CONCURRENT_UPLOADS: usize = 5;

/// How to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    pub credentials: Credentials,
    pub max_concurrent: usize,
    /// Upload in `Content-Range` chunks of this many bytes instead of one streamed `PATCH`.
    pub chunk_size: Option<u64>,
    /// The gzip level of layers compressed on push.
    pub gzip_level: u32,
    /// Threads compressing one layer.
    pub gzip_threads: usize,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            credentials: Credentials::default(),
            max_concurrent: DEFAULT_CONCURRENT_UPLOADS,
            chunk_size: None,
            gzip_level: compress::DEFAULT_LEVEL,
            gzip_threads: compress::default_threads(),
        }
    }
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub tag: String,
    pub digest: Digest,
    pub size: u64,
}

struct Local {
    manifest_mt: String,
    manifest: Bytes,
    config: Descriptor,
    config_bytes: Vec<u8>,
    layers: Vec<Descriptor>,
    /// Other repositories of the target registry that name this image (mount sources).
    mount_from: Vec<String>,
}

fn read_local(store: &ImageStore, name: &str, target: &Reference) -> Result<Local, RegistryError> {
    let img = store.get(name)?;
    let md = Digest::parse(&img.manifest_digest).map_err(RegistryError::internal)?;
    let bytes = store.content().read_blob(&md)?;
    let m = match ManifestOrIndex::parse(md.as_str(), Some(&img.manifest_media_type), &bytes) {
        Ok(ManifestOrIndex::Manifest(m)) => m,
        Ok(ManifestOrIndex::Index(_)) => {
            return Err(RegistryError::Internal(format!(
                "image {name}: its stored manifest {md} is an index"
            )))
        }
        Err(e) => return Err(RegistryError::Internal(format!("image {name}: {e}"))),
    };
    for d in std::iter::once(&m.config).chain(&m.layers) {
        let size = store.content().size(&d.digest)?;
        if size != d.size {
            return Err(RegistryError::Internal(format!(
                "image {name}: blob {} has {size} bytes, its manifest says {}",
                d.digest, d.size
            )));
        }
    }
    let config_bytes = store.content().read_blob(&m.config.digest)?;
    let mut mount_from = Vec::new();
    for n in img.repo_tags.iter().chain(&img.repo_digests) {
        if let Ok(r) = Reference::parse(n) {
            if r.registry() == target.registry()
                && r.repository() != target.repository()
                && !mount_from.iter().any(|m: &String| m == r.repository())
            {
                mount_from.push(r.repository().to_string());
            }
        }
    }
    Ok(Local {
        manifest_mt: img.manifest_media_type.clone(),
        manifest: Bytes::from(bytes),
        config: m.config.clone(),
        config_bytes,
        layers: m.layers.clone(),
        mount_from,
    })
}

/// The gzip media type for a plain-tar layer type; `None` for a layer already compressed.
fn gzip_type(media_type: &str) -> Option<&'static str> {
    match media_type {
        media::OCI_LAYER => Some(media::OCI_LAYER_GZIP),
        media::DOCKER_LAYER => Some(media::DOCKER_LAYER_GZIP),
        _ => None,
    }
}

/// Pushes the local image `name` to `target` (a tag reference).
pub async fn push(
    client: &Client,
    store: Arc<ImageStore>,
    name: &str,
    target: &Reference,
    opts: &PushOptions,
    progress: &ProgressSink,
) -> Result<Pushed, RegistryError> {
    let tag = target
        .tag()
        .unwrap_or(berth_oci::reference::DEFAULT_TAG)
        .to_string();
    let repo = open(client, target, opts, progress).await?;
    push_one(
        &repo,
        &store,
        name,
        &target.name_only(),
        &tag,
        opts,
        progress,
    )
    .await
}

/// Pushes the local images `sources` (local name, tag) to the tags of repository `target` (its
/// tag, if any, is ignored), in order; the first failure stops the push.
pub async fn push_tags(
    client: &Client,
    store: Arc<ImageStore>,
    sources: &[(String, String)],
    target: &Reference,
    opts: &PushOptions,
    progress: &ProgressSink,
) -> Result<Vec<Pushed>, RegistryError> {
    let repo = open(client, target, opts, progress).await?;
    let repository = target.name_only();
    let mut out = Vec::with_capacity(sources.len());
    for (name, tag) in sources {
        out.push(push_one(&repo, &store, name, &repository, tag, opts, progress).await?);
    }
    Ok(out)
}

/// Announces the repository, then the repository handle, authorized for push. The announcement
/// comes first, as dockerd's: a registry refusing the credentials is then reported in the
/// progress stream, after it.
async fn open(
    client: &Client,
    target: &Reference,
    opts: &PushOptions,
    progress: &ProgressSink,
) -> Result<Arc<Repo>, RegistryError> {
    progress.send(Progress::Status(format!(
        "The push refers to repository [{}]",
        target.name()
    )));
    let repo = client
        .repo(
            target.registry(),
            target.repository(),
            true,
            opts.credentials.clone(),
        )
        .await?;
    Ok(Arc::new(repo))
}

async fn push_one(
    repo: &Arc<Repo>,
    store: &Arc<ImageStore>,
    name: &str,
    repository: &Reference,
    tag: &str,
    opts: &PushOptions,
    progress: &ProgressSink,
) -> Result<Pushed, RegistryError> {
    let target = repository
        .clone()
        .with_tag(tag)
        .map_err(|e| RegistryError::Reference {
            reference: format!("{}:{tag}", repository.name()),
            reason: e.to_string(),
        })?;
    let local = {
        let (s, n, t) = (store.clone(), name.to_string(), target.clone());
        tokio::task::spawn_blocking(move || read_local(&s, &n, &t))
            .await
            .map_err(RegistryError::internal)??
    };
    for l in local.layers.iter().rev() {
        progress.send(Progress::item(short_id(&l.digest), "Preparing"));
    }
    let pushed = push_blobs(repo, store, &local, opts, progress).await?;
    let layers: Vec<Descriptor> = local
        .layers
        .iter()
        .map(|l| pushed.get(&l.digest).cloned().unwrap_or_else(|| l.clone()))
        .collect();
    let manifest = if layers == local.layers {
        local.manifest.clone()
    } else {
        Bytes::from(with_layers(&local.manifest, &layers)?)
    };
    let digest = Digest::sha256_of(&manifest);
    let size = manifest.len() as u64;
    let returned = repo
        .put_manifest(tag, &local.manifest_mt, manifest.clone())
        .await?;
    if let Some(r) = returned {
        if r != digest.as_str() {
            return Err(RegistryError::BadContent {
                host: repo.registry().to_string(),
                what: format!("manifest {}:{tag}", repo.name()),
                reason: format!("the registry stored it as {r}, but its bytes hash to {digest}"),
            });
        }
    }
    // Record the repo digest (and the manifest pushed): the same image, one more name.
    let pending = PendingImage::new(
        local.config_bytes,
        layers.into_iter().map(LayerSource::Blob).collect(),
        Some((local.manifest_mt.clone(), manifest.to_vec())),
        vec![target.name_only().with_digest(digest.clone())],
    )?;
    debug_assert_eq!(pending.config_digest, local.config.digest);
    let s = store.clone();
    tokio::task::spawn_blocking(move || s.commit_pending(vec![pending]))
        .await
        .map_err(RegistryError::internal)??;
    Ok(Pushed {
        tag: tag.to_string(),
        digest,
        size,
    })
}

/// Uploads the config and the layers the registry lacks; returns the descriptors of layers
/// compressed on the way, by their stored digest.
async fn push_blobs(
    repo: &Arc<Repo>,
    store: &Arc<ImageStore>,
    local: &Local,
    opts: &PushOptions,
    progress: &ProgressSink,
) -> Result<HashMap<Digest, Descriptor>, RegistryError> {
    let permits = Arc::new(Semaphore::new(opts.max_concurrent.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut seen = std::collections::HashSet::new();
    for (d, show) in local
        .layers
        .iter()
        .map(|l| (l, true))
        .chain(std::iter::once((&local.config, false)))
    {
        if !seen.insert(d.digest.clone()) {
            continue;
        }
        let (repo, store, d, permits, opts) = (
            repo.clone(),
            store.clone(),
            d.clone(),
            permits.clone(),
            opts.clone(),
        );
        let progress = if show {
            progress.clone()
        } else {
            ProgressSink::none()
        };
        let mount_from = local.mount_from.first().cloned();
        tasks.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .map_err(RegistryError::internal)?;
            match gzip_type(&d.media_type).filter(|_| show) {
                Some(mt) => {
                    let c = compressed::push(&repo, &store, &d, mt, &opts, &progress).await?;
                    Ok(Some((d.digest, c)))
                }
                None => {
                    blob::push(&repo, &store, &d, mount_from.as_deref(), &opts, &progress).await?;
                    Ok::<_, RegistryError>(None)
                }
            }
        });
    }
    let mut out = HashMap::new();
    while let Some(done) = tasks.join_next().await {
        if let Some((from, to)) = done.map_err(RegistryError::internal)?? {
            out.insert(from, to);
        }
    }
    Ok(out)
}

/// `manifest` with its layer descriptors replaced by `layers` (same count and order), every
/// other field kept.
fn with_layers(manifest: &[u8], layers: &[Descriptor]) -> Result<Vec<u8>, RegistryError> {
    let mut v: serde_json::Value =
        serde_json::from_slice(manifest).map_err(RegistryError::internal)?;
    let Some(entries) = v.get_mut("layers").and_then(|l| l.as_array_mut()) else {
        return Err(RegistryError::internal("the stored manifest has no layers"));
    };
    if entries.len() != layers.len() {
        return Err(RegistryError::internal(
            "the stored manifest's layers changed while pushing",
        ));
    }
    for (e, d) in entries.iter_mut().zip(layers) {
        e["mediaType"] = d.media_type.clone().into();
        e["digest"] = d.digest.to_string().into();
        e["size"] = d.size.into();
    }
    serde_json::to_vec(&v).map_err(RegistryError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_tar_layers_get_the_gzip_type_of_their_family() {
        assert_eq!(gzip_type(media::OCI_LAYER), Some(media::OCI_LAYER_GZIP));
        assert_eq!(
            gzip_type(media::DOCKER_LAYER),
            Some(media::DOCKER_LAYER_GZIP)
        );
        assert_eq!(gzip_type(media::OCI_LAYER_GZIP), None);
        assert_eq!(gzip_type(media::OCI_LAYER_ZSTD), None);
    }

    #[test]
    fn a_manifest_gets_new_layers_and_keeps_the_rest() {
        let old = Digest::sha256_of(b"old");
        let new = Digest::sha256_of(b"new");
        let m = serde_json::json!({"schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
            "config": {"mediaType": media::OCI_CONFIG, "digest": old.to_string(), "size": 3},
            "layers": [{"mediaType": media::OCI_LAYER, "digest": old.to_string(), "size": 3,
                "annotations": {"a": "b"}}]})
        .to_string();
        let out = with_layers(
            m.as_bytes(),
            &[Descriptor::new(media::OCI_LAYER_GZIP, new.clone(), 9)],
        )
        .unwrap_or_default();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
        assert_eq!(v["layers"][0]["digest"], new.as_str());
        assert_eq!(v["layers"][0]["mediaType"], media::OCI_LAYER_GZIP);
        assert_eq!(v["layers"][0]["size"], 9);
        assert_eq!(v["layers"][0]["annotations"]["a"], "b");
        assert_eq!(v["config"]["digest"], old.as_str());
        assert!(with_layers(m.as_bytes(), &[]).is_err());
    }
}
