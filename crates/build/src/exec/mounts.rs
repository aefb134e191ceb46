//! `RUN --mount`: each parsed mount checked and turned into what the host mounts — `tmpfs`, a
//! `cache` directory the host keeps by id, a `bind` of a context path (read-only unless `rw`;
//! resolved inside the context and never a symbolic link, which the kernel would follow out of
//! it), or a `secret` the client gave (`berth build --secret`; at `/run/secrets/<id>` unless
//! `target=` says otherwise, 0400 unless `mode=`; a missing one is skipped unless `required`).
//! Bind sources add their content hash to the step's cache key; a secret adds its id and where
//! it goes, never its bytes. `bind,from=` and `ssh` are refused with what to do instead.

use sha2::{Digest as _, Sha256};

use super::host::{MountSource, RunMount};
use super::steps::{Run, State};
use super::{step_err, BuildError};
use crate::context::hash_entries;
use crate::dockerignore::clean;
use crate::parser::{Mount, Step};

fn option<'a>(m: &'a Mount, names: &[&str]) -> Option<&'a Option<String>> {
    m.options
        .iter()
        .find(|(k, _)| names.contains(&k.as_str()))
        .map(|(_, v)| v)
}

/// A boolean option: present without a value, or with `true`.
fn flag(m: &Mount, names: &[&str]) -> bool {
    match option(m, names) {
        Some(None) => true,
        Some(Some(v)) => v.eq_ignore_ascii_case("true"),
        None => false,
    }
}

fn number(m: &Mount, step: &Step, name: &str, radix: u32, default: u32) -> Result<u32, BuildError> {
    match option(m, &[name]) {
        Some(Some(v)) => u32::from_str_radix(v, radix)
            .map_err(|_| step_err(step, format!("RUN --mount {name}={v}: not a number"))),
        _ => Ok(default),
    }
}

impl Run<'_> {
    /// The host's view of a `RUN`'s mounts, and their part of the cache key.
    pub(super) fn run_mounts(
        &self,
        st: &State,
        step: &Step,
        mounts: &[Mount],
    ) -> Result<(Vec<RunMount>, String), BuildError> {
        let mut out = Vec::new();
        let mut key = Sha256::new();
        let workdir = st.config.working_dir.clone().unwrap_or_else(|| "/".into());
        for m in mounts {
            let target = match (&m.target, m.kind.as_str()) {
                (Some(t), _) => self.expand(st, step, t)?,
                (None, "secret") => match option(m, &["id"]) {
                    Some(Some(id)) => format!("/run/secrets/{}", self.expand(st, step, id)?),
                    _ => {
                        return Err(step_err(
                            step,
                            "RUN --mount=type=secret: name the secret with id= (or target=)",
                        ))
                    }
                },
                (None, _) => String::new(),
            };
            let target = if target.starts_with('/') {
                format!("/{}", clean(&target))
            } else {
                format!("/{}", clean(&format!("{workdir}/{target}")))
            };
            let (source, readonly) = match m.kind.as_str() {
                "tmpfs" => {
                    let size = match option(m, &["size"]) {
                        Some(Some(v)) => Some(v.parse::<i64>().map_err(|_| {
                            step_err(step, format!("RUN --mount=type=tmpfs size={v}: a number of bytes"))
                        })?),
                        _ => None,
                    };
                    (MountSource::Tmpfs { size }, false)
                }
                "cache" => {
                    if let Some(Some(f)) = option(m, &["from"]) {
                        return Err(step_err(step, format!("RUN --mount=type=cache,from={f} is not supported by this builder")));
                    }
                    let id = match option(m, &["id"]) {
                        Some(Some(id)) => id.clone(),
                        _ => target.clone(),
                    };
                    if let Some(Some(s)) = option(m, &["sharing"]) {
                        if !matches!(s.as_str(), "shared" | "private" | "locked") {
                            return Err(step_err(step, format!("RUN --mount=type=cache sharing={s}: shared, private or locked")));
                        }
                    }
                    let source = MountSource::Cache {
                        id,
                        uid: number(m, step, "uid", 10, 0)?,
                        gid: number(m, step, "gid", 10, 0)?,
                        mode: number(m, step, "mode", 8, 0o755)?,
                    };
                    (source, flag(m, &["ro", "readonly"]))
                }
                "bind" => {
                    if let Some(Some(f)) = option(m, &["from"]) {
                        return Err(step_err(step, format!(
                            "RUN --mount=type=bind,from={f} is not supported by this builder yet; COPY --from={f} what the step needs"
                        )));
                    }
                    let src = match option(m, &["source", "src"]) {
                        Some(Some(s)) => self.expand(st, step, s)?,
                        _ => ".".to_string(),
                    };
                    let rel = self.context.resolve(&src)?.into_iter().next().unwrap_or_default();
                    let path = self.context.root().join(&rel);
                    let meta = std::fs::symlink_metadata(&path)
                        .map_err(|e| step_err(step, format!("RUN --mount source {src}: {e}")))?;
                    if meta.file_type().is_symlink() {
                        return Err(step_err(step, format!("RUN --mount source {src} is a symbolic link; name what it points to")));
                    }
                    key.update(rel.as_bytes());
                    key.update(hash_entries(&self.context.entries(&rel)?)?.as_bytes());
                    let rw = flag(m, &["rw", "readwrite"]);
                    (MountSource::Context(path), !rw)
                }
                "secret" => {
                    let id = match option(m, &["id"]) {
                        Some(Some(id)) => self.expand(st, step, id)?,
                        _ => target.rsplit('/').next().unwrap_or_default().to_string(),
                    };
                    if option(m, &["env"]).is_some() {
                        return Err(step_err(step, format!(
                            "RUN --mount=type=secret,env= is not supported by this builder: mount secret {id} as a file and read it in the command"
                        )));
                    }
                    if !self.opts.secrets.contains(&id) {
                        if flag(m, &["required"]) {
                            return Err(step_err(step, format!(
                                "secret {id} is required but was not given: berth build --secret id={id},src=FILE \
                                 (the docker CLI's legacy builder sends no secrets)"
                            )));
                        }
                        continue; // as BuildKit: an optional secret that is not there is not mounted
                    }
                    let source = MountSource::Secret {
                        id,
                        uid: number(m, step, "uid", 10, 0)?,
                        gid: number(m, step, "gid", 10, 0)?,
                        mode: number(m, step, "mode", 8, 0o400)?,
                    };
                    (source, true)
                }
                other => {
                    return Err(step_err(step, format!(
                        "RUN --mount=type={other} is not supported: this builder forwards no SSH agents; \
                         pass what the step needs as a build context file or a secret instead"
                    )))
                }
            };
            let mount = RunMount {
                source,
                target,
                readonly,
            };
            match &mount.source {
                MountSource::Context(_) => {
                    key.update(format!("bind {} {}", mount.target, mount.readonly).as_bytes())
                }
                s => key.update(format!("{s:?} {} {}", mount.target, mount.readonly).as_bytes()),
            }
            out.push(mount);
        }
        let key = if out.is_empty() {
            String::new()
        } else {
            hex::encode(key.finalize())
        };
        Ok((out, key))
    }
}
