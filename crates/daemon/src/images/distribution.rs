//! The image service's registry verbs: pull, push, login and the distribution inspect, over
//! [`berth_registry`]. One registry client serves the whole daemon, so bearer tokens and blob
//! downloads in flight are shared across requests (two pulls of one layer download it once).
//!
//! Registry TLS: CAs and client certificates from `/etc/docker/certs.d/<host[:port]>/` and
//! `/etc/berth/certs.d/<host[:port]>/`; loopback registries and those of `insecure-registries` may
//! use plain HTTP, as Docker allows; Docker Hub pulls try `registry-mirrors` first. The daemon's
//! configuration reaches the client through [`configure_registries`].

use std::sync::{OnceLock, RwLock};

use berth_image::model::{ManifestOrIndex, Platform};
use berth_oci::{Digest, Reference};
use berth_registry::pull::{PullOptions, Pulled};
use berth_registry::push::{PushOptions, Pushed};
use berth_registry::{Client, Credentials, HostsConfig, ProgressSink, RegistryError};

use super::{name_attr, ImageService};
use crate::error::DaemonError;
use crate::events::EventType;

/// Directories searched for `<host[:port]>/` TLS material.
const CERTS_DIRS: [&str; 2] = ["/etc/docker/certs.d", "/etc/berth/certs.d"];

/// The daemon configuration's registry settings (`insecure-registries`, `registry-mirrors`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistrySettings {
    pub insecure: Vec<String>,
    pub mirrors: Vec<String>,
}

type Current = RwLock<Option<(RegistrySettings, Client)>>;

fn current() -> &'static Current {
    static CURRENT: OnceLock<Current> = OnceLock::new();
    CURRENT.get_or_init(|| RwLock::new(None))
}

fn new_client(settings: &RegistrySettings) -> Client {
    Client::new(HostsConfig {
        certs_dirs: CERTS_DIRS.iter().map(Into::into).collect(),
        insecure: settings.insecure.clone(),
    })
}

/// Applies the daemon configuration's registry settings (at start and on reload). A change makes
/// a new client: cached endpoints and tokens are dropped with the old one.
pub fn configure_registries(settings: RegistrySettings) {
    let same =
        |cur: &Option<(RegistrySettings, Client)>| cur.as_ref().map(|(s, _)| s) == Some(&settings);
    if same(&current().read().unwrap_or_else(|p| p.into_inner())) {
        return;
    }
    let mut cur = current().write().unwrap_or_else(|p| p.into_inner());
    if cur.as_ref().map(|(s, _)| s) != Some(&settings) {
        let client = new_client(&settings);
        *cur = Some((settings, client));
    }
}

/// The daemon's registry client (shared by all requests) and the mirrors in force.
fn client() -> (Client, Vec<String>) {
    if let Some((s, c)) = current().read().unwrap_or_else(|p| p.into_inner()).as_ref() {
        return (c.clone(), s.mirrors.clone());
    }
    configure_registries(RegistrySettings::default());
    let cur = current().read().unwrap_or_else(|p| p.into_inner());
    match cur.as_ref() {
        Some((s, c)) => (c.clone(), s.mirrors.clone()),
        None => (new_client(&RegistrySettings::default()), Vec::new()),
    }
}

/// A registry error as a daemon error of the matching kind.
pub fn registry_error(e: RegistryError) -> DaemonError {
    use berth_registry::ErrorKind as K;
    let text = e.to_string();
    match e.kind() {
        K::NotFound => DaemonError::NotFound(text),
        K::InvalidArgument => DaemonError::InvalidArgument(text),
        K::Unauthorized | K::Forbidden => DaemonError::Forbidden(text),
        K::Unavailable => DaemonError::Unavailable(text),
        K::Internal => match e {
            RegistryError::Image(i) => DaemonError::from(i),
            _ => DaemonError::Internal(text),
        },
    }
}

/// The registry's own words for refused credentials, as Docker's registry client renders them
/// (`unauthorized: authentication required`).
fn unauthorized_words(message: String) -> String {
    if message.starts_with("unauthorized") {
        message
    } else {
        format!("unauthorized: {message}")
    }
}

