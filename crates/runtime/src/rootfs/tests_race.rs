//! Unit tests of a destination whose path changes between a mount and what follows it (security
//! catalog CVE-05 with `:ro`): a container sharing a volume above the destination swaps a
//! directory of the path for a symlink right after the mount, as a racer would. The remount, the
//! propagation change and a read-only path's remount still reach the mount just made, never the
//! place the path leads to by then. Against [`RecordingSys`], whose failure rule makes the swap at
//! the recorded call.

use super::tests::{mount, spec, Fixture};
use super::*;
use crate::sys::fake::{Call, RecordingSys};
use nix::mount::MsFlags;
use serde_json::json;
use std::cell::Cell;
use std::os::unix::fs::symlink;
use std::rc::Rc;

/// A rootfs with `/v/x` (the racing directory in a "shared volume") and `/elsewhere/<leaf>`,
/// where the swapped-in symlink `/v/x -> /elsewhere` leads.
fn racing_fixture(leaf: &str) -> Fixture {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.rootfs().join("v/x")).expect("mkdir v/x");
    std::fs::create_dir_all(fx.rootfs().join("elsewhere").join(leaf)).expect("mkdir elsewhere");
    fx
}

/// Swaps `/v/x` for a symlink to `/elsewhere`, once, at the first call `when` picks (the one
/// that puts the mount at the destination).
fn swap_at(sys: &RecordingSys, rootfs: PathBuf, when: impl Fn(&Call) -> bool + 'static) {
    let done = Rc::new(Cell::new(false));
    sys.fail_when(move |c| {
        if when(c) && !done.replace(true) {
            std::fs::rename(rootfs.join("v/x"), rootfs.join("v/old")).expect("rename x");
            symlink("/elsewhere", rootfs.join("v/x")).expect("symlink x");
        }
        None
    });
}

/// The recorded calls after the first that `from` picks.
fn after(sys: &RecordingSys, from: impl Fn(&Call) -> bool) -> Vec<Call> {
    let mounts = sys.mounts();
    let at = mounts.iter().position(from).expect("the call");
    mounts[at + 1..].to_vec()
}

#[test]
fn a_binds_remount_and_propagation_reach_it_after_the_path_changed() {
    let fx = racing_fixture("mnt");
    let src = fx.rootfs().with_file_name("vol");
    std::fs::create_dir(&src).expect("mkdir vol");
    let sys = fx.sys();
    let made = |c: &Call| c.mount_target() == Some("/v/x/mnt");
    swap_at(&sys, fx.rootfs(), made);
    let s = spec(json!({"mounts": [
        {"destination": "/v/x/mnt", "type": "bind", "source": src,
         "options": ["rbind", "ro", "rprivate"]}
    ]}));
    prepare(&s, &fx.rootfs(), &sys).expect("prepare");
    assert!(fx.rootfs().join("v/x").is_symlink(), "the swap happened");
    let rest = after(&sys, made);
    assert_eq!(
        rest,
        [
            mount(
                None,
                "/v/x/mnt",
                None,
                MsFlags::MS_RDONLY | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
                None
            ),
            mount(
                None,
                "/v/x/mnt",
                None,
                MsFlags::MS_PRIVATE | MsFlags::MS_REC,
                None
            ),
        ],
        "went to the mount named by the path now, not to the bind"
    );
}

#[test]
fn a_read_only_paths_remount_reaches_it_after_the_path_changed() {
    let fx = racing_fixture("ro");
    std::fs::create_dir(fx.rootfs().join("v/x/ro")).expect("mkdir ro");
    let sys = fx.sys();
    let made = |c: &Call| c.mount_target() == Some("/v/x/ro");
    swap_at(&sys, fx.rootfs(), made);
    let s = spec(json!({"linux": {"readonlyPaths": ["/v/x/ro"]}}));
    paths::finish(&s, &fx.rootfs(), &sys).expect("finish");
    assert!(fx.rootfs().join("v/x").is_symlink(), "the swap happened");
    let rest = after(&sys, made);
    let [Call::Mount { target, flags, .. }] = rest.as_slice() else {
        panic!("{rest:#?}")
    };
    assert_eq!(target, "/v/x/ro");
    assert!(flags.contains(MsFlags::MS_RDONLY | MsFlags::MS_REMOUNT));
}

#[test]
fn a_file_systems_propagation_is_refused_when_the_path_leads_elsewhere() {
    let fx = racing_fixture("t");
    let sys = fx.sys();
    swap_at(
        &sys,
        fx.rootfs(),
        |c| matches!(c, Call::Mount { fstype: Some(t), .. } if t == "tmpfs"),
    );
    let s = spec(json!({"mounts": [
        {"destination": "/v/x/t", "type": "tmpfs", "source": "tmpfs", "options": ["rshared"]}
    ]}));
    let err = prepare(&s, &fx.rootfs(), &sys).expect_err("propagation elsewhere");
    assert!(
        err.to_string().contains(
            "mounted at /v/x/t but resolves to /elsewhere/t now; refusing to change the \
             propagation of another mount"
        ),
        "{err}"
    );
    let tmpfs = |c: &Call| matches!(c, Call::Mount { fstype: Some(t), .. } if t == "tmpfs");
    assert_eq!(after(&sys, tmpfs), []);
}
