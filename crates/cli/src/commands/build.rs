//! `berth build`: the context directory (or a tar, or a lone Dockerfile, on stdin with `-`) sent
//! as a tar to `POST /build` with Docker's query options; the JSON stream printed as it comes
//! (`-q` prints only the image ID); `--iidfile` gets the ID from the stream's `aux`. An in-band
//! error ends the command with its code (a failing `RUN`'s own exit code), 1 otherwise.

mod context;
mod output;
mod progress;
mod stream;

use std::io::IsTerminal;
use std::path::Path;

use hyper::Method;
use serde_json::Value;

use context::{context_source, write_context, Source};

use super::{out, Ctx};
use crate::client::body::{self, JsonLines};
use crate::client::query;
use crate::error::{CliError, Result};
use crate::flags::{list, switch, value, Args, Parsed, Spec};

pub const BUILD: Spec = Spec {
    name: "build",
    usage: "[OPTIONS] PATH | URL | -",
    about: "Build an image from a Dockerfile",
    flags: &[
        list("build-arg", None, "Set build-time variables"),
        list("cache-from", None, "Images to consider as cache sources"),
        value(
            "file",
            Some('f'),
            "string",
            "Name of the Dockerfile (default: \"PATH/Dockerfile\")",
        ),
        switch("force-rm", None, "Always remove intermediate containers"),
        value("iidfile", None, "string", "Write the image ID to the file"),
        list("label", None, "Set metadata for an image"),
        value(
            "network",
            None,
            "string",
            "Set the networking mode for the RUN instructions during build (default \"default\")",
        ),
        switch("no-cache", None, "Do not use cache when building the image"),
        list(
            "output",
            Some('o'),
            "Output destination (format: \"type=local,dest=path\")",
        ),
        value(
            "platform",
            None,
            "string",
            "Set platform if server is multi-platform capable",
        ),
        value(
            "progress",
            None,
            "string",
            "How to show the build: \"auto\", \"plain\" (the docker CLI's text) or \"tty\" (a live view of the steps) (default \"auto\")",
        ),
        switch(
            "pull",
            None,
            "Always attempt to pull a newer version of the image",
        ),
        switch(
            "quiet",
            Some('q'),
            "Suppress the build output and print image ID on success",
        ),
        switch(
            "rm",
            None,
            "Remove intermediate containers after a successful build (default true)",
        ),
        list(
            "secret",
            None,
            "Secret to expose to the build (format: \"id=mysecret[,src=/local/secret]\")",
        ),
        list(
            "tag",
            Some('t'),
            "Name and optionally a tag in the \"name:tag\" format",
        ),
        value(
            "target",
            None,
            "string",
            "Set the target build stage to build.",
        ),
    ],
    args: Args::Exact(1),
    stop_at_positional: false,
};

fn msg(e: impl std::fmt::Display) -> CliError {
    CliError::Message(e.to_string())
}

/// `KEY=VALUE` flags as a JSON object; a bare `KEY` takes the value of the environment's KEY.
fn json_pairs(items: &[String], from_env: bool) -> Option<String> {
    if items.is_empty() {
        return None;
    }
    let mut m = serde_json::Map::new();
    for i in items {
        match i.split_once('=') {
            Some((k, v)) => m.insert(k.to_string(), Value::String(v.to_string())),
            None if from_env => match std::env::var(i) {
                Ok(v) => m.insert(i.clone(), Value::String(v)),
                Err(_) => continue,
            },
            None => m.insert(i.clone(), Value::String(String::new())),
        };
    }
    Some(Value::Object(m).to_string())
}

/// The most secret bytes one build carries (the daemon's limit too).
const MAX_SECRET_BYTES: usize = 64 << 10;

