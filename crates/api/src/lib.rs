//! Docker Engine API wire types, the API version constants and the JSON error body; serde only, no
//! I/O but for random IDs ([`id`], from the kernel through `getrandom`).
//!
//! Every type here is spelt as Docker sends it (PascalCase fields, Docker's optionality), so the
//! daemon's server and the CLI's client share one definition of the wire. Module map, by API area:
//! - [`version`]: [`API_VERSION`], [`MIN_API_VERSION`] and [`ApiVersion`] (parsing, comparison);
//! - [`error`]: the `{"message": "..."}` body every error answers with;
//! - [`filters`]: the `filters` query parameter (both the CLI's and docker-py's shapes);
//! - [`progress`]: the JSON lines of streamed answers (load, import, pull, build);
//! - [`system`]: `/_ping`, `/version`, `/info`, `/system/df`;
//! - [`image`]: the `/images` routes;
//! - [`container`]: `/containers/...` (create body, inspect, list entries, `HostConfig`);
//! - [`exec`]: `/containers/{id}/exec` and `/exec/...`;
//! - [`volume`]: the `/volumes` routes and a mount's `VolumeOptions`;
//! - [`events`]: `/events` messages;
//! - [`units`]: Go durations, binary sizes and human durations as Docker writes and reads them;
//! - [`id`]: random 64-hex IDs (through `getrandom`).

pub mod container;
pub mod error;
pub mod events;
pub mod exec;
pub mod filters;
pub mod id;
pub mod image;
pub mod network;
pub mod progress;
pub mod stats;
pub mod system;
pub mod units;
pub mod version;
pub mod volume;

pub use error::ErrorResponse;
pub use filters::{Filters, FiltersError};
pub use version::{ApiVersion, VersionError, API_VERSION, MIN_API_VERSION};
