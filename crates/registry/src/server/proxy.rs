//! Pull-through cache mode (`berth registry serve --proxy HOST`): a manifest or blob this server
//! lacks is fetched from the upstream registry (anonymously, through the registry client: TLS,
//! token auth and redirects as for pulls), verified, stored, and then served as if pushed — so a
//! fleet of hosts pulls through one Berth registry. A manifest asked for by tag is re-fetched only
//! when the tag is unknown here (no revalidation yet).

use berth_oci::Digest;
use http_body_util::BodyExt;
use tokio::io::AsyncWriteExt;

use super::names::ManifestRef;
use super::storage::Storage;
use crate::auth::Credentials;
use crate::client::Client;
use crate::error::RegistryError;

/// The upstream of a pull-through cache.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub client: Client,
    /// `host[:port]` of the upstream registry.
    pub registry: String,
}

impl Upstream {
    /// Fetches manifest `r` of `name` into `storage`; returns whether it is now there.
    pub async fn fetch_manifest(
        &self,
        storage: &Storage,
        name: &str,
        r: &ManifestRef,
    ) -> Result<(), RegistryError> {
        let repo = self
            .client
            .repo(&self.registry, name, false, Credentials::default())
            .await?;
        let reference = match r {
            ManifestRef::Tag(t) => t.clone(),
            ManifestRef::Digest(d) => d.to_string(),
        };
        let m = repo.get_manifest(&reference).await?;
        if let ManifestRef::Digest(want) = r {
            if want != &m.digest {
                return Err(RegistryError::DigestMismatch {
                    host: self.registry.clone(),
                    what: format!("manifest {name}@{want}"),
                    expected: want.clone(),
                    actual: m.digest,
                });
            }
        }
        let tag = match r {
            ManifestRef::Tag(t) => Some(t.as_str()),
            ManifestRef::Digest(_) => None,
        };
        storage
            .put_manifest(name, &m.media_type, &m.bytes, tag)
            .map_err(|e| RegistryError::Io {
                what: "storing the proxied manifest",
                path: name.to_string(),
                source: e,
            })?;
        Ok(())
    }

    /// Fetches blob `d` of `name` into `storage` through an upload session, so it becomes
    /// visible only once it hashed to `d`.
    pub async fn fetch_blob(
        &self,
        storage: &Storage,
        name: &str,
        d: &Digest,
    ) -> Result<(), RegistryError> {
        let io = |what: &'static str| {
            move |e: std::io::Error| RegistryError::Io {
                what,
                path: d.to_string(),
                source: e,
            }
        };
        let repo = self
            .client
            .repo(&self.registry, name, false, Credentials::default())
            .await?;
        let resp = repo.get_blob(d, 0).await?;
        let id = storage
            .start_upload(name)
            .map_err(io("starting the proxy upload"))?;
        let result = async {
            let file = storage
                .upload_file(&id)
                .map_err(io("opening the proxy upload"))?;
            let mut file = tokio::fs::File::from_std(file);
            let mut body = resp.into_body();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| RegistryError::Http {
                    host: self.registry.clone(),
                    method: "GET".to_string(),
                    url: format!("blob {d}"),
                    reason: e.to_string(),
                })?;
                if let Ok(data) = frame.into_data() {
                    file.write_all(&data)
                        .await
                        .map_err(io("writing the proxy upload"))?;
                }
            }
            file.flush().await.map_err(io("writing the proxy upload"))?;
            // Hashing the whole blob: on the blocking pool.
            let (s, n, i, dg) = (storage.clone(), name.to_string(), id.clone(), d.clone());
            let actual = tokio::task::spawn_blocking(move || s.finish_upload(&n, &i, &dg))
                .await
                .map_err(RegistryError::internal)?
                .map_err(io("committing the proxied blob"))?;
            if &actual != d {
                return Err(RegistryError::DigestMismatch {
                    host: self.registry.clone(),
                    what: format!("blob {d}"),
                    expected: d.clone(),
                    actual,
                });
            }
            Ok(())
        }
        .await;
        if result.is_err() {
            storage.cancel_upload(&id);
        }
        result
    }
}
