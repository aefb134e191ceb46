//! TODO: hooks
