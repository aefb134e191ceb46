//! Berth's registry crate: the OCI distribution client and Berth's own
//! registry server. Async (tokio); the image store it writes into is synchronous and is called on
//! the blocking pool.
//!
//! Module map:
//! - [`hosts`]: which endpoints a registry name leads to (HTTPS, insecure and loopback rules, CAs
//!   from `certs.d`).
//! - [`transport`]: one HTTP exchange over hyper + rustls; redirects without leaking credentials.
//! - [`auth`]: anonymous, basic and bearer-token auth; scoped tokens cached until they expire.
//! - [`client`]: the distribution API per repository (manifests, blobs, uploads), error bodies.
//! - [`download`]: one verified, resumable, retried, de-duplicated blob download into the store.
//! - [`pull`]: resolve → platform → config → layers → one all-or-nothing commit.
//! - [`compress`]: gzip over several cores for layers pushed from plain tars.
//! - [`push`]: HEAD-skip, cross-repo mount, monolithic / streamed / chunked uploads, manifest PUT.
//! - [`server`]: Berth's registry server (`berth registry serve`) over its own disk storage.
//! - [`search`]: the v1 search API (`docker search`).
//! - [`progress`]: progress events for Docker's JSON progress stream.
//! - [`error`]: [`RegistryError`] and its kinds.

pub mod auth;
pub mod client;
pub mod compress;
pub mod download;
pub mod error;
pub mod hosts;
pub mod progress;
pub mod pull;
pub mod push;
pub mod search;
pub mod server;
pub mod transport;

pub use auth::Credentials;
pub use client::Client;
pub use error::{ErrorKind, RegistryError};
pub use hosts::HostsConfig;
pub use progress::{Progress, ProgressSink};

/// The `User-Agent` of registry requests.
pub const USER_AGENT: &str = concat!("berth/", env!("CARGO_PKG_VERSION"));
