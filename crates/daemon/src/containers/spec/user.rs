//! `User` and `GroupAdd` → the process's uid, gid and additional gids, resolved as Docker does from
//! the image's `/etc/passwd` and `/etc/group` (read inside the rootfs, see [`super::rootfs`]):
//! `name`, `uid`, `name:group`, `uid:gid`; a numeric user missing from passwd runs with gid 0.
//! The additional gids are Docker's: the primary gid, the `/etc/group` memberships of a user
//! found in passwd (unless the group was given explicitly), then `GroupAdd`.

use std::path::Path;

use super::rootfs;
use super::SpecError;

/// The resolved identity of the container's process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// The home directory (for `HOME`).
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 6).then(|| {
                Some(PasswdEntry {
                    name: f[0].to_string(),
                    uid: f[2].parse().ok()?,
                    gid: f[3].parse().ok()?,
                    home: f[5].to_string(),
                })
            })?
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 3).then(|| {
                Some(GroupEntry {
                    name: f[0].to_string(),
                    gid: f[2].parse().ok()?,
                    members: f
                        .get(3)
                        .map(|m| {
                            m.split(',')
                                .filter(|s| !s.is_empty())
                                .map(String::from)
                                .collect()
                        })
                        .unwrap_or_default(),
                })
            })?
        })
        .collect()
}

/// Resolves `user` (may be empty: root) and `group_add` against the files' contents.
pub fn resolve_with(
    user: &str,
    group_add: &[String],
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<Identity, SpecError> {
    let users = passwd.map(parse_passwd).unwrap_or_default();
    let groups = group.map(parse_group).unwrap_or_default();
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entry = match u.parse::<u32>() {
        Ok(uid) => users.iter().find(|e| e.uid == uid),
        Err(_) => Some(users.iter().find(|e| e.name == u).ok_or_else(|| {
            SpecError::User(format!(
                "unable to find user {u}: no matching entries in passwd file"
            ))
        })?),
    };
    let uid = match u.parse::<u32>() {
        Ok(uid) => uid,
        Err(_) => entry.map(|e| e.uid).unwrap_or(0),
    };
    let mut gid = entry.map(|e| e.gid).unwrap_or(0);
    let find_group = |g: &str| -> Result<u32, SpecError> {
        match g.parse::<u32>() {
            Ok(gid) => Ok(gid),
            Err(_) => groups
                .iter()
                .find(|e| e.name == g)
                .map(|e| e.gid)
                .ok_or_else(|| {
                    SpecError::User(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                }),
        }
    };
    let explicit_group = g.filter(|g| !g.is_empty());
    if let Some(g) = explicit_group {
        gid = find_group(g)?;
    }
    // Docker's list: the primary group first, then (for a user named or found in passwd, without
    // an explicit group) the groups that list the user, then `GroupAdd` (each once, unknown names
    // refused). Docker does not remove repeats across the three, nor does this.
    let mut additional = vec![gid];
    if let (Some(e), None) = (entry, explicit_group) {
        additional.extend(
            groups
                .iter()
                .filter(|grp| grp.members.contains(&e.name))
                .map(|grp| grp.gid),
        );
    }
    let mut added: Vec<u32> = Vec::new();
    for g in group_add {
        let id = match groups
            .iter()
            .find(|e| e.name == *g || e.gid.to_string() == *g)
        {
            Some(e) => e.gid,
            None => g.parse::<u32>().map_err(|_| {
                SpecError::User(format!(
                    "Unable to find group {g}: no matching entries in group file"
                ))
            })?,
        };
        if !added.contains(&id) {
            added.push(id);
        }
    }
    additional.extend(added);
    let home = entry
        .map(|e| e.home.clone())
        .unwrap_or_else(|| "/".to_string());
    Ok(Identity {
        uid,
        gid,
        additional_gids: additional,
        home,
    })
}

/// Resolves against the files inside `rootfs`.
pub fn resolve(rootfs: &Path, user: &str, group_add: &[String]) -> Result<Identity, SpecError> {
    let passwd = rootfs::read_file(rootfs, "/etc/passwd")?;
    let group = rootfs::read_file(rootfs, "/etc/group")?;
    resolve_with(user, group_add, passwd.as_deref(), group.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\nweb:x:1000:1000::/srv:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nnogroup:x:65534:\nweb:x:1000:\nstaff:x:50:web,other\n";

    fn r(user: &str, add: &[&str]) -> Result<Identity, SpecError> {
        let add: Vec<String> = add.iter().map(|s| s.to_string()).collect();
        resolve_with(user, &add, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn names_and_numbers() {
        assert_eq!(r("", &[]).unwrap().uid, 0);
        let web = r("web", &[]).unwrap();
        assert_eq!(
            (web.uid, web.gid, web.additional_gids.clone()),
            (1000, 1000, vec![1000, 50])
        );
        // An explicit group drops the memberships, as Docker's does.
        assert_eq!(r("web:web", &[]).unwrap().additional_gids, vec![1000]);
        // A numeric uid found in passwd is that user.
        assert_eq!(r("1000", &[]).unwrap().additional_gids, vec![1000, 50]);
        assert_eq!(web.home, "/srv");
        let n = r("nobody:staff", &[]).unwrap();
        assert_eq!((n.uid, n.gid), (65534, 50));
        let num = r("4242", &[]).unwrap();
        assert_eq!((num.uid, num.gid), (4242, 0));
        assert_eq!(r("1:2", &[]).unwrap().gid, 2);
        assert_eq!(
            r("root", &["nogroup", "7", "65534", "staff"])
                .unwrap()
                .additional_gids,
            vec![0, 65534, 7, 50]
        );
        assert_eq!(r("", &[]).unwrap().additional_gids, vec![0]);
    }

    #[test]
    fn unknown_names_are_errors() {
        let e = r("ghost", &[]).unwrap_err().to_string();
        assert!(e.contains("unable to find user ghost"), "{e}");
        assert!(r("root:ghosts", &[]).is_err());
        let e = r("root", &["ghosts"]).unwrap_err().to_string();
        assert_eq!(
            e,
            "Unable to find group ghosts: no matching entries in group file"
        );
    }
}
