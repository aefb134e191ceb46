//! OCI distribution-spec conformance workflows (pull, push, content discovery, content
//! management; catalog REG-20), run against Berth's registry server and — as the reference — Debian's
//! `docker-registry` (distribution 2.8, installed by `scripts/install-deps.sh`; its part is skipped
//! with a note when the binary is absent). Where the two differ, the test says so in a comment:
//!
//! - an out-of-order `Content-Range` on PATCH: Berth answers 416 (as the spec asks);
//!   distribution 2.8 ignores the header and appends the bytes (202), so that step runs on Berth
//!   only.
//! - tags list pagination (`n`, `last`, `Link`): distribution 2.8 ignores `n` on tags (it
//!   paginates the catalog only); Berth paginates both, so that step runs on Berth only.
//! - the referrers API: distribution 2.8 predates it; Berth's is tested in its server tests.

#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_oci::Digest;
use berth_registry::hosts::{Endpoint, HostsConfig, Scheme};
use berth_registry::transport::{self, BodyKind, Outgoing};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::HeaderName;
use hyper::Method;

struct Target {
    name: &'static str,
    ep: Endpoint,
    /// Refuses out-of-order chunks (the spec's 416).
    strict_ranges: bool,
    /// Paginates the tags list.
    paginates_tags: bool,
    _dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn endpoint(addr: &str) -> Endpoint {
    HostsConfig::default()
        .endpoints(addr)
        .unwrap()
        .into_iter()
        .find(|e| e.scheme == Scheme::Http)
        .unwrap()
}

async fn berth() -> Target {
    let dir = tempfile::tempdir().unwrap();
    let app = berth_registry::server::router(&dir.path().join("srv")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Target {
        name: "berth",
        ep: endpoint(&addr),
        strict_ranges: true,
        paginates_tags: true,
        _dir: dir,
        child: None,
    }
}

async fn distribution() -> Option<Target> {
    let bin = ["/usr/bin/docker-registry", "/usr/sbin/docker-registry"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())?;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.path().join("storage").display()
        ),
    )
    .unwrap();
    let child = Command::new(bin)
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Target {
        name: "docker-registry",
        ep: endpoint(&addr),
        strict_ranges: false,
        paginates_tags: false,
        _dir: dir,
        child: Some(child),
    };
    let end = Instant::now() + Duration::from_secs(20);
    while t.req(Method::GET, "/v2/", &[], b"").await.0 != 200 {
        assert!(Instant::now() < end, "docker-registry did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Some(t)
}

type Answer = (u16, hyper::HeaderMap, Bytes);

impl Target {
    async fn req(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let out = Outgoing {
            method,
            path_and_query: path.to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| (HeaderName::from_bytes(k.as_bytes()).unwrap(), v.to_string()))
                .collect(),
            body: Some(BodyKind::Bytes(Bytes::copy_from_slice(body))),
        };
        match transport::send(&HostsConfig::default(), &self.ep, out, None).await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let h = resp.headers().clone();
                let b = resp
                    .into_body()
                    .collect()
                    .await
                    .map(|c| c.to_bytes())
                    .unwrap_or_default();
                (status, h, b)
            }
            Err(_) => (0, hyper::HeaderMap::new(), Bytes::new()),
        }
    }

    fn loc(h: &hyper::HeaderMap) -> String {
        h.get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }

    /// Makes a session path from a Location that may be absolute.
    fn path_of(&self, loc: &str) -> String {
        match loc.find("/v2/") {
            Some(i) => loc[i..].to_string(),
            None => loc.to_string(),
        }
    }

    fn with_query(path: &str, q: &str) -> String {
        if path.contains('?') {
            format!("{path}&{q}")
        } else {
            format!("{path}?{q}")
        }
    }

    async fn push_blob(&self, repo: &str, data: &[u8]) -> Digest {
        let d = Digest::sha256_of(data);
        let (st, h, _) = self
            .req(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/"),
                &[],
                b"",
            )
            .await;
        assert_eq!(st, 202, "{}: POST upload", self.name);
        let path = Self::with_query(&self.path_of(&Self::loc(&h)), &format!("digest={d}"));
        let (st, _, b) = self
            .req(
                Method::PUT,
                &path,
                &[("content-type", "application/octet-stream")],
                data,
            )
            .await;
        assert_eq!(
            st,
            201,
            "{}: PUT blob: {}",
            self.name,
            String::from_utf8_lossy(&b)
        );
        d
    }
}

