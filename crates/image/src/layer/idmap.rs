//! User-namespace id maps for layers: with a daemon remapping root (`--userns-remap`), a layer's
//! owners are shifted into the host range when it is applied ([`super::ApplyOptions::id_map`]) and
//! back when a tree is written as a tar ([`super::DiffOptions::id_map`]), so the snapshots hold
//! the files as the container's user namespace sees them and the tars stay as the image says.
//!
//! Vocabulary (as in `/proc/<pid>/uid_map` and the OCI spec's `linux.uidMappings`): a range maps
//! `size` ids starting at `container` inside the namespace to ids starting at `host` outside.
//! An id no range covers cannot be shifted: applying it is refused with [`LayerError::Unmapped`]
//! (dockerd refuses it too). A host id outside every range (only the host can have made it, a
//! mount point the daemon made, say) is written back as [`OVERFLOW_ID`], the owner the
//! container sees for it.

use super::LayerError;

/// The id a user namespace shows for an owner its map does not cover (the kernel's default
/// `overflowuid`); a diff writes it for such an owner.
pub const OVERFLOW_ID: u32 = 65534;

/// One range of a uid or gid map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    /// First id inside the namespace.
    pub container: u32,
    /// First id on the host.
    pub host: u32,
    /// How many ids.
    pub size: u32,
}

/// The uid and gid maps of a user namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdMap {
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
}

/// Which of the two maps, for errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Uid,
    Gid,
}

impl std::fmt::Display for IdKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IdKind::Uid => "uid",
            IdKind::Gid => "gid",
        })
    }
}

fn to_host(ranges: &[IdRange], id: u32) -> Option<u32> {
    ranges.iter().find_map(|r| {
        let off = id.checked_sub(r.container)?;
        (off < r.size).then(|| r.host.checked_add(off)).flatten()
    })
}

fn to_container(ranges: &[IdRange], id: u32) -> Option<u32> {
    ranges.iter().find_map(|r| {
        let off = id.checked_sub(r.host)?;
        (off < r.size)
            .then(|| r.container.checked_add(off))
            .flatten()
    })
}

impl IdMap {
    /// The host uid and gid of the namespace's root (container id 0), if both are mapped.
    pub fn root(&self) -> Option<(u32, u32)> {
        Some((to_host(&self.uids, 0)?, to_host(&self.gids, 0)?))
    }

    /// The container uid of host uid `id`, if the map has one.
    pub fn uid_to_container(&self, id: u32) -> Option<u32> {
        to_container(&self.uids, id)
    }

    /// The container gid of host gid `id`, if the map has one.
    pub fn gid_to_container(&self, id: u32) -> Option<u32> {
        to_container(&self.gids, id)
    }

    /// The host ids of the container ids `uid`, `gid`; `entry` names the layer entry in errors.
    pub fn to_host(&self, uid: u32, gid: u32, entry: &str) -> Result<(u32, u32), LayerError> {
        let unmapped = |kind, id| LayerError::Unmapped {
            entry: entry.to_string(),
            kind,
            id,
        };
        Ok((
            to_host(&self.uids, uid).ok_or_else(|| unmapped(IdKind::Uid, uid))?,
            to_host(&self.gids, gid).ok_or_else(|| unmapped(IdKind::Gid, gid))?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> IdMap {
        let r = |container, host, size| IdRange {
            container,
            host,
            size,
        };
        IdMap {
            uids: vec![r(0, 100000, 1000), r(1000, 300000, 65536)],
            gids: vec![r(0, 200000, 65536)],
        }
    }

    #[test]
    fn ids_shift_through_every_range_and_back() {
        let m = map();
        assert_eq!(m.root(), Some((100000, 200000)));
        assert_eq!(m.to_host(0, 0, "a").ok(), Some((100000, 200000)));
        assert_eq!(m.to_host(999, 5, "a").ok(), Some((100999, 200005)));
        assert_eq!(m.to_host(1000, 65535, "a").ok(), Some((300000, 265535)));
        assert_eq!(m.uid_to_container(300001), Some(1001));
        assert_eq!(m.gid_to_container(200001), Some(1));
        let e = m.to_host(0, 65536, "etc/x").err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("layer entry \"etc/x\" is owned by gid 65536, which the user namespace remap cannot map to a host id; refusing")
        );
        assert_eq!(m.uid_to_container(0), None);
        assert_eq!(IdMap::default().root(), None);
    }
}
