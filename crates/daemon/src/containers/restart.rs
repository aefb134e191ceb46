//! `restart`: stop (signal, then SIGKILL after the timeout) and start again; a container that was
//! not running is just started. Publishes `restart` after the start.

use super::ContainerService;
use crate::error::DaemonError;

impl ContainerService {
    /// `POST /containers/{id}/restart?t=&signal=`.
    pub async fn restart(
        &self,
        name_or_id: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<(), DaemonError> {
        let entry = self.lookup(name_or_id)?;
        let id = entry.id();
        self.stop(&id, signal, timeout).await?;
        self.start(&id).await?;
        self.event(&entry.snapshot(), "restart", &[]);
        Ok(())
    }
}
