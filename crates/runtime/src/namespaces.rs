//! TODO: namespaces
