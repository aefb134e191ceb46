//! What a `RUN --mount` is on this host, and what it must not leave behind:
//!
//! - `cache`: a directory under `<data-root>/builder/cache-mounts` kept by id between builds;
//! - `secret`: the client's bytes written to a file of its own under
//!   `<exec-root>/build-secrets/<daemon run>-<build>/` (the exec root is a tmpfs: nothing reaches
//!   a disk), bind-mounted read-only; the directory goes when the build ends, and a daemon
//!   that died during a build has its leftovers removed by the next build;
//! - mount points: a target missing from the image makes the runtime create it (an empty file or
//!   directory) in the container's writable layer. [`Stubs`] notes, before the step runs, which
//!   targets and parents are missing, and after it removes those that are still empty, so the
//!   step's layer carries no trace of its mounts (as BuildKit). The removal is fd-relative from
//!   the layer's top with `O_NOFOLLOW`: a step that turned a parent into a symbolic link cannot
//!   make it remove anything outside the layer.
//!
//! Secrets are held as [`Secret`]: never printed (its `Debug` is redacted), zeroed when dropped.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use nix::fcntl::{openat, renameat2, OFlag, RenameFlags, AT_FDCWD};
use nix::sys::stat::{fstatat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

/// The bytes of one secret.
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.fill(0);
    }
}

/// One build's secrets and the directory their files are written to (removed on drop).
#[derive(Debug)]
pub struct SecretFiles {
    secrets: BTreeMap<String, Secret>,
    dir: PathBuf,
    next: AtomicUsize,
    /// The remapped root's group (`--userns-remap`): the directory is 0710 root:group, so the
    /// build container's root can reach its files, and nobody else.
    group: Option<u32>,
}

/// Where the secret files of builds live, under the exec root.
fn secrets_root(exec_root: &Path) -> PathBuf {
    exec_root.join("build-secrets")
}

impl SecretFiles {
    /// The secrets of build `build` of this daemon run; nothing is written before a step
    /// mounts one. Directories other daemon runs left are removed.
    pub fn new(exec_root: &Path, build: &str, secrets: BTreeMap<String, Secret>) -> SecretFiles {
        let root = secrets_root(exec_root);
        let run = super::daemon_run_id();
        if let Ok(rd) = std::fs::read_dir(&root) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !name.starts_with(run) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        SecretFiles {
            secrets,
            dir: root.join(format!("{run}-{build}")),
            next: AtomicUsize::new(0),
            group: None,
        }
    }

    /// The secret files of a daemon with `--userns-remap` ([`SecretFiles::group`]).
    pub fn with_group(mut self, group: Option<u32>) -> SecretFiles {
        self.group = group;
        self
    }

    /// The ids of the secrets.
    pub fn ids(&self) -> std::collections::BTreeSet<String> {
        self.secrets.keys().cloned().collect()
    }

    /// Writes secret `id` to a new file owned by `uid`:`gid` with `mode`; returns its path.
    pub fn write(&self, id: &str, uid: u32, gid: u32, mode: u32) -> Result<PathBuf, String> {
        let secret = self
            .secrets
            .get(id)
            .ok_or_else(|| format!("secret {id} was not given"))?;
        let fail = |what: &str, e: std::io::Error| format!("{what} for secret {id}: {e}");
        std::fs::create_dir_all(&self.dir).map_err(|e| fail("making the directory", e))?;
        let dir_mode = match self.group {
            Some(group) => {
                std::os::unix::fs::chown(&self.dir, Some(0), Some(group))
                    .map_err(|e| fail("owning the directory", e))?;
                0o710
            }
            None => 0o700,
        };
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(dir_mode))
            .map_err(|e| fail("protecting the directory", e))?;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.join(n.to_string());
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| fail("creating the file", e))?;
        f.write_all(&secret.0)
            .map_err(|e| fail("writing the file", e))?;
        std::os::unix::fs::fchown(&f, Some(uid), Some(gid))
            .map_err(|e| fail("owning the file", e))?;
        f.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))
            .map_err(|e| fail("setting the mode of the file", e))?;
        Ok(path)
    }
}

impl Drop for SecretFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The directory kept for cache mount `id` under `root` (made with `uid`, `gid` and `mode` the
/// first time; two builds racing to make it end up with one).
pub fn cache_dir(root: &Path, id: &str, uid: u32, gid: u32, mode: u32) -> Result<PathBuf, String> {
    let digest = berth_oci::Digest::sha256_of(id.as_bytes());
    let name = &digest.hex()[..32];
    let dir = root.join(name);
    let fail = |e: std::io::Error| format!("making the cache mount {id} at {}: {e}", dir.display());
    if !dir.is_dir() {
        std::fs::create_dir_all(root).map_err(fail)?;
        // Made aside under a name of its own, then moved in place unless another stage or
        // build was first (never over its directory, which may be mounted already).
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = root.join(format!(".{name}.{}.{n}", std::process::id()));
        std::fs::create_dir(&tmp).map_err(fail)?;
        let made = std::os::unix::fs::chown(&tmp, Some(uid), Some(gid))
            .and_then(|()| {
                std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode & 0o7777))
            })
            .and_then(|()| {
                renameat2(
                    AT_FDCWD,
                    &tmp,
                    AT_FDCWD,
                    &dir,
                    RenameFlags::RENAME_NOREPLACE,
                )
                .map_err(std::io::Error::from)
            });
        if let Err(e) = made {
            let _ = std::fs::remove_dir(&tmp);
            if !dir.is_dir() {
                return Err(fail(e));
            }
        }
    }
    Ok(dir)
}

