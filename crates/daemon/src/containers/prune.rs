//! `container prune`: removes every container that is not running (created, exited, dead) and
//! matches the filters (`until`: created before a time; `label` / `label!`), and reports what was
//! removed and the bytes of writable layers freed. Publishes one `prune` event.

use std::collections::BTreeMap;

use super::changes::{dir_size, layer_dirs};
use super::model::Container;
use super::remove::RemoveOptions;
use super::state::Status;
use super::ContainerService;
use crate::error::DaemonError;
use crate::events::EventType;

/// Which containers a prune may remove.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneFilter {
    /// Only containers created before this (nanoseconds since the epoch).
    pub until: Option<i64>,
    /// `key` or `key=value`: the container must have it.
    pub label: Vec<String>,
    /// `key` or `key=value`: the container must not have it.
    pub label_not: Vec<String>,
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub deleted: Vec<String>,
    pub space_reclaimed: u64,
}

fn has_label(labels: &BTreeMap<String, String>, want: &str) -> bool {
    match want.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(want),
    }
}

impl PruneFilter {
    pub fn matches(&self, c: &Container) -> bool {
        let labels = c.labels();
        self.until.is_none_or(|u| c.created < u)
            && self.label.iter().all(|l| has_label(&labels, l))
            && !self.label_not.iter().any(|l| has_label(&labels, l))
    }
}

impl ContainerService {
    /// `POST /containers/prune`.
    pub async fn prune(&self, filter: PruneFilter) -> Result<PruneReport, DaemonError> {
        let mut report = PruneReport::default();
        for entry in self.entries() {
            let c = entry.snapshot();
            if !matches!(
                c.state.status,
                Status::Created | Status::Exited | Status::Dead
            ) || !filter.matches(&c)
            {
                continue;
            }
            let size = match layer_dirs(&c.rootfs_mounts) {
                Some((upper, _)) => tokio::task::spawn_blocking(move || dir_size(&upper))
                    .await
                    .unwrap_or(0),
                None => 0,
            };
            match self.remove(&c.id, RemoveOptions { force: false }).await {
                Ok(()) => {
                    report.deleted.push(c.id.clone());
                    report.space_reclaimed += size;
                }
                // Started or removed meanwhile: not ours to prune.
                Err(e) => tracing::debug!(container = %c.id, error = %e, "prune skipped"),
            }
        }
        let attrs = BTreeMap::from([("reclaimed".to_string(), report.space_reclaimed.to_string())]);
        self.inner
            .events
            .publish(EventType::Container, "prune", "", attrs);
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_match_by_key_or_pair() {
        let labels = BTreeMap::from([("a".to_string(), "1".to_string())]);
        assert!(has_label(&labels, "a"));
        assert!(has_label(&labels, "a=1"));
        assert!(!has_label(&labels, "a=2"));
        assert!(!has_label(&labels, "b"));
    }
}
