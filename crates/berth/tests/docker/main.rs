//! End-to-end tests of the container engine driven by the real docker CLI against a real
//! `berth daemon` (opt in with `BERTH_ROOT_TESTS=1`; they fail, not skip, without root).
//! Each test runs its own daemon in its own temp root ([`harness::Daemon`]).

mod bad_input;
mod harness;
mod lifecycle;
mod reliability;
mod run;
