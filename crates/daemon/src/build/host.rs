//! The daemon's [`BuildHost`]: build containers are ordinary containers made, started, waited for,
//! copied into and removed through [`ContainerService`]; commits and tags go through
//! [`ImageService`]. Runs on the blocking pool and drives the async services with the runtime's
//! handle. Output goes to the request's JSON stream as `stream` lines, the image ID as `aux`; in
//! quiet mode the stream carries only the image ID, the rest held back and sent only before a
//! failure's error, as moby does.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use berth_api::progress::JsonMessage;
use berth_build::exec::{BuildHost, HostError, Image, ImageConfig, RunSpec};
use berth_image::formats::import::ImportOptions;
use berth_image::store::CommitOptions;
use berth_oci::Reference;
use berth_registry::{Credentials, ProgressSink};
use tokio::runtime::Handle;

use super::cache::CacheIndex;
use super::mounts::{SecretFiles, Stubs};
use super::view::StepRoot;
use crate::containers::remove::RemoveOptions;
use crate::error::DaemonError;
use crate::server::stream::{json_line, BodyWriter};
use crate::Engine;

pub(super) fn host_err(e: DaemonError) -> HostError {
    HostError(e.to_string())
}

/// One build's view of the engine. Its forks (one per stage built beside the target's) share
/// the output stream, the build's containers, the scratch image and the cancellation.
pub struct DaemonHost {
    pub(super) engine: Arc<Engine>,
    pub(super) rt: Handle,
    /// The response; one JSON message is written whole under the lock.
    pub(super) out: Arc<Mutex<BodyWriter>>,
    pub(super) quiet: bool,
    pub(super) cache: CacheIndex,
    /// The image each build container was made from.
    pub(super) images: Arc<Mutex<HashMap<String, String>>>,
    /// An empty image standing for `scratch`, made on first use.
    pub(super) scratch: Arc<Mutex<Option<String>>>,
    /// Whether the client went away.
    pub(super) gone: Arc<AtomicBool>,
    /// Credentials for pulls, by registry (`X-Registry-Config`).
    pub registry_auth: std::collections::BTreeMap<String, Credentials>,
    /// `SOURCE_DATE_EPOCH`: every commit at that time, its layer's mtimes clamped to it; build
    /// containers get a fixed hostname instead of their ID.
    pub epoch: Option<i64>,
    /// The secrets the client gave, written to files only when a step mounts them.
    pub secrets: Option<Arc<SecretFiles>>,
    /// The mount points each `RUN` container may make, to remove after it ran.
    pub(super) stubs: Arc<Mutex<HashMap<String, Stubs>>>,
    /// The snapshots of steps that never run, by key.
    pub(super) steps: Arc<Mutex<HashMap<String, Arc<Mutex<StepRoot>>>>>,
    /// In quiet mode, the text the stream did not carry: sent before the error if the build
    /// fails, as moby does.
    pub(super) held: Arc<Mutex<String>>,
}

