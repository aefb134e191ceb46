//! A new user namespace with a network namespace given by path that the host's user namespace
//! owns (as a daemon makes one before the container, and `--userns-remap` then asks for a user
//! namespace): the init is born in the network namespace (the runtime joins it before `clone`,
//! since from inside its new user namespace it has no rights over it), `/sys` is the host's
//! bound (no fresh sysfs for a network namespace the container does not own), and `exec` joins
//! the container's namespaces with the user namespace last.

use crate::harness::{stderr, stdout, Bundle};
use crate::root_test;
use std::process::{Child, Command, Stdio};

/// A process in a network namespace of its own with a veth pair, killed on drop.
struct NetnsHolder(Child);

impl NetnsHolder {
    fn start() -> NetnsHolder {
        let child = Command::new("unshare")
            .args([
                "--net",
                "sh",
                "-c",
                "ip link add berthdummy0 type veth peer name berthdummy1 && echo ready && exec sleep 1000",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare");
        let mut holder = NetnsHolder(child);
        let mut line = String::new();
        let out = holder.0.stdout.take().expect("stdout");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line)
            .expect("ready line");
        assert_eq!(line, "ready\n");
        holder
    }

    fn netns(&self) -> String {
        format!("/proc/{}/ns/net", self.0.id())
    }
}

impl Drop for NetnsHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_new_user_namespace_joins_a_host_owned_network_namespace() {
    root_test!();
    let holder = NetnsHolder::start();
    let mut b = Bundle::busybox("usernsnet", &["sleep", "100"]);
    b.open_up();
    let map = serde_json::json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
    for ns in b.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "network" {
            ns["path"] = holder.netns().into();
        }
    }
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"type": "user"}));
    b.config["linux"]["uidMappings"] = map.clone();
    b.config["linux"]["gidMappings"] = map;
    b.write_config();
    let out = b.detached(&["run", "-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = b.state().unwrap()["pid"].as_i64().unwrap();
    let link = |p: String| std::fs::read_link(p).unwrap();
    assert_eq!(
        link(format!("/proc/{pid}/ns/net")),
        link(holder.netns()),
        "the init is not in the given network namespace"
    );
    let uid_map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    assert_eq!(
        uid_map.split_whitespace().collect::<Vec<_>>(),
        ["0", "300000", "65536"]
    );
    // The runtime itself stayed in its own network namespace.
    assert_ne!(
        link(format!("/proc/{pid}/ns/net")),
        link("/proc/self/ns/net".into())
    );
    let inside = b
        .runtime(&[
            "exec",
            &b.id,
            "sh",
            "-c",
            "id -u; ip -o link | grep -c ' berthdummy0@'; ls /sys/class/net | grep -c berthdummy0 || true",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(inside.status.success(), "{}", stderr(&inside));
    // /sys is the host's bound: the dummy link is not in it (it lives in the holder's namespace).
    assert_eq!(stdout(&inside), "0\n1\n0\n");
}
