//! The `BuildHost` trait: what the executor needs from an engine, and the image config it reads
//! and writes.
//!
//! Vocabulary: an *image* is named by its ID (`sha256:…`) or a reference; a *build container* is
//! made from an image (or from nothing, for `FROM scratch`), maybe run once, and either committed
//! (its changes become a layer of a new image with the given config) or left for removal.
//!
//! Lifecycle of one step that changes files: `create` → (`start` for `RUN`; `is_dir`, `copy_in`
//! for `COPY`/`ADD`) → `commit` → `remove`. Metadata-only steps (`ENV`, `CMD`, …, and a `WORKDIR`
//! whose directory is there) make no container: [`configure`](BuildHost::configure) makes an
//! image with the parent's layers, the new config and an `empty_layer` history entry, as Docker's
//! builders record them, so that every step is still an image the cache can find again. The
//! executor removes every container it created unless the build failed and `rm`/`force_rm` say
//! to keep it.
//!
//! Concurrency: a host that can [`fork`](BuildHost::fork) lets stages that do not depend on each
//! other build at the same time, each on its own thread with its own fork.
//!
//! Failure: every method returns a [`HostError`] whose message names what failed; the executor
//! stops the build and reports it. `cache_get` answers `None` for an entry whose image is gone.
//! Output: the host owns the progress stream; `progress` is one line of the builder's own
//! output, and the output of a `RUN` is written to the same stream by `start`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// An engine's failure, in its own words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HostError(pub String);

/// `HEALTHCHECK` as the image config stores it (durations in nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// The part of Docker's image config a Dockerfile sets (field names as Docker writes them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

impl ImageConfig {
    /// The value of `name` in `Env` (the last one wins).
    pub fn env_var(&self, name: &str) -> Option<String> {
        self.env.iter().flatten().rev().find_map(|e| {
            let (k, v) = e.split_once('=').unwrap_or((e.as_str(), ""));
            (k == name).then(|| v.to_string())
        })
    }

    /// Sets `name=value` in `Env`, replacing an earlier value in place.
    pub fn set_env(&mut self, name: &str, value: &str) {
        let env = self.env.get_or_insert_with(Vec::new);
        let entry = format!("{name}={value}");
        match env
            .iter_mut()
            .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == name)
        {
            Some(slot) => *slot = entry,
            None => env.push(entry),
        }
    }
}

/// An image the host knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub id: String,
    pub config: ImageConfig,
}

/// `RUN --network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    #[default]
    Default,
    None,
    Host,
}

/// The command of a `RUN` step, with everything it runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    pub argv: Vec<String>,
    /// `KEY=VALUE`: the image's Env plus the build args in scope.
    pub env: Vec<String>,
    pub user: String,
    pub workdir: String,
    pub network: NetworkMode,
    /// `RUN --mount`s, in order.
    pub mounts: Vec<RunMount>,
}

/// What a `RUN --mount` puts at its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// An empty tmpfs (`size` in bytes when given).
    Tmpfs { size: Option<i64> },
    /// A directory the host keeps between builds under `id`; made with `uid`, `gid` and `mode`.
    Cache {
        id: String,
        uid: u32,
        gid: u32,
        mode: u32,
    },
    /// A path of the build context (already resolved inside it; never a symbolic link).
    Context(PathBuf),
    /// The secret the client gave as `id` (`berth build --secret`), as a read-only file owned
    /// by `uid`:`gid` with `mode`. The host holds the bytes; they never reach a layer, the
    /// history or a cache key, and the host removes the mount point it had to make.
    Secret {
        id: String,
        uid: u32,
        gid: u32,
        mode: u32,
    },
}

/// One `RUN --mount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMount {
    pub source: MountSource,
    /// Absolute path in the container.
    pub target: String,
    pub readonly: bool,
}

/// What the executor needs from an engine (see the module docs).
pub trait BuildHost {
    /// Another host for the same build, to build a stage beside this one on another thread:
    /// it shares this host's output stream (whole lines), its cache and its cancellation, and
    /// its containers are this build's. `None` (the default): stages are built one at a time.
    fn fork(&mut self) -> Option<Box<dyn BuildHost + Send>> {
        None
    }

