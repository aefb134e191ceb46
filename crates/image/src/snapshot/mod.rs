//! Snapshotters. TODO
