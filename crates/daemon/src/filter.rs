//! Small matching helpers shared by the engine's list and event filters: label filters and the glob
//! patterns of the `reference` filter. Domain-side: they take plain strings, not API types.

use std::collections::BTreeMap;

/// Whether every label filter (`key` or `key=value`) matches `labels` (ANDed, as Docker does).
pub fn labels_match(filters: &[String], labels: &BTreeMap<String, String>) -> bool {
    filters.iter().all(|f| match f.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(f.as_str()),
    })
}

/// Shell-style glob (`*`, `?`; `*` does not cross `/`), as Go's `path.Match` which Docker uses.
pub fn glob_match(pattern: &str, s: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = s.chars().collect();
    glob_at(&p, &t)
}

fn glob_at(p: &[char], t: &[char]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some('*') => (0..=t.len())
            .take_while(|&i| i == 0 || t[i - 1] != '/')
            .any(|i| glob_at(&p[1..], &t[i..])),
        Some('?') => t.first().is_some_and(|&c| c != '/') && glob_at(&p[1..], &t[1..]),
        Some(&c) => t.first() == Some(&c) && glob_at(&p[1..], &t[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_like_path_match() {
        assert!(glob_match("busybox", "busybox"));
        assert!(glob_match("busy*", "busybox"));
        assert!(glob_match("busybox:*", "busybox:latest"));
        assert!(glob_match("b?sybox", "busybox"));
        assert!(!glob_match("*", "library/busybox"));
        assert!(glob_match("*/busybox", "library/busybox"));
        assert!(!glob_match("busy", "busybox"));
    }

    #[test]
    fn labels_are_anded() {
        let labels: BTreeMap<String, String> = [("a".into(), "b".into())].into_iter().collect();
        assert!(labels_match(&["a=b".into(), "a".into()], &labels));
        assert!(!labels_match(&["a=b".into(), "c".into()], &labels));
        assert!(!labels_match(&["a=c".into()], &labels));
        assert!(labels_match(&[], &labels));
    }
}