    /// Finds an image by reference or ID; pulls a missing one when `pull` is set (or when the
    /// host pulls missing images by policy). `None` when there is no such image.
    fn image(&mut self, reference: &str, pull: bool) -> Result<Option<Image>, HostError>;

    /// Makes a build container on `image` (`None`: an empty root file system) with `config`,
    /// set up to run `run` when it is given. Returns the container's ID.
    fn create(
        &mut self,
        image: Option<&str>,
        config: &ImageConfig,
        run: Option<&RunSpec>,
    ) -> Result<String, HostError>;

    /// Runs the container created with a `RunSpec` to its end, writing its output to the
    /// progress stream; returns its exit code.
    fn start(&mut self, container: &str) -> Result<i64, HostError>;

    /// Whether `path` is a directory in the container (following links inside its root).
    fn is_dir(&mut self, container: &str, path: &str) -> Result<bool, HostError>;

    /// Extracts the tar `archive` into directory `dir` of the container, creating `dir` (and its
    /// parents, root-owned 0755) when missing. Paths never leave the container's root.
    fn copy_in(
        &mut self,
        container: &str,
        dir: &str,
        archive: Box<dyn Read + Send>,
    ) -> Result<(), HostError>;

    /// Writes a tar of `path` in `image` (its top entry named after the path's last component,
    /// as `docker cp` does) to `out`.
    fn copy_out(&mut self, image: &str, path: &str, out: &mut dyn Write) -> Result<(), HostError>;

    /// The uid and gid of `user` (and `group` when given) by the container's passwd and group.
    fn lookup_user(
        &mut self,
        container: &str,
        user: &str,
        group: Option<&str>,
    ) -> Result<(u32, u32), HostError>;

    /// Commits the container's changes as a new image with `config`; `created_by` goes into the
    /// image's history. Returns the image ID.
    fn commit(
        &mut self,
        container: &str,
        config: &ImageConfig,
        created_by: &str,
    ) -> Result<String, HostError>;

    /// A new image on `image` (`None`: an empty root file system) with the same layers and
    /// `config`: a step that changes only the config; `created_by` goes into the image's history
    /// as an entry with no layer (`empty_layer`). Returns the image ID.
    fn configure(
        &mut self,
        image: Option<&str>,
        config: &ImageConfig,
        created_by: &str,
    ) -> Result<String, HostError>;

    /// Removes a build container (and its writable layer).
    fn remove(&mut self, container: &str) -> Result<(), HostError>;

    /// Points `reference` at `image`.
    fn tag(&mut self, image: &str, reference: &str) -> Result<(), HostError>;

    /// The image a cache key was committed as, if it is still there.
    fn cache_get(&mut self, key: &str) -> Result<Option<String>, HostError>;

    /// Records that `key` produced `image`.
    fn cache_put(&mut self, key: &str, image: &str) -> Result<(), HostError>;

    /// `--cache-from`: an image for the step `created_by` on `parent` (`None`: `FROM scratch`)
    /// with `config`, made from one of the `sources` images whose history continues `parent`'s
    /// with that step (its layer reused, as the classic builder restores a cached step); `None`
    /// when no source fits. Sources that do not exist are skipped. The default has no sources.
    fn cache_from(
        &mut self,
        _sources: &[String],
        _parent: Option<&str>,
        _created_by: &str,
        _config: &ImageConfig,
    ) -> Result<Option<String>, HostError> {
        Ok(None)
    }

    /// Whether the build should stop before its next step (the client went away).
    fn cancelled(&mut self) -> bool {
        false
    }

    /// One line of the builder's output (`Step 1/3 : FROM busybox`), without its newline.
    fn progress(&mut self, line: &str);

    /// Called with the final image's ID once it is known (before it is tagged).
    fn built(&mut self, _image: &str) {}

    /// Downloads `url` for `ADD`; hosts without network access refuse.
    fn fetch(&mut self, url: &str) -> Result<Vec<u8>, HostError> {
        Err(HostError(format!(
            "ADD {url}: this builder does not download remote files; fetch it into the build \
             context and ADD the local file"
        )))
    }
}
