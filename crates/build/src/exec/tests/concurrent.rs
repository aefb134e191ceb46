//! Stages side by side: a host that forks builds independent stages at the same time, a stage
//! waits only where it needs another, and a failure stops the build with its own error.

use std::collections::BTreeSet;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::*;

/// How long a `RUN await NAME` waits for a `RUN signal NAME` of another stage.
const AWAIT: Duration = Duration::from_secs(10);

/// How long a `RUN hold N` waits for `N` holds at once: a bound on what must not happen.
const HOLD: Duration = Duration::from_secs(1);

/// The fake behind a lock, forkable; `RUN` scripts also understand `signal NAME` and
/// `await NAME` (exit 9 when nothing signals `NAME` within [`AWAIT`]); `panic` panics.
#[derive(Clone)]
struct Forking {
    fake: Arc<Mutex<Fake>>,
    flags: Arc<(Mutex<BTreeSet<String>>, Condvar)>,
    forks: Arc<Mutex<usize>>,
    /// `RUN`s inside a `hold` now, and the most there were at once.
    holding: Arc<(Mutex<(usize, usize)>, Condvar)>,
}

/// The build options of these tests: more slots than stages unless a test says otherwise.
fn opts(dockerfile: &str) -> BuildOptions {
    BuildOptions {
        parallel_stages: 8,
        ..super::opts(dockerfile)
    }
}

impl Forking {
    fn new() -> Forking {
        Forking {
            fake: Arc::new(Mutex::new(Fake::with_base())),
            flags: Arc::default(),
            forks: Arc::default(),
            holding: Arc::default(),
        }
    }

    fn fake(&self) -> std::sync::MutexGuard<'_, Fake> {
        self.fake.lock().expect("fake")
    }

    /// `hold N`: stays until `N` `RUN`s are inside a hold at once, or [`HOLD`] passed (what a
    /// cap on parallel stages must make happen), recording the most there were.
    fn hold(&self, n: usize) {
        let (lock, cond) = &*self.holding;
        let mut st = lock.lock().expect("holding");
        st.0 += 1;
        st.1 = st.1.max(st.0);
        cond.notify_all();
        let end = Instant::now() + HOLD;
        while st.0 < n {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            st = cond.wait_timeout(st, left).expect("holding").0;
        }
        st.0 -= 1;
    }

    /// Runs the `signal` and `await` lines of a script; false when an await timed out.
    fn sync_lines(&self, script: &str) -> bool {
        let (lock, cond) = &*self.flags;
        for line in script.lines() {
            match line.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["signal", name] => {
                    lock.lock().expect("flags").insert(name.to_string());
                    cond.notify_all();
                }
                ["panic"] => panic!("the host failed badly"),
                ["hold", n] => self.hold(n.parse().unwrap_or(usize::MAX)),
                ["await", name] => {
                    let end = Instant::now() + AWAIT;
                    let mut set = lock.lock().expect("flags");
                    while !set.contains(*name) {
                        let left = end.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            return false;
                        }
                        set = cond.wait_timeout(set, left).expect("flags").0;
                    }
                }
                _ => {}
            }
        }
        true
    }
}

