//! Dockerfile builds for `POST /build`: the uploaded context unpacked into a private directory
//! under `<data-root>/builder/` (with the image store's safe applier: no `..`, no links out),
//! the Dockerfile read from inside it, and [`berth_build::exec::build`] run with the engine as its
//! host ([`host::DaemonHost`]) on the blocking pool. The context directory is removed when the
//! build ends, whatever the outcome; so are the build containers a failure leaves, unless Docker
//! keeps them (`rm` without `forcerm` keeps a failed step's container). Build containers carry
//! the label `berth.build` with the daemon run that made them; a build removes the ones an
//! earlier run left behind (a daemon killed during a `RUN`). A client that goes away cancels the
//! build before its next step.
//!
//! - `host`: the engine as a `BuildHost`;
//! - `run`: build containers (a `RUN` step's, a `COPY --from`'s) through the container service;
//! - `cache`: the cache index (key → image) that survives restarts;
//! - `fetch`: `ADD http://…` downloads;
//! - `mounts`: `RUN --mount` sources (cache directories, secret files) and the removal of the
//!   mount points they made;
//! - `view`: the file system of a step that never runs (`COPY`, `WORKDIR`), mounted once for it;
//! - `tarfix`: the docker CLI's context tar made whole when `-f` is outside the context.

mod cache;
mod fetch;
mod host;
mod mounts;
mod run;
mod tarfix;
mod view;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_api::progress::{ErrorDetail, JsonMessage};
use berth_build::context::Context;
use berth_build::exec::{self, BuildError, BuildOptions};
use berth_image::layer::{ApplyOptions, LayerError, WhiteoutMode};

use crate::server::stream::BodyWriter;
use crate::Engine;

pub use mounts::Secret;

/// What `POST /build` asked for, parsed.
#[derive(Debug, Default)]
pub struct BuildRequest {
    /// The Dockerfile's path inside the context.
    pub dockerfile: String,
    pub tags: Vec<String>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
    pub labels: BTreeMap<String, String>,
    pub quiet: bool,
    pub rm: bool,
    pub force_rm: bool,
    /// `networkmode`: the network of `RUN` steps without `--network`.
    pub network: exec::NetworkMode,
    /// `platform`, if asked for.
    pub platform: Option<String>,
    /// `X-Registry-Config`: credentials by registry, for pulling base images.
    pub registry_auth: BTreeMap<String, berth_registry::Credentials>,
    /// The build arg `SOURCE_DATE_EPOCH`, parsed: the time every step is committed at.
    pub source_date_epoch: Option<i64>,
    /// `cachefrom`: images whose steps the build may reuse.
    pub cache_from: Vec<String>,
    /// Secrets by id (Berth's `X-Berth-Build-Secrets`; see `docs/build.md`).
    pub secrets: BTreeMap<String, Secret>,
}

/// The credentials of `X-Registry-Config` for `registry` (`docker.io`, `host:port`): keys may be
/// URLs (`https://index.docker.io/v1/`) or bare hosts, as the docker CLI writes them.
pub fn credentials_for(
    auth: &BTreeMap<String, berth_registry::Credentials>,
    registry: &str,
) -> berth_registry::Credentials {
    let host = |key: &str| {
        let k = key
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let k = k.split('/').next().unwrap_or(k).to_string();
        match k.as_str() {
            "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
            _ => k,
        }
    };
    auth.iter()
        .find(|(k, _)| host(k) == registry)
        .map(|(_, c)| c.clone())
        .unwrap_or_default()
}

/// The label every build container carries: the daemon run that made it.
pub const LABEL: &str = "berth.build";

/// This daemon process's run: containers labelled with another one were left by a daemon that
/// died during a build.
pub fn daemon_run_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        berth_api::id::new_id()
            .map(|id| id[..16].to_string())
            .unwrap_or_else(|_| std::process::id().to_string())
    })
}

/// Removes the build containers an earlier daemon run left (it died during a build).
fn sweep_leftovers(engine: &Engine, rt: &tokio::runtime::Handle) {
    let filter = crate::containers::list::ContainerFilter {
        all: true,
        label: vec![LABEL.to_string()],
        ..Default::default()
    };
    let Ok(found) = rt.block_on(engine.containers.list(filter)) else {
        return;
    };
    for c in found {
        if c.labels().get(LABEL).map(String::as_str) != Some(daemon_run_id()) {
            let opts = crate::containers::remove::RemoveOptions { force: true };
            let removed = engine.containers.remove_with_volumes(&c.id, opts, true);
            if let Err(e) = rt.block_on(removed) {
                tracing::warn!(container = %c.id, error = %e, "removing a leftover build container");
            }
        }
    }
}

/// What `builder prune` removed.
#[derive(Debug, Clone, Default)]
pub struct Pruned {
    pub caches: Vec<String>,
    pub reclaimed: u64,
}

fn dir_size(p: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(p)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| dir_size(&e.path())).sum())
        .unwrap_or(0)
}

