//! Validation of what a request names, done on the decoded path before anything touches the disk
//! (catalog REG-23): repository names (`[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` components joined by
//! `/`, at most 255 bytes), tags (`[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`) and sha256 digests.
//! Components can therefore never be `.`, `..` or empty, and never start with `_` — the server's
//! own directory names (`_manifests`, `_tags`, `_layers`) cannot clash with a repository.

use berth_oci::Digest;

/// The longest repository name.
pub const NAME_MAX: usize = 255;

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator: `.`, `_`, `__` or a run of `-`, always between alphanumerics.
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || i >= b.len() || !alnum(b[i]) {
            return false;
        }
    }
    true
}

/// Whether `name` is a valid repository name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= NAME_MAX && name.split('/').all(valid_component)
}

/// Whether `tag` is a valid tag.
pub fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A sha256 digest, or `None`.
pub fn parse_digest(s: &str) -> Option<Digest> {
    Digest::parse(s)
        .ok()
        .filter(|d| d.algorithm() == "sha256" && d.hex().len() == 64)
}

/// A manifest reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestRef {
    Tag(String),
    Digest(Digest),
}

impl ManifestRef {
    pub fn parse(s: &str) -> Option<ManifestRef> {
        if s.contains(':') {
            parse_digest(s).map(ManifestRef::Digest)
        } else if valid_tag(s) {
            Some(ManifestRef::Tag(s.to_string()))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_distribution_grammar() {
        for ok in ["a", "library/busybox", "a.b/c_d/e__f/g-h/i---j", "0/9"] {
            assert!(valid_name(ok), "{ok}");
        }
        let long = "a".repeat(256);
        for bad in [
            "",
            "../x",
            "a/../../b",
            "UPPER",
            "a//b",
            "%2e%2e/x",
            "a/",
            "/a",
            "_a",
            "a_",
            "a.",
            "a..b",
            "a___b",
            "a/.",
            "a/_manifests",
            long.as_str(),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn tags_and_digests() {
        assert!(valid_tag("latest") && valid_tag("_x") && valid_tag("1.0-rc_1"));
        assert!(!valid_tag("-bad") && !valid_tag(".x") && !valid_tag(&"a".repeat(129)));
        assert!(parse_digest(&format!("sha256:{}", "a".repeat(64))).is_some());
        assert!(parse_digest("sha256:zz").is_none());
        assert!(parse_digest(&format!("sha256:{}", "a".repeat(63))).is_none());
        assert!(parse_digest("md5:abc").is_none());
        assert_eq!(
            ManifestRef::parse("v1"),
            Some(ManifestRef::Tag("v1".into()))
        );
        assert_eq!(ManifestRef::parse("sha256:zz"), None);
    }
}
