//! The `cgroup` mount of the spec. On a cgroup v2 host it is one cgroup2 mount; on a v1 (or hybrid)
//! host it is a tmpfs holding one directory per hierarchy (`cpu,cpuacct` with `cpu` and `cpuacct`
//! symlinks, `memory`, `systemd`, `unified`, ...). With a cgroup namespace each hierarchy is
//! mounted fresh (the kernel shows the namespace's root); without one, the container's own cgroup
//! directory is bind-mounted from the host, so it never sees its siblings.
//!
//! On a v1 host the runtime makes the container's cgroup in the controller hierarchies only. A
//! named hierarchy (`name=systemd`) or the cgroup2 mount of a hybrid host still holds the
//! container where the runtime was (often the host's root), and a cgroup namespace is rooted
//! there too: such a hierarchy is left out, so no other cgroup of the host shows. Without a cgroup
//! namespace it is bound after all when the container's path there is its own cgroup's (with one,
//! every path reads `/`, relative to each hierarchy's namespace root, and proves nothing).

use super::mountinfo::{self, MountInfo};
use super::mounts::{bind, io_errno, resolve_at};
use super::options::MountOptions;
use super::resolve::Create;
use super::{Ctx, RootfsError};
use crate::sys::fd_path;
use nix::errno::Errno;
use nix::mount::MsFlags;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// One hierarchy to mount: under `name` in the tmpfs (v1), or at the destination itself (v2 host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hierarchy {
    pub name: Option<String>,
    pub fstype: String,
    /// The data for a fresh mount (`cpu,cpuacct`, `xattr,name=systemd`; none for cgroup2).
    pub data: Option<String>,
    /// The host directory to bind without a cgroup namespace.
    pub host_dir: PathBuf,
}