/// The hostname of build containers in a reproducible build.
pub(super) const REPRODUCIBLE_HOSTNAME: &str = "berth-build";

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl DaemonHost {
    pub fn new(
        engine: Arc<Engine>,
        rt: Handle,
        out: BodyWriter,
        quiet: bool,
        cache: CacheIndex,
    ) -> Self {
        DaemonHost {
            engine,
            rt,
            out: Arc::new(Mutex::new(out)),
            quiet,
            cache,
            images: Arc::default(),
            scratch: Arc::default(),
            gone: Arc::default(),
            registry_auth: Default::default(),
            epoch: None,
            secrets: None,
            stubs: Arc::default(),
            steps: Arc::default(),
            held: Arc::default(),
        }
    }

    /// Sends one JSON message.
    pub fn send(&mut self, msg: &JsonMessage) {
        let line = json_line(msg);
        if lock(&self.out).write_all(&line).is_err() {
            self.gone.store(true, Ordering::Relaxed);
        }
    }

    /// Build output as a `stream` message; held back in quiet mode.
    pub(super) fn stream(&mut self, text: String) {
        if self.quiet {
            lock(&self.held).push_str(&text);
        } else {
            self.send(&JsonMessage::stream(text));
        }
    }

    /// In quiet mode, sends the output held back (before a failure's error).
    pub fn release_held(&mut self) {
        let text = std::mem::take(&mut *lock(&self.held));
        if !text.is_empty() {
            self.send(&JsonMessage::stream(text));
        }
    }

    /// The ids of the secrets this build was given.
    pub fn secret_ids(&self) -> std::collections::BTreeSet<String> {
        self.secrets.as_ref().map(|s| s.ids()).unwrap_or_default()
    }

    /// The containers this build still holds (to remove after a failure with `forcerm`).
    pub fn containers(&self) -> Vec<String> {
        lock(&self.images).keys().cloned().collect()
    }

    fn scratch(&mut self) -> Result<String, HostError> {
        // Held while importing: two stages FROM scratch make one image.
        let mut slot = lock(&self.scratch);
        if let Some(s) = &*slot {
            return Ok(s.clone());
        }
        let empty: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(vec![0u8; 1024]));
        // A fixed time, so that `FROM scratch` is the same image in every build.
        let opts = ImportOptions {
            created: Some(berth_oci::time::rfc3339(self.epoch.unwrap_or(0))),
            ..Default::default()
        };
        let id = self
            .rt
            .block_on(self.engine.images.import(empty, opts))
            .map_err(host_err)?;
        *slot = Some(id.to_string());
        Ok(id.to_string())
    }

    /// Pulls `reference`, its progress as `status` lines of the stream.
    fn pull(&mut self, reference: &str) -> Result<(), HostError> {
        let r = Reference::parse(reference)
            .map_err(|e| HostError(format!("invalid reference format {reference:?}: {e}")))?;
        let r = if r.digest().is_some() {
            r
        } else {
            r.with_default_tag()
        };
        if !self.quiet {
            let tag = r.tag().unwrap_or("latest").to_string();
            self.send(&JsonMessage::status(format!(
                "{tag}: Pulling from {}",
                r.familiar_name()
            )));
        }
        let (sink, mut rx) = ProgressSink::channel();
        let creds = super::credentials_for(&self.registry_auth, r.registry());
        let pulled = self
            .rt
            .block_on(self.engine.images.pull(&r, None, creds, sink));
        while rx.try_recv().is_ok() {}
        let pulled = pulled.map_err(|e| HostError(format!("pulling {}: {e}", r.familiar())))?;
        if !self.quiet {
            self.send(&JsonMessage::status(format!("Digest: {}", pulled.digest)));
            self.send(&JsonMessage::status(format!(
                "Status: Downloaded newer image for {}",
                r.familiar()
            )));
        }
        Ok(())
    }

    /// A step that never runs: a snapshot of the image store on `image`, mounted only for the
    /// step's own work (see [`StepRoot`]).
    fn create_step_root(&mut self, image: &str) -> Result<String, HostError> {
        let key = berth_api::id::new_id().map_err(|e| HostError(format!("naming a step: {e}")))?;
        let mounts = self
            .rt
            .block_on(self.engine.images.prepare_container_rootfs(image, &key))
            .map_err(host_err)?;
        let scratch = self
            .engine
            .system
            .host()
            .data_root
            .join("builder")
            .join("tmp");
        lock(&self.images).insert(key.clone(), image.to_string());
        let id_map = self.engine.containers.remap().map(|r| r.map.clone());
        let root = Arc::new(Mutex::new(
            StepRoot::new(mounts, &scratch, &key).with_id_map(id_map),
        ));
        lock(&self.steps).insert(key.clone(), root);
        Ok(key)
    }

    /// The step root `key` names, if it is one.
    fn step_root(&self, key: &str) -> Option<Arc<Mutex<StepRoot>>> {
        lock(&self.steps).get(key).cloned()
    }

    /// The step root `key` names: files are copied only into steps that never run.
    fn step(&self, key: &str) -> Result<Arc<Mutex<StepRoot>>, HostError> {
        self.step_root(key)
            .ok_or_else(|| HostError(format!("{key} is not a file step of this build")))
    }

    /// The text of file `path` in step `key`'s file system (at most 16 MiB).
    fn read_file(&mut self, key: &str, path: &str) -> Option<String> {
        let root = self.step_root(key)?;
        let text = lock(&root).read_file(path, 16 << 20);
        text
    }
}

/// The uid/gid of `name` (or a number) in a passwd- or group-style file.
fn lookup(file: &str, name: &str) -> Option<(u32, u32)> {
    file.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && (f[0] == name || f[2] == name))
            .then(|| Some((f[2].parse().ok()?, f[3].parse().unwrap_or(0))))
            .flatten()
    })
}

