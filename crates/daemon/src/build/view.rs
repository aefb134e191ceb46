//! The file system of a build step that changes files without running anything (`COPY`, `ADD`,
//! `WORKDIR`), or of an image a `COPY --from` reads: a writable snapshot on the parent image, mounted once for the whole step on a
//! thread of its own in a private mount namespace, where the step's stats, directory making,
//! extractions and `/etc/passwd` reads all happen. No container is made for such a step: the
//! snapshot is prepared, committed and released through the image store directly (a daemon that
//! dies meanwhile leaves a holder the next start releases, as for a container's).
//!
//! Every path is resolved inside the root with `RESOLVE_IN_ROOT` (symbolic links followed as the
//! container would see them, never out of it) by `docker cp`'s own lookup
//! (`containers::archive::resolve`); extraction goes through the image store's applier into the
//! directory so resolved, and a `COPY --from`'s source is read with `docker cp`'s tar writer. The mount lives in the thread's
//! namespace only, is `volatile` where the kernel allows (nothing to sync: the commit reads the
//! upper directory), and is gone when the thread ends, which [`StepRoot::close`] waits for.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use berth_image::layer::{ApplyOptions, WhiteoutMode};
use berth_image::snapshot::Mount;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::{fstat, SFlag};

use crate::containers::archive::resolve::{self, fd_path, ResolveError};
use crate::containers::archive::tarball;

type Job = Box<dyn FnOnce(&OwnedFd) + Send>;

/// The mounted snapshot's thread.
struct Worker {
    jobs: mpsc::Sender<Job>,
    thread: std::thread::JoinHandle<()>,
    /// The mount point (empty outside the thread's namespace), removed after it.
    dir: PathBuf,
}

/// One step's snapshot, mounted on first use.
pub struct StepRoot {
    mounts: Vec<Mount>,
    /// The mount point (a directory of the builder's scratch area, named after the step).
    dir: PathBuf,
    worker: Option<Worker>,
    /// The id map of a daemon with `--userns-remap`: files copied in are shifted into its
    /// range, files read out shifted back ([`crate::userns`]).
    id_map: Option<berth_image::layer::IdMap>,
}

/// `rel` opened under `root` with `RESOLVE_IN_ROOT` (`docker cp`'s lookup), its failure as the
/// `errno` it was.
fn open_in_root(root: &OwnedFd, rel: &str, flags: OFlag) -> Result<OwnedFd, Errno> {
    resolve::open_in_root(root, rel, flags).map_err(|e| match e {
        ResolveError::NotFound(_) => Errno::ENOENT,
        ResolveError::NotADirectory(_) => Errno::ENOTDIR,
        ResolveError::Io { source, .. } => source,
    })
}