/// A pull's registry error as dockerd answers it: refused credentials are an unknown error (500,
/// so the docker CLI prints it instead of asking for a login) in the registry's words; a
/// repository the registry denies is dockerd's "pull access denied" (404).
pub fn pull_error(e: RegistryError, reference: &Reference) -> DaemonError {
    match e {
        RegistryError::Unauthorized { message, .. } => {
            DaemonError::Unknown(unauthorized_words(message))
        }
        RegistryError::Denied { message, .. } => DaemonError::NotFound(format!(
            "pull access denied for {}, repository does not exist or may require 'docker login': {message}",
            reference.name_only().familiar()
        )),
        other => registry_error(other),
    }
}

/// A push's registry error as dockerd reports it (in the stream, after "The push refers to
/// repository"): refused credentials and denied access in the registry's words.
pub fn push_error(e: RegistryError) -> DaemonError {
    match e {
        RegistryError::Unauthorized { message, .. } => {
            DaemonError::Unknown(unauthorized_words(message))
        }
        RegistryError::Denied { message, .. } => DaemonError::Unknown(message),
        other => registry_error(other),
    }
}

/// What `GET /distribution/{name}/json` reports.
#[derive(Debug, Clone)]
pub struct DistributionInfo {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    /// Platforms of an index's entries, or the one image's platform (from its config).
    pub platforms: Vec<Platform>,
}

impl ImageService {
    /// Pulls `reference` (normalised, with a tag or digest), reporting to `progress`.
    pub async fn pull(
        &self,
        reference: &Reference,
        platform: Option<Platform>,
        credentials: Credentials,
        progress: ProgressSink,
    ) -> Result<Pulled, DaemonError> {
        let (client, mirrors) = client();
        let opts = PullOptions {
            platform,
            credentials,
            mirrors,
            ..PullOptions::default()
        };
        let pulled =
            berth_registry::pull::pull(&client, self.store.clone(), reference, &opts, &progress)
                .await
                .map_err(|e| pull_error(e, reference))?;
        self.events.publish(
            EventType::Image,
            "pull",
            &reference.familiar(),
            name_attr(&reference.familiar()),
        );
        Ok(pulled)
    }

    /// Pulls every tag of the repository of `reference` (`docker pull --all-tags`, or the API
    /// without a tag), reporting to `progress`; returns each tag with what its pull did.
    pub async fn pull_all_tags(
        &self,
        reference: &Reference,
        platform: Option<Platform>,
        credentials: Credentials,
        progress: ProgressSink,
    ) -> Result<Vec<(String, Pulled)>, DaemonError> {
        let (client, mirrors) = client();
        let opts = PullOptions {
            platform,
            credentials,
            mirrors,
            ..PullOptions::default()
        };
        let pulled = berth_registry::pull::pull_all_tags(
            &client,
            self.store.clone(),
            reference,
            &opts,
            &progress,
        )
        .await
        .map_err(|e| pull_error(e, reference))?;
        for (tag, _) in &pulled {
            let name = format!("{}:{tag}", reference.name_only().familiar());
            self.events
                .publish(EventType::Image, "pull", &name, name_attr(&name));
        }
        Ok(pulled)
    }

    /// Pushes the local image `name` to `target` (a tag reference), reporting to `progress`.
    pub async fn push(
        &self,
        name: &str,
        target: &Reference,
        credentials: Credentials,
        progress: ProgressSink,
    ) -> Result<Pushed, DaemonError> {
        let opts = PushOptions {
            credentials,
            ..PushOptions::default()
        };
        let pushed = berth_registry::push::push(
            &client().0,
            self.store.clone(),
            name,
            target,
            &opts,
            &progress,
        )
        .await
        .map_err(push_error)?;
        self.events.publish(
            EventType::Image,
            "push",
            &target.familiar(),
            name_attr(&target.familiar()),
        );
        Ok(pushed)
    }

    /// Pushes the local tags `tags` of repository `repository` (`docker push --all-tags`, or the
    /// API without `tag`: [`Self::local_tags`]), in order.
    pub async fn push_all_tags(
        &self,
        repository: &Reference,
        tags: Vec<String>,
        credentials: Credentials,
        progress: ProgressSink,
    ) -> Result<Vec<Pushed>, DaemonError> {
        let repository = repository.name_only();
        let sources: Vec<(String, String)> = tags
            .into_iter()
            .map(|t| (format!("{}:{t}", repository.name()), t))
            .collect();
        let opts = PushOptions {
            credentials,
            ..PushOptions::default()
        };
        let pushed = berth_registry::push::push_tags(
            &client().0,
            self.store.clone(),
            &sources,
            &repository,
            &opts,
            &progress,
        )
        .await
        .map_err(push_error)?;
        for p in &pushed {
            let name = format!("{}:{}", repository.familiar(), p.tag);
            self.events
                .publish(EventType::Image, "push", &name, name_attr(&name));
        }
        Ok(pushed)
    }

