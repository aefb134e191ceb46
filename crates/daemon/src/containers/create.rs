//! `create`: validates the request as Docker does (400 before anything is made), merges it with
//! the image's defaults (Entrypoint/Cmd semantics, Env, WorkingDir, User, Labels, StopSignal),
//! finds or makes its volumes (`containers::volumes`: the user's, `VolumesFrom`'s, the image's
//! `VOLUME`s), prepares the writable rootfs (holding the image), writes the container's own
//! `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`, records the container as `created`
//! and registers its endpoints on every network it asked for (`containers::create_networks`).

use std::collections::BTreeMap;
use std::path::Path;

use berth_api::container::{ContainerConfig, HealthConfig, HostConfig};
use berth_image::store::ImageDetails;
use serde_json::Value;

use super::model::{new_id, valid_name, Container, RunState};
use super::settings::{Seccomp, Settings};
use super::{names, spec, ContainerService};
use crate::error::DaemonError;

/// What `create` was asked for.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub name: Option<String>,
    /// Mounts, healthcheck and security, parsed by the front door.
    pub settings: Settings,
    /// Docker's request, kept for inspect and read for the settings not in [`Settings`] yet.
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    /// `NetworkingConfig.EndpointsConfig`: per network, aliases, `--ip`, `--mac-address`.
    pub endpoints:
        Option<std::collections::BTreeMap<String, crate::networks::model::EndpointRequest>>,
}

/// What `create` answers.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: String,
    pub warnings: Vec<String>,
}

/// `KEY=VALUE` lists merged by key, later ones winning, order of first appearance kept.
fn merge_env(image: &[String], request: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in image.iter().chain(request) {
        let key = e.split('=').next().unwrap_or("");
        match out.iter_mut().find(|x| x.split('=').next() == Some(key)) {
            Some(slot) => *slot = e.clone(),
            None => out.push(e.clone()),
        }
    }
    out
}

/// Docker's Entrypoint/Cmd rules: a request Entrypoint replaces the image's and drops the image's
/// Cmd; an empty one (`--entrypoint ""`) clears it; a request Cmd replaces the image's.
fn command(
    image: &berth_image::model::ContainerConfig,
    req: &ContainerConfig,
) -> (Option<Vec<String>>, Option<Vec<String>>) {
    let (entrypoint, inherit_cmd) = match &req.entrypoint {
        Some(e) if e.is_empty() || (e.len() == 1 && e[0].is_empty()) => (None, false),
        Some(e) => (Some(e.clone()), false),
        None => (image.entrypoint.clone(), true),
    };
    let cmd = match &req.cmd {
        Some(c) if !c.is_empty() => Some(c.clone()),
        _ if inherit_cmd => image.cmd.clone(),
        _ => None,
    };
    (entrypoint, cmd)
}

/// Checks a working directory as Docker does (absolute, or empty for the default) and cleans it
/// lexically. The runtime refuses a cwd that ends up outside the container's root whatever path
/// led there (`/proc/self/fd/N`); this refuses the relative ones early, with Docker's words.
fn working_dir(dir: &str) -> Result<String, DaemonError> {
    if dir.is_empty() {
        return Ok(String::new());
    }
    if !dir.starts_with('/') {
        return Err(DaemonError::InvalidArgument(format!(
            "the working directory '{dir}' is invalid, it needs to be an absolute path"
        )));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in dir.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// The config inspect shows: the request's merged with the image's.
fn merged_config(img: &ImageDetails, req: &ContainerConfig, image_name: &str) -> ContainerConfig {
    let ic = img.container_config();
    let mut c = req.clone();
    let (entrypoint, cmd) = command(&ic, req);
    c.entrypoint = entrypoint;
    c.cmd = cmd;
    let mut env = merge_env(
        ic.env.as_deref().unwrap_or_default(),
        req.env.as_deref().unwrap_or_default(),
    );
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, format!("PATH={}", spec::DEFAULT_PATH));
    }
    c.env = Some(env);
    if c.working_dir.is_empty() {
        c.working_dir = ic.working_dir.clone().unwrap_or_default();
    }
    if c.user.is_empty() {
        c.user = ic.user.clone().unwrap_or_default();
    }
    let mut labels: BTreeMap<String, String> = ic.labels.clone().unwrap_or_default();
    labels.extend(req.labels.clone().unwrap_or_default());
    c.labels = Some(labels);
    if c.stop_signal.is_none() {
        c.stop_signal = ic.stop_signal.clone();
    }
    if c.exposed_ports.is_none() {
        c.exposed_ports = ic.exposed_ports.clone();
    }
    // The request's anonymous volumes (`-v /path`) and the image's, as Docker merges them.
    if let Some(image_volumes) = &ic.volumes {
        let volumes = c.volumes.get_or_insert_with(Default::default);
        for (dest, v) in image_volumes {
            volumes.entry(dest.clone()).or_insert_with(|| v.clone());
        }
    }
    c.healthcheck = echo_healthcheck(req.healthcheck.as_ref(), ic.healthcheck.as_ref());
    c.image = image_name.to_string();
    c
}

