//! The container's root filesystem: rootfs propagation, the spec's mounts (every destination resolved
//! inside the rootfs), default devices and /dev symlinks, `pivot_root` with the old root detached,
//! masked and read-only paths, and the read-only root.

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("{0}")]
    Other(String),
}
