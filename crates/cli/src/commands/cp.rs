//! `berth cp`: copies between a container and the local side through the archive endpoints
//! (`HEAD|GET|PUT /containers/{id}/archive`), with docker's argument rules, messages and exit
//! codes. `-` as the destination streams the container's tar to stdout; `-` as the source sends
//! a tar from stdin into a directory of the container.
//! Between a container and a local path the tar is made or unpacked here ([`tar`]), following
//! Docker's rules for which directory receives it and what its top entry is called ([`local`]).

mod local;
mod tar;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use berth_api::container::{ContainerPathStat, PATH_STAT_HEADER};
use hyper::Method;

use super::Ctx;
use crate::client::body::{self, next_chunk};
use crate::client::{encode_path, query};
use crate::error::{CliError, Result};
use crate::flags::{switch, Args, Parsed, Spec};
use tokio::io::AsyncWriteExt;

pub const CP: Spec = Spec {
    name: "cp",
    usage: "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
    about: "Copy files/folders between a container and the local filesystem\n\nUse '-' as the source to read a tar archive from stdin\nand extract it to a directory destination in a container.\nUse '-' as the destination to stream a tar archive of a\ncontainer source to stdout.",
    flags: &[
        switch(
            "archive",
            Some('a'),
            "Archive mode (copy all uid/gid information)",
        ),
        switch(
            "follow-link",
            Some('L'),
            "Always follow symbol link in SRC_PATH",
        ),
        switch(
            "quiet",
            Some('q'),
            "Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached",
        ),
    ],
    args: Args::Exact(2),
    stop_at_positional: false,
};

/// One side of a copy: `CONTAINER:PATH` or a local path (`-` included).
#[derive(Debug, PartialEq, Eq)]
pub enum Side {
    Container { name: String, path: String },
    Local(String),
}

/// Docker's `splitCpArg`: an absolute path or one starting with `.` is local, whatever colons
/// it holds; otherwise `NAME:PATH` names a container.
pub fn split_arg(arg: &str) -> Side {
    if arg.starts_with('/') {
        return Side::Local(arg.to_string());
    }
    match arg.split_once(':') {
        Some((name, path)) if !name.starts_with('.') => Side::Container {
            name: name.to_string(),
            path: path.to_string(),
        },
        _ => Side::Local(arg.to_string()),
    }
}

fn archive_path(container: &str, path: &str) -> String {
    format!(
        "/containers/{}/archive{}",
        encode_path(container),
        query(&[("path", path.to_string())])
    )
}

/// `HEAD /containers/{id}/archive`: the stat of a path in a container.
async fn stat_path(ctx: &Ctx, container: &str, path: &str) -> Result<ContainerPathStat> {
    let resp = ctx
        .client
        .request(
            Method::HEAD,
            &archive_path(container, path),
            body::empty(),
            &[],
        )
        .await?;
    decode_stat(resp.headers())
}

fn decode_stat(headers: &hyper::HeaderMap) -> Result<ContainerPathStat> {
    let bad = || CliError::Message("unable to decode container path stat header".into());
    let raw = headers
        .get(PATH_STAT_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(bad)?;
    let json = BASE64.decode(raw).map_err(|_| bad())?;
    serde_json::from_slice(&json).map_err(|_| bad())
}

/// Docker's resolution of a symlinked path: a relative target is taken from the link's directory.
fn follow(path: &str, stat: &ContainerPathStat) -> String {
    if !stat.is_symlink() || stat.link_target.is_empty() {
        return path.to_string();
    }
    if stat.link_target.starts_with('/') {
        return stat.link_target.clone();
    }
    let dir = path
        .trim_end_matches('/')
        .rsplit_once('/')
        .map_or("", |d| d.0);
    format!("{dir}/{}", stat.link_target)
}

/// Docker's `resolveLocalPath`: the path made absolute and cleaned, keeping a trailing `/` or
/// `/.`; `-` stays as it is.
fn absolute_local(path: &str) -> Result<String> {
    if path == "-" {
        return Ok(path.to_string());
    }
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        let cwd = std::env::current_dir()
            .map_err(|e| CliError::Message(format!("getting the current directory: {e}")))?;
        format!("{}/{path}", cwd.to_string_lossy())
    };
    let (dir, base) = local::split_dir_entry(&joined);
    let mut abs = match (dir.as_str(), base.as_str()) {
        (d, ".") => d.to_string(),
        ("/", b) => format!("/{b}"),
        (d, b) => format!("{d}/{b}"),
    };
    if local::asserts_directory(path) && abs != "/" {
        abs.push_str(if path.ends_with('.') { "/." } else { "/" });
    }
    Ok(abs)
}

