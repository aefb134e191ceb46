//! berth-compose: the Compose Specification for Berth (and any Docker-compatible engine).
//!
//! Module map: [`yaml`] (the marked YAML tree: anchors, merge keys, places), [`interpolate`]
//! (`${VAR:-default}` and friends), [`envfile`] (`.env` files), [`normalize`] (one file checked
//! and brought to long syntax), [`merge`] (several files, the spec's merge rules), [`loader`]
//! (discovery, project name, profiles, extends, include), [`model`] (typed project), [`mounts`]
//! (a service's volumes as binds and mounts, inherited anonymous volumes), [`order`]
//! and [`emit`] (YAML out in Compose v2's key order, for `config`), [`plan`] (labels, hashes,
//! create bodies, convergence) and [`engine`] (the commands against an engine's API).

pub mod cli;
pub mod emit;
pub mod engine;
pub mod envfile;
pub mod error;
pub mod interpolate;
pub mod loader;
pub mod merge;
pub mod model;
pub mod mounts;
pub mod normalize;
pub mod order;
pub mod plan;
pub mod project;
pub mod yaml;
