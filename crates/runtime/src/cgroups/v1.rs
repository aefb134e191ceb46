//! cgroup v1: one directory per controller hierarchy. Creating them (cpuset parents initialised
//! from their parent, as the kernel leaves them empty), and writing `LinuxResources` into the
//! controllers' files: memory, cpu, cpuset, pids, blkio, hugetlb, net_cls/net_prio and devices;
//! freezing via freezer.

use super::devices::{self, DeviceRule};
use super::fs::{self, mkdirs, remove_made};
use super::{CgroupError, SETTLE_DEADLINE};
use berth_oci::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

type Mounts = BTreeMap<String, PathBuf>;

/// Each mount point once (co-mounted controllers share one).
pub fn unique_roots(mounts: &Mounts) -> Vec<&Path> {
    let mut roots: Vec<&Path> = mounts.values().map(PathBuf::as_path).collect();
    roots.sort();
    roots.dedup();
    roots
}

/// The cgroup's directory in `controller`'s hierarchy; `field` names what needs it.
fn dir(mounts: &Mounts, rel: &Path, controller: &str, field: &str) -> Result<PathBuf, CgroupError> {
    mounts
        .get(controller)
        .map(|root| root.join(rel))
        .ok_or_else(|| CgroupError::Unsupported {
            what: format!("linux.resources.{field}"),
            hint: format!("the cgroup v1 {controller} controller is not mounted"),
        })
}

/// Makes `rel` in every hierarchy, then writes devices and `resources`; undoes the mkdirs on error.
pub fn create(
    mounts: &Mounts,
    rel: &Path,
    resources: Option<&LinuxResources>,
) -> Result<(), CgroupError> {
    let mut made: Vec<PathBuf> = Vec::new();
    let result = (|| {
        for root in unique_roots(mounts) {
            made.extend(mkdirs(root, rel)?);
        }
        if let Some(root) = mounts.get("cpuset") {
            init_cpuset(root, rel)?;
        }
        if mounts.contains_key("devices") {
            let rules = devices::effective(resources.and_then(|r| r.devices().as_deref()))?;
            write_devices(&dir(mounts, rel, "devices", "devices")?, &rules)?;
        }
        match resources {
            Some(r) => apply_limits(mounts, rel, r),
            None => Ok(()),
        }
    })();
    if result.is_err() {
        remove_made(&made);
    }
    result
}

/// Writes `r` to an existing cgroup (`update`), devices included when the spec lists them.
pub fn apply(mounts: &Mounts, rel: &Path, r: &LinuxResources) -> Result<(), CgroupError> {
    if let Some(spec) = r.devices() {
        let rules = devices::effective(Some(spec))?;
        write_devices(&dir(mounts, rel, "devices", "devices")?, &rules)?;
    }
    apply_limits(mounts, rel, r)
}

fn apply_limits(mounts: &Mounts, rel: &Path, r: &LinuxResources) -> Result<(), CgroupError> {
    if let Some(m) = r.memory() {
        memory(&dir(mounts, rel, "memory", "memory")?, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu(mounts, rel, c)?;
    }
    if let Some(p) = r.pids() {
        let value = match p.limit() {
            l if l > 0 => l.to_string(),
            _ => "max".to_string(),
        };
        fs::write(&dir(mounts, rel, "pids", "pids")?.join("pids.max"), &value)?;
    }
    if let Some(b) = r.block_io() {
        block_io(&dir(mounts, rel, "blkio", "blockIO")?, b)?;
    }
    for h in r.hugepage_limits().iter().flatten() {
        let d = dir(mounts, rel, "hugetlb", "hugepageLimits")?;
        let file = d.join(format!("hugetlb.{}.limit_in_bytes", h.page_size()));
        fs::write(&file, &h.limit().to_string())?;
    }
    if let Some(n) = r.network() {
        if let Some(id) = n.class_id() {
            let d = dir(mounts, rel, "net_cls", "network.classID")?;
            fs::write(&d.join("net_cls.classid"), &id.to_string())?;
        }
        for p in n.priorities().iter().flatten() {
            let d = dir(mounts, rel, "net_prio", "network.priorities")?;
            let line = format!("{} {}", p.name(), p.priority());
            fs::write(&d.join("net_prio.ifpriomap"), &line)?;
        }
    }
    if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(CgroupError::Unsupported {
            what: "linux.resources.unified".into(),
            hint: "this host uses cgroup v1; unified keys need cgroup v2".into(),
        });
    }
    Ok(())
}

