//! The OCI runtimes containers may ask for (`HostConfig.Runtime`, `docker run --runtime`), as
//! dockerd configures them: daemon.json `runtimes` (`{"NAME": {"path": "/usr/bin/crun",
//! "runtimeArgs": ["--foo"]}}`) or `--add-runtime NAME=PATH`, and `default-runtime` /
//! `--default-runtime`. Both are reloaded on `SIGHUP` ([`super::Reloadable`]).
//!
//! Vocabulary: the *built-in* runtime is Berth's own, in the shim's process; it answers to
//! [`BUILTIN`] (`runc`, Docker's default name, which tools expect, and `berth`), names reserved
//! for it as dockerd reserves `runc`. An *external* runtime is a runc-compatible executable
//! (runc, crun) the shim drives through its command line (`berth_shim::runtime`). A container
//! records the name it was created with; the name is looked up again at each start, so a runtime
//! that left the configuration fails the start with Docker's words, and a running container
//! keeps the executable its shim started with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::DaemonError;

/// The names of the built-in runtime, reserved.
pub const BUILTIN: [&str; 2] = ["runc", "berth"];

/// The runtime a container gets when it names none and the configuration names no other.
pub const DEFAULT: &str = "runc";

/// One entry of daemon.json `runtimes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileRuntime {
    /// The executable: absolute, or a name looked up in `$PATH` when a container starts.
    #[serde(default)]
    pub path: String,
    /// Global options given before each of its commands.
    #[serde(default)]
    pub runtime_args: Vec<String>,
    /// A containerd shim type (dockerd's other form): refused by [`merge`].
    #[serde(default)]
    pub runtime_type: Option<String>,
    /// The options of a containerd shim type: refused with it.
    #[serde(default)]
    pub options: Option<serde_json::Value>,
}

/// An external runtime as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    /// The executable as given (absolute, or looked up in `$PATH` by [`External::resolve`]).
    pub path: String,
    pub args: Vec<String>,
}

impl External {
    /// The executable's absolute path: `path` itself, or the first executable file of that
    /// name in `$PATH`.
    pub fn resolve(&self, name: &str) -> Result<PathBuf, DaemonError> {
        let missing = || {
            DaemonError::InvalidArgument(format!(
                "runtime {name:?}: executable {:?} not found; fix its \"path\" in daemon.json \
                 (\"runtimes\") or --add-runtime, then reload the daemon (SIGHUP)",
                self.path
            ))
        };
        if self.path.contains('/') {
            let p = PathBuf::from(&self.path);
            return (p.is_absolute() && is_executable(&p))
                .then_some(p)
                .ok_or_else(missing);
        }
        let search = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin".into());
        std::env::split_paths(&search)
            .map(|d| d.join(&self.path))
            .find(|p| p.is_absolute() && is_executable(p))
            .ok_or_else(missing)
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// What a container's runtime name stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selected<'a> {
    Builtin,
    External(&'a External),
}

/// The configured runtimes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtimes {
    /// The name a container without one gets (`default-runtime`).
    pub default: String,
    /// The external runtimes by name.
    pub external: BTreeMap<String, External>,
}

impl Default for Runtimes {
    fn default() -> Self {
        Runtimes {
            default: DEFAULT.to_string(),
            external: BTreeMap::new(),
        }
    }
}

impl Runtimes {
    /// What `name` stands for, if it is configured.
    pub fn get(&self, name: &str) -> Option<Selected<'_>> {
        if BUILTIN.contains(&name) {
            return Some(Selected::Builtin);
        }
        self.external.get(name).map(Selected::External)
    }

    /// At create: the name a container asked for (`""`: the default), checked, with Docker's
    /// words for an unknown one.
    pub fn choose(&self, asked: &str) -> Result<String, DaemonError> {
        let name = if asked.is_empty() {
            &self.default
        } else {
            asked
        };
        match self.get(name) {
            Some(_) => Ok(name.to_string()),
            None => Err(unknown(name)),
        }
    }

