//! OCI hooks: runs one hook point's list in order, each with the container's state JSON on stdin,
//! its own args and env, and its timeout. The caller decides the namespace (runtime or container)
//! by where it calls [`run`], and whether a failure aborts (create, start) or only warns (poststart,
//! poststop).

use berth_oci::runtime::Hook;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{point} hook {path}: start: {source}")]
    Spawn {
        point: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{point} hook {path}: {status}")]
    Failed {
        point: &'static str,
        path: PathBuf,
        status: std::process::ExitStatus,
    },
    #[error("{point} hook {path}: timed out after {secs}s and was killed")]
    Timeout {
        point: &'static str,
        path: PathBuf,
        secs: i64,
    },
}

/// Runs `hooks` in order; stops at the first failure.
pub fn run(point: &'static str, hooks: Option<&Vec<Hook>>, state: &[u8]) -> Result<(), HookError> {
    for hook in hooks.into_iter().flatten() {
        run_one(point, hook, state)?;
    }
    Ok(())
}

/// Runs `hooks` and only warns about failures (for poststart and poststop, as the spec says).
pub fn run_warn(point: &'static str, hooks: Option<&Vec<Hook>>, state: &[u8]) {
    for hook in hooks.into_iter().flatten() {
        if let Err(e) = run_one(point, hook, state) {
            eprintln!("warning: {e}");
        }
    }
}

fn run_one(point: &'static str, hook: &Hook, state: &[u8]) -> Result<(), HookError> {
    let path = hook.path().clone();
    let mut cmd = Command::new(&path);
    let args = hook.args().as_deref().unwrap_or_default();
    if let Some((argv0, rest)) = args.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    cmd.env_clear().stdin(Stdio::piped());
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    let mut child = cmd.spawn().map_err(|source| HookError::Spawn {
        point,
        path: path.clone(),
        source,
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin may exit first: a broken pipe is not its failure.
        let _ = stdin.write_all(state);
    }
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| (t, Instant::now() + Duration::from_secs(t.unsigned_abs())));
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(HookError::Failed {
                    point,
                    path,
                    status,
                })
            }
            Ok(None) => {}
            Err(source) => {
                return Err(HookError::Spawn {
                    point,
                    path,
                    source,
                })
            }
        }
        if let Some((secs, at)) = deadline {
            if Instant::now() >= at {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HookError::Timeout { point, path, secs });
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(json: serde_json::Value) -> Hook {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn hooks_get_state_on_stdin_and_run_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!("cat >> {0}; echo \" $0\" >> {0}", out.display());
        let hooks = vec![
            hook(serde_json::json!({"path": "/bin/sh", "args": ["first", "-c", script]})),
            hook(serde_json::json!({"path": "/bin/sh", "args": ["second", "-c", script]})),
        ];
        run("prestart", Some(&hooks), b"{}").unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "{} first\n{} second\n"
        );
    }

    #[test]
    fn failing_and_slow_hooks_are_errors() {
        let fail = vec![hook(serde_json::json!({"path": "/bin/false"}))];
        assert!(matches!(
            run("prestart", Some(&fail), b""),
            Err(HookError::Failed { .. })
        ));
        let slow = vec![hook(
            serde_json::json!({"path": "/bin/sleep", "args": ["sleep", "5"], "timeout": 1}),
        )];
        assert!(matches!(
            run("prestart", Some(&slow), b""),
            Err(HookError::Timeout { .. })
        ));
    }
}
