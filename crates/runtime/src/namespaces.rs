//! Namespaces: which ones the init creates with `clone`, which it joins by path with `setns` (and in
//! which order), and how `exec` finds the namespaces of a running container.
//!
//! Rules: a new user namespace is created by the same `clone` as the others, so they are owned by it.
//! The pid namespace cannot be entered by the caller itself: `setns` on it only affects children, so
//! the parent joins it before `clone`/`fork`. The cgroup namespace is unshared by the child only
//! after the parent has moved it into its cgroup, so the container sees its cgroup as `/`. When a
//! user namespace is joined by path, the new namespaces are unshared after that join instead.
//! A new user namespace owns only what is created with it: the network, IPC and UTS namespaces
//! given by path (a daemon makes a container's network namespace before the container exists,
//! owned by the host's user namespace) are joined by the parent before `clone`
//! ([`Plan::parent_join`], [`Entered`]), since the init, born in its new user namespace, has no
//! rights over them; runc joins them before unsharing its user namespace for the same reason.
//! [`join_all`] joins a list (a joined user namespace, `exec`'s whole set) with the user
//! namespace after the others it may join first, as runc does.
//! A network namespace the init creates gets its loopback up ([`loopback_up`], as crun does), so
//! a container without networking still has a working 127.0.0.1; a joined one is left as it is.

use crate::{Result, RuntimeError};
use berth_oci::runtime::{LinuxNamespaceType as Ns, Spec};
use nix::sched::{setns, unshare, CloneFlags};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// How the init gets its namespaces.
#[derive(Debug)]
pub struct Plan {
    /// Flags for the init's `clone`.
    pub clone_flags: CloneFlags,
    /// Flags the child unshares itself after joining `join` (with a joined user namespace).
    pub unshare_flags: CloneFlags,
    /// Namespaces the child joins by path, user first, mount last.
    pub join: Vec<(Ns, PathBuf)>,
    /// A pid namespace the parent joins before `clone`.
    pub pid_path: Option<PathBuf>,
    /// The child unshares a cgroup namespace once it is in its cgroup.
    pub new_cgroup: bool,
    /// The init is in a new user namespace: the parent writes its id maps.
    pub new_user: bool,
    /// Namespaces the parent joins before `clone` (and leaves after), so that the init is born
    /// in them: with a new user namespace, those given by path among network, IPC and UTS.
    pub parent_join: Vec<(Ns, PathBuf)>,
}

impl Plan {
    /// Whether the init makes a network namespace of its own (rather than joining or sharing one).
    pub fn new_net(&self) -> bool {
        (self.clone_flags | self.unshare_flags).contains(CloneFlags::CLONE_NEWNET)
    }
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            clone_flags: CloneFlags::empty(),
            unshare_flags: CloneFlags::empty(),
            join: Vec::new(),
            pid_path: None,
            new_cgroup: false,
            new_user: false,
            parent_join: Vec::new(),
        }
    }
}

/// The `clone` flag of a namespace type.
pub fn flag(ns: Ns) -> CloneFlags {
    CloneFlags::from_bits_truncate(ns as i32)
}

/// The `/proc/<pid>/ns/<name>` file name of a namespace type.
pub fn proc_name(ns: Ns) -> &'static str {
    match ns {
        Ns::Mount => "mnt",
        Ns::Cgroup => "cgroup",
        Ns::Uts => "uts",
        Ns::Ipc => "ipc",
        Ns::User => "user",
        Ns::Pid => "pid",
        Ns::Network => "net",
        Ns::Time => "time",
    }
}

/// The order of joining: user first (it grants the rights to join the rest), mount last (it changes
/// the root the other paths would be resolved in).
const JOIN_ORDER: [Ns; 7] = [
    Ns::User,
    Ns::Ipc,
    Ns::Uts,
    Ns::Network,
    Ns::Pid,
    Ns::Cgroup,
    Ns::Mount,
];

