//! `--userns-remap` (daemon.json `userns-remap`): the daemon runs every container in a user
//! namespace of its own whose root is an unprivileged user of the host, as dockerd does.
//!
//! Vocabulary: the *setting* is `default`, `USER[:GROUP]` or `UID[:GID]`; `default` is the user
//! `dockremap`, created (with subordinate ranges) when missing. The *remapped user*'s ranges in
//! `/etc/subuid` and `/etc/subgid` (all of them, in file order, [`subid`]) make the namespace's
//! id maps ([`Remap::map`]); the *remapped root* is the host uid and gid of container id 0 (the
//! first range's start). A user that is root turns remapping off (dockerd's warning); a user
//! without ranges stops the daemon at start.
//!
//! What remapping changes, and where:
//! - the data root becomes `<data-root>/<uid>.<gid>` ([`prepare_data_root`]): 0710 root:remapped
//!   group, so the containers' root may traverse it and nobody else; images and containers of a
//!   remapped daemon live apart from the unremapped ones, since its layers are unpacked with
//!   their owners shifted into the range (`berth_image::ImageStore::with_id_map`);
//! - containers get `linux.uidMappings`/`gidMappings` and a new user namespace unless they ask
//!   for `--userns host` (`containers::spec::namespaces`), which `--privileged`, `--pid host` and
//!   `--network host` need (dockerd's refusals); their `/etc/hosts`, `hostname`, `resolv.conf`,
//!   writable layer and new local volumes belong to the remapped root.

pub mod subid;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_image::layer::IdMap;
use nix::unistd::{Gid, Group, Uid, User};

use crate::config::DaemonConfig;
use crate::error::DaemonError;

/// The user `--userns-remap default` means.
pub const DEFAULT_USER: &str = "dockremap";

/// A resolved remapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remap {
    /// The remapped user and group, by name (`docker info` and logs show them).
    pub user: String,
    pub group: String,
    /// The id maps of the containers' user namespaces.
    pub map: IdMap,
    /// The host uid and gid of the containers' root.
    pub root: (u32, u32),
}

fn invalid(setting: &str, why: impl std::fmt::Display) -> DaemonError {
    DaemonError::Config(format!("userns-remap {setting:?}: {why}"))
}

fn user_by_name(name: &str) -> Result<Option<User>, DaemonError> {
    User::from_name(name).map_err(|e| DaemonError::Config(format!("looking up user {name:?}: {e}")))
}

fn group_by_name(name: &str) -> Result<Option<Group>, DaemonError> {
    Group::from_name(name)
        .map_err(|e| DaemonError::Config(format!("looking up group {name:?}: {e}")))
}

/// Creates the `dockremap` user and group as dockerd does (`adduser --system ... --group`, else
/// `useradd -r`), then gives it subordinate ranges if it has none.
fn create_default_user() -> Result<User, DaemonError> {
    if subid::tool("adduser").is_some() {
        subid::run(
            "adduser",
            &[
                "--system",
                "--shell",
                "/bin/false",
                "--no-create-home",
                "--disabled-login",
                "--disabled-password",
                "--group",
                DEFAULT_USER,
            ],
        )?;
    } else {
        subid::run("useradd", &["-r", "-U", "-s", "/bin/false", DEFAULT_USER])?;
    }
    user_by_name(DEFAULT_USER)?.ok_or_else(|| {
        DaemonError::Config(format!(
            "userns-remap default: user {DEFAULT_USER:?} still missing after creating it"
        ))
    })
}

/// Parses and resolves `setting` (dockerd's `parseRemappedRoot` and `setupRemappedRoot`).
/// `None`: the user is root, so nothing is remapped.
pub fn resolve(setting: &str) -> Result<Option<Remap>, DaemonError> {
    let parts: Vec<&str> = setting.split(':').collect();
    if parts.len() > 2 || parts.iter().any(|p| p.is_empty()) {
        return Err(invalid(
            setting,
            "give default, USER, USER:GROUP, UID or UID:GID",
        ));
    }
    let is_default = parts[0] == "default";
    let user = if let Ok(uid) = parts[0].parse::<u32>() {
        User::from_uid(Uid::from_raw(uid))
            .map_err(|e| invalid(setting, e))?
            .ok_or_else(|| invalid(setting, format!("uid {uid} has no entry in /etc/passwd")))?
    } else {
        let name = if is_default { DEFAULT_USER } else { parts[0] };
        match user_by_name(name)? {
            Some(u) => u,
            None if is_default => create_default_user()?,
            None => return Err(invalid(setting, format!("no user {name:?} in /etc/passwd"))),
        }
    };
    if is_default {
        subid::ensure_ranges(&user.name, user.uid.as_raw())?;
    }
    let group = match parts.get(1) {
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => Group::from_gid(Gid::from_raw(gid))
                .map_err(|e| invalid(setting, e))?
                .ok_or_else(|| invalid(setting, format!("gid {gid} has no entry in /etc/group")))?,
            Err(_) => group_by_name(g)?
                .ok_or_else(|| invalid(setting, format!("no group {g:?} in /etc/group")))?,
        },
        None if parts[0].parse::<u32>().is_ok() => Group::from_gid(user.uid.as_raw().into())
            .map_err(|e| invalid(setting, e))?
            .ok_or_else(|| {
                invalid(
                    setting,
                    format!("gid {} has no entry in /etc/group", user.uid),
                )
            })?,
        None => group_by_name(&user.name)?.ok_or_else(|| {
            invalid(
                setting,
                format!(
                    "no group {:?} in /etc/group; name one as USER:GROUP",
                    user.name
                ),
            )
        })?,
    };
    if user.uid.is_root() {
        tracing::warn!(
            "user namespaces: root cannot be remapped with itself; user namespaces are off"
        );
        return Ok(None);
    }
    let load = |file: &str| -> Result<Vec<berth_image::layer::IdRange>, DaemonError> {
        let ranges = subid::ranges_of(Path::new(file), &user.name, user.uid.as_raw())?;
        if ranges.is_empty() {
            return Err(DaemonError::Config(format!(
                "userns-remap: error creating ID mappings: no {} ranges found for user {:?} in {file}; \
                 add one (usermod --add-sub{}s 100000-165535 {}) or choose another user",
                if file == subid::SUBUID { "subuid" } else { "subgid" },
                user.name,
                if file == subid::SUBUID { "uid" } else { "gid" },
                user.name,
            )));
        }
        Ok(subid::id_map(&ranges))
    };
    let map = IdMap {
        uids: load(subid::SUBUID)?,
        gids: load(subid::SUBGID)?,
    };
    let root = map
        .root()
        .ok_or_else(|| invalid(setting, "the ranges map no id 0"))?;
    tracing::info!(user = %user.name, "user namespaces: ID ranges will be mapped to subuid/subgid ranges of this user");
    Ok(Some(Remap {
        user: user.name,
        group: group.name,
        map,
        root,
    }))
}