impl BuildHost for DaemonHost {
    fn fork(&mut self) -> Option<Box<dyn BuildHost + Send>> {
        Some(Box::new(DaemonHost {
            engine: self.engine.clone(),
            rt: self.rt.clone(),
            out: self.out.clone(),
            quiet: self.quiet,
            cache: self.cache.clone(),
            images: self.images.clone(),
            scratch: self.scratch.clone(),
            gone: self.gone.clone(),
            registry_auth: self.registry_auth.clone(),
            epoch: self.epoch,
            secrets: self.secrets.clone(),
            stubs: self.stubs.clone(),
            steps: self.steps.clone(),
            held: self.held.clone(),
        }))
    }

    fn image(&mut self, reference: &str, pull: bool) -> Result<Option<Image>, HostError> {
        let local = self.rt.block_on(self.engine.images.inspect(reference));
        let found = match local {
            Ok(d) => Some(d),
            Err(DaemonError::NotFound(_)) => None,
            Err(e) => return Err(host_err(e)),
        };
        let is_id = reference.starts_with("sha256:");
        let details = match found {
            Some(d) if !pull || is_id => d,
            None if is_id => return Ok(None),
            _ => {
                // Missing (or `--pull`): from its registry, as the classic builder does.
                self.pull(reference)?;
                match self.rt.block_on(self.engine.images.inspect(reference)) {
                    Ok(d) => d,
                    Err(DaemonError::NotFound(_)) => return Ok(None),
                    Err(e) => return Err(host_err(e)),
                }
            }
        };
        let config = serde_json::to_value(details.container_config())
            .and_then(serde_json::from_value::<ImageConfig>)
            .map_err(|e| HostError(format!("reading the config of image {reference}: {e}")))?;
        Ok(Some(Image {
            id: details.image.id.to_string(),
            config,
        }))
    }

    fn create(
        &mut self,
        image: Option<&str>,
        _config: &ImageConfig,
        run: Option<&RunSpec>,
    ) -> Result<String, HostError> {
        let image = match image {
            Some(i) => i.to_string(),
            None => self.scratch()?,
        };
        match run {
            Some(run) => self.create_container(&image, run),
            None => self.create_step_root(&image),
        }
    }

    fn start(&mut self, container: &str) -> Result<i64, HostError> {
        self.run_container(container)
    }

    fn is_dir(&mut self, container: &str, path: &str) -> Result<bool, HostError> {
        let root = self.step(container)?;
        let is_dir = lock(&root).is_dir(path);
        is_dir.map_err(HostError)
    }

    fn copy_in(
        &mut self,
        container: &str,
        dir: &str,
        archive: Box<dyn Read + Send>,
    ) -> Result<(), HostError> {
        let root = self.step(container)?;
        let copied = lock(&root).copy_in(dir, archive);
        copied.map_err(HostError)
    }

    fn copy_out(&mut self, image: &str, path: &str, out: &mut dyn Write) -> Result<(), HostError> {
        // The image's snapshot, read where it is mounted: no container.
        let key = self.create_step_root(image)?;
        let read = self.step(&key).and_then(|root| {
            let tar = lock(&root).tar_of(path);
            tar.map_err(HostError)
        });
        self.remove(&key)?;
        out.write_all(&read?)
            .map_err(|e| HostError(format!("copying {path} of {image}: {e}")))
    }

    fn lookup_user(
        &mut self,
        container: &str,
        user: &str,
        group: Option<&str>,
    ) -> Result<(u32, u32), HostError> {
        let passwd = self.read_file(container, "/etc/passwd").unwrap_or_default();
        let (uid, mut gid) = match user.parse::<u32>() {
            Ok(u) => (u, lookup(&passwd, user).map_or(u, |(_, g)| g)),
            Err(_) => lookup(&passwd, user).ok_or_else(|| {
                HostError(format!(
                    "unable to find user {user}: no matching entries in passwd file"
                ))
            })?,
        };
        if let Some(g) = group {
            gid = match g.parse::<u32>() {
                Ok(n) => n,
                Err(_) => {
                    let groups = self.read_file(container, "/etc/group").unwrap_or_default();
                    groups
                        .lines()
                        .find_map(|l| {
                            let f: Vec<&str> = l.split(':').collect();
                            (f.len() > 2 && f[0] == g)
                                .then(|| f[2].parse().ok())
                                .flatten()
                        })
                        .ok_or_else(|| {
                            HostError(format!(
                                "unable to find group {g}: no matching entries in group file"
                            ))
                        })?
                }
            };
        }
        Ok((uid, gid))
    }