pub fn plan(spec: &Spec) -> Plan {
    let mut plan = Plan::default();
    let namespaces = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let user_joined = namespaces
        .iter()
        .any(|n| n.typ() == Ns::User && n.path().is_some());
    let user_new = namespaces
        .iter()
        .any(|n| n.typ() == Ns::User && n.path().is_none());
    for ns in JOIN_ORDER {
        let Some(n) = namespaces.iter().find(|n| n.typ() == ns) else {
            continue;
        };
        match (ns, n.path()) {
            (Ns::Pid, Some(p)) => plan.pid_path = Some(p.clone()),
            (Ns::Network | Ns::Ipc | Ns::Uts, Some(p)) if user_new => {
                plan.parent_join.push((ns, p.clone()))
            }
            (_, Some(p)) => plan.join.push((ns, p.clone())),
            (Ns::Cgroup, None) => plan.new_cgroup = true,
            (Ns::Pid | Ns::User, None) => plan.clone_flags |= flag(ns),
            (_, None) if user_joined => plan.unshare_flags |= flag(ns),
            (_, None) => plan.clone_flags |= flag(ns),
        }
        plan.new_user |= ns == Ns::User && n.path().is_none();
    }
    plan
}

/// Joins the namespace at `path`, which must be of type `ns`.
pub fn join(ns: Ns, path: &Path) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|source| RuntimeError::Io {
        what: "open namespace",
        path: path.to_path_buf(),
        source,
    })?;
    setns(file.as_fd(), flag(ns)).map_err(|source| RuntimeError::Sys {
        what: format!("join {} namespace {}", proc_name(ns), path.display()),
        source,
    })
}

/// Joins every namespace of `list` (in [`JOIN_ORDER`]): the files are opened first (joining the
/// mount namespace changes what `/proc` paths name), then every one but the user namespace is
/// tried, the user namespace joined, and those refused before (owned by it, for a caller without
/// rights over it from outside) joined from inside. A caller with the host's rights can join a
/// container's namespaces only from outside its user namespace when the host's user namespace
/// owns them (a daemon-made network namespace), so trying them first is what makes both work.
pub fn join_all(list: &[(Ns, PathBuf)]) -> Result<()> {
    let mut opened = Vec::with_capacity(list.len());
    for (ns, path) in list {
        let file = std::fs::File::open(path).map_err(|source| RuntimeError::Io {
            what: "open namespace",
            path: path.clone(),
            source,
        })?;
        opened.push((*ns, path, file));
    }
    let setns_one = |ns: Ns, path: &Path, file: &std::fs::File| {
        setns(file.as_fd(), flag(ns)).map_err(|source| RuntimeError::Sys {
            what: format!("join {} namespace {}", proc_name(ns), path.display()),
            source,
        })
    };
    let mut later = Vec::new();
    let user = opened.iter().position(|(ns, ..)| *ns == Ns::User);
    for (i, (ns, path, file)) in opened.iter().enumerate() {
        if Some(i) == user {
            continue;
        }
        match setns(file.as_fd(), flag(*ns)) {
            Ok(()) => {}
            Err(nix::errno::Errno::EPERM) if user.is_some() => later.push(i),
            Err(source) => {
                return Err(RuntimeError::Sys {
                    what: format!("join {} namespace {}", proc_name(*ns), path.display()),
                    source,
                })
            }
        }
    }
    if let Some(u) = user {
        let (ns, path, file) = &opened[u];
        setns_one(*ns, path, file)?;
    }
    for i in later {
        let (ns, path, file) = &opened[i];
        setns_one(*ns, path, file)?;
    }
    Ok(())
}

/// The namespaces the calling thread left for [`enter`], to go back to with [`Entered::leave`].
#[derive(Debug)]
pub struct Entered {
    saved: Vec<(Ns, std::fs::File)>,
}

/// Joins the network, IPC and UTS namespaces of `list` with the calling thread only (setns of
/// these affects the thread, and a `clone` from it inherits them), remembering its own.
pub fn enter(list: &[(Ns, PathBuf)]) -> Result<Entered> {
    let mut entered = Entered { saved: Vec::new() };
    for (ns, path) in list {
        let own = PathBuf::from(format!("/proc/thread-self/ns/{}", proc_name(*ns)));
        let file = std::fs::File::open(&own).map_err(|source| RuntimeError::Io {
            what: "open own namespace",
            path: own,
            source,
        })?;
        if let Err(e) = join(*ns, path) {
            let _ = entered.leave();
            return Err(e);
        }
        entered.saved.push((*ns, file));
    }
    Ok(entered)
}

