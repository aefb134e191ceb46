//! TODO: init