/// Mounts `mounts` on `dir` in a namespace of this thread's own; the root's descriptor.
fn mount_private(mounts: &[Mount], dir: &Path) -> Result<OwnedFd, String> {
    unshare(CloneFlags::CLONE_FS | CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("unsharing the step's mount namespace: {e}"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(|e| format!("making / a slave in the step's namespace: {e}"))?;
    let volatile = berth_image::snapshot::volatile(mounts);
    if berth_image::snapshot::mount_all(&volatile, dir).is_err() {
        berth_image::snapshot::mount_all(mounts, dir)
            .map_err(|e| format!("mounting the step's file system: {e}"))?;
    }
    nix::fcntl::open(
        dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| format!("opening the step's root: {e}"))
}

impl StepRoot {
    /// The step `key`'s snapshot `mounts`, to be mounted under `scratch`.
    pub fn new(mounts: Vec<Mount>, scratch: &Path, key: &str) -> StepRoot {
        StepRoot {
            mounts,
            dir: scratch.join(format!("step-{key}")),
            worker: None,
            id_map: None,
        }
    }

    /// The step root of a remapped daemon ([`StepRoot::id_map`]).
    pub fn with_id_map(mut self, id_map: Option<berth_image::layer::IdMap>) -> StepRoot {
        self.id_map = id_map;
        self
    }

    /// Runs `f` with the root's descriptor on the mount's thread (mounting first if needed).
    fn run<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&OwnedFd) -> Result<T, String> + Send + 'static,
    ) -> Result<T, String> {
        if self.worker.is_none() {
            self.worker = Some(self.start()?);
        }
        let Some(w) = &self.worker else {
            return Err("the step's file system is not mounted".into());
        };
        let (tx, rx) = mpsc::channel();
        let job: Job = Box::new(move |root| {
            let _ = tx.send(f(root));
        });
        w.jobs
            .send(job)
            .map_err(|_| "the step's file system went away".to_string())?;
        rx.recv()
            .map_err(|_| "the step's file system went away".to_string())?
    }

    fn start(&self) -> Result<Worker, String> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("making the mount point {}: {e}", self.dir.display()))?;
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (ready_tx, ready) = mpsc::channel();
        let (mounts, at) = (self.mounts.clone(), self.dir.clone());
        let thread = std::thread::Builder::new()
            .name("build-step-fs".into())
            .spawn(move || {
                let root = match mount_private(&mounts, &at) {
                    Ok(root) => root,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                while let Ok(job) = inbox.recv() {
                    job(&root);
                }
                drop(root);
                let _ = berth_image::snapshot::unmount_all(&at);
            })
            .map_err(|e| format!("starting the step's thread: {e}"))?;
        match ready.recv() {
            Ok(Ok(())) => Ok(Worker {
                jobs,
                thread,
                dir: self.dir.clone(),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                let _ = std::fs::remove_dir(&self.dir);
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                let _ = std::fs::remove_dir(&self.dir);
                Err("the step's thread ended before mounting".into())
            }
        }
    }

    /// Unmounts (waiting for it): before the commit reads the snapshot, or its release.
    pub fn close(&mut self) {
        if let Some(w) = self.worker.take() {
            drop(w.jobs);
            let _ = w.thread.join();
            let _ = std::fs::remove_dir(&w.dir);
        }
    }

    /// Whether `path` is a directory (a link to one counts).
    pub fn is_dir(&mut self, path: &str) -> Result<bool, String> {
        let path = path.to_string();
        self.run(move |root| match open_in_root(root, &path, OFlag::O_PATH) {
            Ok(fd) => fstat(&fd)
                .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
                .map_err(|e| format!("stat of {path}: {e}")),
            Err(Errno::ENOENT | Errno::ENOTDIR) => Ok(false),
            Err(e) => Err(format!("resolving {path}: {e}")),
        })
    }

    /// Extracts `archive` into directory `dir`, making it and its missing parents (root-owned,
    /// 0755) first.
    pub fn copy_in(&mut self, dir: &str, archive: Box<dyn Read + Send>) -> Result<(), String> {
        let dir = dir.to_string();
        let id_map = self.id_map.clone();
        self.run(move |root| {
            let mut missing = Vec::new();
            let mut path = String::new();
            for part in dir.split('/').filter(|p| !p.is_empty()) {
                path = format!("{path}/{part}");
                if missing.is_empty() {
                    match open_in_root(root, &path, OFlag::O_PATH | OFlag::O_DIRECTORY) {
                        Ok(_) => continue,
                        Err(Errno::ENOENT) => {}
                        Err(Errno::ENOTDIR) => return Err(format!("{path} is not a directory")),
                        Err(e) => return Err(format!("resolving {path}: {e}")),
                    }
                }
                missing.push(path.trim_start_matches('/').to_string());
            }
            let mut opts = ApplyOptions::new(WhiteoutMode::Delete).with_literal_names();
            opts.id_map = id_map;
            if !missing.is_empty() {
                let tar = berth_build::archive::dirs_tar(&missing)
                    .map_err(|e| format!("making {dir}: {e}"))?;
                let top = open_in_root(root, "/", OFlag::O_PATH | OFlag::O_DIRECTORY)
                    .map_err(|e| format!("opening the root: {e}"))?;
                berth_image::layer::apply(tar.as_slice(), &fd_path(&top), &opts)
                    .map_err(|e| format!("making {dir}: {e}"))?;
            }
            let target = open_in_root(root, &dir, OFlag::O_PATH | OFlag::O_DIRECTORY)
                .map_err(|e| format!("opening {dir}: {e}"))?;
            berth_image::layer::apply(archive, &fd_path(&target), &opts)
                .map(|_| ())
                .map_err(|e| format!("copying into {dir}: {e}"))
        })
    }

    /// The tar of `path` as `docker cp` makes it (its top entry named after the path's last
    /// component; a trailing `/.` gives the directory's content), held in memory.
    pub fn tar_of(&mut self, path: &str) -> Result<Vec<u8>, String> {
        let path = path.to_string();
        let id_map = self.id_map.clone();
        self.run(move |root| {
            let (resolved, st) = resolve::stat_path(root, &path).map_err(|e| match e {
                ResolveError::NotFound(_) => format!("Could not find the file {path} in the image"),
                e => e.to_string(),
            })?;
            let mut out = Vec::new();
            tarball::write_tar(&resolved, &st.name, &mut out, id_map.as_ref())
                .map_err(|e| format!("archiving {path}: {e}"))?;
            Ok(out)
        })
    }

    /// The text of file `path` (at most `limit` bytes); `None` when it cannot be read.
    pub fn read_file(&mut self, path: &str, limit: u64) -> Option<String> {
        let path = path.to_string();
        self.run(move |root| {
            let fd = open_in_root(root, &path, OFlag::O_RDONLY).map_err(|e| e.to_string())?;
            let mut text = String::new();
            std::fs::File::from(fd)
                .take(limit)
                .read_to_string(&mut text)
                .map_err(|e| e.to_string())?;
            Ok(text)
        })
        .ok()
    }
}

