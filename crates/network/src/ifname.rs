//! Interface names as a type: an [`IfName`] can only be made by [`IfName::new`], which checks it,
//! so code that writes a name into a command language (the nftables ruleset) or a path
//! (`/proc/sys/net/ipv4/conf/<name>/…`) can rely on it holding nothing but plain characters.
//!
//! The rules are Linux's (`dev_valid_name`: 1 to 15 bytes, not `.` or `..`, no `/`, `:` or
//! whitespace) made stricter: only ASCII letters, digits, `-`, `_` and `.`. Linux would also take
//! `"`, `#`, `;` or `{`, each of which means something to `nft`.

use std::fmt;

/// The longest interface name Linux takes (`IFNAMSIZ` is 16 with the terminating NUL).
pub const MAX_LEN: usize = 15;

/// A name refused by [`IfName::new`], and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid interface name {name:?}: {reason}")]
pub struct InvalidIfName {
    pub name: String,
    pub reason: &'static str,
}

/// A checked Linux interface name (see the module docs for the rules).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IfName(String);

impl IfName {
    /// Checks `name` against the rules.
    pub fn new(name: &str) -> Result<IfName, InvalidIfName> {
        let refuse = |reason| {
            Err(InvalidIfName {
                name: name.to_string(),
                reason,
            })
        };
        if name.is_empty() {
            return refuse("it is empty");
        }
        if name.len() > MAX_LEN {
            return refuse("use at most 15 characters");
        }
        if name == "." || name == ".." {
            return refuse("\".\" and \"..\" are not interface names");
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return refuse("use only letters, digits, '-', '_' and '.'");
        }
        Ok(IfName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for IfName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for IfName {
    type Err = InvalidIfName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IfName::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_up_to_15_characters_are_taken() {
        for ok in [
            "berth0",
            "br-0123456789ab",
            "b1a2b3c-0123456",
            "eth0",
            "a",
            "my_br.1",
            "...",
        ] {
            assert_eq!(IfName::new(ok).map(|n| n.to_string()), Ok(ok.to_string()));
        }
    }

    #[test]
    fn names_linux_refuses_are_refused() {
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a:b",
            "a b",
            "a\tb",
            "br-0123456789abc",
        ] {
            assert!(IfName::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn nft_syntax_is_refused_though_linux_would_take_it() {
        // `x"accept#` once turned `oifname "<bridge>" drop` into an accept.
        for bad in [
            "x\"accept#",
            "a#b",
            "a;b",
            "a{b",
            "a}b",
            "a\\b",
            "a$b",
            "a@b",
            "a,b",
            "é",
            "a\nb",
        ] {
            let e = IfName::new(bad).expect_err(bad);
            assert_eq!(e.name, bad);
            assert!(e.to_string().starts_with("invalid interface name"), "{e}");
        }
    }
}
