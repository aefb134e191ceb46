//! Loading and validating a bundle's `config.json` into an [`oci_spec::runtime::Spec`], and the
//! default spec that `berth runtime spec` writes. Errors name the offending field (e.g.
//! `linux.namespaces[2].type`), so a user can fix the file without guessing.

use berth_oci::runtime::{LinuxNamespaceType, Spec};
use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid {path}: field `{field}`: {message}")]
    Invalid {
        path: PathBuf,
        field: String,
        message: String,
    },
}

/// Reads and validates `<bundle>/config.json`.
pub fn load(bundle: &Path) -> Result<Spec, SpecError> {
    let path = bundle.join("config.json");
    let text = std::fs::read(&path).map_err(|source| SpecError::Read {
        path: path.clone(),
        source,
    })?;
    let de = &mut serde_json::Deserializer::from_slice(&text);
    let spec: Spec = serde_path_to_error::deserialize(de).map_err(|e| SpecError::Invalid {
        path: path.clone(),
        field: e.path().to_string(),
        message: e.inner().to_string(),
    })?;
    validate(&spec, bundle).map_err(|(field, message)| SpecError::Invalid {
        path,
        field,
        message,
    })?;
    Ok(spec)
}

/// The bundle's root filesystem directory, `root.path` resolved against the bundle.
pub fn rootfs_path(spec: &Spec, bundle: &Path) -> PathBuf {
    let root = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .unwrap_or_default();
    bundle.join(root)
}

/// Semantic checks that serde cannot express; returns the failing field and why.
fn validate(spec: &Spec, bundle: &Path) -> Result<(), (String, String)> {
    let fail = |field: &str, msg: String| Err((field.to_string(), msg));
    let version = spec.version();
    if !version.starts_with("1.") {
        return fail(
            "ociVersion",
            format!("unsupported version {version:?}, want 1.x"),
        );
    }
    let Some(root) = spec.root() else {
        return fail(
            "root",
            "missing; set root.path to the rootfs directory".into(),
        );
    };
    if root.path().as_os_str().is_empty() {
        return fail("root.path", "empty; set it to the rootfs directory".into());
    }
    let rootfs = rootfs_path(spec, bundle);
    if !rootfs.is_dir() {
        return fail(
            "root.path",
            format!(
                "rootfs {} does not exist or is not a directory",
                rootfs.display()
            ),
        );
    }
    let Some(process) = spec.process() else {
        return fail(
            "process",
            "missing; the container needs a process to run".into(),
        );
    };
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return fail(
            "process.args",
            "empty; give at least the program to run".into(),
        );
    }
    if !process.cwd().is_absolute() {
        return fail(
            "process.cwd",
            format!("{:?} is not absolute", process.cwd()),
        );
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let dest = m.destination();
        if !dest.is_absolute() {
            return fail(
                &format!("mounts[{i}].destination"),
                format!("{} is not absolute", dest.display()),
            );
        }
        if dest.components().any(|c| c == Component::ParentDir) {
            return fail(
                &format!("mounts[{i}].destination"),
                format!("{} contains `..`", dest.display()),
            );
        }
    }
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let mut seen = HashSet::new();
    // A uts namespace of the container's own, new or joined by path (runc's rule): the hostname
    // is set there, never in the runtime's.
    let mut own_uts = false;
    let mut user = false;
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        if !seen.insert(ns.typ()) {
            return fail(
                &format!("linux.namespaces[{i}].type"),
                format!("namespace {} listed twice", ns.typ()),
            );
        }
        if ns.typ() == LinuxNamespaceType::Time {
            return fail(
                &format!("linux.namespaces[{i}].type"),
                "time namespaces are not supported".into(),
            );
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return fail(
                    &format!("linux.namespaces[{i}].path"),
                    format!("{} is not absolute", p.display()),
                );
            }
        }
        own_uts |= ns.typ() == LinuxNamespaceType::Uts;
        user |= ns.typ() == LinuxNamespaceType::User && ns.path().is_none();
    }
    for (field, value) in [
        ("hostname", spec.hostname()),
        ("domainname", spec.domainname()),
    ] {
        if value.as_ref().is_some_and(|h| !h.is_empty()) && !own_uts {
            return fail(
                field,
                "set, but the container has no uts namespace of its own (add {\"type\": \"uts\"}, \
                 with or without a path)"
                    .into(),
            );
        }
    }
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if user && !has_maps {
        return fail(
            "linux.uidMappings",
            "a new user namespace needs uid mappings".into(),
        );
    }
    if !user && has_maps {
        return fail(
            "linux.uidMappings",
            "set, but there is no new user namespace".into(),
        );
    }
    if let Some(cg) = linux.cgroups_path() {
        if cg.components().any(|c| c == Component::ParentDir) {
            return fail(
                "linux.cgroupsPath",
                format!("{} contains `..`", cg.display()),
            );
        }
    }
    Ok(())
}

