//! The image service: the engine's images verbs (list with filters, inspect, history, tag, remove,
//! prune, load, save, import, commit), each running the synchronous [`ImageStore`] on the blocking pool and
//! publishing its events. No HTTP types here: the server parses requests into these calls.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Arc;

use berth_image::formats::import::ImportOptions;
use berth_image::formats::LoadedImage;
use berth_image::model::ContainerConfig;
use berth_image::store::{CommitOptions, HistoryEntry, ImageDetails, RemoveAction, SaveFormat};
use berth_image::ImageStore;
use berth_oci::{Digest, Reference};

use crate::config::StorageDriver;
use crate::error::DaemonError;
use crate::events::{EventType, Events};
use crate::filter::{glob_match, labels_match};

mod distribution;
pub use distribution::{configure_registries, registry_error, DistributionInfo, RegistrySettings};

/// `docker images` filters, already parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFilter {
    /// `dangling=true`: only images without names; `false`: only named ones.
    pub dangling: Option<bool>,
    /// Glob patterns over the familiar names (`busybox`, `busy*:1.*`).
    pub reference: Vec<String>,
    /// `key` or `key=value`, ANDed.
    pub label: Vec<String>,
    /// Only images created before / after the named image.
    pub before: Option<String>,
    pub since: Option<String>,
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub deleted: Vec<RemoveAction>,
    pub reclaimed: u64,
}

/// The images subsystem of the engine.
#[derive(Clone)]
pub struct ImageService {
    store: Arc<ImageStore>,
    events: Events,
    driver: StorageDriver,
}

impl ImageService {
    pub fn new(store: ImageStore, events: Events, driver: StorageDriver) -> Self {
        ImageService {
            store: Arc::new(store),
            events,
            driver,
        }
    }

    /// The storage driver layers live on.
    pub fn driver(&self) -> StorageDriver {
        self.driver
    }

