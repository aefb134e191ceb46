//! The on-disk record of a container (`<root>/<id>/state.json`, written atomically) and its live
//! status, derived from the kernel rather than trusted from the file: the init's pid and start time
//! tell stopped from alive, the exec fifo tells created from running, the freezer tells paused.

use crate::cgroups::Cgroup;
use crate::{Result, RuntimeError};
use berth_oci::runtime::Spec;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The name of the fifo that parks a created init until `start` opens it.
pub const EXEC_FIFO: &str = "exec.fifo";
const STATE_FILE: &str = "state.json";

/// A container's lifecycle status, as the OCI state reports it (plus runc's `paused`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
    pub fn can_start(self) -> bool {
        self == Status::Created
    }
    pub fn can_kill(self) -> bool {
        matches!(self, Status::Created | Status::Running | Status::Paused)
    }
    pub fn can_exec(self) -> bool {
        matches!(self, Status::Created | Status::Running)
    }
    pub fn can_delete(self) -> bool {
        matches!(self, Status::Created | Status::Stopped)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `berth runtime` remembers about a container between invocations.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    /// The init's pid in the runtime's pid namespace.
    pub pid: i32,
    /// The init's start time (clock ticks since boot, `/proc/<pid>/stat` field 22): guards against
    /// a recycled pid.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339 creation time.
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// The spec the container was created from (hooks and the exec template come from here, not
    /// from a bundle that may have changed since).
    pub config: Spec,
}

/// The OCI state document that `state` prints and hooks read on stdin.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState<'a> {
    pub oci_version: &'a str,
    pub id: &'a str,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: &'a HashMap<String, String>,
}

/// Refuses ids that could escape the state root or confuse tools (runc's rule: `[\w+.-]+`).
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::Other(format!(
            "invalid container id {id:?}: use letters, digits, `_`, `+`, `-` and `.`"
        )))
    }
}

impl State {
    /// The container's directory under the state root.
    pub fn dir(root: &Path, id: &str) -> PathBuf {
        root.join(id)
    }

    pub fn load(root: &Path, id: &str) -> Result<State> {
        validate_id(id)?;
        let path = State::dir(root, id).join(STATE_FILE);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RuntimeError::NotFound(id.to_string()))
            }
            Err(source) => {
                return Err(RuntimeError::Io {
                    what: "read state",
                    path,
                    source,
                })
            }
        };
        serde_json::from_slice(&text).map_err(|e| {
            RuntimeError::Other(format!(
                "corrupt state {}: {e}; delete it with --force",
                path.display()
            ))
        })
    }

    /// Writes `state.json` atomically: a temp file in the same directory, renamed over the old one.
    /// Not fsync'ed: the state root lives on tmpfs (`/run`) and does not outlive the machine, so a
    /// sync buys nothing and costs half a millisecond of every container start.
    pub fn save(&self, root: &Path) -> Result<()> {
        let dir = State::dir(root, &self.id);
        let path = dir.join(STATE_FILE);
        let tmp = dir.join(".state.json.tmp");
        let io = |what, path: &Path| {
            let path = path.to_path_buf();
            move |source| RuntimeError::Io { what, path, source }
        };
        let text = serde_json::to_vec(self)
            .map_err(|e| RuntimeError::Other(format!("encode state: {e}")))?;
        let mut f = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
        f.write_all(&text).map_err(io("write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io("rename to", &path))
    }

    pub fn init_pid(&self) -> Pid {
        Pid::from_raw(self.pid)
    }

    /// True while the init process (the same one, not a recycled pid) exists and is not a zombie.
    pub fn init_alive(&self) -> bool {
        if self.pid <= 0 {
            return false;
        }
        match proc_stat(self.pid) {
            Some((state, start)) => state != 'Z' && state != 'X' && start == self.start_time,
            None => false,
        }
    }

    pub fn cgroup(&self) -> Result<Cgroup> {
        let path = self
            .config
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().clone());
        Ok(Cgroup::new(path.as_deref(), &self.id)?)
    }

    /// The live status.
    pub fn status(&self, root: &Path) -> Status {
        if !self.init_alive() {
            return Status::Stopped;
        }
        if State::dir(root, &self.id).join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        if self
            .cgroup()
            .is_ok_and(|c| matches!(c.is_frozen(), Ok(true)))
        {
            return Status::Paused;
        }
        Status::Running
    }

    /// The OCI state document for `status`.
    pub fn oci(&self, status: Status) -> OciState<'_> {
        OciState {
            oci_version: &self.oci_version,
            id: &self.id,
            status,
            pid: (status != Status::Stopped).then_some(self.pid),
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            owner: &self.owner,
            annotations: &self.annotations,
        }
    }

    /// Signals the init; a vanished process is not an error.
    pub fn signal_init(&self, sig: nix::sys::signal::Signal) -> Result<()> {
        if !self.init_alive() {
            return Ok(());
        }
        match kill(self.init_pid(), sig) {
            Ok(()) | Err(nix::Error::ESRCH) => Ok(()),
            Err(source) => Err(RuntimeError::Sys {
                what: format!("signal {sig} to init {} of {}", self.pid, self.id),
                source,
            }),
        }
    }
}

/// `(state, start time)` of a process from `/proc/<pid>/stat`, or None when it is gone.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command may hold spaces and parentheses: fields start after the last `)`.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // `rest` starts at field 3 (state); the start time is field 22.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// The current time as RFC 3339 UTC with nine fraction digits (`2026-11-25T19:31:04.000000001Z`).
pub fn now_rfc3339() -> String {
    berth_oci::time::rfc3339_nanos(berth_oci::time::now_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(validate_id("abc-1.2_x+y").is_ok());
        for bad in ["", ".", "..", "a/b", "a b"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn own_stat_parses() {
        let (state, start) = proc_stat(std::process::id() as i32).unwrap();
        assert!(state == 'R' || state == 'S');
        assert!(start > 0);
    }

    #[test]
    fn state_round_trips_and_a_dead_init_is_stopped() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("c1")).unwrap();
        let state = State {
            oci_version: "1.0.2".into(),
            id: "c1".into(),
            pid: i32::MAX,
            start_time: 1,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: now_rfc3339(),
            owner: "root".into(),
            annotations: HashMap::new(),
            config: crate::spec::default_spec(),
        };
        state.save(root.path()).unwrap();
        let loaded = State::load(root.path(), "c1").unwrap();
        assert_eq!(loaded.pid, i32::MAX);
        assert!(!loaded.init_alive());
        assert!(matches!(
            State::load(root.path(), "nope"),
            Err(RuntimeError::NotFound(_))
        ));
        let doc = serde_json::to_value(loaded.oci(Status::Stopped)).unwrap();
        assert_eq!(doc["status"], "stopped");
        assert_eq!(doc["ociVersion"], "1.0.2");
        assert!(doc.get("pid").is_none());
    }

    #[test]
    fn rfc3339_looks_right() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 30, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}
