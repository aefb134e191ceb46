//! The key order `config` prints, as Compose v2 does: the top level as name, services, networks,
//! volumes, secrets, configs, then `x-` extensions; each object's keys in the order of the Compose
//! model's fields (a service's `profiles` first, then roughly alphabetical; a port's `mode`
//! before `host_ip`, `target`, `published`, `protocol`; a network's `name` first; ...), keys of
//! maps by name (services, environment, labels) sorted, and list items in their own order.
//! Unknown keys follow the known ones alphabetically; `x-` keys come last.

use crate::yaml::{Entry, Node, Value};

/// What a mapping node is, which decides its key order and its children's kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Top,
    Service,
    Build,
    Port,
    Mount,
    Dependency,
    Health,
    ServiceNetwork,
    FileRef,
    Network,
    Volume,
    FileObject,
    Deploy,
    Resources,
    Resource,
    Logging,
    Ipam,
    /// A map keyed by names: keys sorted, each value of the inner kind.
    Named(Obj),
    /// Anything else: keys sorted, recursively.
    Plain,
}

/// The kinds a [`Kind::Named`] map holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Obj {
    Service,
    Network,
    Volume,
    FileObject,
    Dependency,
    ServiceNetwork,
    Plain,
}

impl Obj {
    fn kind(self) -> Kind {
        match self {
            Obj::Service => Kind::Service,
            Obj::Network => Kind::Network,
            Obj::Volume => Kind::Volume,
            Obj::FileObject => Kind::FileObject,
            Obj::Dependency => Kind::Dependency,
            Obj::ServiceNetwork => Kind::ServiceNetwork,
            Obj::Plain => Kind::Plain,
        }
    }
}

const TOP: &[&str] = &[
    "name", "services", "networks", "volumes", "secrets", "configs",
];
const SERVICE: &[&str] = &[
    "name",
    "profiles",
    "annotations",
    "attach",
    "build",
    "develop",
    "blkio_config",
    "cap_add",
    "cap_drop",
    "cgroup_parent",
    "cgroup",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpus",
    "cpuset",
    "cpu_shares",
    "command",
    "configs",
    "container_name",
    "credential_spec",
    "depends_on",
    "deploy",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "dockerfile",
    "domainname",
    "entrypoint",
    "provider",
    "environment",
    "env_file",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "group_add",
    "gpus",
    "hostname",
    "healthcheck",
    "image",
    "init",
    "ipc",
    "isolation",
    "labels",
    "label_file",
    "links",
    "logging",
    "log_driver",
    "log_opt",
    "mem_limit",
    "mem_reservation",
    "memswap_limit",
    "mem_swappiness",
    "mac_address",
    "models",
    "net",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "privileged",
    "pull_policy",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volume_driver",
    "volumes",
    "volumes_from",
    "working_dir",
    "post_start",
    "pre_stop",
];
const BUILD: &[&str] = &[
    "context",
    "dockerfile",
    "dockerfile_inline",
    "entitlements",
    "args",
    "provenance",
    "sbom",
    "ssh",
    "labels",
    "cache_from",
    "cache_to",
    "no_cache",
    "no_cache_filter",
    "additional_contexts",
    "pull",
    "extra_hosts",
    "isolation",
    "network",
    "target",
    "secrets",
    "shm_size",
    "tags",
    "ulimits",
    "platforms",
    "privileged",
];
const PORT: &[&str] = &[
    "name",
    "mode",
    "host_ip",
    "target",
    "published",
    "protocol",
    "app_protocol",
];
const MOUNT: &[&str] = &[
    "type",
    "source",
    "target",
    "read_only",
    "consistency",
    "bind",
    "volume",
    "tmpfs",
    "image",
];
const DEPENDENCY: &[&str] = &["condition", "restart", "required"];
const HEALTH: &[&str] = &[
    "test",
    "timeout",
    "interval",
    "retries",
    "start_period",
    "start_interval",
    "disable",
];
const SERVICE_NETWORK: &[&str] = &[
    "aliases",
    "driver_opts",
    "gw_priority",
    "interface_name",
    "ipv4_address",
    "ipv6_address",
    "link_local_ips",
    "mac_address",
    "priority",
];
const FILE_REF: &[&str] = &["source", "target", "uid", "gid", "mode"];
const NETWORK: &[&str] = &[
    "name",
    "driver",
    "driver_opts",
    "ipam",
    "external",
    "internal",
    "attachable",
    "labels",
    "enable_ipv4",
    "enable_ipv6",
];
const VOLUME: &[&str] = &["name", "driver", "driver_opts", "external", "labels"];
const FILE_OBJECT: &[&str] = &[
    "name",
    "file",
    "environment",
    "content",
    "external",
    "labels",
    "driver",
    "driver_opts",
    "template_driver",
];
const DEPLOY: &[&str] = &[
    "mode",
    "replicas",
    "labels",
    "update_config",
    "rollback_config",
    "resources",
    "restart_policy",
    "placement",
    "endpoint_mode",
];
const RESOURCES: &[&str] = &["limits", "reservations"];
const RESOURCE: &[&str] = &["cpus", "memory", "pids", "devices", "generic_resources"];
const LOGGING: &[&str] = &["driver", "options"];
const IPAM: &[&str] = &["driver", "config"];

