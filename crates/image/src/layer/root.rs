//! fd-relative access to an apply target: the half of path safety that touches the file system.
//!
//! The target directory is opened once. A directory inside it is reached by `openat2` with
//! `RESOLVE_BENEATH` (one syscall, refuses anything that would leave the root) or, when that fails, by
//! walking one component at a time with `O_NOFOLLOW`, following symlinks by hand with the target as
//! `/` (so an absolute symlink such as `lib -> /usr/lib` stays inside, as it would in the container)
//! and refusing a symlink whose `..` climbs above the root. Final components are then created or
//! removed with `*at` calls relative to that directory fd, never by joining strings.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use nix::errno::Errno;
use nix::fcntl::{openat, openat2, readlinkat, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstatat, mkdirat, FileStat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

use super::path::display;
use super::LayerError;

/// Symlinks followed while resolving one directory, as the kernel allows.
const MAX_SYMLINK_HOPS: u32 = 40;
/// Deepest tree [`clear_dir`] removes.
const MAX_REMOVE_DEPTH: usize = 1024;

/// The apply target, opened once, with a one-entry cache of the last directory resolved.
pub(crate) struct Root {
    root: Rc<OwnedFd>,
    cache: Option<(PathBuf, Rc<OwnedFd>)>,
}

fn dir_flags() -> OFlag {
    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

impl Root {
    /// Opens the target directory (the caller's path; symlinks in it are the caller's business).
    pub(crate) fn open(path: &Path) -> Result<Root, LayerError> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| LayerError::Target {
            path: path.to_path_buf(),
            source: io::Error::from(e),
        })?;
        Ok(Root {
            root: Rc::new(fd),
            cache: None,
        })
    }

    /// Forgets the cached directory: call after anything was removed or replaced.
    pub(crate) fn invalidate(&mut self) {
        self.cache = None;
    }

    /// Opens directory `dir` (a normalised relative path) inside the root for `*at` calls.
    ///
    /// With `create`, missing directories are made (mode 0755, as Docker does); without, a missing
    /// one gives `Ok(None)`. `entry` names the layer entry in errors.
    pub(crate) fn dir(
        &mut self,
        entry: &[u8],
        dir: &Path,
        create: bool,
    ) -> Result<Option<Rc<OwnedFd>>, LayerError> {
        if dir.as_os_str().is_empty() {
            return Ok(Some(self.root.clone()));
        }
        if let Some((path, fd)) = &self.cache {
            if path == dir {
                return Ok(Some(fd.clone()));
            }
        }
        let how = OpenHow::new()
            .flags(dir_flags())
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let fd = match openat2(self.root.as_fd(), dir, how) {
            Ok(fd) => fd,
            Err(
                Errno::ENOENT
                | Errno::EXDEV
                | Errno::ENOTDIR
                | Errno::ELOOP
                | Errno::ENOSYS
                | Errno::EAGAIN,
            ) => match self.walk(entry, dir, create)? {
                Some(fd) => fd,
                None => return Ok(None),
            },
            Err(e) => {
                return Err(LayerError::entry(
                    "open the directory of",
                    &display(entry),
                    e,
                ))
            }
        };
        let fd = Rc::new(fd);
        self.cache = Some((dir.to_path_buf(), fd.clone()));
        Ok(Some(fd))
    }

    /// The component-by-component resolution described in the module docs.
    fn walk(&self, entry: &[u8], dir: &Path, create: bool) -> Result<Option<OwnedFd>, LayerError> {
        let entry_s = || display(entry);
        let mut stack: Vec<OwnedFd> = Vec::new();
        let mut queue: VecDeque<OsString> = dir.iter().map(|c| c.to_os_string()).collect();
        let mut hops = 0;
        let mut last_link: Option<(OsString, OsString)> = None;
        while let Some(comp) = queue.pop_front() {
            match comp.as_bytes() {
                b"" | b"." => continue,
                b".." => {
                    if stack.pop().is_none() {
                        let (symlink, target) = last_link.clone().unwrap_or_default();
                        return Err(LayerError::SymlinkEscape {
                            entry: entry_s(),
                            symlink: symlink.to_string_lossy().into_owned(),
                            link_target: target.to_string_lossy().into_owned(),
                        });
                    }
                    continue;
                }
                _ => {}
            }
            let cur = top(&self.root, &stack);
            match openat(cur, comp.as_os_str(), dir_flags(), Mode::empty()) {
                Ok(fd) => stack.push(fd),
                Err(Errno::ENOENT) if create => {
                    match mkdirat(cur, comp.as_os_str(), Mode::from_bits_truncate(0o755)) {
                        Ok(()) | Err(Errno::EEXIST) => queue.push_front(comp),
                        Err(e) => {
                            return Err(LayerError::entry("create a directory for", &entry_s(), e))
                        }
                    }
                }
                Err(Errno::ENOENT) => return Ok(None),
                Err(Errno::ENOTDIR | Errno::ELOOP) => {
                    let st = lstat_at(cur, comp.as_os_str())
                        .map_err(|e| LayerError::entry("inspect a directory of", &entry_s(), e))?;
                    if !is_type(&st, SFlag::S_IFLNK) {
                        return Err(LayerError::NotADirectory {
                            entry: entry_s(),
                            component: comp.to_string_lossy().into_owned(),
                        });
                    }
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(LayerError::SymlinkLoop { entry: entry_s() });
                    }
                    let target = readlinkat(cur, comp.as_os_str())
                        .map_err(|e| LayerError::entry("read a symlink of", &entry_s(), e))?;
                    if target.as_bytes().starts_with(b"/") {
                        stack.clear();
                    }
                    for part in Path::new(&target).iter().rev() {
                        if part.as_bytes() != b"/" {
                            queue.push_front(part.to_os_string());
                        }
                    }
                    last_link = Some((comp, target));
                }
                Err(e) => return Err(LayerError::entry("open a directory of", &entry_s(), e)),
            }
        }
        match stack.pop() {
            Some(fd) => Ok(Some(fd)),
            None => openat(self.root.as_fd(), ".", dir_flags(), Mode::empty())
                .map(Some)
                .map_err(|e| LayerError::entry("open the root for", &entry_s(), e)),
        }
    }
}