/// `--secret id=ID[,src=FILE|,env=VAR][,type=file|env]` (buildx's syntax) read into the header
/// Berth's daemon takes them in: base64 of a JSON object from id to the base64 of the bytes.
fn secrets_header(specs: &[String]) -> Result<Option<String>> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine as _;
    if specs.is_empty() {
        return Ok(None);
    }
    let mut map = serde_json::Map::new();
    let mut total = 0;
    for spec in specs {
        let (mut id, mut src, mut env, mut kind) = (None, None, None, "file");
        for field in spec.split(',').filter(|f| !f.is_empty()) {
            match field.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(v.to_string()),
                Some(("env", v)) => env = Some(v.to_string()),
                Some(("type", "file")) => kind = "file",
                Some(("type", "env")) => kind = "env",
                _ => {
                    return Err(msg(format!(
                        "invalid secret {spec:?}: unexpected {field:?}"
                    )))
                }
            }
        }
        let id = match (id, &src) {
            (Some(id), _) => id,
            (None, Some(s)) => Path::new(s)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| msg(format!("invalid secret {spec:?}: no id")))?,
            (None, None) => return Err(msg(format!("invalid secret {spec:?}: no id"))),
        };
        let bytes = match (src, env) {
            (Some(path), _) if kind == "file" => std::fs::read(&path)
                .map_err(|e| msg(format!("reading secret {id} from {path}: {e}")))?,
            (_, Some(var)) => std::env::var_os(&var)
                .map(|v| v.into_encoded_bytes())
                .ok_or_else(|| msg(format!("secret {id}: the environment has no {var}")))?,
            (Some(var), None) => std::env::var_os(&var)
                .map(|v| v.into_encoded_bytes())
                .ok_or_else(|| msg(format!("secret {id}: the environment has no {var}")))?,
            (None, None) => std::env::var_os(&id)
                .map(|v| v.into_encoded_bytes())
                .ok_or_else(|| {
                    msg(format!(
                        "secret {id}: give src=FILE or env=VAR (the environment has no {id})"
                    ))
                })?,
        };
        total += bytes.len();
        if total > MAX_SECRET_BYTES {
            return Err(msg(format!(
                "the build's secrets are larger than the {} KiB a build carries",
                MAX_SECRET_BYTES >> 10
            )));
        }
        map.insert(id, Value::String(STANDARD.encode(&bytes)));
    }
    Ok(Some(URL_SAFE_NO_PAD.encode(Value::Object(map).to_string())))
}

