//! Mount options of the spec (`"ro"`, `"nosuid"`, `"mode=755"`, `"rslave"`, ...) parsed as runc
//! parses them: flag words set or clear `MS_*` flags, propagation words are applied after the
//! mount, runc's own extensions are ignored, and anything else is file-system data.

use nix::mount::MsFlags;

/// Parsed mount options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// `MS_*` flags for the mount itself (`MS_BIND`/`MS_REC` included for `bind`/`rbind`).
    pub flags: MsFlags,
    /// Propagation changes (`MS_SLAVE | MS_REC`, ...), applied one by one after the mount.
    pub propagation: Vec<MsFlags>,
    /// File-system specific options, comma-joined for `mount(2)`'s data (`mode=755,size=65536k`).
    pub data: Vec<String>,
}

impl Default for MountOptions {
    fn default() -> MountOptions {
        MountOptions {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            data: Vec::new(),
        }
    }
}

impl MountOptions {
    /// The data argument for `mount(2)`, if any.
    pub fn data(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }

    /// True for `bind`/`rbind`.
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    /// Adds `key=value` to the data unless an option `key=...` (or `key`) is already there.
    pub fn data_default(&mut self, key: &str, value: Option<&str>) {
        let present = self
            .data
            .iter()
            .any(|d| d == key || d.split_once('=').is_some_and(|(k, _)| k == key));
        if !present {
            self.data.push(match value {
                Some(v) => format!("{key}={v}"),
                None => key.to_owned(),
            });
        }
    }
}

/// Words that set (`clear == false`) or clear a mount flag.
const FLAGS: &[(&str, bool, MsFlags)] = &[
    ("defaults", false, MsFlags::empty()),
    ("ro", false, MsFlags::MS_RDONLY),
    ("rw", true, MsFlags::MS_RDONLY),
    ("nosuid", false, MsFlags::MS_NOSUID),
    ("suid", true, MsFlags::MS_NOSUID),
    ("nodev", false, MsFlags::MS_NODEV),
    ("dev", true, MsFlags::MS_NODEV),
    ("noexec", false, MsFlags::MS_NOEXEC),
    ("exec", true, MsFlags::MS_NOEXEC),
    ("sync", false, MsFlags::MS_SYNCHRONOUS),
    ("async", true, MsFlags::MS_SYNCHRONOUS),
    ("dirsync", false, MsFlags::MS_DIRSYNC),
    ("remount", false, MsFlags::MS_REMOUNT),
    ("mand", false, MsFlags::MS_MANDLOCK),
    ("nomand", true, MsFlags::MS_MANDLOCK),
    ("noatime", false, MsFlags::MS_NOATIME),
    ("atime", true, MsFlags::MS_NOATIME),
    ("nodiratime", false, MsFlags::MS_NODIRATIME),
    ("diratime", true, MsFlags::MS_NODIRATIME),
    ("relatime", false, MsFlags::MS_RELATIME),
    ("norelatime", true, MsFlags::MS_RELATIME),
    ("strictatime", false, MsFlags::MS_STRICTATIME),
    ("nostrictatime", true, MsFlags::MS_STRICTATIME),
    ("lazytime", false, MsFlags::MS_LAZYTIME),
    ("nolazytime", true, MsFlags::MS_LAZYTIME),
    ("silent", false, MsFlags::MS_SILENT),
    ("loud", true, MsFlags::MS_SILENT),
    ("bind", false, MsFlags::MS_BIND),
    ("rbind", false, MsFlags::MS_BIND.union(MsFlags::MS_REC)),
];

/// Propagation words.
const PROPAGATION: &[(&str, MsFlags)] = &[
    ("private", MsFlags::MS_PRIVATE),
    ("rprivate", MsFlags::MS_PRIVATE.union(MsFlags::MS_REC)),
    ("shared", MsFlags::MS_SHARED),
    ("rshared", MsFlags::MS_SHARED.union(MsFlags::MS_REC)),
    ("slave", MsFlags::MS_SLAVE),
    ("rslave", MsFlags::MS_SLAVE.union(MsFlags::MS_REC)),
    ("unbindable", MsFlags::MS_UNBINDABLE),
    ("runbindable", MsFlags::MS_UNBINDABLE.union(MsFlags::MS_REC)),
];

/// runc extensions that carry no meaning here and are dropped rather than passed to the kernel.
const IGNORED: &[&str] = &["tmpcopyup", "nosymfollow", "symfollow"];

/// Parses a propagation word alone (as in `linux.rootfsPropagation`).
pub fn propagation(word: &str) -> Option<MsFlags> {
    PROPAGATION
        .iter()
        .find(|(w, _)| *w == word)
        .map(|(_, flag)| *flag)
}

/// Parses the spec's options of one mount. Later words win over earlier ones, as in mount(8).
pub fn parse<S: AsRef<str>>(options: &[S]) -> MountOptions {
    let mut out = MountOptions::default();
    for option in options {
        let word = option.as_ref();
        if let Some((_, clear, flag)) = FLAGS.iter().find(|(w, _, _)| *w == word) {
            if *clear {
                out.flags.remove(*flag);
            } else {
                out.flags.insert(*flag);
            }
        } else if let Some(flag) = propagation(word) {
            out.propagation.push(flag);
        } else if !IGNORED.contains(&word) && !word.is_empty() {
            out.data.push(word.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_words_set_and_clear_flags_in_order() {
        let o = parse(&["ro", "nosuid", "nodev", "rw", "noexec", "relatime"]);
        assert_eq!(
            o.flags,
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME
        );
        assert!(o.propagation.is_empty());
        assert_eq!(o.data(), None);
    }

    #[test]
    fn data_and_propagation_are_kept_apart() {
        let o = parse(&[
            "rbind",
            "rprivate",
            "mode=755",
            "size=65536k",
            "slave",
            "tmpcopyup",
        ]);
        assert_eq!(o.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
        assert!(o.is_bind());
        assert_eq!(
            o.propagation,
            vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC, MsFlags::MS_SLAVE]
        );
        assert_eq!(o.data().as_deref(), Some("mode=755,size=65536k"));
    }

    #[test]
    fn data_defaults_do_not_override_the_spec() {
        let mut o = parse(&["newinstance", "ptmxmode=0620"]);
        o.data_default("newinstance", None);
        o.data_default("ptmxmode", Some("0666"));
        o.data_default("mode", Some("0620"));
        assert_eq!(
            o.data().as_deref(),
            Some("newinstance,ptmxmode=0620,mode=0620")
        );
    }

    #[test]
    fn propagation_words() {
        assert_eq!(
            propagation("rslave"),
            Some(MsFlags::MS_SLAVE | MsFlags::MS_REC)
        );
        assert_eq!(propagation("shared"), Some(MsFlags::MS_SHARED));
        assert_eq!(propagation("bogus"), None);
    }
}
