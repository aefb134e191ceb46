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

/// One more independent stage than the daemon has CPUs, each `RUN` staying until all of them are
/// inside at once (or 3 s passed) and noting how many were, in a cache mount they share: at most
/// one stage per CPU does steps at a time.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn parallel_stages_are_capped_at_the_cpus() {
    if !opted_in() {
        return;
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let n = cpus + 1;
    let sync = format!("cap-{}", std::process::id());
    let mut df = String::new();
    for i in 0..n {
        df.push_str(&format!(
            "FROM busybox AS s{i}\nRUN --mount=type=cache,id={sync},target=/sync sh -c '\
mkdir /sync/in-{i}; ls /sync | grep -c ^in- >> /sync/counts; i=0; \
while [ $(ls /sync | grep -c ^in-) -lt {n} ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done; \
rmdir /sync/in-{i}; echo {i} > /done'\n"
        ));
    }
    df.push_str("FROM busybox\n");
    for i in 0..n {
        df.push_str(&format!("COPY --from=s{i} /done /done-{i}\n"));
    }
    df.push_str(&format!(
        "RUN --mount=type=cache,id={sync},target=/sync sort -n /sync/counts | tail -n 1 > /most\n"
    ));
    let d = Daemon::start();
    let ctx = context(&[("Dockerfile", &df)]);
    build_ok(&d, ctx.path(), &["-t", "capped"]);
    let most: usize = d
        .ok(&["run", "--rm", "capped", "cat", "/most"])
        .parse()
        .expect("a count");
    assert!(most <= cpus, "{most} stages at once with {cpus} CPUs");
    if cpus > 1 {
        assert!(most > 1, "the stages never ran side by side");
    }
}
