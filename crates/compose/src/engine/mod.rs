//! Driving an engine through the Docker Engine API: the [`client`], and the commands — [`up`]
//! (create, start, converge, after [`resources`]: volumes, networks, secret files), [`down`], [`images`] (pull, build, push, with [`auth`]'s
//! credentials), [`exec`] (exec and run over [`stream`]'s hijacked streams), [`info`] (top, port,
//! images, ls, wait, events), [`cp`], and [`ops`] (ps, logs, attached up, per-container verbs).

pub mod auth;
pub mod client;
pub mod cp;
pub mod down;
pub mod exec;
pub mod images;
pub mod info;
pub mod ops;
pub mod resources;
pub mod stream;
pub mod up;
