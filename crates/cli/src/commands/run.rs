//! `run`, `create`, `start` and `attach`, following the docker CLI's request order: create
//! (pulling on "No such image" and retrying), attach before start, a wait opened before start
//! (`condition=next-exit`, or `removed` with `--rm`), start, resize, stream, then exit with the
//! container's status. Errors are docker's status errors: 125 for the engine, 126/127 when the
//! command cannot be invoked or found.

use super::pull::{pull_image, PullPolicy, Show};
use super::run_body::{create_request, CreateRequest};
use super::run_flags::RUN_FLAGS;
use super::stream::{inspect_container, run_session, spawn_signal_proxy, Session};
use super::{for_each, out, tty, Ctx};
use crate::client::body;
use crate::client::{encode_path, query, read_json};
use crate::error::{CliError, Result};
use crate::flags::{switch, value, Args, Parsed, Spec};
use berth_api::container::{ContainerCreateResponse, ContainerInspect, WaitResponse};
use hyper::Method;
use std::io::IsTerminal;

pub const RUN: Spec = Spec {
    name: "run",
    usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]",
    about: "Create and run a new container from an image",
    flags: RUN_FLAGS,
    args: Args::AtLeast(1),
    stop_at_positional: true,
};
pub const CREATE: Spec = Spec {
    name: "create",
    about: "Create a new container",
    ..RUN
};

const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// docker's mapping of a start failure to an exit status.
pub fn start_error_code(message: &str) -> i32 {
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
        || message.contains("system cannot find the file specified")
    {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        125
    }
}

/// The image reference as docker prints it in "Unable to find image" (tag added).
pub fn tagged(image: &str) -> String {
    let (repo, tag) = super::images::split_tag(image);
    if image.contains('@') || tag.is_some() {
        image.to_string()
    } else {
        format!("{repo}:latest")
    }
}

/// Creates the container, pulling its image as `--pull` says (first with `always`; on the
/// daemon's "No such image" and then once more with `missing`); returns its ID. With `--quiet`
/// nothing of the pull is shown.
async fn create_container(ctx: &Ctx, req: &CreateRequest, p: &Parsed) -> Result<String> {
    let policy = PullPolicy::parse(p.string("pull"))?;
    let show = if p.bool("quiet") {
        Show::Nothing
    } else {
        Show::Stderr
    };
    let mut q = Vec::new();
    if let Some(n) = &req.name {
        q.push(("name", n.clone()));
    }
    if let Some(p) = &req.platform {
        q.push(("platform", p.clone()));
    }
    let path = format!("/containers/create{}", query(&q));
    let image = req.body.config.image.clone();
    let platform = req.platform.as_deref();
    if policy == PullPolicy::Always {
        pull_image(ctx, &image, platform, show).await?;
    }
    let created: ContainerCreateResponse = match ctx.client.post_json(&path, &req.body).await {
        Err(e)
            if e.is_status(404)
                && policy == PullPolicy::Missing
                && e.to_string().contains("No such image") =>
        {
            if show != Show::Nothing {
                eprintln!("Unable to find image '{}' locally", tagged(&image));
            }
            pull_image(ctx, &image, platform, show).await?;
            ctx.client.post_json(&path, &req.body).await?
        }
        other => other?,
    };
    super::print_warnings(&created.warnings, "WARNING: ");
    let id = created.id;
    if let Some(f) = req
        .body
        .host_config
        .as_ref()
        .and_then(|h| h.container_id_file.as_deref())
        .filter(|f| !f.is_empty())
    {
        std::fs::write(f, &id).map_err(|e| {
            CliError::Message(format!(
                "failed to write the container ID to the file {f:?}: {e}"
            ))
        })?;
    }
    Ok(id)
}

fn console_for(p: &Parsed) -> Option<(u16, u16)> {
    if p.bool("tty") {
        tty::size()
    } else {
        None
    }
}

pub async fn create(ctx: &Ctx, spec: &Spec, p: Parsed) -> Result<()> {
    let req = create_request(spec, &p, console_for(&p))?;
    let id = create_container(ctx, &req, &p)
        .await
        .map_err(|e| e.into_status(spec.name))?;
    out(&format!("{id}\n"));
    Ok(())
}

