//! berth-cli: being written.
