//! Whiteouts and opaque markers on apply, in both [`WhiteoutMode`]s.
//!
//! Overlay mode writes what overlayfs reads: `.wh.<name>` becomes a 0:0 character device `<name>`,
//! `.wh..wh..opq` the xattr `trusted.overlay.opaque=y` on its directory. Delete mode, for plain-copy
//! snapshots holding the lower layers' files, removes `<name>`, and for an opaque directory removes
//! every entry this layer did not write (before or after the marker: later entries are simply
//! created afterwards). Whiteout names are checked in `path::special`, so none can name `.` or `..`.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::sys::stat::{mknodat, Mode, SFlag};
use xattr::FileExt;

use super::apply::Applier;
use super::path::display;
use super::root;
use super::{LayerError, WhiteoutMode};

/// The xattr overlayfs reads to make a directory opaque.
pub(crate) const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

impl Applier<'_> {
    /// `<parent>/.wh.<hidden>`.
    pub(super) fn whiteout(
        &mut self,
        raw: &[u8],
        parent: &Path,
        hidden: &OsStr,
    ) -> Result<(), LayerError> {
        let entry_s = display(raw);
        match self.opts.whiteouts {
            WhiteoutMode::Overlay => {
                let dir = self.root.dir(raw, parent, true)?.ok_or_else(|| {
                    LayerError::entry("find the directory of", &entry_s, nix::errno::Errno::ENOENT)
                })?;
                self.replace(
                    dir.as_fd(),
                    hidden,
                    &entry_s,
                    "create the whiteout device for",
                    |d| mknodat(d, hidden, SFlag::S_IFCHR, Mode::empty(), 0),
                )
            }
            WhiteoutMode::Delete => {
                let Some(dir) = self.root.dir(raw, parent, false)? else {
                    return Ok(()); // nothing below to hide
                };
                root::remove_all(dir.as_fd(), hidden).map_err(|source| LayerError::Entry {
                    op: "remove the whited-out file of",
                    entry: entry_s,
                    source,
                })?;
                self.root.invalidate();
                Ok(())
            }
        }
    }

    /// `<dir>/.wh..wh..opq`. The directory is resolved like any entry's directory (symlinks in-root,
    /// escapes refused).
    pub(super) fn opaque(&mut self, raw: &[u8], dir_path: &Path) -> Result<(), LayerError> {
        let entry_s = display(raw);
        let io_err = |op| {
            let entry = entry_s.clone();
            move |source| LayerError::Entry { op, entry, source }
        };
        let create = self.opts.whiteouts == WhiteoutMode::Overlay;
        let Some(dir) = self.root.dir(raw, dir_path, create)? else {
            return Ok(()); // Delete mode: nothing below to hide
        };
        let fd = root::open_dir_read(dir.as_fd(), OsStr::new("."))
            .map_err(io_err("open the opaque directory of"))?;
        match self.opts.whiteouts {
            WhiteoutMode::Overlay => File::from(fd)
                .set_xattr(OPAQUE_XATTR, b"y")
                .map_err(io_err("mark opaque the directory of")),
            WhiteoutMode::Delete => {
                let written = &self.written;
                let keep = |rel: &Path| written.contains(&dir_path.join(rel));
                root::clear_dir(fd, &mut PathBuf::new(), &keep, 0)
                    .map_err(io_err("clear the opaque directory of"))?;
                self.root.invalidate();
                Ok(())
            }
        }
    }
}
