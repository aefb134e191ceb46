//! `exec`: create an exec instance, start it hijacked (or detached with `-d`), resize with a TTY,
//! and exit with the process's code from `GET /exec/{id}/json`.

use super::stream::{run_session, Session};
use super::{out, tty, Ctx};
use crate::client::{body, encode_path};
use crate::error::{CliError, Result};
use crate::flags::{list, switch, value, Args, Parsed, Spec};
use berth_api::exec::{ExecCreateRequest, ExecInspect, ExecStartRequest, IdResponse};
use hyper::Method;
use serde::de::IgnoredAny;
use std::io::IsTerminal;

pub const EXEC: Spec = Spec {
    name: "exec",
    usage: "[OPTIONS] CONTAINER COMMAND [ARG...]",
    about: "Execute a command in a running container",
    flags: &[
        switch(
            "detach",
            Some('d'),
            "Detached mode: run command in the background",
        ),
        value(
            "detach-keys",
            None,
            "string",
            "Override the key sequence for detaching a container",
        ),
        list("env", Some('e'), "Set environment variables"),
        list("env-file", None, "Read in a file of environment variables"),
        switch(
            "interactive",
            Some('i'),
            "Keep STDIN open even if not attached",
        ),
        switch(
            "privileged",
            None,
            "Give extended privileges to the command",
        ),
        switch("tty", Some('t'), "Allocate a pseudo-TTY"),
        value(
            "user",
            Some('u'),
            "string",
            "Username or UID (format: \"<name|uid>[:<group|gid>]\")",
        ),
        value(
            "workdir",
            Some('w'),
            "string",
            "Working directory inside the container",
        ),
    ],
    args: Args::AtLeast(2),
    stop_at_positional: true,
};

/// The `POST /containers/{id}/exec` body for `exec`'s flags.
pub fn exec_body(p: &Parsed, console: Option<(u16, u16)>) -> Result<ExecCreateRequest> {
    let mut env = Vec::new();
    for f in p.list("env-file") {
        env.extend(super::run_opts::read_kv_file(&f)?);
    }
    env.extend(p.list("env"));
    let env: Vec<String> = env.iter().map(|e| super::run_opts::expand_env(e)).collect();
    let detach = p.bool("detach");
    let tty_on = p.bool("tty");
    Ok(ExecCreateRequest {
        user: Some(p.str_or_empty("user").to_string()),
        privileged: p.bool("privileged"),
        tty: tty_on,
        console_size: console_size(console, tty_on),
        attach_stdin: p.bool("interactive") && !detach,
        attach_stderr: !detach,
        attach_stdout: !detach,
        detach,
        detach_keys: Some(p.str_or_empty("detach-keys").to_string()),
        env: (!env.is_empty()).then_some(env),
        working_dir: Some(p.str_or_empty("workdir").to_string()),
        cmd: Some(p.args[1..].to_vec()),
    })
}

/// `ConsoleSize` as the docker CLI sends it: only with a TTY.
fn console_size(console: Option<(u16, u16)>, tty_on: bool) -> Option<[u32; 2]> {
    console
        .filter(|_| tty_on)
        .map(|(h, w)| [u32::from(h), u32::from(w)])
}

pub async fn exec(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let tty_on = p.bool("tty");
    let interactive = p.bool("interactive");
    let console = tty::size();
    let body_v = exec_body(&p, console)?;
    let container = encode_path(&p.args[0]);
    // Like docker: fail early (no such container) before creating the exec instance.
    super::stream::inspect_container(ctx, &p.args[0]).await?;
    if tty_on && interactive && !p.bool("detach") && !std::io::stdin().is_terminal() {
        return Err(CliError::Message("the input device is not a TTY".into()));
    }
    let created: IdResponse = ctx
        .client
        .post_json(&format!("/containers/{container}/exec"), &body_v)
        .await?;
    let id = created.id;
    let start_path = format!("/exec/{id}/start");
    let start = ExecStartRequest {
        detach: p.bool("detach"),
        tty: tty_on,
        console_size: console_size(console, tty_on && !p.bool("detach")),
    };
    if p.bool("detach") {
        ctx.client
            .post_json::<_, IgnoredAny>(&start_path, &start)
            .await
            .or_else(|e| match e {
                CliError::Message(_) => Ok(IgnoredAny),
                other => Err(other),
            })?;
        return Ok(());
    }
    let hj = ctx
        .client
        .hijack(&start_path, "application/json", body::json(&start)?)
        .await?;
    let keys = tty::parse_detach_keys(p.string("detach-keys").unwrap_or("ctrl-p,ctrl-q"))?;
    let session = Session {
        tty: tty_on,
        stdin: interactive,
        detach_keys: keys,
        resize_path: Some(format!("/exec/{id}/resize")),
        proxy: None,
    };
    if run_session(ctx, hj, session).await? {
        return Ok(());
    }
    let resp = ctx
        .client
        .request(Method::GET, &format!("/exec/{id}/json"), body::empty(), &[])
        .await?;
    let info: ExecInspect = crate::client::read_json(resp).await?;
    match info.exit_code.unwrap_or(0) {
        0 => Ok(()),
        code => {
            out("");
            Err(CliError::Exit(code as i32))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exec_body_like_docker() {
        let mut p = Parsed::default();
        p.args = vec!["foo".into(), "ls".into(), "/".into()];
        let body =
            |p: &Parsed| serde_json::to_value(exec_body(p, Some((40, 120))).unwrap()).unwrap();
        assert_eq!(
            body(&p),
            json!({"User": "", "Privileged": false, "Tty": false, "AttachStdin": false, "AttachStderr": true, "AttachStdout": true,
                   "Detach": false, "DetachKeys": "", "Env": null, "WorkingDir": "", "Cmd": ["ls", "/"]})
        );
        p.set("tty", "true");
        p.set("interactive", "true");
        let b = body(&p);
        assert_eq!(b["ConsoleSize"], json!([40, 120]));
        assert_eq!(b["AttachStdin"], true);
    }
}
