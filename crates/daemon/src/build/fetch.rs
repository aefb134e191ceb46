//! `ADD http://…`: the download, over plain HTTP/1.1 with the daemon's own hyper client (up to
//! five redirects, at most [`MAX_BYTES`]); `https://` is refused by name, since the daemon has no
//! TLS client trust store to check a server with. The file is never extracted (Docker's rule for
//! remote sources).

use std::time::Duration;

use axum::body::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;

/// The largest download `ADD` keeps.
pub const MAX_BYTES: usize = 512 << 20;

/// How long one request may take, headers and body.
const TIMEOUT: Duration = Duration::from_secs(300);

/// Downloads `url`.
pub async fn fetch(url: &str) -> Result<Vec<u8>, String> {
    let mut current = url.to_string();
    for _ in 0..=5 {
        match tokio::time::timeout(TIMEOUT, get(&current)).await {
            Err(_) => return Err(format!("ADD {url}: timed out after {}s", TIMEOUT.as_secs())),
            Ok(Err(e)) => return Err(format!("ADD {url}: {e}")),
            Ok(Ok(Fetched::Body(b))) => return Ok(b),
            Ok(Ok(Fetched::Redirect(to))) => {
                current = if to.starts_with("http://") || to.starts_with("https://") {
                    to
                } else {
                    let (scheme_host, _) = split(&current)?;
                    format!(
                        "{scheme_host}{}",
                        if to.starts_with('/') {
                            to
                        } else {
                            format!("/{to}")
                        }
                    )
                };
            }
        }
    }
    Err(format!("ADD {url}: too many redirects"))
}

enum Fetched {
    Body(Vec<u8>),
    Redirect(String),
}

/// `http://host[:port]` and the path (with query) of an http URL.
fn split(url: &str) -> Result<(String, String), String> {
    if url.starts_with("https://") {
        return Err(format!(
            "ADD {url}: https downloads are not supported by this builder; fetch the file into the build context and ADD it"
        ));
    }
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("ADD {url}: only http URLs are downloaded"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if host.is_empty() || host.contains('@') {
        return Err(format!("ADD {url}: no host, or credentials in the URL"));
    }
    Ok((format!("http://{host}"), path.to_string()))
}

async fn get(url: &str) -> Result<Fetched, String> {
    let (scheme_host, path) = split(url)?;
    let host = scheme_host.trim_start_matches("http://").to_string();
    let addr = if host.contains(':') && !host.ends_with(']') {
        host.clone()
    } else {
        format!("{host}:80")
    };
    let stream = tokio::net::TcpStream::connect(&addr)
        .await
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("talking to {addr}: {e}"))?;
    tokio::spawn(conn);
    let req = Request::get(path)
        .header("Host", host)
        .header("User-Agent", "berth-builder")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("making the request: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("requesting it: {e}"))?;
    let status = resp.status();
    if status.is_redirection() {
        let to = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| format!("HTTP {status} without a Location"))?;
        return Ok(Fetched::Redirect(to.to_string()));
    }
    if status != StatusCode::OK {
        return Err(format!("HTTP {status}"));
    }
    let body = Limited::new(resp.into_body(), MAX_BYTES)
        .collect()
        .await
        .map_err(|e| format!("reading the download (at most {MAX_BYTES} bytes): {e}"))?;
    Ok(Fetched::Body(body.to_bytes().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            split("http://h:8/a/b?c").expect("split"),
            ("http://h:8".into(), "/a/b?c".into())
        );
        assert_eq!(
            split("http://h").expect("split"),
            ("http://h".into(), "/".into())
        );
        assert!(split("https://h/x")
            .expect_err("https")
            .contains("https downloads are not supported"));
        assert!(split("http://u:p@h/x").is_err());
        assert!(split("ftp://h/x").is_err());
    }
}