/// The files the engine bind-mounts into every container; a `RUN` changes them in the
/// container's own copies, never in its layer (as Docker: they are its init layer's).
const ENGINE_FILES: [&str; 3] = ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];

/// The mount points a `RUN` step may have made: its mount targets, the engine's files and
/// their parents (absolute in the container, deepest first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stubs(Vec<String>);

impl Stubs {
    /// The candidates for a step with mounts at `targets`.
    pub fn of(targets: &[String]) -> Stubs {
        let mut all: Vec<String> = Vec::new();
        for t in targets.iter().map(String::as_str).chain(ENGINE_FILES) {
            let mut path = String::new();
            for part in t.split('/').filter(|p| !p.is_empty() && *p != ".") {
                path = format!("{path}/{part}");
                if !all.contains(&path) {
                    all.push(path.clone());
                }
            }
        }
        // Deepest first, so a directory is empty once what was made in it is gone.
        all.sort_by_key(|p| std::cmp::Reverse(p.matches('/').count()));
        Stubs(all)
    }

    /// Removes, in the writable layer `top` over the image's layers `lowers` (overlayfs), each
    /// candidate that the step's layer adds as an empty file or an empty directory and that no
    /// lower layer has: what the runtime made to mount on. What the step itself wrote, and
    /// anything the image had, stays. Without lower layers (a plain-copy snapshot holds the
    /// whole tree) nothing can be told apart and nothing is removed.
    pub fn remove(&self, top: &Path, lowers: &[PathBuf]) -> Result<(), String> {
        if lowers.is_empty() {
            return Ok(());
        }
        let open = |p: &Path| -> Result<OwnedFd, String> {
            std::fs::File::open(p)
                .map(OwnedFd::from)
                .map_err(|e| format!("opening {}: {e}", p.display()))
        };
        let root = open(top)?;
        let lowers = lowers
            .iter()
            .map(|l| open(l))
            .collect::<Result<Vec<_>, _>>()?;
        for stub in &self.0 {
            let rel = stub.trim_start_matches('/');
            let Some((dir, name, st)) = lookup(&root, rel)
                .map_err(|e| format!("reading {stub} in the step's layer: {e}"))?
            else {
                continue;
            };
            let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
            let how = if kind == SFlag::S_IFREG && st.st_size == 0 {
                UnlinkatFlags::NoRemoveDir
            } else if kind == SFlag::S_IFDIR {
                UnlinkatFlags::RemoveDir
            } else {
                continue;
            };
            let mut in_image = false;
            for l in &lowers {
                if lookup(l, rel)
                    .map_err(|e| format!("reading {stub} in the image: {e}"))?
                    .is_some()
                {
                    in_image = true;
                    break;
                }
            }
            if in_image {
                continue;
            }
            let at = dir.as_ref().unwrap_or(&root);
            match unlinkat(at, name, how) {
                Ok(()) => {}
                Err(nix::errno::Errno::ENOTEMPTY | nix::errno::Errno::EEXIST) => {}
                Err(nix::errno::Errno::ENOENT) => {}
                Err(e) => return Err(format!("removing the mount point {stub}: {e}")),
            }
        }
        Ok(())
    }
}