/// `berth build`.
pub async fn build(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let path = p.args[0].clone();
    // As the docker CLI tells them (moby's urlutil): a Git repository or a remote tar.
    let remote = ["http://", "https://", "git://", "git@", "github.com/"]
        .iter()
        .any(|prefix| path.starts_with(prefix));
    if remote {
        return Err(msg(format!(
            "unable to prepare context: remote build contexts are not supported ({path}): \
             clone or download it and build the directory"
        )));
    }
    if path == "-" && std::io::stdin().is_terminal() {
        return Err(msg("unable to prepare context: stdin is a terminal"));
    }
    let secrets = secrets_header(&p.list("secret"))?;
    let outputs = p
        .list("output")
        .iter()
        .map(|o| output::Output::parse(o))
        .collect::<Result<Vec<_>>>()?;
    if outputs.iter().filter(|o| o.to_stdout()).count() > 1 {
        return Err(msg("only one --output can write to standard output"));
    }
    // With an output on standard output, the build's own text goes to standard error.
    let show: fn(&str) = if outputs.iter().any(|o| o.to_stdout()) {
        |s| eprint!("{s}")
    } else {
        out
    };
    let file = p.string("file").map(str::to_string);
    let (source, dockerfile) =
        tokio::task::spawn_blocking(move || context_source(&path, file.as_deref()))
            .await
            .map_err(msg)??;
    // A directory streams through a pipe while the daemon reads it; a failure to read a file
    // here is reported after the daemon's answer.
    let (request_body, mut writer, mut sent) = match source {
        Source::Ready(bytes) => {
            let n = bytes.len() as u64;
            (body::full(bytes), None, Some(n))
        }
        Source::Dir(dir) => {
            let (r, w) = nix::unistd::pipe().map_err(|e| msg(format!("making a pipe: {e}")))?;
            let w = std::fs::File::from(w);
            let task = tokio::task::spawn_blocking(move || {
                let mut w = stream::Counting::new(w);
                write_context(&dir, &mut w).map(|()| w.bytes())
            });
            let r = tokio::fs::File::from_std(std::fs::File::from(r));
            (body::from_reader(r), Some(task), None)
        }
    };
    let quiet = p.bool("quiet");
    let to_stdout = outputs.iter().any(|o| o.to_stdout());
    let mode = progress::Mode::parse(p.string("progress"), std::io::stdout().is_terminal())
        .map_err(|e| CliError::Flag { message: e })?;
    // The live view draws on the terminal; quiet builds and builds writing an output to
    // standard output show nothing live.
    let mut live = (mode == progress::Mode::Tty && !quiet && !to_stdout)
        .then(|| progress::LiveView::new(progress::terminal_width()));
    let mut q: Vec<(&str, String)> = vec![("dockerfile", dockerfile), ("version", "1".into())];
    for t in p.list("tag") {
        q.push(("t", t));
    }
    let mut build_args = p.list("build-arg");
    // As buildx does: the client's SOURCE_DATE_EPOCH makes a reproducible image.
    if !build_args
        .iter()
        .any(|a| a.split('=').next() == Some("SOURCE_DATE_EPOCH"))
    {
        if let Ok(epoch) = std::env::var("SOURCE_DATE_EPOCH") {
            build_args.push(format!("SOURCE_DATE_EPOCH={epoch}"));
        }
    }
    if let Some(a) = json_pairs(&build_args, true) {
        q.push(("buildargs", a));
    }
    let cache_from = p.list("cache-from");
    if !cache_from.is_empty() {
        // BuildKit's `type=registry,ref=NAME` names an image here too.
        let names: Vec<String> = cache_from
            .iter()
            .map(|c| {
                c.split(',')
                    .find_map(|f| f.strip_prefix("ref="))
                    .unwrap_or(c)
                    .to_string()
            })
            .collect();
        q.push(("cachefrom", Value::from(names).to_string()));
    }
    if let Some(l) = json_pairs(&p.list("label"), false) {
        q.push(("labels", l));
    }
    for (flag, key) in [
        ("no-cache", "nocache"),
        ("pull", "pull"),
        ("force-rm", "forcerm"),
    ] {
        if p.bool(flag) {
            q.push((key, "1".into()));
        }
    }
    if quiet {
        q.push(("q", "1".into()));
    }
    q.push((
        "rm",
        if p.bool_default_true("rm") { "1" } else { "0" }.into(),
    ));
    if let Some(n) = p.string("network") {
        q.push(("networkmode", n.to_string()));
    }
    if let Some(pl) = p.string("platform") {
        q.push(("platform", pl.to_string()));
    }
    if let Some(t) = p.string("target") {
        q.push(("target", t.to_string()));
    }
    let mut headers = vec![("content-type", "application/x-tar".to_string())];
    if let Some(s) = secrets {
        headers.push(("x-berth-build-secrets", s));
    }
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let resp = ctx
        .client
        .request(
            Method::POST,
            &format!("/build{}", query(&q)),
            request_body,
            &headers,
        )
        .await?;
    let mut lines = JsonLines::new(resp.into_body());
    let mut image = None;
    // What `-q` kept back, printed to standard error if the build fails (as the docker CLI).
    let mut held = String::new();
    let mut first = true;
    while let Some(m) = lines.next().await? {
        let error = m.get("errorDetail").or_else(|| m.get("error"));
        if std::mem::take(&mut first) {
            // A build's first message comes once the daemon has read the whole context: the
            // docker CLI's line saying how much it sent comes first. (An error may come early,
            // the upload cut short.)
            let finished = writer.as_ref().is_some_and(|t| t.is_finished());
            if let Some(task) = writer.as_mut().filter(|_| error.is_none() || finished) {
                let done = tokio::time::timeout(std::time::Duration::from_secs(2), task).await;
                if let Ok(Ok(Ok(n))) = done {
                    sent = Some(n);
                    writer = None;
                }
            }
            match sent.map(stream::sent_line) {
                Some(line) if quiet => held.push_str(&line),
                Some(_) if live.is_some() => {}
                Some(line) => show(&line),
                None => {}
            }
        }
        if let Some(e) = error {
            let text = e
                .get("message")
                .and_then(Value::as_str)
                .or_else(|| e.as_str())
                .unwrap_or("the build failed");
            let code = e.get("code").and_then(Value::as_i64).unwrap_or(1);
            // A context this side failed to read explains a truncated upload best.
            if let Some(task) = writer.take().filter(|t| t.is_finished()) {
                if let Ok(Err(local)) = task.await {
                    return Err(local);
                }
            }
            if let Some(view) = live.as_mut() {
                view.finish(&mut std::io::stdout());
            }
            eprint!("{held}");
            eprintln!("{text}");
            return Err(CliError::Exit(i32::try_from(code).unwrap_or(1).max(1)));
        }
        if let Some(id) = m
            .get("aux")
            .and_then(|a| a.get("ID"))
            .and_then(Value::as_str)
        {
            image = Some(id.to_string());
        }
        if let Some(text) = stream::display(&m) {
            if quiet {
                held.push_str(&text);
            } else if let Some(view) = live.as_mut() {
                view.feed(&text, &mut std::io::stdout());
            } else {
                show(&text);
            }
        }
    }
    if let Some(view) = live.as_mut() {
        view.finish(&mut std::io::stdout());
    }
    let Some(id) = image else {
        return Err(msg("the daemon answered without an image ID"));
    };
    if quiet {
        show(&format!("{id}\n"));
    }
    for o in &outputs {
        o.export(ctx, &id).await?;
    }
    if let Some(f) = p.string("iidfile") {
        std::fs::write(f, &id).map_err(|e| msg(format!("writing the image ID to {f}: {e}")))?;
    }
    Ok(())
}
