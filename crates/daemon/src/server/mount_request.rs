//! The mounts of Docker's create request in the engine's terms ([`Mount`], [`VolumesFrom`]):
//! `Binds` strings (`/host:/ctr[:mode]` binds, `name:/ctr[:mode]` named volumes, `/ctr`
//! anonymous ones, with `VolumeDriver`), `Mounts` of types `bind`, `volume` (with its
//! `VolumeOptions`, `Subpath` included) and `tmpfs`, `Tmpfs`, and `VolumesFrom`; checked with
//! Docker's rules and words (modes, absolute destinations, no volume over `/proc`, a subpath
//! that stays inside its named volume).

use berth_api::container::{BindOptions, HostConfig, Mount as ApiMount};
use berth_api::volume::VolumeOptions;
use berth_api::ApiVersion;
use serde_json::Value;

use crate::containers::settings::{Mount, MountKind, VolumeMount, VolumesFrom};
use crate::error::DaemonError;

fn invalid(msg: String) -> DaemonError {
    DaemonError::InvalidArgument(msg)
}

fn check_destination(dest: &str, what: &str) -> Result<(), DaemonError> {
    if !dest.starts_with('/') {
        return Err(invalid(format!(
            "invalid mount config for type \"{what}\": invalid mount path: '{dest}' mount path must be absolute"
        )));
    }
    if clean(dest) == "/" {
        return Err(invalid(format!(
            "invalid mount config for type \"{what}\": invalid specification: destination can't be '/'"
        )));
    }
    Ok(())
}

/// An absolute path cleaned lexically (`//`, `.`, `..` and a trailing `/` gone), as Go's
/// `path.Clean`: what a volume's destination is compared and mounted as.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Refuses a volume over `/proc` (security catalog CVE-06): the runtime mounts procfs there, and
/// a volume could hide it or hand the container a fake one.
fn check_volume_destination(dest: &str) -> Result<String, DaemonError> {
    check_destination(dest, "volume")?;
    let dest = clean(dest);
    if dest == "/proc" || dest.starts_with("/proc/") {
        return Err(invalid(format!(
            "invalid mount config for type \"volume\": a volume cannot be mounted on {dest}: /proc must be mounted on ordinary directory"
        )));
    }
    Ok(dest)
}

/// The kinds of word a `Binds` mode may hold, each at most once (Docker's
/// `linuxValidMountMode`); `None` for a word Docker does not know.
fn mode_word_kind(word: &str) -> Option<u8> {
    match word {
        "ro" | "rw" => Some(0),
        "z" | "Z" => Some(1),
        "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => Some(2),
        "nocopy" => Some(3),
        "consistent" | "cached" | "delegated" => Some(4),
        _ => None,
    }
}

/// Whether `mode` is a valid `Binds` mode (empty included).
fn valid_mode(mode: &str) -> bool {
    let mut seen = [0u8; 5];
    for word in mode.split(',').filter(|w| !w.is_empty()) {
        match mode_word_kind(word) {
            Some(k) => seen[usize::from(k)] += 1,
            None => return false,
        }
    }
    seen.iter().all(|n| *n <= 1)
}

fn mode_has(mode: &str, word: &str) -> bool {
    mode.split(',').any(|w| w == word)
}

