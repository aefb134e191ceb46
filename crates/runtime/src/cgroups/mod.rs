//! Control groups, v1 and v2, detected at run time: creating a container's cgroup, applying the
//! spec's resources, adding processes, freezing, listing and removing.
//!
//! Vocabulary:
//! - a *hierarchy* ([`Hierarchy`]) is where the cgroup file systems are mounted: v1 has one mount
//!   per controller (or per group of co-mounted controllers), v2 one unified mount. It is found in
//!   `/proc/self/mountinfo` ([`detect()`]); on a hybrid host (v1 controllers plus a cgroup2 mount that
//!   holds few or no controllers) the v1 controllers are used.
//! - a [`Cgroup`] is one container's cgroup: a relative path (`berth/<id>` by default, or the spec's
//!   `linux.cgroupsPath`) resolved under every v1 controller mount, or under the v2 mount.
//!
//! Lifecycle: [`Cgroup::new`] only resolves paths; [`Cgroup::create`] makes the directories,
//! validates the resources ([`validate`]) and writes them, removing what it made when anything fails;
//! [`Cgroup::add_process`] moves a process in; [`Cgroup::destroy`] removes it again and is idempotent.
//!
//! Writers: [`v1`] and [`v2`] turn `LinuxResources` into file writes; v2 device rules become a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program ([`bpf`]).
//!
//! Cost: moving a process in ([`Cgroup::add_process`]) takes the kernel's threadgroup lock for
//! writing, and the first such move of a start waits for an RCU grace period (5–20 ms). [`join`]
//! has the two ways around it that `create` uses: the init moves itself through `tasks` files
//! opened for it (v1), or is cloned into its cgroup (v2).

pub mod bpf;
pub mod detect;
pub mod devices;
mod fs;
pub mod join;
pub mod v1;
pub mod v2;
pub mod validate;

use berth_oci::runtime::LinuxResources;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

pub use detect::detect;
pub use join::{clone_target, SelfJoin};

/// How long [`Cgroup::destroy`], freezing and thawing wait for the kernel.
const SETTLE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// Anything that can go wrong with a container's cgroup.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A resource value the kernel would refuse or misread; `field` is the spec's JSON path.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("cgroups path {path:?} is invalid: {reason}")]
    InvalidPath { path: PathBuf, reason: &'static str },
    #[error("no cgroup hierarchy found in /proc/self/mountinfo: mount cgroup v1 controllers or cgroup2 under /sys/fs/cgroup")]
    NoHierarchy,
    #[error("read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("write {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: std::io::Error,
    },
    #[error("create cgroup directory {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("remove cgroup directory {path}: {source}")]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} is not supported here: {hint}")]
    Unsupported { what: String, hint: String },
    #[error("timed out waiting for {what} at {path}")]
    Timeout { what: &'static str, path: PathBuf },
    #[error("device cgroup program for {path}: {what}: {source}")]
    Bpf {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("device cgroup program for {path} refused by the kernel ({errno}): {log}")]
    BpfVerifier {
        path: PathBuf,
        log: String,
        errno: nix::Error,
    },
    #[error("signal process {pid} of cgroup {path}: {source}")]
    Kill {
        pid: i32,
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
}

/// Where the cgroup file systems are mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hierarchy {
    /// cgroup v1: controller name (`memory`, `cpu`, ...) → its mount point. Co-mounted controllers
    /// (`cpu,cpuacct`) map to the same directory.
    V1(BTreeMap<String, PathBuf>),
    /// cgroup v2: the unified mount point.
    V2(PathBuf),
}

/// One container's cgroup: v1 = one directory per controller, v2 = one directory.
#[derive(Debug, Clone)]
pub struct Cgroup {
    hierarchy: Hierarchy,
    /// The path below each hierarchy root, relative (no leading `/`, no `..`).
    rel: PathBuf,
}

