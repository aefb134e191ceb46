//! `examples/compose/workers`: `--scale worker=3` makes three numbered replicas, the name
//! `worker` resolves to each of them through the embedded DNS, the dispatcher's jobs reach every
//! one; scaling down removes the highest numbers; an edited `.env` value recreates the workers
//! and not the dispatcher.

use super::{address, dc_ok, example, lookup, set_env};
use crate::harness::{self, opted_in, Daemon};
use crate::{Project, DEADLINE};

/// Checks that `worker` resolves, from the dispatcher, to exactly the replicas `names`, and
/// that the dispatcher's log shows a job done by each.
fn check_replicas(d: &Daemon, p: &Project, dispatcher: &str, names: &[String]) {
    let net = format!("{}_default", p.name);
    let mut want: Vec<String> = names.iter().map(|n| address(d, n, &net)).collect();
    want.sort();
    harness::eventually(DEADLINE, "worker to resolve to every replica", || {
        lookup(d, dispatcher, "worker") == want
    });
    let hosts: Vec<String> = names
        .iter()
        .map(|n| d.inspect(n, "{{.Config.Hostname}}"))
        .collect();
    let tail = format!("({} workers)", names.len());
    harness::eventually(DEADLINE, "a job done by every replica", || {
        let log = harness::stdout(&d.docker(&["logs", "--tail", "30", dispatcher]));
        hosts.iter().all(|h| {
            log.lines()
                .any(|l| l.contains(&format!("done by {h}")) && l.ends_with(&tail))
        })
    });
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn workers_scaled_with_berth_compose() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let p = example(&d, "workers", "workers");
    p.ok(&["up", "-d", "--scale", "worker=3"]);
    let names: Vec<String> = p.ids("worker").into_iter().map(|(n, _)| n).collect();
    let want: Vec<String> = (1..=3).map(|i| format!("{}-worker-{i}", p.name)).collect();
    assert_eq!(names, want);
    let dispatcher = format!("{}-dispatcher-1", p.name);
    check_replicas(&d, &p, &dispatcher, &names);

    // Down to one: the highest numbers go, the dispatcher stays and sees one worker.
    let before = p.ids("dispatcher");
    p.ok(&["up", "-d", "--scale", "worker=1"]);
    let one = p.ids("worker");
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].0, want[0]);
    assert_eq!(p.ids("dispatcher"), before);
    check_replicas(&d, &p, &dispatcher, &want[..1]);

    // `scale` back to two; then WORK_MS changes: the workers are recreated, not the dispatcher.
    p.ok(&["scale", "worker=2"]);
    let two = p.ids("worker");
    assert_eq!(two.len(), 2);
    set_env(&p.path(), "WORK_MS", "20");
    p.ok(&["up", "-d", "--scale", "worker=2"]);
    let recreated = p.ids("worker");
    assert_eq!(
        recreated.iter().map(|x| &x.0).collect::<Vec<_>>(),
        two.iter().map(|x| &x.0).collect::<Vec<_>>()
    );
    assert!(recreated.iter().all(|x| !two.contains(x)), "{recreated:?}");
    assert_eq!(p.ids("dispatcher"), before);
    let env = d.inspect(&recreated[0].0, "{{json .Config.Env}}");
    assert!(env.contains("WORK_MS=20"), "{env}");
    check_replicas(&d, &p, &dispatcher, &want[..2]);

    p.ok(&["down"]);
    assert!(p.all_containers().is_empty());
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn workers_scaled_with_docker_compose_1_29() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let p = example(&d, "workers", "dcworkers");
    dc_ok(&p, &["up", "-d", "--scale", "worker=3"]);
    let names: Vec<String> = p.ids("worker").into_iter().map(|(n, _)| n).collect();
    let want: Vec<String> = (1..=3).map(|i| format!("{}_worker_{i}", p.name)).collect();
    assert_eq!(names, want);
    let dispatcher = format!("{}_dispatcher_1", p.name);
    check_replicas(&d, &p, &dispatcher, &names);

    dc_ok(&p, &["up", "-d", "--scale", "worker=1"]);
    let one: Vec<String> = p.ids("worker").into_iter().map(|(n, _)| n).collect();
    assert_eq!(one, want[..1]);
    check_replicas(&d, &p, &dispatcher, &want[..1]);
    // berth compose agrees about 1.29's project.
    let ps = p.ok(&["ps"]);
    assert_eq!(ps.lines().count(), 3, "{ps}");

    dc_ok(&p, &["down"]);
    assert!(p.all_containers().is_empty());
}
