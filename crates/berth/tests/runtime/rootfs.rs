//! Container-level root tests: rootfs. TODO