/// `rel` under `root` without following links: its parent directory (`None`: `root`), its
/// name and its stat; `None` when it is not there (or a parent is not a directory).
fn lookup<'a>(
    root: &OwnedFd,
    rel: &'a str,
) -> nix::Result<Option<(Option<OwnedFd>, &'a str, nix::sys::stat::FileStat)>> {
    let (parent, name) = match rel.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, rel),
    };
    let dir = match parent {
        None => None,
        Some(p) => match open_dir_nofollow(root, p) {
            Ok(d) => Some(d),
            // Gone, or no longer a directory (a link the step made): nothing of ours.
            Err(
                nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR | nix::errno::Errno::ELOOP,
            ) => return Ok(None),
            Err(e) => return Err(e),
        },
    };
    let at = dir.as_ref().unwrap_or(root);
    match fstatat(at, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some((dir, name, st))),
        Err(nix::errno::Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens directory `rel` under `root` one component at a time, following no link.
fn open_dir_nofollow(root: &OwnedFd, rel: &str) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let mut fd: Option<OwnedFd> = None;
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        let next = match &fd {
            Some(d) => openat(d.as_fd(), part, flags, Mode::empty())?,
            None => openat(root.as_fd(), part, flags, Mode::empty())?,
        };
        fd = Some(next);
    }
    match fd {
        Some(d) => Ok(d),
        None => nix::unistd::dup(root.as_fd()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stages of one build (or two builds) make the same cache mount at once: each gets the
    /// one directory, and nothing is left beside it.
    #[test]
    fn cache_dirs_made_at_once_are_one() {
        let root = tempfile::tempdir().expect("tempdir");
        let (uid, gid) = (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
        let made: Vec<Result<PathBuf, String>> = std::thread::scope(|s| {
            let all: Vec<_> = (0..8)
                .map(|_| s.spawn(|| cache_dir(root.path(), "shared", uid, gid, 0o755)))
                .collect();
            all.into_iter().map(|t| t.join().expect("thread")).collect()
        });
        let first = made[0].clone().expect("made");
        for m in made {
            assert_eq!(m.expect("made"), first);
        }
        let entries = std::fs::read_dir(root.path()).expect("list").count();
        assert_eq!(entries, 1, "one directory, no leftovers");
    }

    #[test]
    fn stubs_are_the_targets_the_engine_files_and_their_parents_deepest_first() {
        let stubs = Stubs::of(&["/run/secrets/a".into(), "/run/secrets/b".into()]);
        assert_eq!(
            stubs.0,
            [
                "/run/secrets/a",
                "/run/secrets/b",
                "/run/secrets",
                "/etc/hostname",
                "/etc/hosts",
                "/etc/resolv.conf",
                "/run",
                "/etc"
            ]
        );
    }

    #[test]
    fn only_empty_stubs_the_image_lacks_are_removed_and_links_are_not_followed() {
        let top = tempfile::tempdir().expect("tempdir");
        let lower = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        let (t, l) = (top.path(), lower.path());
        std::fs::create_dir_all(t.join("run/secrets")).expect("mkdir");
        std::fs::write(t.join("run/secrets/a"), "").expect("stub");
        std::fs::create_dir_all(t.join("etc")).expect("mkdir");
        std::fs::write(t.join("etc/hosts"), "").expect("stub");
        std::fs::write(t.join("etc/hostname"), "").expect("empty, but the image's");
        std::fs::create_dir_all(l.join("etc")).expect("mkdir");
        std::fs::write(l.join("etc/hostname"), "base").expect("write");
        std::fs::create_dir_all(t.join("cache")).expect("mkdir");
        std::fs::write(t.join("cache/kept"), "made by the step").expect("write");
        std::fs::write(t.join("file"), "not empty").expect("write");
        std::fs::write(outside.path().join("victim"), "").expect("write");
        std::os::unix::fs::symlink(outside.path(), t.join("link")).expect("symlink");
        let stubs = Stubs(vec![
            "/run/secrets/a".into(),
            "/run/secrets".into(),
            "/etc/hosts".into(),
            "/etc/hostname".into(),
            "/cache".into(),
            "/file".into(),
            "/link/victim".into(),
            "/run".into(),
            "/etc".into(),
            "/never".into(),
        ]);
        stubs.remove(t, &[l.to_path_buf()]).expect("remove");
        assert!(!t.join("run").exists(), "made for the mount, now empty");
        assert!(!t.join("etc/hosts").exists());
        assert!(t.join("etc/hostname").exists(), "the image has it");
        assert!(t.join("cache/kept").exists());
        assert!(t.join("file").exists());
        assert!(outside.path().join("victim").exists(), "behind a link");
        // Without lower layers nothing can be told apart.
        std::fs::write(t.join("etc/hosts"), "").expect("stub");
        stubs.remove(t, &[]).expect("remove");
        assert!(t.join("etc/hosts").exists());
    }

    #[test]
    fn secret_files_are_private_and_go_with_the_build() {
        let exec = tempfile::tempdir().expect("tempdir");
        let stale = secrets_root(exec.path()).join("otherrun-1");
        std::fs::create_dir_all(&stale).expect("mkdir");
        let mut map = BTreeMap::new();
        map.insert("tok".to_string(), Secret::new(b"s3cr3t".to_vec()));
        let files = SecretFiles::new(exec.path(), "b1", map);
        assert!(
            !stale.exists(),
            "another daemon run's leftovers are removed"
        );
        let p = files.write("tok", 0, 0, 0o400).expect("write");
        assert_eq!(std::fs::read(&p).expect("read"), b"s3cr3t");
        let meta = std::fs::metadata(&p).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o7777, 0o400);
        assert!(files.write("other", 0, 0, 0o400).is_err());
        assert_eq!(
            format!("{:?}", Secret::new(b"xyz".to_vec())),
            "Secret(<3 bytes redacted>)"
        );
        let dir = p.parent().expect("dir").to_path_buf();
        drop(files);
        assert!(!dir.exists());
    }
}
