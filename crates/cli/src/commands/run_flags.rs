//! The flags of `run` and `create` (and the resource flags `update` shares), with docker's
//! names, types and help texts, and the parsers of the values `update` reads too (`--cpus`,
//! `--restart`, `--blkio-weight`). [`super::run_body`] turns the parsed flags into the create
//! body.

use crate::error::Result;
use crate::flags::{concat, list, switch, value, Flag, Parsed, Spec};
use berth_api::container::RestartPolicy;

/// `run`'s flags (`create` uses the same table; the attach/detach ones are ignored there).
pub const RUN_FLAGS: &[Flag] = &concat::<67, 10, 77>(RUN_ONLY_FLAGS, RESOURCE_FLAGS);

/// The resource flags `run`, `create` and `update` share (same names, types and help texts).
pub const RESOURCE_FLAGS: [Flag; 10] = [
    value(
        "blkio-weight",
        None,
        "uint16",
        "Block IO (relative weight), between 10 and 1000, or 0 to disable",
    ),
    value(
        "cpu-period",
        None,
        "int",
        "Limit CPU CFS (Completely Fair Scheduler) period",
    ),
    value(
        "cpu-quota",
        None,
        "int",
        "Limit CPU CFS (Completely Fair Scheduler) quota",
    ),
    value(
        "cpu-shares",
        Some('c'),
        "int",
        "CPU shares (relative weight)",
    ),
    value("cpus", None, "decimal", "Number of CPUs"),
    value(
        "cpuset-cpus",
        None,
        "string",
        "CPUs in which to allow execution (0-3, 0,1)",
    ),
    value(
        "cpuset-mems",
        None,
        "string",
        "MEMs in which to allow execution (0-3, 0,1)",
    ),
    value("memory", Some('m'), "bytes", "Memory limit"),
    value("memory-reservation", None, "bytes", "Memory soft limit"),
    value(
        "pids-limit",
        None,
        "int",
        "Tune container pids limit (set -1 for unlimited)",
    ),
];