/// Works out the hierarchies from the host's mounts and the init's `/proc/self/cgroup` lines
/// (`id:controllers:path`); `cgroupns` when the init is in a cgroup namespace of its own.
pub(crate) fn plan(mounts: &[MountInfo], own: &str, cgroupns: bool) -> Vec<Hierarchy> {
    let own: Vec<(Vec<&str>, &str)> = own
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, ctrl, path) = (parts.next()?, parts.next()?, parts.next()?);
            Some((ctrl.split(',').filter(|c| !c.is_empty()).collect(), path))
        })
        .collect();
    let hierarchies: Vec<&MountInfo> = mounts
        .iter()
        .filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
        .filter(|m| m.mount_point.starts_with(CGROUP_ROOT))
        .collect();
    let v1_host = hierarchies.iter().any(|m| m.fstype == "cgroup");
    // The container's own cgroup: where it is in the controller hierarchies, which the runtime
    // made for it.
    let controller =
        |ctrl: &[&str]| !ctrl.is_empty() && !ctrl.iter().any(|c| c.starts_with("name="));
    let mine: Vec<&str> = own
        .iter()
        .filter(|(ctrl, _)| controller(ctrl))
        .map(|(_, path)| *path)
        .collect();
    let mut out = Vec::new();
    for m in hierarchies {
        let v2 = m.fstype == "cgroup2";
        let path = own.iter().find(|(ctrl, _)| {
            if v2 {
                ctrl.is_empty()
            } else {
                !ctrl.is_empty() && ctrl.iter().all(|c| m.super_options.iter().any(|o| o == c))
            }
        });
        let Some((ctrl, path)) = path else { continue };
        if v1_host && !controller(ctrl) && (cgroupns || !mine.contains(path)) {
            continue;
        }
        let rel = Path::new(path)
            .strip_prefix(&m.root)
            .unwrap_or(Path::new(path));
        let rel = rel.strip_prefix("/").unwrap_or(rel);
        let data = (!v2).then(|| {
            m.super_options
                .iter()
                .filter(|o| *o != "rw" && *o != "ro")
                .cloned()
                .collect::<Vec<_>>()
                .join(",")
        });
        let name = (m.mount_point != Path::new(CGROUP_ROOT))
            .then(|| {
                m.mount_point
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .flatten();
        out.push(Hierarchy {
            name,
            fstype: m.fstype.clone(),
            data,
            host_dir: m.mount_point.join(rel),
        });
    }
    out
}

/// Mounts the spec's cgroup mount at `dest`.
pub(crate) fn mount(ctx: &Ctx<'_>, dest: &Path, opts: &MountOptions) -> Result<(), RootfsError> {
    let io = |what: &str, e: std::io::Error| RootfsError::Mount {
        dest: dest.to_path_buf(),
        what: format!("read {what}"),
        source: io_errno(&e),
    };
    let mounts = mountinfo::read().map_err(|e| io("/proc/self/mountinfo", e))?;
    let own =
        std::fs::read_to_string("/proc/self/cgroup").map_err(|e| io("/proc/self/cgroup", e))?;
    let plan = plan(&mounts, &own, ctx.ns.cgroup);
    let flags = opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    if let [h @ Hierarchy { name: None, .. }] = plan.as_slice() {
        return hierarchy(ctx, dest, h, flags);
    }
    let tmpfs_flags = flags - MsFlags::MS_RDONLY;
    let target = resolve_at(ctx, dest, Create::Dir)?;
    let fail = |what: String, source: Errno| RootfsError::Mount {
        dest: dest.to_path_buf(),
        what,
        source,
    };
    ctx.sys
        .mount(
            Some(Path::new("tmpfs")),
            &fd_path(&target),
            Some("tmpfs"),
            tmpfs_flags,
            Some("mode=755"),
        )
        .map_err(|e| fail("mount the cgroup tmpfs".into(), e))?;
    for h in &plan {
        let Some(name) = &h.name else { continue };
        hierarchy(ctx, &dest.join(name), h, flags)?;
        if name.contains(',') {
            let dir = resolve_at(ctx, dest, Create::Nothing)?;
            for part in name.split(',') {
                match ctx
                    .sys
                    .symlinkat(Path::new(name), dir.as_fd(), Path::new(part))
                {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(fail(format!("link {part} to {name}"), e)),
                }
            }
        }
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        let fd = resolve_at(ctx, dest, Create::Nothing)?;
        let target = fd_path(&fd);
        let flags = tmpfs_flags | MsFlags::MS_RDONLY | MsFlags::MS_REMOUNT;
        ctx.sys
            .mount(None, &target, None, flags, None)
            .map_err(|e| fail("remount the cgroup tmpfs read-only".into(), e))?;
    }
    Ok(())
}

/// One hierarchy at `dest`: a fresh mount in a cgroup namespace, else a bind of our own cgroup.
fn hierarchy(ctx: &Ctx<'_>, dest: &Path, h: &Hierarchy, flags: MsFlags) -> Result<(), RootfsError> {
    if ctx.ns.cgroup {
        let target = resolve_at(ctx, dest, Create::Dir)?;
        ctx.sys
            .mount(
                Some(Path::new("cgroup")),
                &fd_path(&target),
                Some(&h.fstype),
                flags,
                h.data.as_deref(),
            )
            .map_err(|source| RootfsError::Mount {
                dest: dest.to_path_buf(),
                what: format!("mount {} ({:?})", h.fstype, h.data),
                source,
            })
    } else {
        let opts = MountOptions {
            flags: flags | MsFlags::MS_BIND | MsFlags::MS_REC,
            ..MountOptions::default()
        };
        bind(ctx, dest, &h.host_dir, &opts).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
25 20 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd
28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
29 25 0:26 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
";
    const OWN: &str = "4:memory:/berth/c1\n3:cpu,cpuacct:/berth/c1\n1:name=systemd:/\n0::/\n";

    fn names(plan: &[Hierarchy]) -> Vec<String> {
        plan.iter()
            .map(|h| h.name.clone().unwrap_or_default())
            .collect()
    }

    #[test]
    fn v1_hybrid_host_gets_one_directory_per_controller_hierarchy() {
        let plan = plan(&mountinfo::parse(HYBRID), OWN, false);
        assert_eq!(names(&plan), ["cpu,cpuacct", "memory"]);
        assert_eq!(plan[0].data.as_deref(), Some("cpu,cpuacct"));
        assert_eq!(
            plan[1].host_dir,
            PathBuf::from("/sys/fs/cgroup/memory/berth/c1")
        );
    }

    #[test]
    fn named_and_unified_hierarchies_at_another_cgroup_than_the_containers_are_left_out() {
        // The runtime's systemd cgroup, not the host root, is just as foreign.
        let own = "4:memory:/berth/c1\n3:cpu,cpuacct:/berth/c1\n\
                   1:name=systemd:/system.slice/berth.service\n0::/system.slice/berth.service\n";
        let plan = plan(&mountinfo::parse(HYBRID), own, false);
        assert_eq!(names(&plan), ["cpu,cpuacct", "memory"]);
    }

    #[test]
    fn in_a_cgroup_namespace_only_the_controller_hierarchies_are_mounted() {
        // Every path is `/` in a namespace: the systemd one is the runtime's, not the container's.
        let own = "4:memory:/\n3:cpu,cpuacct:/\n1:name=systemd:/\n0::/\n";
        let plan = plan(&mountinfo::parse(HYBRID), own, true);
        assert_eq!(names(&plan), ["cpu,cpuacct", "memory"]);
        assert_eq!(plan[1].data.as_deref(), Some("memory"));
    }

    #[test]
    fn named_and_unified_hierarchies_at_the_containers_own_cgroup_are_bound() {
        let own =
            "4:memory:/berth/c1\n3:cpu,cpuacct:/berth/c1\n1:name=systemd:/berth/c1\n0::/berth/c1\n";
        let plan = plan(&mountinfo::parse(HYBRID), own, false);
        assert_eq!(
            names(&plan),
            ["unified", "systemd", "cpu,cpuacct", "memory"]
        );
        assert_eq!(plan[1].data.as_deref(), Some("xattr,name=systemd"));
        assert_eq!(plan[0].data, None);
        assert_eq!(
            plan[1].host_dir,
            PathBuf::from("/sys/fs/cgroup/systemd/berth/c1")
        );
    }

    #[test]
    fn v2_host_is_one_mount_at_the_destination() {
        let mi = "30 20 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        let plan = plan(&mountinfo::parse(mi), "0::/berth/c2\n", false);
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].name, None);
        assert_eq!(plan[0].host_dir, PathBuf::from("/sys/fs/cgroup/berth/c2"));
        // In a cgroup namespace the one cgroup2 hierarchy is mounted fresh, as before.
        let in_ns = super::plan(&mountinfo::parse(mi), "0::/\n", true);
        assert_eq!(in_ns.len(), 1);
        assert_eq!(in_ns[0].fstype, "cgroup2");
    }
}