    /// Runs `f` with the store on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ImageStore) -> Result<T, DaemonError> + Send + 'static,
    ) -> Result<T, DaemonError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(DaemonError::join)?
    }

    /// Images matching `filter`, newest first.
    pub async fn list(&self, filter: ImageFilter) -> Result<Vec<ImageDetails>, DaemonError> {
        self.blocking(move |store| {
            let before = filter
                .before
                .as_deref()
                .map(|n| store.inspect(n))
                .transpose()?;
            let since = filter
                .since
                .as_deref()
                .map(|n| store.inspect(n))
                .transpose()?;
            let mut out = Vec::new();
            for img in store.list()? {
                let mut details = store.inspect(img.id.as_str())?;
                if !filter.reference.is_empty() {
                    // As Docker: only the names that match are shown, and an image with none goes.
                    let tags = &mut details.image.repo_tags;
                    tags.retain(|t| filter.reference.iter().any(|p| reference_matches(p, t)));
                    if tags.is_empty() {
                        continue;
                    }
                }
                if keep(&details, &filter, before.as_ref(), since.as_ref()) {
                    out.push(details);
                }
            }
            Ok(out)
        })
        .await
    }

    /// How many images there are.
    pub async fn count(&self) -> Result<usize, DaemonError> {
        self.blocking(|store| Ok(store.list()?.len())).await
    }

    /// A writable rootfs for container `key` on `image` (held against GC and rmi): the mounts
    /// that assemble it.
    pub async fn prepare_container_rootfs(
        &self,
        image: &str,
        key: &str,
    ) -> Result<Vec<berth_image::snapshot::Mount>, DaemonError> {
        let (image, key) = (image.to_string(), key.to_string());
        self.blocking(move |store| Ok(store.prepare_container_rootfs(&image, &key)?))
            .await
    }

    /// The keys of every container rootfs the image store holds.
    pub async fn container_holders(&self) -> Result<Vec<String>, DaemonError> {
        self.blocking(|store| Ok(store.container_holders()?)).await
    }

    /// Drops container `key`'s rootfs and holds (idempotent).
    pub async fn release_container(&self, key: &str) -> Result<(), DaemonError> {
        let key = key.to_string();
        self.blocking(move |store| Ok(store.release_container(&key)?))
            .await
    }

    pub async fn inspect(&self, name: &str) -> Result<ImageDetails, DaemonError> {
        let name = name.to_string();
        self.blocking(move |store| Ok(store.inspect(&name)?)).await
    }

    pub async fn history(&self, name: &str) -> Result<Vec<HistoryEntry>, DaemonError> {
        let name = name.to_string();
        self.blocking(move |store| Ok(store.history(&name)?)).await
    }

    /// Points `target` at the image `source` names.
    pub async fn tag(&self, source: &str, target: &str) -> Result<(), DaemonError> {
        let (source, target) = (source.to_string(), target.to_string());
        let (id, name) = self
            .blocking(move |store| {
                let r = store.tag(&source, &target)?;
                Ok((store.get(&source)?.id, r.with_default_tag().familiar()))
            })
            .await?;
        self.publish_image("tag", &id, &name);
        Ok(())
    }

    /// `docker rmi`.
    pub async fn remove(&self, name: &str, force: bool) -> Result<Vec<RemoveAction>, DaemonError> {
        let name = name.to_string();
        let (id, actions) = self
            .blocking(move |store| {
                let id = store.get(&name)?.id;
                Ok((id, store.remove(&name, force)?))
            })
            .await?;
        self.publish_removals(&id, &actions);
        Ok(actions)
    }

    /// `docker image prune [-a]`.
    pub async fn prune(&self, dangling_only: bool) -> Result<PruneReport, DaemonError> {
        let (ids, report) = self
            .blocking(move |store| Ok(store.prune(!dangling_only)?))
            .await?;
        let mut deleted: Vec<RemoveAction> =
            ids.iter().cloned().map(RemoveAction::Deleted).collect();
        for id in &ids {
            self.events
                .publish(EventType::Image, "delete", id, name_attr(id));
        }
        deleted.extend(report.layers.into_iter().map(RemoveAction::Deleted));
        let mut attrs = BTreeMap::new();
        attrs.insert("reclaimed".to_string(), report.bytes.to_string());
        self.events.publish(EventType::Image, "prune", "", attrs);
        Ok(PruneReport {
            deleted,
            reclaimed: report.bytes,
        })
    }

    /// `docker load`: reads an archive from `reader` (on the blocking pool).
    pub async fn load(
        &self,
        reader: Box<dyn Read + Send>,
    ) -> Result<Vec<LoadedImage>, DaemonError> {
        let loaded = self
            .blocking(move |store| Ok(store.load(reader, None)?))
            .await?;
        for img in &loaded {
            let name = img
                .names
                .first()
                .cloned()
                .unwrap_or_else(|| img.id.to_string());
            self.publish_image("load", &img.id, &name);
        }
        Ok(loaded)
    }

    /// Checks that every name resolves (so `save` can fail before its first byte).
    pub async fn resolve_all(&self, names: &[String]) -> Result<Vec<Digest>, DaemonError> {
        let names = names.to_vec();
        self.blocking(move |store| {
            names
                .iter()
                .map(|n| Ok(store.get(n)?.id))
                .collect::<Result<Vec<_>, DaemonError>>()
        })
        .await
    }

    /// `docker save`: writes the archive of `names` to `out` (on the blocking pool).
    pub async fn save(
        &self,
        names: Vec<String>,
        out: Box<dyn Write + Send>,
    ) -> Result<(), DaemonError> {
        let ids = self.resolve_all(&names).await?;
        let saved = names.clone();
        self.blocking(move |store| {
            let refs: Vec<&str> = saved.iter().map(String::as_str).collect();
            Ok(store.save(&refs, SaveFormat::DockerArchive, out)?)
        })
        .await?;
        for (id, name) in ids.iter().zip(&names) {
            self.publish_image("save", id, name);
        }
        Ok(())
    }

    /// `docker import`: a rootfs tar from `reader` becomes a one-layer image.
    pub async fn import(
        &self,
        reader: Box<dyn Read + Send>,
        opts: ImportOptions,
    ) -> Result<Digest, DaemonError> {
        if let Some(r) = &opts.reference {
            Reference::parse(r).map_err(|e| DaemonError::InvalidArgument(e.to_string()))?;
        }
        let name = opts.reference.clone();
        let id = self
            .blocking(move |store| Ok(store.import(reader, &opts)?))
            .await?;
        self.publish_image("import", &id, &name.unwrap_or_else(|| id.to_string()));
        Ok(id)
    }

    /// `docker commit`: the writable layer of container `key` (on `image`) becomes a new image.
    pub async fn commit_container(
        &self,
        image: &str,
        key: &str,
        opts: CommitOptions,
    ) -> Result<Digest, DaemonError> {
        if let Some(r) = &opts.reference {
            Reference::parse(r).map_err(|e| DaemonError::InvalidArgument(e.to_string()))?;
        }
        let (image, key) = (image.to_string(), key.to_string());
        self.blocking(move |store| Ok(store.commit_container(&image, &key, &opts)?))
            .await
    }

    /// A commit made reproducible by `epoch` (the builder's `SOURCE_DATE_EPOCH`): see
    /// `ImageStore::commit_container_at`.
    pub async fn commit_container_at(
        &self,
        image: &str,
        key: &str,
        opts: CommitOptions,
        epoch: Option<i64>,
    ) -> Result<Digest, DaemonError> {
        let (image, key) = (image.to_string(), key.to_string());
        self.blocking(move |store| Ok(store.commit_container_at(&image, &key, &opts, epoch)?))
            .await
    }

    /// Step `index` of `source`'s history on `parent`, its layer reused (the builder's
    /// `--cache-from`): see `ImageStore::derive_image`.
    pub async fn derive_image(
        &self,
        parent: Option<&str>,
        source: &str,
        index: usize,
        config: ContainerConfig,
    ) -> Result<Digest, DaemonError> {
        let (parent, source) = (parent.map(str::to_string), source.to_string());
        self.blocking(move |store| {
            Ok(store.derive_image(parent.as_deref(), &source, index, &config)?)
        })
        .await
    }

    /// A step that changes only the config (the builder's `ENV`, `CMD`, …): `parent`'s layers,
    /// one `empty_layer` history entry: see `ImageStore::config_image`.
    pub async fn config_image(
        &self,
        parent: &str,
        config: ContainerConfig,
        created_by: &str,
        epoch: Option<i64>,
    ) -> Result<Digest, DaemonError> {
        let (parent, created_by) = (parent.to_string(), created_by.to_string());
        self.blocking(move |store| Ok(store.config_image(&parent, &config, &created_by, epoch)?))
            .await
    }

    fn publish_image(&self, action: &str, id: &Digest, name: &str) {
        self.events
            .publish(EventType::Image, action, id.as_str(), name_attr(name));
    }

    fn publish_removals(&self, id: &Digest, actions: &[RemoveAction]) {
        for a in actions {
            match a {
                RemoveAction::Untagged(name) => self.publish_image("untag", id, name),
                RemoveAction::Deleted(d) if d == id.as_str() => {
                    self.publish_image("delete", id, id.as_str())
                }
                RemoveAction::Deleted(_) => {}
            }
        }
    }
}