impl Cgroup {
    /// Resolves the cgroup of container `id` on this host's hierarchy; `cgroups_path` is the spec's
    /// `linux.cgroupsPath` (default [`default_path`]). Absolute and relative paths are both taken
    /// below each hierarchy's root (runc puts relative ones below its own cgroup); systemd
    /// `slice:prefix:name` paths and `..` are refused. Touches nothing but `/proc/self/mountinfo`.
    pub fn new(cgroups_path: Option<&Path>, id: &str) -> Result<Cgroup, CgroupError> {
        Cgroup::with_root(detect()?, cgroups_path, id)
    }

    /// As [`Cgroup::new`], on an explicit hierarchy (tests, or a v2 mount on a hybrid host).
    pub fn with_root(
        hierarchy: Hierarchy,
        cgroups_path: Option<&Path>,
        id: &str,
    ) -> Result<Cgroup, CgroupError> {
        let rel = match cgroups_path {
            Some(p) => relative_path(p)?,
            None => relative_path(&default_path(id))?,
        };
        Ok(Cgroup { hierarchy, rel })
    }

    pub fn hierarchy(&self) -> &Hierarchy {
        &self.hierarchy
    }

    /// The cgroup's directories: one per mounted v1 hierarchy, or the single v2 directory.
    pub fn dirs(&self) -> Vec<PathBuf> {
        match &self.hierarchy {
            Hierarchy::V1(mounts) => v1::unique_roots(mounts)
                .into_iter()
                .map(|root| root.join(&self.rel))
                .collect(),
            Hierarchy::V2(root) => vec![root.join(&self.rel)],
        }
    }

    /// The directory of one v1 controller (`memory`, ...), or the v2 directory for any name.
    pub fn controller_dir(&self, controller: &str) -> Option<PathBuf> {
        match &self.hierarchy {
            Hierarchy::V1(mounts) => mounts.get(controller).map(|root| root.join(&self.rel)),
            Hierarchy::V2(root) => Some(root.join(&self.rel)),
        }
    }

    /// Makes the directories, validates `resources` and writes them; on error removes what it made.
    pub fn create(&self, resources: Option<&LinuxResources>) -> Result<(), CgroupError> {
        if let Some(r) = resources {
            validate::resources(r)?;
        }
        match &self.hierarchy {
            Hierarchy::V1(mounts) => v1::create(mounts, &self.rel, resources),
            Hierarchy::V2(root) => v2::create(root, &self.rel, resources),
        }
    }

    /// Moves process `pid` (and its threads) into the cgroup.
    pub fn add_process(&self, pid: Pid) -> Result<(), CgroupError> {
        let value = pid.as_raw().to_string();
        for dir in self.dirs() {
            fs::write(&dir.join("cgroup.procs"), &value)?;
        }
        Ok(())
    }

    /// Validates and writes new limits on an existing cgroup.
    pub fn update(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        validate::resources(resources)?;
        match &self.hierarchy {
            Hierarchy::V1(mounts) => v1::apply(mounts, &self.rel, resources),
            Hierarchy::V2(root) => v2::apply(&root.join(&self.rel), resources, true),
        }
    }

    /// Every process in the cgroup and its descendants.
    pub fn pids(&self) -> Result<Vec<Pid>, CgroupError> {
        let dir = match &self.hierarchy {
            Hierarchy::V1(mounts) => ["pids", "freezer", "memory", "cpu", "devices"]
                .iter()
                .find_map(|c| mounts.get(*c))
                .or_else(|| mounts.values().next())
                .map(|root| root.join(&self.rel))
                .ok_or(CgroupError::NoHierarchy)?,
            Hierarchy::V2(root) => root.join(&self.rel),
        };
        let mut pids = Vec::new();
        fs::collect_pids(&dir, &mut pids)?;
        Ok(pids)
    }