    /// Every runtime with its path and arguments, as `docker info` lists them (the built-in
    /// one's path is `berth`).
    pub fn listed(&self) -> Vec<(String, String, Vec<String>)> {
        let builtin = BUILTIN
            .iter()
            .map(|n| (n.to_string(), "berth".to_string(), Vec::new()));
        let external = self
            .external
            .iter()
            .map(|(n, e)| (n.clone(), e.path.clone(), e.args.clone()));
        builtin.chain(external).collect()
    }
}

/// Docker's error for a runtime name that is not configured (a 400).
pub fn unknown(name: &str) -> DaemonError {
    DaemonError::InvalidArgument(format!("unknown or invalid runtime name: {name}"))
}

/// Parses one `--add-runtime NAME=PATH`.
pub fn parse_add_runtime(value: &str) -> Result<(String, String), DaemonError> {
    match value.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => {
            Ok((name.to_string(), path.to_string()))
        }
        _ => Err(DaemonError::Config(format!(
            "invalid runtime argument: {value}; use --add-runtime NAME=PATH"
        ))),
    }
}

/// Merges `--add-runtime` and `--default-runtime` with daemon.json's `runtimes` and
/// `default-runtime` (a setting given both ways is named in `conflicts`, as every other one),
/// and checks the result: reserved and malformed names, entries without a path, containerd shim
/// types, and a default that names nothing.
pub fn merge(
    add_runtime: &[String],
    default_flag: Option<String>,
    file_runtimes: Option<BTreeMap<String, FileRuntime>>,
    file_default: Option<String>,
    conflicts: &mut Vec<&'static str>,
) -> Result<Runtimes, DaemonError> {
    if !add_runtime.is_empty() && file_runtimes.is_some() {
        conflicts.push("runtimes");
    }
    if default_flag.is_some() && file_default.is_some() {
        conflicts.push("default-runtime");
    }
    let mut external = BTreeMap::new();
    for value in add_runtime {
        let (name, path) = parse_add_runtime(value)?;
        check_name(&name)?;
        check_path(&name, &path)?;
        let entry = External {
            path,
            args: Vec::new(),
        };
        if external.insert(name.clone(), entry).is_some() {
            return Err(DaemonError::Config(format!(
                "runtime {name:?} is given twice with --add-runtime; keep one"
            )));
        }
    }
    for (name, rt) in file_runtimes.unwrap_or_default() {
        check_name(&name)?;
        if rt.runtime_type.is_some() || rt.options.is_some() {
            return Err(DaemonError::Config(format!(
                "runtime {name:?}: \"runtimeType\" and \"options\" (containerd shims) are not \
                 supported; give the \"path\" of a runc-compatible executable"
            )));
        }
        if rt.path.is_empty() {
            return Err(DaemonError::Config(format!(
                "runtime {name:?}: give the \"path\" of a runc-compatible executable"
            )));
        }
        check_path(&name, &rt.path)?;
        let entry = External {
            path: rt.path,
            args: rt.runtime_args,
        };
        external.insert(name, entry);
    }
    let runtimes = Runtimes {
        default: default_flag
            .or(file_default)
            .unwrap_or_else(|| DEFAULT.to_string()),
        external,
    };
    if runtimes.get(&runtimes.default).is_none() {
        return Err(DaemonError::Config(format!(
            "specified default runtime '{}' does not exist",
            runtimes.default
        )));
    }
    Ok(runtimes)
}

/// A runtime's path: absolute, or a bare name looked up in `$PATH` (a relative path would depend
/// on the daemon's working directory).
fn check_path(name: &str, path: &str) -> Result<(), DaemonError> {
    if path.contains('/') && !path.starts_with('/') {
        return Err(DaemonError::Config(format!(
            "runtime {name:?}: path {path:?} is relative; give an absolute path or a name \
             looked up in $PATH"
        )));
    }
    Ok(())
}

