//! The blob, upload and manifest handlers of the registry server.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_image::model::ManifestOrIndex;
use berth_oci::Digest;
use http_body_util::BodyExt;
use tokio::io::AsyncWriteExt;

use super::names::{parse_digest, valid_name, ManifestRef};
use super::{
    blocking, digest_invalid, err, header_str, internal, St, MAX_MANIFEST_BYTES,
    MAX_MONOLITHIC_BYTES,
};

fn with_headers(mut r: Response, pairs: &[(&str, String)]) -> Response {
    for (k, v) in pairs {
        if let (Ok(k), Ok(v)) = (
            header::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

fn blob_unknown() -> Response {
    err(
        StatusCode::NOT_FOUND,
        "BLOB_UNKNOWN",
        "blob unknown to registry",
    )
}

/// `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>`.
pub async fn blob(
    st: &St,
    name: String,
    d: Digest,
    method: Method,
    headers: &HeaderMap,
) -> Response {
    let (s, n, dg) = (st.clone(), name.clone(), d.clone());
    if method == Method::DELETE {
        return match blocking(move || s.unlink_blob(&n, &dg)).await {
            Ok(Ok(true)) => StatusCode::ACCEPTED.into_response(),
            Ok(Ok(false)) => blob_unknown(),
            Ok(Err(e)) => internal(e),
            Err(r) => r,
        };
    }
    let mut size = blocking(move || s.blob_size(&n, &dg)).await.ok().flatten();
    if size.is_none() {
        if let Some(up) = st.upstream() {
            match up.fetch_blob(st, &name, &d).await {
                Ok(()) => size = st.blob_size(&name, &d),
                Err(e) => tracing::info!(error = %e, "proxy: blob not fetched"),
            }
        }
    }
    let Some(size) = size else {
        return blob_unknown();
    };
    let (start, end) =
        match header_str(headers, &header::RANGE).and_then(|r| r.strip_prefix("bytes=")) {
            Some(r) => {
                let (a, b) = r.split_once('-').unwrap_or((r, ""));
                let a = a.parse::<u64>().unwrap_or(u64::MAX);
                let b = if b.is_empty() {
                    size.saturating_sub(1)
                } else {
                    b.parse().unwrap_or(0)
                };
                if a >= size || b < a || b >= size {
                    return with_headers(
                        StatusCode::RANGE_NOT_SATISFIABLE.into_response(),
                        &[("content-range", format!("bytes */{size}"))],
                    );
                }
                (a, Some(b))
            }
            None => (0, None),
        };
    let last = end.unwrap_or(size.saturating_sub(1));
    let len = if size == 0 { 0 } else { last - start + 1 };
    let mut pairs = vec![
        ("docker-content-digest", d.to_string()),
        ("content-type", "application/octet-stream".to_string()),
        ("content-length", len.to_string()),
        ("accept-ranges", "bytes".to_string()),
    ];
    let status = if end.is_some() {
        pairs.push(("content-range", format!("bytes {start}-{last}/{size}")));
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    if method == Method::HEAD {
        return with_headers(status.into_response(), &pairs);
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let s = st.clone();
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let f = match s.open_blob_at(&d, start) {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        let mut f = f.take(len);
        loop {
            let mut buf = vec![0u8; 1 << 20];
            match f.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    let stream = async_stream_body(move |cx| rx.poll_recv(cx));
    let mut r = Response::new(stream);
    *r.status_mut() = status;
    with_headers(r, &pairs)
}

/// A body polled from a closure (a channel's receiver).
fn async_stream_body<F>(f: F) -> Body
where
    F: FnMut(&mut std::task::Context<'_>) -> std::task::Poll<Option<Result<Bytes, std::io::Error>>>
        + Send
        + Unpin
        + 'static,
{
    struct B<F>(F);
    impl<F> hyper::body::Body for B<F>
    where
        F: FnMut(
                &mut std::task::Context<'_>,
            ) -> std::task::Poll<Option<Result<Bytes, std::io::Error>>>
            + Unpin,
    {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
            (self.0)(cx).map(|o| o.map(|r| r.map(hyper::body::Frame::data)))
        }
    }
    Body::new(B(f))
}

fn location_created(name: &str, d: &Digest) -> Response {
    with_headers(
        StatusCode::CREATED.into_response(),
        &[
            ("location", format!("/v2/{name}/blobs/{d}")),
            ("docker-content-digest", d.to_string()),
            ("content-length", "0".to_string()),
        ],
    )
}

fn upload_accepted(name: &str, id: &str, offset: u64, status: StatusCode) -> Response {
    let range = if offset == 0 {
        "0-0".to_string()
    } else {
        format!("0-{}", offset - 1)
    };
    with_headers(
        status.into_response(),
        &[
            ("location", format!("/v2/{name}/blobs/uploads/{id}")),
            ("range", range),
            ("docker-upload-uuid", id.to_string()),
            ("content-length", "0".to_string()),
        ],
    )
}

/// `POST /v2/<name>/blobs/uploads/`: a session, a monolithic upload, or a mount.
pub async fn upload_start(
    st: &St,
    name: String,
    q: &HashMap<String, String>,
    method: Method,
    body: Body,
) -> Response {
    if method != Method::POST {
        return err(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "use POST to start an upload",
        );
    }
    if let (Some(m), Some(from)) = (q.get("mount"), q.get("from")) {
        // A mount succeeds only from a repository that has the blob; otherwise a plain session.
        if let (Some(d), true) = (parse_digest(m), valid_name(from)) {
            let (s, n, f, dg) = (st.clone(), name.clone(), from.clone(), d.clone());
            let mounted = blocking(move || match s.blob_size(&f, &dg) {
                Some(_) => s.link_blob(&n, &dg).map(|()| true),
                None => Ok(false),
            })
            .await;
            match mounted {
                Ok(Ok(true)) => return location_created(&name, &d),
                Ok(Ok(false)) => {}
                Ok(Err(e)) => return internal(e),
                Err(r) => return r,
            }
        }
    }
    if let Some(dq) = q.get("digest") {
        let Some(d) = parse_digest(dq) else {
            return digest_invalid(dq);
        };
        let bytes = match axum::body::to_bytes(
            body,
            MAX_MONOLITHIC_BYTES.min(usize::try_from(st.max_upload()).unwrap_or(usize::MAX)),
        )
        .await
        {
            Ok(b) => b,
            Err(_) => {
                return err(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "SIZE_INVALID",
                    "monolithic upload too large; use a session",
                )
            }
        };
        if Digest::sha256_of(&bytes) != d {
            return err(
                StatusCode::BAD_REQUEST,
                "DIGEST_INVALID",
                "provided digest did not match uploaded content",
            );
        }
        let (s, n) = (st.clone(), name.clone());
        return match blocking(move || s.put_blob_bytes(&n, &bytes)).await {
            Ok(Ok(d)) => location_created(&name, &d),
            Ok(Err(e)) => internal(e),
            Err(r) => r,
        };
    }
    let (s, n) = (st.clone(), name.clone());
    match blocking(move || s.start_upload(&n)).await {
        Ok(Ok(id)) => upload_accepted(&name, &id, 0, StatusCode::ACCEPTED),
        Ok(Err(e)) => internal(e),
        Err(r) => r,
    }
}

/// Appends a request body to upload `id`; returns the new offset.
async fn append(st: &St, id: &str, body: Body) -> Result<u64, Response> {
    let s = st.clone();
    let idc = id.to_string();
    let file = blocking(move || s.upload_file(&idc))
        .await?
        .map_err(internal)?;
    let mut file = tokio::fs::File::from_std(file);
    let mut len = file.metadata().await.map_err(internal)?.len();
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            err(
                StatusCode::BAD_REQUEST,
                "BLOB_UPLOAD_INVALID",
                format!("reading the body: {e}"),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            len += data.len() as u64;
            if len > st.max_upload() {
                // Over the limit: the session is gone, nothing becomes a blob.
                st.cancel_upload(id);
                drain(&mut body).await;
                return Err(err(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "SIZE_INVALID",
                    format!("uploads are limited to {} bytes", st.max_upload()),
                ));
            }
            file.write_all(&data).await.map_err(internal)?;
        }
    }
    file.flush().await.map_err(internal)?;
    Ok(len)
}

/// Bytes of a refused body still read (and dropped) before answering, and how long that may take.
const DRAIN_BYTES: u64 = 64 << 20;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads and drops what is left of a refused body (within [`DRAIN_BYTES`] and [`DRAIN_TIME`]): a
/// client still sending then reads the error answer; closing on unread data resets the connection
/// and the client sees only a failed write.
async fn drain(body: &mut Body) {
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        let mut left = DRAIN_BYTES;
        while let Some(Ok(frame)) = body.frame().await {
            let n = frame.data_ref().map_or(0, |d| d.len() as u64);
            let Some(l) = left.checked_sub(n) else { return };
            left = l;
        }
    })
    .await;
}

/// `PATCH`/`PUT`/`GET`/`DELETE /v2/<name>/blobs/uploads/<id>`.
pub async fn upload(
    st: &St,
    name: String,
    id: String,
    q: &HashMap<String, String>,
    method: Method,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let (s, n, i) = (st.clone(), name.clone(), id.clone());
    let Ok(Some(offset)) = blocking(move || s.upload_offset(&n, &i)).await else {
        return err(
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
            "blob upload unknown to registry",
        );
    };
    match method {
        Method::GET => upload_accepted(&name, &id, offset, StatusCode::NO_CONTENT),
        Method::DELETE => {
            st.cancel_upload(&id);
            StatusCode::NO_CONTENT.into_response()
        }
        Method::PATCH => {
            if let Some(cr) = header_str(headers, &header::CONTENT_RANGE) {
                let start = cr
                    .trim_start_matches("bytes ")
                    .split('-')
                    .next()
                    .and_then(|a| a.parse::<u64>().ok());
                if start != Some(offset) {
                    return upload_accepted(&name, &id, offset, StatusCode::RANGE_NOT_SATISFIABLE);
                }
            }
            match append(st, &id, body).await {
                Ok(off) => upload_accepted(&name, &id, off, StatusCode::ACCEPTED),
                Err(r) => r,
            }
        }
        Method::PUT => {
            let Some(dq) = q.get("digest") else {
                return digest_invalid("");
            };
            let Some(d) = parse_digest(dq) else {
                st.cancel_upload(&id);
                return digest_invalid(dq);
            };
            if let Err(r) = append(st, &id, body).await {
                st.cancel_upload(&id);
                return r;
            }
            let (s, n, i, dg) = (st.clone(), name.clone(), id.clone(), d.clone());
            match blocking(move || s.finish_upload(&n, &i, &dg)).await {
                Ok(Ok(actual)) if actual == d => location_created(&name, &d),
                Ok(Ok(_)) => err(
                    StatusCode::BAD_REQUEST,
                    "DIGEST_INVALID",
                    "provided digest did not match uploaded content",
                ),
                Ok(Err(e)) => internal(e),
                Err(r) => r,
            }
        }
        _ => err(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "unsupported method on an upload",
        ),
    }
}

/// `GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<reference>`.
pub async fn manifest(
    st: &St,
    name: String,
    r: ManifestRef,
    method: Method,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    match method {
        Method::PUT => put_manifest(st, name, r, headers, body).await,
        Method::DELETE => {
            let ManifestRef::Digest(d) = r else {
                return err(
                    StatusCode::BAD_REQUEST,
                    "UNSUPPORTED",
                    "delete manifests by digest",
                );
            };
            let (s, n) = (st.clone(), name.clone());
            let deleted = blocking(move || {
                let subject =
                    std::fs::read(s.blob_path(&d))
                        .ok()
                        .and_then(|b| match ManifestOrIndex::parse(d.as_str(), None, &b) {
                            Ok(ManifestOrIndex::Manifest(m)) => m.subject.map(|x| x.digest),
                            _ => None,
                        });
                let existed = s.delete_manifest(&n, &d)?;
                if let (true, Some(sub)) = (existed, subject) {
                    s.remove_referrer(&n, &sub, &d);
                }
                Ok::<bool, std::io::Error>(existed)
            })
            .await;
            match deleted {
                Ok(Ok(true)) => StatusCode::ACCEPTED.into_response(),
                Ok(Ok(false)) => err(
                    StatusCode::NOT_FOUND,
                    "MANIFEST_UNKNOWN",
                    "manifest unknown",
                ),
                Ok(Err(e)) => internal(e),
                Err(r) => r,
            }
        }
        Method::GET | Method::HEAD => {
            if let Some(up) = st.upstream() {
                let (s, n, rr) = (st.clone(), name.clone(), r.clone());
                let known = blocking(move || match &rr {
                    ManifestRef::Digest(d) => s.manifest_type(&n, d).is_some(),
                    ManifestRef::Tag(t) => s.tag(&n, t).is_some(),
                })
                .await
                .unwrap_or(false);
                if !known {
                    if let Err(e) = up.fetch_manifest(st, &name, &r).await {
                        tracing::info!(error = %e, "proxy: manifest not fetched");
                    }
                }
            }
            let (s, n) = (st.clone(), name.clone());
            let found = blocking(move || {
                let d = match r {
                    ManifestRef::Digest(d) => d,
                    ManifestRef::Tag(t) => s.tag(&n, &t)?,
                };
                let mt = s.manifest_type(&n, &d)?;
                let bytes = std::fs::read(s.blob_path(&d)).ok()?;
                Some((d, mt, bytes))
            })
            .await;
            let Ok(Some((d, mt, bytes))) = found else {
                return err(
                    StatusCode::NOT_FOUND,
                    "MANIFEST_UNKNOWN",
                    "manifest unknown",
                );
            };
            let pairs = [
                ("content-type", mt),
                ("docker-content-digest", d.to_string()),
                ("content-length", bytes.len().to_string()),
            ];
            if method == Method::HEAD {
                with_headers(StatusCode::OK.into_response(), &pairs)
            } else {
                with_headers(bytes.into_response(), &pairs)
            }
        }
        _ => err(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "unsupported method on a manifest",
        ),
    }
}

async fn put_manifest(
    st: &St,
    name: String,
    r: ManifestRef,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let bytes = match axum::body::to_bytes(body, MAX_MANIFEST_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return err(
                StatusCode::PAYLOAD_TOO_LARGE,
                "MANIFEST_INVALID",
                format!("manifest larger than {MAX_MANIFEST_BYTES} bytes"),
            )
        }
    };
    let d = Digest::sha256_of(&bytes);
    if let ManifestRef::Digest(want) = &r {
        if want != &d {
            return err(
                StatusCode::BAD_REQUEST,
                "DIGEST_INVALID",
                format!("the manifest hashes to {d}"),
            );
        }
    }
    let ct = header_str(headers, &header::CONTENT_TYPE)
        .map(|c| c.split(';').next().unwrap_or(c).trim().to_string());
    let parsed = match ManifestOrIndex::parse(d.as_str(), ct.as_deref(), &bytes) {
        Ok(p) => p,
        Err(e) => return err(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", e.to_string()),
    };
    let (media_type, needed_blobs, needed_manifests) = match &parsed {
        ManifestOrIndex::Manifest(m) => (
            m.media_type.clone(),
            std::iter::once(m.config.digest.clone())
                .chain(m.layers.iter().map(|l| l.digest.clone()))
                .collect::<Vec<_>>(),
            Vec::new(),
        ),
        ManifestOrIndex::Index(i) => (
            i.media_type.clone(),
            Vec::new(),
            i.manifests.iter().map(|m| m.digest.clone()).collect(),
        ),
    };
    let media_type = ct
        .filter(|c| !c.is_empty() && c != "application/json")
        .or(media_type)
        .unwrap_or_else(|| berth_image::model::media::OCI_MANIFEST.to_string());
    let tag = match &r {
        ManifestRef::Tag(t) => Some(t.clone()),
        ManifestRef::Digest(_) => None,
    };
    // A manifest with a subject is listed by the referrers API under it.
    let referrer = match &parsed {
        ManifestOrIndex::Manifest(m) => m.subject.as_ref().map(|subject| {
            let artifact = m
                .artifact_type
                .clone()
                .unwrap_or_else(|| m.config.media_type.clone());
            let desc = serde_json::json!({
                "mediaType": media_type, "digest": d, "size": bytes.len(),
                "artifactType": artifact, "annotations": m.annotations,
            });
            (subject.digest.clone(), desc.to_string().into_bytes())
        }),
        ManifestOrIndex::Index(_) => None,
    };
    let subject_header = referrer.as_ref().map(|(s, _)| s.to_string());
    let (s, n, body_bytes) = (st.clone(), name.clone(), bytes.clone());
    let result = blocking(move || {
        for b in &needed_blobs {
            if s.blob_size(&n, b).is_none() {
                return Ok(Err(b.clone()));
            }
        }
        for m in &needed_manifests {
            if s.manifest_type(&n, m).is_none() {
                return Ok(Err(m.clone()));
            }
        }
        let d = s.put_manifest(&n, &media_type, &body_bytes, tag.as_deref())?;
        if let Some((subject, desc)) = &referrer {
            s.add_referrer(&n, subject, &d, desc)?;
        }
        Ok::<_, std::io::Error>(Ok(d))
    })
    .await;
    match result {
        Ok(Ok(Ok(d))) => {
            let mut pairs = vec![
                ("location", format!("/v2/{name}/manifests/{d}")),
                ("docker-content-digest", d.to_string()),
                ("content-length", "0".to_string()),
            ];
            if let Some(sub) = subject_header {
                pairs.push(("oci-subject", sub));
            }
            with_headers(StatusCode::CREATED.into_response(), &pairs)
        }
        Ok(Ok(Err(missing))) => err(
            StatusCode::BAD_REQUEST,
            "MANIFEST_BLOB_UNKNOWN",
            format!("blob unknown to registry: {missing}"),
        ),
        Ok(Err(e)) => internal(e),
        Err(r) => r,
    }
}
