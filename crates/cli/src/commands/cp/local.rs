//! Docker's copy rules on the local side of `berth cp`: how source and destination paths decide
//! the directory a tar is extracted into and the name its top entry takes ([`prepare`], after
//! Docker's `PrepareArchiveCopy`), and extracting the daemon's tar into a local directory
//! ([`extract`]) without leaving it: names with `..` are refused, a leading `/` is dropped, and
//! no entry is written through a symlink.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use super::tar::{kind, Kind};

/// What is known about one side of a copy (Docker's `CopyInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyInfo {
    pub path: String,
    pub exists: bool,
    pub is_dir: bool,
    /// The name the top entry takes instead of the path's base name (`-L` on a symlink).
    pub rebase_name: Option<String>,
}

/// Where a tar goes and the top name its entries must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The directory to extract into.
    pub dir: String,
    /// `Some((old, new))`: the top entry `old` is renamed `new`.
    pub rename: Option<(String, String)>,
}

/// Go's `filepath.Clean` for the slash-separated paths `cp` handles.
fn clean(path: &str) -> String {
    let abs = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if abs => {}
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Whether a path names the current directory of its parent (`dir/.`, `.`).
fn specifies_current_dir(path: &str) -> bool {
    path == "." || path.ends_with("/.")
}

/// Whether a path asserts a directory (`dir/`, `dir/.`).
pub fn asserts_directory(path: &str) -> bool {
    path.ends_with('/') || specifies_current_dir(path)
}

/// Docker's `SplitPathDirEntry`: the parent and the base of a cleaned path, keeping a trailing
/// `/.` as the base `.`.
pub fn split_dir_entry(path: &str) -> (String, String) {
    let mut cleaned = clean(path);
    if specifies_current_dir(path) && cleaned != "." {
        cleaned.push_str("/.");
    }
    match cleaned.rsplit_once('/') {
        Some(("", base)) => ("/".into(), base.into()),
        Some((dir, base)) => (dir.into(), base.into()),
        None => (".".into(), cleaned),
    }
}

/// Docker's `PrepareArchiveCopy`: the extraction directory and renaming for copying `src` to
/// `dst`, or Docker's error.
pub fn prepare(src: &CopyInfo, dst: &CopyInfo) -> Result<Prepared, String> {
    let (dst_dir, dst_base) = split_dir_entry(&dst.path);
    // The tar's top entry is the source's base name; a rebase name (`-L`) replaces it.
    let (_, tar_top) = split_dir_entry(&src.path);
    let renamed = |dir: String| Prepared {
        dir,
        rename: Some((tar_top.clone(), dst_base.clone())),
    };
    if dst.exists && dst.is_dir {
        return Ok(Prepared {
            dir: dst.path.clone(),
            rename: src.rebase_name.clone().map(|n| (tar_top.clone(), n)),
        });
    }
    if dst.exists && src.is_dir {
        return Err("cannot copy directory".into());
    }
    if dst.exists || src.is_dir {
        return Ok(renamed(dst_dir));
    }
    if asserts_directory(&dst.path) {
        return Err("no such directory".into());
    }
    Ok(renamed(dst_dir))
}

/// Renames the top component `old` of `name` to `new`.
pub fn rebase(name: &str, rename: &Option<(String, String)>) -> String {
    let Some((old, new)) = rename else {
        return name.to_string();
    };
    let trimmed = name
        .strip_prefix("./")
        .filter(|_| old != ".")
        .unwrap_or(name);
    if trimmed == old.as_str() {
        return new.clone();
    }
    match trimmed.strip_prefix(old.as_str()) {
        Some(rest) if rest.starts_with('/') => format!("{new}{rest}"),
        _ => name.to_string(),
    }
}

/// The relative path an entry name stands for; refuses `..`.
fn entry_path(name: &str) -> io::Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(name).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("refusing tar entry {name:?}: it climbs out of the destination"),
                ))
            }
        }
    }
    Ok(out)
}

