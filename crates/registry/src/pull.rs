//! Pulling an image into the image store.
//!
//! 1. Resolve the reference: `GET` the manifest by tag or digest; the digest is always computed from
//!    the bytes received (a pull by digest must match it; a `Docker-Content-Digest` header is never
//!    trusted). Schema 1 is refused.
//! 2. An index / manifest list: pick the entry for the wanted platform (the host's by default) and
//!    fetch that manifest by digest, verified against its descriptor.
//! 3. Fetch the config (verified) and check it against the manifest before any layer is fetched.
//! 4. Download the layers in parallel (at most [`PullOptions::max_concurrent`]), each verified into
//!    the content store ([`crate::download`]), and unpack each one (its diff ID checked against the
//!    config) as soon as it and the layers below it are there, while later ones still download.
//!    The blobs and layers of the pull are pinned in the store until the commit, so a GC in the
//!    meantime leaves them.
//! 5. Commit through [`ImageStore::commit_pending`] (which finds the layers unpacked): one
//!    transaction makes the image, its tag and its repo digest visible — or nothing.

use std::sync::Arc;

use berth_image::formats::{LayerSource, PendingImage, MAX_JSON_BYTES};
use berth_image::model::{self, media, select_platform, Descriptor, ManifestOrIndex, Platform};
use berth_image::ImageStore;
use berth_oci::{Digest, Reference};
use tokio::sync::Semaphore;

use crate::auth::Credentials;
use crate::client::{Client, FetchedManifest, Repo};
use crate::download::fetch_blob;
use crate::error::RegistryError;
use crate::progress::{short_id, Progress, ProgressSink};

/// Layers downloaded at once by default (Docker's `max-concurrent-downloads`).
pub const DEFAULT_CONCURRENT_DOWNLOADS: usize = 3;

/// How to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// The platform to pick from an index; the host's when `None`.
    pub platform: Option<Platform>,
    pub credentials: Credentials,
    pub max_concurrent: usize,
    /// `registry-mirrors`: hosts (`mirror.example:5000`, or URLs) tried in order for Docker Hub
    /// images before Docker Hub itself; a mirror that fails in any way is skipped.
    pub mirrors: Vec<String>,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            platform: None,
            credentials: Credentials::default(),
            max_concurrent: DEFAULT_CONCURRENT_DOWNLOADS,
            mirrors: Vec::new(),
        }
    }
}

/// A mirror entry (`https://mirror.example/`, `mirror.example:5000`) as a registry host.
fn mirror_host(m: &str) -> String {
    let m = m.trim();
    let m = m
        .strip_prefix("https://")
        .or_else(|| m.strip_prefix("http://"))
        .unwrap_or(m);
    m.split('/').next().unwrap_or(m).to_string()
}

/// What a pull did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The image ID (config digest).
    pub id: Digest,
    /// The digest of what the reference resolved to (the index for a multi-platform image): the
    /// repo digest recorded.
    pub digest: Digest,
    /// Whether the reference already pointed at this image.
    pub up_to_date: bool,
}

/// Parses `os/arch[/variant]` (`--platform`).
pub fn parse_platform(s: &str) -> Result<Platform, RegistryError> {
    let parts: Vec<&str> = s.split('/').collect();
    let bad = || RegistryError::Reference {
        reference: s.to_string(),
        reason: "a platform is os/arch[/variant], e.g. linux/amd64".to_string(),
    };
    if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(bad());
    }
    let arch = match parts[1] {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    Ok(Platform {
        os: parts[0].to_lowercase(),
        architecture: arch.to_lowercase(),
        os_version: None,
        variant: parts.get(2).map(|v| v.to_lowercase()),
    })
}

fn bad(repo: &Repo, what: impl Into<String>, reason: impl std::fmt::Display) -> RegistryError {
    RegistryError::BadContent {
        host: repo.registry().to_string(),
        what: what.into(),
        reason: reason.to_string(),
    }
}

/// Pulls `reference` into `store` (from a mirror first for a Docker Hub image when mirrors are
/// configured).
pub async fn pull(
    client: &Client,
    store: Arc<ImageStore>,
    reference: &Reference,
    opts: &PullOptions,
    progress: &ProgressSink,
) -> Result<Pulled, RegistryError> {
    if reference.registry() == berth_oci::reference::DEFAULT_REGISTRY {
        for m in &opts.mirrors {
            let host = mirror_host(m);
            // Mirrors are asked anonymously: Docker Hub credentials stay with Docker Hub.
            let mirror_opts = PullOptions {
                credentials: Credentials::default(),
                ..opts.clone()
            };
            match pull_from(
                client,
                &host,
                store.clone(),
                reference,
                &mirror_opts,
                progress,
            )
            .await
            {
                Ok(p) => return Ok(p),
                Err(e) => {
                    tracing::info!(mirror = %host, error = %e, "mirror failed; trying the next")
                }
            }
        }
    }
    pull_from(
        client,
        reference.registry(),
        store,
        reference,
        opts,
        progress,
    )
    .await
}

