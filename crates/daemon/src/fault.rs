//! Crash points for fault-injection tests (issue 14, catalog REL-06/REL-09).
//!
//! A crash point is a named place in an operation, marked with `crash_point!("label")`, where a test
//! makes the daemon `abort()` — no unwinding, no destructors, no flushing — exactly as `kill -9`
//! would at that instant, but deterministically. The test starts `berth daemon` with
//! `BERTH_CRASH_AT=<label>`, does the operation, sees the daemon die of SIGABRT, starts it again
//! without the variable, and checks that the object is fully there or fully gone and that
//! `berth daemon --check` finds nothing (`crates/berth/tests/docker/fault.rs`).
//!
//! The points are built only with the `failpoints` feature (the `fail` crate's global registry, so
//! one armed label reaches the image store's points too). The e2e test build turns it on through
//! the `berth` package's dev-dependencies; `cargo build` and release builds have no crash points:
//! every `crash_point!` expands to nothing, and a set `BERTH_CRASH_AT` is only warned about.
//!
//! Why `fail` and not our own: its registry is one per process whichever crate marks the point,
//! and `fail::cfg_callback` runs our abort; its other actions (`sleep`, `pause`, `return`) are there
//! for later race and error-path tests. It is an optional dependency because `fail` always pulls in
//! `rand`.
//!
//! Not yet marked, because the operations do not exist: registry pull (`pull.after-blob-write`,
//! `pull.before-tag`) and build.

/// The environment variable naming the one crash point to arm.
pub const CRASH_AT: &str = "BERTH_CRASH_AT";

/// Every crash point, in the order an operation meets them.
pub const LABELS: &[&str] = &[
    // containers::create: the rootfs snapshot and its holds exist, the container record not yet.
    "container.create.after-rootfs",
    // containers::start: the shim runs the started container; its state is not recorded yet.
    "container.start.after-shim",
    // containers::store: a container's changed record is about to be written.
    "container.store.update",
    // image store commit_container: the diff is written as a blob; the image not recorded yet.
    "image.commit.after-diff",
    // image store commit_container: the image is recorded (untagged); the caller (a build step's
    // cache entry, `docker commit`'s answer) has not seen its ID yet.
    "image.commit.after-record",
    // image store commit_pending (load, import, commit): blobs and layers are stored; the image
    // and its tags are about to be recorded in one transaction.
    "image.load.before-tag",
    // image metadata: a write transaction is done and about to commit.
    "image.metadata.before-commit",
    // volumes::create (local driver): the volume's directory is in place; its record is not
    // inserted yet.
    "volume.create.after-dir",
    // networks::connect of a running container: the veth is in its namespace; the endpoint is
    // not yet recorded as active.
    "network.connect.after-veth",
];

/// Why the crash point could not be armed.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error("{CRASH_AT}={0:?}: no such crash point (known: {known})", known = LABELS.join(", "))]
    Unknown(String),
    #[error("{CRASH_AT}={label:?}: arming the crash point failed: {reason}")]
    Arm { label: String, reason: String },
}

/// Marks the crash point `$label` (one of [`LABELS`]).
#[cfg(feature = "failpoints")]
macro_rules! crash_point {
    ($label:literal) => {
        fail::fail_point!($label)
    };
}

/// Marks the crash point `$label`: nothing in this build.
#[cfg(not(feature = "failpoints"))]
macro_rules! crash_point {
    ($label:literal) => {};
}

pub(crate) use crash_point;

/// Arms the crash point `BERTH_CRASH_AT` names, if any; called once when `berth daemon` starts.
#[cfg(feature = "failpoints")]
pub fn arm() -> Result<(), FaultError> {
    let Ok(label) = std::env::var(CRASH_AT) else {
        return Ok(());
    };
    if !LABELS.contains(&label.as_str()) {
        return Err(FaultError::Unknown(label));
    }
    let name = label.clone();
    fail::cfg_callback(label.clone(), move || crash(&name)).map_err(|reason| FaultError::Arm {
        label: label.clone(),
        reason,
    })?;
    tracing::warn!(point = %label, "crash point armed: the daemon aborts when it gets there");
    Ok(())
}

/// Without the `failpoints` feature there is nothing to arm.
#[cfg(not(feature = "failpoints"))]
pub fn arm() -> Result<(), FaultError> {
    if std::env::var_os(CRASH_AT).is_some() {
        tracing::warn!("{CRASH_AT} is ignored: this daemon was built without crash points");
    }
    Ok(())
}

/// Dies at once, as `kill -9` would, but without a core file.
#[cfg(feature = "failpoints")]
fn crash(label: &str) {
    eprintln!("berth daemon: crash point {label} reached: aborting");
    let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0);
    std::process::abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique_and_dotted() {
        let mut seen = std::collections::BTreeSet::new();
        for l in LABELS {
            assert!(seen.insert(*l), "{l} twice");
            assert!(l.split('.').count() >= 3, "{l}");
        }
    }
}
