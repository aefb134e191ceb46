//! `commit`: the container's writable layer becomes a new image. The new image's config is the
//! request's config (the container's when none is given) with the `--change` instructions applied
//! (parsed by the image crate, as `import` does), then merged with the container's config as Docker
//! merges them (unset fields inherit, Env/Labels/ExposedPorts/Volumes are completed). A running
//! container is paused for the copy (with its `pause` and `unpause` events) unless `pause=false`;
//! as Docker's, a pause that fails (the container exited meanwhile) does not stop the commit.
//! Publishes the container's `commit` event.

use std::collections::BTreeMap;

use berth_api::container::ContainerConfig;
use berth_image::formats::import::apply_changes;
use berth_image::model::ContainerConfig as ImageConfig;
use berth_image::store::CommitOptions;
use berth_oci::Digest;

use super::state::Status;
use super::ContainerService;
use crate::error::DaemonError;

/// What `commit` was asked for.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// `repo[:tag]` for the new image; untagged when `None`.
    pub reference: Option<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    /// Freeze a running container during the copy (Docker's default).
    pub pause: bool,
    /// Dockerfile instructions (`CMD ["sh"]`, `ENV A=1`, ...), applied in order.
    pub changes: Vec<String>,
    /// The config to start from; the container's when `None`.
    pub config: Option<ContainerConfig>,
}

/// The image-config view of a container config (Docker records the whole container config).
fn to_image_config(c: &ContainerConfig) -> Result<ImageConfig, DaemonError> {
    serde_json::to_value(c)
        .and_then(serde_json::from_value)
        .map_err(|e| DaemonError::Internal(format!("converting container config for commit: {e}")))
}

/// Completes `user` with what the container's config `base` has, as Docker's commit does.
fn merge(user: &mut ImageConfig, base: &ImageConfig) {
    let empty = |s: &Option<String>| s.as_deref().unwrap_or("").is_empty();
    if empty(&user.user) {
        user.user = base.user.clone();
    }
    if empty(&user.working_dir) {
        user.working_dir = base.working_dir.clone();
    }
    if empty(&user.stop_signal) {
        user.stop_signal = base.stop_signal.clone();
    }
    let mut env = user.env.take().unwrap_or_default();
    for e in base.env.iter().flatten() {
        let key = e.split('=').next().unwrap_or("");
        if !env.iter().any(|u| u.split('=').next() == Some(key)) {
            env.push(e.clone());
        }
    }
    user.env = (!env.is_empty()).then_some(env);
    let mut labels: BTreeMap<String, String> = base.labels.clone().unwrap_or_default();
    labels.extend(user.labels.take().unwrap_or_default());
    user.labels = Some(labels);
    for (mine, theirs) in [
        (&mut user.exposed_ports, &base.exposed_ports),
        (&mut user.volumes, &base.volumes),
    ] {
        if let Some(theirs) = theirs {
            let m = mine.get_or_insert_with(BTreeMap::new);
            for (k, v) in theirs {
                m.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    if user.entrypoint.as_ref().is_none_or(Vec::is_empty) {
        if user.cmd.as_ref().is_none_or(Vec::is_empty) {
            user.cmd = base.cmd.clone();
        }
        if user.entrypoint.is_none() {
            user.entrypoint = base.entrypoint.clone();
        }
    }
    if user.healthcheck.is_none() {
        user.healthcheck = base.healthcheck.clone();
    }
}

impl ContainerService {
    /// `POST /commit?container=`: returns the new image's ID.
    pub async fn commit_to_image(
        &self,
        name_or_id: &str,
        req: CommitRequest,
    ) -> Result<Digest, DaemonError> {
        let entry = self.lookup(name_or_id)?;
        let c = entry.snapshot();
        if matches!(c.state.status, Status::Removing | Status::Dead) {
            return Err(DaemonError::Conflict(format!(
                "cannot commit container {}: it is {}",
                c.id,
                c.state.status.as_str()
            )));
        }
        let base = to_image_config(&c.config)?;
        let mut config = match &req.config {
            Some(cfg) => to_image_config(cfg)?,
            None => base.clone(),
        };
        apply_changes(&mut config, &req.changes)?;
        merge(&mut config, &base);
        // As Docker's: pause what runs, and commit whatever the pause said (a container that
        // exited meanwhile has nothing left to freeze).
        let paused = req.pause
            && c.state.status == Status::Running
            && match self.pause(&c.id).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::debug!(container = %c.id, error = %e, "no pause for the commit");
                    false
                }
            };
        let opts = CommitOptions {
            reference: req.reference.clone(),
            config: Some(config),
            author: req.author.clone().filter(|a| !a.is_empty()),
            comment: req.comment.clone().filter(|m| !m.is_empty()),
            created_by: Some(c.command_line()),
        };
        let committed = {
            let _op = entry.op.lock().await;
            self.inner
                .images
                .commit_container(&c.image_id, &c.id, opts)
                .await
        };
        // Docker's order of events: pause, commit, unpause.
        if let Ok(id) = &committed {
            self.event(
                &entry.snapshot(),
                "commit",
                &[
                    ("comment", req.comment.unwrap_or_default()),
                    ("imageID", id.to_string()),
                    ("imageRef", req.reference.unwrap_or_default()),
                ],
            );
        }
        if paused {
            if let Err(e) = self.unpause(&c.id).await {
                tracing::warn!(container = %c.id, error = %e, "unpause after commit failed");
            }
        }
        committed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_completes_from_the_container() {
        let base = ImageConfig {
            env: Some(vec!["PATH=/bin".into(), "A=1".into()]),
            cmd: Some(vec!["sh".into()]),
            working_dir: Some("/w".into()),
            labels: Some([("x".to_string(), "1".to_string())].into()),
            ..Default::default()
        };
        let mut user = ImageConfig {
            env: Some(vec!["A=2".into()]),
            labels: Some([("y".to_string(), "2".to_string())].into()),
            ..Default::default()
        };
        merge(&mut user, &base);
        assert_eq!(user.env.unwrap(), vec!["A=2", "PATH=/bin"]);
        assert_eq!(user.cmd.unwrap(), vec!["sh"]);
        assert_eq!(user.working_dir.as_deref(), Some("/w"));
        assert_eq!(user.labels.unwrap().len(), 2);
    }

    #[test]
    fn changes_apply_on_the_container_config() {
        let c = ContainerConfig {
            cmd: Some(vec!["sh".into()]),
            hostname: "abc".into(),
            ..Default::default()
        };
        let base = to_image_config(&c).unwrap();
        let mut cfg = base.clone();
        apply_changes(&mut cfg, &[r#"CMD ["cat","/f"]"#.to_string()]).unwrap();
        merge(&mut cfg, &base);
        assert_eq!(cfg.cmd.unwrap(), vec!["cat", "/f"]);
    }
}
