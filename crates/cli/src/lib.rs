//! The Docker-compatible berth CLI; speaks only the HTTP API.
//!
//! Entry point: [`main`], given the arguments after the program name (`["-H", "unix:///x", "ps",
//! "-a"]`). Global flags come before the command: `-H/--host`, `-l/--log-level`, `-D/--debug`,
//! `-v/--version`, `--help`. The daemon address is chosen as `-H`, else `BERTH_HOST`, else
//! `DOCKER_HOST`, else `unix:///run/berth/berth.sock`; `DOCKER_API_VERSION` (or `BERTH_API_VERSION`) pins the API
//! version and skips negotiation.
//!
//! Module map: [`flags`] (pflag-style parsing), [`client`] (HTTP over the UNIX socket, ping
//! negotiation, streams, hijack, stdcopy), [`format`] (Go templates, tables), [`units`] (human
//! sizes and times), [`commands`] (one module per command family), [`error`] (exit codes).

#![recursion_limit = "256"]

pub mod client;
pub mod commands;
pub mod error;
pub mod flags;
pub mod format;
pub mod units;

use error::CliError;
use std::ffi::OsString;

/// Runs one CLI invocation and returns the process exit status. Builds its own current-thread
/// tokio runtime; prints results on stdout and errors on stderr.
pub fn main(args: Vec<OsString>) -> i32 {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let result = rt.block_on(commands::dispatch(args));
    // Readers blocked on stdin must not hold up exit.
    rt.shutdown_background();
    match result {
        Ok(()) => 0,
        Err(CliError::Exit(code)) => code,
        Err(e) => {
            let text = e.to_string();
            if !text.is_empty() {
                eprintln!("{text}");
            }
            e.exit_code()
        }
    }
}

/// The daemon address from the flag and environment, in precedence order.
pub fn resolve_host(
    flag: Option<&str>,
    berth_host: Option<&str>,
    docker_host: Option<&str>,
) -> String {
    [flag, berth_host, docker_host]
        .into_iter()
        .flatten()
        .find(|h| !h.is_empty())
        .unwrap_or(client::DEFAULT_HOST)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::resolve_host;

    #[test]
    fn host_precedence() {
        assert_eq!(
            resolve_host(Some("unix:///a"), Some("unix:///b"), Some("unix:///c")),
            "unix:///a"
        );
        assert_eq!(
            resolve_host(None, Some("unix:///b"), Some("unix:///c")),
            "unix:///b"
        );
        assert_eq!(resolve_host(None, Some(""), Some("unix:///c")), "unix:///c");
        assert_eq!(
            resolve_host(None, None, None),
            "unix:///run/berth/berth.sock"
        );
    }
}