    /// Freezes every process of the cgroup; returns once the kernel reports it frozen.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        match &self.hierarchy {
            Hierarchy::V1(mounts) => v1::set_frozen(mounts, &self.rel, true),
            Hierarchy::V2(root) => v2::set_frozen(&root.join(&self.rel), true),
        }
    }

    pub fn thaw(&self) -> Result<(), CgroupError> {
        match &self.hierarchy {
            Hierarchy::V1(mounts) => v1::set_frozen(mounts, &self.rel, false),
            Hierarchy::V2(root) => v2::set_frozen(&root.join(&self.rel), false),
        }
    }

    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        match &self.hierarchy {
            Hierarchy::V1(mounts) => v1::is_frozen(mounts, &self.rel),
            Hierarchy::V2(root) => v2::is_frozen(&root.join(&self.rel)),
        }
    }

    /// Removes the cgroup (children first). Idempotent; waits up to a deadline for exiting tasks.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        let deadline = std::time::Instant::now() + SETTLE_DEADLINE;
        let mut first_err = None;
        for dir in self.dirs() {
            if let Err(e) = fs::remove_tree(&dir, deadline) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    pub fn exists(&self) -> bool {
        self.dirs().iter().any(|d| d.is_dir())
    }

    /// How many times the kernel's OOM killer killed a process of this cgroup.
    pub fn oom_kills(&self) -> Result<u64, CgroupError> {
        let (file, key) = match self.hierarchy {
            Hierarchy::V1(_) => ("memory.oom_control", "oom_kill"),
            Hierarchy::V2(_) => ("memory.events", "oom_kill"),
        };
        let dir = self.memory_dir()?;
        Ok(fs::read_key(&dir.join(file), key)?.unwrap_or(0))
    }

    /// Current memory usage in bytes.
    pub fn memory_usage(&self) -> Result<u64, CgroupError> {
        let file = match self.hierarchy {
            Hierarchy::V1(_) => "memory.usage_in_bytes",
            Hierarchy::V2(_) => "memory.current",
        };
        fs::read_u64(&self.memory_dir()?.join(file))
    }

    /// Sends `signal` to every process of the cgroup. SIGKILL on v2 uses `cgroup.kill` where the
    /// kernel has it; otherwise the cgroup is frozen first (when it can be) so nothing forks away.
    pub fn kill_all(&self, signal: Signal) -> Result<(), CgroupError> {
        if let Hierarchy::V2(root) = &self.hierarchy {
            let kill = root.join(&self.rel).join("cgroup.kill");
            if signal == Signal::SIGKILL && kill.exists() {
                return fs::write(&kill, "1");
            }
        }
        let frozen = signal != Signal::SIGSTOP && self.freeze().is_ok();
        let result = self.pids().and_then(|pids| {
            for pid in pids {
                match nix::sys::signal::kill(pid, signal) {
                    Ok(()) | Err(nix::Error::ESRCH) => {}
                    Err(source) => {
                        return Err(CgroupError::Kill {
                            pid: pid.as_raw(),
                            path: self.rel.clone(),
                            source,
                        })
                    }
                }
            }
            Ok(())
        });
        if frozen {
            self.thaw()?;
        }
        result
    }

    fn memory_dir(&self) -> Result<PathBuf, CgroupError> {
        self.controller_dir("memory")
            .ok_or_else(|| CgroupError::Unsupported {
                what: "the memory controller".into(),
                hint: "it is not mounted".into(),
            })
    }
}

/// Where the cgroup of container `id` is when its spec names none: `/berth/<id>` below each
/// hierarchy's root. The one place that spells it: the daemon puts its containers there too, and
/// finds them with `Cgroup::new(None, id)`.
pub fn default_path(id: &str) -> PathBuf {
    Path::new("/berth").join(id)
}

/// `p` as a clean path below a hierarchy root: `/a/b` and `a/b` both give `a/b`.
fn relative_path(p: &Path) -> Result<PathBuf, CgroupError> {
    let invalid = |reason| CgroupError::InvalidPath {
        path: p.to_path_buf(),
        reason,
    };
    if p.to_string_lossy().contains(':') {
        return Err(invalid(
            "systemd-style slice:prefix:name paths are not supported; use a /path/like/this",
        ));
    }
    let mut rel = PathBuf::new();
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => rel.push(n),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(invalid("it must not contain `..`"))
            }
        }
    }
    if rel.as_os_str().is_empty() {
        return Err(invalid("it names the hierarchy root; give a path below it"));
    }
    Ok(rel)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_root;
