//! The lifecycle verbs and the on-disk state of a container.
