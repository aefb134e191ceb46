//! Network namespaces for containers: made here, worked in here, removed here.
//!
//! This module owns Berth's network namespaces for networking, so that the daemon never
//! `unshare`s or `setns`es itself: [`create`] makes one bound to a file before the container
//! exists (the daemon then plugs veths into it and hands the path to the runtime), [`run_in`] and
//! [`socket_in`] work inside it, [`remove`] unbinds it. The one namespace made elsewhere is a
//! `--network none` container's, which the runtime makes with the container (its init brings
//! `lo` up, as crun does). Making and entering a namespace are the same per-thread work on the
//! same kernel objects, and the netlink client that brings `lo` up lives in this crate: one owner.
//!
//! Work done inside another network namespace without the caller ever changing its own:
//! A network namespace is a per-thread attribute, and a socket belongs for life to the namespace
//! it was created in. So [`run_in`] hands a closure to one helper thread, which `setns`es into the
//! target namespace, runs it there and returns to the daemon's namespace; the calling thread (a
//! daemon worker) never leaves its own. Waking a parked thread costs far less than what this
//! used to do per call, fork a helper process (copy a large process's page tables, `wait4`).
//!
//! [`socket_in`] builds on it: the socket the caller then uses to configure the namespace (a
//! netlink socket) or to serve DNS at 127.0.0.11 inside it (UDP, TCP listener).

use std::fs::File;
use std::io;
use std::net::SocketAddrV4;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::mpsc::{self, Sender};
use std::sync::Mutex;

use nix::sched::{setns, CloneFlags};
use nix::sys::socket::{
    bind, listen, setsockopt, socket, sockopt, AddressFamily, Backlog, SockFlag, SockProtocol,
    SockType, SockaddrIn,
};

/// Errors from namespace helpers.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("create network namespace {path}: {step}: {source}")]
    Create {
        path: String,
        step: &'static str,
        source: io::Error,
    },
    #[error("open network namespace {path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("network namespace helper: {step}: {source}")]
    Helper {
        step: &'static str,
        source: io::Error,
    },
}

fn helper(step: &'static str) -> impl FnOnce(io::Error) -> NetnsError {
    move |source| NetnsError::Helper { step, source }
}

/// Opens a network namespace file (`/proc/<pid>/ns/net` or a bind-mounted netns file).
pub fn open(path: &Path) -> Result<OwnedFd, NetnsError> {
    File::open(path)
        .map(OwnedFd::from)
        .map_err(|source| NetnsError::Open {
            path: path.display().to_string(),
            source,
        })
}

/// Creates a network namespace bound at `path` (replacing a stale one there) with `lo` up. A
/// short-lived thread of its own makes it: network namespaces are per thread, so its `unshare`
/// leaves the caller's threads (the daemon's tokio workers) untouched, and the thread ends inside
/// the new namespace, which only the bind mount keeps. On failure nothing is left at `path`.
pub fn create(path: &Path) -> Result<(), NetnsError> {
    remove(path);
    let fail = |step: &'static str, source: io::Error| NetnsError::Create {
        path: path.display().to_string(),
        step,
        source,
    };
    File::create(path).map_err(|e| fail("create the mount point", e))?;
    let target = path.to_path_buf();
    let made = std::thread::Builder::new()
        .name("netns-create".into())
        .spawn(move || make_bound(&target))
        .map_err(|e| fail("spawn thread", e))?
        .join()
        .unwrap_or_else(|_| Err(("run", io::Error::other("the thread panicked"))))
        .map_err(|(step, e)| fail(step, e));
    if made.is_err() {
        remove(path);
    }
    made
}

/// On a thread of its own: a new network namespace, bound at `target`, with `lo` up.
fn make_bound(target: &Path) -> Result<(), (&'static str, io::Error)> {
    nix::sched::unshare(CloneFlags::CLONE_NEWNET).map_err(|e| ("unshare", e.into()))?;
    nix::mount::mount(
        Some("/proc/thread-self/ns/net"),
        target,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| ("bind", e.into()))?;
    let mut nl = crate::netlink::Netlink::open().map_err(|e| ("open netlink", e))?;
    if let Some(lo) = nl.link_index("lo").map_err(|e| ("find lo", e.source))? {
        nl.set_up(lo).map_err(|e| ("bring lo up", e.source))?;
    }
    Ok(())
}

/// Unbinds and deletes a namespace file made by [`create`] (idempotent; nothing there is fine).
pub fn remove(path: &Path) {
    let _ = nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(path);
}

