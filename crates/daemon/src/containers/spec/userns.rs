//! A container's user namespace on a daemon with `--userns-remap` ([`crate::userns`]): dockerd's
//! refusals of the host namespaces a remapped container cannot have, and the spec's user
//! namespace — a new one with the daemon's id maps, or none with `--userns host`, or the
//! donor's when the container joins another's PID namespace: `/proc` can be mounted only from
//! the user namespace that owns the PID namespace, so Docker joins the donor's.
//!
//! Not built: joining another container's IPC namespace (`--ipc container:X`) remapped. Docker
//! joins the donor's user namespace there too, but Berth's runtime makes a new PID namespace
//! in the runtime's own user namespace before the init joins the donor's, which then cannot
//! mount `/proc`; and a user namespace of its own cannot mount the donor's mqueue or reach its
//! `/dev/shm`. It is refused by name (use `--userns host`, or share with `--ipc host`).

use serde_json::{json, Value};

use super::namespaces::{IpcMode, Joins, Modes, PidMode};
use crate::error::DaemonError;

/// dockerd's refusals of what a remapped user namespace cannot give
/// (`verifyPlatformContainerSettings`), for a container that is `privileged`, on the host's
/// network (`network_host`) or with the PID mode of `modes`.
pub fn remap_conflicts(
    privileged: bool,
    network_host: bool,
    modes: &Modes,
) -> Result<(), DaemonError> {
    let refuse = |m: &str| Err(DaemonError::InvalidArgument(m.to_string()));
    if privileged {
        return refuse(
            "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode",
        );
    }
    if network_host {
        return refuse(
            "cannot share the host's network namespace when user namespaces are enabled",
        );
    }
    if modes.pid == PidMode::Host {
        return refuse("cannot share the host PID namespace when user namespaces are enabled");
    }
    if let IpcMode::Container(_) = modes.ipc {
        return refuse(
            "joining another container's IPC namespace is not supported with user namespaces \
             (userns-remap) in Berth yet: run both with --userns host, or use another IPC mode",
        );
    }
    Ok(())
}

/// The spec's user namespace on a remapped daemon (`map`: its id maps) and the mappings to write
/// into `linux`: none with `--userns host`; the donor's namespace (no mappings) when the
/// container joins another's PID namespace, as Docker does; else a new one.
pub fn user_namespace(
    modes: &Modes,
    joins: &Joins,
    map: Option<&berth_image::layer::IdMap>,
) -> Option<(Value, Option<(Value, Value)>)> {
    let map = map.filter(|_| !modes.userns_host)?;
    if let Some(ns) = joins.pid.as_ref().and_then(|p| p.parent()) {
        return Some((json!({"type": "user", "path": ns.join("user")}), None));
    }
    let ranges = |r: &[berth_image::layer::IdRange]| {
        r.iter()
            .map(|r| json!({"containerID": r.container, "hostID": r.host, "size": r.size}))
            .collect::<Vec<_>>()
    };
    Some((
        json!({"type": "user"}),
        Some((json!(ranges(&map.uids)), json!(ranges(&map.gids)))),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modes(pid: PidMode, userns_host: bool) -> Modes {
        Modes {
            pid,
            ipc: IpcMode::Private,
            uts_host: false,
            cgroupns_private: false,
            userns_host,
        }
    }

    #[test]
    fn dockerd_refuses_host_namespaces_in_a_remapped_user_namespace() {
        let refused = |r: Result<(), DaemonError>| match r {
            Err(DaemonError::InvalidArgument(m)) => m,
            other => panic!("accepted: {other:?}"),
        };
        let private = modes(PidMode::Private, false);
        assert!(refused(remap_conflicts(true, false, &private))
            .starts_with("privileged mode is incompatible with user namespaces."));
        assert_eq!(
            refused(remap_conflicts(false, true, &private)),
            "cannot share the host's network namespace when user namespaces are enabled"
        );
        assert_eq!(
            refused(remap_conflicts(false, false, &modes(PidMode::Host, false))),
            "cannot share the host PID namespace when user namespaces are enabled"
        );
        assert!(remap_conflicts(false, false, &private).is_ok());
        let mut ipc = modes(PidMode::Private, false);
        ipc.ipc = IpcMode::Container("x".into());
        assert!(refused(remap_conflicts(false, false, &ipc)).contains("--userns host"));
    }

    #[test]
    fn the_user_namespace_is_new_the_donors_or_none() {
        use berth_image::layer::{IdMap, IdRange};
        let range = |host| IdRange {
            container: 0,
            host,
            size: 65536,
        };
        let map = IdMap {
            uids: vec![range(100000)],
            gids: vec![range(200000)],
        };
        let private = modes(PidMode::Private, false);
        let none = Joins::default();
        let (ns, maps) = user_namespace(&private, &none, Some(&map)).unwrap();
        assert_eq!(ns, json!({"type": "user"}));
        let (uids, gids) = maps.unwrap();
        assert_eq!(
            uids,
            json!([{"containerID": 0, "hostID": 100000, "size": 65536}])
        );
        assert_eq!(gids[0]["hostID"], 200000);
        assert!(user_namespace(&private, &none, None).is_none());
        let opted_out = modes(PidMode::Private, true);
        assert!(user_namespace(&opted_out, &none, Some(&map)).is_none());
        let joined = modes(PidMode::Container("x".into()), false);
        let j = Joins {
            pid: Some("/proc/7/ns/pid".into()),
            ipc: None,
        };
        let (ns, maps) = user_namespace(&joined, &j, Some(&map)).unwrap();
        assert_eq!(ns, json!({"type": "user", "path": "/proc/7/ns/user"}));
        assert!(maps.is_none());
        // An IPC donor's namespace is entered from outside: the user namespace is new.
        let ipc = Joins {
            pid: None,
            ipc: Some(super::super::namespaces::IpcJoin {
                namespace: "/proc/7/ns/ipc".into(),
                shm: "/proc/7/root/dev/shm".into(),
            }),
        };
        let (ns, maps) = user_namespace(&private, &ipc, Some(&map)).unwrap();
        assert_eq!(ns, json!({"type": "user"}));
        assert!(maps.is_some());
    }
}
