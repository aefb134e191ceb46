//! Image metadata in SQLite. TODO
