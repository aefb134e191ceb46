//! The engine has no wire types: no module of the daemon outside `src/server/` (the Docker API's
//! front door) names `berth_api`, so a second front door can drive the engine without Docker's
//! syntax. [`KNOWN_DEBT`] lists the modules that still do, each with what is left; the test fails
//! when another module starts to, and when a listed one no longer does (take it off the list).

use std::path::{Path, PathBuf};

/// Modules outside `server/` that still use `berth_api`, and what is left (issue #13).
#[rustfmt::skip]
const KNOWN_DEBT: &[(&str, &str)] = &[
    ("build/host.rs", "the builder's container calls take Docker's Config/HostConfig"),
    ("build/mod.rs", "the builder's container calls take Docker's Config/HostConfig"),
    ("build/run.rs", "a RUN's and a COPY --from's containers are made from Docker's Config/HostConfig, and progress is Docker's JSON message"),
    ("containers/commit.rs", "commit reads Docker's Config from the record"),
    ("containers/create.rs", "create takes Docker's Config/HostConfig for what is not in containers::settings yet, and merges Config with the image's for inspect's echo"),
    ("containers/model.rs", "the record keeps Docker's Config/HostConfig (inspect's echo, and what is not in settings yet); IDs from berth_api::id"),
    ("containers/monitor.rs", "the restart policy is read from HostConfig.RestartPolicy"),
    ("containers/names.rs", "random names from berth_api::id"),
    ("containers/spec/mod.rs", "settle checks and fills HostConfig's namespace modes and runtime at create"),
    ("containers/spec/namespaces.rs", "the namespace modes are read from HostConfig"),
    ("containers/spec/resources.rs", "resources are read from HostConfig"),
    ("containers/spec/tests.rs", "spec tests build Docker's Config/HostConfig"),
    ("containers/update.rs", "update takes Docker's HostConfig"),
    ("system/mod.rs", "IDs from berth_api::id"),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// Whether `text` names `berth_api` outside comments.
fn uses_berth_api(text: &str) -> bool {
    text.lines().any(|l| {
        let code = l.split("//").next().unwrap_or("");
        code.contains("berth_api")
    })
}

#[test]
fn engine_modules_do_not_use_berth_api() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut users: Vec<String> = files
        .iter()
        .filter(|p| !p.starts_with(src.join("server")))
        .filter(|p| uses_berth_api(&std::fs::read_to_string(p).unwrap_or_default()))
        .filter_map(|p| p.strip_prefix(&src).ok())
        .map(|p| p.display().to_string())
        .collect();
    users.sort();
    let known: Vec<&str> = KNOWN_DEBT.iter().map(|(f, _)| *f).collect();
    let new: Vec<&String> = users
        .iter()
        .filter(|u| !known.contains(&u.as_str()))
        .collect();
    assert!(
        new.is_empty(),
        "engine modules use berth_api (the wire types belong to src/server/; parse at the edge \
         into engine types): {new:?}"
    );
    let paid: Vec<&&str> = known
        .iter()
        .filter(|k| !users.iter().any(|u| u == *k))
        .collect();
    assert!(
        paid.is_empty(),
        "no longer use berth_api, take them off KNOWN_DEBT: {paid:?}"
    );
}

#[test]
fn comments_do_not_count() {
    assert!(!uses_berth_api("//! only `server` knows `berth_api`"));
    assert!(!uses_berth_api("let x = 1; // berth_api::x"));
    assert!(uses_berth_api("use berth_api::container::HostConfig;"));
}
