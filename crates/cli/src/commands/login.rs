//! `berth login` and `berth logout`: the daemon checks the credentials against the registry
//! (`POST /auth`); the CLI keeps them in `config.json` ([`super::registry_auth`]).

use std::io::{BufRead, IsTerminal, Write};

use serde_json::Value;

use super::registry_auth::{self, config_key, Auth, HUB_KEY};
use super::{out, Ctx};
use crate::error::{CliError, Result};
use crate::flags::{switch, value, Args, Parsed, Spec};

pub const LOGIN: Spec = Spec {
    name: "login",
    usage: "[OPTIONS] [SERVER]",
    about: "Authenticate to a registry",
    flags: &[
        value("username", Some('u'), "string", "Username"),
        value(
            "password",
            Some('p'),
            "string",
            "Password or Personal Access Token (PAT)",
        ),
        switch(
            "password-stdin",
            None,
            "Take the Password or Personal Access Token (PAT) from stdin",
        ),
    ],
    args: Args::Range(0, 1),
    stop_at_positional: false,
};

pub const LOGOUT: Spec = Spec {
    name: "logout",
    usage: "[SERVER]",
    about: "Log out from a registry",
    flags: &[],
    args: Args::Range(0, 1),
    stop_at_positional: false,
};

fn prompt(label: &str) -> Result<String> {
    eprint!("{label}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Message(format!("reading {label}: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub async fn login(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let server = p
        .args
        .first()
        .cloned()
        .unwrap_or_else(|| HUB_KEY.to_string());
    let stored = registry_auth::load(&server)?;
    let username = match p.string("username") {
        Some(u) => u.to_string(),
        None if p.bool("password-stdin") || p.string("password").is_some() => {
            return Err(CliError::Message(
                "Must provide --username with --password-stdin".to_string(),
            ))
        }
        None => {
            let hint = stored
                .as_ref()
                .map(|a| format!(" ({})", a.username))
                .unwrap_or_default();
            let u = prompt(&format!("Username{hint}: "))?;
            if u.is_empty() {
                stored
                    .as_ref()
                    .map(|a| a.username.clone())
                    .unwrap_or_default()
            } else {
                u
            }
        }
    };
    let password = if p.bool("password-stdin") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| CliError::Message(format!("reading the password from stdin: {e}")))?;
        s.trim_end_matches(['\r', '\n']).to_string()
    } else if let Some(pw) = p.string("password") {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        pw.to_string()
    } else if std::io::stdin().is_terminal() {
        prompt("Password: ")?
    } else {
        return Err(CliError::Message(
            "Cannot perform an interactive login from a non TTY device".to_string(),
        ));
    };
    if username.is_empty() || password.is_empty() {
        return Err(CliError::Message(
            "Error: Username and password required".to_string(),
        ));
    }
    let body = serde_json::json!({
        "username": username, "password": password, "serveraddress": config_key(&server),
    });
    let answer: Value = ctx.client.post_json("/auth", &body).await?;
    registry_auth::store(&server, &Auth { username, password })?;
    let status = answer
        .get("Status")
        .and_then(Value::as_str)
        .unwrap_or("Login Succeeded");
    out(&format!("{status}\n"));
    Ok(())
}

pub async fn logout(_ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let server = p
        .args
        .first()
        .cloned()
        .unwrap_or_else(|| HUB_KEY.to_string());
    let key = config_key(&server);
    if registry_auth::erase(&server)? {
        out(&format!("Removing login credentials for {key}\n"));
    } else {
        out(&format!("Not logged in to {key}\n"));
    }
    Ok(())
}
