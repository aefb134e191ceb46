//! Driving an engine through the Docker Engine API: the [`client`], and the commands
//! ([`up`] for create/start/converge, [`down`] to take it all away, [`images`] for pull/build/push (with [`auth`]'s credentials), [`exec`] for exec and run
//! over [`stream`]'s hijacked streams, [`info`] for top/port/images/ls/wait, [`ops`] for the rest).

pub mod auth;
pub mod client;
pub mod down;
pub mod exec;
pub mod images;
pub mod info;
pub mod ops;
pub mod stream;
pub mod up;
