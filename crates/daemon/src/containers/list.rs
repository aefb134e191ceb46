//! `ps`: the containers matching a [`ContainerFilter`] (id, name, label, status, exited, ancestor,
//! before, since; values of one key ORed except labels, keys ANDed), newest first.

use std::collections::BTreeMap;

use super::model::Container;
use super::state::Status;
use super::ContainerService;
use crate::error::DaemonError;

/// `docker ps` options, parsed.
#[derive(Debug, Clone, Default)]
pub struct ContainerFilter {
    /// Include stopped containers.
    pub all: bool,
    /// At most this many (newest first); implies `all`.
    pub limit: Option<usize>,
    pub id: Vec<String>,
    pub name: Vec<String>,
    pub label: Vec<String>,
    pub status: Vec<String>,
    pub exited: Vec<i64>,
    pub ancestor: Vec<String>,
    /// `healthy`, `unhealthy`, `starting` or `none`.
    pub health: Vec<String>,
    pub before: Option<String>,
    pub since: Option<String>,
}

fn matches(c: &Container, f: &ContainerFilter, image_ids: &BTreeMap<String, String>) -> bool {
    let any =
        |list: &[String], p: &dyn Fn(&str) -> bool| list.is_empty() || list.iter().any(|x| p(x));
    any(&f.id, &|id| c.id.starts_with(id))
        && any(&f.name, &|n| {
            let n = n.strip_prefix('/').unwrap_or(n);
            c.name.contains(n)
        })
        && crate::filter::labels_match(&f.label, &c.labels())
        && any(&f.status, &|s| s == c.state.status.as_str())
        && (f.exited.is_empty()
            || (c.state.status == Status::Exited && f.exited.contains(&c.state.exit_code)))
        && any(&f.ancestor, &|a| {
            c.image_name == a
                || c.image_name == format!("{a}:latest")
                || image_ids.get(a).is_some_and(|id| *id == c.image_id)
                || c.image_id
                    .strip_prefix("sha256:")
                    .unwrap_or(&c.image_id)
                    .starts_with(a.strip_prefix("sha256:").unwrap_or(a))
        })
        && super::health::filter_matches(c, &f.health)
}

/// How many containers there are, by what `docker info` counts: running (restarting ones
/// included, as Docker's), paused, and stopped (everything else).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    pub total: u64,
    pub running: u64,
    pub paused: u64,
    pub stopped: u64,
}

impl StateCounts {
    /// Counts `statuses` as Docker's `/info` does.
    pub fn of(statuses: impl IntoIterator<Item = Status>) -> StateCounts {
        let mut n = StateCounts::default();
        for s in statuses {
            n.total += 1;
            match s {
                Status::Running | Status::Restarting => n.running += 1,
                Status::Paused => n.paused += 1,
                _ => n.stopped += 1,
            }
        }
        n
    }
}

impl ContainerService {
    /// The containers counted by state (`GET /info`).
    pub fn state_counts(&self) -> StateCounts {
        StateCounts::of(self.entries().iter().map(|e| e.snapshot().state.status))
    }

    /// `GET /containers/json`.
    pub async fn list(&self, f: ContainerFilter) -> Result<Vec<Container>, DaemonError> {
        super::health::check_filter(&f.health)?;
        for s in &f.status {
            if Status::parse(s).is_none() {
                return Err(DaemonError::InvalidArgument(format!(
                    "invalid filter 'status={s}'"
                )));
            }
        }
        // Ancestors given by name resolve to image IDs.
        let mut image_ids = BTreeMap::new();
        for a in &f.ancestor {
            if let Ok(img) = self.inner.images.inspect(a).await {
                image_ids.insert(a.clone(), img.image.id.to_string());
            }
        }
        let created_of =
            |name: &str| -> Result<i64, DaemonError> { Ok(self.lookup(name)?.snapshot().created) };
        let before = f.before.as_deref().map(created_of).transpose()?;
        let since = f.since.as_deref().map(created_of).transpose()?;
        let all = f.all || f.limit.is_some() || !f.status.is_empty() || !f.exited.is_empty();
        let mut out: Vec<Container> = self
            .entries()
            .iter()
            .map(|e| e.snapshot())
            .filter(|c| all || c.state.status.is_active())
            .filter(|c| before.is_none_or(|b| c.created < b))
            .filter(|c| since.is_none_or(|s| c.created > s))
            .filter(|c| matches(c, &f, &image_ids))
            .collect();
        out.sort_by_key(|c| std::cmp::Reverse(c.created));
        if let Some(n) = f.limit.filter(|n| *n > 0) {
            out.truncate(n);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_counts_restarting_as_running_and_the_rest_as_stopped() {
        use Status::*;
        let n = StateCounts::of([Created, Running, Paused, Restarting, Exited, Dead, Removing]);
        assert_eq!(
            n,
            StateCounts {
                total: 7,
                running: 2,
                paused: 1,
                stopped: 4
            }
        );
    }
}
