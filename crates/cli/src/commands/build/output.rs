//! `berth build --output` (`-o`), BuildKit's exporters over the Engine API, once the daemon has
//! built the image:
//!
//! - `type=local,dest=DIR` (or just `DIR`): the image's file system unpacked into `DIR`;
//! - `type=tar,dest=FILE` (or just `-`): the same as one tar (`-`: standard output);
//! - `type=oci,dest=FILE` and `type=docker,dest=FILE`: the image as an archive that is an OCI
//!   image layout and a `docker load` archive at once (`GET /images/get`, Docker 25's form).
//!
//! The file system is read through a container made for the purpose (never started) and
//! `GET /containers/{id}/export`, then removed. Unpacking goes through the tar crate's
//! `unpack`, which keeps every entry inside `DIR` (no `..`, no absolute names, no link
//! followed out). The image stays in the daemon's store: it is the build cache's last step.

use std::path::PathBuf;

use hyper::Method;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::super::Ctx;
use super::msg;
use crate::client::body::{self, next_chunk};
use crate::client::{encode_path, query};
use crate::error::Result;

/// Where one `--output` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// The file system, unpacked into a directory.
    Local(PathBuf),
    /// The file system as a tar; `None`: standard output.
    Tar(Option<PathBuf>),
    /// The image as an OCI layout (and `docker load`) archive; `None`: standard output.
    Archive(Option<PathBuf>),
}

impl Output {
    /// Parses `type=KIND,dest=PATH`, or the short forms `PATH` (local) and `-` (tar to stdout).
    pub fn parse(spec: &str) -> Result<Output> {
        if !spec.contains('=') {
            return Ok(match spec {
                "" => return Err(msg("invalid --output \"\": give type=local,dest=DIR")),
                "-" => Output::Tar(None),
                dir => Output::Local(PathBuf::from(dir)),
            });
        }
        let (mut kind, mut dest) = (None, None);
        for field in spec.split(',').filter(|f| !f.is_empty()) {
            match field.split_once('=') {
                Some(("type", v)) => kind = Some(v.to_string()),
                Some(("dest", v)) => dest = Some(v.to_string()),
                _ => {
                    return Err(msg(format!(
                        "invalid --output {spec:?}: unexpected {field:?} (type=, dest=)"
                    )))
                }
            }
        }
        let file = |d: Option<String>| match d.as_deref() {
            None | Some("-") => None,
            Some(p) => Some(PathBuf::from(p)),
        };
        match kind.as_deref() {
            Some("local") => match dest {
                Some(d) if !d.is_empty() && d != "-" => Ok(Output::Local(PathBuf::from(d))),
                _ => Err(msg(format!(
                    "invalid --output {spec:?}: type=local needs dest=DIR"
                ))),
            },
            Some("tar") => Ok(Output::Tar(file(dest))),
            Some("oci" | "docker") => Ok(Output::Archive(file(dest))),
            Some(other) => Err(msg(format!(
                "invalid --output {spec:?}: type {other} is not supported (local, tar, oci, docker)"
            ))),
            None => Err(msg(format!("invalid --output {spec:?}: no type="))),
        }
    }

    /// Whether it writes to standard output (then the build prints nothing else there).
    pub fn to_stdout(&self) -> bool {
        matches!(self, Output::Tar(None) | Output::Archive(None))
    }

    /// Exports `image` here.
    pub async fn export(&self, ctx: &Ctx, image: &str) -> Result<()> {
        match self {
            Output::Archive(dest) => {
                let q = [("names", image.to_string())];
                let resp = ctx
                    .client
                    .request(
                        Method::GET,
                        &format!("/images/get{}", query(&q)),
                        body::empty(),
                        &[],
                    )
                    .await?;
                copy_body(resp.into_body(), dest.as_ref()).await
            }
            Output::Tar(_) | Output::Local(_) => {
                let id = scratch_container(ctx, image).await?;
                let exported = self.export_fs(ctx, &id).await;
                let removed = ctx
                    .client
                    .delete(&format!("/containers/{}?force=1", encode_path(&id)))
                    .await;
                exported.and(removed.map(|_| ()))
            }
        }
    }

