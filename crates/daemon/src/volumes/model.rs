//! What a volume is in the engine's terms: the [`Volume`] record the store keeps, the requests of
//! the service's verbs ([`CreateVolume`], [`VolumeFilter`], [`PruneFilter`]), and the checks Docker
//! makes of a name and of the local driver's options, with Docker's words.
//!
//! Vocabulary: a volume's *references* are the containers that name it (created, running or
//! stopped: such a volume cannot be removed); its *mounts* are the holders that have its files in
//! use right now (a running container, a `docker cp`), each under a reference id of its own. A
//! local volume created with `type`/`device` is *mounted* (its file system on `_data`) while it
//! has at least one mount.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::DaemonError;

/// The built-in driver's name.
pub const LOCAL: &str = "local";

/// The label Docker (23+) puts on a volume made without a name; prune removes only these unless
/// asked for all.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// Where a volume's files are visible to other machines' daemons too (a plugin's `Capabilities`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    #[default]
    Local,
    Global,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Local => "local",
            Scope::Global => "global",
        }
    }
}

/// A volume: what the store keeps, and (`status`) what a plugin reports of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    /// The local driver's `<data-root>/volumes/NAME/_data`; a plugin's path as it last gave it.
    pub mountpoint: PathBuf,
    /// Nanoseconds since the epoch.
    pub created: i64,
    pub labels: BTreeMap<String, String>,
    /// The driver options it was created with.
    pub options: BTreeMap<String, String>,
    pub scope: Scope,
    /// A plugin's own status object (inspect only; never stored).
    #[serde(skip)]
    pub status: Option<serde_json::Value>,
}

impl Volume {
    /// Whether it was made without a name (it carries [`ANONYMOUS_LABEL`]).
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// What `create` is asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateVolume {
    /// Empty: a random 64-hex name, and the volume is anonymous.
    pub name: String,
    /// Empty: the existing volume's driver, else [`LOCAL`].
    pub driver: String,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// `GET /volumes` filters; every given one must match (the values of one are alternatives).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeFilter {
    /// Substrings of the name.
    pub name: Vec<String>,
    /// Driver names.
    pub driver: Vec<String>,
    /// `key` or `key=value`, all of them.
    pub label: Vec<String>,
    /// `Some(true)`: only volumes no container references; `Some(false)`: only referenced ones.
    pub dangling: Option<bool>,
}

/// `POST /volumes/prune` filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneFilter {
    /// Named volumes too, not only anonymous ones.
    pub all: bool,
    /// `key` or `key=value` that must match, all of them.
    pub label: Vec<String>,
    /// `key` or `key=value` that must not match, none of them.
    pub label_not: Vec<String>,
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub deleted: Vec<String>,
    /// Bytes.
    pub reclaimed: u64,
}

/// One volume's use of the disk (`/system/df`): bytes under its data directory and how many
/// containers reference it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeUsage {
    pub volume: Volume,
    pub size: u64,
    pub references: usize,
}

/// Docker's error for `op` on volume `name` (`create v: ...`, `remove v: ...`), keeping the kind.
pub fn op_error(op: &str, name: &str, e: DaemonError) -> DaemonError {
    let message = format!("{op} {name}: {e}");
    match e.kind() {
        crate::error::ErrorKind::NotFound => DaemonError::NotFound(message),
        crate::error::ErrorKind::Conflict => DaemonError::Conflict(message),
        crate::error::ErrorKind::InvalidArgument => DaemonError::InvalidArgument(message),
        crate::error::ErrorKind::Unavailable => DaemonError::Unavailable(message),
        crate::error::ErrorKind::NotImplemented => DaemonError::NotImplemented(message),
        crate::error::ErrorKind::Forbidden => DaemonError::Forbidden(message),
        _ => DaemonError::Internal(message),
    }
}

/// Docker's 404 for a volume the store does not know.
pub fn no_such_volume(name: &str) -> DaemonError {
    DaemonError::NotFound(format!("get {name}: no such volume"))
}

