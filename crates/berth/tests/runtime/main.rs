//! Root integration tests of `berth runtime`, run as the real binary against the real kernel.
//!
//! Opt in with `BERTH_ROOT_TESTS=1` (CI sets it); opted in without root, the tests fail. Each test
//! builds its own busybox bundle and state root in a temp dir, uses a unique container id and cgroup
//! path, and deletes its container on drop, so tests run in parallel and clean up when they fail.
//!
//! The rootfs holds Debian's static busybox and `probe`, a tiny static program (probe.c) that tries
//! one syscall and prints the errno, so tests assert exact kernel answers.

// Tests may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod harness;
#[path = "../common/protected.rs"]
mod protected;

mod bad_input;
mod catalog_esc;
mod catalog_iso;
mod cgroups;
mod console;
mod escapes;
mod hooks;
mod isolation;
mod lifecycle;
mod mount_table;
mod parity;
mod rootfs;
mod rootfs_escapes;
mod security;
mod signals;
mod update;
mod userns_joins;
