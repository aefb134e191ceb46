//! `run`/`create --pull always|missing|never` (issue #10) from the berth CLI and the real docker
//! CLI against a Berth daemon, with a `docker-registry` ([`DistRegistry`]) holding a newer image
//! under the tag the daemon also has locally: `missing` runs the local one, `always` pulls the
//! registry's first, `never` refuses a missing image, a bad value is refused in docker's words.

use crate::harness::{code, stderr, stdout, Daemon};
use crate::registry::{berth, DistRegistry};

/// Pushes an image whose `/v` reads `v2` as `repo:1` on `reg`, then points the daemon's own
/// `repo:1` back at plain busybox: the registry is newer than the local tag.
fn newer_in_registry(d: &Daemon, reg: &DistRegistry, repo: &str) -> String {
    let image = format!("{}/{repo}:1", reg.addr);
    let name = format!("pull-src-{repo}");
    d.ok(&[
        "run",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo v2 > /v",
    ]);
    d.ok(&["commit", &name, &image]);
    d.ok(&["rm", &name]);
    d.ok(&["push", &image]);
    d.ok(&["tag", "busybox:latest", &image]);
    image
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn berth_run_and_create_follow_the_pull_policy() {
    if !crate::harness::opted_in() {
        return;
    }
    let reg = DistRegistry::start();
    let d = Daemon::start();
    let image = newer_in_registry(&d, &reg, "policy");
    // missing (the default): the local tag is there, so no pull; busybox has no /v.
    let local = berth(&d, &["run", "--rm", &image, "cat", "/v"], None);
    assert_ne!(code(&local), 0, "{}", stdout(&local));
    assert!(
        !stderr(&local).contains("Pulling from"),
        "{}",
        stderr(&local)
    );
    // always: pulls first (progress on stderr), then runs the registry's image.
    let always = berth(
        &d,
        &["run", "--rm", "--pull", "always", &image, "cat", "/v"],
        None,
    );
    assert_eq!(code(&always), 0, "{}", stderr(&always));
    assert_eq!(stdout(&always).trim(), "v2");
    assert!(
        stderr(&always).contains("1: Pulling from policy"),
        "{}",
        stderr(&always)
    );
    assert!(
        stderr(&always).contains(&format!("Status: Downloaded newer image for {image}")),
        "{}",
        stderr(&always)
    );
    // Missing locally: "Unable to find image", pulled, created; --quiet shows none of it.
    d.ok(&["rmi", &image]);
    let created = berth(&d, &["create", "-q", &image, "cat", "/v"], None);
    assert_eq!(code(&created), 0, "{}", stderr(&created));
    assert_eq!(stderr(&created), "", "quiet create printed to stderr");
    d.ok(&["rm", stdout(&created).trim()]);
    d.ok(&["rmi", &image]);
    let created = berth(&d, &["create", &image], None);
    assert_eq!(code(&created), 0, "{}", stderr(&created));
    assert!(
        stderr(&created).contains(&format!("Unable to find image '{image}' locally")),
        "{}",
        stderr(&created)
    );
    assert_eq!(stdout(&created).trim().len(), 64, "{}", stdout(&created));
    d.ok(&["rm", stdout(&created).trim()]);
    // never: a missing image fails the create with the daemon's words, exit 125.
    d.ok(&["rmi", &image]);
    let never = berth(
        &d,
        &["run", "--rm", "--pull", "never", &image, "true"],
        None,
    );
    assert_eq!(code(&never), 125, "{}", stderr(&never));
    assert!(
        stderr(&never).contains(&format!("No such image: {image}")),
        "{}",
        stderr(&never)
    );
    assert_eq!(d.ok(&["images", "-q", &image]), "");
    // A bad policy is refused before anything happens.
    let bad = berth(&d, &["create", "--pull", "sometimes", &image], None);
    assert_eq!(code(&bad), 125, "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains(
            r#"invalid pull option: 'sometimes': must be one of "always", "missing" or "never""#
        ),
        "{}",
        stderr(&bad)
    );
    // A pull failure during run is run's failure (exit 125), nothing created.
    let nope = berth(&d, &["run", "--rm", &format!("{}/nope:1", reg.addr)], None);
    assert_eq!(code(&nope), 125, "{}", stderr(&nope));
    assert!(stderr(&nope).contains("not found"), "{}", stderr(&nope));
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn docker_cli_run_pull_policies_against_berth() {
    if !crate::harness::opted_in() {
        return;
    }
    let reg = DistRegistry::start();
    let d = Daemon::start();
    let image = newer_in_registry(&d, &reg, "dpolicy");
    let local = d.docker(&["run", "--rm", "--pull", "missing", &image, "cat", "/v"]);
    assert_ne!(code(&local), 0, "{}", stdout(&local));
    let always = d.docker(&["run", "--rm", "--pull", "always", &image, "cat", "/v"]);
    assert_eq!(code(&always), 0, "{}\n{}", stderr(&always), d.log());
    assert_eq!(stdout(&always).trim(), "v2");
    assert!(
        stderr(&always).contains("Status: Downloaded newer image"),
        "{}",
        stderr(&always)
    );
    d.ok(&["rmi", &image]);
    let never = d.docker(&["run", "--rm", "--pull", "never", &image, "true"]);
    assert_eq!(code(&never), 125, "{}", stderr(&never));
    assert!(
        stderr(&never).contains(&format!("No such image: {image}")),
        "{}",
        stderr(&never)
    );
    let created = d.docker(&["create", "--pull", "missing", &image]);
    assert_eq!(code(&created), 0, "{}", stderr(&created));
    assert!(
        stderr(&created).contains("Unable to find image"),
        "{}",
        stderr(&created)
    );
    d.ok(&["rm", stdout(&created).trim()]);
}
