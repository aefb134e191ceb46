//! Finding the cgroup hierarchies in `/proc/self/mountinfo`: v1 controller mounts, the cgroup2
//! mount, and the choice between them (v1 wins on hybrid hosts, where the controllers live there).

use super::{CgroupError, Hierarchy};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The v1 controllers Berth knows; other super options (`rw`, `name=systemd`, `xattr`) are not.
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// All cgroup mounts of this mount namespace.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Mounts {
    /// v1 controller → mount point (the first mount of each controller).
    pub v1: BTreeMap<String, PathBuf>,
    /// cgroup2 mount points, in mountinfo order.
    pub v2: Vec<PathBuf>,
}

impl Mounts {
    /// The hierarchy to use: v1 when any v1 controller is mounted (legacy and hybrid hosts), else
    /// the cgroup2 mount (preferring `/sys/fs/cgroup`).
    pub fn hierarchy(&self) -> Result<Hierarchy, CgroupError> {
        if !self.v1.is_empty() {
            return Ok(Hierarchy::V1(self.v1.clone()));
        }
        let preferred = self
            .v2
            .iter()
            .find(|p| p.as_path() == std::path::Path::new("/sys/fs/cgroup"))
            .or(self.v2.first());
        preferred
            .map(|p| Hierarchy::V2(p.clone()))
            .ok_or(CgroupError::NoHierarchy)
    }
}

/// Reads `/proc/self/mountinfo` and picks the hierarchy to use.
pub fn detect() -> Result<Hierarchy, CgroupError> {
    mounts()?.hierarchy()
}

/// Every cgroup mount of this process's mount namespace.
pub fn mounts() -> Result<Mounts, CgroupError> {
    let path = std::path::Path::new("/proc/self/mountinfo");
    let text = std::fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(parse_mountinfo(&text))
}

/// Parses mountinfo text (see proc(5)):
/// `id parent major:minor root mount-point options [optional...] - fstype source super-options`.
pub fn parse_mountinfo(text: &str) -> Mounts {
    let mut mounts = Mounts::default();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mount_point) = left.split(' ').nth(4) else {
            continue;
        };
        let mut right = right.split(' ');
        let (Some(fstype), _, Some(super_opts)) = (right.next(), right.next(), right.next()) else {
            continue;
        };
        let mount_point = PathBuf::from(unescape(mount_point));
        match fstype {
            "cgroup2" => mounts.v2.push(mount_point),
            "cgroup" => {
                for opt in super_opts.split(',') {
                    if V1_CONTROLLERS.contains(&opt) {
                        mounts
                            .v1
                            .entry(opt.to_string())
                            .or_insert_with(|| mount_point.clone());
                    }
                }
            }
            _ => {}
        }
    }
    mounts
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let oct = bytes
            .get(i + 1..i + 4)
            .and_then(|o| std::str::from_utf8(o).ok());
        if let (b'\\', Some(Ok(b))) = (bytes[i], oct.map(|o| u8::from_str_radix(o, 8))) {
            out.push(b);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_uses_v1_controllers_and_sees_the_unified_mount() {
        let m = parse_mountinfo(HYBRID);
        assert_eq!(m.v1.len(), 3, "{m:?}");
        assert_eq!(m.v1["memory"], PathBuf::from("/sys/fs/cgroup/memory"));
        assert!(!m.v1.contains_key("systemd") && !m.v1.contains_key("name=systemd"));
        assert_eq!(m.v2, vec![PathBuf::from("/sys/fs/cgroup/unified")]);
        assert!(matches!(m.hierarchy().unwrap(), Hierarchy::V1(_)));
    }

    #[test]
    fn unified_host_uses_v2_and_comounted_controllers_share_a_dir() {
        let m = parse_mountinfo(
            "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n",
        );
        assert_eq!(
            m.hierarchy().unwrap(),
            Hierarchy::V2(PathBuf::from("/sys/fs/cgroup"))
        );
        let m = parse_mountinfo(
            "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n",
        );
        assert_eq!(m.v1["cpu"], m.v1["cpuacct"]);
    }

    #[test]
    fn no_cgroup_mount_is_an_error_and_escapes_are_decoded() {
        assert!(matches!(
            parse_mountinfo("1 0 0:1 / / rw - ext4 /dev/vda rw\n").hierarchy(),
            Err(CgroupError::NoHierarchy)
        ));
        let m = parse_mountinfo("1 0 0:1 / /a\\040b rw - cgroup2 none rw\n");
        assert_eq!(m.v2, vec![PathBuf::from("/a b")]);
    }
}