/// New cpuset cgroups start with empty `cpuset.cpus`/`cpuset.mems`, which refuse tasks: copy each
/// empty level's values from its parent, top-down.
fn init_cpuset(root: &Path, rel: &Path) -> Result<(), CgroupError> {
    let mut parent = root.to_path_buf();
    for c in rel.components() {
        let dir = parent.join(c);
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if fs::read_trimmed(&dir.join(file))?.is_empty() {
                let value = fs::read_trimmed(&parent.join(file))?;
                fs::write(&dir.join(file), &value)?;
            }
        }
        parent = dir;
    }
    Ok(())
}

/// One rule per `write`, in order, through the two files opened once.
fn write_devices(dir: &Path, rules: &[DeviceRule]) -> Result<(), CgroupError> {
    let mut allow = fs::Writer::open(&dir.join("devices.allow"))?;
    let mut deny = fs::Writer::open(&dir.join("devices.deny"))?;
    for rule in rules {
        let file = if rule.allow { &mut allow } else { &mut deny };
        file.write(&rule.v1_line())?;
    }
    Ok(())
}

fn memory(dir: &Path, m: &LinuxMemory) -> Result<(), CgroupError> {
    let limit_file = dir.join("memory.limit_in_bytes");
    let limit = m.limit().filter(|l| *l != 0);
    match m.swap().filter(|s| *s != 0) {
        Some(swap) => {
            let memsw = dir.join("memory.memsw.limit_in_bytes");
            if !memsw.exists() {
                return Err(CgroupError::Unsupported {
                    what: "linux.resources.memory.swap".into(),
                    hint: format!(
                        "{} is missing: the kernel has no swap accounting (boot with swapaccount=1) — remove the swap limit",
                        memsw.display()
                    ),
                });
            }
            // memory+swap must stay >= memory: raise memsw first, unless it is being lowered
            // below the current limit, in which case the limit goes first.
            if fs::write(&memsw, &swap.to_string()).is_err() {
                if let Some(l) = limit {
                    fs::write(&limit_file, &l.to_string())?;
                }
                fs::write(&memsw, &swap.to_string())?;
            } else if let Some(l) = limit {
                fs::write(&limit_file, &l.to_string())?;
            }
        }
        None => {
            if let Some(l) = limit {
                fs::write(&limit_file, &l.to_string())?;
            }
        }
    }
    if let Some(r) = m.reservation().filter(|r| *r != 0) {
        fs::write(&dir.join("memory.soft_limit_in_bytes"), &r.to_string())?;
    }
    if let Some(s) = m.swappiness() {
        fs::write(&dir.join("memory.swappiness"), &s.to_string())?;
    }
    // `kernel` is left alone: kernels since 5.4 accept memory.kmem.limit_in_bytes and ignore it.
    // The TCP buffer limit still works on v1.
    if let Some(k) = m.kernel_tcp().filter(|k| *k != 0) {
        let file = dir.join("memory.kmem.tcp.limit_in_bytes");
        if !file.exists() {
            return Err(CgroupError::Unsupported {
                what: "linux.resources.memory.kernelTCP".into(),
                hint: format!(
                    "{} is missing: the kernel has no TCP memory accounting — remove the limit",
                    file.display()
                ),
            });
        }
        fs::write(&file, &k.to_string())?;
    }
    if m.disable_oom_killer() == Some(true) {
        fs::write(&dir.join("memory.oom_control"), "1")?;
    }
    Ok(())
}