/// Refuses a path below `root` whose parent components are symlinks or missing directories
/// are created (mode 0755).
fn safe_parent(root: &Path, rel: &Path) -> io::Result<()> {
    let mut cur = root.to_path_buf();
    let Some(parent) = rel.parent() else {
        return Ok(());
    };
    for c in parent.components() {
        cur.push(c);
        match std::fs::symlink_metadata(&cur) {
            Ok(md) if md.is_dir() => {}
            Ok(_) => {
                return Err(io::Error::other(format!(
                    "refusing to write through {}: not a directory",
                    cur.display()
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::create_dir(&cur)?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn set_mtime(path: &Path, mtime: u64) {
    let when = std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(mtime));
    if let (Some(when), Ok(f)) = (when, std::fs::File::open(path)) {
        let _ = f.set_modified(when);
    }
}

/// Extracts the tar `input` into directory `dir`, renaming the top entry as `rename` says.
/// Owners are not applied (as Docker's client does not); devices and fifos are skipped.
pub fn extract(input: impl Read, dir: &Path, rename: &Option<(String, String)>) -> io::Result<()> {
    let mut archive = ::tar::Archive::new(input);
    let mut dirs: Vec<(PathBuf, u32, u64)> = Vec::new();
    for e in archive.entries()? {
        let mut e = e?;
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let kind = kind(e.header(), &name);
        let (mode, mtime) = (e.header().mode()? & 0o7777, e.header().mtime()?);
        let link = e
            .link_name_bytes()
            .map(|l| l.into_owned())
            .unwrap_or_default();
        let rel = entry_path(&rebase(&name, rename))?;
        if rel.as_os_str().is_empty() {
            if kind == Kind::Dir {
                dirs.push((dir.to_path_buf(), mode, mtime));
            }
            continue;
        }
        safe_parent(dir, &rel)?;
        let path = dir.join(&rel);
        let existing = std::fs::symlink_metadata(&path).ok();
        let existing_dir = existing.as_ref().is_some_and(|m| m.is_dir());
        match kind {
            Kind::Dir => {
                if let Some(md) = &existing {
                    if !md.is_dir() {
                        return Err(io::Error::other(format!(
                            "cannot overwrite non-directory {} with directory",
                            path.display()
                        )));
                    }
                } else {
                    std::fs::create_dir(&path)?;
                }
                dirs.push((path, mode, mtime));
            }
            Kind::Other => {}
            _ if existing_dir => {
                return Err(io::Error::other(format!(
                    "cannot overwrite directory {} with non-directory",
                    path.display()
                )))
            }
            Kind::File => {
                if existing.is_some() {
                    std::fs::remove_file(&path)?;
                }
                let mut f = std::fs::File::create(&path)?;
                let want = e.size();
                if io::copy(&mut e, &mut f)? != want {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("tar entry {name:?} is truncated"),
                    ));
                }
                f.set_permissions(std::fs::Permissions::from_mode(mode))?;
                drop(f);
                set_mtime(&path, mtime);
            }
            Kind::Symlink => {
                if existing.is_some() {
                    std::fs::remove_file(&path)?;
                }
                std::os::unix::fs::symlink(OsStr::from_bytes(&link), &path)?;
            }
            Kind::HardLink => {
                let target_rel = entry_path(&rebase(&String::from_utf8_lossy(&link), rename))?;
                safe_parent(dir, &target_rel)?;
                let target = dir.join(&target_rel);
                if std::fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
                    return Err(io::Error::other(format!(
                        "refusing hard link {} to a directory",
                        path.display()
                    )));
                }
                if existing.is_some() {
                    std::fs::remove_file(&path)?;
                }
                std::fs::hard_link(&target, &path)?;
            }
        }
    }
    for (path, mode, mtime) in dirs.into_iter().rev() {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
        set_mtime(&path, mtime);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(path: &str, exists: bool, is_dir: bool) -> CopyInfo {
        CopyInfo {
            path: path.into(),
            exists,
            is_dir,
            rebase_name: None,
        }
    }

    #[test]
    fn split_like_docker() {
        assert_eq!(split_dir_entry("/a/b"), ("/a".into(), "b".into()));
        assert_eq!(split_dir_entry("/a/b/"), ("/a".into(), "b".into()));
        assert_eq!(split_dir_entry("/a/b/."), ("/a/b".into(), ".".into()));
        assert_eq!(split_dir_entry("b"), (".".into(), "b".into()));
        assert_eq!(split_dir_entry("/b"), ("/".into(), "b".into()));
    }

    #[test]
    fn prepare_cases() {
        let file = info("/src/f", true, false);
        let dir = info("/src/d", true, true);
        assert_eq!(
            prepare(&file, &info("/dst", true, true)),
            Ok(Prepared {
                dir: "/dst".into(),
                rename: None
            })
        );
        assert_eq!(
            prepare(&dir, &info("/dst/x", true, false)),
            Err("cannot copy directory".into())
        );
        assert_eq!(
            prepare(&file, &info("/dst/new", false, false)),
            Ok(Prepared {
                dir: "/dst".into(),
                rename: Some(("f".into(), "new".into()))
            })
        );
        assert_eq!(
            prepare(&file, &info("/dst/new/", false, false)),
            Err("no such directory".into())
        );
        assert_eq!(
            prepare(&info("/src/d/.", true, true), &info("/dst/n", false, false)).unwrap(),
            Prepared {
                dir: "/dst".into(),
                rename: Some((".".into(), "n".into()))
            }
        );
    }

    #[test]
    fn rebase_top_names() {
        let r = Some(("f".to_string(), "g".to_string()));
        assert_eq!(rebase("f", &r), "g");
        assert_eq!(rebase("f/x", &r), "g/x");
        assert_eq!(rebase("fx", &r), "fx");
        let dot = Some((".".to_string(), "n".to_string()));
        assert_eq!(rebase("./a", &dot), "n/a");
        assert_eq!(rebase("./", &dot), "n/");
        assert_eq!(rebase(".", &dot), "n");
    }

    #[test]
    fn extraction_stays_inside() {
        let dir = tempfile::tempdir().unwrap();
        let mut tar = Vec::new();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/f"), b"x").unwrap();
        super::super::tar::write_local(&src, "src", &mut tar).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        extract(&tar[..], &out, &Some(("src".into(), "renamed".into()))).unwrap();
        assert_eq!(std::fs::read(out.join("renamed/sub/f")).unwrap(), b"x");
        assert!(entry_path("../x").is_err());
        assert_eq!(entry_path("/a/./b").unwrap(), PathBuf::from("a/b"));
        // A symlink in the way is not written through.
        std::os::unix::fs::symlink("/", out.join("ln")).unwrap();
        assert!(safe_parent(&out, Path::new("ln/etc/x")).is_err());
        // Nor is it replaced by, or extracted through, a directory entry of that name.
        assert!(extract(&tar[..], &out, &Some(("src".into(), "ln".into()))).is_err());
        assert!(std::fs::symlink_metadata(out.join("ln"))
            .unwrap()
            .is_symlink());
    }

    #[test]
    fn a_truncated_entry_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), vec![1u8; 2000]).unwrap();
        let mut tar = Vec::new();
        super::super::tar::write_local(&dir.path().join("f"), "f", &mut tar).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let err = extract(&tar[..1024], &out, &None).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}
