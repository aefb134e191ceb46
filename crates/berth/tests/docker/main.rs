//! End-to-end tests of the container engine driven by the real docker CLI against a real
//! `berth daemon` (opt in with `BERTH_ROOT_TESTS=1`; they fail, not skip, without root).
//! Each test runs its own daemon in its own temp root ([`harness::Daemon`]).

mod api_catalog;
mod api_tls;
mod attach_detach;
mod authz;
mod bad_input;
mod bounded;
mod build;
mod build_context;
mod build_output;
mod build_repro;
mod build_secrets;
mod build_stages;
mod catalog_defaults;
mod cli_links;
mod commit;
mod cp;
mod cp_security;
mod create_networks;
mod disk_full;
mod escapes;
mod events;
mod exec;
mod fault;
mod harness;
mod health;
mod hostconfig;
mod lifecycle;
mod links;
mod logs_rotation;
mod net_catalog;
mod net_flows;
mod net_ipv6;
mod net_security;
mod network;
mod network_parity;
mod parity;
#[path = "../common/protected.rs"]
mod protected;
mod registry;
mod registry_crash;
mod registry_own;
mod registry_run;
mod reliability;
mod restart;
mod run;
mod runtimes;
mod stats;
mod user_db;
mod verbs;
mod volume_cli;
mod volume_mounts;
mod volume_plugin;
mod volume_security;
mod volumes;