/// `run`'s other flags.
const RUN_ONLY_FLAGS: [Flag; 67] = [
    list(
        "add-host",
        None,
        "Add a custom host-to-IP mapping (host:ip)",
    ),
    list("attach", Some('a'), "Attach to STDIN, STDOUT or STDERR"),
    list("cap-add", None, "Add Linux capabilities"),
    list("cap-drop", None, "Drop Linux capabilities"),
    value(
        "cgroup-parent",
        None,
        "string",
        "Optional parent cgroup for the container",
    ),
    value(
        "cgroupns",
        None,
        "string",
        "Cgroup namespace to use (host|private)",
    ),
    value(
        "cidfile",
        None,
        "string",
        "Write the container ID to the file",
    ),
    switch(
        "detach",
        Some('d'),
        "Run container in background and print container ID",
    ),
    value(
        "detach-keys",
        None,
        "string",
        "Override the key sequence for detaching a container",
    ),
    list("device", None, "Add a host device to the container"),
    list("dns", None, "Set custom DNS servers"),
    list("dns-option", None, "Set DNS options"),
    list("dns-search", None, "Set custom DNS search domains"),
    value("domainname", None, "string", "Container NIS domain name"),
    value("ip", None, "string", "IPv4 address (e.g., 172.30.100.104)"),
    value("ip6", None, "string", "IPv6 address (e.g., 2001:db8::33)"),
    value(
        "mac-address",
        None,
        "string",
        "Container MAC address (e.g., 92:d0:c6:0a:29:33)",
    ),
    list(
        "network-alias",
        None,
        "Add network-scoped alias for the container",
    ),
    value(
        "entrypoint",
        None,
        "string",
        "Overwrite the default ENTRYPOINT of the image",
    ),
    list("env", Some('e'), "Set environment variables"),
    list("env-file", None, "Read in a file of environment variables"),
    list("expose", None, "Expose a port or a range of ports"),
    list("group-add", None, "Add additional groups to join"),
    value("hostname", Some('h'), "string", "Container host name"),
    switch(
        "init",
        None,
        "Run an init inside the container that forwards signals and reaps processes",
    ),
    switch(
        "interactive",
        Some('i'),
        "Keep STDIN open even if not attached",
    ),
    value("ipc", None, "string", "IPC mode to use"),
    list("label", Some('l'), "Set meta data on a container"),
    list(
        "label-file",
        None,
        "Read in a line delimited file of labels",
    ),
    list("link", None, "Add link to another container"),
    value(
        "log-driver",
        None,
        "string",
        "Logging driver for the container",
    ),
    list("log-opt", None, "Log driver options"),
    value(
        "memory-swap",
        None,
        "bytes",
        "Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
    ),
    value(
        "memory-swappiness",
        None,
        "int",
        "Tune container memory swappiness (0 to 100) (default -1)",
    ),
    list("mount", None, "Attach a filesystem mount to the container"),
    value("name", None, "string", "Assign a name to the container"),
    value(
        "network",
        None,
        "network",
        "Connect a container to a network",
    ),
    switch(
        "no-healthcheck",
        None,
        "Disable any container-specified HEALTHCHECK",
    ),
    switch("oom-kill-disable", None, "Disable OOM Killer"),
    value(
        "oom-score-adj",
        None,
        "int",
        "Tune host's OOM preferences (-1000 to 1000)",
    ),
    value("pid", None, "string", "PID namespace to use"),
    value(
        "platform",
        None,
        "string",
        "Set platform if server is multi-platform capable",
    ),
    switch(
        "privileged",
        None,
        "Give extended privileges to this container",
    ),
    list(
        "publish",
        Some('p'),
        "Publish a container's port(s) to the host",
    ),
    switch(
        "publish-all",
        Some('P'),
        "Publish all exposed ports to random ports",
    ),
    value(
        "pull",
        None,
        "string",
        "Pull image before running (\"always\", \"missing\", \"never\") (default \"missing\")",
    ),
    switch("quiet", Some('q'), "Suppress the pull output"),
    switch(
        "read-only",
        None,
        "Mount the container's root filesystem as read only",
    ),
    value(
        "restart",
        None,
        "string",
        "Restart policy to apply when a container exits (default \"no\")",
    ),
    switch(
        "rm",
        None,
        "Automatically remove the container and its associated anonymous volumes when it exits",
    ),
    value(
        "runtime",
        None,
        "string",
        "Runtime to use for this container",
    ),
    list("security-opt", None, "Security Options"),
    value("shm-size", None, "bytes", "Size of /dev/shm"),
    switch(
        "sig-proxy",
        None,
        "Proxy received signals to the process (default true)",
    ),
    value(
        "stop-signal",
        None,
        "string",
        "Signal to stop the container",
    ),
    value(
        "stop-timeout",
        None,
        "int",
        "Timeout (in seconds) to stop a container",
    ),
    list("sysctl", None, "Sysctl options"),
    list("tmpfs", None, "Mount a tmpfs directory"),
    switch("tty", Some('t'), "Allocate a pseudo-TTY"),
    list("ulimit", None, "Ulimit options"),
    value(
        "user",
        Some('u'),
        "string",
        "Username or UID (format: <name|uid>[:<group|gid>])",
    ),
    value("userns", None, "string", "User namespace to use"),
    value("uts", None, "string", "UTS namespace to use"),
    list("volume", Some('v'), "Bind mount a volume"),
    value(
        "volume-driver",
        None,
        "string",
        "Optional volume driver for the container",
    ),
    list(
        "volumes-from",
        None,
        "Mount volumes from the specified container(s)",
    ),
    value(
        "workdir",
        Some('w'),
        "string",
        "Working directory inside the container",
    ),
];

/// `--cpus 1.5` → 1500000000.
pub fn nano_cpus(spec: &Spec, v: &str) -> Result<i64> {
    let f: f64 = v
        .parse()
        .map_err(|_| spec.invalid_value("cpus", v, "failed to parse as a decimal"))?;
    Ok((f * 1e9).round() as i64)
}

/// `--restart` text → `RestartPolicy`.
pub fn restart_policy(spec: &Spec, v: &str) -> Result<RestartPolicy> {
    let (name, count) = match v.split_once(':') {
        Some((n, c)) => (
            n,
            c.parse::<i64>().map_err(|_| {
                spec.invalid_value("restart", v, "maximum retry count must be an integer")
            })?,
        ),
        None => (v, 0),
    };
    let policy = |name: &str, maximum_retry_count| RestartPolicy {
        name: name.into(),
        maximum_retry_count,
    };
    match name {
        "" | "no" => Ok(policy("no", 0)),
        "always" | "unless-stopped" | "on-failure" => Ok(policy(name, count)),
        _ => Err(spec.invalid_value("restart", v, &format!("invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"))),
    }
}

/// `--blkio-weight` (a uint16 flag), with pflag's wording for a value out of range.
pub fn blkio_weight(spec: &Spec, p: &Parsed) -> Result<Option<u16>> {
    match super::int_flag(spec, p, "blkio-weight")? {
        None => Ok(None),
        Some(n) => u16::try_from(n).map(Some).map_err(|_| {
            let v = p.str_or_empty("blkio-weight");
            spec.invalid_value(
                "blkio-weight",
                v,
                &format!("strconv.ParseUint: parsing \"{v}\": value out of range"),
            )
        }),
    }
}