fn name_attr(name: &str) -> BTreeMap<String, String> {
    let mut attrs = BTreeMap::new();
    attrs.insert("name".to_string(), name.to_string());
    attrs
}

/// Whether an image passes the list filters.
fn keep(
    d: &ImageDetails,
    f: &ImageFilter,
    before: Option<&ImageDetails>,
    since: Option<&ImageDetails>,
) -> bool {
    let dangling = d.image.repo_tags.is_empty();
    if f.dangling.is_some_and(|want| want != dangling) {
        return false;
    }
    if !labels_match(&f.label, &d.labels()) {
        return false;
    }
    let created = |x: &ImageDetails| x.image.created.clone().unwrap_or_default();
    if before.is_some_and(|b| created(d) >= created(b) || b.image.id == d.image.id) {
        return false;
    }
    if since.is_some_and(|s| created(d) <= created(s) || s.image.id == d.image.id) {
        return false;
    }
    true
}

/// Docker's `reference` filter on one familiar `name:tag`: a pattern with a tag matches the whole,
/// one without matches the name only.
fn reference_matches(pattern: &str, tag: &str) -> bool {
    let has_tag = pattern
        .rsplit_once(':')
        .is_some_and(|(_, t)| !t.contains('/'));
    if has_tag {
        return glob_match(pattern, tag);
    }
    let name = tag
        .rsplit_once(':')
        .filter(|(_, t)| !t.contains('/'))
        .map_or(tag, |(n, _)| n);
    glob_match(pattern, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filter_matches_names_or_name_tags() {
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busy*", "busybox:latest"));
        assert!(reference_matches("busybox:latest", "busybox:latest"));
        assert!(!reference_matches("busybox:1", "busybox:latest"));
        assert!(reference_matches("me/app:1.*", "me/app:1.0"));
        assert!(!reference_matches("app", "me/app:1.0"));
        assert!(reference_matches("reg:5000/app", "reg:5000/app:1"));
    }
}
