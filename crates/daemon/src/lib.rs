//! berth-daemon: being written.