impl BuildHost for Forking {
    fn fork(&mut self) -> Option<Box<dyn BuildHost + Send>> {
        *self.forks.lock().expect("forks") += 1;
        Some(Box::new(self.clone()))
    }
    fn image(&mut self, r: &str, pull: bool) -> Result<Option<Image>, HostError> {
        self.fake().image(r, pull)
    }
    fn create(
        &mut self,
        image: Option<&str>,
        c: &ImageConfig,
        run: Option<&RunSpec>,
    ) -> Result<String, HostError> {
        self.fake().create(image, c, run)
    }
    fn start(&mut self, container: &str) -> Result<i64, HostError> {
        let script = self
            .fake()
            .containers
            .get(container)
            .and_then(|(_, r)| r.as_ref())
            .and_then(|r| r.argv.last().cloned())
            .unwrap_or_default();
        // Outside the lock: the other stages go on meanwhile.
        if !self.sync_lines(&script) {
            return Ok(9);
        }
        self.fake().start(container)
    }
    fn is_dir(&mut self, c: &str, path: &str) -> Result<bool, HostError> {
        self.fake().is_dir(c, path)
    }
    fn copy_in(
        &mut self,
        c: &str,
        dir: &str,
        archive: Box<dyn Read + Send>,
    ) -> Result<(), HostError> {
        self.fake().copy_in(c, dir, archive)
    }
    fn copy_out(&mut self, image: &str, path: &str, out: &mut dyn Write) -> Result<(), HostError> {
        self.fake().copy_out(image, path, out)
    }
    fn lookup_user(
        &mut self,
        c: &str,
        user: &str,
        group: Option<&str>,
    ) -> Result<(u32, u32), HostError> {
        self.fake().lookup_user(c, user, group)
    }
    fn commit(&mut self, c: &str, config: &ImageConfig, by: &str) -> Result<String, HostError> {
        self.fake().commit(c, config, by)
    }
    fn configure(
        &mut self,
        image: Option<&str>,
        config: &ImageConfig,
        by: &str,
    ) -> Result<String, HostError> {
        self.fake().configure(image, config, by)
    }
    fn remove(&mut self, c: &str) -> Result<(), HostError> {
        self.fake().remove(c)
    }
    fn tag(&mut self, image: &str, reference: &str) -> Result<(), HostError> {
        self.fake().tag(image, reference)
    }
    fn cache_get(&mut self, key: &str) -> Result<Option<String>, HostError> {
        self.fake().cache_get(key)
    }
    fn cache_put(&mut self, key: &str, image: &str) -> Result<(), HostError> {
        self.fake().cache_put(key, image)
    }
    fn progress(&mut self, line: &str) {
        self.fake().progress(line)
    }
}

/// Stage `a` waits for something stage `b` (after it in the file) does: one at a time, in
/// order, `a` would wait in vain.
const SIDE_BY_SIDE: &str = "FROM busybox AS a\nRUN await b-ran\nRUN write /a 1\n\
FROM busybox AS b\nRUN signal b-ran\nRUN write /b 1\n\
FROM busybox AS unused\nRUN exit 5\n\
FROM busybox\nRUN signal final-started\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n";

#[test]
fn independent_stages_build_at_the_same_time() {
    let (_d, ctx) = context(&[]);
    let mut h = Forking::new();
    let b = build(&mut h, &ctx, &opts(SIDE_BY_SIDE)).expect("build");
    assert_eq!(
        *h.forks.lock().expect("forks"),
        2,
        "one fork per other stage"
    );
    let f = h.fake();
    assert!(f.file(&b.image, "/a").is_some() && f.file(&b.image, "/b").is_some());
    assert_eq!(b.steps, 10, "the unused stage is skipped");
    // Every step's header once, numbered in Dockerfile order whatever the order it ran in.
    let headers: Vec<&String> = f.lines.iter().filter(|l| l.starts_with("Step ")).collect();
    let mut numbers: Vec<usize> = headers
        .iter()
        .filter_map(|l| l[5..].split('/').next()?.parse().ok())
        .collect();
    numbers.sort();
    assert_eq!(numbers, (1..=10).collect::<Vec<_>>());
    assert!(headers.contains(&&"Step 4/10 : FROM busybox AS b".to_string()));
    assert!(headers.contains(&&"Step 8/10 : RUN signal final-started".to_string()));
    assert!(!f.lines.iter().any(|l| l.contains("exit 5")));
    assert!(f
        .lines
        .contains(&"Successfully tagged x:latest".to_string()));
    assert!(f.containers.is_empty());
}

#[test]
fn a_stage_runs_its_own_steps_before_it_needs_another() {
    // The final stage signals before its COPY --from; stage `a` waits for that signal.
    let (_d, ctx) = context(&[]);
    let df = "FROM busybox AS a\nRUN await final-started\nRUN write /a 1\n\
FROM busybox\nRUN signal final-started\nCOPY --from=a /a /a\n";
    let mut h = Forking::new();
    let b = build(&mut h, &ctx, &opts(df)).expect("build");
    assert!(h.fake().file(&b.image, "/a").is_some());
}

