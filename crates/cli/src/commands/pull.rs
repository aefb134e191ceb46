//! `berth pull` and `berth push`: the daemon streams Docker's JSON progress; credentials for the
//! image's registry go along as `X-Registry-Auth` (see [`super::registry_auth`]). On a terminal
//! each layer keeps one line, redrawn in place with its progress bar, as the docker CLI does;
//! otherwise only status changes are printed, one line each. `run` and `create` pull through
//! [`pull_image`] under their `--pull` [`PullPolicy`], showing the progress on stderr.

use std::io::{IsTerminal, Write};

use hyper::body::Incoming;
use hyper::Method;
use serde_json::Value;

use super::registry_auth::registry_auth_header;
use super::{out, Ctx};
use crate::client::body::JsonLines;
use crate::client::{body, encode_path, query};
use crate::error::{CliError, Result};
use crate::flags::{switch, value, Args, Parsed, Spec};

pub const PULL: Spec = Spec {
    name: "pull",
    usage: "[OPTIONS] NAME[:TAG|@DIGEST]",
    about: "Download an image from a registry",
    flags: &[
        value(
            "platform",
            None,
            "string",
            "Set platform if server is multi-platform capable",
        ),
        switch("quiet", Some('q'), "Suppress verbose output"),
        switch(
            "all-tags",
            Some('a'),
            "Download all tagged images in the repository",
        ),
    ],
    args: Args::Exact(1),
    stop_at_positional: false,
};

pub const PUSH: Spec = Spec {
    name: "push",
    usage: "[OPTIONS] NAME[:TAG]",
    about: "Upload an image to a registry",
    flags: &[
        switch(
            "all-tags",
            Some('a'),
            "Push all tags of an image to the repository",
        ),
        switch("quiet", Some('q'), "Suppress verbose output"),
    ],
    args: Args::Exact(1),
    stop_at_positional: false,
};

/// `run`/`create --pull`: when to pull the image before creating the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pull first, every time.
    Always,
    /// Pull when the daemon answers "No such image" to the create, then create again (default).
    Missing,
    /// Never pull: a missing image fails the create.
    Never,
}

impl PullPolicy {
    /// Parses `--pull` (empty means the default), refusing other values in docker's words.
    pub fn parse(value: Option<&str>) -> Result<PullPolicy> {
        match value.unwrap_or("") {
            "always" => Ok(PullPolicy::Always),
            "missing" | "" => Ok(PullPolicy::Missing),
            "never" => Ok(PullPolicy::Never),
            other => Err(CliError::Message(format!(
                "invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""
            ))),
        }
    }
}

/// Where a progress stream is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    Stdout,
    Stderr,
    /// Read to the end (errors still fail) but print nothing (`--quiet`).
    Nothing,
}

impl Show {
    fn is_terminal(self) -> bool {
        match self {
            Show::Stdout => std::io::stdout().is_terminal(),
            Show::Stderr => std::io::stderr().is_terminal(),
            Show::Nothing => false,
        }
    }

    fn write(self, text: &str) {
        match self {
            Show::Stdout => out(text),
            Show::Stderr => {
                let mut e = std::io::stderr().lock();
                let _ = e.write_all(text.as_bytes());
                let _ = e.flush();
            }
            Show::Nothing => {}
        }
    }
}

/// Splits `name[:tag|@digest]` into the repository and the tag or digest (none when absent).
pub fn split_reference(image: &str) -> (String, Option<String>) {
    if let Some((name, digest)) = image.split_once('@') {
        return (name.to_string(), Some(digest.to_string()));
    }
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(i) => (
            image[..slash + i].to_string(),
            Some(image[slash + i + 1..].to_string()),
        ),
        None => (image.to_string(), None),
    }
}

