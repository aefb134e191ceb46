//! `berth info`: `GET /info` printed as the docker CLI prints it (the Client section, then the
//! Server section in docker's order, with its indentation and its way of showing plugins, swarm,
//! component versions and security options), or through `--format`.

use super::{out, Ctx};
use crate::error::Result;
use crate::flags::{value, Args, Parsed, Spec};
use crate::{format, units};
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
    let v: Value = ctx.client.get_json("/info").await?;
    if let Some(f) = p.string("format") {
        let f = if f == "json" { "{{json .}}" } else { f };
        out(&format!("{}\n", format::render_one(f, &v)?));
        return Ok(());
    }
    out(&render(&v, env!("CARGO_PKG_VERSION")));
    let warnings = v.get("Warnings").cloned().unwrap_or_default();
    super::print_warnings(
        &serde_json::from_value::<Vec<String>>(warnings).unwrap_or_default(),
        "",
    );
    Ok(())
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(v, |v, k| v.get(*k))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// The text of `info` for the answer `v`, with `client` as the client's version.
fn render(v: &Value, client: &str) -> String {
    let n = |k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    let b = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut t = format!(
        "Client:\n Version:    {client}\n Context:    default\n Debug Mode: false\n\nServer:\n"
    );
    let mut line = |text: String| {
        t.push_str(&text);
        t.push('\n');
    };
    line(format!(" Containers: {}", n("Containers")));
    line(format!("  Running: {}", n("ContainersRunning")));
    line(format!("  Paused: {}", n("ContainersPaused")));
    line(format!("  Stopped: {}", n("ContainersStopped")));
    line(format!(" Images: {}", n("Images")));
    line(format!(" Server Version: {}", s(v, &["ServerVersion"])));
    line(format!(" Storage Driver: {}", s(v, &["Driver"])));
    for pair in v
        .get("DriverStatus")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some([k, val]) = pair.as_array().map(Vec::as_slice) {
            line(format!(
                "  {}: {}",
                k.as_str().unwrap_or(""),
                val.as_str().unwrap_or("")
            ));
        }
    }
    line(format!(" Logging Driver: {}", s(v, &["LoggingDriver"])));
    line(format!(" Cgroup Driver: {}", s(v, &["CgroupDriver"])));
    line(format!(" Cgroup Version: {}", s(v, &["CgroupVersion"])));
    line(" Plugins:".into());
    for (key, label) in [("Volume", "Volume"), ("Network", "Network"), ("Log", "Log")] {
        let names = strings(v.get("Plugins").and_then(|p| p.get(key)));
        line(format!("  {label}: {}", names.join(" ")));
    }
    let swarm = s(v, &["Swarm", "LocalNodeState"]);
    line(format!(
        " Swarm: {}",
        if swarm.is_empty() { "inactive" } else { swarm }
    ));
    let mut runtimes: Vec<&String> = v
        .get("Runtimes")
        .and_then(Value::as_object)
        .map(|r| r.keys().collect())
        .unwrap_or_default();
    runtimes.sort();
    let runtimes: Vec<&str> = runtimes.iter().map(|r| r.as_str()).collect();
    line(format!(" Runtimes: {}", runtimes.join(" ")));
    line(format!(" Default Runtime: {}", s(v, &["DefaultRuntime"])));
    line(format!(" Init Binary: {}", s(v, &["InitBinary"])));
    line(format!(
        " containerd version: {}",
        s(v, &["ContainerdCommit", "ID"])
    ));
    line(format!(" runc version: {}", s(v, &["RuncCommit", "ID"])));
    line(format!(" init version: {}", s(v, &["InitCommit", "ID"])));
    let security = strings(v.get("SecurityOptions"));
    if !security.is_empty() {
        line(" Security Options:".into());
        for option in security {
            for l in security_option(option) {
                line(l);
            }
        }
    }
    for (label, key) in [
        ("Kernel Version", "KernelVersion"),
        ("Operating System", "OperatingSystem"),
        ("OSType", "OSType"),
        ("Architecture", "Architecture"),
    ] {
        line(format!(" {label}: {}", s(v, &[key])));
    }
    line(format!(" CPUs: {}", n("NCPU")));
    line(format!(
        " Total Memory: {}",
        binary_size(n("MemTotal") as f64)
    ));
    line(format!(" Name: {}", s(v, &["Name"])));
    line(format!(" ID: {}", s(v, &["ID"])));
    line(format!(" Docker Root Dir: {}", s(v, &["DockerRootDir"])));
    line(format!(" Debug Mode: {}", b("Debug")));
    let labels = strings(v.get("Labels"));
    if !labels.is_empty() {
        line(" Labels:".into());
        for l in labels {
            line(format!("  {l}"));
        }
    }
    line(format!(" Experimental: {}", b("ExperimentalBuild")));
    let insecure = strings(
        v.get("RegistryConfig")
            .and_then(|r| r.get("InsecureRegistryCIDRs")),
    );
    if !insecure.is_empty() {
        line(" Insecure Registries:".into());
        for r in insecure {
            line(format!("  {r}"));
        }
    }
    line(format!(
        " Live Restore Enabled: {}",
        b("LiveRestoreEnabled")
    ));
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
