//! Entry metadata on apply: owners, modes, mtimes and the xattrs Berth accepts from a layer.
//!
//! Two kinds of PAX records refuse the whole layer rather than being skipped: xattrs in overlayfs'
//! namespaces (`trusted.overlay.*`, and `user.overlay.*` that overlayfs reads when mounted with
//! `userxattr`), which would let a layer forge opaque directories, redirects, metacopy files or
//! origins; and `GNU.sparse.*` (PAX sparse files), whose content the tar crate does not decode.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStringExt;

use nix::sys::time::TimeSpec;

use super::LayerError;

/// Metadata of one tar entry, with PAX records applied.
pub(crate) struct Meta {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// Permission bits including setuid, setgid and sticky.
    pub(crate) mode: u32,
    pub(crate) mtime: TimeSpec,
    pub(crate) xattrs: Vec<(OsString, Vec<u8>)>,
}

const PAX_XATTR: &str = "SCHILY.xattr.";
/// Prefix of the PAX records of GNU tar's sparse formats 0.0, 0.1 and 1.0.
const PAX_SPARSE: &str = "GNU.sparse.";

/// Reads the metadata of `entry` (header fields, PAX `mtime` and `SCHILY.xattr.*`); `entry_s` names
/// it in errors. Refuses overlayfs xattrs and PAX sparse records (see the module docs).
pub(crate) fn read<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    entry_s: &str,
) -> Result<Meta, LayerError> {
    let header = entry.header();
    let old = header.as_old();
    let id = |v: io::Result<u64>, field: &[u8]| -> Result<u32, LayerError> {
        let v = lenient(v, field)?;
        u32::try_from(v).map_err(|_| {
            LayerError::Corrupt(io::Error::other(format!("owner id {v} out of range")))
        })
    };
    let uid = id(header.uid(), &old.uid)?;
    let gid = id(header.gid(), &old.gid)?;
    let mode = lenient(header.mode().map(u64::from), &old.mode)? as u32 & 0o7777;
    let secs = lenient(header.mtime(), &old.mtime)?;
    let mut mtime = TimeSpec::new(i64::try_from(secs).unwrap_or(i64::MAX), 0);
    let mut xattrs = Vec::new();
    if let Some(pax) = entry.pax_extensions().map_err(LayerError::Corrupt)? {
        for ext in pax {
            let ext = ext.map_err(LayerError::Corrupt)?;
            let key = ext.key_bytes();
            if key == b"mtime" {
                if let Some(t) = parse_pax_time(ext.value_bytes()) {
                    mtime = t;
                }
            } else if key.starts_with(PAX_SPARSE.as_bytes()) {
                return Err(LayerError::PaxSparse {
                    entry: entry_s.to_string(),
                });
            } else if let Some(name) = key.strip_prefix(PAX_XATTR.as_bytes()) {
                if is_overlay_xattr(name) {
                    return Err(LayerError::OverlayXattr {
                        entry: entry_s.to_string(),
                        xattr: String::from_utf8_lossy(name).into_owned(),
                    });
                }
                xattrs.push((
                    OsString::from_vec(name.to_vec()),
                    ext.value_bytes().to_vec(),
                ));
            }
        }
    }
    Ok(Meta {
        uid,
        gid,
        mode,
        mtime,
        xattrs,
    })
}

/// A numeric header field; a blank one (all NUL or spaces, as some writers leave unused fields)
/// reads as 0, as GNU tar reads it.
fn lenient(parsed: io::Result<u64>, field: &[u8]) -> Result<u64, LayerError> {
    match parsed {
        Ok(v) => Ok(v),
        Err(_) if field.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        Err(e) => Err(LayerError::Corrupt(e)),
    }
}

/// Parses a PAX time (`1700000000.5`, `-3.25`) into seconds and nanoseconds.
fn parse_pax_time(raw: &[u8]) -> Option<TimeSpec> {
    let s = std::str::from_utf8(raw).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = int.parse().ok()?;
    let mut nanos: i64 = 0;
    for (i, c) in frac.bytes().take(9).enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        nanos += i64::from(c - b'0') * 10i64.pow(8 - i as u32);
    }
    Some(if !neg {
        TimeSpec::new(secs, nanos)
    } else if nanos == 0 {
        TimeSpec::new(-secs, 0)
    } else {
        TimeSpec::new(-secs - 1, 1_000_000_000 - nanos)
    })
}

/// Whether overlayfs reads this xattr: `trusted.overlay.*`, or `user.overlay.*` on a `userxattr`
/// mount. Apply refuses layers that set one; diffs leave them out (our snapshots mark opaque
/// directories with `trusted.overlay.opaque`, which diffs turn into `.wh..wh..opq`).
pub(crate) fn is_overlay_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}

/// Whether a layer may set this xattr: `user.*`, `security.capability`, and `trusted.*` as root,
/// except overlayfs' own ([`is_overlay_xattr`]).
pub(crate) fn xattr_allowed(name: &[u8], root: bool) -> bool {
    !is_overlay_xattr(name)
        && (name.starts_with(b"user.")
            || name == b"security.capability"
            || (root && name.starts_with(b"trusted.")))
}

/// Sets the accepted xattrs of `meta` on an open file or directory; refused or unsupported ones
/// become warnings.
pub(crate) fn set_xattrs(
    file: &File,
    meta: &Meta,
    entry: &str,
    root: bool,
    warnings: &mut Vec<String>,
) -> Result<(), LayerError> {
    use std::os::unix::ffi::OsStrExt;
    use xattr::FileExt;
    for (name, value) in &meta.xattrs {
        if !xattr_allowed(name.as_bytes(), root) {
            warnings.push(format!("skipped xattr {name:?} of layer entry {entry:?}"));
            continue;
        }
        match file.set_xattr(name, value) {
            Ok(()) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::ENOTSUP)) => warnings
                .push(format!(
                    "could not set xattr {name:?} on layer entry {entry:?}: {e}"
                )),
            Err(source) => {
                return Err(LayerError::Entry {
                    op: "set an xattr on",
                    entry: entry.to_string(),
                    source,
                })
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        let t = |s: &str| parse_pax_time(s.as_bytes()).map(|t| (t.tv_sec(), t.tv_nsec()));
        assert_eq!(t("1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(t("1700000000.25"), Some((1_700_000_000, 250_000_000)));
        assert_eq!(t("1.123456789999"), Some((1, 123_456_789)));
        assert_eq!(t("-1.5"), Some((-2, 500_000_000)));
        assert_eq!(t("x"), None);
    }

    #[test]
    fn xattr_policy() {
        assert!(xattr_allowed(b"user.foo", false));
        assert!(xattr_allowed(b"security.capability", false));
        assert!(!xattr_allowed(b"security.selinux", true));
        assert!(!xattr_allowed(b"trusted.foo", false));
        assert!(xattr_allowed(b"trusted.foo", true));
        assert!(!xattr_allowed(b"trusted.overlay.opaque", true));
        assert!(!xattr_allowed(b"trusted.overlay.redirect", true));
        assert!(!xattr_allowed(b"user.overlay.opaque", true));
        assert!(!xattr_allowed(b"user.overlay.metacopy", false));
        assert!(xattr_allowed(b"user.overlayish", false));
    }
}
