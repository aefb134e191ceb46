//! Manifests, indexes, configs, chain IDs. TODO