const MT: &str = "application/vnd.oci.image.manifest.v1+json";

fn manifest(config: &Digest, config_len: usize, layer: &Digest, layer_len: usize) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": MT,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_len},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_len}]}))
    .unwrap()
}

async fn workflows(t: &Target) {
    let n = t.name;
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let layer: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    // Push: monolithic (POST then PUT ?digest=) and chunked (PATCH with Content-Range, then PUT).
    let cd = t.push_blob("conf/a", &config).await;
    let (st, h, _) = t
        .req(Method::POST, "/v2/conf/a/blobs/uploads/", &[], b"")
        .await;
    assert_eq!(st, 202, "{n}");
    let mut loc = t.path_of(&Target::loc(&h));
    let (first, second) = layer.split_at(40_000);
    let (st, h, _) = t
        .req(
            Method::PATCH,
            &loc,
            &[
                ("content-type", "application/octet-stream"),
                ("content-range", "0-39999"),
            ],
            first,
        )
        .await;
    assert_eq!(st, 202, "{n}: first chunk");
    loc = t.path_of(&Target::loc(&h));
    if t.strict_ranges {
        let (st, _, _) = t
            .req(
                Method::PATCH,
                &loc,
                &[
                    ("content-type", "application/octet-stream"),
                    ("content-range", "50000-50009"),
                ],
                b"0123456789",
            )
            .await;
        assert_eq!(st, 416, "{n}: out-of-order chunk");
    }
    let range = format!("40000-{}", layer.len() - 1);
    let (st, h, _) = t
        .req(
            Method::PATCH,
            &loc,
            &[
                ("content-type", "application/octet-stream"),
                ("content-range", &range),
            ],
            second,
        )
        .await;
    assert_eq!(st, 202, "{n}: second chunk");
    loc = t.path_of(&Target::loc(&h));
    let ld = Digest::sha256_of(&layer);
    let (st, h, _) = t
        .req(
            Method::PUT,
            &Target::with_query(&loc, &format!("digest={ld}")),
            &[],
            b"",
        )
        .await;
    assert_eq!(st, 201, "{n}: close chunked upload");
    assert_eq!(
        h["docker-content-digest"].to_str().unwrap(),
        ld.as_str(),
        "{n}"
    );
    let m = manifest(&cd, config.len(), &ld, layer.len());
    let md = Digest::sha256_of(&m);
    let (st, h, _) = t
        .req(
            Method::PUT,
            "/v2/conf/a/manifests/v1",
            &[("content-type", MT)],
            &m,
        )
        .await;
    assert_eq!(st, 201, "{n}: manifest PUT");
    assert_eq!(
        h["docker-content-digest"].to_str().unwrap(),
        md.as_str(),
        "{n}"
    );
    // Pull: manifest by tag and digest, HEAD, blobs, Range, 404s.
    for r in ["v1", md.as_str()] {
        let (st, h, b) = t
            .req(
                Method::GET,
                &format!("/v2/conf/a/manifests/{r}"),
                &[("accept", MT)],
                b"",
            )
            .await;
        assert_eq!((st, b.as_ref()), (200, &m[..]), "{n}: GET manifest {r}");
        assert_eq!(
            h["docker-content-digest"].to_str().unwrap(),
            md.as_str(),
            "{n}"
        );
        let (st, h, b) = t
            .req(
                Method::HEAD,
                &format!("/v2/conf/a/manifests/{r}"),
                &[("accept", MT)],
                b"",
            )
            .await;
        assert_eq!(st, 200, "{n}: HEAD manifest");
        assert!(b.is_empty());
        assert_eq!(
            h["content-length"].to_str().unwrap(),
            m.len().to_string(),
            "{n}"
        );
    }
    let (st, _, b) = t
        .req(Method::GET, &format!("/v2/conf/a/blobs/{ld}"), &[], b"")
        .await;
    assert_eq!((st, b.len()), (200, layer.len()), "{n}: GET blob");
    let (st, _, b) = t
        .req(
            Method::GET,
            &format!("/v2/conf/a/blobs/{ld}"),
            &[("range", "bytes=100-199")],
            b"",
        )
        .await;
    assert_eq!((st, b.as_ref()), (206, &layer[100..200]), "{n}: ranged GET");
    let (st, _, _) = t
        .req(Method::HEAD, &format!("/v2/conf/a/blobs/{ld}"), &[], b"")
        .await;
    assert_eq!(st, 200, "{n}: HEAD blob");
    let missing = Digest::sha256_of(b"missing");
    assert_eq!(
        t.req(
            Method::GET,
            &format!("/v2/conf/a/blobs/{missing}"),
            &[],
            b""
        )
        .await
        .0,
        404,
        "{n}"
    );
    assert_eq!(
        t.req(Method::GET, "/v2/conf/a/manifests/nope", &[], b"")
            .await
            .0,
        404,
        "{n}"
    );
    assert_eq!(
        t.req(Method::GET, "/v2/conf/nope/manifests/v1", &[], b"")
            .await
            .0,
        404,
        "{n}"
    );
    // Cross-repository mount.
    let path = format!("/v2/conf/b/blobs/uploads/?mount={ld}&from=conf/a");
    let (st, _, _) = t.req(Method::POST, &path, &[], b"").await;
    assert_eq!(st, 201, "{n}: mount");
    assert_eq!(
        t.req(Method::HEAD, &format!("/v2/conf/b/blobs/{ld}"), &[], b"")
            .await
            .0,
        200,
        "{n}"
    );
    // Content discovery: tags with pagination.
    for tag in ["v2", "v3"] {
        let (st, _, _) = t
            .req(
                Method::PUT,
                &format!("/v2/conf/a/manifests/{tag}"),
                &[("content-type", MT)],
                &m,
            )
            .await;
        assert_eq!(st, 201, "{n}");
    }
    let (st, _, b) = t.req(Method::GET, "/v2/conf/a/tags/list", &[], b"").await;
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        (st, v["tags"].clone()),
        (200, serde_json::json!(["v1", "v2", "v3"])),
        "{n}"
    );
    if t.paginates_tags {
        let (st, h, b) = t
            .req(Method::GET, "/v2/conf/a/tags/list?n=2", &[], b"")
            .await;
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(
            (st, v["tags"].clone()),
            (200, serde_json::json!(["v1", "v2"])),
            "{n}"
        );
        assert!(h.get("link").is_some(), "{n}: Link header");
        let (_, _, b) = t
            .req(Method::GET, "/v2/conf/a/tags/list?n=2&last=v2", &[], b"")
            .await;
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["tags"], serde_json::json!(["v3"]), "{n}");
    }
    // Content management: manifest and blob deletion.
    let (st, _, _) = t
        .req(
            Method::DELETE,
            &format!("/v2/conf/a/manifests/{md}"),
            &[],
            b"",
        )
        .await;
    assert_eq!(st, 202, "{n}: DELETE manifest");
    assert_eq!(
        t.req(Method::GET, &format!("/v2/conf/a/manifests/{md}"), &[], b"")
            .await
            .0,
        404,
        "{n}"
    );
    let (st, _, _) = t
        .req(Method::DELETE, &format!("/v2/conf/b/blobs/{ld}"), &[], b"")
        .await;
    assert_eq!(st, 202, "{n}: DELETE blob");
    assert_eq!(
        t.req(Method::HEAD, &format!("/v2/conf/b/blobs/{ld}"), &[], b"")
            .await
            .0,
        404,
        "{n}"
    );
    // A wrong digest on close: 400 DIGEST_INVALID on both.
    let (_, h, _) = t
        .req(Method::POST, "/v2/conf/c/blobs/uploads/", &[], b"")
        .await;
    let p = Target::with_query(&t.path_of(&Target::loc(&h)), &format!("digest={missing}"));
    let (st, _, b) = t
        .req(
            Method::PUT,
            &p,
            &[("content-type", "application/octet-stream")],
            b"not it",
        )
        .await;
    assert_eq!(st, 400, "{n}: wrong digest");
    assert!(
        String::from_utf8_lossy(&b).contains("DIGEST_INVALID"),
        "{n}"
    );
}

#[tokio::test]
async fn berths_server_passes_the_workflows() {
    workflows(&berth().await).await;
}

#[tokio::test]
async fn docker_registry_passes_the_same_workflows() {
    match distribution().await {
        Some(t) => workflows(&t).await,
        None => eprintln!("skipping: docker-registry is not installed (scripts/install-deps.sh)"),
    }
}
