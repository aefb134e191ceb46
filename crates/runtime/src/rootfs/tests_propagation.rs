//! Unit tests of `linux.rootfsPropagation` (held back and re-applied around the pivot) and of a
//! container without a mount namespace of its own (no root touched, chroot), against
//! [`RecordingSys`].

use super::tests::{mount, spec, Fixture};
use super::*;
use crate::sys::fake::Call;
use nix::mount::MsFlags;
use serde_json::json;

#[test]
fn bad_rootfs_propagation_names_the_field() {
    let fx = Fixture::new();
    let s = spec(json!({"linux": {"rootfsPropagation": "sideways"}}));
    let err = prepare(&s, &fx.rootfs(), &fx.sys()).expect_err("invalid");
    assert!(
        err.to_string()
            .contains("linux.rootfsPropagation \"sideways\""),
        "{err}"
    );
}

#[test]
fn shared_rootfs_propagation_is_applied_to_root() {
    let fx = Fixture::new();
    let sys = fx.sys();
    let s = spec(json!({"linux": {"rootfsPropagation": "rshared"}}));
    prepare(&s, &fx.rootfs(), &sys).expect("prepare");
    assert_eq!(
        sys.mounts()[0],
        mount(None, "/", None, MsFlags::MS_SHARED | MsFlags::MS_REC, None)
    );
}

#[test]
fn without_a_mount_namespace_neither_root_is_touched_and_mounts_go_below_the_rootfs() {
    let fx = Fixture::new();
    let sys = fx.sys();
    let s = spec(json!({
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"namespaces": [{"type": "pid"}]}
    }));
    assert!(shared::applies(&s));
    prepare(&s, &fx.rootfs(), &sys).expect("prepare");
    assert_eq!(
        sys.mounts(),
        [mount(
            Some("proc"),
            "/proc",
            Some("proc"),
            MsFlags::empty(),
            None
        )],
        "no propagation change of /, no second bind of the rootfs"
    );
}

#[test]
fn chroot_enters_without_pivot_or_move() {
    let fx = Fixture::new();
    let sys = fx.sys();
    chroot(&fx.rootfs(), &sys).expect("chroot");
    assert_eq!(
        sys.calls(),
        [
            Call::Chdir("/".into()),
            Call::Chroot(".".into()),
            Call::Chdir("/".into()),
        ]
    );
}

#[test]
fn unbindable_propagation_waits_until_after_the_pivot() {
    let fx = Fixture::new();
    let sys = fx.sys();
    let s = spec(json!({"linux": {"rootfsPropagation": "unbindable",
        "namespaces": [{"type": "mount"}]}}));
    prepare(&s, &fx.rootfs(), &sys).expect("prepare");
    assert_eq!(
        sys.mounts()[0],
        mount(None, "/", None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None),
        "the rootfs must still be bindable"
    );
    let after = fx.sys();
    mounts::apply_root_propagation(&s, &fx.rootfs(), &after).expect("apply");
    assert_eq!(
        after.mounts(),
        [mount(None, "/", None, MsFlags::MS_UNBINDABLE, None)]
    );
}

#[test]
fn shared_propagation_is_given_to_the_new_root_mount_alone() {
    let fx = Fixture::new();
    let sys = fx.sys();
    let s = spec(json!({"linux": {"rootfsPropagation": "rshared",
        "namespaces": [{"type": "mount"}]}}));
    mounts::apply_root_propagation(&s, &fx.rootfs(), &sys).expect("apply");
    assert_eq!(
        sys.mounts(),
        [mount(None, "/", None, MsFlags::MS_SHARED, None)]
    );
    let unset = fx.sys();
    mounts::apply_root_propagation(&spec(json!({})), &fx.rootfs(), &unset).expect("apply");
    assert!(unset.calls().is_empty());
}
