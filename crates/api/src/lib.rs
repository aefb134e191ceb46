//! berth-api: being written.