impl Drop for StepRoot {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step root over a plain directory (bind-mounted, as the plain-copy snapshotter's).
    fn bound(dir: &Path, scratch: &Path) -> StepRoot {
        let m = Mount {
            kind: "bind".into(),
            source: dir.display().to_string(),
            options: vec!["rbind".into()],
            cwd: None,
        };
        StepRoot::new(vec![m], scratch, "test")
    }

    fn tar_of(name: &str, body: &[u8]) -> Box<dyn Read + Send> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, body).expect("append");
        Box::new(std::io::Cursor::new(b.into_inner().expect("tar")))
    }

    /// Needs root (mounts): runs with the other root tests.
    #[test]
    #[cfg_attr(
        not(root_tests),
        ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
    )]
    fn paths_resolve_inside_the_root_and_the_mount_goes_with_the_step() {
        let rootfs = tempfile::tempdir().expect("tempdir");
        let scratch_dir = tempfile::tempdir().expect("tempdir");
        let (r, scratch) = (rootfs.path(), scratch_dir.path());
        std::fs::create_dir_all(r.join("real")).expect("mkdir");
        std::fs::create_dir_all(r.join("etc")).expect("mkdir");
        std::fs::write(r.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").expect("passwd");
        std::os::unix::fs::symlink("/real", r.join("link")).expect("symlink");
        // An absolute link to the host's /etc: inside the root it is the root's /etc.
        std::os::unix::fs::symlink("/etc", r.join("hostetc")).expect("symlink");
        let mut step = bound(r, scratch);
        assert!(step.is_dir("/link").expect("is_dir"));
        assert!(!step.is_dir("/etc/passwd").expect("is_dir"));
        assert!(!step.is_dir("/missing/deeper").expect("is_dir"));
        step.copy_in("/link", tar_of("f", b"through the link"))
            .expect("copy_in");
        step.copy_in("/hostetc/berth-view-test", tar_of("g", b"inside"))
            .expect("copy_in");
        step.copy_in("/new/dirs", tar_of("h", b"made"))
            .expect("copy_in");
        assert_eq!(
            step.read_file("/hostetc/passwd", 1 << 10).as_deref(),
            Some("root:x:0:0::/root:/bin/sh\n")
        );
        let mount_point = scratch.join("step-test");
        assert!(mount_point.is_dir());
        step.close();
        assert!(!mount_point.exists(), "the mount point goes with the step");
        assert_eq!(
            std::fs::read(r.join("real/f")).expect("f"),
            b"through the link"
        );
        assert_eq!(
            std::fs::read(r.join("etc/berth-view-test/g")).expect("g"),
            b"inside"
        );
        assert!(!Path::new("/etc/berth-view-test").exists());
        assert_eq!(std::fs::read(r.join("new/dirs/h")).expect("h"), b"made");
    }
}