impl Entered {
    /// Goes back to the namespaces [`enter`] left.
    pub fn leave(self) -> Result<()> {
        for (ns, file) in self.saved.iter().rev() {
            setns(file.as_fd(), flag(*ns)).map_err(|source| RuntimeError::Sys {
                what: format!("return to own {} namespace", proc_name(*ns)),
                source,
            })?;
        }
        Ok(())
    }
}

/// Brings `lo` up in the calling thread's network namespace.
pub fn loopback_up() -> std::result::Result<(), nix::Error> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    use std::os::fd::AsRawFd;
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: ifreq is plain old data; an all-zero value is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the flags of the interface named in `req` into `req`; the
    // pointer is valid for the duration of the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(nix::Error::last());
    }
    // SAFETY: the union's flags member is the one SIOCGIFFLAGS filled in.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads `req`, valid for the duration of the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(nix::Error::last());
    }
    Ok(())
}

/// Unshares `flags` (nothing when empty).
pub fn unshare_now(flags: CloneFlags) -> Result<()> {
    if flags.is_empty() {
        return Ok(());
    }
    unshare(flags).map_err(|source| RuntimeError::Sys {
        what: format!("unshare namespaces {flags:?}"),
        source,
    })
}

/// The namespaces of process `pid` that differ from ours, in join order (for `exec`).
pub fn of_process(pid: i32) -> Vec<(Ns, PathBuf)> {
    JOIN_ORDER
        .into_iter()
        .filter_map(|ns| {
            let theirs = PathBuf::from(format!("/proc/{pid}/ns/{}", proc_name(ns)));
            let ours = PathBuf::from(format!("/proc/self/ns/{}", proc_name(ns)));
            let same = match (std::fs::read_link(&theirs), std::fs::read_link(&ours)) {
                (Ok(a), Ok(b)) => a == b,
                _ => true,
            };
            (!same).then_some((ns, theirs))
        })
        .collect()
}

/// Writes `/proc/<pid>/{uid,gid}_map` from the spec's mappings (the parent does this for the
/// child's new user namespace).
pub fn write_id_maps(spec: &Spec, pid: i32) -> Result<()> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let maps = [
        ("uid_map", linux.uid_mappings()),
        ("gid_map", linux.gid_mappings()),
    ];
    for (file, mappings) in maps {
        let text: String = mappings
            .iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect();
        if text.is_empty() {
            continue;
        }
        let path = PathBuf::from(format!("/proc/{pid}/{file}"));
        std::fs::write(&path, text).map_err(|source| RuntimeError::Io {
            what: "write id map",
            path,
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_clones_all_but_cgroup() {
        let mut spec = crate::spec::default_spec();
        let mut nss = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
        nss.push(berth_oci::runtime::LinuxNamespace::default());
        nss.last_mut().unwrap().set_typ(Ns::Cgroup);
        spec.linux_mut().as_mut().unwrap().set_namespaces(Some(nss));
        let p = plan(&spec);
        assert!(p
            .clone_flags
            .contains(CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS));
        assert!(!p.clone_flags.contains(CloneFlags::CLONE_NEWCGROUP));
        assert!(p.new_cgroup);
        assert!(p.join.is_empty() && p.pid_path.is_none() && !p.new_user);
    }

    #[test]
    fn a_new_user_namespace_is_born_in_the_namespaces_given_by_path() {
        let mut spec = crate::spec::default_spec();
        let mut nss = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
        let mut user = berth_oci::runtime::LinuxNamespace::default();
        user.set_typ(Ns::User);
        nss.push(user);
        for n in nss.iter_mut().filter(|n| n.typ() == Ns::Network) {
            n.set_path(Some("/run/netns/x".into()));
        }
        spec.linux_mut()
            .as_mut()
            .unwrap()
            .set_namespaces(Some(nss.clone()));
        let p = plan(&spec);
        assert!(p.new_user && p.clone_flags.contains(CloneFlags::CLONE_NEWUSER));
        assert_eq!(
            p.parent_join,
            [(Ns::Network, PathBuf::from("/run/netns/x"))]
        );
        assert!(p.join.is_empty());
        // Without a new user namespace the init joins it itself.
        nss.retain(|n| n.typ() != Ns::User);
        spec.linux_mut().as_mut().unwrap().set_namespaces(Some(nss));
        let p = plan(&spec);
        assert!(p.parent_join.is_empty());
        assert_eq!(p.join, [(Ns::Network, PathBuf::from("/run/netns/x"))]);
    }
}
