//! The server's refusals (catalog REG-21..24, REG-26) over real HTTP.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::HeaderName;
use hyper::Method;

use crate::hosts::{Endpoint, HostsConfig, Scheme};
use crate::transport::{self, BodyKind, Outgoing};

pub(super) struct Srv {
    _dir: tempfile::TempDir,
    ep: Endpoint,
    root: std::path::PathBuf,
}

async fn start() -> Srv {
    start_limited(super::storage::MAX_UPLOAD_BYTES).await
}

async fn start_limited(max_upload: u64) -> Srv {
    start_full(max_upload, None).await
}

/// A server with an upload limit and access control.
pub(super) async fn start_full(max_upload: u64, access: Option<super::auth::Auth>) -> Srv {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("reg");
    let app = super::router_full(&root, max_upload, None, access).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let ep = HostsConfig::default()
        .endpoints(&addr.to_string())
        .unwrap()
        .into_iter()
        .find(|e| e.scheme == Scheme::Http)
        .unwrap();
    Srv {
        _dir: dir,
        ep,
        root,
    }
}

impl Srv {
    pub(super) async fn req(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, hyper::HeaderMap, String) {
        let out = Outgoing {
            method,
            path_and_query: path.to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| (HeaderName::from_bytes(k.as_bytes()).unwrap(), v.to_string()))
                .collect(),
            body: Some(BodyKind::Bytes(Bytes::copy_from_slice(body))),
        };
        let resp = transport::send(&HostsConfig::default(), &self.ep, out, None)
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8_lossy(&body).to_string())
    }

    async fn start_upload(&self, name: &str) -> String {
        let (s, h, _) = self
            .req(
                Method::POST,
                &format!("/v2/{name}/blobs/uploads/"),
                &[],
                b"",
            )
            .await;
        assert_eq!(s, 202);
        h["location"].to_str().unwrap().to_string()
    }

    fn files(&self) -> Vec<String> {
        fn walk(p: &std::path::Path, out: &mut Vec<String>) {
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    if e.path().is_dir() {
                        walk(&e.path(), out);
                    } else {
                        out.push(e.path().display().to_string());
                    }
                }
            }
        }
        let mut v = Vec::new();
        walk(&self.root.join("blobs"), &mut v);
        v
    }
}

#[tokio::test]
async fn an_upload_with_a_wrong_digest_is_refused_and_forgotten() {
    let s = start().await;
    let loc = s.start_upload("a/b").await;
    let wrong = berth_oci::Digest::sha256_of(b"other");
    let (st, _, body) = s
        .req(
            Method::PUT,
            &format!("{loc}?digest={wrong}"),
            &[],
            b"content",
        )
        .await;
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("DIGEST_INVALID"), "{body}");
    assert!(s.files().is_empty(), "{:?}", s.files());
    let (st, _, _) = s.req(Method::GET, &loc, &[], b"").await;
    assert_eq!(st, 404);
    // Monolithic with a wrong digest, too.
    let (st, _, body) = s
        .req(
            Method::POST,
            &format!("/v2/a/b/blobs/uploads/?digest={wrong}"),
            &[],
            b"content",
        )
        .await;
    assert_eq!(st, 400, "{body}");
    assert!(s.files().is_empty());
}

#[tokio::test]
async fn chunks_out_of_order_get_416_and_the_current_range() {
    let s = start().await;
    let loc = s.start_upload("x").await;
    let (st, h, _) = s
        .req(
            Method::PATCH,
            &loc,
            &[("content-range", "0-9")],
            b"0123456789",
        )
        .await;
    assert_eq!(st, 202);
    assert_eq!(h["range"], "0-9");
    let (st, _, _) = s
        .req(
            Method::PATCH,
            &loc,
            &[("content-range", "20-29")],
            b"0123456789",
        )
        .await;
    assert_eq!(st, 416);
    let (st, h, _) = s.req(Method::GET, &loc, &[], b"").await;
    assert_eq!(st, 204);
    assert_eq!(h["range"], "0-9");
}

#[tokio::test]
async fn manifests_naming_unknown_blobs_or_too_big_are_refused() {
    let s = start().await;
    let d = berth_oci::Digest::sha256_of(b"nothing");
    let m = serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d, "size": 7},
        "layers": []})
    .to_string();
    let ct = [("content-type", "application/vnd.oci.image.manifest.v1+json")];
    let (st, _, body) = s
        .req(Method::PUT, "/v2/x/manifests/1", &ct, m.as_bytes())
        .await;
    assert_eq!(st, 400);
    assert!(body.contains("MANIFEST_BLOB_UNKNOWN"), "{body}");
    let big = vec![b' '; 5 << 20];
    let (st, _, _) = s.req(Method::PUT, "/v2/x/manifests/1", &ct, &big).await;
    assert_eq!(st, 413);
    let (st, _, body) = s.req(Method::GET, "/v2/x/tags/list", &[], b"").await;
    assert_eq!(st, 404, "{body}");
}

#[tokio::test]
async fn bad_names_tags_and_digests_never_reach_the_disk() {
    let s = start().await;
    for path in [
        "/v2/..%2fx/manifests/1",
        "/v2/%2e%2e/x/manifests/1",
        "/v2/UPPER/manifests/1",
        "/v2/a//b/manifests/1",
        "/v2/a/_manifests/manifests/1",
    ] {
        let (st, _, body) = s.req(Method::GET, path, &[], b"").await;
        assert!(st == 400 || st == 404, "{path}: {st} {body}");
        if st == 400 {
            assert!(body.contains("NAME_INVALID"), "{path}: {body}");
        }
    }
    let long = format!("/v2/{}/manifests/1", "a".repeat(300));
    assert_eq!(s.req(Method::GET, &long, &[], b"").await.0, 400);
    let (st, _, body) = s.req(Method::GET, "/v2/x/manifests/-bad", &[], b"").await;
    assert_eq!(st, 400);
    assert!(body.contains("TAG_INVALID"), "{body}");
    for d in ["sha256:zz", "md5:abcd"] {
        let (st, _, body) = s
            .req(Method::GET, &format!("/v2/x/blobs/{d}"), &[], b"")
            .await;
        assert_eq!(st, 400, "{d}");
        assert!(body.contains("DIGEST_INVALID"), "{body}");
    }
    let short = format!("/v2/x/blobs/sha256:{}", "a".repeat(63));
    assert_eq!(s.req(Method::GET, &short, &[], b"").await.0, 400);
}