/// One `Binds` entry: `/host:/ctr[:mode]` (a bind), `name:/ctr[:mode]` (a named volume, of
/// `volume_driver` when it is created) or `/ctr` (an anonymous volume).
fn parse_bind(spec: &str, volume_driver: &str) -> Result<Mount, DaemonError> {
    let bad_spec = || invalid(format!("invalid volume specification: '{spec}'"));
    let parts: Vec<&str> = spec.splitn(4, ':').collect();
    let (source, dest, mode) = match parts.as_slice() {
        [""] | ["", ..] => return Err(bad_spec()),
        [d] => ("", *d, ""),
        // `/ctr:ro` is a destination with a mode, which a volume cannot have.
        [_, m] if valid_mode(m) => return Err(bad_spec()),
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => return Err(bad_spec()),
    };
    if !valid_mode(mode) {
        return Err(invalid(format!("invalid mode: {mode}")));
    }
    let read_only = mode_has(mode, "ro");
    let propagation: Vec<String> = mode
        .split(',')
        .filter(|w| mode_word_kind(w) == Some(2))
        .map(String::from)
        .collect();
    if !source.starts_with('/') {
        let dest = check_volume_destination(dest)
            .map_err(|e| invalid(format!("invalid volume specification: '{spec}': {e}")))?;
        if !propagation.is_empty() {
            return Err(invalid(format!(
                "invalid volume specification: '{spec}': invalid mount config for type \"volume\": field BindOptions must not be specified"
            )));
        }
        return Ok(Mount {
            kind: MountKind::Volume,
            source: source.to_string(),
            destination: dest,
            read_only,
            options: Vec::new(),
            create_source: false,
            mode: mode.to_string(),
            volume: Some(VolumeMount {
                driver: volume_driver.to_string(),
                nocopy: mode_has(mode, "nocopy"),
                anonymous: source.is_empty(),
                ..Default::default()
            }),
        });
    }
    check_destination(dest, "bind")?;
    Ok(Mount {
        kind: MountKind::Bind,
        source: source.to_string(),
        destination: dest.to_string(),
        read_only,
        options: propagation,
        // `-v` makes a missing host directory, as Docker does.
        create_source: true,
        mode: mode.to_string(),
        volume: None,
    })
}

/// A `Mounts` entry of type `volume` (`--mount type=volume,src=NAME,dst=/ctr,volume-nocopy,
/// volume-driver=D,volume-opt=K=V,volume-label=K=V`).
fn volume_mount(m: &ApiMount) -> Result<Mount, DaemonError> {
    let dest = check_volume_destination(&m.target)?;
    let config = |e: String| invalid(format!("invalid mount config for type \"volume\": {e}"));
    if m.bind_options.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(config("field BindOptions must not be specified".into()));
    }
    if m.tmpfs_options.is_some() {
        return Err(config("field TmpfsOptions must not be specified".into()));
    }
    let opts: VolumeOptions = match &m.volume_options {
        None | Some(Value::Null) => VolumeOptions::default(),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| config(format!("invalid VolumeOptions: {e}")))?,
    };
    let anonymous = m.source.is_empty();
    if anonymous && m.read_only {
        return Err(config(
            "must not set ReadOnly mode when using anonymous volumes".into(),
        ));
    }
    if !opts.subpath.is_empty() {
        if anonymous {
            return Err(config(
                "must not set Subpath when using anonymous volumes".into(),
            ));
        }
        if !crate::volumes::subpath::check(&opts.subpath) {
            return Err(config(
                "subpath must be a relative path within the volume".into(),
            ));
        }
    }
    let driver = opts.driver_config.unwrap_or_default();
    Ok(Mount {
        kind: MountKind::Volume,
        source: m.source.clone(),
        destination: dest,
        read_only: m.read_only,
        options: Vec::new(),
        create_source: false,
        mode: String::new(),
        volume: Some(VolumeMount {
            driver: driver.name,
            labels: opts.labels.unwrap_or_default(),
            driver_options: driver.options.unwrap_or_default(),
            nocopy: opts.no_copy,
            anonymous,
            subpath: opts.subpath,
            ..Default::default()
        }),
    })
}