/// Inspect's `Config.Healthcheck`: Docker's merge of the request's with the image's (no check of
/// its own takes the image's whole; otherwise an empty test and each zero field take the image's).
fn echo_healthcheck(user: Option<&Value>, image: Option<&Value>) -> Option<Value> {
    let parse = |v: &Value| serde_json::from_value::<HealthConfig>(v.clone()).ok();
    let Some(image) = image.and_then(parse) else {
        return user.cloned();
    };
    let Some(mut mine) = user.and_then(parse) else {
        return serde_json::to_value(image).ok();
    };
    if mine.test.as_ref().is_none_or(Vec::is_empty) {
        mine.test = image.test;
    }
    for (field, theirs) in [
        (&mut mine.interval, image.interval),
        (&mut mine.timeout, image.timeout),
        (&mut mine.start_period, image.start_period),
        (&mut mine.start_interval, image.start_interval),
        (&mut mine.retries, image.retries),
    ] {
        if *field == 0 {
            *field = theirs;
        }
    }
    serde_json::to_value(mine).ok()
}

/// Checks the settings as Docker does at create (the mounts' sources made or checked, the
/// capabilities known, a seccomp profile readable).
fn validate_settings(settings: &Settings) -> Result<(), DaemonError> {
    spec::mounts::prepare_sources(&settings.mounts)?;
    let sec = &settings.security;
    spec::security::capabilities(&sec.cap_add, &sec.cap_drop, sec.privileged)?;
    if let Seccomp::Profile(p) = &sec.seccomp {
        berth_runtime::security::docker_profile::parse(p).map_err(|e| {
            DaemonError::InvalidArgument(format!("decoding seccomp profile failed: {e}"))
        })?;
    }
    Ok(())
}

/// Checks the host config as Docker does at create; returns warnings.
fn validate_host(host: &mut HostConfig) -> Result<Vec<String>, DaemonError> {
    let mut warnings = Vec::new();
    let mode = host.network_mode.clone().unwrap_or_default();
    match mode.as_str() {
        // The implicit default stays quiet (scripts read stderr); asking for bridge is told.
        "" | "default" => host.network_mode = Some("bridge".to_string()),
        "bridge" | "none" | "host" => {}
        // Checked against the named container at create and start.
        other if other.starts_with("container:") => {}
        // A user-defined network: the network service checks it at register.
        _ => {}
    }
    // The daemon's default log driver, as Docker fills it in (inspect shows it; the driver itself
    // is checked with the settings).
    let log = host.log_config.get_or_insert_with(Default::default);
    if log.kind.is_empty() {
        log.kind = "json-file".to_string();
    }
    if let Some(p) = &host.restart_policy {
        match p.name.as_str() {
            "" | "no" => {}
            "always" | "unless-stopped" => {
                if p.maximum_retry_count != 0 {
                    return Err(DaemonError::InvalidArgument(
                        "invalid restart policy: maximum retry count can only be used with 'on-failure'"
                            .into(),
                    ));
                }
            }
            "on-failure" => {
                if p.maximum_retry_count < 0 {
                    return Err(DaemonError::InvalidArgument(
                        "invalid restart policy: maximum retry count cannot be negative".into(),
                    ));
                }
            }
            other => {
                return Err(DaemonError::InvalidArgument(format!(
                    "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
                )))
            }
        }
        if host.auto_remove && !matches!(p.name.as_str(), "" | "no") {
            return Err(DaemonError::InvalidArgument(
                "conflicting options: cannot specify both --restart and --rm".into(),
            ));
        }
    }
    if host.memory.is_some_and(|m| m > 0 && m < 6 << 20) {
        return Err(DaemonError::InvalidArgument(
            "Minimum memory limit allowed is 6MB".into(),
        ));
    }
    if let (Some(m), Some(s)) = (host.memory, host.memory_swap) {
        if m > 0 && s > 0 && s < m {
            return Err(DaemonError::InvalidArgument(
                "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
            ));
        }
    }
    spec::resources::resources(host, &mut warnings)?;
    if host.init == Some(true) && spec::init::binary().is_none() {
        warnings.push(format!(
            "--init: {} is not installed beside the daemon: the command runs as PID 1",
            spec::init::BINARY_NAME
        ));
    }
    Ok(warnings)
}

