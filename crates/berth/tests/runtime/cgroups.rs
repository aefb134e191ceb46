//! Container-level root tests: cgroups. TODO
