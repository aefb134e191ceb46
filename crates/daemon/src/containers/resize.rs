//! `resize`: sets the container's terminal size through its shim.

use super::{shim, ContainerService};
use crate::error::DaemonError;

impl ContainerService {
    /// `POST /containers/{id}/resize?h=&w=`.
    pub async fn resize(
        &self,
        name_or_id: &str,
        height: u16,
        width: u16,
    ) -> Result<(), DaemonError> {
        let entry = self.lookup(name_or_id)?;
        let handle = entry.shim().ok_or_else(|| {
            DaemonError::Conflict(format!("Container {} is not running", entry.id()))
        })?;
        shim::resize(&handle, height, width).await
    }
}
