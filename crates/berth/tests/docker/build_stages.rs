//! `docker build` of multi-stage Dockerfiles against Berth: stages that do not depend on each
//! other build at the same time, and stages the target does not need are skipped.

use crate::build::{build_ok, context};
use crate::harness::{opted_in, Daemon};

/// Stage `a` waits (up to 20 s) for a file that stage `b`, after it in the file, writes into a
/// cache mount both share: built one stage after another, `a` would give up with code 7.
const SIDE_BY_SIDE: &str = "FROM busybox AS a
RUN --mount=type=cache,id=sync,target=/sync sh -c 'i=0; while [ ! -f /sync/b ]; do i=$((i+1)); [ $i -gt 200 ] && exit 7; sleep 0.1; done'
RUN echo a > /a
FROM busybox AS b
RUN --mount=type=cache,id=sync,target=/sync touch /sync/b
RUN echo b > /b
FROM busybox AS unused
RUN echo never > /never; exit 5
FROM busybox
COPY --from=a /a /a
COPY --from=b /b /b
";

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn independent_stages_build_side_by_side() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let ctx = context(&[("Dockerfile", SIDE_BY_SIDE)]);
    let out = build_ok(&d, ctx.path(), &["-t", "sidebyside"]);
    assert_eq!(
        d.ok(&["run", "--rm", "sidebyside", "cat", "/a", "/b"]),
        "a\nb"
    );
    // The unused stage is skipped; every step's header is there once, numbered in file order.
    assert!(!out.contains("exit 5"), "{out}");
    let mut numbers: Vec<usize> = out
        .lines()
        .filter_map(|l| l.strip_prefix("Step ")?.split('/').next()?.parse().ok())
        .collect();
    numbers.sort();
    assert_eq!(numbers, (1..=9).collect::<Vec<_>>(), "{out}");
    assert!(out.contains("Step 4/9 : FROM busybox AS b"), "{out}");
    // Lines of different stages alternate, but each is whole.
    for l in out.lines().filter(|l| l.contains("Step ")) {
        assert!(l.starts_with("Step "), "a step line cut into: {l:?}\n{out}");
    }
    let id = d.inspect("sidebyside", "{{.Id}}");
    let again = build_ok(&d, ctx.path(), &["-t", "sidebyside"]);
    assert_eq!(again.matches("Using cache").count(), 6, "{again}");
    assert_eq!(d.inspect("sidebyside", "{{.Id}}"), id);
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}