fn top<'a>(root: &'a OwnedFd, stack: &'a [OwnedFd]) -> BorrowedFd<'a> {
    stack.last().unwrap_or(root).as_fd()
}

/// `fstatat` without following a final symlink.
pub(crate) fn lstat_at<P: ?Sized + nix::NixPath>(
    dir: BorrowedFd<'_>,
    name: &P,
) -> nix::Result<FileStat> {
    fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
}

/// Whether a stat result is of the given file type.
pub(crate) fn is_type(st: &FileStat, kind: SFlag) -> bool {
    st.st_mode & SFlag::S_IFMT.bits() == kind.bits()
}

/// Removes `name` in `dir`, recursively if it is a directory (never following symlinks). A missing
/// entry is not an error.
pub(crate) fn remove_all(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    match unlinkat(dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(Errno::EISDIR) => {
            let sub = open_dir_read(dir, name)?;
            clear_dir(sub, &mut PathBuf::new(), &|_| false, 0)?;
            match unlinkat(dir, name, UnlinkatFlags::RemoveDir) {
                Ok(()) | Err(Errno::ENOENT) => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Opens a directory for listing, refusing a symlink.
pub(crate) fn open_dir_read(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?)
}

/// Removes the content of directory `dir` (opened for reading), depth first, except what `keep`
/// keeps: it is asked with each entry's path relative to the first directory (`rel`); a kept
/// directory is descended into and filtered the same way.
pub(crate) fn clear_dir(
    dir: OwnedFd,
    rel: &mut PathBuf,
    keep: &dyn Fn(&Path) -> bool,
    depth: usize,
) -> io::Result<()> {
    if depth > MAX_REMOVE_DEPTH {
        return Err(io::Error::other(format!(
            "directory tree deeper than {MAX_REMOVE_DEPTH} levels at {}",
            rel.display()
        )));
    }
    let mut listing = nix::dir::Dir::from_fd(dir)?;
    let mut names = Vec::new();
    for ent in listing.iter() {
        let ent = ent?;
        let name = ent.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_os_string());
        }
    }
    let fd = listing.as_fd();
    for name in names {
        rel.push(&name);
        let result = if keep(rel) {
            match lstat_at(fd, name.as_os_str()) {
                Ok(st) if is_type(&st, SFlag::S_IFDIR) => {
                    open_dir_read(fd, &name).and_then(|sub| clear_dir(sub, rel, keep, depth + 1))
                }
                Ok(_) | Err(Errno::ENOENT) => Ok(()),
                Err(e) => Err(e.into()),
            }
        } else {
            match unlinkat(fd, name.as_os_str(), UnlinkatFlags::NoRemoveDir) {
                Ok(()) | Err(Errno::ENOENT) => Ok(()),
                Err(Errno::EISDIR) => open_dir_read(fd, &name)
                    .and_then(|sub| clear_dir(sub, rel, &|_| false, depth + 1))
                    .and_then(|()| Ok(unlinkat(fd, name.as_os_str(), UnlinkatFlags::RemoveDir)?)),
                Err(e) => Err(e.into()),
            }
        };
        rel.pop();
        result?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, PathBuf) {
        let base = tempfile::tempdir().unwrap();
        let target = base.path().join("target");
        std::fs::create_dir_all(target.join("usr/lib")).unwrap();
        std::fs::create_dir(base.path().join("outside")).unwrap();
        (base, target)
    }

    fn resolve(target: &Path, dir: &str, create: bool) -> Result<Option<Rc<OwnedFd>>, LayerError> {
        Root::open(target)
            .unwrap()
            .dir(dir.as_bytes(), Path::new(dir), create)
    }

    fn path_of(fd: &OwnedFd) -> PathBuf {
        std::fs::read_link(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(fd)
        ))
        .unwrap()
    }

    #[test]
    fn absolute_and_relative_symlinks_stay_inside() {
        let (_base, target) = setup();
        symlink("/usr/lib", target.join("abs")).unwrap();
        symlink("usr/lib", target.join("rel")).unwrap();
        symlink("../../usr", target.join("usr/lib/up")).unwrap();
        for (dir, want) in [
            ("abs", "usr/lib"),
            ("rel", "usr/lib"),
            ("usr/lib/up/lib", "usr/lib"),
        ] {
            let fd = resolve(&target, dir, false).unwrap().unwrap();
            assert_eq!(path_of(&fd), target.join(want), "{dir}");
        }
    }

    #[test]
    fn symlinks_climbing_out_are_refused() {
        let (_base, target) = setup();
        symlink("../outside", target.join("evil")).unwrap();
        symlink("usr/../../../outside", target.join("evil2")).unwrap();
        for dir in ["evil", "evil2/sub"] {
            let err = resolve(&target, dir, true).unwrap_err();
            assert!(
                matches!(err, LayerError::SymlinkEscape { .. }),
                "{dir}: {err}"
            );
            assert!(err.to_string().contains(dir), "{err}");
        }
        assert_eq!(
            std::fs::read_dir(target.parent().unwrap().join("outside"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn loops_missing_and_files() {
        let (_base, target) = setup();
        symlink("loop", target.join("loop")).unwrap();
        std::fs::write(target.join("file"), b"").unwrap();
        assert!(matches!(
            resolve(&target, "loop", true),
            Err(LayerError::SymlinkLoop { .. })
        ));
        assert!(matches!(
            resolve(&target, "file/x", true),
            Err(LayerError::NotADirectory { .. })
        ));
        assert!(resolve(&target, "missing/deeper", false).unwrap().is_none());
        let made = resolve(&target, "missing/deeper", true).unwrap().unwrap();
        assert_eq!(path_of(&made), target.join("missing/deeper"));
    }

    #[test]
    fn remove_all_and_filtered_clear() {
        let (_base, target) = setup();
        std::fs::create_dir_all(target.join("d/keep/old")).unwrap();
        std::fs::write(target.join("d/keep/new"), b"").unwrap();
        std::fs::write(target.join("d/gone"), b"").unwrap();
        symlink("/", target.join("d/link")).unwrap();
        let root = Root::open(&target).unwrap();
        let d = open_dir_read(root.root.as_fd(), OsStr::new("d")).unwrap();
        let keep = |p: &Path| p == Path::new("keep") || p == Path::new("keep/new");
        clear_dir(d, &mut PathBuf::new(), &keep, 0).unwrap();
        let mut left: Vec<_> = walk_names(&target.join("d"));
        left.sort();
        assert_eq!(left, ["keep", "keep/new"]);
        remove_all(root.root.as_fd(), OsStr::new("usr")).unwrap();
        remove_all(root.root.as_fd(), OsStr::new("absent")).unwrap();
        assert!(!target.join("usr").exists());
    }

    fn walk_names(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_dir() {
                for sub in walk_names(&e.path()) {
                    out.push(format!("{name}/{sub}"));
                }
            }
            out.push(name);
        }
        out
    }
}
