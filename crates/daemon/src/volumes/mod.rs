//! Volumes: data that outlives its container, kept in the store and provided by a driver — the
//! built-in `local` driver or a plugin speaking Docker's `VolumeDriver` protocol
//! ([`plugin`]).

pub mod plugin;
