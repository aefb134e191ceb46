//! `export`: the container's filesystem as one flat tar. A running container's rootfs is mounted
//! already and is read in place; a stopped one is assembled from its mounts on a temp dir.

use std::io::Write;

use berth_image::snapshot::Mount;

use super::ContainerService;
use crate::error::DaemonError;

impl ContainerService {
    /// `GET /containers/{id}/export`: writes the tar to `out`; returns its size.
    pub async fn export(
        &self,
        name_or_id: &str,
        out: impl Write + Send + 'static,
    ) -> Result<u64, DaemonError> {
        let c = self.lookup(name_or_id)?.snapshot();
        let paths = self.paths().clone();
        tokio::task::spawn_blocking(move || {
            let rootfs = paths.rootfs(&c.id);
            let mounts = if super::start::rootfs_is_mounted(&rootfs) {
                vec![Mount {
                    kind: "bind".into(),
                    source: rootfs.display().to_string(),
                    options: Vec::new(),
                    cwd: None,
                }]
            } else {
                c.rootfs_mounts.clone()
            };
            let map = paths.remap.as_ref().map(|r| &r.map);
            berth_image::formats::export::export_mounts_mapped(&mounts, &paths.data, out, map)
                .map_err(|e| DaemonError::Internal(format!("exporting container {}: {e}", c.id)))
        })
        .await
        .map_err(DaemonError::join)?
    }
}