/// `berth cp`.
pub async fn cp(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let (src, dst) = (split_arg(&p.args[0]), split_arg(&p.args[1]));
    match (src, dst) {
        (Side::Local(_), Side::Local(_)) => Err(CliError::Message(
            "must specify at least one container source".into(),
        )),
        (Side::Container { .. }, Side::Container { .. }) => Err(CliError::Message(
            "copying between containers is not supported".into(),
        )),
        (Side::Container { name, path }, Side::Local(local)) => {
            if path.is_empty() {
                return Err(CliError::Message("source can not be empty".into()));
            }
            copy_from_container(ctx, &p, &name, &path, &absolute_local(&local)?).await
        }
        (Side::Local(local), Side::Container { name, path }) => {
            if path.is_empty() {
                return Err(CliError::Message("destination can not be empty".into()));
            }
            copy_to_container(ctx, &p, &absolute_local(&local)?, &name, &path).await
        }
    }
}

async fn copy_from_container(
    ctx: &Ctx,
    p: &Parsed,
    container: &str,
    path: &str,
    local: &str,
) -> Result<()> {
    let mut src = local::CopyInfo {
        path: path.to_string(),
        exists: true,
        ..Default::default()
    };
    if p.bool("follow-link") {
        let stat = stat_path(ctx, container, path).await?;
        if stat.is_symlink() {
            src.path = follow(path, &stat);
            src.rebase_name = Some(local::split_dir_entry(path).1);
        }
    }
    if local != "-" {
        validate_output_path(local)?;
    }
    let resp = ctx
        .client
        .request(
            Method::GET,
            &archive_path(container, &src.path),
            body::empty(),
            &[],
        )
        .await?;
    let mut bodyin = if local == "-" {
        resp.into_body()
    } else {
        src.is_dir = decode_stat(resp.headers())?.is_dir();
        let dst = destination_info(local)?;
        let prepared = local::prepare(&src, &dst).map_err(CliError::Message)?;
        let copied = extract_body(resp.into_body(), prepared).await?;
        progress_done(p, copied, local);
        return Ok(());
    };
    let mut stdout = tokio::io::stdout();
    while let Some(chunk) = next_chunk(&mut bodyin).await? {
        stdout.write_all(&chunk).await?;
    }
    stdout.flush().await?;
    Ok(())
}

/// A pipe as (reader, writer) files.
fn pipe() -> Result<(std::fs::File, std::fs::File)> {
    let (r, w) =
        nix::unistd::pipe().map_err(|e| CliError::Message(format!("creating a pipe: {e}")))?;
    Ok((std::fs::File::from(r), std::fs::File::from(w)))
}

/// Feeds the answer's tar into an extractor on the blocking pool; returns the tar's size.
async fn extract_body(mut bodyin: hyper::body::Incoming, prepared: local::Prepared) -> Result<u64> {
    let (reader, writer) = pipe()?;
    let dir = std::path::PathBuf::from(&prepared.dir);
    let rename = prepared.rename;
    let extractor = tokio::task::spawn_blocking(move || local::extract(reader, &dir, &rename));
    let mut sink = tokio::fs::File::from_std(writer);
    let mut copied = 0u64;
    let mut feed_error = None;
    while let Some(chunk) = next_chunk(&mut bodyin).await? {
        copied += chunk.len() as u64;
        if let Err(e) = sink.write_all(&chunk).await {
            feed_error = Some(e);
            break;
        }
    }
    let _ = sink.flush().await;
    drop(sink);
    extractor
        .await
        .map_err(|e| CliError::Message(format!("extracting the archive: {e}")))?
        .map_err(|e| CliError::Message(e.to_string()))?;
    if let Some(e) = feed_error {
        return Err(CliError::Message(format!("extracting the archive: {e}")));
    }
    Ok(copied)
}

