//! Entry names made safe: tar paths become relative, `..`-free component lists before any file
//! system call sees them. This is the lexical half of path safety; `root` is the fd-relative half.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::LayerError;

/// Longest entry path accepted (Linux `PATH_MAX`).
pub(crate) const MAX_PATH: usize = 4096;

/// Prefix of whiteout files.
pub(crate) const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the opaque-directory marker.
pub(crate) const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// Prefix of aufs metadata entries (`.wh..wh.plnk`, ...), which are skipped.
const AUFS_META_PREFIX: &str = ".wh..wh.";

/// Printable form of raw entry bytes, for errors.
pub(crate) fn display(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

/// Turns a tar path into a relative path of normal components.
///
/// Leading `/`, empty and `.` components are dropped (as Docker does); a `..` component anywhere is
/// refused, as GNU tar does by default. The empty result names the target root itself. `entry` is
/// the entry being applied (for errors), `raw` the path to normalise (the entry name or a link name).
pub(crate) fn normalize(entry: &[u8], raw: &[u8]) -> Result<PathBuf, LayerError> {
    if raw.len() > MAX_PATH {
        return Err(LayerError::PathTooLong {
            entry: display(entry),
            max: MAX_PATH,
        });
    }
    let mut out = PathBuf::new();
    for comp in raw.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                return Err(LayerError::ParentComponent {
                    entry: display(entry),
                    path: display(raw),
                })
            }
            c => out.push(OsStr::from_bytes(c)),
        }
    }
    Ok(out)
}

/// What an entry's file name says it is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Special<'a> {
    /// An ordinary entry.
    None,
    /// `.wh.<name>`: delete `<name>` from the layers below.
    Whiteout(&'a OsStr),
    /// `.wh..wh..opq`: the parent directory is opaque.
    Opaque,
    /// `.wh..wh.*` aufs metadata: skipped.
    AufsMeta,
}

/// Classifies the last component of a normalised entry path.
pub(crate) fn special<'a>(entry: &[u8], path: &'a Path) -> Result<Special<'a>, LayerError> {
    let Some(name) = path.file_name() else {
        return Ok(Special::None);
    };
    let bytes = name.as_bytes();
    if bytes == OPAQUE_MARKER.as_bytes() {
        return Ok(Special::Opaque);
    }
    if bytes.starts_with(AUFS_META_PREFIX.as_bytes()) {
        return Ok(Special::AufsMeta);
    }
    match bytes.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        None => Ok(Special::None),
        Some(b"" | b"." | b"..") => Err(LayerError::InvalidWhiteout {
            entry: display(entry),
            name: display(&bytes[WHITEOUT_PREFIX.len()..]),
        }),
        Some(target) => Ok(Special::Whiteout(OsStr::from_bytes(target))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Result<PathBuf, LayerError> {
        normalize(s.as_bytes(), s.as_bytes())
    }

    #[test]
    fn strips_root_dots_and_slashes() {
        assert_eq!(norm("/etc/passwd").unwrap(), PathBuf::from("etc/passwd"));
        assert_eq!(norm("./a//b/./c/").unwrap(), PathBuf::from("a/b/c"));
        assert_eq!(norm("///").unwrap(), PathBuf::new());
        assert_eq!(norm(".").unwrap(), PathBuf::new());
        assert_eq!(norm("..foo/...").unwrap(), PathBuf::from("..foo/..."));
    }

    #[test]
    fn refuses_parent_components_anywhere() {
        for bad in [
            "..",
            "../x",
            "a/../../x",
            "a/..",
            "/../etc/passwd",
            "./a/b/../c",
        ] {
            assert!(
                matches!(norm(bad), Err(LayerError::ParentComponent { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn refuses_over_long_paths() {
        let long = "a/".repeat(MAX_PATH);
        assert!(matches!(norm(&long), Err(LayerError::PathTooLong { .. })));
    }

    #[test]
    fn whiteouts() {
        let sp = |s: &str| {
            let p = PathBuf::from(s);
            special(s.as_bytes(), &p).map(|k| format!("{k:?}"))
        };
        assert_eq!(sp("a/.wh.b").unwrap(), "Whiteout(\"b\")");
        assert_eq!(sp("a/.wh..wh..opq").unwrap(), "Opaque");
        assert_eq!(sp(".wh..wh.plnk").unwrap(), "AufsMeta");
        assert_eq!(sp("a/b").unwrap(), "None");
        assert_eq!(sp("").unwrap(), "None");
        assert_eq!(sp("a/.wh..hidden").unwrap(), "Whiteout(\".hidden\")");
        assert!(matches!(
            sp("a/.wh.."),
            Err(LayerError::InvalidWhiteout { .. })
        ));
        assert!(matches!(
            sp(".wh."),
            Err(LayerError::InvalidWhiteout { .. })
        ));
        assert!(matches!(
            sp("a/.wh..."),
            Err(LayerError::InvalidWhiteout { .. })
        ));
    }
}
