//! Docker Hub's v1 search API (`GET /v1/search?q=&n=`), as `docker search` uses it; Berth's
//! registry server answers it too. Docker Hub's index (`index.docker.io`), not its registry host,
//! serves it.

use hyper::header::ACCEPT;
use hyper::Method;

use crate::auth::Challenge;
use crate::client::{error_message, Client};
use crate::error::RegistryError;
use crate::hosts::Endpoint;
use crate::transport::{self, Outgoing};

impl Client {
    /// `GET /v1/search?q=&n=` on `registry` (Docker Hub's search API, also served by Berth's
    /// registry server): the raw `results`.
    pub async fn search(
        &self,
        registry: &str,
        term: &str,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>, RegistryError> {
        let registry = match registry {
            "docker.io" => "index.docker.io",
            r => r,
        };
        let (ep, _) = self.endpoint_for_search(registry).await?;
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair("q", term)
            .append_pair("n", &limit.to_string())
            .finish();
        let out = Outgoing {
            method: Method::GET,
            path_and_query: format!("/v1/search?{q}"),
            headers: vec![(ACCEPT, "application/json".to_string())],
            body: None,
        };
        let resp = transport::send(self.hosts(), &ep, out, None).await?;
        let status = resp.status();
        let body = transport::read_limited(resp.into_body(), 8 << 20, "search results").await?;
        if !status.is_success() {
            return Err(RegistryError::Status {
                host: registry.to_string(),
                method: "GET".to_string(),
                url: "/v1/search".to_string(),
                status: status.as_u16(),
                message: error_message(&body, status),
            });
        }
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| RegistryError::BadContent {
                host: registry.to_string(),
                what: "search results".to_string(),
                reason: e.to_string(),
            })?;
        Ok(v.get("results")
            .and_then(|r| r.as_array())
            .cloned()
            .unwrap_or_default())
    }

    /// The endpoint for the v1 search API: Docker Hub's index answers it, not its registry host.
    async fn endpoint_for_search(
        &self,
        registry: &str,
    ) -> Result<(Endpoint, Option<Challenge>), RegistryError> {
        if registry == "index.docker.io" {
            let ep = self
                .hosts()
                .endpoints("index.docker.io:443")?
                .into_iter()
                .next()
                .ok_or_else(|| RegistryError::Connect {
                    host: registry.to_string(),
                    reason: "no endpoint".to_string(),
                })?;
            return Ok((ep, None));
        }
        self.endpoint(registry).await
    }
}