/// The canonical form docker prints after a pull (`docker.io/library/busybox:latest`).
fn canonical(name: &str, tag: &str) -> String {
    let first = name.split('/').next().unwrap_or(name);
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let full = if has_registry {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    if tag.starts_with("sha256:") {
        format!("{full}@{tag}")
    } else {
        format!("{full}:{tag}")
    }
}

/// Draws a progress stream: one line per `id`, redrawn in place on a terminal.
#[derive(Default)]
pub struct Progress {
    ids: Vec<String>,
    tty: bool,
}

impl Progress {
    pub fn new(tty: bool) -> Self {
        Progress {
            ids: Vec::new(),
            tty,
        }
    }

    /// The text to write for message `m` (empty when nothing is shown).
    pub fn render(&mut self, m: &Value) -> String {
        let Some(status) = m.get("status").and_then(Value::as_str) else {
            return m
                .get("stream")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
        };
        let bar = m.get("progress").and_then(Value::as_str);
        let Some(id) = m.get("id").and_then(Value::as_str) else {
            return format!("{status}\n");
        };
        if !self.tty {
            // Byte counts change too fast for a log: only status changes.
            return match bar {
                Some(_) => String::new(),
                None => format!("{id}: {status}\n"),
            };
        }
        let line = match bar {
            Some(b) => format!("{id}: {status} {b}"),
            None => format!("{id}: {status}"),
        };
        match self.ids.iter().position(|i| i == id) {
            None => {
                self.ids.push(id.to_string());
                format!("{line}\n")
            }
            Some(pos) => {
                let up = self.ids.len() - pos;
                format!("\x1b[{up}A\x1b[2K\r{line}\x1b[{up}B\r")
            }
        }
    }
}

/// Shows a pull or push stream on `to`; fails on the first in-band error.
async fn show(body: Incoming, to: Show) -> Result<()> {
    let mut lines = JsonLines::new(body);
    let mut progress = Progress::new(to.is_terminal());
    while let Some(m) = lines.next().await? {
        if let Some(e) = m
            .get("errorDetail")
            .and_then(|d| d.get("message"))
            .and_then(Value::as_str)
            .or_else(|| m.get("error").and_then(Value::as_str))
        {
            return Err(CliError::Message(e.to_string()));
        }
        let text = progress.render(&m);
        if !text.is_empty() {
            to.write(&text);
        }
    }
    Ok(())
}

/// `POST /images/create?fromImage=&tag=[&platform=]` for `image` (`name[:tag|@digest]`, `latest`
/// when it names no tag) with the user's credentials for its registry, the progress shown on `to`.
/// Returns the canonical reference docker prints after a pull.
pub async fn pull_image(
    ctx: &Ctx,
    image: &str,
    platform: Option<&str>,
    to: Show,
) -> Result<String> {
    let (name, tag) = split_reference(image);
    let tag = tag.unwrap_or_else(|| "latest".to_string());
    let mut pairs = vec![("fromImage", name.clone()), ("tag", tag.clone())];
    if let Some(platform) = platform.filter(|p| !p.is_empty()) {
        pairs.push(("platform", platform.to_string()));
    }
    let auth = registry_auth_header(&name)?;
    let resp = ctx
        .client
        .request(
            Method::POST,
            &format!("/images/create{}", query(&pairs)),
            body::empty(),
            &[("x-registry-auth", &auth)],
        )
        .await?;
    show(resp.into_body(), to).await?;
    Ok(canonical(&name, &tag))
}

pub async fn pull(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let image = &p.args[0];
    let to = if p.bool("quiet") {
        Show::Nothing
    } else {
        Show::Stdout
    };
    if p.bool("all-tags") {
        let (name, tag) = split_reference(image);
        if tag.is_some() {
            return Err(CliError::Message(
                "tag can't be used with --all-tags/-a".to_string(),
            ));
        }
        let mut pairs = vec![("fromImage", name.clone())];
        if let Some(platform) = p.string("platform").filter(|p| !p.is_empty()) {
            pairs.push(("platform", platform.to_string()));
        }
        let auth = registry_auth_header(&name)?;
        let resp = ctx
            .client
            .request(
                Method::POST,
                &format!("/images/create{}", query(&pairs)),
                body::empty(),
                &[("x-registry-auth", &auth)],
            )
            .await?;
        show(resp.into_body(), to).await?;
        out(&format!("{}\n", canonical(&name, "").trim_end_matches(':')));
        return Ok(());
    }
    let canonical = pull_image(ctx, image, p.string("platform"), to).await?;
    out(&format!("{canonical}\n"));
    Ok(())
}

pub async fn push(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let image = &p.args[0];
    let (name, tag) = split_reference(image);
    if tag.as_deref().is_some_and(|t| t.starts_with("sha256:")) {
        return Err(CliError::Message(format!(
            "cannot push a digest reference: {image}"
        )));
    }
    let quiet = p.bool("quiet");
    let all = p.bool("all-tags");
    // As the docker CLI: --all-tags sends no tag (the daemon pushes every local tag).
    let tag = match (tag, all) {
        (Some(_), true) => {
            return Err(CliError::Message(
                "tag can't be used with --all-tags/-a".to_string(),
            ))
        }
        (Some(t), false) => Some(t),
        (None, true) => None,
        (None, false) => {
            if !quiet {
                out("Using default tag: latest\n");
            }
            Some("latest".to_string())
        }
    };
    let pairs: Vec<(&str, String)> = tag.iter().map(|t| ("tag", t.clone())).collect();
    let auth = registry_auth_header(&name)?;
    let resp = ctx
        .client
        .request(
            Method::POST,
            &format!("/images/{}/push{}", encode_path(&name), query(&pairs)),
            body::empty(),
            &[("x-registry-auth", &auth)],
        )
        .await?;
    let to = if quiet { Show::Nothing } else { Show::Stdout };
    show(resp.into_body(), to).await?;
    if quiet {
        let shown = match &tag {
            Some(t) => canonical(&name, t),
            None => canonical(&name, "").trim_end_matches(':').to_string(),
        };
        out(&format!("{shown}\n"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_redraws_a_layer_line_in_place_on_a_terminal() {
        let m = |id: &str, status: &str, bar: Option<&str>| {
            let mut v = serde_json::json!({"status": status, "id": id});
            if let Some(b) = bar {
                v["progress"] = b.into();
            }
            v
        };
        let mut tty = Progress::new(true);
        assert_eq!(
            tty.render(&m("a", "Pulling fs layer", None)),
            "a: Pulling fs layer\n"
        );
        assert_eq!(
            tty.render(&m("b", "Pulling fs layer", None)),
            "b: Pulling fs layer\n"
        );
        assert_eq!(
            tty.render(&m("a", "Downloading", Some("[=>  ] 1B/2B"))),
            "\x1b[2A\x1b[2K\ra: Downloading [=>  ] 1B/2B\x1b[2B\r"
        );
        assert_eq!(
            tty.render(&serde_json::json!({"status": "Digest: x"})),
            "Digest: x\n"
        );
        let mut log = Progress::new(false);
        assert_eq!(log.render(&m("a", "Downloading", Some("[=>  ] 1B/2B"))), "");
        assert_eq!(
            log.render(&m("a", "Pull complete", None)),
            "a: Pull complete\n"
        );
    }

    #[test]
    fn pull_policies_parse_like_docker() {
        assert_eq!(PullPolicy::parse(None).ok(), Some(PullPolicy::Missing));
        assert_eq!(PullPolicy::parse(Some("")).ok(), Some(PullPolicy::Missing));
        assert_eq!(
            PullPolicy::parse(Some("always")).ok(),
            Some(PullPolicy::Always)
        );
        assert_eq!(
            PullPolicy::parse(Some("never")).ok(),
            Some(PullPolicy::Never)
        );
        let e = PullPolicy::parse(Some("Always"))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(r#"invalid pull option: 'Always': must be one of "always", "missing" or "never""#)
        );
    }

    #[test]
    fn references_split_and_print_like_docker() {
        assert_eq!(split_reference("busybox"), ("busybox".into(), None));
        assert_eq!(
            split_reference("127.0.0.1:5000/bb:1"),
            ("127.0.0.1:5000/bb".into(), Some("1".into()))
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/bb"),
            ("127.0.0.1:5000/bb".into(), None)
        );
        assert_eq!(
            split_reference("bb@sha256:ab"),
            ("bb".into(), Some("sha256:ab".into()))
        );
        assert_eq!(
            canonical("busybox", "latest"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(canonical("127.0.0.1:5000/bb", "1"), "127.0.0.1:5000/bb:1");
    }
}
