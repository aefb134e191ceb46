//! Root tests of the shim: real containers from a busybox bundle, driven through the client the
//! daemon uses. Opt in with `BERTH_ROOT_TESTS=1` (as root).

#![allow(clippy::unwrap_used)] // tests may unwrap

mod external;
mod harness;
mod lifecycle;
mod streams;
