//! A container's private network namespace with its loopback up (the `none` and, until networking
//! lands, `bridge` modes). The namespace is made by a short-lived OS thread of its own — network
//! namespaces are per thread, so `unshare` there leaves the daemon's threads untouched — bound to a
//! file in the container's bundle, and handed to the runtime by path.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

use crate::error::DaemonError;

fn fail(path: &Path, what: &str, e: impl std::fmt::Display) -> DaemonError {
    DaemonError::Internal(format!("network namespace {}: {what}: {e}", path.display()))
}

/// Brings `lo` up in the calling thread's network namespace.
fn loopback_up(path: &Path) -> Result<(), DaemonError> {
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| fail(path, "opening a socket", e))?;
    // SAFETY: ifreq is plain old data; an all-zero value is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    let fd = std::os::fd::AsRawFd::as_raw_fd(&sock);
    // SAFETY: SIOCGIFFLAGS reads the flags of the interface named in `req` into `req`; the
    // pointer is valid for the duration of the call.
    if unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(fail(
            path,
            "reading the flags of lo",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: the union's flags member is the one SIOCGIFFLAGS filled in.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads `req`, valid for the duration of the call.
    if unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(fail(
            path,
            "bringing lo up",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Creates a network namespace bound at `path` (replacing a stale one) with `lo` up.
pub fn create(path: &Path) -> Result<(), DaemonError> {
    remove(path);
    std::fs::File::create(path).map_err(|e| DaemonError::io("creating", path, e))?;
    let target = path.to_path_buf();
    let made = std::thread::spawn(move || -> Result<(), DaemonError> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| fail(&target, "unshare", e))?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| fail(&target, "binding", e))?;
        loopback_up(&target)
    })
    .join()
    .map_err(|_| fail(path, "creating", "the helper thread panicked"))?;
    if made.is_err() {
        remove(path);
    }
    made
}

/// Unbinds and deletes the namespace file (idempotent).
pub fn remove(path: &Path) {
    let _ = umount2(path, MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(path);
}

impl super::ContainerService {
    /// The networks subsystem of this daemon (registered by [`crate::networks::NetworkService::open`]
    /// under this engine's container exec dir); `None` in engines opened without one.
    pub(crate) fn networks(&self) -> Option<crate::networks::NetworkService> {
        crate::networks::NetworkService::for_containers(&self.paths().exec)
    }

    /// Running containers with a private network namespace, with its path, for the networks'
    /// reconcile after live restore.
    pub fn running_netns(&self) -> std::collections::BTreeMap<String, std::path::PathBuf> {
        self.entries()
            .iter()
            .map(|e| e.snapshot())
            .filter(|c| c.state.status.is_active())
            .map(|c| (c.id.clone(), self.paths().netns(&c.id)))
            .collect()
    }
}

impl super::ContainerService {
    /// At create: checks the network mode (`container:<x>` names a container; a user network
    /// exists) and registers the container's endpoint (its address is allocated now and kept).
    pub(crate) async fn register_network(
        &self,
        c: &super::model::Container,
        endpoints: Option<
            std::collections::BTreeMap<String, berth_api::container::EndpointSettings>,
        >,
    ) -> Result<(), DaemonError> {
        let mode = c.host_config.network_mode.clone().unwrap_or_default();
        if let Some(target) = mode.strip_prefix("container:") {
            self.lookup(target)?;
            return Ok(());
        }
        let Some(net) = self.networks() else {
            return Ok(());
        };
        let c = c.clone();
        tokio::task::spawn_blocking(move || {
            // As Docker does, an unknown network fails the start, not the create.
            if net.check_mode(&mode)? {
                net.register(&c, endpoints.as_ref())?;
            }
            Ok(())
        })
        .await
        .map_err(DaemonError::join)?
    }

    /// For `container:<x>`: the network namespace of running container `x`.
    pub(crate) fn joined_netns(
        &self,
        c: &super::model::Container,
    ) -> Result<Option<std::path::PathBuf>, DaemonError> {
        let mode = c.host_config.network_mode.clone().unwrap_or_default();
        let Some(target) = mode.strip_prefix("container:") else {
            return Ok(None);
        };
        let other = self.lookup(target)?.snapshot();
        if !other.state.status.is_active() || other.state.pid <= 0 {
            return Err(DaemonError::Conflict(format!(
                "cannot join network namespace of a non running container: container {} is {}",
                other.id,
                other.state.status.as_str()
            )));
        }
        Ok(Some(std::path::PathBuf::from(format!(
            "/proc/{}/ns/net",
            other.state.pid
        ))))
    }
}

impl super::ContainerService {
    /// The bound network namespace of container `id` (while it runs with its own stack).
    pub fn netns_path(&self, id: &str) -> std::path::PathBuf {
        self.paths().netns(id)
    }
}
