//! Opt-in, unique names and Drop guards for the root tests.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use berth_network::bridge;
use berth_network::ifname::IfName;
use berth_network::netlink::Netlink;

/// The root-test gate's run-time half. Every test that calls it carries
/// `#[cfg_attr(not(root_tests), ignore = ...)]` (crates/build-support/root_tests.rs), so it
/// runs only when built with `BERTH_ROOT_TESTS=1`, and then must run as root.
pub fn root_tests() -> bool {
    if !cfg!(root_tests) {
        panic!("a root test without #[cfg_attr(not(root_tests), ignore = ...)]");
    }
    assert!(
        nix::unistd::geteuid().is_root(),
        "BERTH_ROOT_TESTS=1 but not running as root"
    );
    true
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A short unique name: `<prefix><pid%100000>x<n>` (fits IFNAMSIZ for prefixes up to 4 chars).
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}x{n}", std::process::id() % 100_000)
}

pub fn run(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {cmd}: {e}"))
}

pub fn run_ok(cmd: &str, args: &[&str]) -> String {
    let out = run(cmd, args);
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A named network namespace (`ip netns add`), deleted on drop.
pub struct Netns {
    pub name: String,
    pub fd: OwnedFd,
}

impl Netns {
    pub fn new() -> Netns {
        let name = unique("bt-");
        run_ok("ip", &["netns", "add", &name]);
        let fd = File::open(format!("/run/netns/{name}"))
            .expect("open netns")
            .into();
        Netns { name, fd }
    }

    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Runs a command inside the namespace.
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut all = vec!["netns", "exec", self.name.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.name]);
    }
}

/// A bridge created through the library, removed on drop.
pub struct Bridge {
    pub name: String,
}

impl Bridge {
    pub fn new(gateway: std::net::Ipv4Addr, prefix: u8) -> Bridge {
        let name = unique("btb");
        let mut nl = Netlink::open().expect("netlink");
        // Own the name before creating, so a failing `ensure` is still cleaned up.
        let guard = Bridge { name };
        bridge::ensure(&mut nl, &guard.ifname(), gateway, prefix).expect("create bridge");
        guard
    }

    /// The name as the firewall and [`bridge::ensure`] take it.
    pub fn ifname(&self) -> IfName {
        IfName::new(&self.name).expect("a valid test bridge name")
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Ok(mut nl) = Netlink::open() {
            let _ = bridge::remove(&mut nl, &self.name);
        }
    }
}

/// Whether a link of this name exists in the host namespace.
pub fn link_exists(name: &str) -> bool {
    run("ip", &["link", "show", "dev", name]).status.success()
}

/// Turns ip_forward on while any holder lives; the last one restores the value found by the first.
pub struct IpForward;

static FORWARD: std::sync::Mutex<(u32, bool)> = std::sync::Mutex::new((0, false));

impl IpForward {
    pub fn on() -> IpForward {
        let mut g = FORWARD.lock().unwrap_or_else(|p| p.into_inner());
        let before = berth_network::firewall::set_ip_forward(true).expect("enable ip_forward");
        if g.0 == 0 {
            g.1 = before;
        }
        g.0 += 1;
        IpForward
    }
}

impl Drop for IpForward {
    fn drop(&mut self) {
        let mut g = FORWARD.lock().unwrap_or_else(|p| p.into_inner());
        g.0 -= 1;
        if g.0 == 0 {
            let _ = berth_network::firewall::set_ip_forward(g.1);
        }
    }
}

/// Berth's table under a unique name, deleted on drop.
pub struct Table(pub berth_network::firewall::Firewall);

impl Table {
    pub fn new() -> Table {
        Table(berth_network::firewall::Firewall {
            table: unique("bt"),
            nft: "nft".into(),
        })
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        let _ = self.0.remove();
    }
}

pub fn nft_tables() -> String {
    run_ok("nft", &["list", "tables"])
}
