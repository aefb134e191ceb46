//! The referrers API: `GET /v2/<name>/referrers/<digest>` lists, as an OCI index, the manifests
//! pushed with that `subject` (recorded by the manifest handler in [`super::storage`]).

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use berth_oci::Digest;

use super::{blocking, internal, St};

/// `GET /v2/<name>/referrers/<digest>?artifactType=`: an OCI index of the manifests whose subject
/// is `digest` (empty when there are none), filtered by artifact type when asked.
pub async fn referrers(st: &St, name: String, d: Digest, artifact: Option<String>) -> Response {
    let (s, n) = (st.clone(), name);
    let Ok(list) = blocking(move || s.referrers(&n, &d)).await else {
        return internal("listing referrers");
    };
    let manifests: Vec<serde_json::Value> = list
        .iter()
        .filter_map(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .filter(|v| {
            artifact
                .as_deref()
                .is_none_or(|a| v.get("artifactType").and_then(|t| t.as_str()) == Some(a))
        })
        .collect();
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": berth_image::model::media::OCI_INDEX,
        "manifests": manifests,
    });
    let mut r = (
        [(header::CONTENT_TYPE, berth_image::model::media::OCI_INDEX)],
        body.to_string(),
    )
        .into_response();
    if artifact.is_some() {
        r.headers_mut().insert(
            "oci-filters-applied",
            HeaderValue::from_static("artifactType"),
        );
    }
    r
}
