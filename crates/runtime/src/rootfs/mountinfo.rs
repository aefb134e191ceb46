//! A small reader of `/proc/self/mountinfo`: the fields rootfs setup needs (mount point, optional
//! propagation fields, file-system type, super options).

use std::path::PathBuf;

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// The root of the mount within its file system (`/` unless a bind of a subtree).
    pub root: PathBuf,
    pub mount_point: PathBuf,
    /// Optional fields such as `shared:1` or `master:2`.
    pub optional: Vec<String>,
    pub fstype: String,
    pub source: String,
    /// Super-block options, e.g. `rw,cpu,cpuacct` for a cgroup v1 hierarchy.
    pub super_options: Vec<String>,
}

/// Parses mountinfo text; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_line).collect()
}

/// Reads and parses `/proc/self/mountinfo`.
pub fn read() -> std::io::Result<Vec<MountInfo>> {
    std::fs::read_to_string("/proc/self/mountinfo").map(|t| parse(&t))
}

fn parse_line(line: &str) -> Option<MountInfo> {
    let (left, right) = line.split_once(" - ")?;
    let fields: Vec<&str> = left.split(' ').collect();
    let root = unescape(fields.get(3)?);
    let mount_point = unescape(fields.get(4)?);
    let optional = fields
        .get(6..)
        .unwrap_or_default()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut right = right.split(' ');
    let fstype = right.next()?.to_owned();
    let source = right.next()?.to_owned();
    let super_options = right
        .next()
        .unwrap_or_default()
        .split(',')
        .map(str::to_owned)
        .collect();
    Some(MountInfo {
        root: PathBuf::from(root),
        mount_point: PathBuf::from(mount_point),
        optional,
        fstype,
        source,
        super_options,
    })
}

/// Undoes the kernel's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if let Some(v) = s
                .get(i + 1..i + 4)
                .and_then(|o| u8::from_str_radix(o, 8).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cgroup_and_escaped_lines() {
        let text = "\
30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,cpu,cpuacct
31 25 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
40 1 8:1 /sub /mnt/a\\040b rw master:3 - ext4 /dev/sda1 rw
garbage
";
        let m = parse(text);
        assert_eq!(m.len(), 3);
        assert_eq!(
            m[0].mount_point,
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(m[0].optional, vec!["shared:12"]);
        assert_eq!(m[0].super_options, vec!["rw", "cpu", "cpuacct"]);
        assert_eq!(m[1].fstype, "cgroup2");
        assert!(m[1].optional.is_empty());
        assert_eq!(m[2].mount_point, PathBuf::from("/mnt/a b"));
        assert_eq!(m[2].root, PathBuf::from("/sub"));
    }
}
