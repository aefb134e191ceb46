//! `rename`: gives a container a new unique name (409 when another container has it) and
//! publishes `rename` with the old name.

use super::model::valid_name;
use super::{name_conflict, ContainerService};
use crate::error::DaemonError;

impl ContainerService {
    /// `POST /containers/{id}/rename?name=`.
    pub async fn rename(&self, name_or_id: &str, new_name: &str) -> Result<(), DaemonError> {
        let new_name = new_name.strip_prefix('/').unwrap_or(new_name);
        if new_name.is_empty() {
            return Err(DaemonError::InvalidArgument(
                "Neither old nor new names may be empty".into(),
            ));
        }
        if !valid_name(new_name) {
            return Err(DaemonError::InvalidArgument(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let entry = self.lookup(name_or_id)?;
        let _op = entry.op.lock().await;
        let old = entry.snapshot();
        if old.name == new_name {
            return Err(DaemonError::Conflict(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        if let Ok(other) = self.lookup(&format!("/{new_name}")) {
            if other.id() != old.id {
                return Err(DaemonError::Conflict(format!(
                    "Error when allocating new name: {}",
                    name_conflict(new_name, &other.id())
                )));
            }
        }
        let c = self
            .commit(&entry, false, |c| c.name = new_name.to_string())
            .map_err(|e| match e {
                DaemonError::Conflict(_) => name_conflict(new_name, ""),
                other => other,
            })?;
        if let Some(net) = self.networks() {
            net.renamed(&c.id, &c.name);
        }
        self.event(&c, "rename", &[("oldName", format!("/{}", old.name))]);
        Ok(())
    }
}