pub async fn run(ctx: &Ctx, spec: &Spec, p: Parsed) -> Result<()> {
    let sig_proxy = p.bool_default_true("sig-proxy");
    let req = create_request(spec, &p, console_for(&p))?;
    let config = &req.body.config;
    let (tty_on, a_in, a_out, a_err) = (
        config.tty,
        config.attach_stdin,
        config.attach_stdout,
        config.attach_stderr,
    );
    if tty_on && a_in && !std::io::stdin().is_terminal() {
        return Err(CliError::Message("the input device is not a TTY".into()));
    }
    let detach_keys_text = p
        .string("detach-keys")
        .unwrap_or(DEFAULT_DETACH_KEYS)
        .to_string();
    let detach_keys = tty::parse_detach_keys(&detach_keys_text)?;
    let id = create_container(ctx, &req, &p)
        .await
        .map_err(|e| e.into_status("run"))?;
    let cpath = |tail: &str| format!("/containers/{id}{tail}");
    if p.bool("detach") {
        start_or_status(ctx, &cpath("/start")).await?;
        out(&format!("{id}\n"));
        return Ok(());
    }
    let attached = a_in || a_out || a_err;
    let hijacked = if attached {
        let mut q = vec![("stream", "1".to_string())];
        for (on, k) in [(a_in, "stdin"), (a_out, "stdout"), (a_err, "stderr")] {
            if on {
                q.push((k, "1".into()));
            }
        }
        if p.is_set("detach-keys") {
            q.push(("detachKeys", detach_keys_text.clone()));
        }
        Some(
            ctx.client
                .hijack(
                    &cpath(&format!("/attach{}", query(&q))),
                    "text/plain",
                    body::empty(),
                )
                .await
                .map_err(|e| e.into_status("run"))?,
        )
    } else {
        None
    };
    let condition = if p.bool("rm") { "removed" } else { "next-exit" };
    let wait = ctx
        .client
        .request(
            Method::POST,
            &cpath(&format!("/wait?condition={condition}")),
            body::empty(),
            &[],
        )
        .await
        .map_err(|e| e.into_status("run"))?;
    let proxy = (sig_proxy && !tty_on && attached)
        .then(|| spawn_signal_proxy(ctx.client.clone(), cpath("/kill")));
    start_or_status(ctx, &cpath("/start")).await?;
    if let Some(hj) = hijacked {
        let session = Session {
            tty: tty_on,
            stdin: a_in,
            detach_keys,
            resize_path: Some(cpath("/resize")),
            proxy,
        };
        if run_session(ctx, hj, session).await? {
            return Ok(());
        }
    }
    let status: WaitResponse = read_json(wait).await.map_err(|e| e.into_status("run"))?;
    if let Some(m) = status
        .error
        .as_ref()
        .map(|e| e.message.clone())
        .filter(|m| !m.is_empty())
    {
        return Err(CliError::Status {
            command: "run".into(),
            message: m,
            code: 125,
        });
    }
    exit_from_wait(status)
}

/// `POST .../start`, mapping failures to docker's 125/126/127.
async fn start_or_status(ctx: &Ctx, path: &str) -> Result<()> {
    ctx.client.post(path).await.map_err(|e| {
        let message = e.to_string();
        CliError::Status {
            command: "run".into(),
            code: start_error_code(&message),
            message,
        }
    })
}

pub const START: Spec = Spec {
    name: "start",
    usage: "[OPTIONS] CONTAINER [CONTAINER...]",
    about: "Start one or more stopped containers",
    flags: &[
        switch(
            "attach",
            Some('a'),
            "Attach STDOUT/STDERR and forward signals",
        ),
        value(
            "detach-keys",
            None,
            "string",
            "Override the key sequence for detaching a container",
        ),
        switch("interactive", Some('i'), "Attach container's STDIN"),
    ],
    args: Args::AtLeast(1),
    stop_at_positional: false,
};

pub async fn start(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    // `start -a` always forwards signals, as docker does.
    let sig_proxy = true;
    let attach = p.bool("attach") || p.bool("interactive");
    if !attach {
        return for_each(&p.args, |n| async move {
            ctx.client
                .post(&format!("/containers/{}/start", encode_path(&n)))
                .await
                .map(|_| Some(n))
        })
        .await;
    }
    if p.args.len() > 1 {
        return Err(CliError::Message(
            "you cannot start and attach multiple containers at once".into(),
        ));
    }
    let info = inspect_container(ctx, &p.args[0]).await?;
    let AttachSetup {
        id,
        tty_on,
        stdin,
        keys_text,
        query: q,
    } = attach_setup(&info, &p, p.bool("interactive"));
    let cpath = |tail: &str| format!("/containers/{id}{tail}");
    let hj = ctx
        .client
        .hijack(
            &cpath(&format!("/attach{}", query(&q))),
            "text/plain",
            body::empty(),
        )
        .await?;
    let auto_remove = info.host_config.auto_remove;
    let wait = ctx
        .client
        .request(
            Method::POST,
            &cpath(&format!(
                "/wait?condition={}",
                if auto_remove { "removed" } else { "next-exit" }
            )),
            body::empty(),
            &[],
        )
        .await?;
    let proxy =
        (sig_proxy && !tty_on).then(|| spawn_signal_proxy(ctx.client.clone(), cpath("/kill")));
    ctx.client.post(&cpath("/start")).await?;
    let session = Session {
        tty: tty_on,
        stdin,
        detach_keys: tty::parse_detach_keys(&keys_text)?,
        resize_path: Some(cpath("/resize")),
        proxy,
    };
    if run_session(ctx, hj, session).await? {
        return Ok(());
    }
    exit_from_wait(read_json(wait).await?)
}