/// Checks a local volume's name as Docker does (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`): the name is a
/// directory under the volumes root, so nothing else may lead out of it.
pub fn check_name(name: &str) -> Result<(), DaemonError> {
    if name.len() == 1 {
        return Err(DaemonError::InvalidArgument(
            "volume name is too short, names should be at least two alphanumeric characters".into(),
        ));
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Err(DaemonError::InvalidArgument(format!(
            "{name:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    Ok(())
}

/// The local driver's options, checked: a file system to mount on the volume's directory while
/// it is in use (`type=tmpfs,device=tmpfs,o=size=64m`; `type=none,o=bind,device=/host/dir`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalOptions {
    /// `type`: the file-system type (`tmpfs`, `nfs`, `none` for a bind...).
    pub fstype: String,
    /// `device`: the source (`tmpfs`, a block device, a host directory with `o=bind`).
    pub device: String,
    /// `o`: mount(8)'s options, flag words and file-system data together.
    pub options: String,
}

impl LocalOptions {
    /// Parses and checks `opts` as Docker's local driver does: only `type`, `device`, `o` and
    /// `size` (a quota, which this host cannot give); `type` and `device` go together, and `o`
    /// needs both.
    pub fn parse(opts: &BTreeMap<String, String>) -> Result<LocalOptions, DaemonError> {
        const VALID: &[&str] = &["type", "o", "device", "size"];
        if let Some(bad) = opts.keys().find(|k| !VALID.contains(&k.as_str())) {
            return Err(DaemonError::InvalidArgument(format!(
                "invalid option: {bad:?}"
            )));
        }
        if opts
            .get("size")
            .is_some_and(|s| !matches!(s.trim(), "" | "0"))
        {
            return Err(DaemonError::InvalidArgument(
                "quota size requested but no quota support".into(),
            ));
        }
        const NEEDS: &[(&str, &[&str])] = &[
            ("device", &["type"]),
            ("type", &["device"]),
            ("o", &["device", "type"]),
        ];
        for (key, needs) in NEEDS {
            if opts.contains_key(*key) {
                if let Some(missing) = needs.iter().find(|n| !opts.contains_key(**n)) {
                    return Err(DaemonError::InvalidArgument(format!(
                        "missing required option: {missing:?}"
                    )));
                }
            }
        }
        let get = |k: &str| opts.get(k).cloned().unwrap_or_default();
        Ok(LocalOptions {
            fstype: get("type"),
            device: get("device"),
            options: get("o"),
        })
    }

    /// Whether a file system is mounted on the volume's directory while it is in use.
    pub fn needs_mount(&self) -> bool {
        !self.fstype.is_empty() || !self.device.is_empty()
    }
}

/// Whether `v` passes `f`; `referenced` tells whether a container names it.
pub fn matches(f: &VolumeFilter, v: &Volume, referenced: bool) -> bool {
    (f.name.is_empty() || f.name.iter().any(|n| v.name.contains(n.as_str())))
        && (f.driver.is_empty() || f.driver.contains(&v.driver))
        && crate::filter::labels_match(&f.label, &v.labels)
        && f.dangling.is_none_or(|d| d != referenced)
}

/// Whether prune may take `v` (not referenced, local, without mount options) under `f`.
pub fn prunable(f: &PruneFilter, v: &Volume) -> bool {
    v.driver == LOCAL
        && v.options.is_empty()
        && (f.all || v.is_anonymous())
        && crate::filter::labels_match(&f.label, &v.labels)
        && !f
            .label_not
            .iter()
            .any(|l| crate::filter::labels_match(std::slice::from_ref(l), &v.labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn names_are_checked_like_dockers_local_driver() {
        for ok in ["ab", "data", "my_vol.1-x", "0abc"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        let e = check_name("a").unwrap_err().to_string();
        assert!(e.contains("too short"), "{e}");
        for bad in ["_x", "a b", "../x", "a/b", "", ".hidden", "x:y"] {
            let e = check_name(bad).unwrap_err();
            assert_eq!(e.kind(), crate::error::ErrorKind::InvalidArgument, "{bad}");
        }
        assert_eq!(
            check_name("a b").unwrap_err().to_string(),
            "\"a b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        );
    }

    #[test]
    fn local_options_like_docker() {
        let o = LocalOptions::parse(&opts(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=64m,uid=1000"),
        ]))
        .unwrap();
        assert!(o.needs_mount());
        assert_eq!(o.options, "size=64m,uid=1000");
        assert!(!LocalOptions::parse(&BTreeMap::new()).unwrap().needs_mount());
        let e = LocalOptions::parse(&opts(&[("foo", "bar")])).unwrap_err();
        assert_eq!(e.to_string(), "invalid option: \"foo\"");
        let e = LocalOptions::parse(&opts(&[("type", "tmpfs")])).unwrap_err();
        assert_eq!(e.to_string(), "missing required option: \"device\"");
        let e = LocalOptions::parse(&opts(&[("o", "bind"), ("device", "/x")])).unwrap_err();
        assert_eq!(e.to_string(), "missing required option: \"type\"");
        let e = LocalOptions::parse(&opts(&[("size", "10m")])).unwrap_err();
        assert!(e.to_string().contains("no quota support"));
    }

    #[test]
    fn filters() {
        let v = Volume {
            name: "project_data".into(),
            driver: LOCAL.into(),
            mountpoint: PathBuf::new(),
            created: 0,
            labels: opts(&[("a", "1"), (ANONYMOUS_LABEL, "")]),
            options: BTreeMap::new(),
            scope: Scope::Local,
            status: None,
        };
        let f = |name: &[&str], label: &[&str], dangling| VolumeFilter {
            name: name.iter().map(|s| s.to_string()).collect(),
            label: label.iter().map(|s| s.to_string()).collect(),
            dangling,
            ..Default::default()
        };
        assert!(matches(&f(&["ject_d"], &["a=1"], None), &v, false));
        assert!(!matches(&f(&["other"], &[], None), &v, false));
        assert!(!matches(&f(&[], &["a=2"], None), &v, false));
        assert!(matches(&f(&[], &[], Some(true)), &v, false));
        assert!(!matches(&f(&[], &[], Some(true)), &v, true));
        assert!(matches(&f(&[], &[], Some(false)), &v, true));
        let p = PruneFilter::default();
        assert!(prunable(&p, &v));
        let named = Volume {
            labels: BTreeMap::new(),
            ..v.clone()
        };
        assert!(!prunable(&p, &named));
        assert!(prunable(
            &PruneFilter {
                all: true,
                ..Default::default()
            },
            &named
        ));
        let not_a = PruneFilter {
            label_not: vec!["a".into()],
            ..Default::default()
        };
        assert!(!prunable(&not_a, &v));
        let with_opts = Volume {
            options: opts(&[("type", "tmpfs")]),
            ..v
        };
        assert!(!prunable(&p, &with_opts));
    }
}