/// A `Mounts` entry of type `bind` (`--mount type=bind,src=/h,dst=/c,bind-propagation=rslave`;
/// compose's `bind: {propagation, create_host_path}`): its `BindOptions` act, or are refused by
/// name when the engine cannot honour them.
fn bind_mount(m: &ApiMount) -> Result<Mount, DaemonError> {
    let config = |e: &str| invalid(format!("invalid mount config for type \"bind\": {e}"));
    if m.volume_options.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(config("field VolumeOptions must not be specified"));
    }
    if m.tmpfs_options.is_some() {
        return Err(config("field TmpfsOptions must not be specified"));
    }
    let opts: BindOptions = match &m.bind_options {
        None | Some(Value::Null) => BindOptions::default(),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| config(&format!("invalid BindOptions: {e}")))?,
    };
    if opts.non_recursive {
        return Err(config("BindOptions.NonRecursive is not supported"));
    }
    let mut options = Vec::new();
    if let Some(p) = opts.propagation.filter(|p| !p.is_empty()) {
        if mode_word_kind(&p) != Some(2) {
            return Err(config(&format!("invalid propagation mode: {p}")));
        }
        options.push(p);
    }
    Ok(Mount {
        kind: MountKind::Bind,
        source: m.source.clone(),
        destination: m.target.clone(),
        read_only: m.read_only,
        options,
        create_source: opts.create_mountpoint,
        mode: String::new(),
        volume: None,
    })
}

/// Refuses a mount field older API versions did not have, as Docker's router does: a volume
/// mount's `VolumeOptions.Subpath` needs 1.45.
pub fn check_api_version(host: &HostConfig, version: ApiVersion) -> Result<(), DaemonError> {
    let subpath = host.mounts.iter().flatten().any(|m| {
        m.volume_options
            .as_ref()
            .and_then(|o| o.get("Subpath"))
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    });
    if subpath && !version.at_least(1, 45) {
        return Err(invalid(
            "VolumeOptions.Subpath needs API v1.45 or newer".into(),
        ));
    }
    Ok(())
}

/// Every user mount of `host`: `Binds`, then `Mounts` (types `bind`, `volume` and `tmpfs`), then
/// `Tmpfs`.
pub fn mounts(host: &HostConfig) -> Result<Vec<Mount>, DaemonError> {
    let volume_driver = host.volume_driver.as_deref().unwrap_or("");
    let mut out = Vec::new();
    for b in host.binds.iter().flatten() {
        out.push(parse_bind(b, volume_driver)?);
    }
    for m in host.mounts.iter().flatten() {
        if m.kind == "volume" {
            out.push(volume_mount(m)?);
            continue;
        }
        check_destination(&m.target, &m.kind)?;
        match m.kind.as_str() {
            "bind" => out.push(bind_mount(m)?),
            "tmpfs" => {
                if m.bind_options.as_ref().is_some_and(|v| !v.is_null()) {
                    return Err(invalid(
                        "invalid mount config for type \"tmpfs\": field BindOptions must not be specified".into(),
                    ));
                }
                let mut options = Vec::new();
                if let Some(t) = &m.tmpfs_options {
                    if let Some(size) = t.size_bytes.filter(|s| *s > 0) {
                        options.push(format!("size={size}"));
                    }
                    if let Some(mode) = t.mode {
                        options.push(format!("mode={mode:o}"));
                    }
                }
                out.push(Mount {
                    kind: MountKind::Tmpfs,
                    source: String::new(),
                    destination: m.target.clone(),
                    read_only: m.read_only,
                    options,
                    create_source: false,
                    mode: String::new(),
                    volume: None,
                });
            }
            other => {
                return Err(invalid(format!(
                    "invalid mount config: mount type unknown: {other:?}"
                )))
            }
        }
    }
    for (dest, opts) in host.tmpfs.iter().flatten() {
        check_destination(dest, "tmpfs")?;
        let options: Vec<String> = opts
            .split(',')
            .filter(|o| !o.is_empty())
            .map(String::from)
            .collect();
        out.push(Mount {
            kind: MountKind::Tmpfs,
            source: String::new(),
            destination: dest.clone(),
            read_only: options.iter().any(|o| o == "ro"),
            options,
            create_source: false,
            mode: String::new(),
            volume: None,
        });
    }
    Ok(out)
}