/// A unit of work for the helper thread, given the helper's home namespace: it joins a
/// namespace, works, returns home, reports back, and says whether the return home succeeded.
type Job = Box<dyn FnOnce(BorrowedFd<'_>) -> bool + Send>;

/// The helper thread's queue (`None` until first use, and again after the helper died).
static HELPER: Mutex<Option<Sender<Job>>> = Mutex::new(None);

/// The queue of the helper thread, started on first use. The helper remembers the namespace it
/// started in (the daemon's) and returns to it after every job, so it never keeps a
/// container's namespace alive; if it cannot return, it exits and the next call starts another.
fn helper_queue() -> Result<Sender<Job>, NetnsError> {
    let mut slot = HELPER.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(tx) = slot.as_ref() {
        return Ok(tx.clone());
    }
    let home = open(Path::new("/proc/thread-self/ns/net"))?;
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("netns-helper".into())
        .spawn(move || {
            for job in rx {
                if !job(home.as_fd()) {
                    return;
                }
            }
        })
        .map_err(helper("spawn thread"))?;
    *slot = Some(tx.clone());
    Ok(tx)
}

fn forget_helper() {
    *HELPER.lock().unwrap_or_else(|p| p.into_inner()) = None;
}

/// Runs `f` inside the network namespace `netns` and returns what it returns; the calling
/// thread's namespace never changes. `f` runs on a long-lived helper thread that `setns`es
/// into `netns` for the call and back to the daemon's namespace after it: one thread for the
/// whole process, woken per call (a thread or a process made per call cost a scheduler round
/// trip each, often milliseconds on a busy 2-CPU machine). Calls are serialised; `f` must not
/// call `run_in` itself (it would wait for itself) nor spawn threads (they would be born in
/// `netns`).
pub fn run_in<T, F>(netns: BorrowedFd<'_>, f: F) -> Result<T, NetnsError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let target = netns
        .try_clone_to_owned()
        .map_err(helper("dup namespace fd"))?;
    let (done, result) = mpsc::sync_channel::<Result<T, NetnsError>>(1);
    let job: Job = Box::new(move |home| {
        let r = setns(&target, CloneFlags::CLONE_NEWNET)
            .map_err(|e| helper("setns")(e.into()))
            .map(|()| f());
        // Home before answering: when `run_in` returns, no thread is left in `netns`.
        let home_again = setns(home, CloneFlags::CLONE_NEWNET).is_ok();
        let _ = done.send(r);
        home_again
    });
    let queue = helper_queue()?;
    if let Err(mpsc::SendError(job)) = queue.send(job) {
        // The helper is gone (it could not return home): start another one.
        forget_helper();
        helper_queue()?
            .send(job)
            .map_err(|_| helper("queue")(io::Error::other("the namespace helper exited")))?;
    }
    result.recv().unwrap_or_else(|_| {
        forget_helper();
        Err(helper("run")(io::Error::other(
            "the namespace helper thread panicked",
        )))
    })
}

/// Which socket to create inside the namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// A `NETLINK_ROUTE` socket: configures links, addresses and routes of that namespace.
    Netlink,
    /// A UDP socket bound to the address.
    Udp(SocketAddrV4),
    /// A TCP socket bound to the address and listening.
    TcpListener(SocketAddrV4),
}

/// Creates a socket of `kind` inside the network namespace `netns` and returns it (close-on-exec).
pub fn socket_in(netns: BorrowedFd<'_>, kind: SocketKind) -> Result<OwnedFd, NetnsError> {
    run_in(netns, move || make_socket(kind))?
}

fn make_socket(kind: SocketKind) -> Result<OwnedFd, NetnsError> {
    let (family, ty, proto, addr) = match kind {
        SocketKind::Netlink => (
            AddressFamily::Netlink,
            SockType::Raw,
            Some(SockProtocol::NetlinkRoute),
            None,
        ),
        SocketKind::Udp(a) => (AddressFamily::Inet, SockType::Datagram, None, Some(a)),
        SocketKind::TcpListener(a) => (AddressFamily::Inet, SockType::Stream, None, Some(a)),
    };
    let sock = socket(family, ty, SockFlag::SOCK_CLOEXEC, proto)
        .map_err(|e| helper("socket")(e.into()))?;
    if let Some(a) = addr {
        setsockopt(&sock, sockopt::ReuseAddr, &true).map_err(|e| helper("setsockopt")(e.into()))?;
        bind(sock.as_raw_fd(), &SockaddrIn::from(a)).map_err(|e| helper("bind")(e.into()))?;
    }
    if matches!(kind, SocketKind::TcpListener(_)) {
        let backlog = Backlog::new(128).map_err(|e| helper("listen")(e.into()))?;
        listen(&sock, backlog).map_err(|e| helper("listen")(e.into()))?;
    }
    Ok(sock)
}
