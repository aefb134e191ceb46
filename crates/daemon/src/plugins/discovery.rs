//! Finding a plugin by name, as Docker's v1 plugin registry does: first a socket
//! `NAME.sock` or `NAME/NAME.sock` in each socket directory (`/run/docker/plugins`), then a spec
//! file in each spec directory (`/etc/docker/plugins`, `/usr/lib/docker/plugins`): `NAME.spec`,
//! `NAME/NAME.spec` (one line, the plugin's URL), `NAME.json`, `NAME/NAME.json`
//! (`{"Name","Addr","TLSConfig"}`). The first that exists wins.
//!
//! A name is a plain file name (letters, digits, `_`, `.`, `-`, starting with a letter or a
//! digit), checked before any path is made from it, so no name reaches outside those
//! directories. Addresses are `unix:///absolute/path` or `tcp://host:port` (`http://` is read as
//! `tcp://`, as dockerd does); `https://` is refused by name: the daemon speaks plain HTTP to
//! plugins.
//!
//! Looking is a few `stat`s and at most one small read in directories the host's root owns, so
//! it runs inline on the caller's task.

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::PluginError;

/// The longest name: `NAME.sock` must fit in a file name.
const MAX_NAME: usize = 250;

/// Where a plugin listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A UNIX socket (absolute path).
    Unix(PathBuf),
    /// `host:port`, reached over plain TCP.
    Tcp(String),
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Unix(p) => write!(f, "unix://{}", p.display()),
            Address::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// The directories searched, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPath {
    /// Where plugins put their sockets (Docker's `/run/docker/plugins`).
    pub socket_dirs: Vec<PathBuf>,
    /// Where spec files are (Docker's `/etc/docker/plugins`, `/usr/lib/docker/plugins`).
    pub spec_dirs: Vec<PathBuf>,
}

impl Default for SearchPath {
    fn default() -> Self {
        SearchPath {
            socket_dirs: vec![PathBuf::from("/run/docker/plugins")],
            spec_dirs: vec![
                PathBuf::from("/etc/docker/plugins"),
                PathBuf::from("/usr/lib/docker/plugins"),
            ],
        }
    }
}

/// Refuses a name that is not a plain file name.
pub fn check_name(name: &str) -> Result<(), PluginError> {
    let invalid = |reason| {
        Err(PluginError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    let Some(first) = name.chars().next() else {
        return invalid("a plugin name cannot be empty");
    };
    if name.len() > MAX_NAME {
        return invalid("a plugin name has at most 250 characters");
    }
    if !first.is_ascii_alphanumeric()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return invalid(
            "a plugin name is letters, digits, '_', '.' and '-', starting with a letter or a digit \
             (managed plugins, named like images, are not supported)",
        );
    }
    Ok(())
}

/// Looks for `name` once: `Ok(None)` when nothing of that name is there (yet).
pub fn find(name: &str, search: &SearchPath) -> Result<Option<Address>, PluginError> {
    check_name(name)?;
    for dir in &search.socket_dirs {
        for path in candidates(dir, name, "sock") {
            let is_socket = fs::metadata(&path)
                .map(|m| m.file_type().is_socket())
                .unwrap_or(false);
            if is_socket {
                return Ok(Some(Address::Unix(path)));
            }
        }
    }
    for dir in &search.spec_dirs {
        let specs = candidates(dir, name, "spec");
        let jsons = candidates(dir, name, "json");
        for path in specs.into_iter().chain(jsons) {
            if !path.is_file() {
                continue;
            }
            return read_spec(name, &path).map(Some);
        }
    }
    Ok(None)
}

/// `dir/NAME.ext` and `dir/NAME/NAME.ext`.
fn candidates(dir: &Path, name: &str, ext: &str) -> [PathBuf; 2] {
    let file = format!("{name}.{ext}");
    [dir.join(&file), dir.join(name).join(&file)]
}

/// A `.json` spec file's fields (Docker's names; others are ignored, as dockerd does).
#[derive(Deserialize)]
struct JsonSpec {
    #[serde(rename = "Addr", default)]
    addr: String,
}

/// Reads a `.spec` (a URL) or `.json` spec file.
fn read_spec(name: &str, path: &Path) -> Result<Address, PluginError> {
    let bad = |reason: String| PluginError::Spec {
        name: name.to_string(),
        path: path.to_path_buf(),
        reason,
    };
    // A spec file is a line or a small object; anything much larger is not one.
    let text = fs::read(path)
        .map_err(|e| bad(format!("reading it: {e}")))
        .and_then(|b| {
            if b.len() > 64 << 10 {
                Err(bad("larger than 64 KiB".to_string()))
            } else {
                String::from_utf8(b).map_err(|_| bad("not UTF-8 text".to_string()))
            }
        })?;
    let url = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str::<JsonSpec>(&text)
            .map_err(|e| bad(format!("not a plugin spec: {e}")))?
            .addr
    } else {
        text.trim().to_string()
    };
    parse_address(&url).map_err(bad)
}

