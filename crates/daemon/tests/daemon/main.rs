//! Daemon integration tests: a real Berth daemon per test (own temp data root and socket), driven by
//! the real docker CLI and by raw HTTP (curl over the UNIX socket). `root` tests (overlay) are opted
//! in with `BERTH_ROOT_TESTS=1` and fail when opted in without root.

mod harness;
mod http;
mod images_cli;
mod layering;
mod root;
mod system_cli;
mod upgrade;