/// The spec `berth runtime spec` writes: a runc-like default running `sh` with a terminal, in new
/// pid, network, ipc, uts and mount namespaces, with a read-only `rootfs`.
pub fn default_spec() -> Spec {
    let mut spec = Spec::default();
    spec.set_version("1.0.2".into());
    spec.set_hostname(Some("berth".into()));
    if let Some(p) = spec.process_mut() {
        p.set_terminal(Some(true));
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_with(config: serde_json::Value) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
        dir
    }

    fn default_json() -> serde_json::Value {
        serde_json::to_value(default_spec()).unwrap()
    }

    fn field_of(err: SpecError) -> String {
        match err {
            SpecError::Invalid { field, .. } => field,
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn default_spec_loads() {
        let dir = bundle_with(default_json());
        load(dir.path()).unwrap();
    }

    #[test]
    fn malformed_json_is_refused() {
        let dir = bundle_with(serde_json::json!({}));
        std::fs::write(dir.path().join("config.json"), "{ nope").unwrap();
        assert!(matches!(load(dir.path()), Err(SpecError::Invalid { .. })));
    }

    #[test]
    fn unknown_namespace_names_the_field() {
        let mut c = default_json();
        c["linux"]["namespaces"][1]["type"] = "bogus".into();
        let err = load(bundle_with(c).path()).unwrap_err();
        assert_eq!(field_of(err), "linux.namespaces[1].type");
    }

    #[test]
    fn duplicate_namespace_is_refused() {
        let mut c = default_json();
        c["linux"]["namespaces"][1]["type"] = c["linux"]["namespaces"][0]["type"].clone();
        let err = load(bundle_with(c).path()).unwrap_err();
        assert_eq!(field_of(err), "linux.namespaces[1].type");
    }

    #[test]
    fn missing_rootfs_is_refused() {
        let mut c = default_json();
        c["root"]["path"] = "nowhere".into();
        let err = load(bundle_with(c).path()).unwrap_err();
        assert_eq!(field_of(err), "root.path");
    }

    #[test]
    fn relative_mount_destination_is_refused() {
        let mut c = default_json();
        c["mounts"][0]["destination"] = "proc".into();
        let err = load(bundle_with(c).path()).unwrap_err();
        assert_eq!(field_of(err), "mounts[0].destination");
    }

    fn set_uts(c: &mut serde_json::Value, uts: Option<serde_json::Value>) {
        let list = c["linux"]["namespaces"].as_array_mut().unwrap();
        list.retain(|n| n["type"] != "uts");
        list.extend(uts);
    }

    #[test]
    fn hostname_is_allowed_in_a_uts_namespace_joined_by_path() {
        let mut c = default_json();
        set_uts(
            &mut c,
            Some(serde_json::json!({"type": "uts", "path": "/proc/1/ns/uts"})),
        );
        load(bundle_with(c).path()).unwrap();
    }

    #[test]
    fn hostname_without_a_uts_namespace_is_refused() {
        let mut c = default_json();
        set_uts(&mut c, None);
        let err = load(bundle_with(c).path()).unwrap_err();
        assert_eq!(field_of(err), "hostname");
    }

    #[test]
    fn old_oci_version_is_refused() {
        let mut c = default_json();
        c["ociVersion"] = "0.9".into();
        let err = load(bundle_with(c).path()).unwrap_err();
        assert_eq!(field_of(err), "ociVersion");
    }
}