/// `POST /build/prune`: forgets the cache index and removes the `RUN --mount=type=cache`
/// directories (blocking). The images the cache pointed at stay; `image prune` removes the
/// dangling ones, as with Docker's classic builder.
pub fn prune(engine: &Engine) -> Result<Pruned, String> {
    let builder = engine.system.host().data_root.join("builder");
    let caches = cache::CacheIndex::new(&builder)
        .clear()
        .map_err(|e| format!("clearing the build cache index: {e}"))?;
    let mounts = builder.join("cache-mounts");
    let reclaimed = dir_size(&mounts);
    match std::fs::remove_dir_all(&mounts) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("removing {}: {e}", mounts.display()))
        }
        _ => {}
    }
    Ok(Pruned { caches, reclaimed })
}

/// The most a build context may hold by default (daemon.json's `build-context-limit` changes
/// it), uncompressed: the tar stream, one entry, and the files' sizes together (sparse ones at
/// their apparent size). Docker sets none; a context this large is almost always a directory
/// that needed a `.dockerignore`.
pub const MAX_CONTEXT_BYTES: u64 = 8 << 30;

/// daemon.json's `build-context-limit`: a size with an optional binary unit (`512m`, `16GiB`,
/// `17179869184`; `k`, `m`, `g`, `t`, any case, with or without `b`/`ib`), at least 1 MiB.
pub fn parse_context_limit(text: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "build-context-limit {text:?}: give a size such as \"16g\" or \"512MiB\" (at least 1 MiB)"
        )
    };
    let t = text.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix("ib")
        .or_else(|| t.strip_suffix('b'))
        .unwrap_or(&t);
    let (digits, shift) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 10),
        Some('m') => (&t[..t.len() - 1], 20),
        Some('g') => (&t[..t.len() - 1], 30),
        Some('t') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let n: u64 = digits.trim().parse().map_err(|_| bad())?;
    n.checked_mul(1 << shift)
        .filter(|b| *b >= 1 << 20)
        .ok_or_else(bad)
}

/// The most this daemon's build contexts may hold now (daemon.json, reloaded on `SIGHUP`).
fn context_limit(engine: &Engine) -> u64 {
    engine
        .settings
        .get()
        .build_context_limit
        .unwrap_or(MAX_CONTEXT_BYTES)
}

