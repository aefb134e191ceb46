//! Integration tests of the image store: archive round trips, GC, bad-input vectors, interoperability
//! with skopeo and umoci, and crash safety (kill -9 during a load).
//!
//! All tests use the plain-copy snapshotter and need no root.

#![allow(clippy::unwrap_used)]

mod catalog;
mod common;
mod crash;
mod interop;
mod lifecycle;
mod overlay;
mod roundtrip;
mod vectors;