    /// The tags of `repository` (a name without tag) in the local store, sorted.
    pub async fn local_tags(&self, repository: &Reference) -> Result<Vec<String>, DaemonError> {
        let name = repository.name().to_string();
        self.blocking(move |store| {
            let mut tags: Vec<String> = store
                .list()?
                .iter()
                .flat_map(|i| i.repo_tags.iter())
                .filter_map(|t| Reference::parse(t).ok())
                .filter(|r| r.name() == name)
                .filter_map(|r| r.tag().map(str::to_string))
                .collect();
            tags.sort();
            tags.dedup();
            Ok(tags)
        })
        .await
    }

    /// `GET /images/search`: the v1 search results of `registry` for `term`.
    pub async fn search(
        &self,
        registry: &str,
        term: &str,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>, DaemonError> {
        client()
            .0
            .search(registry, term, limit)
            .await
            .map_err(registry_error)
    }

    /// `POST /auth`: checks `credentials` against `registry`; refused credentials are
    /// [`DaemonError::Unauthorized`] (401, as Docker's).
    pub async fn login(
        &self,
        registry: &str,
        credentials: &Credentials,
    ) -> Result<(), DaemonError> {
        client()
            .0
            .login(registry, credentials)
            .await
            .map_err(|e| match e.kind() {
                // Docker answers a refused login 401 (pulls and pushes keep 403).
                berth_registry::ErrorKind::Unauthorized => DaemonError::Unauthorized(e.to_string()),
                _ => registry_error(e),
            })
    }

    /// `GET /distribution/{name}/json`: what `reference` resolves to on its registry.
    pub async fn distribution(
        &self,
        reference: &Reference,
        credentials: Credentials,
    ) -> Result<DistributionInfo, DaemonError> {
        let repo = client()
            .0
            .repo(
                reference.registry(),
                reference.repository(),
                false,
                credentials,
            )
            .await
            .map_err(registry_error)?;
        let label = match (reference.digest(), reference.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => berth_oci::reference::DEFAULT_TAG.to_string(),
        };
        let m = repo.get_manifest(&label).await.map_err(registry_error)?;
        if let Some(d) = reference.digest() {
            if d != &m.digest {
                return Err(DaemonError::Unavailable(format!(
                    "manifest {label} from {}: the content hashes to {}",
                    reference.registry(),
                    m.digest
                )));
            }
        }
        let parsed = ManifestOrIndex::parse(m.digest.as_str(), Some(&m.media_type), &m.bytes)
            .map_err(|e| DaemonError::Unavailable(e.to_string()))?;
        let platforms = match parsed {
            ManifestOrIndex::Index(i) => i
                .manifests
                .iter()
                .filter_map(|d| d.platform.clone())
                .collect(),
            ManifestOrIndex::Manifest(man) => {
                let cfg = repo
                    .get_small_blob(
                        &man.config.digest,
                        man.config.size,
                        berth_image::formats::MAX_JSON_BYTES,
                    )
                    .await
                    .map_err(registry_error)?;
                berth_image::model::ImageConfig::parse(&cfg)
                    .ok()
                    .map(|c| Platform {
                        architecture: c.architecture,
                        os: c.os,
                        os_version: c.os_version,
                        variant: c.variant,
                    })
                    .into_iter()
                    .collect()
            }
        };
        Ok(DistributionInfo {
            media_type: m.media_type.clone(),
            size: m.bytes.len() as u64,
            digest: m.digest,
            platforms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_reaches_the_client() {
        let insecure = RegistrySettings {
            insecure: vec!["reg.example:5000".into()],
            mirrors: vec!["https://mirror.example".into()],
        };
        configure_registries(insecure.clone());
        let (c, mirrors) = client();
        assert!(c.hosts().is_insecure("reg.example:5000"));
        assert_eq!(mirrors, insecure.mirrors);
        configure_registries(RegistrySettings::default());
        let (c, mirrors) = client();
        assert!(!c.hosts().is_insecure("reg.example:5000"));
        assert!(c.hosts().is_insecure("127.0.0.1:5000"));
        assert!(mirrors.is_empty());
    }
}
