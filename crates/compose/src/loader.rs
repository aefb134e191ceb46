//! Loading a project: which files (`-f`, `COMPOSE_FILE`, or discovery upwards from the working
//! directory, with the override file beside it), which variables (the process environment over
//! `.env` or `--env-file`), each file read → interpolated → normalised → its `include`s added,
//! the files merged in order, `extends` resolved, the project name chosen, profiles applied,
//! references checked (services, networks, volumes, dependency cycles), and the model built.

use crate::error::{LoadError, Result};
use crate::merge::merge;
use crate::model::Project;
use crate::normalize;
use crate::yaml::{self, Entry, Mark, Node, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file names looked for, in order, in each directory upwards.
pub const CANDIDATES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];
const OVERRIDES: &[&str] = &[
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// What the command line and environment say about the project.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-f` files, in order (empty: `COMPOSE_FILE`, else discovery).
    pub files: Vec<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--project-directory`.
    pub project_directory: Option<PathBuf>,
    /// `--profile` (empty: `COMPOSE_PROFILES`).
    pub profiles: Vec<String>,
    /// `--env-file` (empty: `.env` in the project directory, if there).
    pub env_files: Vec<PathBuf>,
    /// Where discovery starts and relative `-f` paths are resolved.
    pub cwd: PathBuf,
    /// The process environment.
    pub environ: BTreeMap<String, String>,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Finds the compose file(s) from `cwd` upwards: the first directory holding a candidate gives
/// it and its override file, if any.
pub fn discover(cwd: &Path) -> Result<Vec<PathBuf>> {
    let mut dir = Some(cwd);
    while let Some(d) = dir {
        if let Some(found) = CANDIDATES.iter().map(|c| d.join(c)).find(|p| p.is_file()) {
            let mut files = vec![found];
            if let Some(o) = OVERRIDES.iter().map(|c| d.join(c)).find(|p| p.is_file()) {
                files.push(o);
            }
            return Ok(files);
        }
        dir = d.parent();
    }
    Err(LoadError::Project(format!(
        "no configuration file provided: not found (looked for {} in {} and its parents)",
        CANDIDATES.join(", "),
        cwd.display()
    )))
}

/// Normalises a directory name into a project name (lower case, `[a-z0-9_-]`, starting with a
/// letter or digit), as Compose does for the default name.
pub fn normalize_project_name(name: &str) -> String {
    let lowered: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    lowered
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// Checks an explicit project name (`-p`, `COMPOSE_PROJECT_NAME`, `name:`).
pub fn check_project_name(name: &str, source: &str) -> Result<()> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(LoadError::Project(format!(
            "invalid project name {name:?} (from {source}): it must contain only lower-case letters, digits, dashes and underscores, and start with a letter or digit"
        )))
    }
}

/// The variables for interpolation: the project's env files under the process environment.
struct Vars {
    map: BTreeMap<String, String>,
}

impl Vars {
    fn get(&self, k: &str) -> Option<String> {
        self.map.get(k).cloned()
    }
}

fn load_env(opts: &Options, project_dir: &Path) -> Result<Vars> {
    let mut files = opts.env_files.clone();
    let implicit = files.is_empty();
    if implicit {
        files.push(project_dir.join(".env"));
    }
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for f in files {
        let f = if f.is_absolute() { f } else { opts.cwd.join(f) };
        if implicit && !f.is_file() {
            continue;
        }
        let text = read(&f)?;
        let environ = &opts.environ;
        let pairs = crate::envfile::parse(&text, &f.display().to_string(), &|k| {
            environ.get(k).cloned()
        })?;
        for (k, v) in pairs {
            if let Some(v) = v {
                map.insert(k, v);
            }
        }
    }
    for (k, v) in &opts.environ {
        map.insert(k.clone(), v.clone());
    }
    Ok(Vars { map })
}

/// Reads one file: parse, interpolate, normalise, and merge in its `include`s.
fn load_file(path: &Path, vars: &Vars, depth: usize) -> Result<Node> {
    if depth > 16 {
        return Err(LoadError::Project(format!(
            "{}: include or extends nested too deep (a cycle?)",
            path.display()
        )));
    }
    let text = read(path)?;
    let name = path.display().to_string();
    let mut node = yaml::parse(&text, &name)?;
    crate::interpolate::interpolate_tree(&mut node, "", &|k| vars.get(k))?;
    let base_dir = path
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| ".".into());
    let mut node = normalize::file(&node, &base_dir)?;
    if let Some(inc) = node.get("include").cloned() {
        let items = match &inc.value {
            Value::Seq(items) => items.clone(),
            _ => return Err(LoadError::schema(&inc.mark, "include", "must be a list")),
        };
        let mut included = Node::map(Vec::new(), &inc.mark);
        for (i, item) in items.iter().enumerate() {
            let p = format!("include[{i}]");
            let paths: Vec<String> = match (&item.value, item.get("path")) {
                (Value::Str(s), _) => vec![s.clone()],
                (Value::Map(_), Some(pn)) => match &pn.value {
                    Value::Seq(ps) => ps.iter().filter_map(Node::scalar_text).collect(),
                    _ => pn.scalar_text().into_iter().collect(),
                },
                _ => {
                    return Err(LoadError::schema(
                        &item.mark,
                        &p,
                        "must be a path or {path: ...}",
                    ))
                }
            };
            for ip in paths {
                let full = PathBuf::from(normalize::syntax::resolve_path(&ip, &base_dir));
                let sub = load_file(&full, vars, depth + 1)?;
                for section in ["services", "networks", "volumes", "secrets", "configs"] {
                    let (Some(have), Some(add)) = (node.get(section), sub.get(section)) else {
                        continue;
                    };
                    for e in add.as_map().into_iter().flatten() {
                        if have.get(&e.key).is_some() {
                            return Err(LoadError::schema(
                                &e.key_mark,
                                &format!("{section}.{}", e.key),
                                format!(
                                    "conflicts with the {section} entry of the same name in {name}"
                                ),
                            ));
                        }
                    }
                }
                included = merge(&included, &sub);
            }
        }
        node = merge(&included, &node);
        if let Some(m) = node.as_map_mut() {
            m.retain(|e| e.key != "include");
        }
    }
    Ok(node)
}

/// Resolves `extends` in every service of `model` (whose files live beside `first_dir`).
fn resolve_extends(model: &mut Node, vars: &Vars, first_dir: &Path) -> Result<()> {
    let names: Vec<String> = model
        .get("services")
        .and_then(Node::as_map)
        .map(|m| m.iter().map(|e| e.key.clone()).collect())
        .unwrap_or_default();
    let snapshot = model.clone();
    for name in names {
        let resolved = extend_one(&snapshot, &name, vars, first_dir, &mut Vec::new())?;
        if let Some(slot) = model.get_mut("services").and_then(|s| s.get_mut(&name)) {
            *slot = resolved;
        }
    }
    Ok(())
}

fn extend_one(
    file: &Node,
    name: &str,
    vars: &Vars,
    dir: &Path,
    seen: &mut Vec<String>,
) -> Result<Node> {
    let Some(svc) = file.get("services").and_then(|s| s.get(name)) else {
        return Err(LoadError::Project(format!(
            "cannot extend service {name:?}: no such service"
        )));
    };
    let Some(ext) = svc.get("extends") else {
        return Ok(svc.clone());
    };
    let key = format!("{}#{name}", dir.display());
    if seen.contains(&key) {
        return Err(LoadError::schema(
            &ext.mark,
            &format!("services.{name}.extends"),
            "circular extends",
        ));
    }
    seen.push(key);
    let base_name = ext
        .get("service")
        .and_then(Node::as_str)
        .unwrap_or_default()
        .to_string();
    let base = match ext.get("file").and_then(Node::as_str) {
        Some(f) => {
            let path = PathBuf::from(normalize::syntax::resolve_path(
                f,
                &dir.display().to_string(),
            ));
            let other = load_file(&path, vars, seen.len())?;
            let odir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            extend_one(&other, &base_name, vars, &odir, seen)
        }
        None => extend_one(file, &base_name, vars, dir, seen),
    }
    .map_err(|e| match e {
        LoadError::Project(m) => {
            LoadError::schema(&ext.mark, &format!("services.{name}.extends"), m)
        }
        other => other,
    })?;
    let mut out = merge(&base, svc);
    if let Some(m) = out.as_map_mut() {
        m.retain(|e| e.key != "extends");
    }
    Ok(out)
}

/// Loads the project the options describe.
pub fn load(opts: &Options) -> Result<Project> {
    let files: Vec<PathBuf> = if !opts.files.is_empty() {
        opts.files
            .iter()
            .map(|f| {
                if f.is_absolute() {
                    f.clone()
                } else {
                    opts.cwd.join(f)
                }
            })
            .collect()
    } else if let Some(cf) = opts.environ.get("COMPOSE_FILE").filter(|v| !v.is_empty()) {
        let sep = opts
            .environ
            .get("COMPOSE_PATH_SEPARATOR")
            .map(String::as_str)
            .unwrap_or(":");
        cf.split(sep).map(|f| opts.cwd.join(f)).collect()
    } else {
        discover(&opts.cwd)?
    };
    let first_dir = files
        .first()
        .and_then(|f| f.parent())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| opts.cwd.clone());
    let project_dir = match &opts.project_directory {
        Some(d) if d.is_absolute() => d.clone(),
        Some(d) => opts.cwd.join(d),
        None => first_dir.clone(),
    };
    let vars = load_env(opts, &project_dir)?;
    let mut model: Option<Node> = None;
    for f in &files {
        let n = load_file(f, &vars, 0)?;
        model = Some(match model {
            None => n,
            Some(m) => merge(&m, &n),
        });
    }
    let mut model = model.unwrap_or_else(|| Node::map(Vec::new(), &Mark::default()));
    resolve_extends(&mut model, &vars, &first_dir)?;

    let name = if let Some(p) = opts.project_name.clone().filter(|p| !p.is_empty()) {
        check_project_name(&p, "-p")?;
        p
    } else if let Some(p) = vars.get("COMPOSE_PROJECT_NAME").filter(|p| !p.is_empty()) {
        check_project_name(&p, "COMPOSE_PROJECT_NAME")?;
        p
    } else if let Some(p) = model
        .get("name")
        .and_then(Node::as_str)
        .filter(|p| !p.is_empty())
    {
        check_project_name(p, "the top-level name:")?;
        p.to_string()
    } else {
        let base = project_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let n = normalize_project_name(&base);
        if n.is_empty() {
            return Err(LoadError::Project(format!(
                "project name {base:?} (the directory name) has no usable characters: name the project with -p or name:"
            )));
        }
        n
    };

    let mut profiles = opts.profiles.clone();
    if profiles.is_empty() {
        if let Some(p) = vars.get("COMPOSE_PROFILES") {
            profiles = p
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
        }
    }
    crate::project::finish(
        model,
        name,
        project_dir.display().to_string(),
        files.iter().map(|f| f.display().to_string()).collect(),
        &profiles,
        &|k| vars.get(k),
    )
}

/// Decodes a normalised JSON object into a model type; a failure is a loader bug, named by path.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    v: &serde_json::Value,
    path: &str,
) -> Result<T> {
    serde_json::from_value(v.clone()).map_err(|e| LoadError::Project(format!("{path}: {e}")))
}

/// Adds an entry to a mapping node (replacing one of the same key).
pub(crate) fn set(node: &mut Node, key: &str, value: Node) {
    if let Some(m) = node.as_map_mut() {
        if let Some(e) = m.iter_mut().find(|e| e.key == key) {
            e.value = value;
        } else {
            m.push(Entry {
                key: key.into(),
                key_mark: value.mark.clone(),
                value,
            });
        }
    }
}

#[cfg(test)]
#[path = "loader_tests.rs"]
mod tests;