/// Most tags asked for per page of a tags list.
const TAGS_PAGE: usize = 1000;
/// Most tags read from one repository.
const MAX_TAGS: usize = 100_000;

/// The tags of `repository` on `registry` (`GET /v2/<name>/tags/list`, following the `Link`
/// pages), sorted.
pub async fn list_tags(
    client: &Client,
    registry: &str,
    repository: &str,
    credentials: Credentials,
) -> Result<Vec<String>, RegistryError> {
    #[derive(serde::Deserialize)]
    struct Page {
        #[serde(default)]
        tags: Option<Vec<String>>,
    }
    let repo = client
        .repo(registry, repository, false, credentials)
        .await?;
    let mut tags = Vec::new();
    let mut next = Some(format!("/v2/{repository}/tags/list?n={TAGS_PAGE}"));
    while let Some(path) = next.take() {
        let resp = repo
            .send(crate::transport::Outgoing {
                method: hyper::Method::GET,
                path_and_query: path,
                headers: vec![(hyper::header::ACCEPT, "application/json".to_string())],
                body: None,
            })
            .await?;
        if !resp.status().is_success() {
            return Err(repo
                .fail(resp, "GET", &format!("tags of {repository}"))
                .await);
        }
        next = resp
            .headers()
            .get(hyper::header::LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| l.split_once('<'))
            .and_then(|(_, rest)| rest.split_once('>'))
            .map(|(target, _)| target.to_string())
            .filter(|t| t.starts_with("/v2/"));
        let body = crate::transport::read_limited(resp.into_body(), 16 << 20, "tags list").await?;
        let page: Page = serde_json::from_slice(&body).map_err(|e| bad(&repo, "tags list", e))?;
        let got = page.tags.unwrap_or_default();
        if got.is_empty() {
            break;
        }
        tags.extend(got);
        if tags.len() > MAX_TAGS {
            return Err(RegistryError::TooLarge {
                what: format!("the tags list of {repository}"),
                limit: MAX_TAGS as u64,
            });
        }
    }
    tags.sort();
    tags.dedup();
    Ok(tags)
}

/// Pulls every tag of the repository of `reference` (its own tag, if any, ignored), one after
/// the other (`docker pull --all-tags`); returns each tag with what its pull did.
pub async fn pull_all_tags(
    client: &Client,
    store: Arc<ImageStore>,
    reference: &Reference,
    opts: &PullOptions,
    progress: &ProgressSink,
) -> Result<Vec<(String, Pulled)>, RegistryError> {
    let tags = list_tags(
        client,
        reference.registry(),
        reference.repository(),
        opts.credentials.clone(),
    )
    .await?;
    if tags.is_empty() {
        return Err(RegistryError::NotFound {
            host: reference.registry().to_string(),
            what: format!("repository {}", reference.repository()),
            message: "it has no tags".to_string(),
        });
    }
    let mut out = Vec::with_capacity(tags.len());
    for t in tags {
        let r = reference
            .name_only()
            .with_tag(&t)
            .map_err(|e| bad_ref(reference, e))?;
        let pulled = pull(client, store.clone(), &r, opts, progress).await?;
        out.push((t, pulled));
    }
    Ok(out)
}

fn bad_ref(reference: &Reference, e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Reference {
        reference: reference.familiar(),
        reason: e.to_string(),
    }
}

