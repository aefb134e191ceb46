//! Archive transfers: `load`, `save`, `import`, `export` and `commit`, plus the JSON progress
//! message display they share (docker's jsonmessage stream, in its non-terminal form).

use super::{out, Ctx};
use crate::client::body::{self, next_chunk, JsonLines};
use crate::client::{encode_path, query};
use crate::error::{CliError, Result};
use crate::flags::{list, switch, value, Args, Parsed, Spec};
use berth_api::exec::IdResponse;
use berth_api::progress::JsonMessage;
use hyper::body::Incoming;
use hyper::Method;
use std::io::IsTerminal;
use tokio::io::AsyncWriteExt;

/// Prints a JSON message stream (`stream`, `status`/`progress`, `aux` ignored) and fails on the
/// first `error`; returns the messages' `status` lines (import prints the image ID from them).
pub async fn show_json_messages(body: Incoming, quiet: bool) -> Result<Vec<String>> {
    let mut lines = JsonLines::new(body);
    let mut statuses = Vec::new();
    while let Some(m) = lines.next().await? {
        let m: JsonMessage = serde_json::from_value(m)
            .map_err(|e| CliError::Message(format!("error decoding daemon response: {e}")))?;
        if let Some(e) = m.error_detail.map(|d| d.message).or(m.error) {
            return Err(CliError::Message(e));
        }
        if let Some(s) = m.stream {
            if !quiet {
                out(&s);
            }
        } else if let Some(s) = m.status {
            if !quiet {
                let id = m.id.map(|i| format!("{i}: ")).unwrap_or_default();
                let progress = m.progress.map(|p| format!(" {p}")).unwrap_or_default();
                out(&format!("{id}{s}{progress}\n"));
            }
            statuses.push(s);
        }
    }
    Ok(statuses)
}

/// Writes a streamed answer to `-o FILE` or to stdout (refusing a terminal, as docker does).
async fn write_archive(resp: hyper::Response<Incoming>, output: Option<&str>) -> Result<()> {
    let mut bodyin = resp.into_body();
    let mut sink: Box<dyn tokio::io::AsyncWrite + Unpin> = match output {
        Some(path) => Box::new(tokio::fs::File::create(path).await.map_err(|e| {
            CliError::Message(format!("failed to create output file {path:?}: {e}"))
        })?),
        None => Box::new(tokio::io::stdout()),
    };
    while let Some(chunk) = next_chunk(&mut bodyin).await? {
        sink.write_all(&chunk).await?;
    }
    sink.flush().await?;
    Ok(())
}

/// docker's checks on the output before any request: no terminal on stdout, no device file.
fn check_output(output: Option<&str>, what: &str) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match output {
        None if std::io::stdout().is_terminal() => Err(CliError::Message(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect".into(),
        )),
        Some(path) if std::fs::metadata(path).is_ok_and(|m| m.file_type().is_char_device()) => {
            Err(CliError::Message(format!(
                "failed to {what}: cannot write to a character device file"
            )))
        }
        _ => Ok(()),
    }
}

async fn open_input(path: Option<&str>) -> Result<body::ReqBody> {
    match path {
        Some(p) if p != "-" => {
            let f = tokio::fs::File::open(p)
                .await
                .map_err(|e| CliError::Message(format!("failed to open {p:?}: {e}")))?;
            Ok(body::from_reader(f))
        }
        _ => Ok(body::from_reader(tokio::io::stdin())),
    }
}

pub const LOAD: Spec = Spec {
    name: "load",
    usage: "[OPTIONS]",
    about: "Load an image from a tar archive or STDIN",
    flags: &[
        value(
            "input",
            Some('i'),
            "string",
            "Read from tar archive file, instead of STDIN",
        ),
        value(
            "platform",
            None,
            "stringSlice",
            "Load only the given platform(s)",
        ),
        switch("quiet", Some('q'), "Suppress the load output"),
    ],
    args: Args::None,
    stop_at_positional: false,
};

/// `berth load`: `POST /images/load` with the tar as body.
pub async fn load(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let input = p.string("input");
    if input.is_none() && std::io::stdin().is_terminal() {
        return Err(CliError::Message(
            "requested load from stdin, but stdin is empty".into(),
        ));
    }
    // Like docker: progress bars only make sense on a terminal.
    let q = if p.bool("quiet") || !std::io::stdout().is_terminal() {
        "?quiet=1"
    } else {
        ""
    };
    let b = open_input(input).await?;
    let resp = ctx
        .client
        .request(
            Method::POST,
            &format!("/images/load{q}"),
            b,
            &[("content-type", "application/x-tar")],
        )
        .await?;
    show_json_messages(resp.into_body(), false).await?;
    Ok(())
}

