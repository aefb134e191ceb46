//! The `oci` crate: plain serde types shared by every other Berth crate.
//!
//! It owns the vocabulary of the OCI runtime, image and distribution specs (re-exported from the
//! `oci-spec` crate), content [`digest`]s and image [references](mod@reference), UTC civil
//! [`time`] with its RFC 3339 text, and [`signal`] names and numbers. It does no I/O.

pub use oci_spec::{distribution, image, runtime};

pub mod digest;
pub mod reference;
pub mod signal;
pub mod time;

pub use digest::{Digest, DigestError, Sha256Hasher, Sha256Reader, Sha256Writer};
pub use reference::{Reference, ReferenceError};