/// Writes the container's own files (owned by `owner`, the remapped root, when given).
fn write_files(dir: &Path, c: &Container, owner: Option<(u32, u32)>) -> Result<(), DaemonError> {
    std::fs::create_dir_all(dir).map_err(|e| DaemonError::io("creating directory", dir, e))?;
    let files = [
        ("hosts", spec::hosts_file(c)),
        ("hostname", format!("{}\n", spec::hostname(c))),
        (
            "resolv.conf",
            spec::resolv_conf(Path::new("/etc/resolv.conf")),
        ),
    ];
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| DaemonError::io("writing", &p, e))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&p, Some(uid), Some(gid))
                .map_err(|e| DaemonError::io("changing the owner of", &p, e))?;
        }
    }
    Ok(())
}

impl ContainerService {
    /// `POST /containers/create`.
    pub async fn create(&self, req: CreateRequest) -> Result<Created, DaemonError> {
        if req.config.image.is_empty() {
            return Err(DaemonError::InvalidArgument(
                "config cannot be empty in order to create a container".into(),
            ));
        }
        let name = match &req.name {
            Some(n) if !n.is_empty() => {
                if !valid_name(n) {
                    return Err(DaemonError::InvalidArgument(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                let n = n.strip_prefix('/').unwrap_or(n).to_string();
                if let Ok(other) = self.lookup(&format!("/{n}")) {
                    if other.snapshot().name == n {
                        return Err(super::name_conflict(&n, &other.id()));
                    }
                }
                n
            }
            _ => self.unused_name(),
        };
        let mut host = req.host_config.clone();
        let warnings = validate_host(&mut host)?;
        spec::settle(self, &mut host, &req.config.hostname)?;
        let networks = super::create_networks::plan(
            &self.inner.networks,
            host.network_mode.as_deref().unwrap_or_default(),
            req.endpoints.clone(),
        )?;
        validate_settings(&req.settings)?;
        working_dir(&req.config.working_dir)?;
        let img = self.inner.images.inspect(&req.config.image).await?;
        // The engine runs the request's check merged with the image's (inspect shows the same),
        // and exposes the image's ports when the request names none.
        let mut settings = req.settings.clone();
        settings.links = self.resolve_links(&settings.links)?;
        // The daemon's no-new-privileges unless the request says (dockerd decides at create).
        settings
            .security
            .no_new_privileges
            .get_or_insert(self.inner.no_new_privileges);
        if req.config.exposed_ports.is_none() {
            let image_ports = img.container_config().exposed_ports.unwrap_or_default();
            settings.ports.exposed = crate::networks::publish::exposed(
                image_ports.keys().map(String::as_str),
                settings.ports.publish_all,
            )?;
        }
        settings.healthcheck = super::health::merge(
            settings.healthcheck.as_ref(),
            super::health::of_image(img.container_config().healthcheck.as_ref()).as_ref(),
        );
        let mut config = merged_config(&img, &req.config, &req.config.image);
        // The image's WorkingDir is the image author's: held to the same rule, and cleaned.
        config.working_dir = working_dir(&config.working_dir)?;
        let mut argv = config.entrypoint.clone().unwrap_or_default();
        argv.extend(config.cmd.clone().unwrap_or_default());
        if argv.is_empty() {
            return Err(DaemonError::InvalidArgument("No command specified".into()));
        }
        let id = new_id()?;
        // `Config.Volumes`: the request's anonymous volumes and the image's `VOLUME`s.
        let anonymous: Vec<String> = config
            .volumes
            .as_ref()
            .map(|v| v.keys().cloned().collect())
            .unwrap_or_default();
        settings.mounts = self.resolve_volumes(&id, &settings, &anonymous).await?;
        let mut c = Container {
            id: id.clone(),
            name,
            created: super::now_nanos(),
            image_name: req.config.image.clone(),
            image_id: img.image.id.to_string(),
            config,
            host_config: host,
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            state: RunState::default(),
            warnings: warnings.clone(),
            rootfs_mounts: Vec::new(),
            settings,
        };
        let owner = self.paths().remap.as_ref().map(|r| r.root);
        if let Err(e) = write_files(&self.paths().data_dir(&id), &c, owner) {
            self.release_volumes(&c, true).await;
            return Err(e);
        }
        let mounts = match self
            .inner
            .images
            .prepare_container_rootfs(img.image.id.as_ref(), &id)
            .await
        {
            Ok(m) => m,
            Err(e) => {
                let _ = std::fs::remove_dir_all(self.paths().data_dir(&id));
                self.release_volumes(&c, true).await;
                return Err(e);
            }
        };
        crate::fault::crash_point!("container.create.after-rootfs");
        c.rootfs_mounts = mounts;
        // Empty volumes take the image's files now, as dockerd fills them at create.
        if let Err(e) = self.populate_volumes(&mut c).await {
            let _ = self.inner.images.release_container(&id).await;
            let _ = std::fs::remove_dir_all(self.paths().data_dir(&id));
            let _ = std::fs::remove_dir_all(self.paths().bundle(&id));
            self.release_volumes(&c, true).await;
            return Err(e);
        }
        if let Err(e) = self.insert(c.clone()) {
            let _ = self.inner.images.release_container(&id).await;
            let _ = std::fs::remove_dir_all(self.paths().data_dir(&id));
            self.release_volumes(&c, true).await;
            return Err(e);
        }
        if let Err(e) = self.attach_networks(&c, networks).await {
            if let Ok(entry) = self.lookup(&id) {
                let _ = self.forget(&entry);
            }
            let _ = self.inner.images.release_container(&id).await;
            let _ = std::fs::remove_dir_all(self.paths().data_dir(&id));
            self.release_volumes(&c, true).await;
            return Err(e);
        }
        self.event(&c, "create", &[]);
        Ok(Created { id, warnings })
    }

    /// A random name no container has.
    fn unused_name(&self) -> String {
        for retry in 0..10 {
            let n = names::random_name(retry);
            if self.lookup(&format!("/{n}")).is_err() {
                return n;
            }
        }
        // Docker falls back to the ID's prefix after many clashes; a random suffix does as well.
        format!("{}_{}", names::random_name(1), names::random_name(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn entrypoint_and_cmd_like_docker() {
        let image = berth_image::model::ContainerConfig {
            entrypoint: Some(s(&["/entry"])),
            cmd: Some(s(&["default"])),
            ..Default::default()
        };
        let req = |e: Option<Vec<String>>, c: Option<Vec<String>>| ContainerConfig {
            entrypoint: e,
            cmd: c,
            ..Default::default()
        };
        assert_eq!(
            command(&image, &req(None, None)),
            (Some(s(&["/entry"])), Some(s(&["default"])))
        );
        assert_eq!(
            command(&image, &req(None, Some(s(&["x"])))),
            (Some(s(&["/entry"])), Some(s(&["x"])))
        );
        assert_eq!(
            command(&image, &req(Some(s(&["sh"])), None)),
            (Some(s(&["sh"])), None)
        );
        assert_eq!(
            command(&image, &req(Some(s(&[""])), Some(s(&["ls"])))),
            (None, Some(s(&["ls"])))
        );
    }

    #[test]
    fn env_merges_by_key() {
        let m = merge_env(&s(&["PATH=/bin", "A=1"]), &s(&["A=2", "B=3"]));
        assert_eq!(m, s(&["PATH=/bin", "A=2", "B=3"]));
    }

    #[test]
    fn host_config_checks() {
        let mut h = HostConfig::default();
        assert!(validate_host(&mut h).unwrap().is_empty());
        assert_eq!(h.network_mode.as_deref(), Some("bridge"));
        assert!(validate_host(&mut h).unwrap().is_empty());
        let mut h = HostConfig {
            auto_remove: true,
            restart_policy: Some(berth_api::container::RestartPolicy {
                name: "always".into(),
                maximum_retry_count: 0,
            }),
            ..Default::default()
        };
        assert!(validate_host(&mut h).is_err());
    }

    #[test]
    fn working_dirs_are_absolute_and_clean() {
        assert_eq!(working_dir("").ok().as_deref(), Some(""));
        assert_eq!(
            working_dir("/a//b/./c/../d/").ok().as_deref(),
            Some("/a/b/d")
        );
        assert_eq!(working_dir("/../../etc").ok().as_deref(), Some("/etc"));
        let err = working_dir("relative/dir").err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("it needs to be an absolute path")),
            "{err:?}"
        );
    }
}