pub const SAVE: Spec = Spec {
    name: "save",
    usage: "[OPTIONS] IMAGE [IMAGE...]",
    about: "Save one or more images to a tar archive (streamed to STDOUT by default)",
    flags: &[
        value(
            "output",
            Some('o'),
            "string",
            "Write to a file, instead of STDOUT",
        ),
        value(
            "platform",
            None,
            "stringSlice",
            "Save only the given platform(s)",
        ),
    ],
    args: Args::AtLeast(1),
    stop_at_positional: false,
};

/// `berth save`: `GET /images/get?names=...`.
pub async fn save(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let output = p.string("output");
    check_output(output, "save image")?;
    let q: Vec<(&str, String)> = p.args.iter().map(|n| ("names", n.clone())).collect();
    let resp = ctx
        .client
        .request(
            Method::GET,
            &format!("/images/get{}", query(&q)),
            body::empty(),
            &[],
        )
        .await?;
    write_archive(resp, output).await
}

pub const IMPORT: Spec = Spec {
    name: "import",
    usage: "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
    about: "Import the contents from a tarball to create a filesystem image",
    flags: &[
        list(
            "change",
            Some('c'),
            "Apply Dockerfile instruction to the created image",
        ),
        value(
            "message",
            Some('m'),
            "string",
            "Set commit message for imported image",
        ),
        value(
            "platform",
            None,
            "string",
            "Set platform if server is multi-platform capable",
        ),
    ],
    args: Args::Range(1, 2),
    stop_at_positional: false,
};

/// `berth import`: `POST /images/create?fromSrc=-` with the tarball as body.
pub async fn import(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let src = p.args[0].as_str();
    if src.starts_with("http://") || src.starts_with("https://") {
        return Err(CliError::Message(format!("cannot import from URL {src:?}: berth has no network access for imports; download the file and import it from disk")));
    }
    let mut q = vec![("fromSrc", "-".to_string())];
    // docker sends `repo=name:tag` whole and leaves the split to the daemon.
    if let Some(r) = p.args.get(1) {
        q.push(("repo", r.clone()));
    }
    if let Some(m) = p.string("message") {
        q.push(("message", m.to_string()));
    }
    for c in p.list("change") {
        q.push(("changes", c));
    }
    if let Some(pl) = p.string("platform") {
        q.push(("platform", pl.to_string()));
    }
    let b = open_input(Some(src)).await?;
    let resp = ctx
        .client
        .request(
            Method::POST,
            &format!("/images/create{}", query(&q)),
            b,
            &[("content-type", "application/x-tar")],
        )
        .await?;
    show_json_messages(resp.into_body(), true)
        .await
        .map(|statuses| {
            for s in statuses {
                out(&format!("{s}\n"));
            }
        })
}

pub const EXPORT: Spec = Spec {
    name: "export",
    usage: "[OPTIONS] CONTAINER",
    about: "Export a container's filesystem as a tar archive",
    flags: &[value(
        "output",
        Some('o'),
        "string",
        "Write to a file, instead of STDOUT",
    )],
    args: Args::Exact(1),
    stop_at_positional: false,
};

/// `berth export`: `GET /containers/{id}/export`.
pub async fn export(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let output = p.string("output");
    check_output(output, "export container")?;
    let resp = ctx
        .client
        .request(
            Method::GET,
            &format!("/containers/{}/export", encode_path(&p.args[0])),
            body::empty(),
            &[],
        )
        .await?;
    write_archive(resp, output).await
}

pub const COMMIT: Spec = Spec {
    name: "commit",
    usage: "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
    about: "Create a new image from a container's changes",
    flags: &[
        value(
            "author",
            Some('a'),
            "string",
            "Author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")",
        ),
        list(
            "change",
            Some('c'),
            "Apply Dockerfile instruction to the created image",
        ),
        value("message", Some('m'), "string", "Commit message"),
        switch(
            "pause",
            Some('p'),
            "Pause container during commit (default true)",
        ),
    ],
    args: Args::Range(1, 2),
    stop_at_positional: false,
};

/// `berth commit`: `POST /commit?container=...`, printing the new image ID.
pub async fn commit(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let (repo, tag) = match p.args.get(1) {
        Some(r) => {
            let (repo, tag) = super::images::split_tag(r);
            (
                super::images::normalize_repo(&repo),
                tag.unwrap_or_default(),
            )
        }
        None => (String::new(), String::new()),
    };
    let pause = p.bool_default_true("pause");
    let mut q = vec![
        ("container", p.args[0].clone()),
        ("repo", repo),
        ("tag", tag),
        ("comment", p.str_or_empty("message").to_string()),
        ("author", p.str_or_empty("author").to_string()),
    ];
    if !pause {
        q.push(("pause", "0".into()));
    }
    for c in p.list("change") {
        q.push(("changes", c));
    }
    let v: IdResponse = ctx
        .client
        .post_for_json(&format!("/commit{}", query(&q)))
        .await?;
    out(&format!("{}\n", v.id));
    Ok(())
}