/// Docker's `ValidateOutputPath`: the parent must exist; an existing path must be a directory
/// or a regular file.
fn validate_output_path(path: &str) -> Result<()> {
    let (dir, _) = local::split_dir_entry(path.trim_end_matches("/."));
    if dir != "." && std::fs::metadata(&dir).is_err() {
        return Err(CliError::Message(format!(
            "invalid output path: directory {dir:?} does not exist"
        )));
    }
    if let Ok(md) = std::fs::metadata(path) {
        if !md.is_dir() && !md.is_file() {
            return Err(CliError::Message(format!(
                "invalid output path: {path:?} must be a directory or a regular file"
            )));
        }
    }
    Ok(())
}

/// Docker's `CopyInfoDestinationPath`: follows symlinks at the destination (at most 10).
fn destination_info(path: &str) -> Result<local::CopyInfo> {
    let io_err = |p: &str, e: std::io::Error| CliError::Message(format!("stat {p}: {e}"));
    let mut path = path.to_string();
    for _ in 0..=10 {
        match std::fs::symlink_metadata(&path) {
            Ok(md) if md.file_type().is_symlink() => {
                let target = std::fs::read_link(&path).map_err(|e| io_err(&path, e))?;
                let target = target.to_string_lossy().into_owned();
                path = if target.starts_with('/') {
                    target
                } else {
                    format!("{}/{target}", local::split_dir_entry(&path).0)
                };
            }
            Ok(md) => {
                return Ok(local::CopyInfo {
                    path,
                    exists: true,
                    is_dir: md.is_dir(),
                    rebase_name: None,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (parent, _) = local::split_dir_entry(&path);
                let md = std::fs::metadata(&parent).map_err(|e| io_err(&parent, e))?;
                if !md.is_dir() {
                    return Err(CliError::Message("not a directory".into()));
                }
                return Ok(local::CopyInfo {
                    path,
                    ..Default::default()
                });
            }
            Err(e) => return Err(io_err(&path, e)),
        }
    }
    Err(CliError::Message(format!("too many symlinks in {path}")))
}

/// Docker prints the total only to a terminal, and not with `-q`.
fn progress_done(p: &Parsed, copied: u64, to: &str) {
    if !p.bool("quiet") && std::io::stderr().is_terminal() {
        eprintln!(
            "Successfully copied {} to {to}",
            crate::units::human_size_precision(copied as f64, 3)
        );
    }
}

async fn copy_to_container(
    ctx: &Ctx,
    p: &Parsed,
    local_path: &str,
    container: &str,
    path: &str,
) -> Result<()> {
    // The destination; a symlink is followed, as docker does.
    let mut dst = local::CopyInfo {
        path: path.to_string(),
        ..Default::default()
    };
    let mut stat = stat_path(ctx, container, path).await;
    if let Ok(s) = &stat {
        if s.is_symlink() {
            dst.path = follow(path, s);
            stat = stat_path(ctx, container, &dst.path).await;
        }
    }
    if let Ok(s) = &stat {
        dst.exists = true;
        dst.is_dir = s.is_dir();
        let special = (1 << 26) | (1 << 25) | (1 << 24) | (1 << 27);
        if s.mode & special != 0 {
            return Err(CliError::Message(format!(
                "destination \"{container}:{path}\" must be a directory or a regular file"
            )));
        }
    }
    let mut q = vec![("noOverwriteDirNonDir", "true".to_string())];
    if p.bool("archive") {
        q.push(("copyUIDGID", "true".to_string()));
    }
    let counted = Arc::new(AtomicU64::new(0));
    let (body, writer) = if local_path == "-" {
        if !dst.is_dir {
            return Err(CliError::Message(format!(
                "destination \"{container}:{path}\" must be a directory"
            )));
        }
        q.push(("path", dst.path.clone()));
        (body::from_reader(tokio::io::stdin()), None)
    } else {
        let src = source_info(local_path, p.bool("follow-link"))?;
        let prepared = local::prepare(&src, &dst).map_err(CliError::Message)?;
        let (_, tar_top) = local::split_dir_entry(&src.path);
        let top = local::rebase(&tar_top, &prepared.rename);
        q.push(("path", prepared.dir));
        let (reader, out) = pipe()?;
        let counter = counted.clone();
        let source = std::path::PathBuf::from(&src.path);
        let writer = tokio::task::spawn_blocking(move || {
            tar::write_local(&source, &top, Counting { out, counter })
        });
        (
            body::from_reader(tokio::fs::File::from_std(reader)),
            Some(writer),
        )
    };
    let sent = ctx
        .client
        .request(
            Method::PUT,
            &format!(
                "/containers/{}/archive{}",
                encode_path(container),
                query(&q)
            ),
            body,
            &[("content-type", "application/x-tar")],
        )
        .await;
    if let Some(writer) = writer {
        let written = writer
            .await
            .map_err(|e| CliError::Message(format!("archiving {local_path}: {e}")))?;
        // The daemon's answer explains a failure better than the broken pipe it caused.
        if sent.is_ok() {
            written.map_err(|e| CliError::Message(format!("archiving {local_path}: {e}")))?;
        }
    }
    let _ = crate::client::read_all(sent?).await?;
    progress_done(
        p,
        counted.load(Ordering::Relaxed),
        &format!("{container}:{path}"),
    );
    Ok(())
}

/// Docker's `CopyInfoSourcePath`: the local source, its final symlink followed with `-L`.
fn source_info(path: &str, follow_link: bool) -> Result<local::CopyInfo> {
    let lstat_err = |e: std::io::Error| {
        let text = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            _ => e.to_string(),
        };
        CliError::Message(format!("lstat {path}: {text}"))
    };
    let md = std::fs::symlink_metadata(path).map_err(lstat_err)?;
    if follow_link && md.file_type().is_symlink() {
        let resolved = std::fs::canonicalize(path).map_err(lstat_err)?;
        let resolved = resolved.to_string_lossy().into_owned();
        let is_dir = std::fs::metadata(&resolved).map_err(lstat_err)?.is_dir();
        return Ok(local::CopyInfo {
            rebase_name: Some(local::split_dir_entry(path).1),
            path: resolved,
            exists: true,
            is_dir,
        });
    }
    Ok(local::CopyInfo {
        path: path.to_string(),
        exists: true,
        is_dir: md.is_dir(),
        rebase_name: None,
    })
}

/// A writer counting what passes through it (the size docker reports).
struct Counting<W> {
    out: W,
    counter: Arc<AtomicU64>,
}

impl<W: std::io::Write> std::io::Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_split_like_docker() {
        assert_eq!(
            split_arg("c1:/etc"),
            Side::Container {
                name: "c1".into(),
                path: "/etc".into()
            }
        );
        assert_eq!(split_arg("/a:b"), Side::Local("/a:b".into()));
        assert_eq!(split_arg("./a:b"), Side::Local("./a:b".into()));
        assert_eq!(split_arg("-"), Side::Local("-".into()));
        assert_eq!(split_arg("file"), Side::Local("file".into()));
    }

    #[test]
    fn stat_header_decodes() {
        let json = br#"{"name":"tmp","size":4096,"mode":2147484671,"mtime":"2026-11-25T00:00:00Z","linkTarget":""}"#;
        let stat: ContainerPathStat = serde_json::from_slice(json).unwrap();
        assert!(stat.is_dir() && !stat.is_symlink());
        let link = ContainerPathStat {
            mode: ContainerPathStat::MODE_SYMLINK | 0o777,
            link_target: "busybox".into(),
            ..Default::default()
        };
        assert_eq!(follow("/bin/sh", &link), "/bin/busybox");
    }
}
