//! Hooks run in order, at their points, with the state JSON on stdin.

use crate::harness::{stderr, Bundle};
use crate::root_test;
use serde_json::json;

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn hooks_run_in_order_with_state() {
    root_test!();
    let mut b = Bundle::busybox("hooks", &["true"]);
    b.config["root"]["readonly"] = false.into();
    let log = b.path().join("hooks.log");
    let state = b.path().join("prestart.state");
    let append = |name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo {name} >> {}", log.display())]});
    b.config["hooks"] = json!({
        "prestart": [
            {"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", state.display())]},
            append("prestart"),
        ],
        "createRuntime": [append("createRuntime")],
        "createContainer": [append("createContainer")],
        // After pivot_root: the container's /bin/sh, writing into the container's root.
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "echo startContainer > /start.log"]}],
        "poststart": [append("poststart")],
        "poststop": [append("poststop")],
    });
    b.write_config();
    let out = b.run();
    assert!(out.status.success(), "{}", stderr(&out));
    let got = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        got.lines().collect::<Vec<_>>(),
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "poststart",
            "poststop"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(b.rootfs().join("start.log")).unwrap(),
        "startContainer\n"
    );
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(st["id"], b.id.as_str());
    assert_eq!(
        st["status"], "created",
        "the environment exists once hooks run"
    );
    assert!(st["pid"].as_i64().unwrap() > 0);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn failing_create_hook_rolls_back() {
    root_test!();
    let mut b = Bundle::busybox("hookfail", &["true"]);
    b.config["hooks"] = json!({"createRuntime": [{"path": "/bin/false"}]});
    b.write_config();
    let out = b.run();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("createRuntime"), "{}", stderr(&out));
    b.assert_gone();
}
