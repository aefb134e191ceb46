//! Integration tests of layer apply and diff: malicious vectors, round trips, whiteouts, and the
//! options for tars that are not layers (uploads).

// Tests may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod catalog;
mod idmap;
mod roundtrip;
mod sparse;
mod support;
mod uploads;
mod vectors;
mod whiteouts;
mod xattrs;
