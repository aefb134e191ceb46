//! `process.user`: switching to the spec's uid, gid and additional gids, and setting the umask.
//!
//! The switch keeps the permitted capabilities (PR_SET_KEEPCAPS) so the spec's capability sets can
//! be applied afterwards even for a non-root user; groups go first, since after the uid switch the
//! process may no longer change them.

use super::kernel::Kernel;
use super::SecurityError;
use berth_oci::runtime::User;
use nix::unistd::{Gid, Uid};

/// Switches to `user`'s groups, gid and uid, keeping the permitted capabilities.
pub(super) fn switch(k: &impl Kernel, user: &User) -> Result<(), SecurityError> {
    let err = |what: &'static str| move |source| SecurityError::User { what, source };
    let gids: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    // In a user namespace whose setgroups is "deny" only an empty list could be set, and the
    // process's list is already fixed; skip the call then unless the spec asks for groups.
    if !gids.is_empty() || !k.setgroups_denied() {
        k.setgroups(&gids)
            .map_err(err("set the additional gids (process.user.additionalGids)"))?;
    }
    let gid = Gid::from_raw(user.gid());
    k.setresgid(gid)
        .map_err(err("set the gid (process.user.gid)"))?;

    k.set_keepcaps(true).map_err(err("set PR_SET_KEEPCAPS"))?;
    let uid = Uid::from_raw(user.uid());
    k.setresuid(uid)
        .map_err(err("set the uid (process.user.uid)"))?;
    k.set_keepcaps(false)
        .map_err(err("clear PR_SET_KEEPCAPS"))?;

    if let Some(mask) = user.umask() {
        k.umask(mask);
    }
    Ok(())
}

/// Checks what can be checked before any process exists.
pub(super) fn validate(user: &User) -> Result<(), SecurityError> {
    match user.umask() {
        Some(mask) if mask > 0o777 => Err(SecurityError::Umask(mask)),
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn umask_must_be_permission_bits() {
        let mut user = User::default();
        user.set_umask(Some(0o022));
        assert!(validate(&user).is_ok());
        user.set_umask(Some(0o1777));
        let err = validate(&user).unwrap_err().to_string();
        assert!(err.contains("process.user.umask"), "{err}");
    }
}
