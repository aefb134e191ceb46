//! Build containers, made and run through the container service: a `RUN` step's container
//! (its command, environment, user, working directory, network and `--mount`s, a fixed hostname
//! in a reproducible build), run to its end with its output streamed as the build's, and the
//! mount points its mounts made removed from its layer; and the container a `COPY --from`
//! reads an image through. Steps that never run make no container (see `view`).

use berth_api::container::{ContainerConfig, HostConfig, Mount, TmpfsOptions};
use berth_build::exec::{HostError, MountSource, NetworkMode, RunMount, RunSpec};

use super::host::{host_err, lock, DaemonHost, REPRODUCIBLE_HOSTNAME};
use super::mounts::{self, Stubs};
use crate::containers::logs::LogOptions;
use crate::containers::wait::WaitCondition;

impl DaemonHost {
    /// The container mounts of a `RUN`'s `--mount`s.
    pub(super) fn mounts(&self, mounts: &[RunMount]) -> Result<Option<Vec<Mount>>, HostError> {
        let mut out = Vec::new();
        for m in mounts {
            let (kind, source, tmpfs) = match &m.source {
                MountSource::Tmpfs { size } => {
                    let opts = TmpfsOptions {
                        size_bytes: *size,
                        mode: None,
                    };
                    ("tmpfs", String::new(), Some(opts))
                }
                MountSource::Cache { id, uid, gid, mode } => {
                    let root = self.engine.system.host().data_root.join("builder");
                    let (uid, gid) = self.host_ids(*uid, *gid)?;
                    let dir = mounts::cache_dir(&root.join("cache-mounts"), id, uid, gid, *mode)
                        .map_err(HostError)?;
                    ("bind", dir.display().to_string(), None)
                }
                MountSource::Context(p) => ("bind", p.display().to_string(), None),
                MountSource::Secret { id, uid, gid, mode } => {
                    let secrets = self.secrets.as_ref().ok_or_else(|| {
                        HostError(format!("secret {id}: this build was given no secrets"))
                    })?;
                    let (uid, gid) = self.host_ids(*uid, *gid)?;
                    let file = secrets.write(id, uid, gid, *mode).map_err(HostError)?;
                    ("bind", file.display().to_string(), None)
                }
            };
            out.push(Mount {
                target: m.target.clone(),
                source,
                kind: kind.to_string(),
                read_only: m.readonly,
                tmpfs_options: tmpfs,
                ..Default::default()
            });
        }
        Ok((!out.is_empty()).then_some(out))
    }

    /// A build container's `uid`, `gid` as the host sees them: shifted into the range of a daemon
    /// with `--userns-remap` ([`crate::userns`]).
    fn host_ids(&self, uid: u32, gid: u32) -> Result<(u32, u32), HostError> {
        let Some(remap) = self.engine.containers.remap() else {
            return Ok((uid, gid));
        };
        remap.map.to_host(uid, gid, "").map_err(|_| {
            HostError(format!(
                "RUN --mount: uid {uid} or gid {gid} has no host id in the user namespace remap"
            ))
        })
    }

    /// Removes the mount points the run of `container` made (see [`mounts::Stubs`]).
    pub(super) fn remove_stubs(&mut self, container: &str) -> Result<(), HostError> {
        let Some(stubs) = lock(&self.stubs).remove(container) else {
            return Ok(());
        };
        let c = self
            .engine
            .containers
            .lookup(container)
            .map_err(host_err)?
            .snapshot();
        let (top, lowers) = crate::containers::changes::layer_dirs(&c.rootfs_mounts)
            .ok_or_else(|| HostError(format!("container {container} has no writable layer")))?;
        stubs.remove(&top, &lowers).map_err(HostError)
    }

    /// A `RUN` step's build container, made through the container service.
    pub(super) fn create_container(
        &mut self,
        image: &str,
        r: &RunSpec,
    ) -> Result<String, HostError> {
        let image = image.to_string();
        let mut cc = ContainerConfig {
            image: image.clone(),
            cmd: Some(r.argv.clone()),
            entrypoint: Some(Vec::new()),
            env: Some(r.env.clone()),
            user: r.user.clone(),
            working_dir: r.workdir.clone(),
            attach_stdout: true,
            attach_stderr: true,
            ..Default::default()
        };
        if self.epoch.is_some() {
            cc.hostname = REPRODUCIBLE_HOSTNAME.to_string();
        }
        let hc = HostConfig {
            mounts: self.mounts(&r.mounts)?,
            network_mode: Some(match r.network {
                NetworkMode::Default => "default".into(),
                NetworkMode::None => "none".into(),
                NetworkMode::Host => "host".into(),
            }),
            ..Default::default()
        };
        let mut labels = std::collections::BTreeMap::new();
        labels.insert(super::LABEL.to_string(), super::daemon_run_id().to_string());
        cc.labels = Some(labels);
        let req = crate::server::container_request::create_request(None, cc, hc, None)
            .map_err(host_err)?;
        let created = self
            .rt
            .block_on(self.engine.containers.create(req))
            .map_err(host_err)?;
        // The executor names images by ID (`image`), which is what the commit needs.
        lock(&self.images).insert(created.id.clone(), image);
        let targets: Vec<String> = r.mounts.iter().map(|m| m.target.clone()).collect();
        lock(&self.stubs).insert(created.id.clone(), Stubs::of(&targets));
        Ok(created.id)
    }

    /// Runs build container `container` to its end, its output streamed; its exit code.
    pub(super) fn run_container(&mut self, container: &str) -> Result<i64, HostError> {
        // `wait` and `logs` spawn tasks: a fork runs on a thread outside the runtime.
        let _rt = self.rt.enter();
        let svc = &self.engine.containers;
        let waiter = svc
            .wait(container, WaitCondition::NextExit)
            .map_err(host_err)?;
        self.rt.block_on(svc.start(container)).map_err(host_err)?;
        let opts = LogOptions {
            stdout: true,
            stderr: true,
            follow: true,
            ..Default::default()
        };
        if let Ok((_, mut rx)) = svc.logs(container, opts) {
            while let Some(line) = self.rt.block_on(rx.recv()) {
                self.stream(String::from_utf8_lossy(&line.data).into_owned());
            }
        }
        let code = self.rt.block_on(waiter.done()).map_err(host_err)?;
        self.remove_stubs(container)?;
        Ok(code)
    }
}
