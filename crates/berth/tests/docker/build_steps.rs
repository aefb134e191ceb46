//! `docker build` steps that change only the image config (`ENV`, `LABEL`, `CMD`, …, and a
//! `WORKDIR` whose directory is there) add no layer, as Docker's builders do: their history
//! entries are `empty_layer`, the image keeps its parent's layers, and a rebuild takes them from
//! the cache.

use crate::build::{build_ok, context};
use crate::harness::{opted_in, unix_now, Daemon};

const CONFIG_ONLY: &str = "FROM busybox
ARG V=1
ENV A=$V
LABEL l=v
EXPOSE 80
USER nobody
WORKDIR /etc
STOPSIGNAL SIGINT
HEALTHCHECK CMD true
SHELL [\"/bin/sh\", \"-ec\"]
VOLUME /data
ONBUILD RUN true
ENTRYPOINT [\"echo\"]
CMD [\"hi\"]
WORKDIR /made/here
";

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn config_steps_add_no_layer() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let ctx = context(&[("Dockerfile", CONFIG_ONLY)]);
    let out = build_ok(&d, ctx.path(), &["-t", "configonly"]);
    assert!(!out.contains("Running in"), "no container: {out}");
    let layers = |image: &str| d.inspect(image, "{{len .RootFS.Layers}}");
    let base: usize = layers("busybox").parse().expect("layers");
    // Only the WORKDIR that made its directory has a layer.
    assert_eq!(layers("configonly"), (base + 1).to_string());
    let history = d.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.Size}}|{{.CreatedBy}}",
        "configonly",
    ]);
    let lines: Vec<&str> = history.lines().collect();
    assert!(
        lines[0].ends_with("|/bin/sh -c #(nop) WORKDIR /made/here"),
        "{history}"
    );
    assert!(
        lines[1].starts_with("0B|/bin/sh -c #(nop) CMD [\"hi\"]"),
        "{history}"
    );
    assert!(
        lines[8].starts_with("0B|/bin/sh -c #(nop) WORKDIR /etc"),
        "{history}"
    );
    assert_eq!(d.ok(&["run", "--rm", "configonly"]), "hi");
    assert_eq!(
        d.inspect(
            "configonly",
            "{{.Config.User}} {{.Config.WorkingDir}} {{index .Config.Labels \"l\"}}"
        ),
        "nobody /made/here v"
    );
    assert!(d
        .inspect("configonly", "{{json .Config.Env}}")
        .contains("\"A=1\""));

    // The cache answers every step, and gives the same image.
    let id = d.inspect("configonly", "{{.Id}}");
    let again = build_ok(&d, ctx.path(), &["-t", "configonly"]);
    assert_eq!(again.matches("Using cache").count(), 14, "{again}");
    assert_eq!(d.inspect("configonly", "{{.Id}}"), id);
    // A reproducible build of them gives one image whatever day it is built.
    let epoch = [
        "--build-arg",
        "SOURCE_DATE_EPOCH=1700000000",
        "--no-cache",
        "-t",
        "e",
    ];
    build_ok(&d, ctx.path(), &epoch);
    let first = d.inspect("e", "{{.Id}}");
    build_ok(&d, ctx.path(), &epoch);
    assert_eq!(d.inspect("e", "{{.Id}}"), first);
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}

/// `COPY --from=IMAGE` (and `--from=STAGE`) reads the image's snapshot: the build makes no
/// container at all (no container event), and copies what `docker cp` would, links and all.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn copy_from_an_image_makes_no_container() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["tag", "busybox", "other-image"]);
    let df = "FROM busybox AS stage\n\
FROM busybox\n\
COPY --from=other-image /etc/passwd /from-image/passwd\n\
COPY --from=other-image /bin/sh /bins/\n\
COPY --from=stage /etc/group /from-stage/group\n";
    let ctx = context(&[("Dockerfile", df)]);
    let since = unix_now();
    build_ok(&d, ctx.path(), &["-t", "copied"]);
    let until = unix_now();
    let events = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "type=container",
        "--format",
        "{{.Action}} {{.Actor.ID}}",
    ]);
    assert_eq!(events, "", "no build container");
    let out = d.ok(&[
        "run",
        "--rm",
        "copied",
        "sh",
        "-c",
        "head -c 9 /from-image/passwd; echo; head -c 5 /from-stage/group; echo; readlink /bins/sh",
    ]);
    assert_eq!(out, "root:x:0:\nroot:\nbusybox", "{out}");
}
