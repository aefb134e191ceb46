//! A container's user namespace on a daemon with `--userns-remap` ([`crate::userns`]): dockerd's
//! refusals of the host namespaces a remapped container cannot have, and the spec's user
//! namespace — a new one with the daemon's id maps, or the donor's when the container joins
//! another's PID or IPC namespace (a namespace is usable only from the user namespace that owns
//! it, so Docker joins the donor's), or none with `--userns host`.

use berth_api::container::HostConfig;
use serde_json::{json, Value};

use super::namespaces::{Joins, Modes, PidMode};
use crate::error::DaemonError;

/// dockerd's refusals of what a remapped user namespace cannot give (`verifyPlatformContainerSettings`).
pub fn remap_conflicts(host: &HostConfig, modes: &Modes) -> Result<(), DaemonError> {
    let refuse = |m: &str| Err(DaemonError::InvalidArgument(m.to_string()));
    if host.privileged {
        return refuse(
            "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode",
        );
    }
    if host.network_mode.as_deref() == Some("host") {
        return refuse(
            "cannot share the host's network namespace when user namespaces are enabled",
        );
    }
    if modes.pid == PidMode::Host {
        return refuse("cannot share the host PID namespace when user namespaces are enabled");
    }
    Ok(())
}

/// The spec's user namespace on a remapped daemon (`map`: its id maps) and the mappings to write
/// into `linux`: none with `--userns host`; the donor's namespace (no mappings) when the
/// container joins another's PID or IPC namespace, as Docker does; else a new one.
pub fn user_namespace(
    modes: &Modes,
    joins: &Joins,
    map: Option<&berth_image::layer::IdMap>,
) -> Option<(Value, Option<(Value, Value)>)> {
    let map = map.filter(|_| !modes.userns_host)?;
    let donor = joins
        .pid
        .as_ref()
        .or(joins.ipc.as_ref().map(|j| &j.namespace));
    if let Some(ns) = donor.and_then(|p| p.parent()) {
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
    use crate::containers::spec::namespaces::settle;

    fn host(pid: &str, ipc: &str, uts: &str, cgroupns: &str, userns: &str) -> HostConfig {
        let s = |v: &str| (!v.is_empty()).then(|| v.to_string());
        HostConfig {
            pid_mode: s(pid),
            ipc_mode: s(ipc),
            uts_mode: s(uts),
            cgroupns_mode: s(cgroupns),
            userns_mode: s(userns),
            ..Default::default()
        }
    }

    #[test]
    fn a_remapped_daemon_refuses_host_namespaces_unless_userns_is_host() {
        let lookup = |x: &str| Err(DaemonError::NoSuchContainer(x.to_string()));
        let refused = |mut h: HostConfig| match settle(&mut h, "", true, lookup) {
            Err(DaemonError::InvalidArgument(m)) => m,
            other => panic!("accepted: {other:?}"),
        };
        let mut privileged = host("", "", "", "", "");
        privileged.privileged = true;
        assert!(refused(privileged.clone())
            .starts_with("privileged mode is incompatible with user namespaces."));
        let mut net = host("", "", "", "", "");
        net.network_mode = Some("host".into());
        assert_eq!(
            refused(net.clone()),
            "cannot share the host's network namespace when user namespaces are enabled"
        );
        assert_eq!(
            refused(host("host", "", "", "", "")),
            "cannot share the host PID namespace when user namespaces are enabled"
        );
        for mut h in [privileged, net] {
            h.userns_mode = Some("host".into());
            assert!(settle(&mut h, "", true, lookup).is_ok());
            h.userns_mode = None;
            assert!(settle(&mut h, "", false, lookup).is_ok());
        }
    }

    #[test]
    fn the_user_namespace_is_new_the_donors_or_none() {
        use berth_image::layer::{IdMap, IdRange};
        let map = IdMap {
            uids: vec![IdRange {
                container: 0,
                host: 100000,
                size: 65536,
            }],
            gids: vec![IdRange {
                container: 0,
                host: 200000,
                size: 65536,
            }],
        };
        let private = Modes::parse(&host("", "", "", "host", "")).unwrap();
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
        let opted_out = Modes::parse(&host("", "", "", "host", "host")).unwrap();
        assert!(user_namespace(&opted_out, &none, Some(&map)).is_none());
        let joined = Modes::parse(&host("container:x", "", "", "", "")).unwrap();
        let j = Joins {
            pid: Some("/proc/7/ns/pid".into()),
            ipc: None,
        };
        let (ns, maps) = user_namespace(&joined, &j, Some(&map)).unwrap();
        assert_eq!(ns, json!({"type": "user", "path": "/proc/7/ns/user"}));
        assert!(maps.is_none());
    }
}
