//! `berth info`: `GET /info` printed as the docker CLI prints it (the Client section, then the
//! Server section in docker's order, with its indentation and its way of showing plugins, swarm,
//! component versions and security options), or through `--format`.

use super::{out, Ctx};
use crate::error::{CliError, Result};
use crate::flags::{value, Args, Parsed, Spec};
use crate::{format, units};
use berth_api::system::{Commit, SystemInfo};
use serde_json::Value;

pub const INFO: Spec = Spec {
    name: "info",
    usage: "[OPTIONS]",
    about: "Display system-wide information",
    flags: &[value(
        "format",
        Some('f'),
        "string",
        "Format output using a custom template: 'json' or 'TEMPLATE'",
    )],
    args: Args::None,
    stop_at_positional: false,
};

pub async fn info(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    // Templates see the answer as sent (every field, those berth_api does not name too).
    let raw: Value = ctx.client.get_json("/info").await?;
    if let Some(f) = p.string("format") {
        let f = if f == "json" { "{{json .}}" } else { f };
        out(&format!("{}\n", format::render_one(f, &raw)?));
        return Ok(());
    }
    let info: SystemInfo = serde_json::from_value(raw)
        .map_err(|e| CliError::Message(format!("error decoding daemon response: {e}")))?;
    out(&render(&info, env!("CARGO_PKG_VERSION")));
    super::print_warnings(&info.warnings, "");
    Ok(())
}

/// The text of `info` for the answer `v`, with `client` as the client's version.
fn render(v: &SystemInfo, client: &str) -> String {
    let mut t = format!(
        "Client:\n Version:    {client}\n Context:    default\n Debug Mode: false\n\nServer:\n"
    );
    let mut line = |text: String| {
        t.push_str(&text);
        t.push('\n');
    };
    line(format!(" Containers: {}", v.containers));
    line(format!("  Running: {}", v.containers_running));
    line(format!("  Paused: {}", v.containers_paused));
    line(format!("  Stopped: {}", v.containers_stopped));
    line(format!(" Images: {}", v.images));
    line(format!(" Server Version: {}", v.server_version));
    line(format!(" Storage Driver: {}", v.driver));
    for [k, val] in &v.driver_status {
        line(format!("  {k}: {val}"));
    }
    line(format!(" Logging Driver: {}", v.logging_driver));
    line(format!(" Cgroup Driver: {}", v.cgroup_driver));
    line(format!(" Cgroup Version: {}", v.cgroup_version));
    line(" Plugins:".into());
    for (label, names) in [
        ("Volume", &v.plugins.volume),
        ("Network", &v.plugins.network),
        ("Log", &v.plugins.log),
    ] {
        line(format!("  {label}: {}", names.join(" ")));
    }
    let swarm = &v.swarm.local_node_state;
    line(format!(
        " Swarm: {}",
        if swarm.is_empty() { "inactive" } else { swarm }
    ));
    let runtimes: Vec<&str> = v.runtimes.keys().map(String::as_str).collect();
    line(format!(" Runtimes: {}", runtimes.join(" ")));
    line(format!(" Default Runtime: {}", v.default_runtime));
    line(format!(" Init Binary: {}", v.init_binary));
    let commit = |c: &Option<Commit>| c.as_ref().map(|c| c.id.clone()).unwrap_or_default();
    line(format!(
        " containerd version: {}",
        commit(&v.containerd_commit)
    ));
    line(format!(" runc version: {}", commit(&v.runc_commit)));
    line(format!(" init version: {}", commit(&v.init_commit)));
    if !v.security_options.is_empty() {
        line(" Security Options:".into());
        for option in &v.security_options {
            for l in security_option(option) {
                line(l);
            }
        }
    }
    line(format!(" Kernel Version: {}", v.kernel_version));
    line(format!(" Operating System: {}", v.operating_system));
    line(format!(" OSType: {}", v.os_type));
    line(format!(" Architecture: {}", v.architecture));
    line(format!(" CPUs: {}", v.ncpu));
    line(format!(
        " Total Memory: {}",
        binary_size(v.mem_total as f64)
    ));
    line(format!(" Name: {}", v.name));
    line(format!(" ID: {}", v.id));
    line(format!(" Docker Root Dir: {}", v.docker_root_dir));
    line(format!(" Debug Mode: {}", v.debug));
    if !v.labels.is_empty() {
        line(" Labels:".into());
        for l in &v.labels {
            line(format!("  {l}"));
        }
    }
    line(format!(" Experimental: {}", v.experimental_build));
    let insecure = v
        .registry_config
        .as_ref()
        .map(|r| r.insecure_registry_cidrs.as_slice())
        .unwrap_or_default();
    if !insecure.is_empty() {
        line(" Insecure Registries:".into());
        for r in insecure {
            line(format!("  {r}"));
        }
    }
    line(format!(" Live Restore Enabled: {}", v.live_restore_enabled));
    line(String::new());
    t
}

/// `name=seccomp,profile=builtin` as docker shows it: the name, then each other key
/// capitalised with its value, one level deeper.
fn security_option(option: &str) -> Vec<String> {
    let mut name = "";
    let mut rest = Vec::new();
    for kv in option.split(',') {
        match kv.split_once('=') {
            Some(("name", v)) => name = v,
            Some((k, v)) => rest.push(format!("   {}: {v}", capitalise(k))),
            None => name = kv,
        }
    }
    let mut lines = vec![format!("  {name}")];
    lines.extend(rest);
    lines
}

fn capitalise(word: &str) -> String {
    let mut c = word.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// go-units `BytesSize` (binary, "1.944GiB").
fn binary_size(size: f64) -> String {
    const U: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let (mut s, mut i) = (size, 0);
    while s >= 1024.0 && i < U.len() - 1 {
        s /= 1024.0;
        i += 1;
    }
    format!("{}{}", units::go_g(s, 4), U[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_and_security_options_read_like_docker() {
        assert_eq!(binary_size(2_087_354_368.0), "1.944GiB");
        assert_eq!(
            security_option("name=seccomp,profile=builtin"),
            ["  seccomp", "   Profile: builtin"]
        );
        assert_eq!(security_option("name=rootless"), ["  rootless"]);
    }

    #[test]
    fn the_server_section_follows_dockers_order() {
        let v = json!({"Containers": 2, "ContainersRunning": 1, "ContainersStopped": 1,
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "null"], "Log": ["json-file"]},
            "Swarm": {"LocalNodeState": "inactive"}, "Runtimes": {"berth": {}},
            "SecurityOptions": ["name=seccomp,profile=builtin"], "MemTotal": 1024,
            "Labels": ["a=b"], "LiveRestoreEnabled": true});
        let v: SystemInfo = serde_json::from_value(v).unwrap();
        let text = render(&v, "1.0");
        let order = [
            " Containers: 2",
            "  Running: 1",
            " Plugins:",
            "  Network: bridge null",
            " Swarm: inactive",
            " Runtimes: berth",
            " runc version: ",
            "  seccomp",
            "   Profile: builtin",
            " Total Memory: 1KiB",
            " Labels:",
            "  a=b",
            " Live Restore Enabled: true",
        ];
        let mut at = 0;
        for want in order {
            let found = text[at..]
                .find(&format!("{want}\n"))
                .unwrap_or_else(|| panic!("{want:?} missing after byte {at}:\n{text}"));
            at += found + want.len();
        }
        assert!(text.ends_with("true\n\n"), "{text}");
    }
}
