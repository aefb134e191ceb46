//! Work done inside another network namespace without the caller ever changing its own.
//!
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