/// `n` bytes as the context error says it: whole GiB or MiB when it is one, else bytes.
fn size_words(n: u64) -> String {
    if n % (1 << 30) == 0 {
        format!("{} GiB", n >> 30)
    } else if n % (1 << 20) == 0 {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

/// The context directory, removed on drop.
struct ContextDir(PathBuf);

impl Drop for ContextDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn unpack_context(engine: &Engine, body: impl Read + Send) -> Result<ContextDir, String> {
    let builder = engine.system.host().data_root.join("builder");
    let id = berth_api::id::new_id().map_err(|e| format!("naming the build context: {e}"))?;
    let dir = ContextDir(builder.join(format!("context-{}", &id[..16])));
    std::fs::create_dir_all(&dir.0).map_err(|e| {
        format!(
            "making the build context directory {}: {e}",
            dir.0.display()
        )
    })?;
    let mut opts = ApplyOptions::new(WhiteoutMode::Delete).with_literal_names();
    let limit = context_limit(engine);
    opts.max_bytes = Some(limit);
    // Compressed contexts go to the applier as they are; a plain tar through `TarFix`.
    let mut body = std::io::BufReader::new(body);
    let head = std::io::BufRead::fill_buf(&mut body)
        .map_err(|e| format!("reading the build context: {e}"))?;
    let compressed = [
        &[0x1f, 0x8b][..],
        b"BZh",
        &[0xfd, b'7', b'z', b'X', b'Z'],
        &[0x28, 0xb5, 0x2f, 0xfd],
    ]
    .iter()
    .any(|magic| head.starts_with(magic));
    let body: Box<dyn Read + Send> = if compressed {
        Box::new(body)
    } else {
        Box::new(tarfix::TarFix::new(body))
    };
    berth_image::layer::apply(body, &dir.0, &opts).map_err(|e| match e {
        LayerError::TooLarge { .. }
        | LayerError::EntryTooLarge { .. }
        | LayerError::ExpandedTooLarge { .. } => format!(
            "the build context is larger than {}, the most this daemon takes: leave out \
             what the build does not need with a .dockerignore",
            size_words(limit)
        ),
        e => format!("unpacking the build context: {e}"),
    })?;
    Ok(dir)
}

fn read_dockerfile(root: &Path, name: &str) -> Result<String, String> {
    let ctx = Context::with_ignore(root, Default::default());
    let missing = || format!("Cannot locate specified Dockerfile: {name}");
    let rel = ctx.resolve(name).map_err(|_| missing())?;
    let path = root.join(rel.first().ok_or_else(missing)?);
    let meta = std::fs::symlink_metadata(&path).map_err(|_| missing())?;
    if !meta.is_file() {
        return Err(missing());
    }
    std::fs::read_to_string(&path).map_err(|e| format!("reading the Dockerfile {name}: {e}"))
}

/// Runs one build to its end, writing the JSON stream to `out` (blocking; call it from the
/// blocking pool with the runtime's handle).
pub fn run(
    engine: Arc<Engine>,
    rt: tokio::runtime::Handle,
    mut req: BuildRequest,
    body: impl Read + Send,
    out: BodyWriter,
) {
    sweep_leftovers(&engine, &rt);
    let cache = cache::CacheIndex::new(&engine.system.host().data_root.join("builder"));
    let mut host = host::DaemonHost::new(engine.clone(), rt, out, req.quiet, cache);
    host.registry_auth = req.registry_auth.clone();
    host.epoch = req.source_date_epoch;
    if !req.secrets.is_empty() {
        let exec_root = engine
            .containers
            .paths()
            .exec
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| engine.containers.paths().exec.clone());
        let build = berth_api::id::new_id()
            .map(|id| id[..16].to_string())
            .unwrap_or_else(|_| "build".to_string());
        let secrets = std::mem::take(&mut req.secrets);
        let group = engine.containers.remap().map(|r| r.root.1);
        host.secrets = Some(Arc::new(
            mounts::SecretFiles::new(&exec_root, &build, secrets).with_group(group),
        ));
    }
    let outcome = build(&engine, &mut host, &req, body);
    if let Err((message, code)) = outcome {
        host.release_held();
        host.send(&JsonMessage {
            error_detail: Some(ErrorDetail {
                code,
                message: message.clone(),
            }),
            error: Some(message),
            ..Default::default()
        });
    }
}

fn build(
    engine: &Engine,
    host: &mut host::DaemonHost,
    req: &BuildRequest,
    body: impl Read + Send,
) -> Result<(), (String, Option<i64>)> {
    let dir = unpack_context(engine, body).map_err(|m| (m, None))?;
    let name = if req.dockerfile.is_empty() {
        "Dockerfile"
    } else {
        req.dockerfile.as_str()
    };
    let dockerfile = read_dockerfile(&dir.0, name).map_err(|m| (m, None))?;
    let context = Context::open(&dir.0, name).map_err(|e| (e.to_string(), None))?;
    let scratch = engine.system.host().data_root.join("builder").join("tmp");
    std::fs::create_dir_all(&scratch)
        .map_err(|e| (format!("making {}: {e}", scratch.display()), None))?;
    let opts = BuildOptions {
        dockerfile,
        tags: req.tags.clone(),
        build_args: req.build_args.clone(),
        target: req.target.clone(),
        no_cache: req.no_cache,
        pull: req.pull,
        labels: req.labels.clone(),
        force_rm: req.force_rm,
        keep_containers: !req.rm,
        scratch: Some(scratch),
        network: req.network,
        platform: req.platform.clone(),
        source_date_epoch: req.source_date_epoch,
        secrets: host.secret_ids(),
        cache_from: req.cache_from.clone(),
        parallel_stages: 0,
    };
    let result = exec::build(host, &context, &opts);
    if result.is_err() && req.force_rm {
        for c in host.containers() {
            let _ = berth_build::exec::BuildHost::remove(host, &c);
        }
    }
    result.map(|_| ()).map_err(|e: BuildError| {
        let code = e.code();
        (e.to_string(), code)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_limits_as_daemon_json_gives_them() {
        for (text, bytes) in [
            ("16g", 16u64 << 30),
            ("512MiB", 512 << 20),
            ("2 GB", 2 << 30),
            ("1048576", 1 << 20),
            ("1t", 1 << 40),
        ] {
            assert_eq!(parse_context_limit(text), Ok(bytes), "{text}");
        }
        for bad in ["", "lots", "12x", "1k", "-1g", "99999999999t"] {
            let e = parse_context_limit(bad).expect_err(bad);
            assert!(e.contains("build-context-limit"), "{e}");
        }
        assert_eq!(size_words(8 << 30), "8 GiB");
        assert_eq!(size_words(3 << 20), "3 MiB");
        assert_eq!(size_words(1_000_000), "1000000 bytes");
    }

    #[test]
    fn credentials_by_registry() {
        let cred = |u: &str| berth_registry::Credentials {
            username: u.to_string(),
            ..Default::default()
        };
        let mut auth = BTreeMap::new();
        auth.insert("https://index.docker.io/v1/".to_string(), cred("hub"));
        auth.insert("localhost:5000".to_string(), cred("local"));
        auth.insert("https://quay.io".to_string(), cred("quay"));
        assert_eq!(credentials_for(&auth, "docker.io").username, "hub");
        assert_eq!(credentials_for(&auth, "localhost:5000").username, "local");
        assert_eq!(credentials_for(&auth, "quay.io").username, "quay");
        assert!(credentials_for(&auth, "ghcr.io").is_empty());
    }
}