#[tokio::test]
async fn gc_removes_only_unreferenced_blobs() {
    let s = start().await;
    let put = |body: &'static [u8]| {
        let d = berth_oci::Digest::sha256_of(body);
        (d, body)
    };
    let (config, cbytes) =
        put(br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#);
    let (orphan, obytes) = put(b"nobody needs me");
    for (d, b) in [(&config, cbytes), (&orphan, obytes)] {
        let (st, _, body) = s
            .req(
                Method::POST,
                &format!("/v2/x/blobs/uploads/?digest={d}"),
                &[],
                b,
            )
            .await;
        assert_eq!(st, 201, "{body}");
    }
    let m = serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": cbytes.len()},
        "layers": []})
    .to_string();
    let ct = [("content-type", "application/vnd.oci.image.manifest.v1+json")];
    let (st, _, body) = s
        .req(Method::PUT, "/v2/x/manifests/1", &ct, m.as_bytes())
        .await;
    assert_eq!(st, 201, "{body}");
    let storage = super::storage::Storage::open(&s.root).unwrap();
    // Within the grace period nothing goes.
    let young = super::gc::collect(&storage, std::time::Duration::from_secs(3600), false).unwrap();
    assert!(young.blobs.is_empty());
    let r = super::gc::collect(&storage, std::time::Duration::ZERO, false).unwrap();
    assert_eq!(r.blobs, vec![orphan.clone()]);
    assert_eq!(
        s.req(Method::GET, &format!("/v2/x/blobs/{orphan}"), &[], b"")
            .await
            .0,
        404
    );
    assert_eq!(
        s.req(Method::GET, &format!("/v2/x/blobs/{config}"), &[], b"")
            .await
            .0,
        200
    );
    assert_eq!(
        s.req(Method::GET, "/v2/x/manifests/1", &[], b"").await.0,
        200
    );
}

#[tokio::test]
async fn referrers_list_manifests_by_subject_and_artifact_type() {
    let s = start().await;
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let empty = b"{}";
    for b in [&config[..], &empty[..]] {
        let d = berth_oci::Digest::sha256_of(b);
        let (st, _, body) = s
            .req(
                Method::POST,
                &format!("/v2/x/blobs/uploads/?digest={d}"),
                &[],
                b,
            )
            .await;
        assert_eq!(st, 201, "{body}");
    }
    let ct = [("content-type", "application/vnd.oci.image.manifest.v1+json")];
    let image = serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": berth_oci::Digest::sha256_of(config), "size": config.len()},
        "layers": []})
    .to_string();
    let (st, h, _) = s
        .req(Method::PUT, "/v2/x/manifests/1", &ct, image.as_bytes())
        .await;
    assert_eq!(st, 201);
    let subject = h["docker-content-digest"].to_str().unwrap().to_string();
    let sig = serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json",
            "digest": berth_oci::Digest::sha256_of(empty), "size": 2},
        "layers": [],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": subject, "size": image.len()}})
    .to_string();
    let sig_digest = berth_oci::Digest::sha256_of(sig.as_bytes());
    let (st, h, body) = s
        .req(
            Method::PUT,
            &format!("/v2/x/manifests/{sig_digest}"),
            &ct,
            sig.as_bytes(),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    assert_eq!(h["oci-subject"].to_str().unwrap(), subject);
    let (st, _, body) = s
        .req(Method::GET, &format!("/v2/x/referrers/{subject}"), &[], b"")
        .await;
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["manifests"][0]["digest"], sig_digest.as_str(), "{body}");
    assert_eq!(
        v["manifests"][0]["artifactType"],
        "application/vnd.example.signature"
    );
    let (_, h, body) = s
        .req(
            Method::GET,
            &format!("/v2/x/referrers/{subject}?artifactType=other"),
            &[],
            b"",
        )
        .await;
    assert_eq!(h["oci-filters-applied"], "artifactType");
    assert!(body.contains("\"manifests\":[]"), "{body}");
    // Deleting the referrer takes it off the list.
    let (st, _, _) = s
        .req(
            Method::DELETE,
            &format!("/v2/x/manifests/{sig_digest}"),
            &[],
            b"",
        )
        .await;
    assert_eq!(st, 202);
    let (_, _, body) = s
        .req(Method::GET, &format!("/v2/x/referrers/{subject}"), &[], b"")
        .await;
    assert!(body.contains("\"manifests\":[]"), "{body}");
}

#[tokio::test]
async fn an_upload_over_the_limit_gets_413_and_leaves_nothing() {
    let s = start_limited(100).await;
    let loc = s.start_upload("x").await;
    let (st, _, _) = s.req(Method::PATCH, &loc, &[], &[7u8; 60]).await;
    assert_eq!(st, 202);
    let (st, _, body) = s.req(Method::PATCH, &loc, &[], &[7u8; 60]).await;
    assert_eq!(st, 413, "{body}");
    assert!(body.contains("SIZE_INVALID"), "{body}");
    assert_eq!(s.req(Method::GET, &loc, &[], b"").await.0, 404);
    assert!(s.files().is_empty());
}
