//! berth-compose: the Compose Specification for Berth (and any Docker-compatible engine).
//!
//! Module map: [`yaml`] (the marked YAML tree: anchors, merge keys, places), [`interpolate`]
//! (`${VAR:-default}` and friends), [`envfile`] (`.env` files), [`normalize`] (one file checked
//! and brought to long syntax), [`merge`] (several files, the spec's merge rules), [`loader`]
//! (discovery, project name, profiles, extends, include), [`model`] (typed project), [`emit`]
//! (YAML out, for `config`).

pub mod cli;
pub mod emit;
pub mod engine;
pub mod envfile;
pub mod error;
pub mod interpolate;
pub mod loader;
pub mod merge;
pub mod model;
pub mod normalize;
pub mod plan;
pub mod project;
pub mod yaml;
