//! Driving an engine through the Docker Engine API: the [`client`], and the commands
//! ([`up`] for create/start/converge, [`ops`] for the rest).

pub mod client;
pub mod ops;
pub mod up;
