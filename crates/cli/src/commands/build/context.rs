//! The build context `berth build` sends: a directory streamed as a tar (links as links, names
//! in order), a tar or a lone Dockerfile from standard input, and a Dockerfile from outside the
//! context sent along under a name of its own, as the docker CLI does.
//!
//! `.dockerignore` is applied here, before anything is sent, as the docker CLI does: the
//! patterns of `<Dockerfile>.dockerignore` beside the Dockerfile (`NAME.Dockerfile.dockerignore`),
//! else of the context's `.dockerignore` (the daemon's matcher, `berth_build::dockerignore`). An
//! excluded directory is still walked when an exception (`!pattern`) may bring back something
//! under it; the Dockerfile and the ignore files themselves are always sent (the daemon reads
//! them, and applies the same patterns again). A Dockerfile-specific ignore file from outside
//! the context goes along beside the outside Dockerfile, so the daemon uses the same patterns.

use std::io::Read;
use std::path::{Path, PathBuf};

use berth_build::dockerignore::Ignore;

use super::msg;
use crate::error::Result;

/// Where the context comes from.
pub enum Source {
    /// Read already (stdin): a tar, or a lone Dockerfile made into one.
    Ready(Vec<u8>),
    /// A directory, streamed as a tar.
    Dir(DirContext),
}

/// A context directory and what goes with it.
pub struct DirContext {
    root: PathBuf,
    /// The patterns that leave files out.
    ignore: Ignore,
    /// Context paths sent even when a pattern excludes them.
    keep: Vec<String>,
    /// A Dockerfile from outside the context, and its own ignore file.
    extra: Option<Vec<u8>>,
    extra_ignore: Option<Vec<u8>>,
}

/// The name of a Dockerfile sent along from outside the context, as docker does.
const OUTSIDE_DOCKERFILE: &str = ".dockerfile.berth";

/// The ignore file of the Dockerfile at `dockerfile` (beside it, `NAME.dockerignore`), else the
/// context's `.dockerignore`: its text and whether it is the Dockerfile's own.
fn ignore_file(root: &Path, dockerfile: &Path) -> Result<Option<(Vec<u8>, bool)>> {
    let mut own = dockerfile.as_os_str().to_owned();
    own.push(".dockerignore");
    for (path, is_own) in [
        (PathBuf::from(own), true),
        (root.join(".dockerignore"), false),
    ] {
        match std::fs::read(&path) {
            Ok(text) => return Ok(Some((text, is_own))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(msg(format!("reading {}: {e}", path.display()))),
        }
    }
    Ok(None)
}

/// The context and the Dockerfile's name inside it.
pub fn context_source(path: &str, file: Option<&str>) -> Result<(Source, String)> {
    if path == "-" {
        let mut input = Vec::new();
        std::io::stdin().read_to_end(&mut input).map_err(msg)?;
        let is_tar = input.len() >= 262 && &input[257..262] == b"ustar";
        let gz = input.starts_with(&[0x1f, 0x8b]);
        if is_tar || gz {
            return Ok((
                Source::Ready(input),
                file.unwrap_or("Dockerfile").to_string(),
            ));
        }
        // A Dockerfile alone: the context is just that file.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(input.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, "Dockerfile", input.as_slice())
            .map_err(msg)?;
        return Ok((
            Source::Ready(b.into_inner().map_err(msg)?),
            "Dockerfile".into(),
        ));
    }
    let root = PathBuf::from(path);
    if !root.is_dir() {
        return Err(msg(format!(
            "unable to prepare context: path {path:?} not found"
        )));
    }
    let abs = match file {
        None => root.join("Dockerfile"),
        Some(f) if Path::new(f).is_absolute() => PathBuf::from(f),
        Some(f) => std::env::current_dir().map_err(msg)?.join(f),
    };
    let root_c = root.canonicalize().map_err(msg)?;
    let inside = match (file, abs.canonicalize()) {
        // Without -f, a missing Dockerfile is the daemon's to report.
        (None, _) => Some("Dockerfile".to_string()),
        (Some(_), Ok(abs_c)) => abs_c
            .strip_prefix(&root_c)
            .ok()
            .map(|rel| rel.to_string_lossy().into_owned()),
        (Some(f), Err(e)) => return Err(msg(format!("unable to prepare context: {f}: {e}"))),
    };
    let ignore = ignore_file(&root, &abs)?;
    let patterns = ignore
        .as_ref()
        .map(|(text, _)| Ignore::parse(&String::from_utf8_lossy(text)))
        .unwrap_or_default();
    let mut keep = vec![".dockerignore".to_string()];
    Ok(match inside {
        Some(name) => {
            keep.push(format!("{name}.dockerignore"));
            keep.push(name.clone());
            let dir = DirContext {
                root,
                ignore: patterns,
                keep,
                extra: None,
                extra_ignore: None,
            };
            (Source::Dir(dir), name)
        }
        None => {
            let text = std::fs::read(&abs).map_err(msg)?;
            let own = ignore.and_then(|(text, own)| own.then_some(text));
            let dir = DirContext {
                root,
                ignore: patterns,
                keep,
                extra: Some(text),
                extra_ignore: own,
            };
            (Source::Dir(dir), OUTSIDE_DOCKERFILE.to_string())
        }
    })
}

impl DirContext {
    fn excluded(&self, rel: &str) -> bool {
        self.ignore.excludes(rel) && !self.keep.iter().any(|k| k == rel)
    }

    /// Adds `dir` to the tar under `prefix`, in name order (links as links), leaving out what
    /// the patterns exclude.
    fn add_dir<W: std::io::Write>(
        &self,
        b: &mut tar::Builder<W>,
        dir: &Path,
        prefix: &str,
    ) -> Result<()> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| msg(format!("reading the build context {}: {e}", dir.display())))?
            .filter_map(|e| e.ok())
            .collect();
        names.sort_by_key(|e| e.file_name());
        for e in names {
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let path = e.path();
            let ft = e.file_type().map_err(msg)?;
            let excluded = self.excluded(&rel);
            if ft.is_dir() {
                if !excluded {
                    b.append_dir(&rel, &path).map_err(msg)?;
                }
                if !excluded || self.ignore.has_exceptions() {
                    self.add_dir(b, &path, &rel)?;
                }
            } else if (ft.is_file() || ft.is_symlink()) && !excluded {
                b.append_path_with_name(&path, &rel).map_err(|err| {
                    msg(format!(
                        "adding {} to the build context: {err}",
                        path.display()
                    ))
                })?;
            }
        }
        Ok(())
    }
}