fn cpu(mounts: &Mounts, rel: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    let nonzero_u = |v: Option<u64>| v.filter(|v| *v != 0).map(|v| v.to_string());
    let nonzero_i = |v: Option<i64>| v.filter(|v| *v != 0).map(|v| v.to_string());
    let writes = [
        ("cpu.shares", nonzero_u(c.shares())),
        ("cpu.cfs_period_us", nonzero_u(c.period())),
        ("cpu.cfs_quota_us", nonzero_i(c.quota())),
        ("cpu.cfs_burst_us", c.burst().map(|b| b.to_string())),
        ("cpu.rt_period_us", nonzero_u(c.realtime_period())),
        ("cpu.rt_runtime_us", nonzero_i(c.realtime_runtime())),
        ("cpu.idle", c.idle().map(|i| i.to_string())),
    ];
    for (file, value) in writes {
        if let Some(value) = value {
            fs::write(&dir(mounts, rel, "cpu", "cpu")?.join(file), &value)?;
        }
    }
    for (file, value) in [("cpuset.cpus", c.cpus()), ("cpuset.mems", c.mems())] {
        if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            fs::write(&dir(mounts, rel, "cpuset", "cpu")?.join(file), v)?;
        }
    }
    Ok(())
}

fn block_io(dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    // Prefer the CFQ-era files; kernels with BFQ only have blkio.bfq.*; some have neither.
    let pick = |name: &str, field: &str| {
        let plain = dir.join(format!("blkio.{name}"));
        let bfq = dir.join(format!("blkio.bfq.{name}"));
        if plain.exists() {
            Ok(plain)
        } else if bfq.exists() {
            Ok(bfq)
        } else {
            Err(CgroupError::Unsupported {
                what: format!("linux.resources.blockIO.{field}"),
                hint: format!(
                    "{} has neither blkio.{name} nor blkio.bfq.{name} (no CFQ or BFQ group scheduling); remove the weight",
                    dir.display()
                ),
            })
        }
    };
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        fs::write(&pick("weight", "weight")?, &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        fs::write(&dir.join("blkio.leaf_weight"), &w.to_string())?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            let line = format!("{}:{} {w}", d.major(), d.minor());
            fs::write(&pick("weight_device", "weightDevice")?, &line)?;
        }
        if let Some(w) = d.leaf_weight() {
            let line = format!("{}:{} {w}", d.major(), d.minor());
            fs::write(&dir.join("blkio.leaf_weight_device"), &line)?;
        }
    }
    for (file, list) in [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ] {
        for d in list.iter().flatten() {
            let line = format!("{}:{} {}", d.major(), d.minor(), d.rate());
            fs::write(&dir.join(file), &line)?;
        }
    }
    Ok(())
}

fn freezer_state(mounts: &Mounts, rel: &Path) -> Result<PathBuf, CgroupError> {
    mounts
        .get("freezer")
        .map(|root| root.join(rel).join("freezer.state"))
        .ok_or_else(|| CgroupError::Unsupported {
            what: "pause and resume".into(),
            hint: "the cgroup v1 freezer controller is not mounted".into(),
        })
}

/// Writes `FROZEN` or `THAWED` and waits until the kernel reports that state.
pub fn set_frozen(mounts: &Mounts, rel: &Path, frozen: bool) -> Result<(), CgroupError> {
    let file = freezer_state(mounts, rel)?;
    let want = if frozen { "FROZEN" } else { "THAWED" };
    fs::write(&file, want)?;
    let deadline = std::time::Instant::now() + SETTLE_DEADLINE;
    let mut polls = 0u32;
    fs::wait_until(deadline, "the freezer state", &file, || {
        polls += 1;
        if polls % 50 == 0 {
            // A task that was forking may have escaped this round; ask again.
            fs::write(&file, want)?;
        }
        Ok(fs::read_trimmed(&file)? == want)
    })
}

pub fn is_frozen(mounts: &Mounts, rel: &Path) -> Result<bool, CgroupError> {
    Ok(fs::read_trimmed(&freezer_state(mounts, rel)?)? == "FROZEN")
}
