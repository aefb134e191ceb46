//! Root tests of the network crate on the real kernel (opt in with `BERTH_ROOT_TESTS=1`).
//!
//! Every test makes its own uniquely named namespaces and bridges, and Drop guards remove them even when
//! the test fails. Traffic stays on this machine: loopback, the test's bridges and namespaces.
#![allow(clippy::unwrap_used)] // tests may unwrap

mod conntrack;
mod dns;
mod firewall;
mod harness;
mod ipv6;
mod links;
