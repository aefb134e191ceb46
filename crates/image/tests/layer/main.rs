//! Integration tests of layer apply and diff: malicious vectors, round trips, whiteouts.

// Tests may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod roundtrip;
mod support;
mod vectors;
mod whiteouts;