    async fn export_fs(&self, ctx: &Ctx, container: &str) -> Result<()> {
        let resp = ctx
            .client
            .request(
                Method::GET,
                &format!("/containers/{}/export", encode_path(container)),
                body::empty(),
                &[],
            )
            .await?;
        match self {
            Output::Tar(dest) => copy_body(resp.into_body(), dest.as_ref()).await,
            Output::Local(dir) => unpack_body(resp.into_body(), dir.clone()).await,
            Output::Archive(_) => Ok(()),
        }
    }
}

/// A container on `image` to read its file system through (never started).
async fn scratch_container(ctx: &Ctx, image: &str) -> Result<String> {
    let req = json!({
        "Image": image,
        // An image may have no command (FROM scratch): create wants one; it never runs.
        "Cmd": ["/berth-build-output"],
        "Entrypoint": [""],
        "NetworkDisabled": true,
    });
    let created: Value = ctx.client.post_json("/containers/create", &req).await?;
    created
        .get("Id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| msg("the daemon answered create without an Id"))
}

/// Writes a response body to `dest` (created or truncated), or to standard output.
async fn copy_body(mut bodyin: hyper::body::Incoming, dest: Option<&PathBuf>) -> Result<()> {
    let mut sink: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = match dest {
        Some(path) => Box::new(tokio::fs::File::create(path).await.map_err(|e| {
            msg(format!(
                "failed to create output file {}: {e}",
                path.display()
            ))
        })?),
        None => Box::new(tokio::io::stdout()),
    };
    while let Some(chunk) = next_chunk(&mut bodyin).await? {
        sink.write_all(&chunk).await?;
    }
    sink.flush().await?;
    Ok(())
}

/// Unpacks a tar response body into `dir` (made if missing) as it arrives.
async fn unpack_body(mut bodyin: hyper::body::Incoming, dir: PathBuf) -> Result<()> {
    std::fs::create_dir_all(&dir).map_err(|e| {
        msg(format!(
            "making the output directory {}: {e}",
            dir.display()
        ))
    })?;
    let (r, w) = nix::unistd::pipe().map_err(|e| msg(format!("making a pipe: {e}")))?;
    let reader = std::fs::File::from(r);
    let target = dir.clone();
    let unpack = tokio::task::spawn_blocking(move || {
        let mut ar = tar::Archive::new(reader);
        ar.set_preserve_permissions(true);
        ar.set_preserve_mtime(true);
        ar.set_overwrite(true);
        ar.unpack(&target)
    });
    let mut w = tokio::fs::File::from_std(std::fs::File::from(w));
    let mut sent = Ok(());
    while let Some(chunk) = next_chunk(&mut bodyin).await? {
        if let Err(e) = w.write_all(&chunk).await {
            sent = Err(e); // the unpacker stopped: its error says why
            break;
        }
    }
    drop(w);
    let unpacked = unpack.await.map_err(msg)?;
    unpacked.map_err(|e| msg(format!("unpacking into {}: {e}", dir.display())))?;
    sent.map_err(|e| msg(format!("unpacking into {}: {e}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_specs() {
        let p = |s: &str| Output::parse(s);
        assert_eq!(p("out").unwrap(), Output::Local("out".into()));
        assert_eq!(p("-").unwrap(), Output::Tar(None));
        assert_eq!(p("type=local,dest=d").unwrap(), Output::Local("d".into()));
        assert_eq!(
            p("type=tar,dest=f.tar").unwrap(),
            Output::Tar(Some("f.tar".into()))
        );
        assert_eq!(p("type=tar").unwrap(), Output::Tar(None));
        assert_eq!(
            p("dest=i.tar,type=oci").unwrap(),
            Output::Archive(Some("i.tar".into()))
        );
        assert_eq!(p("type=docker,dest=-").unwrap(), Output::Archive(None));
        for (bad, why) in [
            ("type=local", "needs dest=DIR"),
            ("type=image,name=x", "unexpected \"name=x\""),
            ("type=registry", "not supported"),
            ("dest=x", "no type="),
        ] {
            let e = p(bad).expect_err(bad).to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(Output::Tar(None).to_stdout() && !Output::Local("d".into()).to_stdout());
    }
}
