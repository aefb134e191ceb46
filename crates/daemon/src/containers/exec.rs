//! `exec`: extra processes in a running container. An exec instance is created (`exec_create`,
//! remembered in the [`ExecTable`]), started once (`exec_start`: the shim's `exec` op runs the
//! process with the container's capabilities, seccomp profile and no-new-privileges, which the
//! runtime takes from the container's state), resized, and inspected; a task per started exec waits
//! for its exit code (`exec-wait`) and publishes `exec_die`.
//!
//! The process spec is the container's own (`config.json` of its bundle) with the exec's command,
//! environment (the container's, then the exec's `Env` on top), working directory (default: the
//! container's) and user (resolved in the container's rootfs like the container's `User`). The
//! runtime looks the command up inside the container; one that cannot run fails the start with
//! Docker's words and, by the runtime's error kind, leaves exit code 127 (not found) or 126 (not
//! executable, or any other start failure) on the instance, which is where the docker CLI reads
//! its own exit code.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::sync::watch;

use super::model::{new_id, Container};
use super::state::Status;
use super::{shim, spec, ContainerService, Entry};
use crate::error::DaemonError;
use crate::events::EventType;

/// How many finished exec instances are kept per daemon before the oldest are forgotten.
const KEEP_FINISHED: usize = 256;

/// What `exec_create` is asked for (engine terms).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecConfig {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub tty: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub privileged: bool,
    pub detach_keys: String,
    /// `[height, width]` of the terminal.
    pub console_size: Option<[u32; 2]>,
}

/// One exec instance as inspect shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecInfo {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub running: bool,
    /// `None` until the process exited (or failed to start).
    pub exit_code: Option<i64>,
    pub pid: i64,
    /// Started once already.
    pub started: bool,
}

struct ExecEntry {
    info: Mutex<ExecInfo>,
    /// Fires `true` once the exit code is recorded.
    done: watch::Sender<bool>,
}

/// The daemon's exec instances, by ID.
#[derive(Default)]
pub struct ExecTable {
    map: Mutex<BTreeMap<String, Arc<ExecEntry>>>,
}

