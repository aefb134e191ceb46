//! Berth's Dockerfile builder: a pure parser ([`parser`]) and an executor ([`exec`]) that drives a
//! [`exec::BuildHost`] — the daemon implements the host with its containers and images, the tests
//! with an in-memory fake. Synchronous: the daemon calls it from its blocking pool.
//!
//! - [`parser`]: directives, continuations, heredocs, typed instructions, variable expansion;
//! - [`dockerignore`]: `.dockerignore` patterns (Go's `filepath.Match` with `**`, `!` exceptions);
//! - [`context`]: the build context on disk — sources resolved inside it, content hashes;
//! - [`exec`]: stages, steps, the layer cache and the host trait;
//! - [`archive`]: small tar helpers for hosts.

pub mod archive;
pub mod context;
pub mod dockerignore;
pub mod exec;
pub mod parser;

pub use parser::{parse, Dockerfile, ParseError};
