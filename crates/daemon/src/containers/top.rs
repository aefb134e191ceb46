//! `top`: the processes of a running (or paused) container as the host's `ps` shows them. The
//! container's pids come from its cgroup; `ps` runs on the host with the caller's arguments (default
//! `-ef`) and its lines are kept when their `PID` column is one of them, as Docker does.

use std::collections::BTreeSet;

use super::state::Status;
use super::ContainerService;
use crate::error::DaemonError;

/// The answer of top: column titles and one row per process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Top {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// The host pids of the processes in the cgroup of container `id`.
pub fn container_pids(id: &str) -> Result<BTreeSet<i32>, DaemonError> {
    let cg = berth_runtime::cgroups::Cgroup::new(None, id)
        .map_err(|e| DaemonError::Internal(format!("cgroup of container {id}: {e}")))?;
    let pids = cg.pids().map_err(|e| {
        DaemonError::Internal(format!("listing the processes of container {id}: {e}"))
    })?;
    Ok(pids.into_iter().map(|p| p.as_raw()).collect())
}

/// Keeps the rows of `ps` output whose PID is in `pids`.
pub fn parse_ps(output: &str, pids: &BTreeSet<i32>) -> Result<Top, DaemonError> {
    let mut lines = output.lines();
    let header = lines.next().unwrap_or("");
    let titles: Vec<String> = header.split_whitespace().map(String::from).collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| DaemonError::Internal("Couldn't find PID field in ps output".into()))?;
    let mut processes = Vec::new();
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        // The last column (the command) keeps its spaces.
        let mut fields: Vec<String> = Vec::with_capacity(titles.len());
        let mut rest = line.trim_start();
        while fields.len() + 1 < titles.len() {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            fields.push(rest[..end].to_string());
            rest = rest[end..].trim_start();
        }
        fields.push(rest.to_string());
        let pid = fields
            .get(pid_col)
            .and_then(|p| p.parse::<i32>().ok())
            .ok_or_else(|| {
                DaemonError::Internal(format!("unexpected pid in ps output: {line:?}"))
            })?;
        if pids.contains(&pid) {
            processes.push(fields);
        }
    }
    Ok(Top { titles, processes })
}

impl ContainerService {
    /// `GET /containers/{id}/top?ps_args=`.
    pub async fn top(&self, name_or_id: &str, ps_args: &str) -> Result<Top, DaemonError> {
        let c = self.lookup(name_or_id)?.snapshot();
        if !matches!(c.state.status, Status::Running | Status::Paused) {
            return Err(DaemonError::Conflict(format!(
                "container {} is not running",
                c.id
            )));
        }
        let args: Vec<String> = if ps_args.trim().is_empty() {
            vec!["-ef".to_string()]
        } else {
            ps_args.split_whitespace().map(String::from).collect()
        };
        let id = c.id.clone();
        tokio::task::spawn_blocking(move || {
            let pids = container_pids(&id)?;
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .map_err(|e| DaemonError::Internal(format!("running ps: {e}")))?;
            if !out.status.success() {
                return Err(DaemonError::Internal(format!(
                    "ps: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
        })
        .await
        .map_err(DaemonError::join)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_are_filtered_by_pid_and_keep_the_command() {
        let out = "UID PID PPID C STIME TTY TIME CMD\n\
                   root 1 0 0 10:00 ? 00:00:01 /sbin/init splash\n\
                   root 42 1 0 10:01 ? 00:00:00 sleep 300\n";
        let top = parse_ps(out, &BTreeSet::from([42])).unwrap();
        assert_eq!(top.titles.len(), 8);
        assert_eq!(top.processes.len(), 1);
        assert_eq!(top.processes[0][1], "42");
        assert_eq!(top.processes[0][7], "sleep 300");
        assert!(parse_ps("USER CMD\nroot x\n", &BTreeSet::new()).is_err());
    }
}