/// `unix:///path`, `tcp://host:port` or `http://host:port`.
pub fn parse_address(url: &str) -> Result<Address, String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "address {url:?} has no scheme: use unix:///path or tcp://host:port"
        ));
    };
    match scheme {
        "unix" => {
            let path = PathBuf::from(rest);
            if !path.is_absolute() {
                return Err(format!("address {url:?}: the socket path must be absolute"));
            }
            Ok(Address::Unix(path))
        }
        "tcp" | "http" => {
            let host_port = rest.strip_suffix('/').unwrap_or(rest);
            let port_ok = host_port
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if !port_ok || host_port.contains(['/', '@', '?', '#']) {
                return Err(format!("address {url:?}: expected tcp://host:port"));
            }
            Ok(Address::Tcp(host_port.to_string()))
        }
        "https" => Err(format!(
            "address {url:?}: TLS to plugins is not supported; use unix:// or tcp://"
        )),
        other => Err(format!(
            "address {url:?}: unsupported scheme {other:?}: use unix:///path or tcp://host:port"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_file_names() {
        for good in ["sshfs", "my-plugin", "a.b_c", "9lives"] {
            check_name(good).expect(good);
        }
        for bad in [
            "",
            "../etc",
            "a/b",
            ".hidden",
            "-x",
            "vieux/sshfs:latest",
            "a\0b",
            "é",
        ] {
            let e = check_name(bad).expect_err(bad);
            assert!(matches!(e, PluginError::InvalidName { .. }), "{bad}: {e}");
        }
        check_name(&"a".repeat(251)).expect_err("too long");
    }

    #[test]
    fn addresses() {
        assert_eq!(
            parse_address("unix:///run/p.sock"),
            Ok(Address::Unix("/run/p.sock".into()))
        );
        assert_eq!(
            parse_address("tcp://127.0.0.1:8080"),
            Ok(Address::Tcp("127.0.0.1:8080".into()))
        );
        assert_eq!(
            parse_address("http://localhost:9/"),
            Ok(Address::Tcp("localhost:9".into()))
        );
        for bad in [
            "unix://relative.sock",
            "tcp://host",
            "tcp://:80",
            "tcp://h:99999",
            "https://h:1",
            "ftp://h:1",
            "/run/p.sock",
        ] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sockets_then_spec_files_in_order() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (socks, etc, lib) = (
            tmp.path().join("run"),
            tmp.path().join("etc"),
            tmp.path().join("lib"),
        );
        for d in [&socks, &etc, &lib] {
            fs::create_dir_all(d).expect("mkdir");
        }
        let search = SearchPath {
            socket_dirs: vec![socks.clone()],
            spec_dirs: vec![etc.clone(), lib.clone()],
        };
        assert_eq!(find("p", &search).expect("find"), None);

        fs::write(
            lib.join("p.json"),
            r#"{"Name":"p","Addr":"tcp://10.0.0.1:7"}"#,
        )
        .expect("json");
        assert_eq!(
            find("p", &search).expect("find"),
            Some(Address::Tcp("10.0.0.1:7".into()))
        );
        fs::create_dir(etc.join("p")).expect("mkdir");
        fs::write(etc.join("p/p.spec"), "unix:///x/p.sock\n").expect("spec");
        assert_eq!(
            find("p", &search).expect("find"),
            Some(Address::Unix("/x/p.sock".into()))
        );
        // A regular file named like a socket is not one.
        fs::write(socks.join("p.sock"), "").expect("file");
        assert_eq!(
            find("p", &search).expect("find"),
            Some(Address::Unix("/x/p.sock".into()))
        );
        fs::create_dir(socks.join("p")).expect("mkdir");
        let _l = std::os::unix::net::UnixListener::bind(socks.join("p/p.sock")).expect("bind");
        assert_eq!(
            find("p", &search).expect("find"),
            Some(Address::Unix(socks.join("p/p.sock")))
        );

        fs::write(etc.join("bad.spec"), "https://h:1").expect("spec");
        let e = find("bad", &search).expect_err("https");
        assert!(
            e.to_string().contains("TLS to plugins is not supported"),
            "{e}"
        );
        fs::write(etc.join("junk.json"), "{not json").expect("json");
        let e = find("junk", &search).expect_err("junk");
        assert!(e.to_string().contains("not a plugin spec"), "{e}");
        assert!(matches!(
            find("../etc/p", &search),
            Err(PluginError::InvalidName { .. })
        ));
    }
}
