//! Control groups, v1 and v2, detected at run time: creating a container's cgroup, applying the
//! spec's resources, adding processes, freezing, listing and removing.

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("{0}")]
    Other(String),
}