#[test]
fn a_failing_stage_fails_the_build_with_its_own_error() {
    let (_d, ctx) = context(&[]);
    let df = "FROM busybox AS a\nRUN exit 3\n\
FROM busybox\nRUN write /x 1\nCOPY --from=a /a /a\nRUN write /never 1\n";
    let mut h = Forking::new();
    let e = build(&mut h, &ctx, &opts(df)).expect_err("fails");
    assert_eq!(e.code(), Some(3), "{e}");
    let f = h.fake();
    assert!(!f.tags.contains_key("x:latest"));
    assert!(!f.lines.iter().any(|l| l.contains("/never")));
    // The same with a rebuild from the cache: still the RUN's error, never "cancelled".
    drop(f);
    let e = build(&mut h, &ctx, &opts(df)).expect_err("fails again");
    assert_eq!(e.code(), Some(3), "{e}");
}

#[test]
fn a_cached_rebuild_of_parallel_stages_gives_the_same_image() {
    let (_d, ctx) = context(&[]);
    let mut h = Forking::new();
    let first = build(&mut h, &ctx, &opts(SIDE_BY_SIDE)).expect("build");
    // The flags are set now: the awaits pass at once.
    let again = build(&mut h, &ctx, &opts(SIDE_BY_SIDE)).expect("rebuild");
    assert_eq!(again.image, first.image);
    assert_eq!(again.cache_hits, 7, "every step but the three FROMs");
}

#[test]
fn a_stage_whose_host_panics_ends_the_build() {
    // Without the stage marked failed, the final stage would wait for it forever.
    let (_d, ctx) = context(&[]);
    let df = "FROM busybox AS a\nRUN panic\nFROM busybox\nCOPY --from=a /a /a\n";
    let mut h = Forking::new();
    let e = build(&mut h, &ctx, &opts(df)).expect_err("fails");
    assert_eq!(e.to_string(), "the thread building stage 0 panicked");
}

/// Three independent stages whose `RUN`s each wait for all three to be inside at once: with two
/// slots they never are (each pair waits out [`HOLD`]); with more, they are.
#[test]
fn at_most_parallel_stages_stages_do_steps_at_once() {
    let (_d, ctx) = context(&[]);
    let df = "FROM busybox AS a\nRUN hold 3\nFROM busybox AS b\nRUN hold 3\n\
FROM busybox AS c\nRUN hold 3\n\
FROM busybox\nCOPY --from=a /etc /a\nCOPY --from=b /etc /b\nCOPY --from=c /etc /c\n";
    for (slots, most) in [(2, 2), (8, 3)] {
        let mut h = Forking::new();
        let o = BuildOptions {
            parallel_stages: slots,
            no_cache: true,
            ..opts(df)
        };
        build(&mut h, &ctx, &o).expect("build");
        let at_once = h.holding.0.lock().expect("holding").1;
        assert_eq!(at_once, most, "with {slots} slots");
    }
}

/// With one slot, a stage waiting for another gives it up: the build ends (in order) instead of
/// the final stage keeping the slot while it waits for a stage that cannot start.
#[test]
fn a_waiting_stage_gives_its_slot_up() {
    let (_d, ctx) = context(&[]);
    let df = "FROM busybox AS a\nRUN write /a 1\nFROM busybox\nRUN write /t 1\n\
COPY --from=a /a /a\n";
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut h = Forking::new();
        let o = BuildOptions {
            parallel_stages: 1,
            ..opts(df)
        };
        let built = build(&mut h, &ctx, &o).map(|b| b.image);
        let _ = tx.send(built.map(|id| h.fake().file(&id, "/a").is_some()));
    });
    let got = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the build ends within 30 s");
    assert!(got.expect("build"), "the final image has stage a's file");
}