/// The container's status from a wait answer: 0 is success, anything else exits with it.
fn exit_from_wait(status: WaitResponse) -> Result<()> {
    match status.status_code {
        0 => Ok(()),
        code => Err(CliError::Exit(code as i32)),
    }
}

pub const ATTACH: Spec = Spec {
    name: "attach",
    usage: "[OPTIONS] CONTAINER",
    about: "Attach local standard input, output, and error streams to a running container",
    flags: &[
        value(
            "detach-keys",
            None,
            "string",
            "Override the key sequence for detaching a container",
        ),
        switch("no-stdin", None, "Do not attach STDIN"),
        switch(
            "sig-proxy",
            None,
            "Proxy all received signals to the process (default true)",
        ),
    ],
    args: Args::Exact(1),
    stop_at_positional: false,
};

pub async fn attach(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let sig_proxy = p.bool_default_true("sig-proxy");
    let info = inspect_container(ctx, &p.args[0]).await?;
    if !info.state.running {
        return Err(CliError::Message(
            "You cannot attach to a stopped container, start it first".into(),
        ));
    }
    if info.state.paused {
        return Err(CliError::Message(
            "You cannot attach to a paused container, unpause it first".into(),
        ));
    }
    let AttachSetup {
        id,
        tty_on,
        stdin,
        keys_text,
        query: q,
    } = attach_setup(&info, &p, !p.bool("no-stdin"));
    let cpath = |tail: &str| format!("/containers/{id}{tail}");
    let wait = ctx
        .client
        .request(Method::POST, &cpath("/wait"), body::empty(), &[])
        .await?;
    let hj = ctx
        .client
        .hijack(
            &cpath(&format!("/attach{}", query(&q))),
            "text/plain",
            body::empty(),
        )
        .await?;
    let proxy =
        (sig_proxy && !tty_on).then(|| spawn_signal_proxy(ctx.client.clone(), cpath("/kill")));
    let session = Session {
        tty: tty_on,
        stdin,
        detach_keys: tty::parse_detach_keys(&keys_text)?,
        resize_path: Some(cpath("/resize")),
        proxy,
    };
    if run_session(ctx, hj, session).await? {
        return Ok(());
    }
    exit_from_wait(read_json(wait).await?)
}

/// What `start -a` and `attach` derive from the container's inspect and the flags before they
/// hijack `/attach`.
struct AttachSetup {
    id: String,
    tty_on: bool,
    /// Whether stdin is attached: asked for and the container keeps stdin open.
    stdin: bool,
    keys_text: String,
    query: Vec<(&'static str, String)>,
}

fn attach_setup(info: &ContainerInspect, p: &Parsed, wants_stdin: bool) -> AttachSetup {
    let id = info.id.clone();
    let stdin = wants_stdin && info.config.open_stdin;
    let keys_text = p
        .string("detach-keys")
        .unwrap_or(DEFAULT_DETACH_KEYS)
        .to_string();
    let mut query = vec![
        ("stream", "1".to_string()),
        ("stdout", "1".into()),
        ("stderr", "1".into()),
    ];
    if stdin {
        query.push(("stdin", "1".into()));
    }
    if p.is_set("detach-keys") {
        query.push(("detachKeys", keys_text.clone()));
    }
    AttachSetup {
        id,
        tty_on: info.config.tty,
        stdin,
        keys_text,
        query,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_errors_map_to_docker_codes() {
        assert_eq!(
            start_error_code("exec: \"nope\": executable file not found in $PATH"),
            127
        );
        assert_eq!(start_error_code("exec /etc: permission denied"), 126);
        assert_eq!(start_error_code("cgroup failure"), 125);
        assert_eq!(tagged("busybox"), "busybox:latest");
        assert_eq!(tagged("localhost:5000/bb"), "localhost:5000/bb:latest");
        assert_eq!(tagged("bb:1"), "bb:1");
    }
}
