//! Berth's built-in OCI runtime: turns an OCI bundle (config.json + rootfs) into an isolated, limited
//! process, and manages it through the runc-compatible lifecycle (create, start, state, kill, delete,
//! exec, ps, pause, resume, list).
//!
//! The crate is synchronous and must only ever run in a single-threaded process: it forks, clones and
//! calls `setns`, which are unsound next to other threads. The daemon reaches it only through the shim.
//!
//! Module map:
//! - [`spec`]: loading and validating `config.json`.
//! - [`container`]: the lifecycle verbs and the on-disk state of a container.
//! - [`init`], [`namespaces`], [`console`], [`hooks`]: the setup process that becomes PID 1.
//! - [`rootfs`]: mounts, devices, `pivot_root`, masked and read-only paths.
//! - [`cgroups`]: resource limits, v1 and v2, detected at run time.
//! - [`security`]: capabilities, seccomp, rlimits, user switching, no_new_privs.
//! - [`sealed_exe`]: the sealed memfd copy of the runtime's executable that container processes are
//!   cloned from (no container can write the host's binary through `/proc/<pid>/exe`).
//! - [`signals`]: the default signal dispositions a container's process starts with.
//! - [`sys`]: the seam through which rootfs setup reaches the kernel, with a recording fake for tests.

pub mod cgroups;
pub mod console;
pub mod container;
pub mod error;
pub mod hooks;
pub mod init;
pub mod namespaces;
pub mod rootfs;
pub mod sealed_exe;
pub mod security;
pub mod signals;
pub mod spec;
pub mod sys;

pub use error::{Result, RuntimeError};