/// Writes the directory context as a tar to `out` (blocking).
pub fn write_context(ctx: &DirContext, out: impl std::io::Write) -> Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    ctx.add_dir(&mut b, &ctx.root, "")?;
    let extras = [
        (OUTSIDE_DOCKERFILE.to_string(), &ctx.extra),
        (
            format!("{OUTSIDE_DOCKERFILE}.dockerignore"),
            &ctx.extra_ignore,
        ),
    ];
    for (name, text) in extras {
        if let Some(text) = text {
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, &name, text.as_slice()).map_err(msg)?;
        }
    }
    b.into_inner().map_err(msg)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(src: Source) -> Vec<String> {
        let Source::Dir(ctx) = src else {
            panic!("not a directory context");
        };
        let mut tar = Vec::new();
        write_context(&ctx, &mut tar).expect("tar");
        tar::Archive::new(tar.as_slice())
            .entries()
            .expect("entries")
            .map(|e| {
                let e = e.expect("entry");
                e.path().expect("path").to_string_lossy().into_owned()
            })
            .map(|n| n.trim_end_matches('/').to_string())
            .collect()
    }

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tempdir");
        for (name, body) in files {
            let p = d.path().join(name);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, body).expect("write");
        }
        d
    }

    #[test]
    fn dockerignore_leaves_files_out_before_sending() {
        let d = tree(&[
            ("Dockerfile", "FROM x"),
            (
                ".dockerignore",
                "*.log\n**/*.tmp\nbig/\n!big/keep\nDockerfile\n.dockerignore\n",
            ),
            ("a.log", ""),
            ("app/main.c", ""),
            ("app/debug.log", ""),
            ("app/x.tmp", ""),
            ("big/blob", ""),
            ("big/keep", ""),
        ]);
        let root = d.path().to_str().expect("utf-8");
        let (src, name) = context_source(root, None).expect("source");
        assert_eq!(name, "Dockerfile");
        assert_eq!(
            names(src),
            // `*.log` is the context root's only, as Go's filepath.Match.
            [
                ".dockerignore",
                "Dockerfile",
                "app",
                "app/debug.log",
                "app/main.c",
                "big/keep"
            ]
        );
    }

    #[test]
    fn a_dockerfile_specific_ignore_file_wins() {
        let d = tree(&[
            ("build/App.Dockerfile", "FROM x"),
            ("build/App.Dockerfile.dockerignore", "secret\n"),
            (".dockerignore", "app\n"),
            ("secret", ""),
            ("app", ""),
        ]);
        let root = d.path().to_str().expect("utf-8");
        let file = d.path().join("build/App.Dockerfile");
        let (src, name) =
            context_source(root, Some(file.to_str().expect("utf-8"))).expect("source");
        assert_eq!(name, "build/App.Dockerfile");
        let got = names(src);
        assert!(got.contains(&"app".to_string()), "{got:?}");
        assert!(!got.contains(&"secret".to_string()), "{got:?}");
        // From outside the context: its own ignore file goes along for the daemon.
        let outside = tree(&[
            ("Other.Dockerfile", "FROM x"),
            ("Other.Dockerfile.dockerignore", "app\n"),
        ]);
        let file = outside.path().join("Other.Dockerfile");
        let (src, name) =
            context_source(root, Some(file.to_str().expect("utf-8"))).expect("source");
        assert_eq!(name, OUTSIDE_DOCKERFILE);
        let got = names(src);
        assert!(!got.contains(&"app".to_string()), "{got:?}");
        assert!(got.contains(&"secret".to_string()), "{got:?}");
        assert!(
            got.contains(&".dockerfile.berth.dockerignore".to_string()),
            "{got:?}"
        );
    }
}