/// At daemon start: resolves `config.userns_remap` and moves `config.data_root` to the remapped
/// one ([`prepare_data_root`]), recording the remapping in `config.remap`. Nothing to do when
/// the setting is absent, already resolved, or names root.
pub fn settle(mut config: DaemonConfig) -> Result<DaemonConfig, DaemonError> {
    let Some(setting) = config.userns_remap.clone() else {
        return Ok(config);
    };
    if config.remap.is_some() {
        return Ok(config);
    }
    let Some(remap) = resolve(&setting)? else {
        return Ok(config);
    };
    config.data_root = prepare_data_root(&config.data_root, &remap)?;
    config.remap = Some(remap);
    Ok(config)
}

/// The remapped daemon's data root under `base`: `<base>/<uid>.<gid>`.
pub fn data_root(base: &Path, remap: &Remap) -> PathBuf {
    base.join(format!("{}.{}", remap.root.0, remap.root.1))
}

/// Makes the remapped data root as dockerd does (`setupDaemonRoot`): `base` 0711, the subtree
/// 0710 owned by root and the remapped group; refuses a path the remapped root cannot traverse
/// (a container's files are reached through it while its namespace is already entered).
pub fn prepare_data_root(base: &Path, remap: &Remap) -> Result<PathBuf, DaemonError> {
    std::fs::create_dir_all(base).map_err(|e| DaemonError::io("creating directory", base, e))?;
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o711))
        .map_err(|e| DaemonError::io("setting the mode of", base, e))?;
    let root = data_root(base, remap);
    std::fs::create_dir_all(&root).map_err(|e| DaemonError::io("creating directory", &root, e))?;
    std::os::unix::fs::chown(&root, Some(0), Some(remap.root.1))
        .map_err(|e| DaemonError::io("changing the owner of", &root, e))?;
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o710))
        .map_err(|e| DaemonError::io("setting the mode of", &root, e))?;
    let abs = std::path::absolute(&root).map_err(|e| DaemonError::io("resolving", &root, e))?;
    for dir in abs.ancestors().skip(1) {
        if dir == Path::new("/") {
            break;
        }
        if !can_traverse(dir, remap.root) {
            return Err(DaemonError::Config(format!(
                "a directory in the data root's path ({}) restricts access to the remapped root uid/gid; \
                 allow 'o+x' on {}",
                root.display(),
                dir.display()
            )));
        }
    }
    Ok(root)
}

/// Whether `uid:gid` may search `dir` (by its mode bits; as dockerd's rough `canAccess`).
fn can_traverse(dir: &Path, (uid, gid): (u32, u32)) -> bool {
    let Ok(m) = std::fs::metadata(dir) else {
        return false;
    };
    let mode = m.mode();
    mode & 0o001 != 0
        || (m.uid() == uid && mode & 0o100 != 0)
        || (m.gid() == gid && mode & 0o010 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_settings_are_refused() {
        for s in ["a:b:c", "", ":x", "x:"] {
            let e = resolve(s).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("give default, USER"), "{s:?}: {e}");
        }
        let e = resolve("no-such-user-berth-x").err().map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("no user \"no-such-user-berth-x\"")),
            "{e:?}"
        );
        // Root turns remapping off.
        assert!(matches!(resolve("0:0"), Ok(None)));
    }

    #[test]
    fn traversal_is_read_from_the_mode_bits() {
        let Ok(dir) = tempfile::tempdir() else { return };
        let p = dir.path();
        let me = (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
        let set = |mode| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
        assert!(set(0o700).is_ok());
        assert!(can_traverse(p, me));
        assert!(!can_traverse(p, (me.0 + 1, me.1 + 1)));
        assert!(set(0o710).is_ok());
        assert!(can_traverse(p, (me.0 + 1, me.1)));
        assert!(set(0o701).is_ok());
        assert!(can_traverse(p, (me.0 + 1, me.1 + 1)));
    }
}