/// `VolumesFrom`: `container[:ro|rw]` (a label mode `z`/`Z` allowed beside; no propagation and
/// no `nocopy`, as Docker refuses them).
pub fn volumes_from(host: &HostConfig) -> Result<Vec<VolumesFrom>, DaemonError> {
    let mut out = Vec::new();
    for spec in host.volumes_from.iter().flatten() {
        if spec.is_empty() {
            return Err(invalid(
                "volumes-from specification cannot be an empty string".into(),
            ));
        }
        let (container, mode) = spec.split_once(':').unwrap_or((spec, ""));
        let refused = mode
            .split(',')
            .any(|w| matches!(mode_word_kind(w), Some(2 | 3)));
        if !valid_mode(mode) || refused {
            return Err(invalid(format!("invalid mode: {mode}")));
        }
        out.push(VolumesFrom {
            container: container.to_string(),
            read_only: mode_has(mode, "ro"),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn binds_parse_like_docker() {
        let m = parse_bind("/src:/data:ro", "").unwrap();
        assert!(m.read_only && m.create_source);
        assert_eq!((m.destination.as_str(), m.mode.as_str()), ("/data", "ro"));
        let m = parse_bind("/src:/data:rw,rslave", "").unwrap();
        assert_eq!(m.propagation(), Some("rslave"));
        assert!(parse_bind("/src:data", "").is_err());
        assert!(parse_bind("/src:/", "").is_err());
        assert!(parse_bind("/src:/data:bogus", "").is_err());
        assert!(parse_bind("/src:/data:ro,rw", "").is_err());
        assert!(parse_bind("/data:ro", "").is_err());
        assert!(parse_bind(":/data", "").is_err());
    }

    #[test]
    fn tmpfs_and_mounts() {
        let host: HostConfig = serde_json::from_value(json!({
            "Mounts": [{"Type": "bind", "Source": "/usr", "Target": "/u", "ReadOnly": true},
                       {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1024, "Mode": 448}}],
            "Tmpfs": {"/scratch": "size=1m,ro"}
        }))
        .unwrap();
        let m = mounts(&host).unwrap();
        assert_eq!(m.len(), 3);
        assert!(!m[0].create_source && m[0].read_only);
        assert_eq!(m[1].options, ["size=1024", "mode=700"]);
        assert!(m[2].read_only);
        let bad: HostConfig =
            serde_json::from_value(json!({"Mounts": [{"Type": "nope", "Target": "/v"}]})).unwrap();
        assert!(mounts(&bad).is_err());
        let host: HostConfig = serde_json::from_value(json!({
            "Mounts": [{"Type": "bind", "Source": "/usr", "Target": "/u",
                        "BindOptions": {"Propagation": "rslave", "CreateMountpoint": true}}]
        }))
        .unwrap();
        let m = mounts(&host).unwrap();
        assert_eq!(m[0].propagation(), Some("rslave"));
        assert!(m[0].create_source);
        for (opts, why) in [
            (
                json!({"BindOptions": {"NonRecursive": true}}),
                "BindOptions.NonRecursive is not supported",
            ),
            (
                json!({"BindOptions": {"Propagation": "bogus"}}),
                "invalid propagation mode: bogus",
            ),
            (
                json!({"VolumeOptions": {"NoCopy": true}}),
                "field VolumeOptions must not be specified",
            ),
        ] {
            let mut mount = json!({"Type": "bind", "Source": "/usr", "Target": "/u"});
            mount
                .as_object_mut()
                .unwrap()
                .extend(opts.as_object().unwrap().clone());
            let bad: HostConfig = serde_json::from_value(json!({ "Mounts": [mount] })).unwrap();
            assert_eq!(
                mounts(&bad).unwrap_err().to_string(),
                format!("invalid mount config for type \"bind\": {why}")
            );
        }
        let bad: HostConfig = serde_json::from_value(json!({
            "Mounts": [{"Type": "tmpfs", "Target": "/t", "BindOptions": {"Propagation": "rslave"}}]
        }))
        .unwrap();
        assert!(mounts(&bad).is_err());
    }

    #[test]
    fn volumes_in_binds_mounts_and_volumes_from() {
        let m = parse_bind("data:/srv/../data/:ro,nocopy", "drv").unwrap();
        assert_eq!(m.kind, MountKind::Volume);
        assert_eq!(
            (m.source.as_str(), m.destination.as_str()),
            ("data", "/data")
        );
        assert_eq!(m.mode, "ro,nocopy");
        let v = m.volume.unwrap();
        assert!(m.read_only && v.nocopy && !v.anonymous);
        assert_eq!(v.driver, "drv");
        let anon = parse_bind("/cache", "").unwrap();
        assert_eq!(anon.kind, MountKind::Volume);
        assert!(anon.source.is_empty() && anon.volume.unwrap().anonymous);
        let e = parse_bind("data:/proc", "").unwrap_err().to_string();
        assert!(e.contains("/proc"), "{e}");
        assert!(parse_bind("data:/proc/sys", "").is_err());
        assert!(parse_bind("data:/x:rshared", "").is_err());
        let host: HostConfig = serde_json::from_value(json!({
            "Mounts": [{"Type": "volume", "Source": "v", "Target": "/v",
                        "VolumeOptions": {"NoCopy": true, "Labels": {"a": "b"},
                                          "DriverConfig": {"Name": "local",
                                                           "Options": {"type": "tmpfs"}}}},
                       {"Type": "volume", "Target": "/anon"}],
            "VolumesFrom": ["other:ro", "third"],
            "VolumeDriver": "x"
        }))
        .unwrap();
        let m = mounts(&host).unwrap();
        let v = m[0].volume.clone().unwrap();
        assert!(v.nocopy && !v.anonymous);
        assert_eq!(v.labels["a"], "b");
        assert_eq!(v.driver_options["type"], "tmpfs");
        assert!(m[1].volume.clone().unwrap().anonymous);
        assert_eq!(m[1].volume.clone().unwrap().driver, "");
        let from = volumes_from(&host).unwrap();
        assert_eq!(from.len(), 2);
        assert!(from[0].read_only && !from[1].read_only);
        assert_eq!(from[0].container, "other");
        let sub: HostConfig = serde_json::from_value(json!({
            "Mounts": [{"Type": "volume", "Source": "v", "Target": "/v",
                        "VolumeOptions": {"Subpath": "a/../b/c"}}]
        }))
        .unwrap();
        assert_eq!(
            mounts(&sub).unwrap()[0].volume.clone().unwrap().subpath,
            "a/../b/c"
        );
        for (source, subpath, why) in [
            (
                "v",
                "../up",
                "subpath must be a relative path within the volume",
            ),
            (
                "v",
                "/abs",
                "subpath must be a relative path within the volume",
            ),
            ("", "x", "must not set Subpath when using anonymous volumes"),
        ] {
            let bad: HostConfig = serde_json::from_value(json!({
                "Mounts": [{"Type": "volume", "Source": source, "Target": "/v",
                            "VolumeOptions": {"Subpath": subpath}}]
            }))
            .unwrap();
            assert_eq!(
                mounts(&bad).unwrap_err().to_string(),
                format!("invalid mount config for type \"volume\": {why}")
            );
        }
        assert!(check_api_version(&sub, ApiVersion::new(1, 45)).is_ok());
        assert_eq!(
            check_api_version(&sub, ApiVersion::new(1, 44))
                .unwrap_err()
                .to_string(),
            "VolumeOptions.Subpath needs API v1.45 or newer"
        );
        let ro_anon: HostConfig = serde_json::from_value(json!({
            "Mounts": [{"Type": "volume", "Target": "/anon", "ReadOnly": true}]
        }))
        .unwrap();
        assert!(mounts(&ro_anon).is_err());
        for bad in ["c:rshared", "c:nocopy", "", "c:bogus"] {
            let host = HostConfig {
                volumes_from: Some(vec![bad.to_string()]),
                ..Default::default()
            };
            assert!(volumes_from(&host).is_err(), "{bad}");
        }
    }
}
