//! `/etc/subuid` and `/etc/subgid`: the subordinate id ranges a user owns (`name:start:count`,
//! one a line; the owner may be given by name or by uid), turned into the id maps of its user
//! namespace as dockerd builds them: every range of the user, in file order, mapped one after
//! the other from container id 0. A user with none gets one (`--userns-remap default` only),
//! 65536 ids from 100000 or past the last range in use, through `usermod` as dockerd does.

use std::path::Path;
use std::process::Command;

use berth_image::layer::IdRange;

use crate::error::DaemonError;

/// Where the ranges are.
pub const SUBUID: &str = "/etc/subuid";
pub const SUBGID: &str = "/etc/subgid";

/// Size and first id of a range given to a user that has none (dockerd's).
const DEFAULT_RANGE_LEN: u64 = 65536;
const DEFAULT_RANGE_START: u64 = 100000;

/// One line of a subordinate id file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubId {
    pub owner: String,
    pub start: u32,
    pub count: u32,
}

/// Parses a subordinate id file's text; comments, blank and malformed lines are skipped, as
/// shadow's tools skip them.
pub fn parse(text: &str) -> Vec<SubId> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let owner = f.next().filter(|o| !o.is_empty())?.to_string();
            let start = f.next()?.parse().ok()?;
            let count = f.next()?.parse().ok().filter(|c| *c > 0)?;
            f.next().is_none().then_some(SubId {
                owner,
                start,
                count,
            })
        })
        .collect()
}

/// The ranges of `file` that belong to user `name` (uid `uid`), in file order.
pub fn ranges_of(file: &Path, name: &str, uid: u32) -> Result<Vec<SubId>, DaemonError> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(DaemonError::io("reading", file, e)),
    };
    let uid = uid.to_string();
    Ok(parse(&text)
        .into_iter()
        .filter(|s| s.owner == name || s.owner == uid)
        .collect())
}

/// The id map of `ranges`: consecutive container ids from 0 (dockerd's
/// `LoadIdentityMapping`).
pub fn id_map(ranges: &[SubId]) -> Vec<IdRange> {
    let mut next = 0u32;
    ranges
        .iter()
        .map(|r| {
            let range = IdRange {
                container: next,
                host: r.start,
                size: r.count,
            };
            next = next.saturating_add(r.count);
            range
        })
        .collect()
}

/// The first id of a new range of [`DEFAULT_RANGE_LEN`] ids that overlaps none of `taken`.
pub fn next_free_start(taken: &[SubId]) -> u64 {
    let mut sorted: Vec<&SubId> = taken.iter().collect();
    sorted.sort_by_key(|s| s.start);
    let mut start = DEFAULT_RANGE_START;
    for r in sorted {
        let (lo, hi) = (u64::from(r.start), u64::from(r.start) + u64::from(r.count));
        if start < hi && lo < start + DEFAULT_RANGE_LEN {
            start = hi;
        }
    }
    start
}

/// Gives user `name` a subordinate uid and gid range where it has none (dockerd's
/// `createSubordinateRanges`).
pub fn ensure_ranges(name: &str, uid: u32) -> Result<(), DaemonError> {
    for (file, flag) in [(SUBUID, "-v"), (SUBGID, "-w")] {
        if !ranges_of(Path::new(file), name, uid)?.is_empty() {
            continue;
        }
        let all = match std::fs::read_to_string(file) {
            Ok(t) => parse(&t),
            Err(_) => Vec::new(),
        };
        let start = next_free_start(&all);
        let range = format!("{start}-{}", start + DEFAULT_RANGE_LEN - 1);
        run("usermod", &[flag, &range, name])?;
    }
    Ok(())
}

/// Where the shadow tools are looked for: the daemon's `PATH`, then the system directories (a
/// service manager's `PATH` may lack the `sbin` ones).
pub fn tool(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    crate::on_path(program, Some(&path)).or_else(|| {
        crate::on_path(
            program,
            Some(std::ffi::OsStr::new("/usr/sbin:/usr/bin:/sbin:/bin")),
        )
    })
}

/// Runs a shadow tool ([`tool`]), with its output in the error.
pub fn run(program: &str, args: &[&str]) -> Result<(), DaemonError> {
    let exe = tool(program).unwrap_or_else(|| program.into());
    let out = Command::new(&exe).args(args).output().map_err(|e| {
        DaemonError::Config(format!(
            "userns-remap: running {program} {}: {e}; install the shadow tools (passwd) or create the user and its /etc/subuid and /etc/subgid ranges yourself",
            args.join(" ")
        ))
    })?;
    if !out.status.success() {
        return Err(DaemonError::Config(format!(
            "userns-remap: {program} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_in_order_and_mapped_one_after_the_other() {
        let text = "# comment\nalice:100000:65536\nbob:165536:65536\n1001:300000:10\n\
                    alice:400000:1000\nbad line\ncarol:5:0\n";
        let all = parse(text);
        assert_eq!(all.len(), 4);
        let mine: Vec<SubId> = all
            .iter()
            .filter(|s| s.owner == "alice" || s.owner == "1001")
            .cloned()
            .collect();
        let map = id_map(&mine);
        let r = |container, host, size| IdRange {
            container,
            host,
            size,
        };
        assert_eq!(
            map,
            [
                r(0, 100000, 65536),
                r(65536, 300000, 10),
                r(65546, 400000, 1000)
            ]
        );
    }

    #[test]
    fn a_new_range_goes_past_the_ones_in_use() {
        assert_eq!(next_free_start(&[]), 100000);
        let taken = parse("a:100000:65536\nb:165536:65536\nc:500000:10\n");
        assert_eq!(next_free_start(&taken), 231072);
        let low = parse("a:1000:10\n");
        assert_eq!(next_free_start(&low), 100000);
    }
}