fn known(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Top => TOP,
        Kind::Service => SERVICE,
        Kind::Build => BUILD,
        Kind::Port => PORT,
        Kind::Mount => MOUNT,
        Kind::Dependency => DEPENDENCY,
        Kind::Health => HEALTH,
        Kind::ServiceNetwork => SERVICE_NETWORK,
        Kind::FileRef => FILE_REF,
        Kind::Network => NETWORK,
        Kind::Volume => VOLUME,
        Kind::FileObject => FILE_OBJECT,
        Kind::Deploy => DEPLOY,
        Kind::Resources => RESOURCES,
        Kind::Resource => RESOURCE,
        Kind::Logging => LOGGING,
        Kind::Ipam => IPAM,
        Kind::Named(_) | Kind::Plain => &[],
    }
}

/// The kind of the value under `key` of a `parent` map (for a list, of its items).
fn child(parent: Kind, key: &str) -> Kind {
    match (parent, key) {
        (Kind::Named(o), _) => o.kind(),
        (Kind::Top, "services") => Kind::Named(Obj::Service),
        (Kind::Top, "networks") => Kind::Named(Obj::Network),
        (Kind::Top, "volumes") => Kind::Named(Obj::Volume),
        (Kind::Top, "secrets" | "configs") => Kind::Named(Obj::FileObject),
        (Kind::Service, "build") => Kind::Build,
        (Kind::Service, "ports") => Kind::Port,
        (Kind::Service, "volumes") => Kind::Mount,
        (Kind::Service, "depends_on") => Kind::Named(Obj::Dependency),
        (Kind::Service, "healthcheck") => Kind::Health,
        (Kind::Service, "networks") => Kind::Named(Obj::ServiceNetwork),
        (Kind::Service | Kind::Build, "secrets" | "configs") => Kind::FileRef,
        (Kind::Service, "deploy") => Kind::Deploy,
        (Kind::Service, "logging") => Kind::Logging,
        (Kind::Deploy, "resources") => Kind::Resources,
        (Kind::Resources, _) => Kind::Resource,
        (Kind::Network, "ipam") => Kind::Ipam,
        _ => Kind::Plain,
    }
}

fn rank(kind: Kind, key: &str) -> (u8, usize, String) {
    if key.starts_with("x-") {
        return (2, 0, key.to_string());
    }
    match known(kind).iter().position(|k| *k == key) {
        Some(i) => (0, i, String::new()),
        None => (1, 0, key.to_string()),
    }
}

/// `node` (of `kind`) with every map's keys in Compose v2's order.
pub fn arrange(node: &Node, kind: Kind) -> Node {
    match &node.value {
        Value::Map(entries) => {
            let mut es: Vec<Entry> = entries
                .iter()
                .map(|e| Entry {
                    key: e.key.clone(),
                    key_mark: e.key_mark.clone(),
                    value: arrange(&e.value, child(kind, &e.key)),
                })
                .collect();
            es.sort_by_cached_key(|e| rank(kind, &e.key));
            let mut out = Node::map(es, &node.mark);
            out.tag = node.tag.clone();
            out
        }
        Value::Seq(items) => {
            let mut out = node.clone();
            out.value = Value::Seq(items.iter().map(|i| arrange(i, kind)).collect());
            out
        }
        _ => node.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: &Node) -> Vec<String> {
        n.as_map()
            .into_iter()
            .flatten()
            .map(|e| e.key.clone())
            .collect()
    }

    #[test]
    fn services_ports_and_networks_in_compose_order() {
        let text = "x-a: 1\nnetworks:\n  n: {labels: {b: 1}, name: p_n, driver: bridge}\nservices:\n  web:\n    ports: [{target: 80, protocol: tcp, published: '8080', mode: ingress}]\n    image: busybox\n    environment: {Z: 1, A: 2}\n    profiles: [p]\n    healthcheck: {interval: 1s, test: [CMD, 'true'], timeout: 2s}\n    depends_on: {db: {required: true, condition: service_started}}\nname: p\n";
        let n = crate::yaml::parse(text, "t.yaml").expect("parse");
        let a = arrange(&n, Kind::Top);
        assert_eq!(keys(&a), ["name", "services", "networks", "x-a"]);
        let web = a.get("services").and_then(|s| s.get("web")).expect("web");
        assert_eq!(
            keys(web),
            [
                "profiles",
                "depends_on",
                "environment",
                "healthcheck",
                "image",
                "ports"
            ]
        );
        assert_eq!(keys(web.get("environment").expect("env")), ["A", "Z"]);
        assert_eq!(
            keys(web.get("healthcheck").expect("hc")),
            ["test", "timeout", "interval"]
        );
        let dep = web.get("depends_on").and_then(|d| d.get("db")).expect("db");
        assert_eq!(keys(dep), ["condition", "required"]);
        let Some(Value::Seq(ports)) = web.get("ports").map(|p| p.value.clone()) else {
            panic!("ports")
        };
        assert_eq!(keys(&ports[0]), ["mode", "target", "published", "protocol"]);
        let net = a.get("networks").and_then(|s| s.get("n")).expect("n");
        assert_eq!(keys(net), ["name", "driver", "labels"]);
    }
}
