//! The process's privileges: capabilities, seccomp, rlimits, user and groups, no_new_privs,
//! oom_score_adj.

#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("{0}")]
    Other(String),
}