/// Pulls `reference` from `registry` (its own or a mirror).
async fn pull_from(
    client: &Client,
    registry: &str,
    store: Arc<ImageStore>,
    reference: &Reference,
    opts: &PullOptions,
    progress: &ProgressSink,
) -> Result<Pulled, RegistryError> {
    let repo = Arc::new(
        client
            .repo(
                registry,
                reference.repository(),
                false,
                opts.credentials.clone(),
            )
            .await?,
    );
    let (label, wanted) = match (reference.digest(), reference.tag()) {
        (Some(d), _) => (d.to_string(), Some(d.clone())),
        (None, Some(t)) => (t.to_string(), None),
        (None, None) => (berth_oci::reference::DEFAULT_TAG.to_string(), None),
    };
    let top = repo.get_manifest(&label).await?;
    if let Some(w) = &wanted {
        if &top.digest != w {
            return Err(RegistryError::DigestMismatch {
                host: repo.registry().to_string(),
                what: format!("manifest {}@{w}", repo.name()),
                expected: w.clone(),
                actual: top.digest.clone(),
            });
        }
    }
    let platform = opts.platform.clone().unwrap_or_else(Platform::host);
    let manifest_blob = resolve_platform(&repo, reference, top.clone(), &platform).await?;
    let manifest = match ManifestOrIndex::parse(
        manifest_blob.digest.as_str(),
        Some(&manifest_blob.media_type),
        &manifest_blob.bytes,
    )
    .map_err(|e| bad(&repo, "manifest", e))?
    {
        ManifestOrIndex::Manifest(m) => m,
        ManifestOrIndex::Index(_) => {
            return Err(bad(
                &repo,
                "manifest",
                "an index inside an index is not supported",
            ))
        }
    };
    for l in &manifest.layers {
        if !is_layer_type(&l.media_type) {
            return Err(bad(
                &repo,
                format!("layer {}", l.digest),
                format!("unsupported layer media type {:?}", l.media_type),
            ));
        }
    }
    let config_bytes = repo
        .get_small_blob(
            &manifest.config.digest,
            manifest.config.size,
            MAX_JSON_BYTES,
        )
        .await?;
    let mut names = Vec::new();
    if reference.digest().is_none() {
        names.push(reference.with_default_tag());
    }
    names.push(reference.name_only().with_digest(top.digest.clone()));
    let manifest_mt = if manifest_blob.media_type.is_empty() {
        manifest
            .media_type
            .clone()
            .unwrap_or_else(|| media::OCI_MANIFEST.to_string())
    } else {
        manifest_blob.media_type.clone()
    };
    let pending = PendingImage::new(
        config_bytes.to_vec(),
        manifest
            .layers
            .iter()
            .cloned()
            .map(LayerSource::Blob)
            .collect(),
        Some((manifest_mt, manifest_blob.bytes.to_vec())),
        names,
    )?;
    let id = pending.config_digest.clone();
    // The first line goes out once the reference resolved: earlier failures keep their status code.
    progress.send(Progress::item(
        &label,
        format!("Pulling from {}", reference.repository()),
    ));
    let before = {
        let (s, full) = (store.clone(), reference.with_default_tag().full());
        tokio::task::spawn_blocking(move || s.get(&full).ok().map(|i| i.id))
            .await
            .map_err(RegistryError::internal)?
    };
    // What this pull downloads and unpacks stays pinned against GC until its commit.
    // The chain IDs are worked out once here, not again for every layer unpacked.
    let chain = Arc::new(model::LayerChain::new(
        pending.config.rootfs.diff_ids.clone(),
    ));
    let _pinned = store.pin(
        manifest
            .layers
            .iter()
            .map(|l| l.digest.to_string())
            .chain(chain.chain_ids().iter().map(|c| c.to_string())),
    );
    // A blob removed by a concurrent GC between its download and the commit (another process's
    // GC, which our pins do not reach): fetch again once.
    let mut tries = 0;
    loop {
        let job = Job {
            repo: &repo,
            store: &store,
            layers: &manifest.layers,
            chain: &chain,
            label: &reference.familiar(),
            progress,
        };
        download_and_unpack(&job, opts.max_concurrent).await?;
        let (s, p) = (store.clone(), pending.clone());
        let committed = tokio::task::spawn_blocking(move || s.commit_pending(vec![p]))
            .await
            .map_err(RegistryError::internal)?;
        match committed {
            Ok(_) => break,
            Err(e) if e.kind() == berth_image::ErrorKind::NotFound && tries == 0 => {
                tries += 1;
                tracing::info!(error = %e, "a pulled blob went missing before the commit; fetching again");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Pulled {
        up_to_date: before.as_ref() == Some(&id),
        id,
        digest: top.digest,
    })
}

/// Follows an index to the manifest for `platform` (verified against the index entry).
async fn resolve_platform(
    repo: &Repo,
    reference: &Reference,
    top: FetchedManifest,
    platform: &Platform,
) -> Result<FetchedManifest, RegistryError> {
    let parsed = ManifestOrIndex::parse(top.digest.as_str(), Some(&top.media_type), &top.bytes)
        .map_err(|e| bad(repo, "manifest", e))?;
    let ManifestOrIndex::Index(index) = parsed else {
        return Ok(top);
    };
    let entry = select_platform(&index, platform).ok_or_else(|| RegistryError::NoPlatform {
        reference: reference.familiar(),
        platform: platform_text(platform),
    })?;
    let m = repo.get_manifest(entry.digest.as_str()).await?;
    model::verify_bytes("manifest", entry, &m.bytes).map_err(|e| match e {
        model::VerifyError::Digest {
            expected, actual, ..
        } => RegistryError::DigestMismatch {
            host: repo.registry().to_string(),
            what: format!("manifest {}", entry.digest),
            expected,
            actual,
        },
        other => bad(repo, format!("manifest {}", entry.digest), other),
    })?;
    Ok(FetchedManifest {
        media_type: if m.media_type.is_empty() {
            entry.media_type.clone()
        } else {
            m.media_type
        },
        ..m
    })
}

fn platform_text(p: &Platform) -> String {
    match &p.variant {
        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
        None => format!("{}/{}", p.os, p.architecture),
    }
}

fn is_layer_type(mt: &str) -> bool {
    [
        media::OCI_LAYER,
        media::OCI_LAYER_GZIP,
        media::OCI_LAYER_ZSTD,
        media::DOCKER_LAYER,
        media::DOCKER_LAYER_GZIP,
    ]
    .contains(&mt)
}

/// One pull's layers on their way into the store.
struct Job<'a> {
    repo: &'a Arc<Repo>,
    store: &'a Arc<ImageStore>,
    layers: &'a [Descriptor],
    /// The config's diff IDs, one per layer, with their chain IDs.
    chain: &'a Arc<model::LayerChain>,
    /// The image in errors.
    label: &'a str,
    progress: &'a ProgressSink,
}

/// Downloads the layers (at most `max` at once) and unpacks each, bottom first, as soon as it
/// and the layers below it are there, while the later ones still download. The first failure
/// stops everything (the downloads are aborted with their tasks).
async fn download_and_unpack(job: &Job<'_>, max: usize) -> Result<(), RegistryError> {
    let permits = Arc::new(Semaphore::new(max.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<Digest>();
    let mut seen = std::collections::HashSet::new();
    for l in job.layers {
        if !seen.insert(l.digest.clone()) {
            continue;
        }
        let (repo, store, l, progress, permits, done) = (
            job.repo.clone(),
            job.store.clone(),
            l.clone(),
            job.progress.clone(),
            permits.clone(),
            done_tx.clone(),
        );
        tasks.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .map_err(RegistryError::internal)?;
            fetch_blob(&repo, &store, &l, &progress).await?;
            let _ = done.send(l.digest);
            Ok::<(), RegistryError>(())
        });
    }
    drop(done_tx);
    let downloads = async {
        while let Some(done) = tasks.join_next().await {
            done.map_err(RegistryError::internal)??;
        }
        Ok::<(), RegistryError>(())
    };
    let unpack = async {
        let mut present = std::collections::HashSet::new();
        for (i, l) in job.layers.iter().enumerate() {
            while !present.contains(&l.digest) {
                match done_rx.recv().await {
                    Some(d) => {
                        present.insert(d);
                    }
                    // Every download ended; a failed one is the error the other branch returns.
                    None => return Ok(()),
                }
            }
            let id = short_id(&l.digest);
            job.progress.send(Progress::item(&id, "Extracting"));
            let (store, label, chain, blob) = (
                job.store.clone(),
                job.label.to_string(),
                job.chain.clone(),
                l.digest.clone(),
            );
            tokio::task::spawn_blocking(move || store.unpack_layer(&label, i, &chain, &blob))
                .await
                .map_err(RegistryError::internal)??;
            job.progress.send(Progress::item(&id, "Pull complete"));
        }
        Ok::<(), RegistryError>(())
    };
    tokio::try_join!(downloads, unpack)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_like_docker() {
        let p = parse_platform("linux/arm64/v8").unwrap_or_else(|_| Platform::host());
        assert_eq!((p.os.as_str(), p.architecture.as_str()), ("linux", "arm64"));
        assert_eq!(p.variant.as_deref(), Some("v8"));
        assert_eq!(
            parse_platform("linux/x86_64")
                .map(|p| p.architecture)
                .ok()
                .as_deref(),
            Some("amd64")
        );
        assert!(parse_platform("linux").is_err());
        assert!(parse_platform("linux//").is_err());
    }
}
