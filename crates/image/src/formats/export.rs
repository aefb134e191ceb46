//! Export of a snapshot as a flat tar (`docker export`): the assembled tree of its mounts, written
//! deterministically by [`crate::layer::tar_dir`]. A single bind mount (plain-copy snapshots) is read
//! in place; anything else (overlay) is mounted on a private temp dir first, which needs root.

use std::io::Write;
use std::path::Path;

use crate::error::{ImageError, IoContext};
use crate::layer::{self, DiffOptions};
use crate::snapshot::{mount_all, unmount_all, Mount};

/// Writes the tree `mounts` describe as one flat tar; returns its size in bytes. `scratch` is where a
/// temporary mount point may be made.
pub fn export_mounts(mounts: &[Mount], scratch: &Path, out: impl Write) -> Result<u64, ImageError> {
    export_mounts_mapped(mounts, scratch, out, None)
}

/// [`export_mounts`] of a tree whose owners are shifted into `id_map`'s host range (a container
/// of a daemon with `--userns-remap`): the tar holds the owners the container sees.
pub fn export_mounts_mapped(
    mounts: &[Mount],
    scratch: &Path,
    out: impl Write,
    id_map: Option<&layer::IdMap>,
) -> Result<u64, ImageError> {
    let opts = DiffOptions {
        id_map: id_map.cloned(),
        ..DiffOptions::default()
    };
    if let [m] = mounts {
        if m.kind == "bind" {
            return Ok(layer::tar_dir(Path::new(&m.source), out, &opts)?.size);
        }
    }
    let target = tempfile::Builder::new()
        .prefix("export-")
        .tempdir_in(scratch)
        .at(scratch)?;
    mount_all(mounts, target.path())?;
    let result = layer::tar_dir(target.path(), out, &opts);
    unmount_all(target.path())?;
    Ok(result?.size)
}