    fn commit(
        &mut self,
        container: &str,
        config: &ImageConfig,
        created_by: &str,
    ) -> Result<String, HostError> {
        let image = lock(&self.images).get(container).cloned().ok_or_else(|| {
            HostError(format!("container {container} was not made by this build"))
        })?;
        if let Some(root) = self.step_root(container) {
            lock(&root).close();
        }
        let config = serde_json::to_value(config)
            .and_then(serde_json::from_value)
            .map_err(|e| HostError(format!("converting the image config: {e}")))?;
        let opts = CommitOptions {
            reference: None,
            config: Some(config),
            author: None,
            comment: None,
            created_by: Some(created_by.to_string()),
        };
        let id = self
            .rt
            .block_on(
                self.engine
                    .images
                    .commit_container_at(&image, container, opts, self.epoch),
            )
            .map_err(host_err)?;
        Ok(id.to_string())
    }

    fn configure(
        &mut self,
        image: Option<&str>,
        config: &ImageConfig,
        created_by: &str,
    ) -> Result<String, HostError> {
        let image = match image {
            Some(i) => i.to_string(),
            None => self.scratch()?,
        };
        let config = serde_json::to_value(config)
            .and_then(serde_json::from_value)
            .map_err(|e| HostError(format!("converting the image config: {e}")))?;
        let id = self
            .rt
            .block_on(
                self.engine
                    .images
                    .config_image(&image, config, created_by, self.epoch),
            )
            .map_err(host_err)?;
        Ok(id.to_string())
    }

    fn remove(&mut self, container: &str) -> Result<(), HostError> {
        lock(&self.images).remove(container);
        if let Some(root) = lock(&self.steps).remove(container) {
            lock(&root).close();
            return self
                .rt
                .block_on(self.engine.images.release_container(container))
                .map_err(host_err);
        }
        self.rt
            .block_on(self.engine.containers.remove_with_volumes(
                container,
                RemoveOptions { force: true },
                true,
            ))
            .map_err(host_err)
    }

    fn tag(&mut self, image: &str, reference: &str) -> Result<(), HostError> {
        self.rt
            .block_on(self.engine.images.tag(image, reference))
            .map_err(host_err)
    }

    fn cache_get(&mut self, key: &str) -> Result<Option<String>, HostError> {
        let Some(id) = self.cache.get(key) else {
            return Ok(None);
        };
        Ok(self.image(&id, false)?.map(|i| i.id))
    }

    fn cache_put(&mut self, key: &str, image: &str) -> Result<(), HostError> {
        self.cache
            .put(key, image)
            .map_err(|e| HostError(format!("recording the build cache: {e}")))
    }

    fn cache_from(
        &mut self,
        sources: &[String],
        parent: Option<&str>,
        created_by: &str,
        config: &ImageConfig,
    ) -> Result<Option<String>, HostError> {
        let parent = match parent {
            Some(p) => p.to_string(),
            None => self.scratch()?,
        };
        let images = &self.engine.images;
        let base = self
            .rt
            .block_on(images.inspect(&parent))
            .map_err(host_err)?;
        let at = self.epoch.map(berth_oci::time::rfc3339);
        for s in sources {
            let src = match self.rt.block_on(images.inspect(s)) {
                Ok(d) => d,
                Err(DaemonError::NotFound(_)) => continue,
                Err(e) => return Err(host_err(e)),
            };
            let next =
                super::cache::next_step_of(&base.config, &src.config, created_by, at.as_deref());
            let Some(index) = next else {
                continue;
            };
            // The same config as the source's gives the source's own image back (IDs are
            // content addresses), as moby returns the source for its last step.
            let config = serde_json::to_value(config)
                .and_then(serde_json::from_value)
                .map_err(|e| HostError(format!("converting the image config: {e}")))?;
            let id = self
                .rt
                .block_on(images.derive_image(
                    Some(base.image.id.as_str()),
                    src.image.id.as_str(),
                    index,
                    config,
                ))
                .map_err(host_err)?;
            return Ok(Some(id.to_string()));
        }
        Ok(None)
    }

    fn fetch(&mut self, url: &str) -> Result<Vec<u8>, HostError> {
        self.stream(format!("Downloading {url}\n"));
        self.rt
            .block_on(super::fetch::fetch(url))
            .map_err(HostError)
    }

    fn cancelled(&mut self) -> bool {
        self.gone.load(Ordering::Relaxed)
    }

    fn progress(&mut self, line: &str) {
        self.stream(format!("{line}\n"));
    }

    fn built(&mut self, image: &str) {
        let aux = serde_json::json!({ "ID": image });
        self.send(&JsonMessage {
            aux: Some(aux),
            ..Default::default()
        });
        if self.quiet {
            // The docker CLI's `-q` takes the ID from the stream text, not from `aux`.
            self.send(&JsonMessage::stream(format!("{image}\n")));
        }
    }
}