impl ExecTable {
    fn get(&self, id: &str) -> Result<Arc<ExecEntry>, DaemonError> {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| DaemonError::NotFound(format!("No such exec instance: {id}")))
    }

    fn insert(&self, info: ExecInfo) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let finished: Vec<String> = map
            .iter()
            .filter(|(_, e)| lock(&e.info).exit_code.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        if finished.len() > KEEP_FINISHED {
            for k in &finished[..finished.len() - KEEP_FINISHED] {
                map.remove(k);
            }
        }
        map.insert(
            info.id.clone(),
            Arc::new(ExecEntry {
                info: Mutex::new(info),
                done: watch::channel(false).0,
            }),
        );
    }

    /// Forgets the instances of a removed container.
    pub fn forget_container(&self, container_id: &str) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, e| lock(&e.info).container_id != container_id);
    }

    /// IDs of the instances of `container_id` (for container inspect's `ExecIDs`).
    pub fn of_container(&self, container_id: &str) -> Vec<String> {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter_map(|e| {
                let i = lock(&e.info);
                (i.container_id == container_id).then(|| i.id.clone())
            })
            .collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A started exec: the process's stream (Docker framing already, see the shim protocol).
pub struct ExecStream {
    pub tty: bool,
    pub stream: tokio::net::UnixStream,
}

/// Docker's message when the container cannot take an exec.
fn not_running(c: &Container) -> DaemonError {
    if c.state.status == Status::Paused {
        DaemonError::Conflict(format!(
            "container {} is paused, unpause the container before exec",
            c.id
        ))
    } else {
        DaemonError::Conflict(format!("container {} is not running", c.id))
    }
}

/// Sets `KEY=value` in `env`, replacing an earlier entry of the same key.
fn set_env(env: &mut Vec<String>, entry: &str) {
    let key = entry.split('=').next().unwrap_or(entry);
    env.retain(|e| e.split('=').next() != Some(key));
    env.push(entry.to_string());
}

/// The exec's process spec from the container's process spec (`base`).
pub fn process_spec(
    base: &Value,
    c: &Container,
    cfg: &ExecConfig,
    ident: &spec::user::Identity,
    cwd: &str,
) -> Result<berth_oci::runtime::Process, DaemonError> {
    let mut p = base.clone();
    let mut env: Vec<String> = p["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let configured_home = c
        .config
        .env
        .iter()
        .flatten()
        .any(|e| e.starts_with("HOME="));
    if !cfg.user.is_empty() && !configured_home {
        set_env(&mut env, &format!("HOME={}", ident.home));
    }
    if cfg.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".to_string());
    }
    for e in &cfg.env {
        set_env(&mut env, e);
    }
    p["args"] = json!(cfg.cmd);
    p["env"] = json!(env);
    p["cwd"] = json!(cwd);
    p["terminal"] = json!(cfg.tty);
    p["user"] =
        json!({"uid": ident.uid, "gid": ident.gid, "additionalGids": ident.additional_gids});
    if let Some(obj) = p.as_object_mut() {
        obj.remove("apparmorProfile");
        obj.remove("consoleSize");
    }
    if let (Some([h, w]), true) = (cfg.console_size, cfg.tty) {
        if h > 0 && w > 0 {
            p["consoleSize"] = json!({"height": h, "width": w});
        }
    }
    if cfg.privileged {
        let all = spec::security::capabilities(&[], &[], true)?;
        p["capabilities"] = json!({"bounding": all, "effective": all, "permitted": all});
    }
    serde_json::from_value(p)
        .map_err(|e| DaemonError::Internal(format!("building the exec process of {}: {e}", c.id)))
}

/// Docker's exit code for an exec that could not start, by the runtime's kind: 127 for a command
/// that is not there, 126 for anything else.
fn start_failure_code(e: &DaemonError) -> i64 {
    match e.runtime_kind() {
        Some(berth_runtime::error::ErrorKind::CommandNotFound) => 127,
        _ => 126,
    }
}

impl ContainerService {
    /// `POST /containers/{id}/exec`: returns the new instance's ID.
    pub async fn exec_create(
        &self,
        name_or_id: &str,
        cfg: ExecConfig,
    ) -> Result<String, DaemonError> {
        let entry = self.lookup(name_or_id)?;
        let c = entry.snapshot();
        if c.state.status != Status::Running {
            return Err(not_running(&c));
        }
        if cfg.cmd.is_empty() || cfg.cmd[0].is_empty() {
            return Err(DaemonError::InvalidArgument(
                "No exec command specified".into(),
            ));
        }
        for e in &cfg.env {
            if e.is_empty() || e.starts_with('=') {
                return Err(DaemonError::InvalidArgument(format!(
                    "invalid environment variable: {e:?}"
                )));
            }
        }
        let id = new_id()?;
        let command = cfg.cmd.join(" ");
        self.inner.execs.insert(ExecInfo {
            id: id.clone(),
            container_id: c.id.clone(),
            config: cfg,
            running: false,
            exit_code: None,
            pid: 0,
            started: false,
        });
        self.event(
            &c,
            &format!("exec_create: {command}"),
            &[("execID", id.clone())],
        );
        Ok(id)
    }

    /// `GET /exec/{id}/json`.
    pub fn exec_inspect(&self, exec_id: &str) -> Result<ExecInfo, DaemonError> {
        Ok(lock(&self.inner.execs.get(exec_id)?.info).clone())
    }

    /// The checks of `exec_start` that answer with an HTTP status before any stream: the
    /// instance exists, was not started, and its container runs. Returns the instance's config.
    pub fn exec_check(&self, exec_id: &str) -> Result<ExecConfig, DaemonError> {
        let e = self.inner.execs.get(exec_id)?;
        let info = lock(&e.info).clone();
        if info.started {
            return Err(DaemonError::Conflict(format!(
                "exec command {exec_id} is already running"
            )));
        }
        let c = self.lookup(&info.container_id)?.snapshot();
        if c.state.status != Status::Running {
            return Err(not_running(&c));
        }
        Ok(info.config)
    }

    /// `POST /exec/{id}/start`: runs the process; returns its stream. An error after
    /// [`Self::exec_check`] passed is a start failure, recorded as the instance's exit code.
    pub async fn exec_start(
        &self,
        exec_id: &str,
        console_size: Option<[u32; 2]>,
    ) -> Result<ExecStream, DaemonError> {
        let mut cfg = self.exec_check(exec_id)?;
        let e = self.inner.execs.get(exec_id)?;
        {
            let mut info = lock(&e.info);
            if info.started {
                return Err(DaemonError::Conflict(format!(
                    "exec command {exec_id} is already running"
                )));
            }
            info.started = true;
            info.running = true;
        }
        if console_size.is_some() {
            cfg.console_size = console_size;
        }
        let container_id = lock(&e.info).container_id.clone();
        let entry = self.lookup(&container_id)?;
        match self.exec_launch(&entry, exec_id, &cfg).await {
            Ok((pid, stream)) => {
                {
                    let mut info = lock(&e.info);
                    info.pid = i64::from(pid);
                }
                self.event(
                    &entry.snapshot(),
                    &format!("exec_start: {}", cfg.cmd.join(" ")),
                    &[("execID", exec_id.to_string())],
                );
                self.spawn_exec_waiter(entry, e, exec_id.to_string());
                Ok(ExecStream {
                    tty: cfg.tty,
                    stream,
                })
            }
            Err(err) => {
                let code = start_failure_code(&err);
                {
                    let mut info = lock(&e.info);
                    info.running = false;
                    info.exit_code = Some(code);
                }
                e.done.send_replace(true);
                Err(err)
            }
        }
    }

    /// Builds the process and asks the shim to run it.
    async fn exec_launch(
        &self,
        entry: &Arc<Entry>,
        exec_id: &str,
        cfg: &ExecConfig,
    ) -> Result<(i32, tokio::net::UnixStream), DaemonError> {
        let c = entry.snapshot();
        let handle = entry.shim().ok_or_else(|| not_running(&c))?;
        let paths = self.paths().clone();
        let cfg2 = cfg.clone();
        let process = tokio::task::spawn_blocking(move || -> Result<_, DaemonError> {
            let rootfs = paths.rootfs(&c.id);
            let config_path = paths.bundle(&c.id).join("config.json");
            let text = std::fs::read(&config_path)
                .map_err(|e| DaemonError::io("reading", &config_path, e))?;
            let bundle: Value = serde_json::from_slice(&text).map_err(|e| {
                DaemonError::Internal(format!("parsing {}: {e}", config_path.display()))
            })?;
            let user = if cfg2.user.is_empty() {
                c.config.user.clone()
            } else {
                cfg2.user.clone()
            };
            let group_add = c.host_config.group_add.clone().unwrap_or_default();
            let ident = spec::user::resolve(&rootfs, &user, &group_add)?;
            let cwd = if !cfg2.working_dir.is_empty() {
                cfg2.working_dir.clone()
            } else if !c.config.working_dir.is_empty() {
                c.config.working_dir.clone()
            } else {
                "/".to_string()
            };
            process_spec(&bundle["process"], &c, &cfg2, &ident, &cwd)
        })
        .await
        .map_err(DaemonError::join)??;
        let (tty, stdin) = (cfg.tty, cfg.attach_stdin);
        let id = exec_id.to_string();
        let (pid, stream) =
            tokio::task::spawn_blocking(move || handle.exec(&id, process, tty, stdin))
                .await
                .map_err(DaemonError::join)?
                .map_err(exec_failed)?;
        stream
            .set_nonblocking(true)
            .map_err(|e| DaemonError::Unavailable(format!("exec {exec_id}: stream: {e}")))?;
        let stream = tokio::net::UnixStream::from_std(stream)
            .map_err(|e| DaemonError::Unavailable(format!("exec {exec_id}: stream: {e}")))?;
        Ok((pid, stream))
    }

    /// Waits for the exit code, records it and publishes `exec_die`.
    fn spawn_exec_waiter(&self, entry: Arc<Entry>, e: Arc<ExecEntry>, exec_id: String) {
        let svc = self.clone();
        tokio::spawn(async move {
            let handle = entry.shim();
            let id2 = exec_id.clone();
            let code = match handle {
                Some(h) => tokio::task::spawn_blocking(move || h.exec_wait(&id2))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .map(i64::from),
                None => None,
            };
            // A container that died under the exec takes the exec with it (as SIGKILL).
            let code = code.unwrap_or(137);
            {
                let mut info = lock(&e.info);
                info.running = false;
                info.exit_code = Some(code);
            }
            e.done.send_replace(true);
            svc.inner.events.publish(
                EventType::Container,
                "exec_die",
                &entry.id(),
                exec_attrs(&entry.snapshot(), &exec_id, code),
            );
        });
    }

    /// Resolves once the instance's exit code is recorded.
    pub async fn exec_exited(&self, exec_id: &str) -> Result<(), DaemonError> {
        let e = self.inner.execs.get(exec_id)?;
        let mut rx = e.done.subscribe();
        let _ = rx.wait_for(|d| *d).await;
        Ok(())
    }

    /// `POST /exec/{id}/resize?h=&w=`.
    pub async fn exec_resize(
        &self,
        exec_id: &str,
        height: u16,
        width: u16,
    ) -> Result<(), DaemonError> {
        let info = self.exec_inspect(exec_id)?;
        let entry = self.lookup(&info.container_id)?;
        if !info.running {
            return Err(DaemonError::Conflict(format!(
                "exec {exec_id} is not running"
            )));
        }
        let handle = entry.shim().ok_or_else(|| not_running(&entry.snapshot()))?;
        let id = exec_id.to_string();
        tokio::task::spawn_blocking(move || handle.exec_resize(&id, height, width))
            .await
            .map_err(DaemonError::join)?
            .map_err(shim::error)
    }
}

/// The error of an exec the shim could not start: the runtime's kind (a command that cannot run
/// looked up inside the container) with Docker's words around its message.
fn exec_failed(e: berth_shim::ShimError) -> DaemonError {
    match shim::error(e) {
        DaemonError::Runtime { kind, message } => DaemonError::Runtime {
            kind,
            message: format!(
                "OCI runtime exec failed: exec failed: unable to start container process: {message}: unknown"
            ),
        },
        other => other,
    }
}

fn exec_attrs(c: &Container, exec_id: &str, code: i64) -> BTreeMap<String, String> {
    let mut attrs = c.labels();
    attrs.insert("name".into(), c.name.clone());
    attrs.insert("image".into(), c.image_name.clone());
    attrs.insert("execID".into(), exec_id.to_string());
    attrs.insert("exitCode".into(), code.to_string());
    attrs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_entries_replace_by_key() {
        let mut env = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        set_env(&mut env, "A=2");
        set_env(&mut env, "B=3");
        assert_eq!(env, ["PATH=/bin", "A=2", "B=3"]);
    }

    /// The kind decides, not the text: the message here says "not found" for every kind.
    #[test]
    fn failed_starts_map_to_docker_codes_by_kind() {
        use crate::server::error::status_of;
        use axum::http::StatusCode;
        use berth_shim::{ErrorKind as Kind, ShimError};
        let failed = |kind| {
            exec_failed(ShimError::Refused {
                kind,
                message: "exec: \"nope\": executable file not found in $PATH".into(),
            })
        };
        let e = failed(Kind::CommandNotFound);
        assert_eq!(start_failure_code(&e), 127);
        assert_eq!(status_of(e.kind()), StatusCode::BAD_REQUEST);
        assert_eq!(
            e.to_string(),
            "OCI runtime exec failed: exec failed: unable to start container process: \
             exec: \"nope\": executable file not found in $PATH: unknown"
        );
        let e = failed(Kind::NotExecutable);
        assert_eq!(start_failure_code(&e), 126);
        assert_eq!(status_of(e.kind()), StatusCode::BAD_REQUEST);
        let e = failed(Kind::Conflict);
        assert_eq!(start_failure_code(&e), 126);
        assert_eq!(status_of(e.kind()), StatusCode::CONFLICT);
        let e = failed(Kind::System);
        assert_eq!(start_failure_code(&e), 126);
        assert_eq!(status_of(e.kind()), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            start_failure_code(&DaemonError::NotFound("executable file not found".into())),
            126
        );
    }
}