/// A runtime name: not reserved, and letters, digits, `_`, `.` and `-` (it names a directory).
fn check_name(name: &str) -> Result<(), DaemonError> {
    if BUILTIN.contains(&name) {
        return Err(DaemonError::Config(format!(
            "runtime name '{name}' is reserved (Berth's built-in runtime); choose another name"
        )));
    }
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        return Err(DaemonError::Config(format!(
            "runtime name {name:?}: use letters, digits, '_', '.' and '-', starting with a \
             letter or digit"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(json: &str) -> BTreeMap<String, FileRuntime> {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    fn message(r: Result<Runtimes, DaemonError>) -> String {
        r.err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn file_and_flags_configure_external_runtimes() {
        let mut c = Vec::new();
        let f = file(r#"{"ext-runc": {"path": "/usr/sbin/runc", "runtimeArgs": ["--debug"]}}"#);
        let r = merge(&[], None, Some(f), Some("ext-runc".into()), &mut c).unwrap();
        assert!(c.is_empty());
        assert_eq!(r.default, "ext-runc");
        assert_eq!(
            r.get("ext-runc"),
            Some(Selected::External(&External {
                path: "/usr/sbin/runc".into(),
                args: vec!["--debug".into()],
            }))
        );
        assert_eq!(r.get("runc"), Some(Selected::Builtin));
        assert_eq!(r.get("berth"), Some(Selected::Builtin));
        assert_eq!(r.choose("").unwrap(), "ext-runc");
        assert_eq!(r.choose("runc").unwrap(), "runc");
        let names: Vec<String> = r.listed().into_iter().map(|(n, _, _)| n).collect();
        assert_eq!(names, ["runc", "berth", "ext-runc"]);

        let flags = ["crun=crun".to_string(), "other=/opt/r".to_string()];
        let r = merge(&flags, None, None, None, &mut c).unwrap();
        assert_eq!(r.default, "runc");
        assert_eq!(r.external.len(), 2);
        assert_eq!(r.external["crun"].path, "crun");
        assert!(c.is_empty());
    }

    #[test]
    fn unknown_names_get_dockers_words() {
        let r = Runtimes::default();
        assert_eq!(r.choose("").unwrap(), "runc");
        let e = r.choose("nope").unwrap_err();
        assert_eq!(e.to_string(), "unknown or invalid runtime name: nope");
        assert!(matches!(e, DaemonError::InvalidArgument(_)));
    }

    #[test]
    fn reserved_and_malformed_names_are_refused() {
        let mut c = Vec::new();
        for name in ["runc", "berth"] {
            let f = file(&format!(r#"{{"{name}": {{"path": "/usr/bin/crun"}}}}"#));
            let e = message(merge(&[], None, Some(f), None, &mut c));
            assert!(
                e.contains(&format!("runtime name '{name}' is reserved")),
                "{e}"
            );
            let e = message(merge(&[format!("{name}=/x")], None, None, None, &mut c));
            assert!(e.contains("is reserved"), "{e}");
        }
        for bad in ["a/b", "-x", "", "a b"] {
            let e = message(merge(&[format!("{bad}=/x")], None, None, None, &mut c));
            assert!(!e.is_empty(), "{bad:?} accepted");
        }
        for bad in ["x", "=x", "x="] {
            let e = message(merge(&[bad.to_string()], None, None, None, &mut c));
            assert!(e.contains("invalid runtime argument"), "{bad}: {e}");
        }
        let e = message(merge(&["r=./runc".into()], None, None, None, &mut c));
        assert!(e.contains("is relative"), "{e}");
        let f = file(r#"{"r": {"path": "bin/runc"}}"#);
        assert!(message(merge(&[], None, Some(f), None, &mut c)).contains("is relative"));
        let twice = ["a=/x".to_string(), "a=/y".to_string()];
        assert!(message(merge(&twice, None, None, None, &mut c)).contains("twice"));
    }

    #[test]
    fn entries_need_a_path_and_no_shim_type() {
        let mut c = Vec::new();
        let e = message(merge(&[], None, Some(file(r#"{"x": {}}"#)), None, &mut c));
        assert!(e.contains("\"path\""), "{e}");
        let f = file(r#"{"x": {"runtimeType": "io.containerd.runsc.v1"}}"#);
        let e = message(merge(&[], None, Some(f), None, &mut c));
        assert!(e.contains("runtimeType"), "{e}");
        let bad: Result<BTreeMap<String, FileRuntime>, _> =
            serde_json::from_str(r#"{"x": {"path": "/x", "bogus": 1}}"#);
        assert!(bad.is_err());
    }

    #[test]
    fn the_default_must_exist_and_settings_conflict_once() {
        let mut c = Vec::new();
        let e = message(merge(&[], Some("crun".into()), None, None, &mut c));
        assert!(
            e.ends_with("specified default runtime 'crun' does not exist"),
            "{e}"
        );
        assert!(merge(&[], Some("berth".into()), None, None, &mut c).is_ok());
        let f = file(r#"{"crun": {"path": "crun"}}"#);
        let r = merge(
            &["x=/x".into()],
            Some("crun".into()),
            Some(f),
            Some("crun".into()),
            &mut c,
        );
        assert!(r.is_ok());
        assert_eq!(c, ["runtimes", "default-runtime"]);
    }

    /// Through the daemon's whole configuration: daemon.json keys and flags.
    #[test]
    fn daemon_json_and_flags_reach_the_reloadable_settings() {
        use crate::config::{file, DaemonArgs, DaemonConfig};
        let text = r#"{"runtimes": {"ext-runc": {"path": "/usr/sbin/runc", "runtimeArgs": ["--debug"]}},
                       "default-runtime": "ext-runc"}"#;
        let f = file::parse(text).unwrap_or_else(|e| panic!("{e}"));
        let c = DaemonConfig::merge(&DaemonArgs::default(), f, "/certs".into()).unwrap();
        assert_eq!(c.reloadable.runtimes.default, "ext-runc");
        assert_eq!(c.reloadable.runtimes.external["ext-runc"].args, ["--debug"]);
        let args = DaemonArgs {
            add_runtime: vec!["crun=crun".into()],
            default_runtime: Some("crun".into()),
            ..DaemonArgs::default()
        };
        let f = file::parse("{}").unwrap_or_else(|e| panic!("{e}"));
        let c = DaemonConfig::merge(&args, f, "/certs".into()).unwrap();
        assert_eq!(c.reloadable.runtimes.default, "crun");
        let bad = file::parse(r#"{"runtimes": {"runc": {"path": "/x"}}}"#).unwrap();
        let e = DaemonConfig::merge(&DaemonArgs::default(), bad, "/certs".into()).unwrap_err();
        assert!(
            e.to_string().contains("runtime name 'runc' is reserved"),
            "{e}"
        );
        let e = file::parse(r#"{"runtimes": {"x": {"path": 1}}}"#).unwrap_err();
        assert!(e.contains("runtimes"), "{e}");
    }

    #[test]
    fn paths_resolve_in_path_or_fail_with_the_name() {
        let sh = External {
            path: "sh".into(),
            args: Vec::new(),
        };
        assert!(sh.resolve("x").is_ok_and(|p| p.is_absolute()));
        let gone = External {
            path: "/nonexistent/runc".into(),
            args: Vec::new(),
        };
        let e = gone.resolve("ext").unwrap_err().to_string();
        assert!(
            e.contains("\"ext\"") && e.contains("/nonexistent/runc"),
            "{e}"
        );
        let relative = External {
            path: "./runc".into(),
            args: Vec::new(),
        };
        assert!(relative.resolve("r").is_err());
    }
}
